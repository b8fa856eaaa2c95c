use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::{Actor, Handler};
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::delivery::{DeadLetterSink, Delivery};
use super::in_flight::{InFlight, InFlightPermit};
use crate::health::ReadyFlag;
use crate::mailbox::{Envelope, Mailbox};
use crate::metrics::ActorMetrics;
use crate::shutdown::Shutdown;

/// Bounds of a [`PullSource`].
#[derive(Debug, Clone)]
pub struct PullSourceConfig {
    /// Messages handed out and not yet finished (acked, nak'ed, dead-lettered). The consumer's
    /// `max_ack_pending` should equal it (the server-side half of the same bound).
    pub max_in_flight: usize,
    /// Largest pull request; each request asks for at most the permits it holds.
    pub batch: usize,
    /// How long one pull request waits for messages on an idle stream.
    pub expires: Duration,
    /// Pause after a failed pull (NATS restarting, consumer missing), doubled up to 5 s.
    pub retry_delay: Duration,
}

impl Default for PullSourceConfig {
    fn default() -> Self {
        PullSourceConfig {
            max_in_flight: 256,
            batch: 64,
            expires: Duration::from_secs(1),
            retry_delay: Duration::from_millis(100),
        }
    }
}

/// What a source did, for tests and logs.
#[derive(Debug, Clone, Default)]
pub struct SourceReport {
    pub delivered: u64,
    /// Most messages that were in flight at once (never above `max_in_flight`).
    pub max_in_flight_seen: usize,
    pub fetch_errors: u64,
    /// True if every in-flight message was finished before the drain limit.
    pub drained: bool,
}

/// Feeds a durable JetStream pull consumer into an actor's mailbox with at most
/// `max_in_flight` messages unfinished. It first takes permits, then pulls exactly that many
/// messages (so nothing waits in a client buffer while its ack timer runs), and hands each
/// message over with one permit inside.
pub struct PullSource {
    consumer: PullConsumer,
    config: PullSourceConfig,
    permits: Arc<Semaphore>,
    in_flight: Arc<InFlight>,
    dead_letters: DeadLetterSink,
    metrics: Arc<ActorMetrics>,
    bound: Option<ReadyFlag>,
}

impl PullSource {
    /// `metrics` are the target actor's (deliveries count their outcome there).
    pub fn new(
        consumer: PullConsumer,
        config: PullSourceConfig,
        metrics: Arc<ActorMetrics>,
        dead_letters: DeadLetterSink,
    ) -> PullSource {
        let in_flight = Arc::new(InFlight::new(metrics.clone()));
        PullSource {
            permits: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            consumer,
            config,
            in_flight,
            dead_letters,
            metrics,
            bound: None,
        }
    }

    /// A readiness flag set while pulls succeed ("consumer bound").
    pub fn with_ready_flag(mut self, flag: ReadyFlag) -> PullSource {
        self.bound = Some(flag);
        self
    }

    /// Messages handed out and not finished right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.now()
    }

    /// Pulls until `shutdown` triggers, then stops pulling and waits (at most `drain_limit`)
    /// for the actor to finish every message it holds.
    pub async fn run<A>(
        self,
        mailbox: Mailbox<A>,
        shutdown: Shutdown,
        drain_limit: Duration,
    ) -> SourceReport
    where
        A: Actor + Handler<Envelope<Delivery>>,
        A::Context: ToEnvelope<A, Envelope<Delivery>>,
    {
        let mut report = SourceReport::default();
        let mut retry_delay = self.config.retry_delay;
        'pull: loop {
            let mut permit = tokio::select! {
                _ = shutdown.cancelled() => break 'pull,
                p = self.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break 'pull,
                },
            };
            while permit.num_permits() < self.config.batch {
                match self.permits.clone().try_acquire_owned() {
                    Ok(more) => permit.merge(more),
                    Err(_) => break,
                }
            }
            let wanted = permit.num_permits();
            let batch = self
                .consumer
                .batch()
                .max_messages(wanted)
                .expires(self.config.expires)
                .messages()
                .await;
            let mut messages = match batch {
                Ok(m) => m,
                Err(e) => {
                    report.fetch_errors += 1;
                    self.set_bound(false);
                    tracing::warn!(actor = self.metrics.actor(), error = %e, "pull request failed; retrying");
                    drop(permit);
                    tokio::select! {
                        _ = shutdown.cancelled() => break 'pull,
                        _ = tokio::time::sleep(retry_delay) => {}
                    }
                    retry_delay = (retry_delay * 2).min(Duration::from_secs(5));
                    continue 'pull;
                }
            };
            self.set_bound(true);
            retry_delay = self.config.retry_delay;
            // The request ends after `wanted` messages or `expires`: hand every message over,
            // even when a stop was asked for meanwhile, so none waits out its ack timer.
            while let Some(next) = messages.next().await {
                match next {
                    Ok(message) => {
                        let Some(one) = permit.split(1) else {
                            // More messages than requested cannot happen; never exceed the bound.
                            tracing::error!(
                                actor = self.metrics.actor(),
                                "server sent more messages than requested"
                            );
                            break;
                        };
                        let held = InFlightPermit::new(one, self.in_flight.clone());
                        let delivery = Delivery::new(
                            message,
                            held,
                            self.metrics.clone(),
                            self.dead_letters.clone(),
                        );
                        report.delivered += 1;
                        if mailbox.send(delivery).await.is_err() {
                            tracing::error!(
                                actor = self.metrics.actor(),
                                "actor stopped; source ends"
                            );
                            break 'pull;
                        }
                    }
                    Err(e) => {
                        report.fetch_errors += 1;
                        tracing::debug!(actor = self.metrics.actor(), error = %e, "pull ended early");
                        break;
                    }
                }
            }
        }
        // Stop pulling; wait for every permit to come back (all in-flight work finished).
        let all = u32::try_from(self.config.max_in_flight.max(1)).unwrap_or(u32::MAX);
        report.drained = tokio::time::timeout(drain_limit, self.permits.acquire_many(all))
            .await
            .is_ok();
        report.max_in_flight_seen = self.in_flight.high_water();
        self.set_bound(false);
        report
    }

    fn set_bound(&self, bound: bool) {
        if let Some(flag) = &self.bound {
            flag.set(bound);
        }
    }
}
