//! `flare-plus features batch --input DIR --times FILE [--covariates] [--out FILE]`: the same
//! parsing, detection, de-duplication and engine code as the pipeline, over recorded files,
//! written as CSV (header `timestamp` + flare-plus's columns, one row per line of FILE, in
//! the file's order).

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::detect::{detect_flares_in_observations, MergeRule};
use crate::domain::{FlareCategory, FlareEvent, RegionObservation, XrayFeed, XrayObservation};
use crate::features::csv::CsvWriter;
use crate::features::{
    covariate_columns, feature_columns, for_each_covariate_row, for_each_feature_row, Cell,
    EngineError, FeatureConfig,
};
use crate::flare_events::materialize;
use crate::profile::Profile;
use crate::sources::files::{load_dir, FilesError};

use super::exec::{on_current_thread, with_output};
use super::times::{read_times, TimesError};
use crate::pipeline::Config;

/// `flare-plus features batch`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BatchArgs {
    /// Directory of recorded upstream files, searched recursively: SWPC/DONKI JSON
    /// (xrays*.json, solar_regions*.json, donki*.json) and archive files (NCEI
    /// sci_xrsf-l2-avg1m_*.nc, SWPC YYYYMMDDSRS.txt), each optionally .gz.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "db",
        conflicts_with = "db"
    )]
    pub input: Option<std::path::PathBuf>,
    /// Read the stored tables of this database instead (sqlite:PATH or postgres://...).
    #[arg(long, value_name = "URL")]
    pub db: Option<String>,
    /// One ISO timestamp per line (UTC); rows come out in this order.
    #[arg(long, value_name = "FILE")]
    pub times: std::path::PathBuf,
    /// Write the 65 time-varying covariates instead of the 83 features.
    #[arg(long)]
    pub covariates: bool,
    /// Output file (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// Computes the table from the files or the database and prints what it did to stderr.
pub fn execute(config: &Config, args: &BatchArgs) -> anyhow::Result<()> {
    let options = BatchOptions {
        table: if args.covariates {
            Table::Covariates
        } else {
            Table::Features
        },
        profile: config.features.profile,
        merge: config.merge_rule(),
        min_class: config.detection.min_class,
    };
    let s = with_output(args.out.as_deref(), |w| match (&args.input, &args.db) {
        (Some(dir), _) => Ok(run_from_dir(dir, &args.times, &options, w)?),
        (None, Some(url)) => Ok(on_current_thread(run_from_db(
            url,
            &args.times,
            &options,
            w,
        ))??),
        (None, None) => Err(anyhow::anyhow!("give --input DIR or --db URL")),
    })?;
    let skipped = match s.rejected_records {
        0 => String::new(),
        n => format!(", {n} malformed records skipped"),
    };
    eprintln!(
        "{} rows ({} profile) from {} flux observations, {} region rows, {} flare events{skipped}; \
         load {:.3} s, compute {:.3} s",
        s.rows,
        options.profile.as_str(),
        s.flux_observations,
        s.regions,
        s.flare_events,
        s.load_seconds,
        s.compute_seconds
    );
    Ok(())
}

/// Which table to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `FeatureEngineer` columns (83).
    Features,
    /// `TimeVaryingCovariateEngineer` covariates (65).
    Covariates,
}

/// How flare events are derived from the recorded data.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    pub table: Table,
    pub profile: Profile,
    pub merge: MergeRule,
    pub min_class: FlareCategory,
}

