use std::sync::Arc;
use std::time::{Duration, Instant};

use super::in_flight::InFlightPermit;
use async_nats::jetstream::{self, AckKind};
use async_nats::HeaderMap;
use bytes::Bytes;

use super::headers;
use crate::metrics::{ActorMetrics, Outcome};

/// Why a record cannot be processed, ever: it goes to the dead-letter subject.
#[derive(Debug, Clone)]
pub struct DeadLetterReason {
    /// Bounded, machine-readable (`invalid_json`, `missing_field`, `constraint`, ...).
    pub code: &'static str,
    /// Human-readable detail (never a secret).
    pub detail: String,
}

impl DeadLetterReason {
    pub fn new(code: &'static str, detail: impl Into<String>) -> DeadLetterReason {
        DeadLetterReason {
            code,
            detail: detail.into(),
        }
    }
}

/// Publishes dead letters: the raw payload with reason headers, on a subject derived from the
/// original one (e.g. `flare.obs.xrs` -> `flare.dlq.xrs`).
#[derive(Clone)]
pub struct DeadLetterSink {
    js: jetstream::Context,
    subject_for: Arc<dyn Fn(&str) -> String + Send + Sync>,
}

impl std::fmt::Debug for DeadLetterSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeadLetterSink")
    }
}

impl DeadLetterSink {
    pub fn new(
        js: jetstream::Context,
        subject_for: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> DeadLetterSink {
        DeadLetterSink {
            js,
            subject_for: Arc::new(subject_for),
        }
    }

    /// Publishes the letter's payload with the reason headers and waits for the stream's ack.
    pub async fn publish(&self, letter: DeadLetter<'_>) -> Result<(), DeliveryError> {
        let DeadLetter {
            original_subject,
            payload,
            reason,
            actor,
            stream_sequence,
            record_index,
            dedup_id,
        } = letter;
        let mut h = HeaderMap::new();
        if let Some(index) = record_index {
            h.insert(headers::DLQ_RECORD_INDEX, index.to_string().as_str());
        }
        h.insert(headers::DLQ_CODE, reason.code);
        h.insert(
            headers::DLQ_REASON,
            sanitize_header(&reason.detail).as_str(),
        );
        h.insert(headers::DLQ_SUBJECT, original_subject);
        h.insert(headers::DLQ_ACTOR, actor);
        if let Some(seq) = stream_sequence {
            h.insert(headers::DLQ_STREAM_SEQUENCE, seq.to_string().as_str());
        }
        if let Some(id) = dedup_id {
            h.insert(headers::MSG_ID, id.as_str());
        }
        let subject = (self.subject_for)(original_subject);
        let ack = self
            .js
            .publish_with_headers(subject, h, payload)
            .await
            .map_err(|e| DeliveryError::DeadLetter(e.to_string()))?;
        ack.await
            .map_err(|e| DeliveryError::DeadLetter(e.to_string()))?;
        Ok(())
    }
}

/// One record for the dead-letter subject: its bytes, where it came from and why.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub original_subject: &'a str,
    pub payload: Bytes,
    pub reason: &'a DeadLetterReason,
    /// The actor that gave up on it.
    pub actor: &'a str,
    pub stream_sequence: Option<u64>,
    /// Its position when it was one record of a batch message.
    pub record_index: Option<usize>,
    /// Makes a repeated dead-lettering of the same record harmless (`Nats-Msg-Id`).
    pub dedup_id: Option<String>,
}

/// Header values cannot hold line breaks; keep the reason on one line and bounded.
fn sanitize_header(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.chars().take(512).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("acknowledging the message failed: {0}")]
    Ack(String),
    #[error("publishing the dead letter failed (the message was nak'ed, it will come back): {0}")]
    DeadLetter(String),
}

/// One JetStream message handed to an actor, with the permit that bounds work in flight.
///
/// Finish it exactly once: [`Delivery::ack`] when its effect is durable,
/// [`Delivery::nak`] on a transient failure, [`Delivery::dead_letter`] on a permanent one.
/// The permit is released when the delivery is finished or dropped; a dropped delivery is
/// redelivered by the server after the consumer's ack wait.
pub struct Delivery {
    message: jetstream::Message,
    permit: Option<InFlightPermit>,
    metrics: Arc<ActorMetrics>,
    dead_letters: DeadLetterSink,
    received_at: Instant,
}

impl actix::Message for Delivery {
    type Result = ();
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("subject", &self.message.subject)
            .field("bytes", &self.message.payload.len())
            .finish()
    }
}

impl Delivery {
    pub(crate) fn new(
        message: jetstream::Message,
        permit: InFlightPermit,
        metrics: Arc<ActorMetrics>,
        dead_letters: DeadLetterSink,
    ) -> Delivery {
        Delivery {
            message,
            permit: Some(permit),
            metrics,
            dead_letters,
            received_at: Instant::now(),
        }
    }

    pub fn subject(&self) -> &str {
        self.message.subject.as_str()
    }

