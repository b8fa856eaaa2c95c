//! `flare-plus detect --input DIR [--out FILE]`: the detector on recorded X-ray files, as CSV
//! with flare-plus's columns (golden `detected_flares.csv`).

use std::io::Write;
use std::path::Path;

use crate::detect::{detect_flares_in_observations, MergeRule};
use crate::domain::{FlareCategory, FlareEvent, XrayFeed};
use crate::features::csv::{push_py_float, push_timestamp};
use crate::pipeline::Config;
use crate::sources::files::{load_dir, FilesError};

use super::exec::with_output;

/// `flare-plus detect`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct DetectArgs {
    /// Directory of recorded upstream files, searched recursively: SWPC/DONKI JSON
    /// (xrays*.json, solar_regions*.json, donki*.json) and archive files (NCEI
    /// sci_xrsf-l2-avg1m_*.nc, SWPC YYYYMMDDSRS.txt), each optionally .gz.
    #[arg(long, value_name = "DIR")]
    pub input: std::path::PathBuf,
    /// Output file (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// Detects flares in the recorded X-ray files with the configured detector, as CSV.
pub fn execute(config: &Config, args: &DetectArgs) -> anyhow::Result<()> {
    let merge = config.merge_rule();
    let found = with_output(args.out.as_deref(), |w| {
        Ok(run(&args.input, config.detection.min_class, merge, w)?)
    })?;
    eprintln!("{found} flares detected");
    Ok(())
}

/// flare-plus's detector output columns, in its order.
pub const COLUMNS: &str =
    "start_time,peak_time,end_time,flare_class,class_category,class_magnitude,active_region,source,verified";

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error("writing the output: {0}")]
    Write(#[from] std::io::Error),
}

/// Detects flares in the primary X-ray feed of `dir` and writes them as CSV to `out`.
/// Returns how many flares were found.
pub fn run(
    dir: &Path,
    min_class: FlareCategory,
    merge: MergeRule,
    out: &mut dyn Write,
) -> Result<usize, DetectError> {
    let data = load_dir(dir, XrayFeed::Primary)?;
    let flares = detect_flares_in_observations(&data.xrays, min_class, merge);
    write_csv(&flares, out)?;
    Ok(flares.len())
}

/// Writes flares as flare-plus's detector CSV.
pub fn write_csv(flares: &[FlareEvent], out: &mut dyn Write) -> std::io::Result<()> {
    let mut line = String::with_capacity(256);
    writeln!(out, "{COLUMNS}")?;
    for f in flares {
        line.clear();
        push_timestamp(&mut line, &f.start_time);
        line.push(',');
        push_timestamp(&mut line, &f.peak_time);
        line.push(',');
        if let Some(end) = &f.end_time {
            push_timestamp(&mut line, end);
        }
        line.push(',');
        line.push_str(&csv_text(&f.flare_class));
        line.push(',');
        line.push_str(f.class_category.as_str());
        line.push(',');
        push_py_float(&mut line, f.class_magnitude);
        line.push(',');
        if let Some(region) = f.active_region {
            line.push_str(&region.to_string());
        }
        line.push(',');
        line.push_str(f.source.as_db_str());
        line.push(',');
        line.push_str(if f.verified { "true" } else { "false" });
        line.push('\n');
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// Quotes a text cell when it holds a comma, quote or line break (RFC 4180).
fn csv_text(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
