//! Which caller owns which MCP session.
//!
//! rmcp's session manager knows session ids but not who opened them, and an id presented with
//! any valid credential would otherwise reach the session: another tenant could read its
//! result stream (`GET` with `Last-Event-ID`), post into it or close it. The `/mcp` gate binds
//! every id the server hands out to the caller whose `initialize` created it, and answers 404
//! for an id that is unknown or owned by someone else, before rmcp sees the request.
//!
//! Session ids are bearer secrets: they are never logged, and the map keys them by their
//! SHA-256 so that a heap dump of this table does not hand them out either.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::service::Caller;

/// The header carrying the session id (2025-03-26 and later revisions).
pub const SESSION_HEADER: &str = "mcp-session-id";

/// Session id (hashed) -> the caller that created it.
#[derive(Default)]
pub struct SessionOwners {
    owners: Mutex<HashMap<[u8; 32], Caller>>,
}

impl SessionOwners {
    /// Records that `caller` created session `id`.
    pub fn bind(&self, id: &str, caller: &Caller) {
        self.lock().insert(digest(id), caller.clone());
    }

    /// Whether `caller` may use session `id`: only the caller that created it may.
    pub fn admits(&self, id: &str, caller: &Caller) -> bool {
        self.lock().get(&digest(id)) == Some(caller)
    }

    /// Forgets a closed or expired session.
    pub fn forget(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Caller>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts
        // and removes), so a poisoned lock is still safe to use.
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(t: &str) -> Caller {
        Caller {
            tenant: t.to_owned(),
        }
    }

    #[test]
    fn only_the_creator_is_admitted() {
        let owners = SessionOwners::default();
        owners.bind("s1", &caller("alpha"));
        assert!(owners.admits("s1", &caller("alpha")));
        assert!(!owners.admits("s1", &caller("beta")));
        assert!(!owners.admits("s2", &caller("alpha")));
        owners.forget("s1");
        assert!(!owners.admits("s1", &caller("alpha")));
        assert!(owners.lock().is_empty());
    }
}
