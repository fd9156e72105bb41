//! First come, first served: slow CPU work (an RS256 signature) runs off the async workers,
//! admitted in arrival order.
//!
//! An RSA-2048 signature takes ~0.4 ms. Signed on an async worker, it keeps that worker from
//! reading sockets, so requests that arrive meanwhile are noticed in batches and served in
//! whatever order the runtime's queues give: under load the latency distribution widens (p99
//! about twice the mean at 64 connections, docs/BENCHMARKS.md). Here the workers only read,
//! parse and write; each request then waits its turn at a FIFO-fair semaphore with one permit
//! per core, and signs on the blocking pool. Throughput is unchanged (the cores still sign
//! back to back); the wait is what is made fair.
//!
//! Fast signatures (ES256, EdDSA: tens of microseconds) stay on the worker: the hand-off to
//! another thread would cost about as much as the signature. So does everything on one core
//! (see [`SigningGate::spans_cores`]).

use std::num::NonZeroUsize;

use tokio::sync::Semaphore;

/// The FIFO admission of slow signing work (see the module docs).
#[derive(Debug)]
pub(crate) struct SigningGate {
    permits: Semaphore,
    cores: usize,
}

impl Default for SigningGate {
    /// One permit per core this process may run on.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }
}

impl SigningGate {
    /// A gate letting `permits` pieces of work run at once (at least one).
    pub(crate) fn new(permits: usize) -> Self {
        Self {
            permits: Semaphore::new(permits.max(1)),
            cores: permits.max(1),
        }
    }

    /// Whether the gate is worth its hand-off: only with several cores. On one core the
    /// single async worker already serves requests in arrival order (p99 1.2× the mean,
    /// docs/BENCHMARKS.md), and the hand-off would only add two context switches a request.
    pub(crate) fn spans_cores(&self) -> bool {
        self.cores > 1
    }

    /// Run `work` on the blocking pool once admitted, in arrival order; at most one piece of
    /// work per core runs at a time. `None` when the runtime shut down before the work ran.
    pub(crate) async fn run<T, F>(&self, work: F) -> Option<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // The semaphore is never closed, so acquiring cannot fail; if it ever did, the work
        // would simply run unadmitted.
        let _permit = self.permits.acquire().await.ok();
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => Some(value),
            // The work panicked: let the panic continue here, as it would have inline.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, mpsc};

    use super::*;

    #[tokio::test]
    async fn work_runs_one_at_a_time_in_arrival_order() {
        let gate = Arc::new(SigningGate::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        // The first piece of work holds the only permit until released.
        let (release, held) = mpsc::channel::<()>();
        let first = {
            let (gate, order) = (gate.clone(), order.clone());
            tokio::spawn(async move {
                gate.run(move || {
                    held.recv().expect("release");
                    order.lock().expect("order").push(0);
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        let waiting: Vec<_> = (1..=5)
            .map(|i| {
                let (gate, order) = (gate.clone(), order.clone());
                tokio::spawn(async move {
                    gate.run(move || {
                        order.lock().expect("order").push(i);
                        i * 10
                    })
                    .await
                })
            })
            .collect();
        // Let every waiter reach the gate (the test runtime runs one task at a time, in
        // spawn order), then let the first piece of work finish.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            order.lock().expect("order").is_empty(),
            "nothing ran past the gate"
        );
        assert!(!gate.spans_cores());
        assert!(SigningGate::new(2).spans_cores());
        release.send(()).expect("release");
        assert_eq!(first.await.expect("join"), Some(()));
        for (i, task) in (1..=5).zip(waiting) {
            assert_eq!(task.await.expect("join"), Some(i * 10));
        }
        assert_eq!(*order.lock().expect("order"), vec![0, 1, 2, 3, 4, 5]);
    }
}
