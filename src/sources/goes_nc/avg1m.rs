//! The backfill source: an NCEI 1-minute average file -> one [`XrayObservation`] per row,
//! shaped like the live SWPC feed's records (see `PARITY-snippet.md`).
//!
//! File-level problems (not avg1m, satellite or day disagreeing with the name, unreadable
//! file) are a [`GoesNcError`]; row-level ones (a fill time, an implausible flux) become
//! [`Rejected`] entries while the other rows (and the other band) are kept, as in the live
//! parser.

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeDelta, Timelike, Utc};

use crate::domain::{XrayFeed, XrayObservation};
use crate::sources::parse_error::{Parsed, RejectCode, RejectReason, Rejected};

use super::error::GoesNcError;
use super::name::{avg1m_name, ArchiveName};
use super::quality;
use super::reader::{read_xrs, XrsBand, XrsFile};

/// Largest accepted |flux| in W/m^2: the live parser's limit, so both reject the same values.
pub(crate) use crate::sources::swpc_xray::MAX_ABS_FLUX;

/// Variables an avg1m file reads (the 1-s and 2-s products use other flag names).
const AVG1M_VARIABLES: [&str; 4] = ["xrsa_flux", "xrsa_flag", "xrsb_flux", "xrsb_flag"];

/// Parses one avg1m file held in memory. `name` is the file's archive name (a path is fine):
/// it must be `sci_xrsf-l2-avg1m_gNN_dYYYYMMDD[_vX-Y-Z].nc`, its satellite must agree with the
/// `platform` attribute and every time must lie in its UTC day. Output is sorted by time, one
/// observation per time (a repeated time: the later row wins, as in the live parser).
pub fn parse_goes_avg1m(
    bytes: &[u8],
    name: &str,
    feed: XrayFeed,
) -> Result<Parsed<XrayObservation>, GoesNcError> {
    let archive = avg1m_name(name)?;
    let file = read_xrs(bytes)?;
    check_product(&file)?;
    check_satellite(&file, archive.satellite)?;
    check_times(&file, &archive)?;
    Ok(observations(&file, archive.satellite, feed))
}

/// [`parse_goes_avg1m`] for a file on disk; the name is the path's last component.
pub fn parse_goes_avg1m_path(
    path: &Path,
    feed: XrayFeed,
) -> Result<Parsed<XrayObservation>, GoesNcError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Refuse by name before reading a possibly large non-avg1m file.
    avg1m_name(&name)?;
    let bytes = std::fs::read(path).map_err(|e| GoesNcError::Io {
        detail: e.to_string(),
    })?;
    parse_goes_avg1m(&bytes, &name, feed)
}

/// The content must be 1-minute data too: a renamed 1-s or 2-s file is refused.
fn check_product(file: &XrsFile) -> Result<(), GoesNcError> {
    let used = [
        file.short.flux_variable.as_str(),
        file.short.flag_variable.as_str(),
        file.long.flux_variable.as_str(),
        file.long.flag_variable.as_str(),
    ];
    if used != AVG1M_VARIABLES {
        return Err(GoesNcError::NotAvg1m {
            what: format!("one with variables {}", used.join(", ")),
        });
    }
    if let Some(resolution) = &file.time_coverage_resolution {
        if resolution != "PT1M" {
            return Err(GoesNcError::NotAvg1m {
                what: format!("one with time_coverage_resolution {resolution}"),
            });
        }
    }
    for band in [&file.short, &file.long] {
        if !band.flag_spec.defines(quality::GOOD_DATA) {
            return Err(GoesNcError::BadFlagAttributes {
                variable: band.flag_variable.clone(),
                detail: format!(
                    "no {} meaning, so good and bad values cannot be told apart",
                    quality::GOOD_DATA
                ),
            });
        }
    }
    Ok(())
}

fn check_satellite(file: &XrsFile, from_name: i32) -> Result<(), GoesNcError> {
    let Some(platform) = &file.platform else {
        return Ok(());
    };
    match platform_satellite(platform) {
        Some(n) if n == from_name => Ok(()),
        Some(_) => Err(GoesNcError::SatelliteMismatch {
            name: from_name,
            platform: platform.clone(),
        }),
        None => Err(GoesNcError::BadPlatform {
            platform: platform.clone(),
        }),
    }
}

