//! Building each configured store and passing it through the residency guard.
//!
//! Order for every store: static check (catalog + policy + exact endpoint) -> build the
//! adapter -> live evidence (GetBucketLocation for S3, the attestation for local stores) ->
//! `Guard::admit`. The first store that fails stops start-up with its name and, for a
//! residency refusal, its code.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bitatlas_adapters::{
    Adapter, BucketLocation, Catalog, LocationError, ProviderKind, S3Bucket, S3Settings,
    S3Timeouts, StorageName,
};

use super::Stores;
use super::credentials;
use super::defaults::DEFAULT_STALE_UPLOAD_SECS;
use super::error::StartupError;
use crate::config::{ConfigFile, StoreConfig};
use crate::residency::{self, Decision, Guard, LocationEvidence, Policies, StoreSpec};

/// Admits every configured store or fails naming the first one that does not pass.
pub async fn admit_all(
    config: &ConfigFile,
    data_dir: &Path,
    banner: &mut Vec<String>,
) -> Result<Stores, StartupError> {
    let catalog = Catalog::builtin();
    let policies = Policies::from_config(config)
        .map_err(|e| StartupError::Config(format!("{}: {e}", e.code())))?;
    let mut stores = Stores::new();
    for (name, sc) in &config.stores {
        let subject = format!("store {name}");
        let policy_name = sc.policy.as_deref().unwrap_or(residency::EEA_POLICY);
        let policy = policies
            .require(policy_name)
            .map_err(|e| StartupError::residency(&subject, e))?;
        let decision = residency::check(catalog, policy, &StoreSpec::from((name.as_str(), sc)));
        if !decision.allowed {
            return Err(denied(subject, &decision));
        }
        // The decision knows the provider's kind: an allowed one always does.
        let kind = decision
            .kind
            .ok_or_else(|| StartupError::Config(format!("{subject}: provider kind unknown")))?;
        // Where the live evidence came from, for the refusal message.
        let mut asked = None;
        if let Some(key) = s3_only_settings(sc)
            && !kind.is_s3()
        {
            return Err(StartupError::Config(format!(
                "{subject}: {key} applies to S3 stores only"
            )));
        }
        let (adapter, evidence): (Arc<dyn Adapter>, LocationEvidence) = match kind {
            ProviderKind::Local => {
                let dir = sc
                    .path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("stores").join(name));
                let adapter = bitatlas_adapters::local(&dir).map_err(|e| {
                    StartupError::store(name, format!("cannot open local directory: {e}"))
                })?;
                if let Some(cutoff) = stale_cutoff(sc) {
                    let (name, adapter) = (name.clone(), adapter.clone());
                    tokio::spawn(async move {
                        match adapter.remove_stale_staging(cutoff.into()).await {
                            Ok(0) => {}
                            Ok(n) => {
                                tracing::info!(store = %name, removed = n, "removed staging files of unfinished writes")
                            }
                            Err(e) => {
                                tracing::warn!(store = %name, error = %e, "staging file clean-up failed")
                            }
                        }
                    });
                }
                (Arc::new(adapter), attested(sc))
            }
            ProviderKind::Memory => (Arc::new(bitatlas_adapters::memory()), attested(sc)),
            ProviderKind::Public | ProviderKind::SelfHosted => {
                let bucket = connect_s3(name, sc, &decision, catalog)?;
                let answer = verified_location(name, &bucket, &decision).await?;
                clean_stale_uploads(name, &bucket, sc);
                asked = Some(format!(
                    "GET {} answered LocationConstraint {answer:?}",
                    bucket.location_url()
                ));
                (
                    Arc::new(bucket.adapter()),
                    LocationEvidence::BucketLocation { answer },
                )
            }
        };
        let guarded = Guard::admit(decision, adapter, evidence).map_err(|e| {
            let mut e = StartupError::residency(&subject, e);
            if let (StartupError::Denied { message, .. }, Some(asked)) = (&mut e, asked) {
                message.push_str(&format!(" ({asked})"));
            }
            e
        })?;
        let p = guarded.placement();
        banner.push(if p.attested {
            format!(
                "store {name}: {} in {} (operator-attested, not verified by software)",
                p.provider, p.country
            )
        } else {
            format!(
                "store {name}: {} {} in {} (bucket location verified)",
                p.provider, p.region, p.country
            )
        });
        stores.insert(name.clone(), Arc::new(guarded));
    }
    Ok(stores)
}

