//! The low-level reader: one GOES XRS netCDF file -> times, both bands' fluxes and flags, as
//! stored (no quality rule applied). Reads every NCEI XRS product this project has seen:
//! GOES-R and reprocessed GOES-13/15 1-minute averages (`xrsa_flux`/`xrsa_flag`), GOES-R 1-s
//! flux (`xrsa_flux`/`xrsa_flags`) and GOES-13/15 2-s irradiance (`a_flux`/`a_flags`).

use std::path::Path;

use chrono::{DateTime, Utc};
use netcdf_reader::{NcFile, NcVariable};

use super::column::{self, text, text_attr};
use super::error::GoesNcError;
use super::flags::FlagSpec;
use super::open::open_bytes;
use super::units::TimeUnits;

/// Accepted flux variable of the short band (XRS-A, 0.05-0.4 nm) and its flag variables.
const SHORT_BAND: &[(&str, &[&str])] = &[
    ("xrsa_flux", &["xrsa_flag", "xrsa_flags"]),
    ("a_flux", &["a_flags"]),
];
/// Same for the long band (XRS-B, 0.1-0.8 nm).
const LONG_BAND: &[(&str, &[&str])] = &[
    ("xrsb_flux", &["xrsb_flag", "xrsb_flags"]),
    ("b_flux", &["b_flags"]),
];

/// Flux units accepted (NCEI writes `W/m2`); any other stated unit is refused.
const FLUX_UNITS: &[&str] = &["W/m2", "W/m^2", "W m-2", "W m^-2", "W.m-2"];
/// Calendars in which a day has 86,400 s and dates after 1582 are the usual ones.
const CALENDARS: &[&str] = &["standard", "gregorian", "proleptic_gregorian"];

/// One file's rows as stored. All vectors have [`XrsFile::rows`] entries, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct XrsFile {
    /// Global `platform` attribute (e.g. `g16`), trimmed; `None` when absent or blank.
    pub platform: Option<String>,
    /// Global `time_coverage_resolution` (ISO 8601 duration, `PT1M` for avg1m files).
    pub time_coverage_resolution: Option<String>,
    /// The time variable's `units` attribute, as stored.
    pub time_units: String,
    /// The stored time values, in `time_units`.
    pub time_values: Vec<f64>,
    /// `time_values` converted to UTC (microsecond precision); `None` for fill, NaN or out of
    /// range values.
    pub times: Vec<Option<DateTime<Utc>>>,
    /// XRS-A, 0.05-0.4 nm (the live feed's "short" band).
    pub short: XrsBand,
    /// XRS-B, 0.1-0.8 nm (the live feed's "long" band).
    pub long: XrsBand,
}

impl XrsFile {
    /// Number of rows (time steps).
    pub fn rows(&self) -> usize {
        self.times.len()
    }
}

/// One band: its flux and flag columns and the flag variable's decoded attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct XrsBand {
    /// Name of the flux variable read (`xrsa_flux`, `a_flux`, ...).
    pub flux_variable: String,
    /// Flux in W/m^2, float32 widened exactly to f64; `None` where the value equals the
    /// variable's fill value or is NaN.
    pub flux: Vec<Option<f64>>,
    /// Name of the flag variable read (`xrsa_flag`, `xrsa_flags`, `a_flags`).
    pub flag_variable: String,
    /// Flag values; `None` where the value equals the flag variable's fill value (or is NaN).
    pub flags: Vec<Option<u64>>,
    /// The flag variable's `flag_meanings` / `flag_masks` / `flag_values`.
    pub flag_spec: FlagSpec,
}

/// Reads a file held in memory (a download). Never panics on malformed input.
pub fn read_xrs(bytes: &[u8]) -> Result<XrsFile, GoesNcError> {
    let file = open_bytes(bytes)?;
    let global = |name: &str| {
        file.global_attribute(name)
            .ok()
            .and_then(|a| text(&a.value))
            .filter(|s| !s.is_empty())
    };
    let platform = global("platform");
    let time_coverage_resolution = global("time_coverage_resolution");

    let time_var = column::find(&file, &["time"])?;
    let rows = column::rows_1d(time_var)?;
    let time_dim = time_var
        .dimensions()
        .first()
        .map(|d| d.name.clone())
        .unwrap_or_default();
    let (time_units, units) = time_units(time_var)?;
    let time_values = column::read_numbers(&file, time_var, rows)?;
    let times = column::mask_fill(time_values.clone(), column::fill_value(time_var))
        .into_iter()
        .map(|v| v.and_then(|v| units.to_utc(v)))
        .collect();

    Ok(XrsFile {
        platform,
        time_coverage_resolution,
        time_units,
        time_values,
        times,
        short: read_band(&file, SHORT_BAND, &time_dim, rows)?,
        long: read_band(&file, LONG_BAND, &time_dim, rows)?,
    })
}

