//! Malformed input is an error, never a panic: truncated downloads (with and without a
//! matching superblock), HTML pages, garbage, and randomly corrupted bytes.

mod goes_nc_support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use flare_plus::domain::XrayFeed;
use flare_plus::sources::goes_nc::{parse_goes_avg1m, read_xrs, GoesNcError};
use goes_nc_support::{archive, bytes, generated};

const G16: &str = "sci_xrsf-l2-avg1m_g16_d20210101_truncated.nc";

/// Runs both readers on `input` (named `name`); a panic fails the test with `what` in the
/// message. Returns the avg1m parser's outcome.
fn outcome_named(input: &[u8], name: &str, what: &str) -> Result<(), GoesNcError> {
    let low = catch_unwind(AssertUnwindSafe(|| read_xrs(input)))
        .unwrap_or_else(|_| panic!("read_xrs panicked on {what}"));
    let high = catch_unwind(AssertUnwindSafe(|| {
        parse_goes_avg1m(input, name, XrayFeed::Primary)
    }))
    .unwrap_or_else(|_| panic!("parse_goes_avg1m panicked on {what}"));
    // The parser reads through the low-level reader, so it cannot succeed where that fails.
    assert!(
        low.is_ok() || high.is_err(),
        "{what}: parser accepted what the reader refused"
    );
    high.map(|_| ())
}

fn outcome(input: &[u8], what: &str) -> Result<(), GoesNcError> {
    outcome_named(input, G16, what)
}

/// A deterministic xorshift, so a failure names a reproducible case.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_truncation_is_a_truncated_error() {
    let full = bytes(&archive(G16));
    let mut lengths: Vec<usize> = (0..64).collect();
    lengths.extend((64..full.len()).step_by(97));
    lengths.extend([full.len() / 2, full.len() - 1]);
    for len in lengths {
        match outcome(&full[..len], &format!("the first {len} bytes")) {
            Err(GoesNcError::Truncated { .. }) => {}
            // Fewer than 8 bytes that are not a prefix of the signature.
            Err(GoesNcError::NotNetcdf { .. }) if len < 8 && len > 0 => {}
            other => panic!("{len} bytes: expected Truncated, got {other:?}"),
        }
    }
    assert_eq!(
        outcome(&full[..1000], "1000 bytes")
            .unwrap_err()
            .to_string(),
        "file is truncated: 1000 bytes, but its HDF5 superblock says the file has 89560"
    );
}

/// With the superblock's end-of-file address patched to the cut, the pre-check passes and
/// the decoder itself meets the missing bytes: still an error, never a panic.
#[test]
fn truncation_behind_a_consistent_superblock_is_an_error() {
    let full = bytes(&archive(G16));
    assert_eq!(
        full[8], 0,
        "superblock version 0: EOF address at bytes 40..48"
    );
    let mut errors = 0;
    for len in (48..full.len()).step_by(211) {
        let mut cut = full[..len].to_vec();
        cut[40..48].copy_from_slice(&(len as u64).to_le_bytes());
        if outcome(&cut, &format!("{len} bytes, patched EOF")).is_err() {
            errors += 1;
        }
    }
    // Some cuts may keep every byte the reader needs; most do not.
    assert!(errors > 300, "{errors}");
}

#[test]
fn html_and_garbage_are_named() {
    let page = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head></html>";
    let err = outcome(page, "an HTML page").unwrap_err();
    assert_eq!(
        err.to_string(),
        "file looks like an HTML page, not a netCDF file"
    );

    let json = br#"[{"time_tag":"2024-05-01T00:00:00Z","flux":1e-7}]"#;
    let err = outcome(json, "the JSON feed").unwrap_err();
    assert!(matches!(err, GoesNcError::NotNetcdf { .. }), "{err}");
    assert!(err.to_string().contains("[{\\\"time_tag"), "{err}");

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for len in [1, 7, 8, 9, 100, 512, 4096, 70_000] {
        let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        assert!(outcome(&garbage, &format!("{len} random bytes")).is_err());
        // Garbage behind a valid signature and superblock start.
        let mut with_magic = bytes(&archive(G16))[..48].to_vec();
        with_magic.extend(&garbage);
        let total = with_magic.len() as u64;
        with_magic[40..48].copy_from_slice(&total.to_le_bytes());
        let _ = outcome(&with_magic, &format!("signature + {len} random bytes"));
    }
    assert!(outcome(b"CDF\x01 not really classic", "a broken classic header").is_err());
}

