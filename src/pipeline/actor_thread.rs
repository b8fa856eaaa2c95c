//! An actor thread with its own NATS connection.
//!
//! Each role's actor runs on its own actix arbiter (a thread with a current-thread runtime).
//! With the process's shared connection, whose task runs on the tokio workers, every
//! delivery, publish and ack crossed threads, and the wake-ups cost more CPU than the work
//! (measured on the feature role: docs/BENCHMARKS.md). A connection created on the arbiter
//! has its task there too, so the actor's NATS traffic stays on one thread.

use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::{Actor, Arbiter, Handler};
use actors::nats::{Delivery, PullSource};
use actors::{Envelope, Mailbox};

use super::{Runtime, StartError};

/// An arbiter and the NATS connection it drives.
pub struct ActorThread {
    pub arbiter: Arbiter,
    pub nats: async_nats::Client,
    name: String,
}

impl ActorThread {
    /// Starts a thread and connects on it (`name` shows in the server's connection list).
    /// Must run on the actix System thread, like [`Arbiter::new`].
    pub async fn start(runtime: &Runtime, name: &str) -> Result<ActorThread, StartError> {
        let arbiter = Arbiter::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (config, connection) = (runtime.config.nats.clone(), name.to_string());
        arbiter.spawn(async move {
            let _ = tx.send(crate::bus::connect(&config, &connection).await);
        });
        let nats = rx
            .await
            .map_err(|_| StartError::Config("an actor thread stopped while connecting".into()))??;
        Ok(ActorThread {
            arbiter,
            nats,
            name: name.to_string(),
        })
    }

    /// Runs `source` into `mailbox` on this thread, as a task the runtime's shutdown waits
    /// for (it stops pulling and waits, at most the drain limit, for the actor to finish what
    /// it holds). `source` should pull through [`ActorThread::jetstream`].
    pub fn run_source<A>(&self, runtime: &Runtime, source: PullSource, mailbox: Mailbox<A>)
    where
        A: Actor + Handler<Envelope<Delivery>>,
        A::Context: ToEnvelope<A, Envelope<Delivery>>,
    {
        let (shutdown, limit) = (runtime.shutdown.clone(), runtime.config.shutdown.limit());
        let name = self.name.clone();
        self.arbiter.spawn(runtime.shutdown.track(async move {
            let report = source.run(mailbox, shutdown, limit).await;
            tracing::info!(
                actor = name,
                delivered = report.delivered,
                drained = report.drained,
                "source stopped"
            );
        }));
    }

    /// A JetStream context on this thread's connection.
    pub fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.nats.clone())
    }

    /// Writes what the connection still buffers (the last acks), at most 5 s, then stops the
    /// thread. Call after the actor finished its work.
    pub async fn stop(self) {
        let flushed = tokio::time::timeout(Duration::from_secs(5), self.nats.flush()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            tracing::debug!("an actor thread's last NATS writes may not have been sent");
        }
        self.arbiter.stop();
    }
}
