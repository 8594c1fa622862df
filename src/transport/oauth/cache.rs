//! Tokens already verified, so that a client sending the same access token with every
//! request pays for one signature check, not one per request. Keyed by the token's SHA-256
//! (the token itself is not kept); an entry lasts until the token expires, and at most
//! [`MAX_AGE`], so a key the issuer withdraws stops being honoured within that time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::service::Caller;

/// Longest time a verified token is trusted without checking it again.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Tokens held at most; when full, expired entries go, and if none had, all of them.
const CAPACITY: usize = 4096;

/// Verified tokens and whom they speak for.
#[derive(Default)]
pub struct Verified {
    entries: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

impl Verified {
    /// The caller of a token verified before and not yet due for another check.
    pub fn get(&self, token: &str) -> Option<Caller> {
        let key = digest(token);
        let mut entries = self.entries.lock().ok()?;
        match entries.get(&key) {
            Some((caller, until)) if Instant::now() < *until => Some(caller.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `token` speaks for `caller` until `expires_in` from now (capped).
    pub fn put(&self, token: &str, caller: &Caller, expires_in: Duration) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, until)| now < *until);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            digest(token),
            (caller.clone(), now + expires_in.min(MAX_AGE)),
        );
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_last_until_their_time_and_are_keyed_by_the_whole_token() {
        let v = Verified::default();
        let c = Caller::new("a".into());
        v.put("t1", &c, Duration::from_secs(30));
        assert_eq!(v.get("t1"), Some(c.clone()));
        assert_eq!(v.get("t1x"), None);
        v.put("t2", &c, Duration::ZERO);
        assert_eq!(v.get("t2"), None, "an expired token is not served");
    }
}
