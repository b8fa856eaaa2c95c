//! Observations travel on OBS in batches: one message holds up to a few hundred records of
//! one kind, on that kind's subject:
//!
//! ```json
//! {"v":1,"batch":[{"kind":"xrs","data":{...}},{"kind":"xrs","data":{...}}]}
//! ```
//!
//! A message per record made JetStream's per-message work (store, two deliveries, two acks)
//! the pipeline's largest cost; batching cuts it by the batch size. Consumers also accept
//! the single-record form of [`Observation::to_message`] (`{"v":1,"kind":...,"data":...}`),
//! so any producer may publish one record at a time.
//!
//! A batch's `Nats-Msg-Id` is its first record's key, its size and a hash of its bytes: a
//! publish retried after a lost ack is dropped by the stream, as a single record's was.

use actors::nats::OutboundMessage;
use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::codec::{content_hash, invalid, DecodeError, ObservationWire};
use super::headers;
use crate::domain::{Observation, SCHEMA_VERSION};

/// How large a batch may grow before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    /// Payload bytes; must stay below the server's `max_payload` (1 MiB by default).
    pub max_bytes: usize,
}

const OPEN: &[u8] = b"{\"v\":1,\"batch\":[";
const CLOSE: &[u8] = b"]}";

/// Collects encoded records of one kind into the next batch message.
#[derive(Debug)]
pub struct BatchBuilder {
    limits: BatchLimits,
    /// The subject (by kind) of the records collected so far.
    subject: Option<&'static str>,
    kind: &'static str,
    body: Vec<u8>,
    records: usize,
    first_key: String,
}

impl BatchBuilder {
    pub fn new(limits: BatchLimits) -> BatchBuilder {
        BatchBuilder {
            limits: BatchLimits {
                max_records: limits.max_records.max(1),
                max_bytes: limits.max_bytes,
            },
            subject: None,
            kind: "",
            body: Vec::new(),
            records: 0,
            first_key: String::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Whether a record of `observation`'s kind, `encoded_len` bytes long, can join this batch
    /// (an empty batch takes any one record, whatever its size).
    pub fn fits(&self, observation: &Observation, encoded_len: usize) -> bool {
        self.is_empty()
            || (self.subject == Some(observation.subject())
                && self.records < self.limits.max_records
                && self.body.len() + 1 + encoded_len + CLOSE.len() <= self.limits.max_bytes)
    }

    /// Whether the batch is as large as it may get.
    pub fn is_full(&self) -> bool {
        self.records >= self.limits.max_records
            || self.body.len() + CLOSE.len() >= self.limits.max_bytes
    }

    /// Adds a record encoded by [`Observation::encode_record`]. The caller checked
    /// [`BatchBuilder::fits`] (a record that does not fit would start a mixed batch).
    pub fn push(&mut self, observation: &Observation, encoded: &[u8]) {
        if self.is_empty() {
            self.body.clear();
            self.body.extend_from_slice(OPEN);
            self.subject = Some(observation.subject());
            self.kind = observation.kind();
            self.first_key = observation.natural_key();
        } else {
            self.body.push(b',');
        }
        self.body.extend_from_slice(encoded);
        self.records += 1;
    }

    /// The message for the records collected (None if there are none); the builder is empty
    /// afterwards.
    pub fn take(&mut self, entered_at: &str) -> Option<OutboundMessage> {
        let subject = self.subject.take()?;
        let mut payload = std::mem::take(&mut self.body);
        payload.extend_from_slice(CLOSE);
        let mut h = HeaderMap::new();
        h.insert(
            headers::SCHEMA,
            format!("obs.{}.batch/{SCHEMA_VERSION}", self.kind).as_str(),
        );
        h.insert(headers::RECORDS, self.records.to_string().as_str());
        h.insert(headers::ENTERED_AT, entered_at);
        let msg_id = format!(
            "batch:{}:{}#{:016x}",
            self.first_key,
            self.records,
            content_hash(&payload)
        );
        self.records = 0;
        Some(OutboundMessage {
            subject: subject.to_string(),
            headers: h,
            payload: payload.into(),
            msg_id: Some(msg_id),
        })
    }
}

/// A record of a batch that cannot be used; the others can.
#[derive(Debug)]
pub struct RejectedRecord {
    /// Position in the batch.
    pub index: usize,
    /// The record's JSON as it was in the message (for the dead-letter subject).
    pub raw: Bytes,
    pub error: DecodeError,
}

/// What one OBS message holds.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The usable records, in message order.
    pub records: Vec<Observation>,
    /// Each usable record's JSON as it is in the message (a slice of the payload, not a
    /// copy): what a dead letter carries if the record is refused later.
    pub raw: Vec<Bytes>,
    pub rejected: Vec<RejectedRecord>,
    /// The message was a batch (else a single record).
    pub is_batch: bool,
}

impl Decoded {
    /// Each record's position in the message (records and rejects counted together).
    pub fn positions(&self) -> Vec<usize> {
        let total = self.records.len() + self.rejected.len();
        let mut rejected = self.rejected.iter().map(|r| r.index).peekable();
        (0..total)
            .filter(|i| {
                if rejected.peek() == Some(i) {
                    rejected.next();
                    false
                } else {
                    true
                }
            })
            .collect()
    }
}

/// Decodes an OBS message: a batch, or a single record. `Err` means the message as a whole is
/// unusable (not JSON, unknown version, neither form); a batch's bad records are returned in
/// [`Decoded::rejected`] beside the good ones.
pub fn decode_message(payload: &Bytes) -> Result<Decoded, DecodeError> {
    #[derive(Deserialize)]
    struct Head<'a> {
        v: u32,
        #[serde(borrow, default)]
        batch: Option<Vec<&'a RawValue>>,
    }
    let head: Head = serde_json::from_slice(payload).map_err(invalid)?;
    if head.v != SCHEMA_VERSION {
        return Err(DecodeError::UnknownVersion {
            found: head.v,
            supported: SCHEMA_VERSION,
        });
    }
    let Some(batch) = head.batch else {
        return Ok(Decoded {
            records: vec![Observation::decode(payload)?],
            raw: vec![payload.clone()],
            rejected: Vec::new(),
            is_batch: false,
        });
    };
    let mut decoded = Decoded {
        records: Vec::with_capacity(batch.len()),
        raw: Vec::with_capacity(batch.len()),
        rejected: Vec::new(),
        is_batch: true,
    };
    for (index, raw) in batch.into_iter().enumerate() {
        let bytes = slice_of(payload, raw.get().as_bytes());
        match serde_json::from_str::<Observation>(raw.get()) {
            Ok(observation) => {
                decoded.records.push(observation);
                decoded.raw.push(bytes);
            }
            Err(e) => decoded.rejected.push(RejectedRecord {
                index,
                raw: bytes,
                error: invalid(e),
            }),
        }
    }
    Ok(decoded)
}