/// `g16`, `G16`, `GOES-16`, `goes16`, `GOES 16` -> 16.
fn platform_satellite(platform: &str) -> Option<i32> {
    let lower = platform.trim().to_ascii_lowercase();
    let digits = ["goes-", "goes ", "goes", "g"]
        .iter()
        .find_map(|prefix| lower.strip_prefix(prefix))?;
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

/// Every time on a whole minute and inside the named day. NCEI's avg1m rows are stamped with
/// the minute's start, 00:00 .. 23:59, so the day is the half-open [00:00, next 00:00).
fn check_times(file: &XrsFile, archive: &ArchiveName) -> Result<(), GoesNcError> {
    let start = day_start(archive.date);
    let end = start + TimeDelta::days(1);
    for (row, time) in file.times.iter().enumerate() {
        let Some(time) = time else { continue };
        if *time < start || *time >= end {
            return Err(GoesNcError::DateMismatch {
                row,
                time: iso(*time),
                day: archive.date.to_string(),
            });
        }
        if time.second() != 0 || time.nanosecond() != 0 {
            return Err(GoesNcError::NotAvg1m {
                what: format!(
                    "one whose row {row} has time {} (not on a whole minute)",
                    iso(*time)
                ),
            });
        }
    }
    Ok(())
}

fn day_start(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(chrono::NaiveTime::MIN).and_utc()
}

fn iso(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

fn observations(file: &XrsFile, satellite: i32, feed: XrayFeed) -> Parsed<XrayObservation> {
    let mut parsed = Parsed::new();
    for (row, time) in file.times.iter().enumerate() {
        let Some(time) = *time else {
            parsed.rejected.push(Rejected {
                raw: row_text(file, row),
                reason: RejectReason {
                    code: RejectCode::BadTime,
                    detail: format!(
                        "time {} ({}) is a fill value or not a representable time",
                        file.time_values.get(row).copied().unwrap_or(f64::NAN),
                        file.time_units
                    ),
                },
            });
            continue;
        };
        let short = band_value(&file.short, row, &mut parsed.rejected, file);
        let long = band_value(&file.long, row, &mut parsed.rejected, file);
        parsed.records.push(XrayObservation {
            feed,
            time,
            satellite: Some(satellite),
            flux_short: short.0,
            flux_long: long.0,
            electron_contamination_short: short.1,
            electron_contamination_long: long.1,
        });
    }
    parsed.records = last_per_time(parsed.records);
    parsed
}

/// (flux after the flag rule and plausibility check, electron contamination) of one band.
fn band_value(
    band: &XrsBand,
    row: usize,
    rejected: &mut Vec<Rejected>,
    file: &XrsFile,
) -> (Option<f64>, Option<bool>) {
    let flag = band.flags.get(row).copied().flatten();
    let contamination = quality::electron_contamination(&band.flag_spec, flag);
    let flux = band.flux.get(row).copied().flatten();
    let reject = |code, detail: String| Rejected {
        raw: row_text(file, row),
        reason: RejectReason { code, detail },
    };
    let flux = match flux {
        Some(f) if !f.is_finite() => {
            rejected.push(reject(
                RejectCode::NotFinite,
                format!("{} is {f}", band.flux_variable),
            ));
            None
        }
        Some(f) if f.abs() > MAX_ABS_FLUX => {
            rejected.push(reject(
                RejectCode::OutOfRange,
                format!(
                    "{} {f:e} W/m^2 exceeds the plausible limit {MAX_ABS_FLUX:e}",
                    band.flux_variable
                ),
            ));
            None
        }
        Some(f) if quality::keeps(&band.flag_spec, flag) => Some(f),
        _ => None,
    };
    (flux, contamination)
}

/// The row as text for the dead letter (the archive has no JSON element to keep).
fn row_text(file: &XrsFile, row: usize) -> String {
    let number = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("\"{v:e}\""));
    let flag = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    let cell = |band: &XrsBand| {
        format!(
            "\"{}\":{},\"{}\":{}",
            band.flux_variable,
            number(band.flux.get(row).copied().flatten()),
            band.flag_variable,
            flag(band.flags.get(row).copied().flatten())
        )
    };
    format!(
        "{{\"row\":{row},\"time\":{},{},{}}}",
        number(file.time_values.get(row).copied()),
        cell(&file.short),
        cell(&file.long)
    )
}

/// Sorted by time; of equal times the last in file order stays.
fn last_per_time(mut records: Vec<XrayObservation>) -> Vec<XrayObservation> {
    records.sort_by_key(|o| o.time); // stable: file order kept within a time
    let mut out: Vec<XrayObservation> = Vec::with_capacity(records.len());
    for record in records {
        match out.last_mut() {
            Some(last) if last.time == record.time => *last = record,
            _ => out.push(record),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_forms() {
        for (platform, n) in [
            ("g16", 16),
            ("G15", 15),
            ("GOES-18", 18),
            ("goes 13", 13),
            ("goes08", 8),
        ] {
            assert_eq!(platform_satellite(platform), Some(n), "{platform}");
        }
        for platform in ["GOES-East", "g", "g160", "16", "g00", "himawari-8"] {
            assert_eq!(platform_satellite(platform), None, "{platform}");
        }
    }
}
