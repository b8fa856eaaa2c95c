//! `flare-plus profile`: flare-plus's performance guide (spec section 6) as a command. It runs
//! the guide's three scenarios and reports, for each, what was measured (never estimated):
//! wall and CPU time, peak RSS and peak heap, database statements and rows read, and the time
//! per stage from tracing spans, each beside the guide's budget and the margin to it.
//!
//! 1. **hourly-backfill**: features for 24 hourly timestamps (guide: one bulk query, < 30 s);
//! 2. **large-batch**: 1000 timestamps 6 minutes apart (guide: peak memory < 500 MB);
//! 3. **ingestion**: one incremental update of every source (guide: < 5 minutes).
//!
//! Timestamps end at the newest data available, the guide's "now - i h": the last recorded
//! flux with `--input DIR`, the newest stored primary flux otherwise.
//!
//! Every scenario runs the production code paths, not copies of them; their tracing spans
//! are the stages. Scenarios 1-2 with `--input DIR` run `features batch --input`'s loader
//! ([`features_batch::inputs_from_dir`]: stages load, parse, detect) and table writer (stage
//! features); without `--input` they read the configured database with `features batch
//! --db`'s loader (one bulk statement per table, stage load) and report the store's own
//! statement and row counters. Scenario 3 parses every recorded file ([`files::parse`]) or
//! fetches every enabled live source as the pollers do ([`PollSpec::request_url`],
//! [`Fetcher::get`], [`parse_payload`]), runs the ingest's streaming detector on the primary
//! X-ray feed (stage detect) and writes everything through [`Store::write`] in writer-sized
//! batches (stage write): the writer's own write path, without NATS.
//!
//! How each figure is taken (see `docs/PROFILING.md`): wall time by `Instant`; CPU time by
//! `getrusage(RUSAGE_SELF)` (every thread, sqlx's SQLite worker included); peak RSS by
//! `VmHWM`, reset per scenario through `/proc/self/clear_refs`; heap by the counting global
//! allocator (peak reset per scenario); stages by the [`SpanTimer`] layer the binary installs
//! for this command.
//!
//! [`SpanTimer`]: crate::profiling::spans::SpanTimer
//! [`PollSpec::request_url`]: crate::pipeline::ingest::poller::PollSpec::request_url

mod flamegraph;
mod report;
mod window;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::debug_span;

pub use self::report::{
    count_margin, ratio_margin, render_table, DbFigures, Figure, ProfileReport, ScenarioReport,
};
use self::report::{scenario_report, Work};
use self::window::Window;
use crate::commands::features_batch::{
    inputs_from_dir, write_table, BatchError, BatchInputs, BatchOptions, Table,
};
use crate::detect::{StreamConfig, StreamDetector};
use crate::domain::{Records, XrayFeed};
use crate::pipeline::ingest::poller::poll_specs;
use crate::pipeline::Config;
use crate::profiling::alloc;
use crate::profiling::spans::StageTable;
use crate::sources::fetch::{FetchError, FetchOutcome, Fetcher};
use crate::sources::files::{self, FilesError};
use crate::sources::{parse_payload, ParsedPayload, PayloadError};
use crate::store::{Store, StoreError, WriteBatch};

/// One of the guide's scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// 1: features for 24 hourly timestamps ("single bulk database query, < 30 s").
    #[value(alias = "1")]
    HourlyBackfill,
    /// 2: features for 1000 timestamps at 0.1 h spacing ("memory usage < 500 MB").
    #[value(alias = "2")]
    LargeBatch,
    /// 3: one incremental update of every source ("< 5 minutes").
    #[value(alias = "3")]
    Ingestion,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [
        Scenario::HourlyBackfill,
        Scenario::LargeBatch,
        Scenario::Ingestion,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::HourlyBackfill => "hourly-backfill",
            Scenario::LargeBatch => "large-batch",
            Scenario::Ingestion => "ingestion",
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Scenario::HourlyBackfill => 1,
            Scenario::LargeBatch => 2,
            Scenario::Ingestion => 3,
        }
    }

    /// The guide's wording of the expectation.
    fn guide(self) -> &'static str {
        match self {
            Scenario::HourlyBackfill => "single bulk database query, < 30 s",
            Scenario::LargeBatch => "efficient bulk loading, memory usage < 500 MB",
            Scenario::Ingestion => "< 5 minutes for a typical incremental update",
        }
    }

    /// Feature scenarios: how many timestamps, how far apart.
    fn timestamps(self) -> Option<(usize, chrono::Duration)> {
        match self {
            Scenario::HourlyBackfill => Some((24, chrono::Duration::hours(1))),
            Scenario::LargeBatch => Some((1000, chrono::Duration::minutes(6))),
            Scenario::Ingestion => None,
        }
    }

    fn wall_budget(self) -> Option<f64> {
        match self {
            Scenario::HourlyBackfill => Some(30.0),
            Scenario::LargeBatch => None,
            Scenario::Ingestion => Some(300.0),
        }
    }

    fn rss_budget(self) -> Option<u64> {
        match self {
            Scenario::LargeBatch => Some(RSS_BUDGET),
            _ => None,
        }
    }
}

