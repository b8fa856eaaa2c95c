//! Parsers on the sample-30d fixture against the dataset manifest and flare-plus's stored
//! X-ray defects (golden/xray_flux_db_defects.csv).

mod support;

use std::collections::BTreeMap;

use flare_plus::domain::{DataQuality, XrayFeed};
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_regions::parse_regions;
use flare_plus::sources::swpc_xray::{parse_xrays, parse_xrays_reader};

use support::*;

#[test]
fn xrays_pair_into_one_observation_per_minute() {
    let text = xray_json();
    let parsed = parse_xrays(&text, XrayFeed::Primary).unwrap();
    assert!(parsed.rejected.is_empty());
    // 43,200 minutes minus 209 gap minutes (manifest.json).
    assert_eq!(parsed.records.len(), 42_991);
    assert!(parsed.records.windows(2).all(|w| w[0].time < w[1].time));
    assert!(parsed.records.iter().all(|o| o.feed == XrayFeed::Primary));

    let gz = std::fs::read(fixture_dir().join("xrays.json.gz")).unwrap();
    let streamed =
        parse_xrays_reader(flate2::read::GzDecoder::new(&gz[..]), XrayFeed::Primary).unwrap();
    assert_eq!(streamed, parsed);
}

/// Every defect row flare-plus stored (missing band as NaN, negative flux, data_quality
/// missing) is exactly our set of observations with a `None` band or a negative flux, with
/// the same values. Where flare-plus wrote satellite 'NaN' (short band absent, spec 2.2) we
/// keep the long band's satellite (PARITY-ingest.md).
#[test]
fn defects_match_flare_plus_rows() {
    let parsed = parse_xrays(&xray_json(), XrayFeed::Primary).unwrap();
    let ours: BTreeMap<_, _> = parsed
        .records
        .iter()
        .filter(|o| o.flux_short.is_none_or(|f| f < 0.0) || o.flux_long.is_none_or(|f| f < 0.0))
        .map(|o| (o.time, o))
        .collect();
    let golden = golden_rows("xray_flux_db_defects.csv");
    assert_eq!(golden.len(), 24);
    assert_eq!(ours.len(), golden.len());
    for row in &golden {
        let time = golden_time(&row["timestamp"]);
        let obs = ours
            .get(&time)
            .unwrap_or_else(|| panic!("no defect at {time}"));
        assert_eq!(obs.flux_short, golden_opt_f64(&row["flux_short"]), "{time}");
        assert_eq!(obs.flux_long, golden_opt_f64(&row["flux_long"]), "{time}");
        let quality = match row["data_quality"].as_str() {
            "good" => DataQuality::Good,
            _ => DataQuality::Missing,
        };
        assert_eq!(obs.data_quality(), quality, "{time}");
        match row["satellite"].as_str() {
            "16.0" => assert_eq!(obs.satellite, Some(16)),
            "NaN" => {
                assert_eq!(obs.flux_short, None);
                assert_eq!(obs.satellite, Some(16), "taken from the long band");
            }
            other => panic!("unexpected satellite {other}"),
        }
    }
}

#[test]
fn regions_parse_all_records_in_payload_order() {
    let parsed = parse_regions(&read_fixture("solar_regions.json")).unwrap();
    assert!(parsed.rejected.is_empty());
    assert_eq!(parsed.records.len(), 297);
    assert!(parsed
        .records
        .iter()
        .enumerate()
        .all(|(i, r)| r.source_order as usize == i));
    let first = &parsed.records[0];
    assert_eq!(first.region_number, 3743);
    assert_eq!(first.timestamp, golden_time("2024-05-30T00:00:00"));
    assert_eq!(first.mcintosh_class.as_deref(), Some("Dkc"));
    assert_eq!(first.mount_wilson_class.as_deref(), Some("BG"));
    assert_eq!((first.area, first.num_sunspots), (Some(580), Some(39)));
    assert_eq!(
        (first.latitude, first.longitude),
        (Some(-23.0), Some(-47.0))
    );
    let null_mag = parsed
        .records
        .iter()
        .filter(|r| r.mount_wilson_class.is_none())
        .count();
    assert_eq!(null_mag, 9);
}

#[test]
fn donki_parses_all_flares() {
    let parsed = parse_donki_flares(&read_fixture("donki_flares.json")).unwrap();
    assert!(parsed.rejected.is_empty());
    assert_eq!(parsed.records.len(), 70);
    let first = &parsed.records[0];
    assert_eq!(
        first.external_id.as_deref(),
        Some("2024-05-01T06:48:00-FLR-001")
    );
    assert_eq!(first.start_time, golden_time("2024-05-01T06:48:00"));
    assert_eq!(first.peak_time, golden_time("2024-05-01T07:03:00"));
    assert_eq!(first.end_time, Some(golden_time("2024-05-01T08:00:00")));
    assert_eq!(first.flare_class, "C6.3");
    assert_eq!(first.class_magnitude, 6.3);
    assert_eq!(first.active_region, Some(13716));
    assert_eq!(first.location.as_deref(), Some("S29E34"));
    assert!(parsed.records.iter().all(|f| f.verified));
}
