//! Exchanges that outlive their client: once a request has reached an upstream, it is billed
//! whether or not the client is still there, so the proxy finishes reading the answer in a task
//! of its own and records it as `client_disconnected` with the real usage.
//!
//! [`Background`] counts those tasks so a lane can wait for them before its runtime (which owns
//! the upstream connections they read from) goes away. Every task is bounded by its provider's
//! timeout: the wait for headers by `timeout_secs`, and each gap in the body by the same limit.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

/// Counts the background exchanges started on one lane. Cloning shares the count.
#[derive(Clone)]
pub struct Background {
    running: Arc<watch::Sender<usize>>,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            running: Arc::new(watch::Sender::new(0)),
        }
    }
}

/// Held by a running task; the count goes down when it is dropped (finished or cancelled).
struct Running(Arc<watch::Sender<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Background {
    /// Runs `task` on the current tokio runtime. Outside one (the runtime is being torn down),
    /// the task is handed back so the caller can settle it synchronously.
    pub fn spawn<F>(&self, task: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(task);
        };
        self.running.send_modify(|n| *n += 1);
        let running = Running(Arc::clone(&self.running));
        runtime.spawn(async move {
            task.await;
            drop(running);
        });
        Ok(())
    }

    /// Tasks still running.
    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Resolves once no task is running.
    pub async fn idle(&self) {
        let mut rx = self.running.subscribe();
        // An error means the sender is gone, and with it every task that could be counted.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_task() {
        let background = Background::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        assert!(
            background
                .spawn(async move {
                    let _ = rx.await;
                })
                .is_ok()
        );
        assert_eq!(background.running(), 1);
        let waiting = tokio::spawn({
            let background = background.clone();
            async move { background.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let _ = tx.send(());
        waiting.await.unwrap();
        assert_eq!(background.running(), 0);
    }
}
