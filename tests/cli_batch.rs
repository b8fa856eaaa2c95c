//! The batch and detect commands as a user runs them: the built binary on the recorded
//! sample, compared with flare-plus's golden outputs by the parity rules (numeric cells after
//! NaN/absent -> 0 within 1e-9 relative + 1e-18 absolute; text equal where golden has text).

mod support;

use std::process::Command;

use support::parity::{compare_csv, Options};
use support::{fixture_dir, read_text};

fn run_batch(times: &str, covariates: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flare-plus"));
    cmd.args(["features", "batch", "--input"])
        .arg(fixture_dir())
        .arg("--times")
        .arg(fixture_dir().join(times))
        .arg("--out")
        .arg(&out);
    if covariates {
        cmd.arg("--covariates");
    }
    let status = cmd.output().expect("run flare-plus");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

fn assert_parity(golden_file: &str, ours: &str, rows: usize, columns: usize) {
    let golden = read_text(&format!("golden/{golden_file}"));
    let report = compare_csv(&golden, ours, &Options::default()).expect("comparable CSVs");
    assert_eq!(
        report.golden_rows, rows,
        "{golden_file}: every golden row present"
    );
    assert!(
        report.cells_compared >= rows * (columns - 5),
        "{golden_file}: cells were compared"
    );
    assert!(
        report.mismatches.is_empty(),
        "{golden_file}: {}\n{}",
        report.summary(),
        report.mismatches.join("\n")
    );
}

#[test]
fn features_batch_matches_flare_plus_for_every_scenario() {
    for (scenario, rows) in [("S1", 24), ("S2", 1000), ("S3", 100), ("S4", 721)] {
        let ours = run_batch(&format!("times_{scenario}.txt"), false);
        assert!(
            ours.starts_with("timestamp,mcintosh_size,"),
            "header in flare-plus order"
        );
        assert_eq!(ours.lines().count(), rows + 1, "one row per timestamp");
        let golden = if scenario == "S2" || scenario == "S4" {
            format!("features_{scenario}.csv.gz")
        } else {
            format!("features_{scenario}.csv")
        };
        assert_parity(&golden, &ours, rows, 83);
    }
}

#[test]
fn covariates_batch_matches_flare_plus() {
    assert_parity(
        "covariates_S1.csv",
        &run_batch("times_S1.txt", true),
        24,
        65,
    );
    assert_parity(
        "covariates_S4.csv.gz",
        &run_batch("times_S4.txt", true),
        721,
        65,
    );
}

#[test]
fn rows_come_out_in_the_order_of_the_times_file() {
    let ours = run_batch("times_S1.txt", false);
    let times: Vec<&str> = ours
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let expected: Vec<String> = read_text("times_S1.txt")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(times, expected, "newest first, as given");
}

#[test]
fn detect_reproduces_flare_plus_detected_flares_exactly() {
    let out = Command::new(env!("CARGO_BIN_EXE_flare-plus"))
        .args(["detect", "--input"])
        .arg(fixture_dir())
        .output()
        .expect("run flare-plus detect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = String::from_utf8(out.stdout).unwrap();
    assert_eq!(ours.lines().count(), 84, "83 flares + header");
    assert_eq!(
        ours,
        read_text("golden/detected_flares.csv"),
        "byte for byte"
    );
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let times = dir.path().join("times.txt");
    std::fs::write(&times, "2024-05-21T00:00:00\nyesterday\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flare-plus"))
        .args(["features", "batch", "--input"])
        .arg(fixture_dir())
        .arg("--times")
        .arg(&times)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("times.txt:2"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flare-plus"))
        .args(["detect", "--input"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no recorded upstream files"));

    // A file that is an error page: the message names the file and says the cause once.
    let html = tempfile::tempdir().unwrap();
    std::fs::write(
        html.path().join("xrays.json"),
        "<!DOCTYPE html><html><body>503 Service Unavailable</body></html>",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_flare-plus"))
        .args(["detect", "--input"])
        .arg(html.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("xrays.json") && err.contains("HTML"), "{err}");
    assert_eq!(
        err.matches("HTML").count(),
        1,
        "the cause is said once: {err}"
    );
}

fn detect(input: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flare-plus"))
        .args(["detect", "--input"])
        .arg(input)
        .output()
        .expect("run flare-plus detect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("CSV text")
}

/// `detect` reads archive files in their folders (NCEI `goes/YYYY/MM/`, SRS per year) and
/// finds the flares it finds in the same days of the SWPC JSON feed (the archive fixture was
/// generated from those days).
#[test]
fn detect_reads_archive_files_like_the_json_feed() {
    use support::live::recorded::{array, by_day, elements};
    let archive =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backfill-archive");
    let json = tempfile::tempdir().unwrap();
    let days = by_day(&elements(&support::xray_json()), "time_tag");
    let range = "2024-05-21".parse::<chrono::NaiveDate>().unwrap()
        ..="2024-05-23".parse::<chrono::NaiveDate>().unwrap();
    let texts: Vec<&str> = days
        .iter()
        .filter(|(d, _)| range.contains(d))
        .flat_map(|(_, texts)| texts.iter().map(String::as_str))
        .collect();
    std::fs::write(json.path().join("xrays.json"), array(texts)).unwrap();
    let from_json = detect(json.path());
    assert!(from_json.lines().count() > 5, "{from_json}");
    assert_eq!(detect(&archive), from_json);
}
