//! A bounded pool for the CPU work (decoding, face detection, measuring,
//! encoding): a fixed number of worker threads fed by a queue of fixed
//! length. When every worker is busy and the queue is full, a new job is
//! refused at once with [`Error::Busy`] instead of waiting, so the service
//! answers quickly under load and its memory stays bounded.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::Error;

type Job = Box<dyn FnOnce() + Send>;

/// The worker pool. Cloning shares it; the threads end when the last clone
/// is dropped.
#[derive(Clone)]
pub struct Pool {
    jobs: SyncSender<Job>,
    workers: usize,
}

impl Pool {
    /// `workers` threads (at least one) and room for `queue` waiting jobs
    /// (at least one).
    pub fn new(workers: usize, queue: usize) -> Pool {
        let workers = workers.max(1);
        // A zero-length queue would only accept a job while a worker sits idle
        // in `recv`, which races with the worker finishing its last job.
        let (jobs, rx) = sync_channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("photo-worker-{i}"))
                .spawn(move || work(&rx))
                .expect("spawning a photo worker thread");
        }
        Pool { jobs, workers }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Queues `f` for a worker; [`Error::Busy`] at once when the pool is
    /// full. The [`Pending`] yields its value, or an error if `f` panicked.
    pub fn spawn<T, F>(&self, f: F) -> Result<Pending<T>, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(outcome.ok());
        });
        match self.jobs.try_send(job) {
            Ok(()) => Ok(Pending(rx)),
            Err(TrySendError::Full(_)) => {
                note_busy();
                Err(Error::Busy)
            }
            Err(TrySendError::Disconnected(_)) => {
                Err(Error::Internal("photo workers stopped".into()))
            }
        }
    }

    /// Runs `f` on a worker and waits for it; [`Error::Busy`] at once when
    /// the pool is full.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawn(f)?.wait().await
    }
}

/// A queued job's outcome.
pub struct Pending<T>(oneshot::Receiver<Option<T>>);

impl<T> Pending<T> {
    pub async fn wait(self) -> Result<T, Error> {
        match self.0.await {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Error::Internal("a photo job panicked".into())),
            Err(_) => Err(Error::Internal("a photo job was dropped".into())),
        }
    }
}

fn note_busy() {
    tracing::warn!("photo pool full; refusing a job");
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_refuses_at_once_and_recovers() {
        let pool = Pool::new(1, 1);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let first = pool
            .spawn(move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                1
            })
            .unwrap();
        started_rx.recv().unwrap();
        // The worker is busy; one job fits in the queue, the next does not.
        let queued = pool.spawn(|| 2).unwrap();
        assert!(matches!(pool.spawn(|| 3), Err(Error::Busy)));
        release_tx.send(()).unwrap();
        assert_eq!(first.wait().await.unwrap(), 1);
        assert_eq!(queued.wait().await.unwrap(), 2);
        assert_eq!(pool.run(|| 4).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_worker_lives_on() {
        let pool = Pool::new(1, 1);
        let r: Result<(), Error> = pool.run(|| panic!("boom")).await;
        assert!(matches!(r, Err(Error::Internal(_))));
        assert_eq!(pool.run(|| 5).await.unwrap(), 5);
    }
}
