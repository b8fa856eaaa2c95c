//! The avg1m backfill parser: real samples give the live feed's record shape; the generated
//! full-day file exercises the flag rule; names, satellites and days are cross-checked.

mod goes_nc_support;

use chrono::{DateTime, NaiveDateTime, Utc};
use flare_plus::domain::{DataQuality, XrayFeed, XrayObservation};
use flare_plus::sources::goes_nc::{parse_goes_avg1m, parse_goes_avg1m_path, GoesNcError};
use flare_plus::sources::RejectCode;
use goes_nc_support::{archive, bytes, generated, Csv};

const G16: &str = "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc";
const G15: &str = "sci_xrsf-l2-avg1m_g15_d20190102_truncated.nc";
const DAY: &str = "sci_xrsf-l2-avg1m_g16_d20240501_v2-1-0.nc";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn parse_sample(name: &str, feed: XrayFeed) -> Vec<XrayObservation> {
    let parsed = parse_goes_avg1m(&bytes(&archive(name)), name, feed)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
    parsed.records
}

#[test]
fn goes16_sample_gives_live_feed_records() {
    let records = parse_sample(G16, XrayFeed::Primary);
    assert_eq!(records.len(), 100);
    assert_eq!(
        records[0],
        XrayObservation {
            feed: XrayFeed::Primary,
            time: t("2021-01-01T22:20:00Z"),
            satellite: Some(16),
            flux_short: Some(8.050577982032792e-09),
            flux_long: Some(4.033613620890719e-08),
            // xrsa_flag 4 = e_contam_significant, xrsb_flag 0.
            electron_contamination_short: Some(true),
            electron_contamination_long: Some(false),
        }
    );
    let last = records.last().unwrap();
    assert_eq!(last.time, t("2021-01-01T23:59:00Z"));
    assert_eq!(last.flux_short, Some(1.4166888107070008e-08));
    assert_eq!(last.flux_long, Some(4.434278721987539e-08));
    assert_eq!(last.electron_contamination_short, Some(false));
    assert_eq!(last.natural_key(), "xrs:primary:2021-01-01T23:59:00Z");
    assert!(records
        .iter()
        .all(|r| r.data_quality() == DataQuality::Good));
    assert!(records
        .windows(2)
        .all(|w| w[1].time - w[0].time == chrono::TimeDelta::minutes(1)));
}

/// Every record equals the h5py reference row (no value in the sample is flagged bad).
#[test]
fn goes16_sample_equals_reference_rows() {
    let records = parse_sample(G16, XrayFeed::Secondary);
    let reference = Csv::read(&archive("sci_xrsf-l2-avg1m_g16_d20210101_truncated.csv"));
    let col = |name| reference.column(name).unwrap();
    for (record, row) in records.iter().zip(&reference.rows) {
        let time = NaiveDateTime::parse_from_str(&row[col("time")], "%Y-%m-%dT%H:%M:%S%.3f")
            .unwrap()
            .and_utc();
        assert_eq!(record.time, time);
        assert_eq!(record.feed, XrayFeed::Secondary);
        assert_eq!(
            record.flux_short,
            Some(row[col("xrsa_flux")].parse().unwrap())
        );
        assert_eq!(
            record.flux_long,
            Some(row[col("xrsb_flux")].parse().unwrap())
        );
        let contaminated = |flag: &str| match flag {
            "0" => false,
            "4" => true,
            other => panic!("unexpected flag {other} in the sample"),
        };
        assert_eq!(
            record.electron_contamination_short,
            Some(contaminated(&row[col("xrsa_flag")]))
        );
        assert_eq!(
            record.electron_contamination_long,
            Some(contaminated(&row[col("xrsb_flag")]))
        );
    }
    assert_eq!(records.len(), reference.rows.len());
}

#[test]
fn goes15_sample_keeps_electron_correction_invalid_rows() {
    let records = parse_sample(G15, XrayFeed::Primary);
    assert_eq!(records.len(), 51);
    let first = &records[0];
    assert_eq!(first.time, t("2019-01-02T00:00:00Z"));
    assert_eq!(first.satellite, Some(15));
    assert_eq!(first.flux_short, Some(9.999999717180685e-10));
    assert_eq!(first.flux_long, Some(3.0768788406021486e-08));
    // GOES-13/15 flags have no e_contam_significant: unknown, not false.
    assert!(records.iter().all(
        |r| r.electron_contamination_short.is_none() && r.electron_contamination_long.is_none()
    ));
    assert_eq!(records[50].time, t("2019-01-02T00:50:00Z"));
    assert_eq!(records[50].flux_long, Some(2.0516289112038066e-08));
}

