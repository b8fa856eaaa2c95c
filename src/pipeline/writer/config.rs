//! `[writer]`: how the storage writer batches records into transactions and retries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{embedded_section, Problems, Validate};

/// Batch bounds and retry pacing of the writer role.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WriterConfig {
    /// Records per transaction at most.
    pub batch_max_records: usize,
    /// Payload bytes per transaction at most.
    pub batch_max_bytes: usize,
    /// Longest wait for a batch to fill before it is written anyway.
    #[serde(with = "humantime_serde")]
    pub batch_max_wait: Duration,
    /// OBS messages delivered and not yet acked (the consumer's `max_ack_pending`); each
    /// holds up to `ingest.batch_max_records` records.
    pub max_in_flight: usize,
    /// First pause after a failed write; doubles up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Longest pause between write attempts.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
}

impl Default for WriterConfig {
    /// The `[writer]` of `config/default.toml`.
    fn default() -> WriterConfig {
        embedded_section("writer")
    }
}

impl Validate for WriterConfig {
    fn validate(&self, problems: &mut Problems) {
        problems.check(
            self.batch_max_records > 0 && self.batch_max_bytes > 0 && self.max_in_flight > 0,
            || "writer batch limits and max_in_flight must be positive".into(),
        );
    }
}
