//! `bitatlas keys rotate|rewrap|retire --tenant T`: a tenant's keys where its configuration
//! keeps them (keyring file or OpenBao / Vault Transit), through the service, so every step
//! is audited.

use std::path::PathBuf;

use super::{Exit, installation};
use crate::config::ConfigFile;
use crate::crypto::{Algorithm, TenantKeys};
use crate::runtime;
use crate::service::{Caller, Service};

/// Which installation: the configuration and data directory, as for `serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Installation {
    /// Configuration file, as for `serve`.
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, as for `serve`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Builds the installation's service and runs `f` with tenant `tenant`'s keys.
pub(super) fn with_tenant<F>(at: &Installation, tenant: &str, f: F) -> Exit
where
    F: AsyncFnOnce(&Service, TenantKeys, Caller, &ConfigFile) -> Result<(), (Exit, String)>,
{
    let (config, data_dir) =
        match installation::load(at.config.as_deref(), at.data_dir.as_deref(), tenant) {
            Ok(loaded) => loaded,
            Err(exit) => return exit,
        };
    let rt = match installation::tokio_runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    let done = rt.block_on(async {
        let built = runtime::build(&config, &data_dir)
            .await
            .map_err(|e| (Exit::from(&e), e.to_string()))?;
        let keys = built
            .service
            .tenant_keys(tenant)
            .ok_or_else(|| (Exit::Usage, format!("no tenant {tenant}")))?;
        f(
            &built.service,
            keys,
            Caller::new(tenant.to_owned()),
            &config,
        )
        .await
    });
    match done {
        Ok(()) => Exit::Ok,
        Err((exit, message)) => {
            eprintln!("bitatlas: {message}");
            exit
        }
    }
}

fn failed(e: impl std::fmt::Display) -> (Exit, String) {
    (Exit::Failure, e.to_string())
}

/// `keys rotate --tenant T`: a new provider key version (Transit), then a new primary KEK.
pub fn rotate(at: &Installation, tenant: &str, algorithm: Option<Algorithm>) -> Exit {
    with_tenant(at, tenant, async |_, keys, _, _| {
        let provider = keys.provider();
        provider.rotate().await.map_err(failed)?;
        let mut ring = (*keys.reload().await.map_err(failed)?).clone();
        let entry = match algorithm {
            Some(a) => ring.rotate_to(a),
            None => ring.rotate(),
        }
        .map_err(failed)?;
        let version = provider.save(&ring).await.map_err(failed)?;
        let wrapped = version
            .map(|v| format!(", keyring wrapped by key version {v}"))
            .unwrap_or_default();
        eprintln!(
            "tenant {tenant}: new primary key {} ({}){wrapped}; run `bitatlas keys rewrap \
             --tenant {tenant}` to move existing objects to it",
            entry.id, entry.algorithm
        );
        Ok(())
    })
}

/// `keys rewrap --tenant T`: every envelope under the primary KEK; a JSON report on stdout.
pub fn rewrap(at: &Installation, tenant: &str) -> Exit {
    with_tenant(at, tenant, async |service, _, caller, _| {
        let progress = |done: u64, total: u64| {
            if done == total || done.is_multiple_of(1000) {
                eprintln!("rewrap: {done}/{total} envelopes");
            }
        };
        let report = service
            .rewrap(&caller, &progress)
            .await
            .map_err(|e| (Exit::Failure, e.to_string()))?;
        println!("{}", serde_json::to_string(&report).map_err(failed)?);
        if report.failed > 0 {
            return Err((
                Exit::Failure,
                format!(
                    "{} envelope(s) do not open with the tenant's keys and were left as they are",
                    report.failed
                ),
            ));
        }
        if report.changed > 0 {
            return Err((
                Exit::Failure,
                format!(
                    "{} envelope(s) changed while being rewrapped; run rewrap again",
                    report.changed
                ),
            ));
        }
        Ok(())
    })
}

/// `keys retire KEY_ID --tenant T`: refused while any envelope names the KEK.
pub fn retire(at: &Installation, tenant: &str, id: &str) -> Exit {
    with_tenant(at, tenant, async |service, keys, caller, config| {
        let usage = service
            .kek_usage(&caller)
            .await
            .map_err(|e| (Exit::Failure, e.to_string()))?;
        if let Some(n) = usage.by_kek.get(id).filter(|n| **n > 0) {
            return Err((
                Exit::Failure,
                format!(
                    "KEY_IN_USE: {n} envelope(s) of tenant {tenant} are still wrapped under {id}; \
                     run `bitatlas keys rewrap --tenant {tenant}` first"
                ),
            ));
        }
        let provider = keys.provider();
        let mut ring = (*keys.reload().await.map_err(failed)?).clone();
        // A running server may seal under the previous primary until its key cache expires:
        // retiring before then could strand what it writes meanwhile.
        let ttl = runtime::key_cache_ttl(config).map_err(|e| (Exit::Usage, e))?;
        let settle =
            chrono::Duration::from_std(ttl).unwrap_or_default() + chrono::Duration::seconds(5);
        if let Some(primary) = ring.entries().into_iter().find(|e| e.primary)
            && chrono::Utc::now() - primary.created < settle
        {
            return Err((
                Exit::Failure,
                format!(
                    "the primary key {} is younger than the key cache TTL plus 5 s; running \
                     servers may still seal under {id}. Wait, run `keys rewrap` again, then retire",
                    primary.id
                ),
            ));
        }
        ring.retire(id).map_err(failed)?;
        let version = provider.save(&ring).await.map_err(failed)?;
        // The keyring is now wrapped under the newest provider version only; older versions
        // are no longer needed to open anything of this tenant (nor of another tenant, unless
        // it shares the key: then they stay).
        match (version, runtime::transit_key_shared(config, tenant)) {
            (Some(v), None) => provider.retire_below(v).await.map_err(failed)?,
            (Some(_), Some(other)) => eprintln!(
                "tenant {tenant}: the Transit key is shared with tenant {other}; its older \
                 versions are kept"
            ),
            (None, _) => {}
        }
        eprintln!("tenant {tenant}: retired key {id}");
        Ok(())
    })
}
