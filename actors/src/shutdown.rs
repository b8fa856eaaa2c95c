//! One "stop now" signal plus "everyone has finished" (tokio-util's CancellationToken and
//! TaskTracker), wired to SIGINT and SIGTERM.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Cloned into every long-running loop. Loops `select!` on [`Shutdown::cancelled`], reach a
/// safe point (finish and ack in-flight work), and return; the owner then waits for every
/// tracked task with [`Shutdown::wait_finished`].
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every loop to stop.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once a stop was asked for.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// A stop signal for one part of the process: triggered with this one, or alone (a role
    /// that cannot go on). Its tasks still count for this one's [`Shutdown::wait_finished`].
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
            tracker: self.tracker.clone(),
        }
    }

    /// Spawns a task whose end [`Shutdown::wait_finished`] waits for.
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// A future counted by the tracker, for tasks spawned elsewhere (e.g. on an actix arbiter).
    pub fn track<F: Future>(&self, task: F) -> impl Future<Output = F::Output> {
        self.tracker.track_future(task)
    }

    /// Waits until every tracked task ended, at most `limit`. Returns false on timeout.
    pub async fn wait_finished(&self, limit: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_ok()
    }

    /// Triggers the stop on the first SIGINT or SIGTERM. Returns the listener task.
    pub fn listen_for_signals(&self) -> std::io::Result<tokio::task::JoinHandle<()>> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let shutdown = self.clone();
        Ok(tokio::spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
                _ = shutdown.cancelled() => return,
            };
            tracing::info!(signal = name, "stop requested: draining in-flight work");
            shutdown.trigger();
        }))
    }
}