/// The guide's 500 MB, read as memory_profiler's MiB.
const RSS_BUDGET: u64 = 500 * 1024 * 1024;
/// One bulk read per table the engine needs (flux, regions, flare_events); flare-plus issued
/// a fourth for magnetograms it never used (Q15).
const READS_BUDGET: u64 = 3;

/// `flare-plus profile`'s arguments: what to run and how to report it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProfileOptions {
    /// Recorded upstream files: scenarios 1-2 parse them instead of reading the database,
    /// scenario 3 ingests them into the configured database instead of fetching live.
    #[arg(long, value_name = "DIR")]
    pub input: Option<PathBuf>,
    /// Run only this scenario (repeatable): hourly-backfill (1), large-batch (2),
    /// ingestion (3). Default: all three.
    #[arg(long = "scenario", value_enum, value_name = "NAME")]
    pub scenarios: Vec<Scenario>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write an SVG flamegraph of the scenarios (in-process sampling) to FILE.
    #[arg(long, value_name = "FILE")]
    pub flamegraph: Option<PathBuf>,
    /// Samples per second of CPU time for --flamegraph.
    #[arg(long, value_name = "HZ", default_value_t = 499)]
    pub flamegraph_hz: i32,
    /// After the report, wait until standard input closes before exiting, so another
    /// tool can read /proc/PID/status of the finished run.
    #[arg(long)]
    pub hold: bool,
}

/// Runs the scenarios with the stage timer installed, the report on standard output.
pub fn execute(config: &Config, options: &ProfileOptions) -> anyhow::Result<()> {
    alloc::enable();
    super::exec::init_logging(&config.logging, true);
    let mut out = std::io::stdout().lock();
    run(config, options, &mut out)?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error("{context}: {error}")]
    Store {
        context: &'static str,
        error: StoreError,
    },
    #[error("fetching {feed}: {error}")]
    Fetch {
        feed: &'static str,
        error: FetchError,
    },
    #[error("{feed} payload: {error}")]
    Payload {
        feed: &'static str,
        error: PayloadError,
    },
    #[error("{0}")]
    NoData(String),
    #[error("flamegraph: {0}")]
    Flamegraph(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("writing the report: {0}")]
    Output(std::io::Error),
    #[error("encoding the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{}", .0.join("; "))]
    Failed(Vec<String>),
}

fn store_err(context: &'static str) -> impl FnOnce(StoreError) -> ProfileError {
    move |error| ProfileError::Store { context, error }
}

/// The timestamps of a feature scenario: `count` of them, `step` apart, the last at `anchor`
/// (the guide's `now - i * step`, i = count-1..0), ascending.
pub fn scenario_times(
    anchor: DateTime<Utc>,
    count: usize,
    step: chrono::Duration,
) -> Vec<DateTime<Utc>> {
    (0..count)
        .rev()
        .filter_map(|i| {
            let back = step.checked_mul(i32::try_from(i).ok()?)?;
            anchor.checked_sub_signed(back)
        })
        .collect()
}

/// Runs the selected scenarios and writes the table (or JSON) to `out`.
pub fn run(
    config: &Config,
    options: &ProfileOptions,
    out: &mut dyn Write,
) -> Result<ProfileReport, ProfileError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ProfileError::Runtime)?;
    let report = runtime.block_on(profile(config, options))?;
    if options.json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out).map_err(ProfileError::Output)?;
    } else {
        out.write_all(render_table(&report).as_bytes())
            .map_err(ProfileError::Output)?;
    }
    out.flush().map_err(ProfileError::Output)?;
    if options.hold {
        // Until the observer closes our stdin; a read error also ends the wait.
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    }
    // The report is out (failed scenarios included); the exit status tells about failures.
    let failures = report.failures();
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(ProfileError::Failed(failures))
    }
}

