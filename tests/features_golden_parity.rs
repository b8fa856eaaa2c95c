//! Golden parity: the batch driver + CSV writer against flare-plus's own output on sample-30d,
//! compared with the Rust port of parity_check.py. Zero mismatches required.

mod support;

use std::sync::OnceLock;

use flare_plus::features::csv::to_csv_string;
use flare_plus::features::{
    compute_covariates_batch, compute_features_batch, covariate_columns, feature_columns,
};
use flare_plus::profile::Profile;
use support::parity::{compare_csv, Options, ParityError};
use support::{load_fixture, load_times, read_text, Fixture};

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(load_fixture)
}

fn features_csv(scenario: u32) -> String {
    let f = fixture();
    let times = load_times(scenario);
    let rows =
        compute_features_batch(&f.flux, &f.regions, &f.flares, &times, Profile::FlarePlus).unwrap();
    assert_eq!(rows.len(), times.len());
    to_csv_string(
        feature_columns(),
        rows.iter().map(|r| (&r.timestamp, r.cells.as_slice())),
    )
}

fn covariates_csv(scenario: u32) -> String {
    let f = fixture();
    let times = load_times(scenario);
    let rows = compute_covariates_batch(&f.flux, &f.regions, &f.flares, &times, Profile::FlarePlus)
        .unwrap();
    assert_eq!(rows.len(), times.len());
    to_csv_string(
        covariate_columns(),
        rows.iter().map(|r| (&r.timestamp, r.cells.as_slice())),
    )
}

fn check(golden_file: &str, ours: &str, expect_rows: usize, expect_cols: usize) {
    let golden = read_text(golden_file);
    if let Ok(dir) = std::env::var("FLARE_PARITY_OUT") {
        let name = golden_file
            .trim_start_matches("golden/")
            .trim_end_matches(".gz");
        std::fs::write(format!("{dir}/{name}"), ours).unwrap();
    }
    let r = compare_csv(&golden, ours, &Options::default()).unwrap();
    for m in r.mismatches.iter().take(30) {
        eprintln!("{m}");
    }
    eprintln!("{golden_file}: {}", r.summary());
    assert_eq!(r.golden_rows, expect_rows, "golden row count");
    assert_eq!(r.ours_rows, expect_rows);
    // Every golden cell except skipped empty text cells is compared.
    assert!(
        r.cells_compared > expect_rows * (expect_cols - 5),
        "{}",
        r.cells_compared
    );
    assert!(
        r.is_clean(),
        "{golden_file}: {} mismatches",
        r.mismatches.len()
    );
}

#[test]
fn features_s1() {
    check("golden/features_S1.csv", &features_csv(1), 24, 83);
}

#[test]
fn features_s2() {
    check("golden/features_S2.csv.gz", &features_csv(2), 1000, 83);
}

#[test]
fn features_s3() {
    check("golden/features_S3.csv", &features_csv(3), 100, 83);
}

#[test]
fn features_s4() {
    check("golden/features_S4.csv.gz", &features_csv(4), 721, 83);
}

#[test]
fn covariates_s1() {
    check("golden/covariates_S1.csv", &covariates_csv(1), 24, 65);
}

#[test]
fn covariates_s4() {
    check("golden/covariates_S4.csv.gz", &covariates_csv(4), 721, 65);
}

/// Our columns are spec 5.3/5.5's order, which is flare-plus's order when the first row has
/// every column (features_S4, covariates). In S1–S3 pandas' `concat` union appended the
/// `flare_total_*` columns in order of first appearance (Q13), so there it is a permutation.
#[test]
fn headers_match_golden() {
    let header = |file: &str| -> Vec<String> {
        read_text(file)
            .lines()
            .next()
            .unwrap()
            .split(',')
            .map(String::from)
            .collect()
    };
    for (file, cols) in [
        ("golden/features_S4.csv.gz", feature_columns()),
        ("golden/covariates_S1.csv", covariate_columns()),
        ("golden/covariates_S4.csv.gz", covariate_columns()),
    ] {
        let h = header(file);
        assert_eq!(h[0], "timestamp");
        assert_eq!(&h[1..], cols, "{file}");
    }
    for file in [
        "golden/features_S1.csv",
        "golden/features_S2.csv.gz",
        "golden/features_S3.csv",
    ] {
        let mut h = header(file)[1..].to_vec();
        let mut ours = feature_columns().to_vec();
        h.sort();
        ours.sort();
        assert_eq!(h, ours, "{file}");
    }
}

// The comparison itself: the semantics of the parity_check.py tool.
#[test]
fn semantics_match_the_script() {
    let golden = "timestamp,a,s,b\n2024-01-01T00:00:00,1.0,x,\n2024-01-01T01:00:00,,,2\n";
    // NaN vs 0, empty text not compared, tolerance, time normalisation of the key.
    let ours = "timestamp,a,s,b,extra\n2024-01-01 00:00:00Z,1.0000000001,x,0,9\n2024-01-01T01:00:00,nan,zzz,2.0,1\n";
    let r = compare_csv(golden, ours, &Options::default()).unwrap();
    assert_eq!(r.golden_rows, 2);
    assert_eq!(r.cells_compared, 5);
    assert!(r.is_clean(), "{:?}", r.mismatches);

    let bad = "timestamp,a,s,b\n2024-01-01T00:00:00,1.1,y,\n2024-01-01T02:00:00,0,,2\n";
    let r = compare_csv(golden, bad, &Options::default()).unwrap();
    assert_eq!(
        r.mismatches,
        vec![
            "row 2024-01-01T01:00:00: in golden, not in ours".to_string(),
            "row 2024-01-01T02:00:00: in ours, not in golden".to_string(),
            "row 2024-01-01T00:00:00 a: golden '1.0', ours '1.1'".to_string(),
            "row 2024-01-01T00:00:00 s: golden 'x', ours 'y'".to_string(),
        ]
    );
    assert_eq!(r.summary(), "2 golden rows, 3 cells compared, 4 mismatches");
    let r = compare_csv(
        golden,
        "timestamp,a,s,b\n2024-01-01T00:00:00,abc,x,\n",
        &Options::default(),
    )
    .unwrap();
    assert!(r.mismatches.iter().any(|m| m.ends_with("(not a number)")));
}

#[test]
fn unusable_input() {
    let golden = "timestamp,a\n2024-01-01T00:00:00,1\n";
    assert!(matches!(
        compare_csv(
            golden,
            "timestamp\n2024-01-01T00:00:00\n",
            &Options::default()
        ),
        Err(ParityError::MissingColumns(_))
    ));
    assert!(matches!(
        compare_csv(golden, "t,a\n1,1\n", &Options::default()),
        Err(ParityError::NoKeyColumn { .. })
    ));
    assert!(matches!(
        compare_csv(
            golden,
            "timestamp,a\n2024-01-01,1\n2024-01-01T00:00:00,1\n",
            &Options::default()
        ),
        Err(ParityError::DuplicateKey { .. })
    ));
}