/// Asks the bucket where it is. Returns the answer for the guard to judge; a refusal that
/// names another region is judged here, and is a residency refusal when the guard would deny
/// that region. Anything else stops start-up as an unverifiable location.
async fn verified_location(
    name: &str,
    bucket: &S3Bucket,
    decision: &Decision,
) -> Result<String, StartupError> {
    let unverified = |cause| StartupError::Unverified {
        store: name.to_owned(),
        url: bucket.location_url(),
        cause,
    };
    match bucket.bucket_location().await {
        Ok(BucketLocation::Answered(answer)) => Ok(answer),
        Ok(BucketLocation::OtherRegion {
            region,
            status,
            code,
        }) => match residency::check_location_answer(decision, &region) {
            Err(d) => Err(StartupError::Denied {
                subject: format!("store {name}"),
                code: d.code,
                message: format!(
                    "{} (GET {} answered HTTP {status} {code}, naming region {region})",
                    d.message,
                    bucket.location_url()
                ),
            }),
            // A refusal is never evidence that the location matches.
            Ok(()) => Err(unverified(LocationError::Refused {
                status,
                code: Some(code),
            })),
        },
        // A successful answer that is not a strict location document: whatever answered is not
        // the S3 server configured (the guard's reading of an answer it cannot understand).
        Err(LocationError::Malformed { status, cause }) => Err(StartupError::Denied {
            subject: format!("store {name}"),
            code: residency::ResidencyCode::LocationMismatch,
            message: format!(
                "GET {} answered HTTP {status} with an {cause}; refusing to guess (fail closed)",
                bucket.location_url()
            ),
        }),
        Err(cause) => Err(unverified(cause)),
    }
}

fn denied(subject: String, d: &Decision) -> StartupError {
    StartupError::Denied {
        subject,
        code: d.code,
        message: d.message.clone(),
    }
}

fn attested(sc: &StoreConfig) -> LocationEvidence {
    LocationEvidence::Attested {
        country: sc.country.clone().unwrap_or_default(),
    }
}

/// Whether `tenant`'s policy admits `store`; a refusal that an override grant in force lifts (a
/// policy's country or region list, for a store inside the EEA) is admitted: the store is then
/// returned as what the tenant needs a grant for, on every call.
pub fn check_tenant_policy_or_grant(
    config: &ConfigFile,
    tenant: &str,
    policy_name: &str,
    store: &str,
    grants: &residency::Grants,
) -> Result<Option<residency::GrantNeed>, StartupError> {
    let policies = Policies::from_config(config)
        .map_err(|e| StartupError::Config(format!("{}: {e}", e.code())))?;
    let policy = policies
        .require(policy_name)
        .map_err(|e| StartupError::residency(format!("tenant {tenant}"), e))?;
    let sc = config
        .stores
        .get(store)
        .ok_or_else(|| StartupError::Config(format!("tenant {tenant}: unknown store {store}")))?;
    let d = residency::check(Catalog::builtin(), policy, &StoreSpec::from((store, sc)));
    // The guard reports the first refusal only: a store refused for its country may be
    // refused for sovereignty too, which no grant lifts.
    if !d.allowed
        && residency::grant::overridable(d.code)
        && policy.allows_owner(d.owner_jurisdiction.as_deref())
        && let Some(country) = d.country.clone()
    {
        let need = residency::GrantNeed {
            store: store.to_owned(),
            country,
        };
        if let Some(id) = grants.covering(tenant, &need) {
            tracing::warn!(tenant, store, grant = %id, "store admitted under an override grant");
            return Ok(Some(need));
        }
    }
    check_decision(tenant, policy_name, store, &d).map(|()| None)
}

fn check_decision(
    tenant: &str,
    policy_name: &str,
    store: &str,
    d: &residency::Decision,
) -> Result<(), StartupError> {
    if !d.allowed {
        return Err(StartupError::Denied {
            subject: format!("tenant {tenant}"),
            code: d.code,
            message: format!(
                "store {store} is refused by policy {policy_name}: {}",
                d.message
            ),
        });
    }
    Ok(())
}

fn connect_s3(
    name: &str,
    sc: &StoreConfig,
    decision: &Decision,
    catalog: &Catalog,
) -> Result<S3Bucket, StartupError> {
    let creds = credentials::load(name, sc.credentials.as_ref())?;
    let Some(endpoint) = decision.endpoint.as_ref() else {
        return Err(StartupError::Denied {
            subject: format!("store {name}"),
            code: residency::ResidencyCode::InvalidEndpoint,
            message: "no endpoint".into(),
        });
    };
    let region = sc.region.clone().unwrap_or_default();
    let signing_region = catalog
        .provider(&sc.provider)
        .and_then(|p| p.region(&region))
        .map(|r| r.signing_region().to_owned())
        .unwrap_or(region);
    let settings = S3Settings {
        allow_http: endpoint.scheme == "http",
        endpoint: endpoint.url(),
        region: signing_region,
        bucket: sc
            .bucket
            .clone()
            .ok_or_else(|| StartupError::store(name, "no bucket configured"))?,
        access_key_id: creds.access_key_id,
        secret_access_key: creds.secret_access_key,
        timeouts: s3_timeouts(name, sc)?,
    };
    S3Bucket::connect(&settings)
        .map_err(|e| StartupError::store(name, format!("cannot configure the S3 client: {e}")))
}

/// The first S3-only setting given on `sc`, if any (a local store would silently ignore it).
fn s3_only_settings(sc: &StoreConfig) -> Option<&'static str> {
    [
        (sc.request_timeout_secs.is_some(), "request_timeout_secs"),
        (sc.connect_timeout_secs.is_some(), "connect_timeout_secs"),
        (sc.max_retries.is_some(), "max_retries"),
        (sc.retry_timeout_secs.is_some(), "retry_timeout_secs"),
    ]
    .into_iter()
    .find_map(|(set, key)| set.then_some(key))
}

