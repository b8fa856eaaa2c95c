//! Subject names (DESIGN.md). Labels and subjects never carry timestamps; region numbers
//! appear only in the per-region feature subject.

/// Every observation subject (stream OBS).
pub const OBS_ALL: &str = "flare.obs.>";
/// GOES X-ray flux observations.
pub const OBS_XRS: &str = "flare.obs.xrs";
/// SWPC active-region observations.
pub const OBS_REGION: &str = "flare.obs.region";
/// Flare events: DONKI and detected.
pub const OBS_FLARE: &str = "flare.obs.flare";
/// Ingest watermarks (detector settlement, end of a replay).
pub const OBS_PROGRESS: &str = "flare.obs.progress";
/// Every feature subject (stream FEATURES).
pub const FEATURES_ALL: &str = "flare.features.>";
/// The global feature vector series.
pub const FEATURES_GLOBAL: &str = "flare.features.global";
/// Feature backfill jobs (stream JOBS, work-queue retention).
pub const JOBS_FEATURES: &str = "flare.jobs.features";
/// Every dead-letter subject (stream DLQ).
pub const DLQ_ALL: &str = "flare.dlq.>";

/// The feature vector series of one active region.
pub fn features_region(region_number: i32) -> String {
    format!("flare.features.region.{region_number}")
}

/// Dead letters of one source (`xrs`, `region`, `flare`, `donki`, ...).
pub fn dlq(source: &str) -> String {
    format!("flare.dlq.{source}")
}

/// The dead-letter subject for a record that failed on `subject`: `flare.obs.xrs` ->
/// `flare.dlq.xrs`; anything else -> `flare.dlq.other`.
pub fn dlq_for(subject: &str) -> String {
    match subject.strip_prefix("flare.obs.") {
        Some(source) if !source.is_empty() && !source.contains('.') => dlq(source),
        _ => dlq("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_subjects_follow_the_source() {
        assert_eq!(dlq_for(OBS_XRS), "flare.dlq.xrs");
        assert_eq!(dlq_for(OBS_FLARE), "flare.dlq.flare");
        assert_eq!(dlq_for("something.else"), "flare.dlq.other");
        assert_eq!(features_region(3743), "flare.features.region.3743");
    }
}
