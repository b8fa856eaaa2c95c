//! Archive files as feed payloads: which format a file is in (by its name), which UTC day of
//! data it holds, which feed its records belong to, and parsing by (kind, format).
//!
//! Formats: the SWPC JSON the live feeds serve (recorded files), NCEI's GOES XRS 1-minute
//! averages (`sci_xrsf-l2-avg1m_gNN_dYYYYMMDD_vX-Y-Z.nc`, [`super::goes_nc`]) and SWPC's Solar
//! Region Summaries (`YYYYMMDDSRS.txt`, [`super::srs`]). Each may be gzipped (`.gz`).
//!
//! The data day: a GOES file's name day; an SRS file's name day minus one (the SRS issued on
//! D describes D-1, which is the feed's `observed_date`).

use std::sync::OnceLock;

use chrono::NaiveDate;

use crate::domain::{Records, XrayFeed};

use super::config::{SatellitePeriod, SourcesConfig};
use super::goes_nc::{self, GoesNcError};
use super::srs::{self, SrsError};
use super::{parse_payload, ParsedPayload, PayloadError, SourceKind};

/// How a recorded or archive file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A JSON array as the live SWPC/DONKI endpoints serve it.
    Json,
    /// NCEI GOES XRS L2 1-minute averages, netCDF-4.
    GoesAvg1m,
    /// SWPC Solar Region Summary text.
    Srs,
}

impl Format {
    /// Short name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::GoesAvg1m => "goes-avg1m",
            Format::Srs => "srs",
        }
    }
}

/// What an archive file's name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveName {
    pub format: Format,
    /// The UTC day whose data the file holds.
    pub day: NaiveDate,
    /// GOES satellite number (GOES files only).
    pub satellite: Option<u8>,
}

/// Recognises a GOES avg1m or SRS archive name (a path is fine; `.gz` allowed). `None` for
/// anything else, including other GOES products (1-s, 2-s files are not feed data).
pub fn archive_name(name: &str) -> Option<ArchiveName> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let plain = strip_gz(base);
    if let Some(goes) = goes_nc::parse_archive_name(plain) {
        return Some(ArchiveName {
            format: Format::GoesAvg1m,
            day: goes.date,
            satellite: u8::try_from(goes.satellite).ok(),
        });
    }
    let issued = srs::srs_file_date(base)?;
    Some(ArchiveName {
        format: Format::Srs,
        day: srs::observed_date(issued)?,
        satellite: None,
    })
}

fn strip_gz(name: &str) -> &str {
    let n = name.len();
    if n > 3 && name[n - 3..].eq_ignore_ascii_case(".gz") {
        &name[..n - 3]
    } else {
        name
    }
}

/// Which archive satellite feeds the primary and the secondary X-ray feed on a day, and
/// whether the secondary is stored at all (the live rule: only with a secondary URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XraySelection {
    periods: Vec<SatellitePeriod>,
    keep_secondary: bool,
}

impl XraySelection {
    /// From `[sources.archive]` and `[sources.xray]` (`secondary_url` set: keep the secondary).
    pub fn from_config(sources: &SourcesConfig) -> XraySelection {
        XraySelection {
            periods: sources.archive.xray_satellites.clone(),
            keep_secondary: !sources.xray.secondary_url.trim().is_empty(),
        }
    }

    /// The feed of `satellite`'s file for `day`; `None`: not read (neither primary nor a kept
    /// secondary that day, or a day before the first period).
    pub fn feed(&self, satellite: u8, day: NaiveDate) -> Option<XrayFeed> {
        let period = self.periods.iter().rev().find(|p| p.from <= day)?;
        if period.primary == satellite {
            Some(XrayFeed::Primary)
        } else if self.keep_secondary && period.secondary == Some(satellite) {
            Some(XrayFeed::Secondary)
        } else {
            None
        }
    }

    /// The feed kind of an archive file, `None` for a GOES file that is not read that day.
    pub fn kind_of(&self, name: &ArchiveName) -> Option<SourceKind> {
        match name.format {
            Format::GoesAvg1m => name
                .satellite
                .and_then(|s| self.feed(s, name.day))
                .map(SourceKind::Xrays),
            Format::Srs => Some(SourceKind::Regions),
            Format::Json => None,
        }
    }
}

