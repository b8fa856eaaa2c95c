//! One data line of Section I or IA -> an [`SrsRegion`] or a reject reason.
//!
//! Columns are split on whitespace, not on fixed positions: the spacing differs between eras
//! (`7938  N12W41  187  0270 DSI  09  026 BETA` in 1996, `2246 N19W56   108  0070 Hsx  01   01
//! Alpha` in 2015) while the column order never changed.

use chrono::NaiveDate;

use crate::sources::parse_error::{RejectCode, RejectReason};

use super::fields::{bounded, location, mcintosh, number, reason};
use super::mag::mag_class_code;
use super::record::{SrsRegion, SrsSection};
use super::sections::{DataLine, Section};

/// Carrington longitude range; Section II writes 360 for 0.
const MAX_CARRINGTON: i32 = 360;

/// Parses one data line; `source_order` is assigned later, once the file's order is known.
pub(crate) fn parse_row(
    line: &DataLine<'_>,
    observed_date: NaiveDate,
) -> Result<SrsRegion, RejectReason> {
    let tokens: Vec<&str> = line.text.split_whitespace().collect();
    match line.section {
        Section::Plages => plage(&tokens, line.line, observed_date),
        _ => spots(&tokens, line.line, observed_date),
    }
}

/// `NMBR LOCATION LO AREA Z LL NN [MAG TYPE]`.
fn spots(
    tokens: &[&str],
    line: usize,
    observed_date: NaiveDate,
) -> Result<SrsRegion, RejectReason> {
    let (fixed, mag) = match tokens {
        [a, b, c, d, e, f, g] => ([*a, *b, *c, *d, *e, *f, *g], None),
        [a, b, c, d, e, f, g, m] => ([*a, *b, *c, *d, *e, *f, *g], Some(*m)),
        _ => {
            return Err(columns(
                tokens.len(),
                "7 or 8 (Nmbr Location Lo Area Z LL NN Mag Type)",
            ))
        }
    };
    let [nmbr, loc, lo, area, z, ll, nn] = fixed;
    let (latitude, longitude) = location(loc)?;
    Ok(SrsRegion {
        observed_date,
        region: number(nmbr, "region number")?,
        latitude,
        longitude,
        location: loc.to_owned(),
        carrington_longitude: bounded(lo, "Carrington longitude", MAX_CARRINGTON)?,
        area: number(area, "area")?,
        spot_class: Some(mcintosh(z)?),
        extent: number(ll, "extent")?,
        number_spots: number(nn, "number of spots")?,
        mag_class: mag.map(mag_class_code).transpose()?,
        section: SrsSection::Spots,
        line,
        source_order: 0,
    })
}

/// `NMBR LOCATION LO [COMMENT...]`: a numbered region whose spots are gone. The feed lists
/// such a region with area, extent and spot count 0 and no classes; so does this record.
fn plage(
    tokens: &[&str],
    line: usize,
    observed_date: NaiveDate,
) -> Result<SrsRegion, RejectReason> {
    let [nmbr, loc, lo, ..] = tokens else {
        return Err(columns(tokens.len(), "at least 3 (Nmbr Location Lo)"));
    };
    let (latitude, longitude) = location(loc)?;
    Ok(SrsRegion {
        observed_date,
        region: number(nmbr, "region number")?,
        latitude,
        longitude,
        location: (*loc).to_owned(),
        carrington_longitude: bounded(lo, "Carrington longitude", MAX_CARRINGTON)?,
        area: 0,
        spot_class: None,
        extent: 0,
        number_spots: 0,
        mag_class: None,
        section: SrsSection::Plage,
        line,
        source_order: 0,
    })
}

fn columns(got: usize, want: &str) -> RejectReason {
    reason(
        RejectCode::Malformed,
        format!("{got} columns, expected {want}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(1996, 1, 5).unwrap()
    }

    fn row(section: Section, text: &str) -> Result<SrsRegion, RejectReason> {
        parse_row(
            &DataLine {
                line: 7,
                section,
                text,
            },
            day(),
        )
    }

    #[test]
    fn spotted_region_all_fields() {
        let r = row(Section::Spots, "7938  N12W41  187  0270 DSI  09  026 BETA").unwrap();
        assert_eq!(
            r,
            SrsRegion {
                observed_date: day(),
                region: 7938,
                latitude: 12,
                longitude: -41,
                location: "N12W41".into(),
                carrington_longitude: 187,
                area: 270,
                spot_class: Some("Dsi".into()),
                extent: 9,
                number_spots: 26,
                mag_class: Some("B".into()),
                section: SrsSection::Spots,
                line: 7,
                source_order: 0,
            }
        );
        let no_mag = row(Section::Spots, "0001 N21W48   351  0150 Cko  05   06").unwrap();
        assert_eq!((no_mag.region, no_mag.mag_class), (1, None));
    }

    #[test]
    fn plage_has_zero_sizes_and_no_classes() {
        let p = row(Section::Plages, "7935  N11W54   200   some comment").unwrap();
        assert_eq!(
            (p.region, p.latitude, p.longitude, p.carrington_longitude),
            (7935, 11, -54, 200)
        );
        assert_eq!((p.area, p.extent, p.number_spots), (0, 0, 0));
        assert_eq!(
            (p.spot_class, p.mag_class, p.section),
            (None, None, SrsSection::Plage)
        );
    }

    #[test]
    fn each_problem_has_its_code() {
        use RejectCode::{BadClass, Malformed, OutOfRange, WrongType};
        use Section::{Plages, Spots};
        let cases = [
            (Spots, "7938 N12W41 187 0270 DSI 09", Malformed),
            (Spots, "7938 N12W41 187 0270 DSI 09 026 BETA X", Malformed),
            (Spots, "79x8 N12W41 187 0270 DSI 09 026 BETA", WrongType),
            (Spots, "7938 N12Q41 187 0270 DSI 09 026 BETA", Malformed),
            (Spots, "7938 N12W41 187 02?0 DSI 09 026 BETA", WrongType),
            (Spots, "7938 N12W41 400 0270 DSI 09 026 BETA", OutOfRange),
            (Spots, "7938 N12W41 187 0270 D5I 09 026 BETA", Malformed),
            (Spots, "7938 N12W41 187 0270 DSI 09 026 BETTA", BadClass),
            (Plages, "7935 N11W54", Malformed),
            (Plages, "7935 N11W54 3600", OutOfRange),
        ];
        for (section, text, want) in cases {
            assert_eq!(row(section, text).unwrap_err().code, want, "{text}");
        }
    }
}
