//! Backpressure from a consumer to a producer on a limits-retention stream.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::stream::Stream;
use tokio_util::sync::CancellationToken;

use super::sink_error::SinkError;

/// Holds a producer back while a durable consumer is too far behind.
///
/// A stream with limits retention does not shrink when its consumers ack, so a full stream
/// (`DiscardNew`) only says "the retention is used up", not "the consumer is slow". The gate
/// reads the consumer's backlog (messages not yet delivered plus delivered and not yet acked)
/// at most every `check_every`; above `max_backlog` it waits, re-reading, until the backlog
/// fell to `resume_below`. A consumer that does not exist (yet) holds nobody back, and a
/// failed read admits too: the publish itself will fail and retry if NATS is really gone.
pub struct BacklogGate {
    stream: Stream,
    consumer_name: String,
    consumer: Option<PullConsumer>,
    max_backlog: u64,
    resume_below: u64,
    check_every: Duration,
    last_check: Option<Instant>,
    waited: Duration,
}

impl BacklogGate {
    /// Waits above `max_backlog`, resumes at 80 % of it (hysteresis, so the producer moves in
    /// strides rather than one message per check).
    pub fn new(
        stream: Stream,
        consumer_name: impl Into<String>,
        max_backlog: u64,
        check_every: Duration,
    ) -> BacklogGate {
        BacklogGate {
            stream,
            consumer_name: consumer_name.into(),
            consumer: None,
            max_backlog: max_backlog.max(1),
            resume_below: (max_backlog / 5 * 4).max(1),
            check_every,
            last_check: None,
            waited: Duration::ZERO,
        }
    }

    /// Total time producers waited at this gate.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Returns when the producer may publish; `Err` only when `stop` fired while waiting.
    pub async fn admit(&mut self, stop: &CancellationToken) -> Result<(), SinkError> {
        if self
            .last_check
            .is_some_and(|at| at.elapsed() < self.check_every)
        {
            return Ok(());
        }
        self.last_check = Some(Instant::now());
        let Some(backlog) = self.backlog().await else {
            return Ok(());
        };
        if backlog <= self.max_backlog {
            return Ok(());
        }
        let started = Instant::now();
        let holding = metrics::gauge!("nats_publish_backpressure_active", "consumer" => self.consumer_name.clone());
        holding.set(1.0);
        metrics::counter!("nats_publish_backpressure_waits_total", "consumer" => self.consumer_name.clone())
            .increment(1);
        tracing::info!(
            consumer = %self.consumer_name,
            backlog,
            max_backlog = self.max_backlog,
            "consumer behind: holding publishes back"
        );
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    holding.set(0.0);
                    self.record_wait(started);
                    return Err(SinkError::Stopped { pending: 1 });
                }
                _ = tokio::time::sleep(self.check_every) => {}
            }
            match self.backlog().await {
                Some(backlog) if backlog > self.resume_below => continue,
                _ => break,
            }
        }
        holding.set(0.0);
        self.record_wait(started);
        self.last_check = Some(Instant::now());
        Ok(())
    }

    fn record_wait(&mut self, started: Instant) {
        let waited = started.elapsed();
        self.waited += waited;
        tracing::info!(consumer = %self.consumer_name, waited_ms = waited.as_millis() as u64, "consumer caught up: publishing again");
    }

    /// `num_pending + num_ack_pending`, or `None` when the consumer cannot be read.
    async fn backlog(&mut self) -> Option<u64> {
        if self.consumer.is_none() {
            self.consumer = self.stream.get_consumer(&self.consumer_name).await.ok();
        }
        let consumer = self.consumer.as_mut()?;
        match consumer.info().await {
            Ok(info) => Some(info.num_pending + info.num_ack_pending as u64),
            Err(e) => {
                tracing::debug!(consumer = %self.consumer_name, error = %e, "cannot read the consumer's backlog");
                // Deleted and recreated consumers get a fresh handle next time.
                self.consumer = None;
                None
            }
        }
    }
}
