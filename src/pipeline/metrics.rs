//! The pipeline's own metrics (DESIGN.md's table): names in one place, buckets for every
//! histogram, descriptions registered once.

use actors::telemetry::HistogramBuckets;
use metrics::Unit;

/// Histogram: record entered the system -> stored (`stage="stored"`), -> a feature vector it
/// produced sent (`stage="feature_published"`), -> that vector acked by the stream
/// (`stage="feature_acked"`).
pub const END_TO_END_SECONDS: &str = "pipeline_end_to_end_seconds";
/// Counter by `source`: records published by ingest.
pub const RECORDS_INGESTED_TOTAL: &str = "pipeline_records_ingested_total";
/// Counter by `actor` (`writer`, `features`): records taken from OBS deliveries (a batch
/// message holds many), decodable or not; progress marks not counted.
pub const RECORDS_RECEIVED_TOTAL: &str = "pipeline_records_received_total";
/// Counter by `source`, `code`: records dead-lettered.
pub const RECORDS_DEAD_LETTERED_TOTAL: &str = "pipeline_records_dead_lettered_total";
/// Counter: records the writer committed (acked after the commit).
pub const RECORDS_STORED_TOTAL: &str = "pipeline_records_stored_total";
/// Counter by `table`: rows written (inserted or updated) by the writer.
pub const ROWS_WRITTEN_TOTAL: &str = "pipeline_rows_written_total";
/// Histogram: records per committed writer batch.
pub const WRITER_BATCH_SIZE: &str = "pipeline_writer_batch_size";
/// Histogram: seconds to write and commit one batch.
pub const WRITER_COMMIT_SECONDS: &str = "pipeline_writer_commit_seconds";
/// Counter by `code`: batch write attempts that failed and were retried.
pub const WRITER_RETRIES_TOTAL: &str = "pipeline_writer_retries_total";
/// Counter by `series` (`global`/`region`), `status` (`provisional`/`final`).
pub const VECTORS_PUBLISHED_TOTAL: &str = "pipeline_vectors_published_total";
/// Counter: ticks that got no provisional vector while catching up (a newer tick, or their
/// final vector, was due first). Per tick: provisional published + conflated = 1.
pub const VECTORS_CONFLATED_TOTAL: &str = "pipeline_vectors_conflated_total";
/// Gauge by `consumer`: OBS messages not yet delivered to that durable consumer.
pub const CONSUMER_PENDING: &str = "pipeline_consumer_pending_messages";
/// Gauge by `consumer`: messages delivered and not yet acknowledged.
pub const CONSUMER_ACK_PENDING: &str = "pipeline_consumer_ack_pending_messages";
/// Gauge by `band` (`short`, `long`): the newest primary-feed X-ray flux the feature actor saw.
pub const LATEST_FLUX: &str = "pipeline_latest_flux_watts_per_square_meter";
/// Counter by `source`, `outcome`: upstream fetches.
pub const FETCHES_TOTAL: &str = "pipeline_fetches_total";
/// Histogram by `source`: seconds per upstream fetch (including retries).
pub const FETCH_SECONDS: &str = "pipeline_fetch_seconds";

/// Counter by `outcome` (`waited`, `redelivered`, `hole_accepted`): OBS deliveries that reached
/// a feature worker out of stream order (see `FeatureCore::take`).
pub const FEATURES_OUT_OF_ORDER_TOTAL: &str = "pipeline_features_out_of_order_total";

/// Buckets for every histogram above (anything without buckets would render as a summary).
pub fn histogram_buckets() -> Vec<HistogramBuckets> {
    vec![
        HistogramBuckets::full(
            END_TO_END_SECONDS,
            &[
                0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
                300.0, 3600.0, 10800.0,
            ],
        ),
        HistogramBuckets::full(
            WRITER_BATCH_SIZE,
            &[
                1.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
            ],
        ),
        HistogramBuckets::full(
            WRITER_COMMIT_SECONDS,
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
            ],
        ),
        HistogramBuckets::full(
            FETCH_SECONDS,
            &[
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
            ],
        ),
    ]
}

/// Registers the descriptions (call once after installing the recorder).
pub fn describe() {
    metrics::describe_histogram!(
        END_TO_END_SECONDS,
        Unit::Seconds,
        "Time from a record entering the system to a stage"
    );
    metrics::describe_counter!(
        RECORDS_INGESTED_TOTAL,
        Unit::Count,
        "Records published to the OBS stream by ingest"
    );
    metrics::describe_counter!(
        RECORDS_RECEIVED_TOTAL,
        Unit::Count,
        "Records an OBS consumer took from its deliveries"
    );
    metrics::describe_counter!(
        RECORDS_DEAD_LETTERED_TOTAL,
        Unit::Count,
        "Records sent to the dead-letter stream"
    );
    metrics::describe_counter!(
        ROWS_WRITTEN_TOTAL,
        Unit::Count,
        "Rows written by the storage writer, by table"
    );
    metrics::describe_histogram!(
        WRITER_BATCH_SIZE,
        Unit::Count,
        "Records per committed writer batch"
    );
    metrics::describe_histogram!(
        WRITER_COMMIT_SECONDS,
        Unit::Seconds,
        "Time to write and commit one batch"
    );
    metrics::describe_counter!(
        WRITER_RETRIES_TOTAL,
        Unit::Count,
        "Failed batch writes that were retried"
    );
    metrics::describe_counter!(
        VECTORS_CONFLATED_TOTAL,
        Unit::Count,
        "Ticks without a provisional feature vector: a newer tick, or their final vector, was due first"
    );
    metrics::describe_counter!(
        VECTORS_PUBLISHED_TOTAL,
        Unit::Count,
        "Feature vectors published"
    );
    metrics::describe_gauge!(
        CONSUMER_PENDING,
        Unit::Count,
        "OBS messages not yet delivered to a durable consumer"
    );
    metrics::describe_gauge!(
        CONSUMER_ACK_PENDING,
        Unit::Count,
        "Messages delivered to a durable consumer and not yet acked"
    );
    metrics::describe_gauge!(
        LATEST_FLUX,
        "Newest primary-feed GOES X-ray flux seen by the feature actor, W/m^2"
    );
    metrics::describe_counter!(FETCHES_TOTAL, Unit::Count, "Upstream fetches by outcome");
    metrics::describe_counter!(
        FEATURES_OUT_OF_ORDER_TOTAL,
        Unit::Count,
        "OBS deliveries a feature worker received out of stream order, by what it did"
    );
    metrics::describe_histogram!(
        FETCH_SECONDS,
        Unit::Seconds,
        "Time per upstream fetch, retries included"
    );
}
