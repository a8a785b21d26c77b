//! The worker pool: container work (create, start, stop, remove) runs at most `workers` at a
//! time with at most `queue_depth` more waiting; beyond that the API answers 503 with
//! `Retry-After` instead of piling work up.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use super::{Error, Result};

/// Bounded concurrency with a bounded queue.
pub struct WorkerPool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_depth: usize,
}

impl WorkerPool {
    /// A pool running `workers` jobs at once with `queue_depth` more allowed to wait.
    pub fn new(workers: usize, queue_depth: usize) -> WorkerPool {
        WorkerPool { permits: Arc::new(Semaphore::new(workers.max(1))), waiting: AtomicUsize::new(0), queue_depth }
    }

    /// Runs `work` when a worker is free; `Error::Busy` at once when the queue is full.
    pub async fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let _permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue_depth {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(Error::Busy("too many container operations are queued; retry shortly".into()));
                }
                let permit = self.permits.clone().acquire_owned().await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                permit.map_err(|_| Error::Busy("the daemon is shutting down".into()))?
            }
        };
        work.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        let pool = Arc::new(WorkerPool::new(1, 1));
        let slow = |pool: Arc<WorkerPool>| async move {
            pool.run(async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(())
            })
            .await
        };
        let running = tokio::spawn(slow(pool.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let queued = tokio::spawn(slow(pool.clone()));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let refused = pool.run(async { Ok(()) }).await;
        assert!(matches!(refused, Err(Error::Busy(_))));
        assert!(running.await.unwrap().is_ok());
        assert!(queued.await.unwrap().is_ok());
        assert!(pool.run(async { Ok(()) }).await.is_ok());
    }
}
