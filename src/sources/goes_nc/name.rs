//! NCEI archive file names: `sci_<product>_g<NN>_d<YYYYMMDD>[_<tag>...].nc`, e.g.
//! `sci_xrsf-l2-avg1m_g16_d20210101_v2-1-0.nc`. The version tag is optional because copies
//! (like the truncated test samples) replace it with another tag.

use chrono::NaiveDate;

use super::error::GoesNcError;

/// The product of the 1-minute averages, GOES-R and reprocessed GOES-13/14/15 alike.
pub const AVG1M_PRODUCT: &str = "xrsf-l2-avg1m";

/// What an avg1m archive file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveName {
    /// GOES satellite number (`g16` -> 16).
    pub satellite: i32,
    /// The UTC day the file covers.
    pub date: NaiveDate,
    /// Processing version without the `v` (`v2-1-0` -> `2-1-0`); `None` when the name has none.
    pub version: Option<String>,
}

/// Recognises an avg1m archive file name (any satellite, any version); a path is allowed, only
/// its last component counts. `None` for anything else, including other XRS products.
pub fn parse_archive_name(name: &str) -> Option<ArchiveName> {
    match split(name) {
        Some((product, archive)) if product == AVG1M_PRODUCT => Some(archive),
        _ => None,
    }
}

/// Like [`parse_archive_name`], but says why a name is refused: another product (only avg1m
/// is a backfill source) or not an archive name at all.
pub(crate) fn avg1m_name(name: &str) -> Result<ArchiveName, GoesNcError> {
    match split(name) {
        Some((product, archive)) if product == AVG1M_PRODUCT => Ok(archive),
        Some((product, _)) => Err(GoesNcError::NotAvg1m {
            what: format!("{product} ({}), per its name", describe(product)),
        }),
        None => Err(GoesNcError::UnrecognisedName {
            name: base_name(name).to_string(),
        }),
    }
}

fn describe(product: &str) -> &'static str {
    match product {
        "xrsf-l2-flx1s" => "1-second flux",
        "gxrs-l2-irrad" => "2-second irradiance",
        _ => "not the 1-minute average product",
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// Any `sci_<product>_gNN_dYYYYMMDD[_tag...].nc` -> (product, parts).
fn split(name: &str) -> Option<(&str, ArchiveName)> {
    let stem = base_name(name).strip_suffix(".nc")?;
    let mut parts = stem.split('_');
    if parts.next()? != "sci" {
        return None;
    }
    let product = parts.next().filter(|p| !p.is_empty())?;
    let satellite = parts.next()?.strip_prefix('g').and_then(number)?;
    let date = parts.next()?.strip_prefix('d').and_then(date)?;
    let mut version = None;
    for tag in parts {
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        if version.is_none() {
            version = tag.strip_prefix('v').filter(|v| is_version(v));
        }
    }
    Some((
        product,
        ArchiveName {
            satellite,
            date,
            version: version.map(str::to_string),
        },
    ))
}

/// `NN` of `gNN`: one or two digits, 1..=99.
fn number(digits: &str) -> Option<i32> {
    if !(1..=2).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

fn date(digits: &str) -> Option<NaiveDate> {
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

/// `2-1-0`, `1-0`, `3`: digit groups joined by `-`.
fn is_version(v: &str) -> bool {
    v.split('-')
        .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn avg1m_names_of_any_satellite_and_version() {
        let cases = [
            (
                "sci_xrsf-l2-avg1m_g16_d20210101_v2-1-0.nc",
                16,
                d(2021, 1, 1),
                Some("2-1-0"),
            ),
            (
                "sci_xrsf-l2-avg1m_g15_d20190102_v1-0-0.nc",
                15,
                d(2019, 1, 2),
                Some("1-0-0"),
            ),
            (
                "/data/ncei/sci_xrsf-l2-avg1m_g18_d20240229_v2-2-1.nc",
                18,
                d(2024, 2, 29),
                Some("2-2-1"),
            ),
            (
                "sci_xrsf-l2-avg1m_g08_d19990101_v10.nc",
                8,
                d(1999, 1, 1),
                Some("10"),
            ),
            (
                "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc",
                16,
                d(2021, 1, 1),
                None,
            ),
            (
                "sci_xrsf-l2-avg1m_g13_d20170901.nc",
                13,
                d(2017, 9, 1),
                None,
            ),
        ];
        for (name, satellite, date, version) in cases {
            assert_eq!(
                parse_archive_name(name),
                Some(ArchiveName {
                    satellite,
                    date,
                    version: version.map(str::to_string)
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn other_names_are_refused_with_a_reason() {
        for name in [
            "sci_xrsf-l2-flx1s_g17_d20201016_truncated.nc",
            "sci_gxrs-l2-irrad_g13_d20170901_truncated.nc",
        ] {
            assert_eq!(parse_archive_name(name), None, "{name}");
            let err = avg1m_name(name).unwrap_err().to_string();
            assert!(err.contains("only avg1m"), "{err}");
        }
        for name in [
            "goes_13_leap_second.nc",
            "sci_xrsf-l2-avg1m_g16_d20210101_v2-1-0.nc.gz",
            "sci_xrsf-l2-avg1m_g16_d20210132_v2-1-0.nc",
            "sci_xrsf-l2-avg1m_g160_d20210101.nc",
            "sci_xrsf-l2-avg1m_g00_d20210101.nc",
            "sci_xrsf-l2-avg1m_gAB_d20210101.nc",
            "sci_xrsf-l2-avg1m_g16_d2021010.nc",
            "sci_xrsf-l2-avg1m_g16_d20210101__v2.nc",
            "sci_xrsf-l2-avg1m_g16_d20210101_v2 copy.nc",
            "ops_xrsf-l2-avg1m_g16_d20210101_v2-1-0.nc",
            "",
        ] {
            assert_eq!(parse_archive_name(name), None, "{name}");
            assert!(
                matches!(avg1m_name(name), Err(GoesNcError::UnrecognisedName { .. })),
                "{name}"
            );
        }
    }
}
