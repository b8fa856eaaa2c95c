//! `flare-plus profile` as a user runs it: the binary (so the counting allocator and the span
//! layer are the real ones), on the 30-day sample, against a temporary SQLite database.
//!
//! What is checked against an independent source rather than the command's own output:
//! statement and row counts against SQL counts of the same ranges, peak RSS against the
//! child's `/proc/<pid>/status`, records against the sample's known sizes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// The sample's sizes (src/sources/files.rs checks them too).
const SAMPLE_FLUX: u64 = 42_991;
const SAMPLE_REGIONS: u64 = 297;
const SAMPLE_DONKI: u64 = 70;

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample-30d")
}

/// The binary, run in `dir` with its database there and no inherited log settings.
fn flare_plus(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flare-plus"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("FLARE__DATABASE__URL", db_url(dir))
        .env("FLARE__LOGGING__SLOW_OPERATION", "0ms")
        .env("FLARE__DATABASE__SLOW_STATEMENT", "0ms");
    cmd
}

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("profile.db").display())
}

struct Run {
    json: Value,
    stderr: String,
}

fn run_json(cmd: &mut Command) -> Run {
    let out = cmd.arg("--json").output().expect("run flare-plus profile");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "profile failed:\n{stderr}");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    Run { json, stderr }
}

fn scenario<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no scenario {name} in {report:#}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn stage_names(s: &Value) -> Vec<String> {
    let mut names: Vec<String> = s["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|st| st["name"].as_str().expect("stage name").to_string())
        .collect();
    names.sort();
    names
}

fn stage_count(s: &Value, name: &str) -> u64 {
    s["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .find(|st| st["name"] == name)
        .map(|st| u(&st["count"]))
        .unwrap_or(0)
}

/// Fills the temporary database from the sample through scenario 3 and checks what it wrote.
fn ingest_sample(dir: &Path) -> Run {
    let run = run_json(
        flare_plus(dir)
            .args(["profile", "--scenario", "ingestion", "--input"])
            .arg(sample()),
    );
    let s = scenario(&run.json, "ingestion");
    let w = &s["work"];
    let detected = u(&w["flares_detected"]);
    assert!(detected > 0, "{w:#}");
    assert_eq!(
        u(&w["records_parsed"]),
        SAMPLE_FLUX + SAMPLE_REGIONS + SAMPLE_DONKI
    );
    assert_eq!(
        u(&w["records_written"]),
        SAMPLE_FLUX + SAMPLE_REGIONS + SAMPLE_DONKI + detected
    );
    // Writer-sized batches (writer.batch_max_records = 2000), one commit each.
    let batches = u(&w["write_batches"]);
    assert_eq!(batches, u(&w["records_written"]).div_ceil(2000));
    assert_eq!(u(&s["db"]["commits"]), batches);
    assert_eq!(stage_count(s, "write"), batches, "{s:#}");
    assert_eq!(stage_names(s), ["detect", "load", "parse", "write"]);
    run
}

async fn count(pool: &sqlx::SqlitePool, sql: &'static str, from: i64, to: i64) -> u64 {
    let n: i64 = sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    u64::try_from(n).expect("non-negative count")
}

/// Rows of each table in the range scenario 2 must read, counted with plain SQL, and the
/// newest stored primary flux time.
fn rows_in_range(dir: &Path, first: DateTime<Utc>, last: DateTime<Utc>) -> (u64, u64, u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db_url(dir)).await.expect("open");
        // The engine's data window before the first timestamp (spec: 48 h).
        assert_eq!(
            flare_plus::features::FeatureConfig::default().data_window_h(),
            48
        );
        let from = (first - Duration::hours(48)).timestamp_micros();
        let to = last.timestamp_micros();
        let flux = count(
            &pool,
            "SELECT COUNT(*) FROM flare_goes_xray_flux \
             WHERE feed = 'primary' AND timestamp BETWEEN ?1 AND ?2",
            from,
            to,
        )
        .await;
        let regions = count(
            &pool,
            "SELECT COUNT(*) FROM flare_solar_regions WHERE timestamp BETWEEN ?1 AND ?2",
            from,
            to,
        )
        .await;
        let flares = count(
            &pool,
            "SELECT COUNT(*) FROM flare_events WHERE peak_time BETWEEN ?1 AND ?2",
            from,
            to,
        )
        .await;
        let newest: i64 = sqlx::query_scalar(
            "SELECT MAX(timestamp) FROM flare_goes_xray_flux WHERE feed = 'primary'",
        )
        .fetch_one(&pool)
        .await
        .expect("newest flux");
        assert_eq!(Some(last), DateTime::from_timestamp_micros(newest));
        pool.close().await;
        (flux, regions, flares)
    })
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("not a time: {v}"))
}

