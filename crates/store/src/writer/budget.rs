//! The memory budget of the recording path: the bytes its queues may hold, shared by every
//! queue that takes part (the proxy's finished exchanges, the writer's events).
//!
//! A queue reserves what an item retains before queueing it and releases it when the item is
//! taken off; an item that does not fit is not queued (the caller handles it another way: the
//! writer spills it to the file). The budget is never exceeded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The default budget: 64 MiB.
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// A byte budget shared by the queues of the recording path. Cloning shares it.
#[derive(Debug, Clone)]
pub struct QueueBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl QueueBudget {
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            limit: limit_bytes,
        }
    }

    /// Takes `bytes` from the budget if they fit; false (and nothing taken) if they do not.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let after = used.saturating_add(bytes);
                (after <= self.limit).then_some(after)
            })
            .is_ok()
    }

    /// Gives back what a [`try_reserve`](Self::try_reserve) took.
    pub fn release(&self, bytes: usize) {
        // Never below zero, whatever a caller does.
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes held now.
    pub fn used_bytes(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The most the queues may hold.
    pub fn limit_bytes(&self) -> usize {
        self.limit
    }
}

impl Default for QueueBudget {
    fn default() -> Self {
        Self::new(DEFAULT_QUEUE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_up_to_the_limit_and_no_further() {
        let budget = QueueBudget::new(100);
        assert!(budget.try_reserve(60));
        assert!(budget.try_reserve(40));
        assert!(!budget.try_reserve(1), "full");
        budget.release(40);
        assert!(!budget.try_reserve(41));
        assert!(budget.try_reserve(40));
        assert_eq!(budget.used_bytes(), 100);
        budget.release(100);
        assert!(!budget.try_reserve(101), "larger than the whole budget");
        assert_eq!(budget.used_bytes(), 0);
    }
}
