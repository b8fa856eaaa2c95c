//! Publishing observations and dead letters from ingest, with the bounded publish window of
//! [`actors::nats::Publisher`] underneath.

use actors::nats::{headers as dlq_headers, OutboundMessage, Publisher, SinkError};
use async_nats::HeaderMap;

use crate::bus::codec::content_hash;
use crate::bus::{headers, subjects, Observation};
use crate::pipeline::events;
use crate::sources::Rejected;

/// One ingest source's way onto the bus.
pub struct ObservationPublisher {
    sink: Publisher,
    /// `xrs`, `region`, `donki`: the dead-letter subject and the metric label.
    source: &'static str,
}

impl ObservationPublisher {
    pub fn new(sink: Publisher, source: &'static str) -> ObservationPublisher {
        ObservationPublisher { sink, source }
    }

    /// Sends one observation (stamped with the time it entered the system).
    pub async fn publish(&mut self, observation: &Observation) -> Result<(), SinkError> {
        self.sink
            .publish(observation.to_message(&headers::now_nanos()))
            .await
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

    /// Waits until the stream acknowledged everything sent so far.
    pub async fn flush(&mut self) -> Result<(), SinkError> {
        self.sink.flush().await
    }

    pub fn in_flight(&self) -> usize {
        self.sink.in_flight()
    }
}
