//! How every role is assembled: an actor on a thread of its own with its own NATS
//! connection, fed by a durable pull consumer (the source) through a counted mailbox, its
//! outputs published on the same connection (the sink).
//!
//! Each role's actor runs on its own actix arbiter (a thread with a current-thread runtime).
//! With the process's shared connection, whose task runs on the tokio workers, every
//! delivery, publish and ack crossed threads, and the wake-ups cost more CPU than the work
//! (measured on the feature role: docs/BENCHMARKS.md). A connection created on the arbiter
//! has its task there too, so the actor's NATS traffic stays on one thread.

use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Arbiter, Context, Handler};
use actors::nats::{DeadLetterSink, Delivery, PullSource, PullSourceConfig};
use actors::{ActorMetrics, Envelope, Mailbox, Shutdown};

use super::backlog::watch_consumer_backlog;
use super::{Runtime, StartError};
use crate::bus::{streams, subjects};

/// An arbiter and the NATS connection it drives.
pub struct ActorThread {
    pub arbiter: Arbiter,
    pub nats: async_nats::Client,
    name: &'static str,
}

/// Where an actor's deliveries come from.
pub struct Feed<'a> {
    /// The stream and the durable consumer on it (created by the topology or the role).
    pub stream: &'a str,
    pub consumer: &'a str,
    /// Deliveries handed out and not yet finished; the consumer's `max_ack_pending`.
    pub max_in_flight: usize,
    /// Largest pull request.
    pub batch: usize,
    /// A readiness check set while pulls succeed (e.g. "writer consumer bound").
    pub ready_flag: Option<&'a str>,
    /// The `consumer` label of the backlog gauges, when the backlog is sampled.
    pub backlog: Option<&'static str>,
}

impl ActorThread {
    /// Starts a thread and connects on it (`name` is the actor's metric label and shows in
    /// the server's connection list). Must run on the actix System thread, like
    /// [`Arbiter::new`].
    pub async fn start(runtime: &Runtime, name: &'static str) -> Result<ActorThread, StartError> {
        let arbiter = Arbiter::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = runtime.config.nats.clone();
        arbiter.spawn(async move {
            let _ = tx.send(crate::bus::connect(&config, name).await);
        });
        let nats = rx.await.map_err(|_| StartError::ThreadGone(name))??;
        Ok(ActorThread {
            arbiter,
            nats,
            name,
        })
    }

    /// A JetStream context on this thread's connection.
    pub fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.nats.clone())
    }

    /// Starts the actor `make` builds (given its metrics) on this thread and feeds it from
    /// `feed`, as a task `shutdown` tracks: on stop it stops pulling and waits, at most the
    /// drain limit, for the actor to finish what it holds. Undecodable deliveries go to the
    /// dead-letter subject of their source.
    pub async fn run_fed<A>(
        &self,
        runtime: &Runtime,
        feed: Feed<'_>,
        shutdown: &Shutdown,
        make: impl FnOnce(Arc<ActorMetrics>) -> A + Send + 'static,
    ) -> Result<Addr<A>, StartError>
    where
        A: Actor<Context = Context<A>> + Handler<Envelope<Delivery>>,
        Context<A>: ToEnvelope<A, Envelope<Delivery>>,
    {
        let js = self.jetstream();
        let consumer = streams::consumer_on(&js, feed.stream, feed.consumer).await?;
        if let Some(label) = feed.backlog {
            let stop = shutdown.clone();
            shutdown.spawn(watch_consumer_backlog(
                consumer.clone(),
                label,
                Duration::from_secs(5),
                async move { stop.cancelled().await },
            ));
        }
        let metrics = ActorMetrics::register(self.name);
        let actor_metrics = metrics.clone();
        let addr = A::start_in_arbiter(&self.arbiter.handle(), move |_| make(actor_metrics));
        let mut source = PullSource::new(
            consumer,
            PullSourceConfig {
                max_in_flight: feed.max_in_flight,
                batch: feed.batch,
                ..Default::default()
            },
            metrics.clone(),
            DeadLetterSink::new(js, subjects::dlq_for),
        );
        if let Some(name) = feed.ready_flag {
            source = source.with_ready_flag(runtime.readiness.add_flag(name));
        }
        let mailbox = Mailbox::new(addr.clone(), metrics);
        let (stop, limit, name) = (shutdown.clone(), runtime.config.shutdown.limit, self.name);
        self.arbiter.spawn(shutdown.track(async move {
            let report = source.run(mailbox, stop, limit).await;
            tracing::info!(
                actor = name,
                delivered = report.delivered,
                drained = report.drained,
                "source stopped"
            );
        }));
        Ok(addr)
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
