//! How much of whole-object answers may be in memory at once.
//!
//! A `get` holds its object several times over before the answer is on the wire (plaintext,
//! its text or base64 form, the serialised message): about four times its size. Without a
//! bound, sixteen concurrent reads at the inline limit took the server past a gigabyte. Each
//! read of more than [`SMALL`] bytes takes its size from this budget before it reads, and gives
//! it back when its result is dropped; reads beyond the budget wait their turn.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reads up to this size never wait.
const SMALL: u64 = 256 * 1024;
/// The budget counts in units of this many bytes.
const UNIT: u64 = 64 * 1024;
/// The budget, in inline limits: this many answers at the limit are built at once.
pub const ANSWERS_AT_THE_LIMIT: u64 = 4;

/// A shared budget of answer bytes.
#[derive(Debug, Clone)]
pub struct AnswerBudget {
    units: Arc<Semaphore>,
    total: u32,
}

/// A share of the budget, given back on drop.
#[derive(Debug)]
pub struct Share(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl AnswerBudget {
    /// A budget for answers of at most `max_answer` bytes each.
    pub fn new(max_answer: u64) -> Self {
        let total = (max_answer.saturating_mul(ANSWERS_AT_THE_LIMIT) / UNIT)
            .clamp(1, u32::MAX as u64 >> 4) as u32;
        Self {
            units: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// Waits until `bytes` fit, then holds them.
    pub async fn take(&self, bytes: u64) -> Share {
        if bytes <= SMALL {
            return Share(None);
        }
        let units = (bytes.div_ceil(UNIT)).min(self.total as u64) as u32;
        // The semaphore is never closed, so acquiring only fails if it were.
        Share(Arc::clone(&self.units).acquire_many_owned(units).await.ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_answers_wait_for_each_other_small_ones_never() {
        let budget = AnswerBudget::new(1 << 20);
        let held: Vec<Share> =
            futures::future::join_all((0..4).map(|_| budget.take(1 << 20))).await;
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.take(1 << 20));
        assert!(
            waiting.await.is_err(),
            "a fifth answer at the limit must wait"
        );
        let small = tokio::time::timeout(std::time::Duration::from_millis(50), budget.take(1000));
        assert!(small.await.is_ok(), "small answers never wait");
        drop(held);
        let later =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.take(1 << 20));
        assert!(later.await.is_ok(), "the budget comes back");
        // An answer larger than the whole budget still goes, alone.
        let huge = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            budget.take(u64::MAX / 2),
        );
        assert!(huge.await.is_ok());
    }
}