async fn profile(config: &Config, options: &ProfileOptions) -> Result<ProfileReport, ProfileError> {
    let scenarios: Vec<Scenario> = if options.scenarios.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        let mut chosen = Vec::new();
        for s in &options.scenarios {
            if !chosen.contains(s) {
                chosen.push(*s);
            }
        }
        chosen
    };
    let batch_options = BatchOptions {
        table: Table::Features,
        profile: config.features.profile,
        merge: config.merge_rule(),
        min_class: config.detection.min_class,
    };
    let needs_db = options.input.is_none() || scenarios.contains(&Scenario::Ingestion);
    let store = if needs_db {
        Some(
            Store::connect(&config.database)
                .await
                .map_err(store_err("opening the database"))?,
        )
    } else {
        None
    };
    // Setup outside the measured windows: the anchor query, and the migrations scenario 3
    // needs (the writer runs them at start too).
    let mut db_anchor = None;
    if let (None, Some(store)) = (&options.input, &store) {
        if scenarios.iter().any(|s| s.timestamps().is_some()) {
            db_anchor = Some(newest_stored_flux(store).await?);
        }
    }
    if let (true, Some(store)) = (scenarios.contains(&Scenario::Ingestion), &store) {
        store
            .migrate()
            .await
            .map_err(store_err("migrating the database"))?;
    }

    let stages = StageTable::global();
    // The sampler preallocates its buffers: measured, so the report can say how much of
    // the memory figures is the sampler's.
    let heap_before_sampler = alloc::current();
    let flamegraph = match &options.flamegraph {
        Some(_) => Some(flamegraph::Sampler::start(options.flamegraph_hz)?),
        None => None,
    };
    let sampler_heap_bytes = flamegraph.as_ref().and(
        alloc::is_active().then(|| alloc::current().saturating_sub(heap_before_sampler) as u64),
    );
    let mut rss_scope = "scenario";
    let mut reports = Vec::new();
    for scenario in scenarios {
        let window = Window::open(&stages, store.as_ref());
        if window.rss_reset.is_err() {
            rss_scope = "process";
        }
        let mut work = Work::default();
        let mut times = Vec::new();
        let outcome = match (scenario, &options.input) {
            (Scenario::Ingestion, input) => match &store {
                Some(store) => ingest(config, input.as_deref(), store, &mut work).await,
                None => Err(ProfileError::NoData(
                    "scenario 3 needs a database".to_string(),
                )),
            },
            (_, Some(dir)) => {
                features_from_files(dir, scenario, &batch_options, &mut times, &mut work)
            }
            (_, None) => match (&store, db_anchor) {
                (Some(store), Some(anchor)) => {
                    let (count, step) = scenario.timestamps().unwrap_or_default();
                    times = scenario_times(anchor, count, step);
                    features_from_store(store, &times, &batch_options, &mut work).await
                }
                _ => Err(ProfileError::NoData("no database".to_string())),
            },
        };
        let touched_db = options.input.is_none() || scenario == Scenario::Ingestion;
        let measured = window
            .close(&stages, store.as_ref().filter(|_| touched_db))
            .await;
        let mut report = scenario_report(scenario, &times, work, measured);
        if let Err(e) = outcome {
            report.fail(&e);
        }
        reports.push(report);
    }
    let flamegraph_path = match (flamegraph, &options.flamegraph) {
        (Some(sampler), Some(path)) => {
            sampler.write(path)?;
            Some(path.display().to_string())
        }
        _ => None,
    };
    if let Some(store) = &store {
        store.close().await;
    }
    Ok(ProfileReport {
        source: if options.input.is_some() {
            "files"
        } else {
            "database"
        },
        input: options.input.as_ref().map(|p| p.display().to_string()),
        database: store.as_ref().map(|_| config.database.url.redacted()),
        peak_rss_scope: rss_scope,
        heap_measured: alloc::is_active(),
        flamegraph: flamegraph_path,
        sampler_heap_bytes,
        scenarios: reports,
    })
}

