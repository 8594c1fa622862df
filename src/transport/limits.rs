//! Per-tenant admission control for HTTP: a token-bucket rate limit and a cap on requests
//! in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Limits applied to each tenant separately.
#[derive(Debug, Clone, Copy)]
pub struct TenantLimits {
    /// Requests processed at once.
    pub max_in_flight: u32,
    /// Sustained requests per second.
    pub rate_per_second: f64,
    /// Bucket size.
    pub burst: u32,
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate limit; retry after this long.
    RateLimited(Duration),
    /// Too many requests in flight.
    Busy,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

struct TenantState {
    bucket: Mutex<Bucket>,
    in_flight: Arc<Semaphore>,
}

/// Admission state of every tenant seen so far.
pub struct Admission {
    limits: TenantLimits,
    tenants: Mutex<HashMap<String, Arc<TenantState>>>,
}

impl Admission {
    /// Admission control with `limits` for each tenant.
    pub fn new(limits: TenantLimits) -> Self {
        Self {
            limits,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn state(&self, tenant: &str) -> Arc<TenantState> {
        let mut map = match self.tenants.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(map.entry(tenant.to_owned()).or_insert_with(|| {
            Arc::new(TenantState {
                bucket: Mutex::new(Bucket {
                    tokens: f64::from(self.limits.burst.max(1)),
                    last: Instant::now(),
                }),
                in_flight: Arc::new(Semaphore::new(self.limits.max_in_flight.max(1) as usize)),
            })
        }))
    }

    /// Admits one request of `tenant`, or says why not. The permit must be held while the
    /// request is being processed.
    pub fn admit(&self, tenant: &str) -> Result<OwnedSemaphorePermit, Refusal> {
        let state = self.state(tenant);
        {
            let mut b = match state.bucket.lock() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            let now = Instant::now();
            let rate = self.limits.rate_per_second.max(f64::MIN_POSITIVE);
            let capacity = f64::from(self.limits.burst.max(1));
            let elapsed = now.duration_since(b.last).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(capacity);
            b.last = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / rate).min(3600.0);
                return Err(Refusal::RateLimited(Duration::from_secs_f64(wait)));
            }
            b.tokens -= 1.0;
        }
        Arc::clone(&state.in_flight)
            .try_acquire_owned()
            .map_err(|_| Refusal::Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_refuses() {
        let a = Admission::new(TenantLimits {
            max_in_flight: 100,
            rate_per_second: 0.5,
            burst: 3,
        });
        for _ in 0..3 {
            drop(a.admit("t").unwrap());
        }
        match a.admit("t") {
            Err(Refusal::RateLimited(wait)) => assert!(wait > Duration::from_millis(500)),
            other => panic!("{other:?}"),
        }
        // Another tenant has its own bucket.
        assert!(a.admit("u").is_ok());
    }

    #[test]
    fn in_flight_is_capped_per_tenant() {
        let a = Admission::new(TenantLimits {
            max_in_flight: 2,
            rate_per_second: 1000.0,
            burst: 1000,
        });
        let p1 = a.admit("t").unwrap();
        let _p2 = a.admit("t").unwrap();
        assert_eq!(a.admit("t").unwrap_err(), Refusal::Busy);
        assert!(a.admit("u").is_ok());
        drop(p1);
        assert!(a.admit("t").is_ok());
    }
}
