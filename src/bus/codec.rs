//! The wire format of observations: JSON `{"v":1,"kind":"xrs","data":{...}}` (readable from any
//! language), one subject per kind, `Nats-Msg-Id` = the record's natural key.

use actors::nats::OutboundMessage;
use async_nats::HeaderMap;
use serde::{Deserialize, Serialize};

use super::{headers, subjects};

use crate::domain::{Observation, SCHEMA_VERSION};

#[derive(Serialize)]
struct WireOut<'a> {
    v: u32,
    #[serde(flatten)]
    observation: &'a Observation,
}

#[derive(Deserialize)]
struct WireIn {
    v: u32,
    #[serde(flatten)]
    observation: Observation,
}

/// Why a payload is not an observation we can use. Always permanent: the record goes to the
/// dead-letter subject.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a valid observation: {0}")]
    Invalid(String),
    #[error("schema version {found} is not supported (this build reads {supported})")]
    UnknownVersion { found: u32, supported: u32 },
}

impl DecodeError {
    /// Bounded code for metrics and dead-letter headers.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Invalid(_) => "invalid_record",
            DecodeError::UnknownVersion { .. } => "unknown_version",
        }
    }
}

/// The wire form of an [`Observation`]: the bus's encoding, subjects and message ids.
pub trait ObservationWire: Sized {
    /// The single-record message body, `{"v":1,"kind":...,"data":...}`.
    fn encode(&self) -> Vec<u8>;
    /// The record as it sits inside a batch ([`super::batch`]): `{"kind":...,"data":...}`.
    fn encode_record(&self) -> Vec<u8>;
    /// Decodes the single-record form. OBS consumers use [`super::batch::decode_message`],
    /// which takes both forms.
    fn decode(payload: &[u8]) -> Result<Self, DecodeError>;
    /// The subject of the record's kind.
    fn subject(&self) -> &'static str;
    /// The message to publish: subject by kind, schema and entry time headers, and
    /// `Nats-Msg-Id` = natural key + a hash of the content. Publishing the same record again
    /// (every poll re-sends its overlap) is dropped by the stream; a corrected record (same
    /// key, new values) gets through and the writer's upsert keeps the last one.
    fn to_message(&self, entered_at: &str) -> OutboundMessage;
}

impl ObservationWire for Observation {
    fn encode(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(&WireOut {
            v: SCHEMA_VERSION,
            observation: self,
        })
        .unwrap_or_default()
    }

    fn encode_record(&self) -> Vec<u8> {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    fn decode(payload: &[u8]) -> Result<Observation, DecodeError> {
        #[derive(Deserialize)]
        struct Version {
            v: u32,
        }
        let version: Version = serde_json::from_slice(payload).map_err(invalid)?;
        if version.v != SCHEMA_VERSION {
            return Err(DecodeError::UnknownVersion {
                found: version.v,
                supported: SCHEMA_VERSION,
            });
        }
        let wire: WireIn = serde_json::from_slice(payload).map_err(invalid)?;
        debug_assert_eq!(wire.v, SCHEMA_VERSION);
        Ok(wire.observation)
    }

    fn subject(&self) -> &'static str {
        match self {
            Observation::Xray(_) => subjects::OBS_XRS,
            Observation::Region(_) => subjects::OBS_REGION,
            Observation::Flare(_) => subjects::OBS_FLARE,
            Observation::Progress(_) => subjects::OBS_PROGRESS,
        }
    }

    fn to_message(&self, entered_at: &str) -> OutboundMessage {
        let payload = self.encode();
        let mut h = HeaderMap::new();
        h.insert(
            headers::SCHEMA,
            format!("obs.{}/{SCHEMA_VERSION}", self.kind()).as_str(),
        );
        h.insert(headers::ENTERED_AT, entered_at);
        let msg_id = format!("{}#{:016x}", self.natural_key(), content_hash(&payload));
        OutboundMessage {
            subject: self.subject().to_string(),
            headers: h,
            payload: payload.into(),
            msg_id: Some(msg_id),
        }
    }
}

/// serde_json quotes the offending input in its messages; a hostile 300 kB string must not
/// become a 300 kB log line or dead-letter header, so the detail is cut.
pub(crate) fn invalid(e: serde_json::Error) -> DecodeError {
    let text = e.to_string();
    let cut: String = text.chars().take(256).collect();
    DecodeError::Invalid(if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    })
}

/// FNV-1a: stable across builds and platforms (the id must not change between releases).
pub fn content_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{XrayFeed, XrayObservation};
    use chrono::TimeZone;

    fn sample() -> Observation {
        Observation::Xray(XrayObservation {
            feed: XrayFeed::Primary,
            time: chrono::Utc.with_ymd_and_hms(2024, 5, 1, 0, 1, 0).unwrap(),
            satellite: Some(16),
            flux_short: Some(1.14469e-08),
            flux_long: None,
            electron_contamination_short: Some(false),
            electron_contamination_long: None,
        })
    }

    #[test]
    fn round_trips_and_keys_by_feed_and_time() {
        let obs = sample();
        let bytes = obs.encode();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"v":1,"kind":"xrs","data":{"feed":"primary""#),
            "{text}"
        );
        assert_eq!(Observation::decode(&bytes).unwrap(), obs);
        assert_eq!(obs.natural_key(), "xrs:primary:2024-05-01T00:01:00Z");
        let msg = obs.to_message("1");
        assert_eq!(msg.subject, "flare.obs.xrs");
        let id = msg.msg_id.clone().unwrap();
        assert!(id.starts_with("xrs:primary:2024-05-01T00:01:00Z#"), "{id}");
        assert_eq!(
            obs.to_message("2").msg_id,
            msg.msg_id,
            "same content, same id"
        );
        let mut corrected = obs.clone();
        if let Observation::Xray(x) = &mut corrected {
            x.flux_long = Some(2e-7);
        }
        assert_ne!(
            corrected.to_message("1").msg_id,
            msg.msg_id,
            "a correction gets a new id"
        );
    }

    #[test]
    fn bad_payloads_are_permanent_errors_with_codes() {
        assert_eq!(
            Observation::decode(b"not json").unwrap_err().code(),
            "invalid_record"
        );
        assert_eq!(
            Observation::decode(br#"{"v":1,"kind":"xrs","data":{}}"#)
                .unwrap_err()
                .code(),
            "invalid_record"
        );
        let future = br#"{"v":99,"kind":"xrs","data":{}}"#;
        assert_eq!(
            Observation::decode(future).unwrap_err().code(),
            "unknown_version"
        );
        assert!(Observation::decode(&[0xff, 0xfe]).is_err());
    }
}