/// What a batch run did (printed to stderr by the command).
#[derive(Debug, Clone, Default)]
pub struct BatchSummary {
    pub rows: usize,
    pub flux_observations: usize,
    pub regions: usize,
    pub flare_events: usize,
    pub rejected_records: usize,
    pub load_seconds: f64,
    pub compute_seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Times(#[from] TimesError),
    #[error("feature engine: {0}")]
    Engine(#[from] EngineError),
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The inputs the engine reads: flux of one feed, regions, and the flare_events table.
pub struct BatchInputs {
    pub flux: Vec<XrayObservation>,
    pub regions: Vec<RegionObservation>,
    pub flares: Vec<FlareEvent>,
    /// Records parsed from files (0 from the database).
    pub parsed_records: usize,
    pub rejected_records: usize,
    /// Flares the detector found in the files' flux (0 from the database).
    pub flares_detected: usize,
}

/// Parses the recorded files of `dir`, detects flares and builds flare-plus's flare_events
/// table (detected + non-duplicate DONKI), as the pipeline does.
pub fn inputs_from_dir(dir: &Path, options: &BatchOptions) -> Result<BatchInputs, BatchError> {
    let data = load_dir(dir, XrayFeed::Primary)?;
    let parsed_records = data.xrays.len() + data.regions.len() + data.donki.len();
    let (flares, flares_detected) = tracing::debug_span!("detect", samples = data.xrays.len())
        .in_scope(|| {
            let mut candidates =
                detect_flares_in_observations(&data.xrays, options.min_class, options.merge);
            let detected = candidates.len();
            candidates.extend(data.donki);
            (materialize(&candidates, options.profile), detected)
        });
    Ok(BatchInputs {
        flux: data.xrays,
        regions: data.regions,
        flares,
        parsed_records,
        rejected_records: data.rejected,
        flares_detected,
    })
}

/// Reads the stored tables (one bulk query each: flux of the primary feed, regions, and
/// flare_events by peak time) covering `times` plus the engine's 48 h data window.
pub async fn inputs_from_store(
    store: &crate::store::Store,
    times: &[DateTime<Utc>],
) -> Result<BatchInputs, crate::store::StoreError> {
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return Ok(BatchInputs {
            flux: Vec::new(),
            regions: Vec::new(),
            flares: Vec::new(),
            parsed_records: 0,
            rejected_records: 0,
            flares_detected: 0,
        });
    };
    let window = chrono::Duration::hours(i64::from(FeatureConfig::default().data_window_h()));
    let from = first - window;
    let span = tracing::debug_span!("load", from = %from, to = %last, rows = tracing::field::Empty);
    let read = async {
        let flux = store.read_flux(XrayFeed::Primary, from, last).await?;
        let regions = store.read_regions(from, last).await?;
        let flares = store.read_flare_events(from, last).await?;
        Ok::<_, crate::store::StoreError>(BatchInputs {
            flux,
            regions,
            flares,
            parsed_records: 0,
            rejected_records: 0,
            flares_detected: 0,
        })
    };
    let inputs = tracing::Instrument::instrument(read, span.clone()).await?;
    span.record(
        "rows",
        inputs.flux.len() + inputs.regions.len() + inputs.flares.len(),
    );
    Ok(inputs)
}

/// [`inputs_from_store`] on a connection opened for the purpose.
pub async fn inputs_from_db(url: &str, times: &[DateTime<Utc>]) -> Result<BatchInputs, BatchError> {
    use crate::store::{Store, StoreConfig};
    let store = Store::connect(&StoreConfig::for_url(url)).await?;
    let inputs = inputs_from_store(&store, times).await;
    store.close().await;
    Ok(inputs?)
}

/// Runs the batch over the stored tables and writes CSV to `out`.
pub async fn run_from_db(
    url: &str,
    times_file: &Path,
    options: &BatchOptions,
    out: &mut dyn Write,
) -> Result<BatchSummary, BatchError> {
    let started = Instant::now();
    let times = read_times(times_file)?;
    let inputs = inputs_from_db(url, &times).await?;
    let load_seconds = started.elapsed().as_secs_f64();
    let mut summary = write_table(&inputs, &times, options, out)?;
    summary.load_seconds = load_seconds;
    summary.compute_seconds = started.elapsed().as_secs_f64() - load_seconds;
    Ok(summary)
}

/// Runs the batch over recorded files and writes CSV to `out`.
pub fn run_from_dir(
    dir: &Path,
    times_file: &Path,
    options: &BatchOptions,
    out: &mut dyn Write,
) -> Result<BatchSummary, BatchError> {
    let started = Instant::now();
    let times = read_times(times_file)?;
    let inputs = inputs_from_dir(dir, options)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let mut summary = write_table(&inputs, &times, options, out)?;
    summary.load_seconds = load_seconds;
    summary.compute_seconds = started.elapsed().as_secs_f64() - load_seconds;
    Ok(summary)
}

/// Computes the table for `times` and writes it as CSV in the order of `times`. Rows stream
/// straight to `out` when `times` ascend (a year of minute ticks never sits in memory);
/// otherwise they are collected and written in the given order.
pub fn write_table(
    inputs: &BatchInputs,
    times: &[DateTime<Utc>],
    options: &BatchOptions,
    out: &mut dyn Write,
) -> Result<BatchSummary, BatchError> {
    let columns = match options.table {
        Table::Features => feature_columns(),
        Table::Covariates => covariate_columns(),
    };
    let mut writer = CsvWriter::new(std::io::BufWriter::with_capacity(1 << 16, out), columns)?;
    let ascending = times.windows(2).all(|w| w[0] <= w[1]);
    let mut held: Vec<Option<(DateTime<Utc>, Vec<Cell>)>> = if ascending {
        Vec::new()
    } else {
        vec![None; times.len()]
    };
    let mut write_error: Option<std::io::Error> = None;
    let mut sink = |i: usize, t: DateTime<Utc>, cells: Vec<Cell>| {
        if ascending {
            if write_error.is_none() {
                write_error = writer.write_row(&t, &cells).err();
            }
        } else {
            held[i] = Some((t, cells));
        }
    };
    let cfg = FeatureConfig::with_profile(options.profile);
    match options.table {
        Table::Features => for_each_feature_row(
            cfg,
            &inputs.flux,
            &inputs.regions,
            &inputs.flares,
            times,
            |i, r| sink(i, r.timestamp, r.cells),
        )?,
        Table::Covariates => for_each_covariate_row(
            cfg,
            &inputs.flux,
            &inputs.regions,
            &inputs.flares,
            times,
            |i, r| sink(i, r.timestamp, r.cells),
        )?,
    }
    if let Some(e) = write_error {
        return Err(e.into());
    }
    for (t, cells) in held.into_iter().flatten() {
        writer.write_row(&t, &cells)?;
    }
    writer.into_inner().flush()?;
    Ok(BatchSummary {
        rows: times.len(),
        flux_observations: inputs.flux.len(),
        regions: inputs.regions.len(),
        flare_events: inputs.flares.len(),
        rejected_records: inputs.rejected_records,
        ..Default::default()
    })
}
