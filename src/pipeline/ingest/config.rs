//! `[ingest]`: how records are batched onto OBS, and the backpressure from the writer.
//!
//! OBS keeps acked messages (limits retention), so its size cannot tell ingest that the writer
//! is slow; the writer consumer's backlog can.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bus::BatchLimits;
use crate::config::{embedded_section, Problems, Validate};

/// Batching and backpressure of the ingest role.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Records per OBS message at most (a batch: see `bus::batch`).
    pub batch_max_records: usize,
    /// Bytes per OBS message at most; below the server's `max_payload` (1 MiB by default).
    pub batch_max_bytes: usize,
    /// Ingest holds publishes back while the writer consumer has more than this many
    /// messages (batches) undelivered or unacked (0 = never).
    pub max_writer_backlog: u64,
    /// How often the backlog is read while publishing.
    #[serde(with = "humantime_serde")]
    pub backlog_check: Duration,
}

impl Default for IngestConfig {
    /// The `[ingest]` of `config/default.toml`.
    fn default() -> IngestConfig {
        embedded_section("ingest")
    }
}

impl IngestConfig {
    pub fn batch_limits(&self) -> BatchLimits {
        BatchLimits {
            max_records: self.batch_max_records,
            max_bytes: self.batch_max_bytes,
        }
    }
}

impl Validate for IngestConfig {
    fn validate(&self, problems: &mut Problems) {
        let ok = self.batch_max_records > 0 && (1024..=900 * 1024).contains(&self.batch_max_bytes);
        problems.check(ok, || format!(
            "ingest.batch_max_records must be positive and ingest.batch_max_bytes within 1 KiB..900 KiB (NATS refuses messages over 1 MiB by default), not {}",
            self.batch_max_bytes
        ));
        problems.check(!self.backlog_check.is_zero(), || {
            "ingest.backlog_check must be positive".into()
        });
    }
}
