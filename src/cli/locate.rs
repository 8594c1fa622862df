//! `bitatlas locate`: the residency receipts of a tenant's objects (the right to know), for
//! one key or every object under a folder, as lines or as a JSON array.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::{Exit, installation};
use crate::runtime;
use crate::service::{Caller, ErrorCode, LocateRequest, Receipt};

/// `locate` arguments.
#[derive(Debug, clap::Args)]
pub struct LocateArgs {
    /// Configuration file, as for `serve`.
    #[arg(long, env = "BITATLAS_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory, as for `serve`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The tenant whose objects are located.
    #[arg(long, value_name = "NAME")]
    tenant: String,
    /// One object.
    #[arg(long, value_name = "KEY", conflicts_with = "prefix")]
    key: Option<String>,
    /// Every object under this folder (default: every object of the tenant).
    #[arg(long, value_name = "FOLDER")]
    prefix: Option<String>,
    /// Print a JSON array, one receipt per object, each with its `copies`.
    #[arg(long)]
    json: bool,
}

/// Runs `locate`: exit 0 with the receipts, 1 when the key is not there or a store fails, 4
/// when a stored copy does not open as the tenant's object.
pub fn run(args: LocateArgs) -> Exit {
    let (config, data_dir) = match installation::load(
        args.config.as_deref(),
        args.data_dir.as_deref(),
        &args.tenant,
    ) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let rt = match installation::tokio_runtime() {
        Ok(rt) => rt,
        Err(exit) => return exit,
    };
    let found = rt.block_on(async {
        let built = runtime::build(&config, &data_dir)
            .await
            .map_err(|e| (Exit::from(&e), e.to_string()))?;
        let caller = Caller::new(args.tenant.clone());
        let mut receipts = Vec::new();
        let mut cursor = None;
        loop {
            let request = LocateRequest {
                key: args.key.clone(),
                prefix: args.prefix.clone(),
                limit: Some(crate::service::MAX_PAGE),
                cursor: cursor.take(),
            };
            let page = built.service.locate(&caller, request).await.map_err(|e| {
                let exit = match e.code {
                    ErrorCode::IntegrityFailure => Exit::Integrity,
                    ErrorCode::InvalidKey | ErrorCode::InvalidArgument => Exit::Usage,
                    _ => Exit::Failure,
                };
                (exit, e.to_string())
            })?;
            receipts.extend(page.receipts);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok::<_, (Exit, String)>(receipts)
    });
    let receipts = match found {
        Ok(r) => r,
        Err((exit, message)) => {
            eprintln!("bitatlas: {message}");
            return exit;
        }
    };
    let text = if args.json {
        let all: Vec<Value> = receipts.iter().map(to_json).collect();
        serde_json::to_string_pretty(&all).unwrap_or_default() + "\n"
    } else {
        receipts.iter().map(to_line).collect()
    };
    if std::io::stdout().write_all(text.as_bytes()).is_err() {
        return Exit::Failure;
    }
    Exit::Ok
}

fn to_json(r: &Receipt) -> Value {
    json!({
        "key": r.key,
        "size": r.size,
        "written": r.written.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "copies": r.copies.iter().map(|c| json!({
            "store": c.store,
            "provider": c.provider,
            "region": c.region,
            "city": c.city,
            "country": c.country,
            "attested": c.attested,
            "owner_jurisdiction": c.owner_jurisdiction,
            "endpoint_host": c.endpoint_host,
            "key_provider": c.key_provider,
            "key_location": c.key_location,
            "key_version": c.key_version,
            "kek_id": c.kek_id,
            "envelope_version": c.envelope_version,
            "algorithm": c.algorithm,
            "stored_size": c.stored_size,
        })).collect::<Vec<_>>(),
    })
}

fn to_line(r: &Receipt) -> String {
    let copies: Vec<String> = r
        .copies
        .iter()
        .map(|c| {
            format!(
                "{} ({} {}{}, {} {}) key {} via {}",
                c.store,
                c.provider,
                c.region,
                c.city
                    .as_deref()
                    .map(|x| format!(", {x}"))
                    .unwrap_or_default(),
                c.country,
                if c.attested { "attested" } else { "verified" },
                c.kek_id,
                c.key_provider
            )
        })
        .collect();
    format!("{}\t{} bytes\t{}\n", r.key, r.size, copies.join("; "))
}
