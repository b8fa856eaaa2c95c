//! Application headers (the runtime's `Nats-Msg-Id` and dead-letter headers are in
//! `actors::nats::headers`).

/// Which record shape the payload holds, with its version: `obs.xrs/1`, `features.global/1`.
pub const SCHEMA: &str = "Flare-Schema";
/// When the record entered the system (Unix nanoseconds): end-to-end latency is measured
/// from here.
pub const ENTERED_AT: &str = "Flare-Entered-At";
/// How many records an OBS batch message holds.
pub const RECORDS: &str = "Flare-Records";
/// `provisional` or `final` on feature vectors.
pub const VECTOR_STATUS: &str = "Flare-Vector-Status";

/// Now, as the value of [`ENTERED_AT`].
pub fn now_nanos() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos().to_string())
        .unwrap_or_default()
}

/// Seconds since an [`ENTERED_AT`] value, if it parses.
pub fn seconds_since(entered_at: &str) -> Option<f64> {
    let then: u128 = entered_at.parse().ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(now.saturating_sub(then) as f64 / 1e9)
}