/// The selection of this process's configuration, once `main` has loaded it.
static PROCESS_SELECTION: OnceLock<XraySelection> = OnceLock::new();

/// Makes `selection` what [`XraySelection::default`] gives in this process (`main` calls it
/// with the loaded configuration, so `detect`, `features batch` and `replay` follow
/// `[sources.archive]`). Only the first call counts.
pub fn use_selection(selection: XraySelection) {
    let _ = PROCESS_SELECTION.set(selection);
}

impl Default for XraySelection {
    /// The process's configured selection ([`use_selection`]), else the embedded default's.
    fn default() -> XraySelection {
        PROCESS_SELECTION
            .get()
            .cloned()
            .unwrap_or_else(|| XraySelection::from_config(&SourcesConfig::default()))
    }
}

/// Why a file could not be parsed as a whole: the error of its format's reader.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Json(#[from] PayloadError),
    #[error("not a usable GOES XRS avg1m file: {0}")]
    Goes(#[from] GoesNcError),
    #[error("not a usable SRS file: {0}")]
    Srs(#[from] SrsError),
    #[error("a {format} file cannot hold {kind} records")]
    KindMismatch {
        format: &'static str,
        kind: &'static str,
    },
}

/// Parses one file's (decompressed) bytes by its kind and format: the one place a parser is
/// chosen for recorded and archive files. `name` is the file's name (archive readers check
/// it against the content).
pub fn parse_file(
    kind: SourceKind,
    format: Format,
    name: &str,
    bytes: &[u8],
) -> Result<ParsedPayload, FormatError> {
    let plain = strip_gz(name.rsplit(['/', '\\']).next().unwrap_or(name));
    match (format, kind) {
        (Format::Json, kind) => Ok(parse_payload(kind, bytes)?),
        (Format::GoesAvg1m, SourceKind::Xrays(feed)) => {
            let parsed = goes_nc::parse_goes_avg1m(bytes, plain, feed)?;
            Ok(ParsedPayload {
                records: Records::Xrays(parsed.records),
                rejected: parsed.rejected,
            })
        }
        (Format::Srs, SourceKind::Regions) => {
            let parsed = srs::parse_srs_observations(bytes, srs::srs_file_date(plain))?;
            Ok(ParsedPayload {
                records: Records::Regions(parsed.records),
                rejected: parsed.rejected,
            })
        }
        (format, kind) => Err(FormatError::KindMismatch {
            format: format.as_str(),
            kind: kind.source(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn names_give_format_day_and_satellite() {
        let goes = archive_name("2024/05/sci_xrsf-l2-avg1m_g16_d20240501_v2-2-0.nc").unwrap();
        assert_eq!(
            goes,
            ArchiveName {
                format: Format::GoesAvg1m,
                day: day("2024-05-01"),
                satellite: Some(16)
            }
        );
        let srs = archive_name("20150101SRS.txt.gz").unwrap();
        assert_eq!((srs.format, srs.day), (Format::Srs, day("2014-12-31")));
        assert_eq!(
            archive_name("sci_xrsf-l2-flx1s_g17_d20201016_v2-2-0.nc"),
            None
        );
        assert_eq!(archive_name("xrays.json"), None);
        assert_eq!(archive_name("index.html"), None);
    }

    #[test]
    fn the_default_selection_follows_swpc_and_the_secondary_rule() {
        let mut sources = SourcesConfig::default();
        let selection = XraySelection::from_config(&sources);
        assert_eq!(
            selection.feed(16, day("2021-01-01")),
            Some(XrayFeed::Primary)
        );
        assert_eq!(
            selection.feed(15, day("2019-12-09")),
            Some(XrayFeed::Primary)
        );
        assert_eq!(selection.feed(16, day("2019-12-09")), None);
        // No secondary URL (the default): the secondary satellite is not stored.
        assert_eq!(selection.feed(18, day("2024-05-01")), None);
        assert_eq!(
            selection.feed(15, day("2009-01-01")),
            None,
            "before the table"
        );
        sources.xray.secondary_url = "https://example.invalid/secondary.json".into();
        let with_secondary = XraySelection::from_config(&sources);
        assert_eq!(
            with_secondary.feed(18, day("2024-05-01")),
            Some(XrayFeed::Secondary)
        );
        assert_eq!(with_secondary.feed(17, day("2024-05-01")), None);
    }
}