/// Scenarios 1-2 from recorded files: `features batch --input`'s loader (load, parse,
/// detect), then the feature table.
fn features_from_files(
    dir: &Path,
    scenario: Scenario,
    options: &BatchOptions,
    times: &mut Vec<DateTime<Utc>>,
    work: &mut Work,
) -> Result<(), ProfileError> {
    let (count, step) = scenario.timestamps().unwrap_or_default();
    let inputs = inputs_from_dir(dir, options)?;
    work.records_parsed = inputs.parsed_records as u64;
    work.records_rejected = inputs.rejected_records as u64;
    work.flares_detected = inputs.flares_detected as u64;
    let anchor = inputs.flux.last().map(|o| o.time).ok_or_else(|| {
        ProfileError::NoData(format!(
            "{} holds no primary X-ray flux to anchor the timestamps",
            dir.display()
        ))
    })?;
    *times = scenario_times(anchor, count, step);
    compute(&inputs, times, options, work)
}

/// Scenarios 1-2 from the database: `features batch --db`'s loader (one statement per
/// table, covering the timestamps plus the engine's data window), then the feature table.
async fn features_from_store(
    store: &Store,
    times: &[DateTime<Utc>],
    options: &BatchOptions,
    work: &mut Work,
) -> Result<(), ProfileError> {
    if times.is_empty() {
        return Err(ProfileError::NoData("no timestamps".to_string()));
    }
    let inputs = crate::commands::features_batch::inputs_from_store(store, times)
        .await
        .map_err(store_err("reading the stored tables"))?;
    compute(&inputs, times, options, work)
}

async fn newest_stored_flux(store: &Store) -> Result<DateTime<Utc>, ProfileError> {
    store
        .latest_flux_time(XrayFeed::Primary)
        .await
        .map_err(store_err(
            "reading the newest stored flux (is the database migrated and filled? \
             try `flare-plus profile --input DIR --scenario ingestion` or `flare-plus run`)",
        ))?
        .ok_or_else(|| {
            ProfileError::NoData(
                "the database holds no primary X-ray flux: fill it first (`flare-plus run`, \
                 or `flare-plus profile --input DIR --scenario ingestion`), or profile \
                 recorded files with --input DIR"
                    .to_string(),
            )
        })
}

/// A writer that only counts: the feature table is encoded as the batch command encodes it,
/// and thrown away.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The feature table for `times` (stage features), as `features batch` computes it.
fn compute(
    inputs: &BatchInputs,
    times: &[DateTime<Utc>],
    options: &BatchOptions,
    work: &mut Work,
) -> Result<(), ProfileError> {
    work.flux_rows = inputs.flux.len() as u64;
    work.region_rows = inputs.regions.len() as u64;
    work.flare_events = inputs.flares.len() as u64;
    let _span = debug_span!("features", timestamps = times.len()).entered();
    let mut sink = CountingSink(0);
    let summary = write_table(inputs, times, options, &mut sink)?;
    work.feature_rows = summary.rows as u64;
    work.feature_csv_bytes = sink.0;
    Ok(())
}

/// Scenario 3: every source once (recorded files, or one live fetch each), the ingest's
/// streaming detector on the primary X-ray feed, and writer-sized batches through
/// [`Store::write`].
async fn ingest(
    config: &Config,
    input: Option<&Path>,
    store: &Store,
    work: &mut Work,
) -> Result<(), ProfileError> {
    let parsed = match input {
        Some(dir) => files::scan(dir)?
            .iter()
            .map(files::parse)
            .collect::<Result<Vec<_>, _>>()?,
        None => fetch_live(config).await?,
    };
    work.files = parsed.len() as u64;
    let mut batches = Batches::new(config.writer.batch_max_records);
    let mut primary = Vec::new();
    for p in parsed {
        work.records_parsed += p.records.len() as u64;
        work.records_rejected += p.rejected.len() as u64;
        match &p.records {
            Records::Xrays(x) => {
                work.flux_rows += x.len() as u64;
                primary.extend(x.iter().filter(|o| o.feed == XrayFeed::Primary).cloned());
            }
            Records::Regions(r) => work.region_rows += r.len() as u64,
            Records::Flares(_) => {}
        }
        batches.extend(p.records);
    }
    let primary = files::sorted_last_wins(primary);
    let detected = debug_span!("detect", samples = primary.len()).in_scope(|| {
        let mut detector = StreamDetector::new(StreamConfig {
            min_class: config.detection.min_class,
            merge: config.merge_rule(),
            ..StreamConfig::default()
        });
        let mut flares = Vec::new();
        for o in &primary {
            flares.extend(detector.push(o.time, o.flux_long));
        }
        flares.extend(detector.flush());
        flares
    });
    work.flares_detected = detected.len() as u64;
    batches.extend(Records::Flares(detected));
    let profile = config.features.profile;
    for (i, batch) in batches.finish().into_iter().enumerate() {
        let span = debug_span!("write", batch = i, records = batch.len());
        let stats = tracing::Instrument::instrument(store.write(&batch, profile), span)
            .await
            .map_err(store_err("writing a batch"))?;
        work.write_batches += 1;
        work.records_written += batch.len() as u64;
        for t in [
            stats.xrays,
            stats.regions,
            stats.flare_candidates,
            stats.solar_flare_events,
        ] {
            work.rows_inserted += t.inserted;
            work.rows_updated += t.updated;
        }
        work.records_refused_by_store += stats.rejected.len() as u64;
    }
    Ok(())
}

