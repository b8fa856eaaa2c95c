//! Three files of different eras, every region checked field by field against the text.
//!
//! Rows: (line, region, location, latitude, longitude, Lo, area, Z, LL, NN, mag code). A
//! row with Z `None` is a Section IA plage (area, LL, NN 0, no classes). Rows are listed in
//! the expected record order: ascending region number, so `source_order` is the row index.

use super::{d, sample};
use crate::sources::srs::{parse_srs, srs_file_date, SrsRegion, SrsSection};
use chrono::NaiveDate;

type Row = (
    usize,
    i32,
    &'static str,
    i32,
    i32,
    i32,
    i32,
    Option<&'static str>,
    i32,
    i32,
    Option<&'static str>,
);

fn expected(observed_date: NaiveDate, rows: &[Row]) -> Vec<SrsRegion> {
    rows.iter()
        .enumerate()
        .map(
            |(i, &(line, region, location, latitude, longitude, lo, area, z, ll, nn, mag))| {
                SrsRegion {
                    observed_date,
                    region,
                    latitude,
                    longitude,
                    location: location.to_owned(),
                    carrington_longitude: lo,
                    area,
                    spot_class: z.map(String::from),
                    extent: ll,
                    number_spots: nn,
                    mag_class: mag.map(String::from),
                    section: if z.is_some() {
                        SrsSection::Spots
                    } else {
                        SrsSection::Plage
                    },
                    line,
                    source_order: u32::try_from(i).unwrap(),
                }
            },
        )
        .collect()
}

fn check(name: &str, observed_date: NaiveDate, rows: &[Row]) {
    let parsed = parse_srs(sample(name), srs_file_date(name)).unwrap();
    assert!(parsed.rejected.is_empty(), "{name}");
    let want = expected(observed_date, rows);
    assert_eq!(parsed.records.len(), want.len(), "{name}");
    for (got, want) in parsed.records.iter().zip(&want) {
        assert_eq!(got, want, "{name} region {}", want.region);
    }
}

/// 1996: upper case, `DSI` -> `Dsi`, `BETA` -> `B`, three-digit NN (`026`).
#[rustfmt::skip]
const SRS_1996_01_06: &[Row] = &[
    // line, Nmbr, Location, lat, lon, Lo, Area, Z, LL, NN, Mag
    (15, 7935, "N11W54", 11, -54, 200, 0, None, 0, 0, None),
    (16, 7937, "S08W04", -8, -4, 150, 0, None, 0, 0, None),
    (11, 7938, "N12W41", 12, -41, 187, 270, Some("Dsi"), 9, 26, Some("B")),
    (12, 7939, "N03W08", 3, -8, 154, 140, Some("Csi"), 8, 23, Some("B")),
];

/// 2002: the week after region 10000 (`0001`), mixed case, a pre-rollover plage `9997`.
#[rustfmt::skip]
const SRS_2002_06_24: &[Row] = &[
    (11, 1, "N21W48", 21, -48, 351, 150, Some("Cko"), 5, 6, Some("B")),
    (12, 5, "N13W13", 13, -13, 316, 170, Some("Dso"), 9, 14, Some("B")),
    (22, 6, "S07W86", -7, -86, 30, 0, None, 0, 0, None),
    (23, 7, "N14W50", 14, -50, 354, 0, None, 0, 0, None),
    (13, 8, "S09E13", -9, 13, 290, 510, Some("Dki"), 10, 30, Some("BG")),
    (14, 10, "S12W13", -12, -13, 316, 20, Some("Cso"), 4, 2, Some("B")),
    (15, 11, "S12E49", -12, 49, 254, 70, Some("Dso"), 7, 7, Some("B")),
    (16, 12, "N19E20", 19, 20, 283, 10, Some("Axx"), 1, 1, Some("A")),
    (17, 13, "N04E07", 4, 7, 296, 20, Some("Bxo"), 3, 3, Some("B")),
    (18, 14, "S18E50", -18, 50, 253, 10, Some("Axx"), 1, 1, Some("A")),
    (21, 9997, "N17W72", 17, -72, 16, 0, None, 0, 0, None),
];

/// 2015: observed date in the previous year; `Beta-Gamma` -> `BG`.
#[rustfmt::skip]
const SRS_2015_01_01: &[Row] = &[
    (19, 2245, "N09W76", 9, -76, 128, 0, None, 0, 0, None),
    (11, 2246, "N19W56", 19, -56, 108, 70, Some("Hsx"), 1, 1, Some("A")),
    (20, 2247, "S19W46", -19, -46, 98, 0, None, 0, 0, None),
    (12, 2248, "S19W29", -19, -29, 81, 60, Some("Hsx"), 2, 2, Some("A")),
    (13, 2251, "S13E05", -13, 5, 47, 190, Some("Dai"), 8, 11, Some("B")),
    (14, 2252, "S20E24", -20, 24, 28, 100, Some("Cao"), 3, 2, Some("B")),
    (15, 2253, "S06E48", -6, 48, 4, 270, Some("Eac"), 11, 14, Some("BG")),
    (16, 2254, "S22E09", -22, 9, 43, 20, Some("Cso"), 3, 4, Some("B")),
];

#[test]
fn srs_1996_01_06() {
    check("19960106SRS.txt", d(1996, 1, 5), SRS_1996_01_06);
}

#[test]
fn srs_2002_06_24() {
    check("20020624SRS.txt", d(2002, 6, 23), SRS_2002_06_24);
}

#[test]
fn srs_2015_01_01() {
    check("20150101SRS.txt", d(2014, 12, 31), SRS_2015_01_01);
}

/// 2000 (all upper case): `BETA-GAMMA-DELTA` -> `BGD`, `FKC` -> `Fkc`, a limb spot `W92`.
#[test]
fn srs_2000_spot_checks() {
    let sep = parse_srs(sample("20000922SRS.txt"), None).unwrap().records;
    let r = sep.iter().find(|r| r.region == 9169).unwrap();
    assert_eq!(
        (
            r.location.as_str(),
            r.latitude,
            r.longitude,
            r.area,
            r.spot_class.as_deref(),
            r.mag_class.as_deref()
        ),
        ("N09E32", 9, 32, 1910, Some("Fkc"), Some("BGD"))
    );
    let oct = parse_srs(sample("20001001SRS.txt"), None).unwrap().records;
    let r = oct.iter().find(|r| r.region == 9169).unwrap();
    assert_eq!((r.longitude, r.spot_class.as_deref()), (-92, Some("Dko")));
}