#[test]
fn path_and_bytes_agree() {
    let from_path = parse_goes_avg1m_path(&archive(G16), XrayFeed::Primary).unwrap();
    let from_bytes = parse_goes_avg1m(&bytes(&archive(G16)), G16, XrayFeed::Primary).unwrap();
    assert_eq!(from_path, from_bytes);
}

/// The generated full day (tools/gen_goes_avg1m.py, input CSV beside it) with every flag case.
#[test]
fn generated_day_applies_the_flag_rule() {
    let parsed = parse_goes_avg1m(&bytes(&generated(DAY)), DAY, XrayFeed::Primary).unwrap();
    let records = &parsed.records;
    assert_eq!(
        records.len(),
        1440,
        "one record per row, fill rows included"
    );
    let at = |hhmm: &str| {
        records
            .iter()
            .find(|r| r.time == t(&format!("2024-05-01T{hhmm}:00Z")))
            .unwrap()
    };
    let f32_of = |x: f64| Some(f64::from(x as f32));

    // Untouched minute: values are the input's float32, flags 0.
    let plain = at("00:09");
    assert_eq!(
        (plain.flux_short, plain.flux_long),
        (f32_of(1.14864e-08), f32_of(3.03098e-07))
    );
    assert_eq!(plain.electron_contamination_long, Some(false));

    // 00:10 long eclipse -> dropped, data_quality missing.
    assert_eq!(at("00:10").flux_long, None);
    assert_eq!(at("00:10").flux_short, f32_of(1.10009e-08));
    assert_eq!(at("00:10").data_quality(), DataQuality::Missing);
    // 00:11 short bad_data -> dropped, long kept.
    assert_eq!(at("00:11").flux_short, None);
    assert_eq!(at("00:11").data_quality(), DataQuality::Good);
    // 00:12 short eclipse + contamination -> dropped, contamination still reported.
    assert_eq!(at("00:12").flux_short, None);
    assert_eq!(at("00:12").electron_contamination_short, Some(true));
    // 00:13 contamination only, 00:14 correction invalid, 00:15 interpolated: kept.
    assert_eq!(at("00:13").flux_long, f32_of(3.09987e-07));
    assert_eq!(at("00:13").electron_contamination_long, Some(true));
    assert_eq!(at("00:14").flux_long, f32_of(3.24813e-07));
    assert_eq!(at("00:14").electron_contamination_long, Some(false));
    assert_eq!(at("00:15").flux_long, f32_of(3.23332e-07));
    // 00:16 fill values and fill flags; 00:22 absent from the input (fill row).
    for hhmm in ["00:16", "00:22"] {
        let r = at(hhmm);
        assert_eq!((r.flux_short, r.flux_long), (None, None), "{hhmm}");
        assert_eq!(r.electron_contamination_short, None, "{hhmm}");
        assert_eq!(r.data_quality(), DataQuality::Missing, "{hhmm}");
    }
    // 00:17 negative kept and flagged.
    assert_eq!(at("00:17").flux_long, f32_of(-2e-9));
    assert!(at("00:17").nonpositive_long());
    // 00:18 implausible, 00:20 infinite: rejected band, other band kept.
    assert_eq!(at("00:18").flux_long, None);
    assert_eq!(at("00:18").flux_short, f32_of(1.09309e-08));
    assert_eq!(at("00:20").flux_long, None);
    // 00:19 NaN -> missing, not rejected.
    assert_eq!(at("00:19").flux_short, None);
    assert_eq!(at("00:19").flux_long, f32_of(3.05548e-07));
    // 00:21 eclipse + bad_data; 00:23 fill flux with a good flag.
    assert_eq!(at("00:21").flux_long, None);
    assert_eq!(at("00:23").flux_short, None);
    assert_eq!(at("00:23").electron_contamination_short, Some(false));

    let codes: Vec<_> = parsed.rejected.iter().map(|r| r.reason.code).collect();
    assert_eq!(codes, vec![RejectCode::OutOfRange, RejectCode::NotFinite]);
    assert!(
        parsed.rejected[0].raw.contains("\"row\":18"),
        "{}",
        parsed.rejected[0].raw
    );
    assert!(
        parsed.rejected[0].reason.detail.contains("xrsb_flux 5e-1"),
        "{}",
        parsed.rejected[0].reason.detail
    );
}