/// `part` of `payload` without a copy (a borrowed record always lies inside its message; a
/// copy is the safe answer should it not).
fn slice_of(payload: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
    if start <= payload.len() && part.len() <= payload.len() - start {
        payload.slice(start..start + part.len())
    } else {
        Bytes::copy_from_slice(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProgressMark;
    use crate::domain::{XrayFeed, XrayObservation};
    use chrono::{TimeZone, Utc};

    fn xray(minute: u32) -> Observation {
        Observation::Xray(XrayObservation {
            feed: XrayFeed::Primary,
            time: Utc.with_ymd_and_hms(2024, 5, 1, 0, minute, 0).unwrap(),
            satellite: Some(16),
            flux_short: Some(1.14469e-08),
            flux_long: Some(3.5e-7),
            electron_contamination_short: Some(false),
            electron_contamination_long: None,
        })
    }

    /// Limits of a test batch (the configured ones live in `[ingest]`).
    const LIMITS: BatchLimits = BatchLimits {
        max_records: 500,
        max_bytes: 256 * 1024,
    };

    fn build(records: &[Observation], limits: BatchLimits) -> Vec<OutboundMessage> {
        let mut builder = BatchBuilder::new(limits);
        let mut out = Vec::new();
        for r in records {
            let encoded = r.encode_record();
            if !builder.fits(r, encoded.len()) {
                out.extend(builder.take("1"));
            }
            builder.push(r, &encoded);
            if builder.is_full() {
                out.extend(builder.take("1"));
            }
        }
        out.extend(builder.take("1"));
        out
    }

    #[test]
    fn a_batch_round_trips_in_order_and_ids_follow_the_content() {
        let records: Vec<Observation> = (0..7).map(xray).collect();
        let messages = build(&records, LIMITS);
        assert_eq!(messages.len(), 1);
        let m = &messages[0];
        assert_eq!(m.subject, "flare.obs.xrs");
        assert_eq!(m.headers.get(headers::RECORDS).unwrap().as_str(), "7");
        assert_eq!(
            m.headers.get(headers::SCHEMA).unwrap().as_str(),
            "obs.xrs.batch/1"
        );
        let text = std::str::from_utf8(&m.payload).unwrap();
        assert!(
            text.starts_with(r#"{"v":1,"batch":[{"kind":"xrs","data":{"feed":"primary""#),
            "{text}"
        );
        let decoded = decode_message(&m.payload).unwrap();
        assert_eq!(decoded.records, records);
        assert!(decoded.rejected.is_empty());
        let id = m.msg_id.clone().unwrap();
        assert!(
            id.starts_with("batch:xrs:primary:2024-05-01T00:00:00Z:7#"),
            "{id}"
        );
        assert_eq!(build(&records, LIMITS)[0].msg_id, m.msg_id);
        let mut corrected = records.clone();
        if let Observation::Xray(x) = &mut corrected[3] {
            x.flux_long = Some(2e-7);
        }
        assert_ne!(
            build(&corrected, LIMITS)[0].msg_id,
            m.msg_id,
            "a correction makes another message"
        );
    }

    #[test]
    fn batches_split_by_count_bytes_and_kind() {
        let records: Vec<Observation> = (0..10).map(xray).collect();
        let by_count = build(
            &records,
            BatchLimits {
                max_records: 4,
                max_bytes: 1 << 20,
            },
        );
        let sizes: Vec<&str> = by_count
            .iter()
            .map(|m| m.headers.get(headers::RECORDS).unwrap().as_str())
            .collect();
        assert_eq!(sizes, ["4", "4", "2"]);
        let one = records[0].encode_record().len();
        let by_bytes = build(
            &records,
            BatchLimits {
                max_records: 100,
                max_bytes: OPEN.len() + 3 * (one + 1) + CLOSE.len(),
            },
        );
        assert!(by_bytes.len() >= 4, "{} messages", by_bytes.len());
        for m in &by_bytes {
            assert!(m.payload.len() <= OPEN.len() + 3 * (one + 1) + CLOSE.len());
        }
        let all: Vec<Observation> = by_bytes
            .iter()
            .flat_map(|m| decode_message(&m.payload).unwrap().records)
            .collect();
        assert_eq!(all, records, "nothing lost or reordered across batches");

        let mark = Observation::Progress(ProgressMark {
            source: "detector".into(),
            until: None,
            end_of_input: false,
        });
        let mixed = vec![xray(0), xray(1), mark.clone(), xray(2)];
        let messages = build(&mixed, LIMITS);
        let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
        assert_eq!(
            subjects,
            ["flare.obs.xrs", "flare.obs.progress", "flare.obs.xrs"]
        );
    }

    #[test]
    fn single_records_still_decode_and_bad_records_are_singled_out() {
        let one = xray(5);
        let decoded = decode_message(&Bytes::from(one.encode())).unwrap();
        assert_eq!(decoded.records, vec![one.clone()]);
        assert!(!decoded.is_batch);

        let good = String::from_utf8(one.encode_record()).unwrap();
        let payload =
            format!(r#"{{"v":1,"batch":[{good},{{"kind":"xrs","data":{{}}}},7,{good}]}}"#);
        let decoded = decode_message(&Bytes::copy_from_slice(payload.as_bytes())).unwrap();
        assert_eq!(decoded.records, vec![one.clone(), one]);
        assert_eq!(decoded.positions(), [0, 3]);
        let rejected: Vec<(usize, &[u8], &str)> = decoded
            .rejected
            .iter()
            .map(|r| (r.index, &r.raw[..], r.error.code()))
            .collect();
        assert_eq!(
            rejected,
            [
                (1, &br#"{"kind":"xrs","data":{}}"#[..], "invalid_record"),
                (2, &b"7"[..], "invalid_record"),
            ]
        );

        for (bad, code) in [
            (&b"not json"[..], "invalid_record"),
            (br#"{"v":1,"batch":{}}"#, "invalid_record"),
            (br#"{"v":2,"batch":[]}"#, "unknown_version"),
            (br#"{"batch":[]}"#, "invalid_record"),
        ] {
            assert_eq!(
                decode_message(&Bytes::copy_from_slice(bad))
                    .unwrap_err()
                    .code(),
                code
            );
        }
    }
}