/// Reads a file from disk (the whole file is read into memory first).
pub fn read_xrs_path(path: &Path) -> Result<XrsFile, GoesNcError> {
    let bytes = std::fs::read(path).map_err(|e| GoesNcError::Io {
        detail: e.to_string(),
    })?;
    read_xrs(&bytes)
}

fn time_units(var: &NcVariable) -> Result<(String, TimeUnits), GoesNcError> {
    let units = text_attr(var, "units").ok_or_else(|| GoesNcError::MissingAttribute {
        variable: var.name().to_string(),
        attribute: "units".into(),
    })?;
    let bad = |detail: String| GoesNcError::BadUnits {
        variable: var.name().to_string(),
        units: units.clone(),
        detail,
    };
    if let Some(calendar) = text_attr(var, "calendar") {
        if !CALENDARS.contains(&calendar.to_ascii_lowercase().as_str()) {
            return Err(bad(format!("calendar {calendar:?} is not supported")));
        }
    }
    let parsed = TimeUnits::parse(&units).map_err(bad)?;
    Ok((units, parsed))
}

fn read_band(
    file: &NcFile,
    candidates: &[(&str, &[&str])],
    time_dim: &str,
    rows: usize,
) -> Result<XrsBand, GoesNcError> {
    let flux_names: Vec<&str> = candidates.iter().map(|(flux, _)| *flux).collect();
    let flux_var = column::find(file, &flux_names)?;
    let flag_names = candidates
        .iter()
        .find(|(flux, _)| *flux == flux_var.name())
        .map(|(_, flags)| *flags)
        .unwrap_or_default();
    let flag_var = column::find(file, flag_names)?;

    column::check_along_time(flux_var, time_dim, rows)?;
    column::check_along_time(flag_var, time_dim, rows)?;
    if let Some(units) = text_attr(flux_var, "units") {
        if !FLUX_UNITS.contains(&units.as_str()) {
            return Err(GoesNcError::BadUnits {
                variable: flux_var.name().to_string(),
                units,
                detail: format!("flux must be in W/m2 (one of {FLUX_UNITS:?})"),
            });
        }
    }
    let flux = column::mask_fill(
        column::read_floats(file, flux_var, rows)?,
        column::fill_value(flux_var),
    );
    let flag_spec = flag_spec(flag_var)?;
    let flags = column::mask_fill(
        column::read_numbers(file, flag_var, rows)?,
        column::fill_value(flag_var),
    )
    .into_iter()
    .enumerate()
    .map(|(row, v)| v.map(|v| flag_integer(flag_var, row, v)).transpose())
    .collect::<Result<_, _>>()?;

    Ok(XrsBand {
        flux_variable: flux_var.name().to_string(),
        flux,
        flag_variable: flag_var.name().to_string(),
        flags,
        flag_spec,
    })
}

fn flag_spec(var: &NcVariable) -> Result<FlagSpec, GoesNcError> {
    let meanings =
        text_attr(var, "flag_meanings").ok_or_else(|| GoesNcError::MissingAttribute {
            variable: var.name().to_string(),
            attribute: "flag_meanings".into(),
        })?;
    FlagSpec::from_attributes(
        &meanings,
        var.attribute("flag_masks").map(|a| &a.value),
        var.attribute("flag_values").map(|a| &a.value),
    )
    .map_err(|detail| GoesNcError::BadFlagAttributes {
        variable: var.name().to_string(),
        detail,
    })
}

/// Flags are integers; the leap-second file stores them as doubles, which must be integral.
fn flag_integer(var: &NcVariable, row: usize, value: f64) -> Result<u64, GoesNcError> {
    if value.fract() == 0.0 && (0.0..9.0e15).contains(&value) {
        Ok(value as u64)
    } else {
        Err(GoesNcError::BadFlagValue {
            variable: var.name().to_string(),
            row,
            value: value.to_string(),
        })
    }
}
