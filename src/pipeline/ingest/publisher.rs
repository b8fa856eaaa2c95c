//! Publishing observations and dead letters from ingest: records are collected into batch
//! messages ([`crate::bus::batch`]) and sent through the bounded publish window of
//! [`actors::nats::Publisher`].

use actors::nats::{headers as dlq_headers, OutboundMessage, Publisher, SinkError};
use async_nats::HeaderMap;

use crate::bus::codec::content_hash;
use crate::bus::{headers, subjects, BatchBuilder, BatchLimits, ObservationWire};
use crate::domain::Observation;
use crate::pipeline::events;
use crate::sources::Rejected;

/// One ingest source's way onto the bus.
pub struct ObservationPublisher {
    sink: Publisher,
    /// `xrs`, `region`, `donki`: the dead-letter subject and the metric label.
    source: &'static str,
    batch: BatchBuilder,
}

impl ObservationPublisher {
    pub fn new(sink: Publisher, source: &'static str, limits: BatchLimits) -> ObservationPublisher {
        ObservationPublisher {
            sink,
            source,
            batch: BatchBuilder::new(limits),
        }
    }

    /// Adds one observation to the batch being built; a full batch (or one of another kind)
    /// is sent first.
    pub async fn push(&mut self, observation: &Observation) -> Result<(), SinkError> {
        self.push_encoded(observation, &observation.encode_record())
            .await
    }

    /// [`ObservationPublisher::push`] with the record already encoded
    /// ([`Observation::encode_record`]).
    pub async fn push_encoded(
        &mut self,
        observation: &Observation,
        record: &[u8],
    ) -> Result<(), SinkError> {
        if !self.batch.fits(observation, record.len()) {
            self.send_batch().await?;
        }
        self.batch.push(observation, record);
        if self.batch.is_full() {
            self.send_batch().await?;
        }
        Ok(())
    }

    /// Sends one observation as a message of its own, after the batch built so far (the
    /// order on the stream is the order of the calls).
    pub async fn publish(&mut self, observation: &Observation) -> Result<(), SinkError> {
        self.send_batch().await?;
        self.sink
            .publish(observation.to_message(&headers::now_nanos()))
            .await
    }

    /// Sends the batch built so far (stamped with the time it entered the system).
    async fn send_batch(&mut self) -> Result<(), SinkError> {
        match self.batch.take(&headers::now_nanos()) {
            Some(message) => self.sink.publish(message).await,
            None => Ok(()),
        }
    }

    /// Sends a rejected record to `flare.dlq.<source>`: its raw text, with the reason in
    /// headers. The id (raw text hash) makes re-sending the same bad record harmless.
    pub async fn dead_letter(&mut self, rejected: &Rejected) -> Result<(), SinkError> {
        let mut h = HeaderMap::new();
        h.insert(dlq_headers::DLQ_CODE, rejected.reason.code.as_str());
        let detail: String = rejected
            .reason
            .detail
            .chars()
            .filter(|c| !c.is_control())
            .take(512)
            .collect();
        h.insert(dlq_headers::DLQ_REASON, detail.as_str());
        h.insert(
            dlq_headers::DLQ_SUBJECT,
            format!("upstream.{}", self.source).as_str(),
        );
        h.insert(dlq_headers::DLQ_ACTOR, "ingest");
        h.insert(headers::ENTERED_AT, headers::now_nanos().as_str());
        let msg_id = format!(
            "dlq:{}:{:016x}",
            self.source,
            content_hash(rejected.raw.as_bytes())
        );
        self.sink
            .publish(OutboundMessage {
                subject: subjects::dlq(self.source),
                headers: h,
                payload: rejected.raw.clone().into_bytes().into(),
                msg_id: Some(msg_id),
            })
            .await?;
        events::record_dead_lettered(
            self.source,
            rejected.reason.code.as_str(),
            &rejected.reason.detail,
        );
        Ok(())
    }

    /// Sends the batch built so far and waits until the stream acknowledged everything.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        self.send_batch().await?;
        self.sink.flush().await
    }

    pub fn in_flight(&self) -> usize {
        self.sink.in_flight()
    }
}