/// Longest request timeout and retry window a store may be given: beyond an hour a hung
/// store holds a call for longer than any client waits.
const MAX_TIMEOUT_SECS: u64 = 3600;
/// Most further tries of one request.
const MAX_RETRIES: u32 = 10;

/// The store's timeouts: the adapter's defaults, with what the configuration sets.
fn s3_timeouts(name: &str, sc: &StoreConfig) -> Result<S3Timeouts, StartupError> {
    let secs = |key: &str, value: Option<u64>, default: Duration| match value {
        None => Ok(default),
        Some(v @ 1..=MAX_TIMEOUT_SECS) => Ok(Duration::from_secs(v)),
        Some(v) => Err(StartupError::store(
            name,
            format!("{key} = {v} is outside 1..={MAX_TIMEOUT_SECS}"),
        )),
    };
    let d = S3Timeouts::default();
    let max_retries = match sc.max_retries {
        None => d.max_retries,
        Some(n @ 0..=MAX_RETRIES) => n as usize,
        Some(n) => {
            return Err(StartupError::store(
                name,
                format!("max_retries = {n} is more than {MAX_RETRIES}"),
            ));
        }
    };
    Ok(S3Timeouts {
        request: secs("request_timeout_secs", sc.request_timeout_secs, d.request)?,
        connect: secs("connect_timeout_secs", sc.connect_timeout_secs, d.connect)?,
        max_retries,
        retry_timeout: secs("retry_timeout_secs", sc.retry_timeout_secs, d.retry_timeout)?,
    })
}

/// When writes started before are stale (`stale_upload_secs` before now); `None` when the
/// clean-up is off.
fn stale_cutoff(sc: &StoreConfig) -> Option<chrono::DateTime<chrono::Utc>> {
    let stale = sc.stale_upload_secs.unwrap_or(DEFAULT_STALE_UPLOAD_SECS);
    if stale == 0 {
        return None;
    }
    let age = chrono::TimeDelta::try_seconds(i64::try_from(stale).ok()?)?;
    chrono::Utc::now().checked_sub_signed(age)
}

/// Aborts, in the background, the multipart uploads a crash left unfinished under BitAtlas's
/// names (objects and audit segments) in this bucket, if they were started more than
/// `stale_upload_secs` before now. Start-up does not wait: the clean-up only frees space.
fn clean_stale_uploads(name: &str, bucket: &S3Bucket, sc: &StoreConfig) {
    let Some(cutoff) = stale_cutoff(sc) else {
        return;
    };
    let (name, bucket) = (name.to_owned(), bucket.clone());
    tokio::spawn(async move {
        for prefix in ["t", "audit"] {
            let Ok(prefix) = StorageName::parse(prefix) else {
                continue;
            };
            match bucket.abort_stale_uploads(&prefix, cutoff).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(store = %name, aborted = n, "aborted stale multipart uploads")
                }
                Err(e) => {
                    tracing::warn!(store = %name, error = %e, "stale multipart upload clean-up failed")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PolicyConfig, StoreConfig};
    use crate::residency::{Grant, Grants, grant::Allow};

    fn config(sovereign: bool) -> ConfigFile {
        let mut c = ConfigFile::default();
        c.stores.insert(
            "fra".into(),
            StoreConfig {
                provider: "aws".into(),
                region: Some("eu-central-1".into()),
                bucket: Some("b".into()),
                ..Default::default()
            },
        );
        c.policies.insert(
            "fr".into(),
            PolicyConfig {
                countries: vec!["FR".into()],
                sovereign,
                ..Default::default()
            },
        );
        c
    }

    fn grants(allow: Allow) -> Grants {
        let g = Grants::default();
        let grant = Grant::issue(
            "gr_000000000000000000000001".into(),
            "acme",
            allow,
            chrono::Duration::hours(1),
            "drill",
            "ops",
            chrono::Utc::now(),
        )
        .unwrap();
        g.set(vec![grant]);
        g
    }

    #[test]
    fn a_grant_lifts_a_country_refusal_but_never_sovereignty() {
        let de = grants(Allow::Country("DE".into()));
        // Frankfurt for an FR-only tenant: refused, admitted under a grant for DE.
        let c = config(false);
        assert!(check_tenant_policy_or_grant(&c, "acme", "fr", "fra", &Grants::default()).is_err());
        let need = check_tenant_policy_or_grant(&c, "acme", "fr", "fra", &de).unwrap();
        assert_eq!(need.map(|n| n.country), Some("DE".into()));
        // Another tenant's grant does not count.
        assert!(check_tenant_policy_or_grant(&c, "other", "fr", "fra", &de).is_err());
        // A sovereign policy also refuses the provider's US owner: no grant lifts that.
        let c = config(true);
        let err = check_tenant_policy_or_grant(&c, "acme", "fr", "fra", &de).unwrap_err();
        assert!(err.to_string().contains("POLICY_"), "{err}");
        let store = grants(Allow::Store("fra".into()));
        assert!(check_tenant_policy_or_grant(&c, "acme", "fr", "fra", &store).is_err());
    }
}