/// `VmHWM` of a live process, in bytes.
fn vm_hwm(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    flare_plus::profiling::process::status_field_bytes(&status, "VmHWM").expect("VmHWM")
}

#[test]
fn large_batch_from_the_database_reads_each_table_once_and_reports_the_kernels_peak() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ingest = ingest_sample(dir.path());
    // Statement logging is quiet by default: no sqlx lines at all.
    assert!(!ingest.stderr.contains("sqlx::query"), "{}", ingest.stderr);

    // Scenario 2 against the database, held open after the report so /proc can be read.
    let mut child = flare_plus(dir.path())
        .args(["profile", "--scenario", "large-batch", "--json", "--hold"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).expect("read the report");
        assert!(n > 0, "the report ended early:\n{text}");
        text.push_str(&line);
        if line == "}\n" {
            break; // the end of the pretty-printed document
        }
    }
    // The report is out and the process is still alive: its peak is final.
    let hwm = vm_hwm(pid);
    drop(child.stdin.take());
    let status = child.wait().expect("wait");
    assert!(status.success());
    let report: Value = serde_json::from_str(&text).expect("JSON report");
    assert_eq!(report["source"], "database");
    assert_eq!(report["peak_rss_scope"], "scenario");
    let s = scenario(&report, "large-batch");

    // 1000 timestamps 6 minutes apart, ending at the newest stored flux.
    assert_eq!(u(&s["timestamps"]), 1000);
    let (first, last) = (time(&s["first"]), time(&s["last"]));
    assert_eq!(last - first, Duration::minutes(6 * 999));
    let (flux, regions, flares) = rows_in_range(dir.path(), first, last);
    assert!(
        flux > 8_000 && regions > 0 && flares > 0,
        "{flux} {regions} {flares}"
    );

    // Exactly one read per table, and every row in range read once.
    assert_eq!(u(&s["db"]["statements"]), 3, "{s:#}");
    assert_eq!(u(&s["db"]["rows_read"]), flux + regions + flares);
    assert_eq!(u(&s["db"]["commits"]), 0);
    assert_eq!(u(&s["work"]["flux_rows"]), flux);
    assert_eq!(u(&s["work"]["region_rows"]), regions);
    assert_eq!(u(&s["work"]["flare_events"]), flares);
    assert_eq!(u(&s["work"]["feature_rows"]), 1000);
    assert_eq!(stage_names(s), ["features", "load"]);

    // Peak RSS is the kernel's: within 10 % of what /proc says for the same process.
    let reported = u(&s["peak_rss_bytes"]);
    let diff = reported.abs_diff(hwm) as f64;
    assert!(
        diff <= 0.10 * hwm as f64,
        "reported {reported} vs VmHWM {hwm}"
    );
    // Heap figures come from the counting allocator of the binary.
    assert_eq!(report["heap_measured"], true);
    assert!(u(&s["peak_heap_bytes"]) > u(&s["heap_start_bytes"]));

    // The table row for the budget: 3 statements, at budget; memory under 500 MiB.
    let figure = |name: &str| {
        s["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .find(|f| f["figure"] == name)
            .unwrap_or_else(|| panic!("no figure {name}"))
            .clone()
    };
    assert_eq!(figure("db statements")["margin"], "at budget");
    assert_eq!(figure("db statements")["within_budget"], true);
    assert_eq!(figure("peak rss")["budget"], "500 MiB");
    assert_eq!(figure("peak rss")["within_budget"], true);
}