/// Random byte corruption of real and generated files: any result but a panic is fine.
/// `GOES_NC_FUZZ_CASES=20000` runs a deeper search than the default 300 per file.
#[test]
fn corrupted_files_never_panic() {
    let cases: usize = std::env::var("GOES_NC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(42);
    let day = "sci_xrsf-l2-avg1m_g16_d20240501_v2-1-0.nc";
    for (source, name) in [(archive(G16), G16), (generated(day), day)] {
        let original = bytes(&source);
        for case in 0..cases {
            let mut corrupt = original.clone();
            for _ in 0..1 + rng.next() % 8 {
                let at = (rng.next() % corrupt.len() as u64) as usize;
                corrupt[at] = rng.next() as u8;
            }
            let _ = outcome_named(&corrupt, name, &format!("{name} corruption case {case}"));
        }
    }
}

/// Small files with one thing wrong each (tools/make_hostile_fixtures.py): the error names it.
#[test]
fn malformed_metadata_is_named() {
    const NAME: &str = "sci_xrsf-l2-avg1m_g16_d20240501_v2-1-0.nc";
    let parse = |file: &str| {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/goes-avg1m-hostile")
            .join(file);
        parse_goes_avg1m(&bytes(&path), NAME, XrayFeed::Primary)
    };
    let cases: [(&str, &str); 8] = [
        (
            "bad_time_units.nc",
            "variable time has unusable units \"fortnights since 2024-05-01\": unknown time unit \"fortnights\"",
        ),
        (
            "bad_calendar.nc",
            "calendar \"360_day\" is not supported",
        ),
        (
            "flux_int.nc",
            "variable xrsb_flux has type int, expected float or double",
        ),
        (
            "flux_2d.nc",
            "variable xrsb_flux has the wrong shape: 2 dimensions, expected 1 (time)",
        ),
        (
            "flux_other_dim.nc",
            "variable xrsb_flux has the wrong shape: along dimension",
        ),
        (
            "flag_attrs_mismatch.nc",
            "flag variable xrsb_flag has unusable flag attributes: flag_masks has 7 entries but flag_meanings has 8 words",
        ),
        (
            "flag_no_good_data.nc",
            "flag variable xrsb_flag has unusable flag attributes: no good_data meaning",
        ),
        (
            "flux_units.nc",
            "variable xrsb_flux has unusable units \"erg/cm2/s\"",
        ),
    ];
    for (file, needle) in cases {
        let err = parse(file).expect_err(file).to_string();
        assert!(err.contains(needle), "{file}: {err}");
    }

    // A fill time is a row-level reject; the other rows stay.
    let parsed = parse("fill_time.nc").unwrap();
    assert_eq!(parsed.records.len(), 2);
    assert_eq!(parsed.rejected.len(), 1);
    assert_eq!(
        parsed.rejected[0].reason.code,
        flare_plus::sources::RejectCode::BadTime
    );
    assert!(
        parsed.rejected[0]
            .raw
            .starts_with("{\"row\":1,\"time\":\"-9.999e3\""),
        "{}",
        parsed.rejected[0].raw
    );

    // A blank platform is no platform: the name's satellite is used.
    let parsed = parse("platform_blank.nc").unwrap();
    assert_eq!(parsed.records.len(), 3);
    assert!(parsed.records.iter().all(|r| r.satellite == Some(16)));
}
