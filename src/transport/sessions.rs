//! MCP sessions (protocol 2025-11-25 and earlier): who owns each, how many a tenant may hold,
//! and when an idle one expires.
//!
//! rmcp's session manager knows session ids but not who opened them, and an id presented with
//! any valid credential would otherwise reach the session: another tenant could read its
//! result stream (`GET` with `Last-Event-ID`), post into it or close it. The `/mcp` gate binds
//! every id the server hands out to the caller whose `initialize` created it, and answers 404
//! for an id that is unknown or owned by someone else, before rmcp sees the request.
//!
//! Each session costs memory (its worker, channels and server value, a few hundred KB), so a
//! tenant holds at most [`SessionLimits::max_per_tenant`]. When a new session would exceed
//! that, the tenant's least recently used session that has no request in flight is closed
//! (a well-behaved client that presents it again gets 404 and starts a new one, as the
//! protocol requires); when every one of them is busy, the new session is closed at once and
//! the `initialize` is refused with 429, like the tenant's other quotas. A session with no
//! request for [`SessionLimits::idle`] expires: rmcp's own keep-alive (set to the same time)
//! stops its worker and frees it, and this table forgets it.
//!
//! Session ids are bearer secrets: they are never logged, and the table keys them by their
//! SHA-256 so that a heap dump of it does not hand them out either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_server::session::SessionManager as _;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use sha2::{Digest, Sha256};

use crate::service::Caller;

/// The header carrying the session id (2025-03-26 and later revisions).
pub const SESSION_HEADER: &str = "mcp-session-id";

/// How many sessions a tenant may hold and how long an idle one lives.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Sessions one tenant may hold at once (at least 1).
    pub max_per_tenant: usize,
    /// A session with no request for this long expires.
    pub idle: Duration,
}

type Digest32 = [u8; 32];

struct Entry {
    caller: Caller,
    last_used: Instant,
    /// Requests on this session still running (a POST until its answer was sent).
    busy: usize,
}

/// What happened to a session that was just created ([`Sessions::bind`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Bound {
    /// Within the tenant's limit (possibly after closing its least recently used session).
    Kept,
    /// Every other session of the tenant is busy: the new one was closed again.
    Refused,
}

/// The session table of one HTTP server, in front of rmcp's session manager.
pub struct Sessions {
    limits: SessionLimits,
    table: Mutex<HashMap<Digest32, Entry>>,
    manager: Arc<LocalSessionManager>,
}

impl Sessions {
    /// A table enforcing `limits`, and the rmcp session manager it closes sessions in, whose
    /// keep-alive is the same idle time.
    pub fn new(limits: SessionLimits) -> Arc<Sessions> {
        let mut manager = LocalSessionManager::default();
        let mut config = SessionConfig::default();
        config.keep_alive = Some(limits.idle);
        manager.session_config = config;
        Arc::new(Sessions {
            limits: SessionLimits {
                max_per_tenant: limits.max_per_tenant.max(1),
                ..limits
            },
            table: Mutex::new(HashMap::new()),
            manager: Arc::new(manager),
        })
    }

    /// The rmcp session manager to serve with.
    pub fn manager(&self) -> Arc<LocalSessionManager> {
        Arc::clone(&self.manager)
    }

    /// Starts a request on session `id` for `caller`: `None` when the session is unknown,
    /// expired or owned by another caller (all answered 404). The session counts as busy
    /// until the returned guard is dropped.
    pub fn enter(self: &Arc<Self>, id: &str, caller: &Caller) -> Option<InUse> {
        let key = digest(id);
        let now = Instant::now();
        let mut table = self.lock();
        let entry = table.get_mut(&key)?;
        if !entry.caller.same_principal(caller) {
            return None;
        }
        if self.expired(entry, now) {
            table.remove(&key);
            drop(table);
            self.close(vec![key]);
            return None;
        }
        entry.busy += 1;
        entry.last_used = now;
        Some(InUse {
            sessions: Arc::downgrade(self),
            key,
        })
    }

    /// Records that `caller` created session `id`, then keeps the tenant within its limit:
    /// its least recently used idle session is closed, or, when none is idle, the new one is.
    pub fn bind(&self, id: &str, caller: &Caller) -> Bound {
        let key = digest(id);
        let now = Instant::now();
        let mut table = self.lock();
        let mut closing = self.take_expired(&mut table, now);
        table.insert(
            key,
            Entry {
                caller: caller.clone(),
                last_used: now,
                busy: 0,
            },
        );
        let held = table
            .values()
            .filter(|e| e.caller.tenant == caller.tenant)
            .count();
        let mut outcome = Bound::Kept;
        if held > self.limits.max_per_tenant {
            let victim = table
                .iter()
                .filter(|(k, e)| **k != key && e.caller.tenant == caller.tenant && e.busy == 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| *k);
            let victim = victim.unwrap_or_else(|| {
                outcome = Bound::Refused;
                key
            });
            match outcome {
                Bound::Kept => tracing::info!(
                    "a tenant reached its session limit: its least recently used idle session \
                     was closed"
                ),
                Bound::Refused => tracing::warn!(
                    "a tenant reached its session limit with every session busy: a new session \
                     was refused"
                ),
            }
            table.remove(&victim);
            closing.push(victim);
        }
        drop(table);
        self.close(closing);
        outcome
    }

