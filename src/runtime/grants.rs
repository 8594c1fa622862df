//! Override grants on disk: `<data_dir>/grants/<id>.json`, written by `bitatlas override
//! grant`, each MAC'd with the data directory's audit key; `<id>.revoked`, written by `override
//! revoke`. A running server reads the folder every [`RELOAD`], so a new grant is picked up and
//! a revoked one stops counting within that time; an expired one ends by itself. A file whose
//! MAC does not verify (forged, edited) is ignored and logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::audit::AuditKeys;
use crate::residency::{Grant, Grants};

/// How often a running server re-reads the grants.
pub const RELOAD: Duration = Duration::from_secs(5);

/// The grants folder of a data directory.
pub fn grants_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("grants")
}

fn valid_id(id: &str) -> bool {
    id.len() == 27
        && id.starts_with("gr_")
        && id[3..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The grants in force in `data_dir`: MAC verified, not revoked, not expired.
pub fn read_grants(data_dir: &Path, keys: &AuditKeys) -> Vec<Grant> {
    let dir = grants_dir(data_dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        if !valid_id(id) || dir.join(format!("{id}.revoked")).exists() {
            continue;
        }
        match read_one(&path, keys) {
            Some(g) if g.grant == id && now < g.expires() => out.push(g),
            Some(_) => {}
            None => tracing::warn!(grant = id, "an override grant does not verify; ignored"),
        }
    }
    out
}

fn read_one(path: &Path, keys: &AuditKeys) -> Option<Grant> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mac = doc.as_object_mut()?.remove("mac")?.as_str()?.to_owned();
    let grant: Grant = serde_json::from_value(doc).ok()?;
    keys.verify_grant(&grant.canonical(), &mac).then_some(grant)
}

/// Writes `grant`, MAC'd, into `data_dir`; returns the file.
pub fn write_grant(data_dir: &Path, grant: &Grant, keys: &AuditKeys) -> Result<PathBuf, String> {
    let mut doc = serde_json::to_value(grant).map_err(|e| e.to_string())?;
    doc["mac"] = keys.grant_mac(&grant.canonical()).into();
    let path = grants_dir(data_dir).join(format!("{}.json", grant.grant));
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n";
    crate::crypto::keyring::write_private(&path, text.as_bytes(), false)
        .map_err(|e| e.to_string())?;
    Ok(path)
}

/// Revokes grant `id` of `data_dir` (for good: a revoked id never counts again).
pub fn revoke(data_dir: &Path, id: &str) -> Result<(), String> {
    if !valid_id(id) {
        return Err(format!("{id:?} is not a grant id (gr_ and 24 hex digits)"));
    }
    let dir = grants_dir(data_dir);
    if !dir.join(format!("{id}.json")).exists() {
        return Err(format!("no grant {id} in {}", dir.display()));
    }
    crate::crypto::keyring::write_private(&dir.join(format!("{id}.revoked")), b"revoked\n", true)
        .map_err(|e| e.to_string())
}

/// Keeps `grants` equal to what `data_dir` holds, re-reading it every [`RELOAD`].
pub fn keep_fresh(grants: Arc<Grants>, data_dir: PathBuf, keys: Arc<AuditKeys>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELOAD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (dir, k) = (data_dir.clone(), Arc::clone(&keys));
            if let Ok(now) = tokio::task::spawn_blocking(move || read_grants(&dir, &k)).await {
                grants.set(now);
            }
        }
    });
}
