//! Helpers shared by the integration tests: where the fixtures live, golden-file readers, and
//! the sample parsed with the real parsers, detector and flare_events model (the same chain
//! as `flare-plus features batch`).
#![allow(dead_code)] // each test binary uses a different subset

pub mod archive_server;
pub mod db;
pub mod live;
pub mod naive;
pub mod parity;
pub mod procs;
pub mod secure;
pub mod stream;
pub mod synth;
pub mod vectors;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDateTime, Utc};
use flare_plus::detect::{detect_flares_in_observations, MergeRule};
use flare_plus::domain::{FlareCategory, FlareEvent, RegionObservation, XrayFeed, XrayObservation};
use flare_plus::flare_events::materialize;
use flare_plus::profile::Profile;
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_regions::parse_regions;
use flare_plus::sources::swpc_xray::parse_xrays;

/// The sample-30d fixture directory (the one place that knows where fixtures live).
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-30d")
}

/// A fixture file's bytes, gunzipped when the name ends in `.gz`.
pub fn read_fixture(name: &str) -> Vec<u8> {
    read_maybe_gz(&fixture_dir().join(name))
}

/// A file's bytes, gunzipped when its name ends in `.gz`.
pub fn read_maybe_gz(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .expect("gunzip fixture");
        out
    } else {
        bytes
    }
}

/// A fixture file as text (gunzipped when `.gz`).
pub fn read_text(name: &str) -> String {
    String::from_utf8(read_fixture(name)).expect("fixture is UTF-8")
}

/// `xrays.json.gz`, decompressed.
pub fn xray_json() -> Vec<u8> {
    read_fixture("xrays.json.gz")
}

/// Bit-level equality of two rows (NaN == NaN when the bits match; an integer cell equals
/// the number with the same value).
pub fn same_bits(a: &[flare_plus::features::Cell], b: &[flare_plus::features::Cell]) -> bool {
    use flare_plus::features::Cell;
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (x, y) {
            (Cell::Num(p), Cell::Num(q)) => p.to_bits() == q.to_bits(),
            (Cell::Int(i), Cell::Num(q)) | (Cell::Num(q), Cell::Int(i)) => {
                (*i as f64).to_bits() == q.to_bits()
            }
            _ => x == y,
        })
}

/// Golden timestamps are naive UTC ISO text (`2024-05-21T00:00:00`).
pub fn golden_time(s: &str) -> DateTime<Utc> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc()
}

pub fn golden_opt_time(s: &str) -> Option<DateTime<Utc>> {
    (!s.is_empty()).then(|| golden_time(s))
}

pub fn golden_opt_f64(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().unwrap())
}

/// Rows of a golden CSV (`golden/NAME`, `.gz` allowed) as maps from column name to cell text.
pub fn golden_rows(name: &str) -> Vec<HashMap<String, String>> {
    let text = read_text(&format!("golden/{name}"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// `times_S{n}.txt`, in golden row order.
pub fn load_times(scenario: u32) -> Vec<DateTime<Utc>> {
    read_text(&format!("times_S{scenario}.txt"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| golden_time(l.trim()))
        .collect()
}

pub fn load_xrays() -> Vec<XrayObservation> {
    let parsed = parse_xrays(&xray_json(), XrayFeed::Primary).expect("sample X-ray payload parses");
    assert!(
        parsed.rejected.is_empty(),
        "the sample has no malformed X-ray records"
    );
    parsed.records
}

pub fn load_regions() -> Vec<RegionObservation> {
    parse_regions(&read_fixture("solar_regions.json"))
        .expect("sample regions parse")
        .records
}

pub fn load_donki() -> Vec<FlareEvent> {
    parse_donki_flares(&read_fixture("donki_flares.json"))
        .expect("sample DONKI parses")
        .records
}

/// flare-plus's `flare_events` table for the sample: detected flares + non-duplicate DONKI.
pub fn load_flares_for(flux: &[XrayObservation], profile: Profile) -> Vec<FlareEvent> {
    let mut candidates =
        detect_flares_in_observations(flux, FlareCategory::C, MergeRule::for_profile(profile));
    candidates.extend(load_donki());
    materialize(&candidates, profile)
}

/// Everything a batch run needs.
pub struct Fixture {
    pub flux: Vec<XrayObservation>,
    pub regions: Vec<RegionObservation>,
    pub flares: Vec<FlareEvent>,
}

pub fn load_fixture() -> Fixture {
    let flux = load_xrays();
    let flares = load_flares_for(&flux, Profile::FlarePlus);
    Fixture {
        flux,
        regions: load_regions(),
        flares,
    }
}