/// Write batches of at most `writer.batch_max_records` records, in arrival order.
struct Batches {
    max: usize,
    done: Vec<WriteBatch>,
    open: WriteBatch,
}

impl Batches {
    fn new(max: usize) -> Batches {
        Batches {
            max: max.max(1),
            done: Vec::new(),
            open: WriteBatch::default(),
        }
    }

    fn extend(&mut self, records: Records) {
        for observation in records.into_observations() {
            self.open.push((), observation);
            if self.open.len() >= self.max {
                self.done.push(std::mem::take(&mut self.open));
            }
        }
    }

    fn finish(mut self) -> Vec<WriteBatch> {
        if !self.open.is_empty() {
            self.done.push(self.open);
        }
        self.done
    }
}

/// One fetch of every enabled live source, as a poll makes it (stage fetch: the fetcher's
/// own span), parsed (stage parse).
async fn fetch_live(config: &Config) -> Result<Vec<ParsedPayload>, ProfileError> {
    let fetcher =
        Fetcher::new(config.http_client.clone()).map_err(|error| ProfileError::Fetch {
            feed: "client",
            error,
        })?;
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut parsed = Vec::new();
    for spec in poll_specs(config) {
        let feed = spec.kind.source();
        let url = spec
            .request_url(Utc::now().date_naive())
            .map_err(ProfileError::NoData)?;
        let body = match fetcher
            .get(&url, &Default::default(), &cancel)
            .await
            .map_err(|error| ProfileError::Fetch { feed, error })?
        {
            FetchOutcome::Fresh { body, .. } => body,
            // No validators were sent, so a 304 cannot happen; treat it as an empty feed.
            FetchOutcome::NotModified { .. } => continue,
        };
        let span = debug_span!(
            "parse",
            source = feed,
            bytes = body.len(),
            records = tracing::field::Empty
        );
        let p = span
            .in_scope(|| parse_payload(spec.kind, &body))
            .map_err(|error| ProfileError::Payload { feed, error })?;
        span.record("records", p.records.len());
        parsed.push(p);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::report::seconds;
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_end_at_the_anchor_and_ascend() {
        let anchor = Utc.with_ymd_and_hms(2024, 5, 30, 23, 59, 0).unwrap();
        let hourly = scenario_times(anchor, 24, chrono::Duration::hours(1));
        assert_eq!(hourly.len(), 24);
        assert_eq!(hourly[23], anchor);
        assert_eq!(hourly[0], anchor - chrono::Duration::hours(23));
        let batch = scenario_times(anchor, 1000, chrono::Duration::minutes(6));
        assert_eq!(batch.len(), 1000);
        assert_eq!(batch[0], anchor - chrono::Duration::minutes(6 * 999));
        assert!(batch
            .windows(2)
            .all(|w| w[1] - w[0] == chrono::Duration::minutes(6)));
    }

    #[test]
    fn margins_read_as_the_issue_shows_them() {
        assert_eq!(ratio_margin(0.08, 30.0), "375x under");
        assert_eq!(ratio_margin(12.0, 30.0), "2.5x under");
        assert_eq!(ratio_margin(45.0, 30.0), "1.5x over");
        assert_eq!(count_margin(3, 3), "at budget");
        assert_eq!(count_margin(1, 3), "2 under");
        assert_eq!(count_margin(5, 3), "2 over");
        let f = Figure::capped("wall time", 0.08, Some(30.0), seconds);
        assert_eq!(
            (f.measured.as_str(), f.budget.as_deref(), f.within_budget),
            ("80.0 ms", Some("30 s"), Some(true))
        );
    }
}
