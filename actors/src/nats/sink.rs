use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::{self, message::PublishMessage};
use async_nats::HeaderMap;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::gate::BacklogGate;
use super::sink_error::SinkError;

/// One message for a stream.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub subject: String,
    pub headers: HeaderMap,
    pub payload: Bytes,
    /// `Nats-Msg-Id`: the stream drops a second publish with the same id inside its duplicate
    /// window, so a retry after a lost ack cannot store the message twice.
    pub msg_id: Option<String>,
}

/// Bounds of a [`Publisher`].
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Publishes sent and not yet acknowledged by the stream.
    pub max_in_flight: usize,
    /// First pause before re-publishing after a failed ack; doubles up to `max_retry_delay`.
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            max_in_flight: 256,
            retry_delay: Duration::from_millis(50),
            max_retry_delay: Duration::from_secs(5),
        }
    }
}

/// A publish ack being awaited; boxed so it can be polled without being consumed (see
/// [`Publisher::settle_arrived`]).
type AckFuture = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

struct Pending {
    ack: AckFuture,
    message: OutboundMessage,
}

/// Publishes to JetStream with at most `max_in_flight` un-acked publishes: when the window is
/// full, [`Publisher::publish`] first waits for the oldest ack. A failed publish or ack (stream
/// full with `DiscardNew`, NATS restarting, timeout) is re-sent with the same `Nats-Msg-Id`
/// after a backoff, until it is stored or the stop token fires. So a full stream slows the
/// producer down instead of losing data.
pub struct Publisher {
    js: jetstream::Context,
    config: PublisherConfig,
    window: VecDeque<Pending>,
    stop: CancellationToken,
    published: u64,
    retries: u64,
    gate: Option<BacklogGate>,
}

impl Publisher {
    pub fn new(
        js: jetstream::Context,
        config: PublisherConfig,
        stop: CancellationToken,
    ) -> Publisher {
        Publisher {
            js,
            config,
            window: VecDeque::new(),
            stop,
            published: 0,
            retries: 0,
            gate: None,
        }
    }

    /// Holds every publish back while `gate`'s consumer is too far behind.
    pub fn with_gate(mut self, gate: BacklogGate) -> Publisher {
        self.gate = Some(gate);
        self
    }

    /// Sends `message`; returns once it is on its way (its ack may still be pending).
    pub async fn publish(&mut self, message: OutboundMessage) -> Result<(), SinkError> {
        while self.window.len() >= self.config.max_in_flight.max(1) {
            self.settle_oldest().await?;
        }
        self.admit().await?;
        let ack = self.send_until_accepted(&message).await?.into_future();
        self.window.push_back(Pending { ack, message });
        Ok(())
    }

    /// Sends `message` and waits until the stream has stored it (and everything sent before).
    pub async fn publish_durable(
        &mut self,
        message: OutboundMessage,
    ) -> Result<PublishAck, SinkError> {
        self.flush().await?;
        self.admit().await?;
        let ack = self.send_until_accepted(&message).await?.into_future();
        self.settle(Pending { ack, message }).await
    }

    /// Waits for every outstanding ack.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        self.settle_through(u64::MAX).await.map(|_| ())
    }

    /// Settles the acks that already arrived, oldest first, without waiting for the others
    /// (a failed one is re-sent and awaited). Returns [`Publisher::published`]: messages are
    /// settled in the order they were sent, so every message up to that count is stored.
    pub async fn settle_arrived(&mut self) -> Result<u64, SinkError> {
        while let Some(front) = self.window.front_mut() {
            match futures_util::FutureExt::now_or_never(&mut front.ack) {
                None => break,
                Some(result) => {
                    if let Some(mut pending) = self.window.pop_front() {
                        pending.ack = Box::pin(std::future::ready(result));
                        self.settle(pending).await?;
                    }
                }
            }
        }
        Ok(self.published)
    }

    /// Settles acks, oldest first, until the first `count` messages sent are stored.
    pub async fn settle_through(&mut self, count: u64) -> Result<u64, SinkError> {
        while self.published < count && !self.window.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(self.published)
    }

    /// Messages handed over so far (stored or in flight): message `n` (counting from 1) is
    /// stored once [`Publisher::published`] reaches `n`.
    pub fn sent(&self) -> u64 {
        self.published + self.window.len() as u64
    }

    /// Publishes sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.window.len()
    }

    /// Messages the stream acknowledged so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Re-sends after failures so far.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    async fn admit(&mut self) -> Result<(), SinkError> {
        match &mut self.gate {
            Some(gate) => gate.admit(&self.stop).await,
            None => Ok(()),
        }
    }

    async fn settle_oldest(&mut self) -> Result<(), SinkError> {
        if let Some(pending) = self.window.pop_front() {
            self.settle(pending).await?;
        }
        Ok(())
    }

    /// Awaits one ack; on failure re-sends the same message (same id) until it is stored.
    ///
    /// A failed ack usually means the connection dropped (nats-server restarting, a cluster
    /// electing a leader): then every publish still in the window was lost with it, and
    /// waiting out each one's ack timeout in turn would stall for the window times the
    /// timeout (256 x 5 s). So the whole window is re-sent at once; the stream drops the
    /// copies of what it did store (same `Nats-Msg-Id`).
    async fn settle(&mut self, mut pending: Pending) -> Result<PublishAck, SinkError> {
        let mut delay = self.config.retry_delay;
        loop {
            match pending.ack.await {
                Ok(ack) => {
                    self.published += 1;
                    return Ok(ack);
                }
                Err(e) => {
                    tracing::debug!(subject = %pending.message.subject, error = %e, in_flight = self.window.len(), "publish not acknowledged; re-sending it and everything sent after it");
                    self.retries += 1;
                    self.pause(delay).await?;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                    pending.ack = self
                        .send_until_accepted(&pending.message)
                        .await?
                        .into_future();
                    self.resend_window().await?;
                }
            }
        }
    }

    /// Re-sends every message of the window, oldest first, replacing their ack futures.
    async fn resend_window(&mut self) -> Result<(), SinkError> {
        let mut window = std::mem::take(&mut self.window);
        let result = async {
            for pending in window.iter_mut() {
                pending.ack = self
                    .send_until_accepted(&pending.message)
                    .await?
                    .into_future();
                self.retries += 1;
            }
            Ok(())
        }
        .await;
        // On a stop the window goes back as it is: its count says what was not stored.
        self.window = window;
        result
    }

    /// Hands the message to the client, retrying while the client refuses (e.g. reconnecting).
    async fn send_until_accepted(
        &mut self,
        message: &OutboundMessage,
    ) -> Result<PublishAckFuture, SinkError> {
        let mut delay = self.config.retry_delay;
        loop {
            let mut publish = PublishMessage::build()
                .payload(message.payload.clone())
                .headers(message.headers.clone());
            if let Some(id) = &message.msg_id {
                publish = publish.message_id(id);
            }
            match self.js.send_publish(message.subject.clone(), publish).await {
                Ok(ack) => return Ok(ack),
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    return Err(SinkError::Rejected {
                        subject: message.subject.clone(),
                        detail: e.to_string(),
                    })
                }
                Err(e) => {
                    tracing::debug!(subject = %message.subject, error = %e, "publish refused; retrying");
                    self.retries += 1;
                    self.pause(delay).await?;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }

    async fn pause(&self, delay: Duration) -> Result<(), SinkError> {
        tokio::select! {
            _ = self.stop.cancelled() => Err(SinkError::Stopped { pending: self.window.len() + 1 }),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }
}