#[test]
fn recorded_files_give_every_stage_a_budget_table_and_a_flamegraph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let svg = dir.path().join("profile.svg");
    let run = run_json(
        flare_plus(dir.path())
            .args(["profile", "--scenario", "1", "--scenario", "2", "--input"])
            .arg(sample())
            .arg("--flamegraph")
            .arg(&svg)
            .args(["--flamegraph-hz", "997"]),
    );
    let report = &run.json;
    assert_eq!(report["source"], "files");
    assert_eq!(report["scenarios"].as_array().map(Vec::len), Some(2));
    for (name, timestamps) in [("hourly-backfill", 24), ("large-batch", 1000)] {
        let s = scenario(report, name);
        assert_eq!(u(&s["timestamps"]), timestamps);
        assert_eq!(u(&s["work"]["feature_rows"]), timestamps);
        assert_eq!(u(&s["work"]["flux_rows"]), SAMPLE_FLUX);
        assert_eq!(u(&s["work"]["region_rows"]), SAMPLE_REGIONS);
        assert!(s["db"].is_null(), "no database for recorded files");
        // One load and one parse per recorded file, one detection, one feature table.
        assert_eq!(stage_names(s), ["detect", "features", "load", "parse"]);
        assert_eq!(stage_count(s, "parse"), 3);
        assert_eq!(stage_count(s, "features"), 1);
        let staged: f64 = s["stages"]
            .as_array()
            .expect("stages")
            .iter()
            .map(|st| st["seconds"].as_f64().expect("seconds"))
            .sum();
        let wall = s["wall_seconds"].as_f64().expect("wall");
        assert!(
            staged > 0.0 && staged <= wall,
            "stages {staged} > wall {wall}"
        );
        assert!(s["cpu_seconds"].as_f64().expect("cpu") > 0.0);
    }
    // The hourly backfill ends at the last recorded minute of the sample.
    let s1 = scenario(report, "hourly-backfill");
    assert_eq!(time(&s1["last"]) - time(&s1["first"]), Duration::hours(23));
    let wall = s1["figures"][0].clone();
    assert_eq!(wall["figure"], "wall time");
    assert_eq!(wall["budget"], "30 s");
    assert_eq!(wall["within_budget"], true);
    assert!(
        wall["margin"]
            .as_str()
            .is_some_and(|m| m.ends_with("x under")),
        "{wall}"
    );
    let svg_text = std::fs::read_to_string(&svg).expect("flamegraph written");
    assert!(svg_text.contains("<svg"), "not an SVG");
    assert!(
        svg_text.contains("flare_plus"),
        "the flamegraph holds no frame of ours"
    );
    assert_eq!(report["flamegraph"], svg.display().to_string());
    // The sampler's own buffers are measured and named, since they sit in the heap figures.
    let sampler = u(&report["sampler_heap_bytes"]);
    assert!(sampler > 0);
    assert!(u(&s1["heap_start_bytes"]) >= sampler);
}

#[test]
fn the_table_shows_measured_budget_and_margin_columns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = flare_plus(dir.path())
        .args(["profile", "--scenario", "hourly-backfill", "--input"])
        .arg(sample())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("figure") && text.contains("measured"),
        "{text}"
    );
    assert!(text.contains("budget") && text.contains("margin"), "{text}");
    let wall = text
        .lines()
        .find(|l| l.trim_start().starts_with("wall time"))
        .unwrap_or_else(|| panic!("no wall time row:\n{text}"));
    assert!(
        wall.contains("| 30 s") && wall.contains("x under"),
        "{wall}"
    );
    assert!(text.contains("stage parse"), "{text}");
}

