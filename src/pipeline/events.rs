//! What the pipeline counts, as small event functions: the log line and the metric are
//! emitted together, names come from [`super::metrics`], labels stay bounded (source names,
//! table names, reason codes; never data).

use metrics::{counter, histogram};

use super::metrics as m;

/// Records published to OBS by ingest.
pub fn records_ingested(source: &'static str, n: u64) {
    if n > 0 {
        counter!(m::RECORDS_INGESTED_TOTAL, "source" => source).increment(n);
    }
}

/// Records an OBS consumer (`writer`, `features`) took from its deliveries, decodable or
/// not (ingest's progress marks not counted): each ends stored (or observed) or
/// dead-lettered.
pub fn records_received(actor: &'static str, n: usize) {
    if n > 0 {
        counter!(m::RECORDS_RECEIVED_TOTAL, "actor" => actor).increment(n as u64);
    }
}

/// One record sent to the dead-letter stream with a bounded reason code.
pub fn record_dead_lettered(source: &'static str, code: &'static str, detail: &str) {
    counter!(m::RECORDS_DEAD_LETTERED_TOTAL, "source" => source, "code" => code).increment(1);
    tracing::warn!(source, code, detail, "record dead-lettered");
}

/// A feature worker got an OBS delivery out of stream order (`waited`: a later one, sent back
/// until the missing one arrives; `redelivered`: one already observed; `hole_accepted`: the
/// missing ones never came back).
pub fn features_out_of_order(outcome: &'static str, expected: u64, got: u64) {
    counter!(m::FEATURES_OUT_OF_ORDER_TOTAL, "outcome" => outcome).increment(1);
    if outcome == "hole_accepted" {
        tracing::warn!(
            expected,
            got,
            "OBS messages missing for longer than the redelivery wait; continuing without them"
        );
    } else {
        tracing::debug!(outcome, expected, got, "OBS delivery out of order");
    }
}

/// Rows the writer stored in one table.
pub fn rows_written(table: &'static str, n: u64) {
    if n > 0 {
        counter!(m::ROWS_WRITTEN_TOTAL, "table" => table).increment(n);
    }
}

/// Records committed by the writer (acked after the commit), whatever the rows they touched.
pub fn records_stored(n: u64) {
    if n > 0 {
        counter!(m::RECORDS_STORED_TOTAL).increment(n);
    }
}

/// A committed writer batch.
pub fn batch_committed(messages: usize, seconds: f64) {
    histogram!(m::WRITER_BATCH_SIZE).record(messages as f64);
    histogram!(m::WRITER_COMMIT_SECONDS).record(seconds);
}

/// A failed batch write that will be retried.
pub fn write_retried(code: &'static str, error: &str, attempt: u32) {
    counter!(m::WRITER_RETRIES_TOTAL, "code" => code).increment(1);
    tracing::warn!(code, attempt, error, "batch write failed; retrying");
}

/// A batch write failed in a way retrying cannot fix: the writer role stops.
pub fn writer_stopped(code: &'static str, error: &str) {
    tracing::error!(
        code,
        error,
        "the writer cannot store anything until this is fixed; it stops, and what it held goes back to the stream"
    );
}

/// A record reached a stage (`stored`, `feature_published`): time since it entered.
pub fn end_to_end(stage: &'static str, seconds: f64) {
    histogram!(m::END_TO_END_SECONDS, "stage" => stage).record(seconds);
}

/// Feature vectors published.
pub fn vectors_published(series: &'static str, status: &'static str, n: u64) {
    if n > 0 {
        counter!(m::VECTORS_PUBLISHED_TOTAL, "series" => series, "status" => status).increment(n);
    }
}

/// Ticks that got no provisional vector (a newer tick, or their final vector, was due first).
pub fn provisional_conflated(n: u64) {
    if n > 0 {
        counter!(m::VECTORS_CONFLATED_TOTAL).increment(n);
    }
}

/// One upstream fetch and how it ended (`fresh`, `not_modified`, or an error code).
pub fn fetched(source: &'static str, outcome: &'static str, seconds: f64) {
    counter!(m::FETCHES_TOTAL, "source" => source, "outcome" => outcome).increment(1);
    histogram!(m::FETCH_SECONDS, "source" => source).record(seconds);
}

/// A durable consumer's backlog (sampled).
pub fn consumer_backlog(consumer: &'static str, pending: u64, ack_pending: usize) {
    metrics::gauge!(m::CONSUMER_PENDING, "consumer" => consumer).set(pending as f64);
    metrics::gauge!(m::CONSUMER_ACK_PENDING, "consumer" => consumer).set(ack_pending as f64);
}

/// The newest X-ray flux observed (for the dashboard's live flux panel).
pub fn latest_flux(short: Option<f64>, long: Option<f64>) {
    if let Some(v) = short {
        metrics::gauge!(m::LATEST_FLUX, "band" => "short").set(v);
    }
    if let Some(v) = long {
        metrics::gauge!(m::LATEST_FLUX, "band" => "long").set(v);
    }
}