    /// Forgets a session that was closed (DELETE) or that rmcp no longer knows.
    pub fn forget(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    /// Forgets expired sessions and closes whatever of them rmcp still holds.
    pub fn sweep(&self) {
        let expired = self.take_expired(&mut self.lock(), Instant::now());
        self.close(expired);
    }

    /// Sweeps every quarter of the idle time, for as long as the table lives, so that the
    /// memory of expired sessions returns without anyone presenting them.
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        let every = (self.limits.idle / 4).max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(sessions) => sessions.sweep(),
                    None => return,
                }
            }
        })
    }

    fn expired(&self, entry: &Entry, now: Instant) -> bool {
        entry.busy == 0 && now.duration_since(entry.last_used) >= self.limits.idle
    }

    fn take_expired(&self, table: &mut HashMap<Digest32, Entry>, now: Instant) -> Vec<Digest32> {
        let expired: Vec<Digest32> = table
            .iter()
            .filter(|(_, e)| self.expired(e, now))
            .map(|(k, _)| *k)
            .collect();
        for k in &expired {
            table.remove(k);
        }
        expired
    }

    /// Closes the sessions with these digests in rmcp (in the background: closing waits for
    /// the session's worker). The table holds digests only, so the ids are found by hashing
    /// rmcp's own.
    fn close(&self, keys: Vec<Digest32>) {
        if keys.is_empty() {
            return;
        }
        let manager = Arc::clone(&self.manager);
        tokio::spawn(async move {
            let ids: Vec<_> = manager
                .sessions
                .read()
                .await
                .keys()
                .filter(|id| keys.contains(&digest(id)))
                .cloned()
                .collect();
            for id in ids {
                if let Err(e) = manager.close_session(&id).await {
                    tracing::debug!(error = %e, "closing a session failed");
                }
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest32, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts,
        // removes and counter changes), so a poisoned lock is still safe to use.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A request running on a session ([`Sessions::enter`]); dropping it ends the request.
pub struct InUse {
    sessions: Weak<Sessions>,
    key: Digest32,
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Some(sessions) = self.sessions.upgrade()
            && let Some(entry) = sessions.lock().get_mut(&self.key)
        {
            entry.busy = entry.busy.saturating_sub(1);
            entry.last_used = Instant::now();
        }
    }
}

fn digest(id: &str) -> Digest32 {
    Sha256::digest(id.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(t: &str) -> Caller {
        Caller::new(t.to_owned())
    }

    fn sessions(max: usize, idle: Duration) -> Arc<Sessions> {
        Sessions::new(SessionLimits {
            max_per_tenant: max,
            idle,
        })
    }

    const LONG: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn only_the_creator_is_admitted() {
        let s = sessions(8, LONG);
        assert_eq!(s.bind("s1", &caller("alpha")), Bound::Kept);
        assert!(s.enter("s1", &caller("alpha")).is_some());
        assert!(s.enter("s1", &caller("beta")).is_none());
        assert!(s.enter("s2", &caller("alpha")).is_none());
        s.forget("s1");
        assert!(s.enter("s1", &caller("alpha")).is_none());
        assert!(s.lock().is_empty());
    }

    #[tokio::test]
    async fn beyond_the_cap_the_least_recently_used_idle_session_goes() {
        let s = sessions(2, LONG);
        let a = caller("alpha");
        s.bind("s1", &a);
        s.bind("s2", &a);
        // s1 is used again, so s2 is now the least recently used.
        drop(s.enter("s1", &a));
        // Another tenant's sessions neither count nor get evicted.
        s.bind("b1", &caller("beta"));
        assert_eq!(s.bind("s3", &a), Bound::Kept);
        assert!(s.enter("s2", &a).is_none(), "the least recently used went");
        assert!(s.enter("s1", &a).is_some());
        assert!(s.enter("s3", &a).is_some());
        assert!(s.enter("b1", &caller("beta")).is_some());
    }

    #[tokio::test]
    async fn when_every_session_is_busy_the_new_one_is_refused() {
        let s = sessions(2, LONG);
        let a = caller("alpha");
        s.bind("s1", &a);
        s.bind("s2", &a);
        let busy1 = s.enter("s1", &a).expect("s1");
        let busy2 = s.enter("s2", &a).expect("s2");
        assert_eq!(s.bind("s3", &a), Bound::Refused);
        assert!(
            s.enter("s3", &a).is_none(),
            "the refused session is not kept"
        );
        drop(busy1);
        assert_eq!(s.bind("s4", &a), Bound::Kept, "s1 is idle again and goes");
        assert!(s.enter("s1", &a).is_none());
        drop(busy2);
        assert_eq!(s.lock().len(), 2);
    }

    #[tokio::test]
    async fn idle_sessions_expire_and_no_longer_count() {
        let s = sessions(1, Duration::from_millis(50));
        let a = caller("alpha");
        s.bind("s1", &a);
        let held = s.enter("s1", &a).expect("s1");
        tokio::time::sleep(Duration::from_millis(120)).await;
        // A busy session does not expire, however long its request takes.
        s.sweep();
        assert_eq!(s.lock().len(), 1);
        drop(held);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(s.enter("s1", &a).is_none(), "expired");
        s.bind("s2", &a);
        tokio::time::sleep(Duration::from_millis(120)).await;
        s.sweep();
        assert!(s.lock().is_empty(), "swept");
    }
}