    pub fn payload(&self) -> &Bytes {
        &self.message.payload
    }

    pub fn headers(&self) -> Option<&HeaderMap> {
        self.message.headers.as_ref()
    }

    /// A header value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.message.headers.as_ref()?.get(name).map(|v| v.as_str())
    }

    /// Bytes this delivery holds (payload plus subject), for batch byte limits and memory gauges.
    pub fn size(&self) -> usize {
        self.message.payload.len() + self.message.subject.len()
    }

    /// Stream sequence of the message, when the reply subject carries it.
    pub fn stream_sequence(&self) -> Option<u64> {
        self.message.info().ok().map(|i| i.stream_sequence)
    }

    /// How many times the server has delivered this message (1 on first delivery).
    pub fn delivered(&self) -> Option<i64> {
        self.message.info().ok().map(|i| i.delivered)
    }

    /// Messages the consumer still had for this client when it delivered this one (0: the
    /// consumer was caught up).
    pub fn pending(&self) -> Option<u64> {
        self.message.info().ok().map(|i| i.pending)
    }

    /// When the server stored the message.
    pub fn published_at(&self) -> Option<std::time::SystemTime> {
        self.message.info().ok().map(|i| i.published.into())
    }

    /// Time since the source handed the message out.
    pub fn age(&self) -> Duration {
        self.received_at.elapsed()
    }

    /// The effect is durable: acknowledge, count `ok`, release the permit.
    pub async fn ack(mut self) -> Result<(), DeliveryError> {
        let result = self
            .message
            .ack()
            .await
            .map_err(|e| DeliveryError::Ack(e.to_string()));
        self.metrics.record_outcome(Outcome::Ok);
        self.permit.take();
        result
    }

    /// Acknowledged by a later message's ack (consumers with `AckPolicy::All`, where an ack
    /// covers every earlier message): count `ok` and release the permit; nothing is sent.
    pub fn covered_by_later_ack(mut self) {
        self.metrics.record_outcome(Outcome::Ok);
        self.permit.take();
    }

    /// Transient failure: ask for redelivery after `delay`, count `retry`, release the permit.
    pub async fn nak(mut self, delay: Duration) -> Result<(), DeliveryError> {
        let result = self
            .message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| DeliveryError::Ack(e.to_string()));
        self.metrics.record_outcome(Outcome::Retry);
        self.permit.take();
        result
    }

    /// Still working on it: resets the server's ack timer so it does not redeliver.
    pub async fn in_progress(&self) -> Result<(), DeliveryError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| DeliveryError::Ack(e.to_string()))
    }

    /// Permanent failure of one record of this message (a batch): publishes `record` with
    /// `reason` and its position to the dead-letter subject, and waits for the stream's ack.
    /// The delivery stays open: finish it with the rest of its records. Every consumer that
    /// dead-letters the same record of the same message produces one dead letter (same id).
    pub async fn dead_letter_record(
        &self,
        index: usize,
        record: Bytes,
        reason: &DeadLetterReason,
    ) -> Result<(), DeliveryError> {
        let seq = self.stream_sequence();
        let dedup_id = seq.map(|s| format!("dlq:{}:{s}:{index}", self.message.subject));
        self.dead_letters
            .publish(DeadLetter {
                original_subject: self.message.subject.as_str(),
                payload: record,
                reason,
                actor: self.metrics.actor(),
                stream_sequence: seq,
                record_index: Some(index),
                dedup_id,
            })
            .await?;
        tracing::warn!(
            actor = self.metrics.actor(),
            subject = %self.message.subject,
            index,
            code = reason.code,
            reason = %reason.detail,
            "record of a batch dead-lettered"
        );
        Ok(())
    }

    /// Permanent failure: publish the raw payload with `reason` to the dead-letter subject,
    /// then terminate the message so it is never redelivered. If the dead letter cannot be
    /// published, the message is nak'ed instead (nothing is lost) and the error returned.
    pub async fn dead_letter(mut self, reason: &DeadLetterReason) -> Result<(), DeliveryError> {
        let seq = self.stream_sequence();
        let dedup_id = seq.map(|s| format!("dlq:{}:{s}", self.message.subject));
        let published = self
            .dead_letters
            .publish(DeadLetter {
                original_subject: self.message.subject.as_str(),
                payload: self.message.payload.clone(),
                reason,
                actor: self.metrics.actor(),
                stream_sequence: seq,
                record_index: None,
                dedup_id,
            })
            .await;
        if let Err(e) = published {
            let _ = self
                .message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                .await;
            self.metrics.record_outcome(Outcome::Retry);
            self.permit.take();
            return Err(e);
        }
        let result = self
            .message
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| DeliveryError::Ack(e.to_string()));
        self.metrics.record_outcome(Outcome::DeadLetter);
        self.permit.take();
        tracing::warn!(
            actor = self.metrics.actor(),
            subject = %self.message.subject,
            code = reason.code,
            reason = %reason.detail,
            "record dead-lettered"
        );
        result
    }
}