#[test]
fn the_slow_operation_warning_follows_the_configured_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |ms: &str| {
        run_json(
            flare_plus(dir.path())
                .env("FLARE__LOGGING__SLOW_OPERATION", format!("{ms}ms"))
                .args(["profile", "--scenario", "hourly-backfill", "--input"])
                .arg(sample()),
        )
        .stderr
    };
    let on = run("1");
    // Parsing 43k X-ray records takes far more than 1 ms; the warning carries the span's
    // fields, the ones recorded after it opened included.
    let line = on
        .lines()
        .find(|l| l.contains("slow operation: parse took") && l.contains("xrays"))
        .unwrap_or_else(|| panic!("no slow-operation warning:\n{on}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("file=xrays.json.gz"), "{line}");
    assert!(line.contains(r#"source="xrs""#), "{line}");
    assert!(line.contains("records=42991"), "{line}");
    let off = run("0");
    assert!(!off.contains("slow operation"), "{off}");
}

#[test]
fn the_slow_statement_threshold_switches_sqlx_warnings_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_json(
        flare_plus(dir.path())
            .env("FLARE__DATABASE__SLOW_STATEMENT", "1ms")
            .args(["profile", "--scenario", "ingestion", "--input"])
            .arg(sample()),
    );
    // Writer-sized (2000-row) upserts take more than 1 ms each.
    assert!(
        run.stderr.contains("slow statement"),
        "no slow-statement warning:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("sqlx::query"), "{}", run.stderr);
}

#[test]
fn live_ingestion_fetches_every_enabled_source_once() {
    let server = testkit::upstream::UpstreamServer::start().expect("upstream");
    let read = |name: &str| {
        let bytes = std::fs::read(sample().join(name)).expect("fixture");
        if name.ends_with(".gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)
                .expect("gunzip");
            out
        } else {
            bytes
        }
    };
    server.set_payload("/xrays.json", read("xrays.json.gz"), None);
    server.set_payload("/solar_regions.json", read("solar_regions.json"), None);
    let dir = tempfile::tempdir().expect("tempdir");
    let run = run_json(
        flare_plus(dir.path())
            .env(
                "FLARE__SOURCES__XRAY__PRIMARY_URL",
                server.url("/xrays.json"),
            )
            .env(
                "FLARE__SOURCES__REGIONS__URL",
                server.url("/solar_regions.json"),
            )
            .env("FLARE__SOURCES__DONKI__ENABLED", "false")
            .args(["profile", "--scenario", "ingestion"]),
    );
    let s = scenario(&run.json, "ingestion");
    assert_eq!(stage_count(s, "fetch"), 2, "{s:#}");
    assert_eq!(stage_count(s, "parse"), 2);
    assert_eq!(
        stage_names(s),
        ["detect", "fetch", "parse", "write"],
        "{s:#}"
    );
    assert_eq!(
        u(&s["work"]["records_parsed"]),
        SAMPLE_FLUX + SAMPLE_REGIONS
    );
    assert_eq!(server.requests_to("/xrays.json").len(), 1);
    assert_eq!(server.requests_to("/solar_regions.json").len(), 1);
}

#[test]
fn a_failed_scenario_is_reported_and_fails_the_exit_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens there: the live fetch fails at once (no retries).
    let dead = format!("http://127.0.0.1:{}/xrays.json", testkit::free_port());
    let out = flare_plus(dir.path())
        .env("FLARE__SOURCES__XRAY__PRIMARY_URL", &dead)
        .env("FLARE__SOURCES__REGIONS__ENABLED", "false")
        .env("FLARE__SOURCES__DONKI__ENABLED", "false")
        .env("FLARE__HTTP_CLIENT__MAX_RETRIES", "0")
        .args(["profile", "--scenario", "ingestion", "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the report is still printed");
    let s = scenario(&report, "ingestion");
    let error = s["error"].as_str().expect("error recorded");
    assert!(error.starts_with("fetching xrs"), "{error}");
    assert!(s["figures"]
        .as_array()
        .expect("figures")
        .iter()
        .all(|f| f["within_budget"].is_null()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("flare-plus: ingestion: fetching xrs"),
        "{stderr}"
    );
}