/// Everything else in the generated day equals its input CSV, widened from float32.
#[test]
fn generated_day_equals_its_input_elsewhere() {
    let parsed = parse_goes_avg1m(&bytes(&generated(DAY)), DAY, XrayFeed::Primary).unwrap();
    let input = Csv::read(&generated("sci_xrsf-l2-avg1m_g16_d20240501_v2-1-0.csv"));
    let mut checked = 0;
    for row in &input.rows {
        let time = t(&row[0]);
        if time < t("2024-05-01T00:30:00Z") {
            continue; // the edited minutes, checked above
        }
        let record = parsed.records.iter().find(|r| r.time == time).unwrap();
        let value = |cell: &str| Some(f64::from(cell.parse::<f64>().unwrap() as f32));
        assert_eq!(record.flux_short, value(&row[1]), "{time}");
        assert_eq!(record.flux_long, value(&row[2]), "{time}");
        assert_eq!(
            record.electron_contamination_short,
            Some(row[3] == "4"),
            "{time}"
        );
        assert_eq!(
            record.electron_contamination_long,
            Some(row[4] == "4"),
            "{time}"
        );
        checked += 1;
    }
    assert_eq!(checked, 1440 - 30);
}

#[test]
fn non_avg1m_products_are_refused() {
    for name in [
        "sci_xrsf-l2-flx1s_g17_d20201016_truncated.nc",
        "sci_gxrs-l2-irrad_g13_d20170901_truncated.nc",
    ] {
        let err = parse_goes_avg1m(&bytes(&archive(name)), name, XrayFeed::Primary).unwrap_err();
        assert!(matches!(err, GoesNcError::NotAvg1m { .. }), "{name}: {err}");
        assert!(err
            .to_string()
            .starts_with("only avg1m (1-minute average) files are a backfill source"));
    }
    // Renamed to an avg1m name, the content still gives them away.
    let flx1s = bytes(&archive("sci_xrsf-l2-flx1s_g17_d20201016_truncated.nc"));
    let err = parse_goes_avg1m(
        &flx1s,
        "sci_xrsf-l2-avg1m_g17_d20201016_v2-1-0.nc",
        XrayFeed::Primary,
    )
    .unwrap_err();
    assert!(err.to_string().contains("xrsa_flags"), "{err}");
    let irrad = bytes(&archive("sci_gxrs-l2-irrad_g13_d20170901_truncated.nc"));
    let err = parse_goes_avg1m(
        &irrad,
        "sci_xrsf-l2-avg1m_g13_d20170901_v1-0-0.nc",
        XrayFeed::Primary,
    )
    .unwrap_err();
    assert!(matches!(err, GoesNcError::NotAvg1m { .. }), "{err}");

    let leap = bytes(&archive("goes_13_leap_second.nc"));
    let err = parse_goes_avg1m(&leap, "goes_13_leap_second.nc", XrayFeed::Primary).unwrap_err();
    assert!(matches!(err, GoesNcError::UnrecognisedName { .. }), "{err}");
}

#[test]
fn name_and_content_must_agree() {
    let g16 = bytes(&archive(G16));
    let err = parse_goes_avg1m(
        &g16,
        "sci_xrsf-l2-avg1m_g16_d20210102_v2-1-0.nc",
        XrayFeed::Primary,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "row 0 has time 2021-01-01T22:20:00Z, outside the day 2021-01-02 given by the file name"
    );
    let err = parse_goes_avg1m(
        &g16,
        "sci_xrsf-l2-avg1m_g17_d20210101_v2-1-0.nc",
        XrayFeed::Primary,
    )
    .unwrap_err();
    assert_eq!(
        err,
        GoesNcError::SatelliteMismatch {
            name: 17,
            platform: "g16".into()
        }
    );
    // The day before: every row is after the named day.
    let err = parse_goes_avg1m(
        &g16,
        "sci_xrsf-l2-avg1m_g16_d20201231_v2-1-0.nc",
        XrayFeed::Primary,
    )
    .unwrap_err();
    assert!(
        matches!(err, GoesNcError::DateMismatch { row: 0, .. }),
        "{err}"
    );
}

#[test]
fn missing_variable_is_named() {
    let broken = bytes(&generated("missing_xrsb_flux.nc"));
    let err = parse_goes_avg1m(&broken, DAY, XrayFeed::Primary).unwrap_err();
    assert_eq!(
        err,
        GoesNcError::MissingVariable {
            expected: "xrsb_flux or b_flux".into()
        }
    );
    assert_eq!(err.to_string(), "missing variable xrsb_flux or b_flux");
}
