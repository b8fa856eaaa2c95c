//! `flare-plus backfill` as an operator runs it (the built binary, configured by environment,
//! against a private nats-server): the sample split into daily directories (written here from
//! the fixture's elements, in the upstream formats), a date range replayed day by day,
//! stopped part-way (SIGTERM once the backfill checkpoint shows some days done) and run again:
//! the second run continues after the checkpoint, a third does nothing, and OBS holds every
//! record of the range exactly once, with the flare detector run over the range as one series.
//! Then the URL form against testkit's fake upstream serving the same layout: absent files
//! (404) are skipped, a day that keeps failing stops the run with a clear error, and the next
//! run continues after the last completed day without fetching it again. Then archive files
//! (NCEI GOES netCDF, SRS text; generated in the real layouts) from a directory with hostile
//! files beside the good ones, and from the stand-in through its listings with DONKI by window
//! and the download cache.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use flare_plus::detect::{StreamConfig, StreamDetector};
use flare_plus::domain::Observation;
use flare_plus::domain::{
    FlareCategory, FlareEvent, FlareSource, Records, RegionObservation, XrayFeed, XrayObservation,
};
use flare_plus::pipeline::ingest::backfill::{BackfillCheckpoint, BackfillPlan, BackfillSource};
use flare_plus::pipeline::ingest::replay::Speed;
use flare_plus::profile::Profile;
use flare_plus::sources::archive::{parse_file, Format};
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_regions::parse_regions;
use flare_plus::sources::swpc_xray::parse_xrays;
use flare_plus::sources::SourceKind;
use support::archive_server::{file_body, html_listing};
use support::live::bus::{wait_ok, Bus};
use support::live::recorded::{array, by_day, elements, gzip};
use support::procs::{Env, Proc};
use testkit::upstream::{Behavior, Respond, UpstreamServer};

const WAIT: Duration = Duration::from_secs(120);

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

/// The sample's elements by day: X-ray by `time_tag`, regions by `observed_date`, DONKI by
/// `beginTime`, each day's elements as JSON array payloads.
struct Daily {
    xrays: BTreeMap<NaiveDate, Vec<u8>>,
    regions: BTreeMap<NaiveDate, Vec<u8>>,
    donki: BTreeMap<NaiveDate, Vec<u8>>,
}

impl Daily {
    fn load() -> Daily {
        let payloads = |bytes: &[u8], field: &str| {
            by_day(&elements(bytes), field)
                .into_iter()
                .map(|(d, texts)| (d, array(texts.iter().map(String::as_str))))
                .collect()
        };
        Daily {
            xrays: payloads(&support::xray_json(), "time_tag"),
            regions: payloads(
                &support::read_fixture("solar_regions.json"),
                "observed_date",
            ),
            donki: payloads(&support::read_fixture("donki_flares.json"), "beginTime"),
        }
    }

    /// What a backfill of `days` must publish, parsed from the same day files with the
    /// pipeline's parsers, minus the files left out (`absent`: day and file name).
    fn expected(&self, days: &[NaiveDate], absent: &[(NaiveDate, &str)]) -> Expected {
        let gone = |d: &NaiveDate, name: &str| absent.contains(&(*d, name));
        let mut e = Expected::default();
        for d in days {
            if let Some(p) = self.xrays.get(d).filter(|_| !gone(d, "xrays.json")) {
                let parsed = parse_xrays(p, XrayFeed::Primary).expect("X-ray day parses");
                assert!(parsed.rejected.is_empty());
                e.xrays.extend(parsed.records);
            }
            if let Some(p) = self
                .regions
                .get(d)
                .filter(|_| !gone(d, "solar_regions.json"))
            {
                e.regions
                    .extend(parse_regions(p).expect("regions day parses").records);
            }
            if let Some(p) = self.donki.get(d).filter(|_| !gone(d, "donki_flares.json")) {
                e.donki
                    .extend(parse_donki_flares(p).expect("DONKI day parses").records);
            }
        }
        // The detector over the whole range as one series, flushed once at the end.
        let mut detector = StreamDetector::new(StreamConfig {
            min_class: FlareCategory::C,
            ..StreamConfig::for_profile(Profile::FlarePlus)
        });
        for x in &e.xrays {
            e.detected.extend(detector.push(x.time, x.flux_long));
        }
        e.detected.extend(detector.flush());
        e.last_xray = e.xrays.last().map(|x| x.time);
        e
    }

    /// Writes `SOURCE/YYYY-MM-DD/{xrays.json|xrays.json.gz, solar_regions.json,
    /// donki_flares.json}` for `days`; X-ray files of even days gzipped.
    fn write(&self, root: &Path, days: &[NaiveDate]) {
        for d in days {
            let dir = root.join(d.to_string());
            std::fs::create_dir_all(&dir).expect("day dir");
            if let Some(p) = self.xrays.get(d) {
                if d.format("%d").to_string().parse::<u32>().unwrap_or(0) % 2 == 0 {
                    std::fs::write(dir.join("xrays.json.gz"), gzip(p)).expect("write");
                } else {
                    std::fs::write(dir.join("xrays.json"), p).expect("write");
                }
            }
            if let Some(p) = self.regions.get(d) {
                std::fs::write(dir.join("solar_regions.json"), p).expect("write");
            }
            if let Some(p) = self.donki.get(d) {
                std::fs::write(dir.join("donki_flares.json"), p).expect("write");
            }
        }
    }
}

#[derive(Default)]
struct Expected {
    xrays: Vec<XrayObservation>,
    regions: Vec<RegionObservation>,
    donki: Vec<FlareEvent>,
    detected: Vec<FlareEvent>,
    last_xray: Option<DateTime<Utc>>,
}

fn days(from: &str, to: &str) -> Vec<NaiveDate> {
    day(from)
        .iter_days()
        .take_while(|d| *d <= day(to))
        .collect()
}

fn by_key<T: Clone>(items: &[T], key: impl Fn(&T) -> String) -> HashMap<String, T> {
    let map: HashMap<String, T> = items.iter().map(|i| (key(i), i.clone())).collect();
    assert_eq!(map.len(), items.len(), "expected records have unique keys");
    map
}

/// OBS holds exactly the expected records, each once (by natural key and content), and one
/// end-of-input detector mark, at the last X-ray sample of the range.
fn assert_stream_is(bus: &Bus, e: &Expected) {
    let mut xrays = HashMap::new();
    let mut regions = HashMap::new();
    let mut donki = HashMap::new();
    let mut detected = HashMap::new();
    let mut ends = Vec::new();
    let mut keys = std::collections::HashSet::new();
    for o in bus.observations() {
        let key = o.natural_key();
        assert!(keys.insert(key.clone()), "{key} stored twice");
        match o {
            Observation::Xray(x) => {
                xrays.insert(key, x);
            }
            Observation::Region(r) => {
                regions.insert(key, r);
            }
            Observation::Flare(f) if f.source == FlareSource::Donki => {
                donki.insert(key, f);
            }
            Observation::Flare(f) => {
                detected.insert(key, f);
            }
            Observation::Progress(p) if p.end_of_input => ends.push(p),
            Observation::Progress(_) => {}
        }
    }
    assert_eq!(xrays.len(), e.xrays.len(), "X-ray observations");
    assert!(
        xrays == by_key(&e.xrays, XrayObservation::natural_key),
        "X-ray content"
    );
    assert_eq!(regions.len(), e.regions.len(), "regions");
    assert!(
        regions == by_key(&e.regions, RegionObservation::natural_key),
        "region content"
    );
    assert_eq!(donki.len(), e.donki.len(), "DONKI flares");
    assert!(
        donki == by_key(&e.donki, FlareEvent::natural_key),
        "DONKI content"
    );
    assert!(!e.detected.is_empty(), "the range has flares to detect");
    let detected_keys: std::collections::BTreeSet<&String> = detected.keys().collect();
    let expected_detected = by_key(&e.detected, FlareEvent::natural_key);
    assert_eq!(
        detected_keys,
        expected_detected.keys().collect(),
        "detected flares: one series over the range"
    );
    assert!(detected == expected_detected, "detected flare content");
    assert_eq!(ends.len(), 1, "the detector is flushed once: {ends:?}");
    assert_eq!(ends[0].until, e.last_xray);
}

fn backfill_env(nats: &testkit::NatsServer, dir: &Path, extra: &[(&str, &str)]) -> Env {
    Env {
        nats_url: nats.url(),
        database_url: format!("sqlite://{}/unused.db", dir.display()),
        dir: dir.to_path_buf(),
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn checkpoint(bus: &Bus, key: &str) -> Option<BackfillCheckpoint> {
    bus.checkpoint(key)
        .map(|text| serde_json::from_str(&text).expect("a backfill checkpoint"))
}

fn finish(proc: &mut Proc, what: &str) -> (i32, String) {
    let status = proc.wait_exit(WAIT);
    let log = proc.log_text();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{what} killed:\n{log}"));
    (code, log)
}

#[test]
fn a_stopped_directory_backfill_continues_after_its_checkpoint() {
    let daily = Daily::load();
    let work = tempfile::tempdir().expect("temp dir");
    let source = work.path().join("days");
    // Days around the range too (they must not be read), and one day without a directory.
    let mut present = days("2024-05-01", "2024-05-14");
    present.retain(|d| *d != day("2024-05-08"));
    daily.write(&source, &present);
    let range = days("2024-05-03", "2024-05-12");
    let expected = daily.expected(
        &range,
        &[
            (day("2024-05-08"), "xrays.json"),
            (day("2024-05-08"), "solar_regions.json"),
            (day("2024-05-08"), "donki_flares.json"),
        ],
    );

    let nats = testkit::NatsServer::start();
    let bus = Bus::connect(&nats.url());
    let env = backfill_env(&nats, work.path(), &[]);
    let source_arg = source.to_str().expect("UTF-8 path");
    let args = |speed: &'static str| {
        vec![
            "backfill".to_string(),
            "--from".into(),
            "2024-05-03".into(),
            "--to".into(),
            "2024-05-12".into(),
            "--source".into(),
            source_arg.to_string(),
            "--speed".into(),
            speed.to_string(),
        ]
    };
    let key = BackfillPlan::new(
        BackfillSource::Dir(source.clone()),
        day("2024-05-03"),
        day("2024-05-12"),
        Speed::Max,
    )
    .checkpoint_key();

    // Run 1, paced at one second per day of data; stopped part-way through the fourth day
    // (three days checkpointed, the X-ray feed's own checkpoint inside the next day).
    let run1: Vec<String> = args("86400x");
    let mut first = env.spawn(
        "backfill-1",
        &run1.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let xray_key = format!("{key}.ingest.xrs.primary");
    let progress = |bus: &Bus| {
        let done = checkpoint(bus, &key).and_then(|c| c.last_completed);
        let xrays = bus.checkpoint(&xray_key).and_then(|text| {
            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
            v["last_time"].as_str()?.parse::<DateTime<Utc>>().ok()
        });
        (done, xrays)
    };
    wait_ok(
        "three completed days and X-ray records of the fourth",
        WAIT,
        || match progress(&bus) {
            (Some(done), Some(t)) if done >= day("2024-05-05") && t.date_naive() > done => Ok(()),
            other => Err(format!(
                "(last completed day, last X-ray published) = {other:?}"
            )),
        },
        || first.log_text(),
    );
    assert_eq!(first.terminate(), Some(0), "{}", first.log_text());
    let log1 = first.log_text();
    let stopped = checkpoint(&bus, &key).expect("checkpoint after run 1");
    let last = stopped.last_completed.expect("days done");
    assert!(!stopped.finished, "stopped part-way: {stopped:?}\n{log1}");
    assert!(last < day("2024-05-12"), "{stopped:?}");
    assert_eq!(stopped.from, day("2024-05-03"));
    assert_eq!(stopped.to, day("2024-05-12"));
    assert!(
        log1.contains(&format!(
            "starting backfill 2024-05-03..2024-05-12 ({key}): 10 days"
        )),
        "{log1}"
    );
    assert!(log1.contains("interrupted"), "{log1}");
    // Stopped inside a day (almost always: the signal comes well before the day's end).
    let mid_day = progress(&bus).1.is_some_and(|t| t.date_naive() > last);
    let done = range.iter().filter(|d| **d <= last).count();

    // Run 2, full speed: continues after the checkpoint and finishes.
    let run2 = args("max");
    let mut second = env.spawn(
        "backfill-2",
        &run2.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (code, log2) = finish(&mut second, "run 2");
    assert_eq!(code, 0, "{log2}");
    assert!(
        log2.contains(&format!(
            "resuming backfill 2024-05-03..2024-05-12 ({key}) after {last}: {done} of 10 days were done"
        )),
        "{log2}"
    );
    assert!(
        log2.contains(&format!(
            "backfilled {} days of 2024-05-03..2024-05-12",
            10 - done
        )),
        "{log2}"
    );
    if mid_day {
        // The partly published day starts over: what the first run published of it (minus
        // the overlap re-sent for late corrections, which the stream drops) is skipped.
        let skipped: usize = log2
            .split(" already published earlier")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no skipped count in:\n{log2}"));
        assert!(skipped > 0, "{log2}");
    }
    if last < day("2024-05-08") {
        assert!(log2.contains(", 1 without files"), "{log2}");
    }
    let finished = checkpoint(&bus, &key).expect("checkpoint after run 2");
    assert_eq!(finished.last_completed, Some(day("2024-05-12")));
    assert!(finished.finished);
    assert_stream_is(&bus, &expected);

    // Run 3: nothing left to do, nothing published.
    let sequence = bus.last_sequence("OBS");
    let mut third = env.spawn(
        "backfill-3",
        &run2.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let (code, log3) = finish(&mut third, "run 3");
    assert_eq!(code, 0, "{log3}");
    assert!(
        log3.contains(&format!(
            "backfill 2024-05-03..2024-05-12 from {} is already complete (checkpoint {key}): nothing to do",
            source.display()
        )),
        "{log3}"
    );
    assert_eq!(bus.last_sequence("OBS"), sequence);
    // Live ingest's checkpoints are untouched: the backfill kept its own.
    let keys = bus.checkpoint_keys();
    assert!(keys.iter().all(|k| k.starts_with(&key)), "{keys:?}");
    assert!(
        keys.contains(&format!("{key}.ingest.xrs.primary")),
        "{keys:?}"
    );
}

#[test]
fn a_url_backfill_skips_absent_files_stops_on_a_failing_day_and_continues() {
    let daily = Daily::load();
    let upstream = UpstreamServer::start().expect("upstream");
    let range = days("2024-05-20", "2024-05-24");
    for d in &range {
        let base = format!("/archive/{d}");
        if *d == day("2024-05-24") {
            continue; // a day with no file at all
        }
        if let Some(p) = daily.xrays.get(d) {
            if *d == day("2024-05-23") {
                // Only as a gzip file: found at the second name tried.
                let mut gz = Respond::json(gzip(p));
                gz.headers = vec![("Content-Type".into(), "application/gzip".into())];
                upstream.set_response(&format!("{base}/xrays.json.gz"), gz);
            } else {
                upstream.set_payload(&format!("{base}/xrays.json"), p.clone(), None);
            }
        }
        if *d != day("2024-05-22") {
            if let Some(p) = daily.regions.get(d) {
                upstream.set_payload(&format!("{base}/solar_regions.json"), p.clone(), None);
            }
        }
        if let Some(p) = daily.donki.get(d) {
            upstream.set_payload(&format!("{base}/donki_flares.json"), p.clone(), None);
        }
    }
    // Day 21's DONKI file fails on every attempt of the first run.
    let failing = "/archive/2024-05-21/donki_flares.json";
    assert!(
        daily.donki.contains_key(&day("2024-05-21")),
        "the failing file exists"
    );
    upstream.script(
        failing,
        [
            Behavior::Status(500),
            Behavior::Status(500),
            Behavior::Status(500),
        ],
    );
    let absent: Vec<(NaiveDate, &str)> = vec![
        (day("2024-05-22"), "solar_regions.json"),
        (day("2024-05-24"), "xrays.json"),
        (day("2024-05-24"), "solar_regions.json"),
        (day("2024-05-24"), "donki_flares.json"),
    ];
    let expected = daily.expected(&range, &absent);

    let nats = testkit::NatsServer::start();
    let bus = Bus::connect(&nats.url());
    let work = tempfile::tempdir().expect("temp dir");
    let env = backfill_env(
        &nats,
        work.path(),
        &[
            ("FLARE__HTTP_CLIENT__MAX_RETRIES", "2"),
            ("FLARE__HTTP_CLIENT__RETRY_BASE", "20ms"),
            ("FLARE__HTTP_CLIENT__TIMEOUT", "5s"),
        ],
    );
    let url = upstream.url("/archive");
    let args = [
        "backfill",
        "--from",
        "2024-05-20",
        "--to",
        "2024-05-24",
        "--source",
        &url,
    ];
    let key = BackfillPlan::new(
        BackfillSource::parse(&url).expect("a URL"),
        day("2024-05-20"),
        day("2024-05-24"),
        Speed::Max,
    )
    .checkpoint_key();

    // Run 1: day 20 done, day 21 fails after its retries; the run stops with a clear error.
    let mut first = env.spawn("backfill-url-1", &args);
    let (code, log1) = finish(&mut first, "run 1");
    assert_eq!(code, 1, "{log1}");
    assert!(
        log1.contains(&format!(
            "backfill stopped on 2024-05-21 (days through 2024-05-20 are done; run the same command \
             again to continue): GET {}: HTTP status 500 (3 attempts",
            upstream.url(failing)
        )),
        "{log1}"
    );
    assert_eq!(
        upstream.requests_to(failing).len(),
        3,
        "retried per the fetch policy"
    );
    let stopped = checkpoint(&bus, &key).expect("checkpoint after run 1");
    assert_eq!(stopped.last_completed, Some(day("2024-05-20")));
    assert!(!stopped.finished);
    let requests_before = upstream.requests().len();

    // Run 2: continues with day 21; nothing of day 20 is fetched again.
    let mut second = env.spawn("backfill-url-2", &args);
    let (code, log2) = finish(&mut second, "run 2");
    assert_eq!(code, 0, "{log2}");
    assert!(
        log2.contains(&format!(
            "resuming backfill 2024-05-20..2024-05-24 ({key}) after 2024-05-20: 1 of 5 days were done"
        )),
        "{log2}"
    );
    assert!(
        log2.contains("backfilled 4 days of 2024-05-20..2024-05-24"),
        "{log2}"
    );
    assert!(log2.contains(", 1 without files"), "{log2}");
    let later = &upstream.requests()[requests_before..];
    assert!(
        later.iter().all(|r| !r.path.contains("2024-05-20")),
        "run 2 fetched day 20 again"
    );
    let status_of = |path: &str| -> Vec<u16> {
        upstream
            .requests_to(path)
            .iter()
            .map(|r| r.status)
            .collect()
    };
    assert_eq!(status_of("/archive/2024-05-22/solar_regions.json"), [404]);
    assert_eq!(
        status_of("/archive/2024-05-22/solar_regions.json.gz"),
        [404]
    );
    assert_eq!(status_of("/archive/2024-05-23/xrays.json"), [404]);
    assert_eq!(status_of("/archive/2024-05-23/xrays.json.gz"), [200]);
    assert_eq!(status_of("/archive/2024-05-24/xrays.json"), [404]);
    assert_eq!(status_of(failing)[3..], [200]);
    assert!(
        !log2
            .lines()
            .any(|l| l.contains("WARN") && l.contains("404")),
        "an absent file is not a warning:\n{log2}"
    );
    let finished = checkpoint(&bus, &key).expect("checkpoint after run 2");
    assert!(finished.finished && finished.last_completed == Some(day("2024-05-24")));
    assert_stream_is(&bus, &expected);
}

/// The archive fixture: real-layout NCEI GOES XRS avg1m files (`goes/2024/05/`) and SRS files
/// (`srs/2024/`) of 2024-05-21..23, generated from the sample (see its README).
fn archive_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backfill-archive")
}

fn goes_name(d: u32) -> String {
    format!("sci_xrsf-l2-avg1m_g16_d202405{d:02}_v2-1-0.nc")
}

/// `SRS` files named for their issue day (the day after the data day).
fn srs_name(d: u32) -> String {
    format!("202405{:02}SRS.txt", d + 1)
}

/// What the pipeline's own readers give for the archive files of the days in `goes` and `srs`
/// (DONKI: the sample's flares that start in `donki_days`), with the detector over the X-ray
/// as one series. Also returns how many records the readers reject (dead letters).
fn archive_expected(
    root: &Path,
    goes: &[u32],
    srs: &[u32],
    donki_days: &[NaiveDate],
) -> (Expected, usize) {
    let mut e = Expected::default();
    let mut rejected = 0;
    for d in goes {
        let name = goes_name(*d);
        let bytes = std::fs::read(root.join("goes/2024/05").join(&name)).expect("fixture");
        let parsed = parse_file(
            SourceKind::Xrays(XrayFeed::Primary),
            Format::GoesAvg1m,
            &name,
            &bytes,
        )
        .expect("GOES file parses");
        rejected += parsed.rejected.len();
        let Records::Xrays(xrays) = parsed.records else {
            panic!("X-ray records");
        };
        e.xrays.extend(xrays);
    }
    for d in srs {
        let name = srs_name(*d);
        let bytes = std::fs::read(root.join("srs/2024").join(&name)).expect("fixture");
        let parsed =
            parse_file(SourceKind::Regions, Format::Srs, &name, &bytes).expect("SRS parses");
        rejected += parsed.rejected.len();
        let Records::Regions(regions) = parsed.records else {
            panic!("region records");
        };
        assert!(!regions.is_empty(), "{name} has regions");
        e.regions.extend(regions);
    }
    let donki = parse_donki_flares(&support::read_fixture("donki_flares.json")).expect("DONKI");
    e.donki.extend(
        donki
            .records
            .into_iter()
            .filter(|f| donki_days.contains(&f.start_time.date_naive())),
    );
    let mut detector = StreamDetector::new(StreamConfig {
        min_class: FlareCategory::C,
        ..StreamConfig::for_profile(Profile::FlarePlus)
    });
    for x in &e.xrays {
        e.detected.extend(detector.push(x.time, x.flux_long));
    }
    e.detected.extend(detector.flush());
    e.last_xray = e.xrays.last().map(|x| x.time);
    (e, rejected)
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// Dead letters naming `file` with the code `corrupt_file`.
fn corrupt_letters(bus: &Bus, file: &str) -> usize {
    bus.messages("DLQ", "flare.dlq.>")
        .iter()
        .filter(|m| String::from_utf8_lossy(&m.payload).contains(file))
        .filter(|m| {
            m.headers.as_ref().is_some_and(|h| {
                h.iter()
                    .any(|(_, v)| v.iter().any(|v| v.as_str() == "corrupt_file"))
            })
        })
        .count()
}

#[test]
fn an_archive_backfill_from_a_server_stores_the_files_rows_and_reads_its_cache_again() {
    let root = archive_fixture();
    let upstream = UpstreamServer::start().expect("upstream");
    // NCEI's layout: BASE/YYYY/MM/ listings; day 23's file is an HTML error page.
    upstream.set_response("/ncei/", html_listing(&["2024/".into()]));
    upstream.set_response("/ncei/2024/", html_listing(&["05/".into()]));
    let goes_names: Vec<String> = [21, 22, 23].iter().map(|d| goes_name(*d)).collect();
    upstream.set_response("/ncei/2024/05/", html_listing(&goes_names));
    for d in [21, 22] {
        let bytes = std::fs::read(root.join("goes/2024/05").join(goes_name(d))).expect("fixture");
        upstream.set_response(
            &format!("/ncei/2024/05/{}", goes_name(d)),
            file_body(bytes, "application/x-netcdf"),
        );
    }
    let broken = goes_name(23);
    upstream.set_response(
        &format!("/ncei/2024/05/{broken}"),
        file_body(
            b"<html><body><h1>503 Service Unavailable</h1></body></html>".to_vec(),
            "text/html",
        ),
    );
    // SWPC's SRS per year.
    let srs_names: Vec<String> = [21, 22, 23].iter().map(|d| srs_name(*d)).collect();
    upstream.set_response("/srs/", html_listing(&["2024/".into()]));
    upstream.set_response("/srs/2024/", html_listing(&srs_names));
    // The SRS describing day 23 is listed but answers 404: a missing file, reported.
    for name in &srs_names[..2] {
        let bytes = std::fs::read(root.join("srs/2024").join(name)).expect("fixture");
        upstream.set_response(&format!("/srs/2024/{name}"), file_body(bytes, "text/plain"));
    }
    // DONKI answers any window with the sample's catalogue; the backfill keeps its days.
    upstream.set_payload(
        "/DONKI/FLR",
        support::read_fixture("donki_flares.json"),
        None,
    );
    let range = days("2024-05-21", "2024-05-23");
    let (expected, rejected) = archive_expected(&root, &[21, 22], &[21, 22], &range);

    let nats = testkit::NatsServer::start();
    let bus = Bus::connect(&nats.url());
    let work = tempfile::tempdir().expect("temp dir");
    let donki_url = upstream.url("/DONKI/FLR");
    let env = backfill_env(
        &nats,
        work.path(),
        &[
            ("FLARE__SOURCES__DONKI__URL", donki_url.as_str()),
            ("FLARE__HTTP_CLIENT__MAX_RETRIES", "1"),
            ("FLARE__HTTP_CLIENT__RETRY_BASE", "20ms"),
        ],
    );
    let (ncei, srs) = (upstream.url("/ncei"), upstream.url("/srs"));
    let cache = work.path().join("cache");
    let cache_arg = cache.display().to_string();
    let args = |to: &'static str, donki: bool| {
        let mut a: Vec<String> = [
            "backfill",
            "--from",
            "2024-05-21",
            "--to",
            to,
            "--source",
            &ncei,
            "--source",
            &srs,
            "--cache",
            &cache_arg,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if donki {
            a.push("--donki".into());
        }
        a
    };

    // Run 1: every day read; the HTML page is one dead letter naming it, the run goes on.
    let run1 = args("2024-05-23", true);
    let mut first = env.spawn("archive-1", &strs(&run1));
    let (code, log1) = finish(&mut first, "run 1");
    assert_eq!(code, 0, "{log1}");
    assert!(
        log1.contains("backfilled 3 days of 2024-05-21..2024-05-23"),
        "{log1}"
    );
    assert!(log1.contains(", 1 missing files"), "{log1}");
    assert!(
        log1.contains("2024-05-23: missing file(s) of region"),
        "{log1}"
    );
    assert_eq!(
        upstream
            .requests_to(&format!("/srs/2024/{}", srs_name(23)))
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [404]
    );
    assert!(log1.contains(", 1 unusable files dead-lettered"), "{log1}");
    assert!(
        log1.contains(&broken),
        "the log names the broken file:\n{log1}"
    );
    assert_stream_is(&bus, &expected);
    assert_eq!(
        corrupt_letters(&bus, &broken),
        1,
        "one dead letter for the HTML page"
    );
    let dead: u64 = bus.subject_counts("DLQ", "flare.dlq.>").values().sum();
    assert_eq!(
        dead as usize,
        rejected + 1,
        "dead letters: the readers' rejects and the page"
    );
    let donki_requests = upstream.requests_to("/DONKI/FLR");
    assert_eq!(donki_requests.len(), 1, "one DONKI window");
    assert_eq!(
        donki_requests[0].query_param("startDate").as_deref(),
        Some("2024-05-21")
    );
    assert_eq!(
        donki_requests[0].query_param("endDate").as_deref(),
        Some("2024-05-23")
    );
    assert!(cache
        .join(format!(
            "127.0.0.1_{}/ncei/2024/05/{}",
            upstream.addr().port(),
            goes_name(21)
        ))
        .is_file());
    let requests = upstream.requests().len();
    let obs = bus.last_sequence("OBS");

    // Run 2, the same command: the checkpoint says done; nothing fetched, nothing published.
    let mut second = env.spawn("archive-2", &strs(&run1));
    let (code, log2) = finish(&mut second, "run 2");
    assert_eq!(code, 0, "{log2}");
    assert!(log2.contains("is already complete"), "{log2}");
    assert_eq!(upstream.requests().len(), requests, "run 2 fetched");
    assert_eq!(bus.last_sequence("OBS"), obs, "run 2 published");

    // Run 3, another range (a new backfill) over the same archive: read from the cache.
    let run3 = args("2024-05-22", false);
    let mut third = env.spawn("archive-3", &strs(&run3));
    let (code, log3) = finish(&mut third, "run 3");
    assert_eq!(code, 0, "{log3}");
    assert!(log3.contains("; 0 downloads"), "{log3}");
    assert_eq!(
        upstream.requests().len(),
        requests,
        "run 3 read its cache: {:?}",
        &upstream.requests()[requests..]
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
}

/// Copies the files of `from` (recursively) into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

#[test]
fn an_archive_backfill_from_a_directory_reads_ncei_and_srs_layouts_and_dead_letters_bad_files() {
    let range = days("2024-05-21", "2024-05-23");
    let work = tempfile::tempdir().expect("temp dir");
    let root = work.path().join("archive");
    copy_tree(&archive_fixture(), &root);
    // Hostile files beside the good ones, each under a name the backfill reads.
    let month = root.join("goes/2024/05");
    let good = std::fs::read(month.join(goes_name(22))).expect("fixture");
    let hostile = [
        (
            "sci_xrsf-l2-avg1m_g16_d20240522_v9-0-0.nc",
            good[..good.len() / 2].to_vec(),
            "file is truncated",
        ),
        (
            "sci_xrsf-l2-avg1m_g16_d20240523_v9-0-0.nc",
            std::fs::read(month.join(goes_name(21))).expect("fixture"),
            "outside the day 2024-05-23 given by the file name",
        ),
        (
            "sci_xrsf-l2-avg1m_g16_d20240522_v9-1-0.nc",
            std::fs::read(root.join("hostile/missing_xrsb_flux_d20240522.nc")).expect("fixture"),
            "missing variable xrsb_flux",
        ),
    ];
    for (name, bytes, _) in &hostile {
        std::fs::write(month.join(name), bytes).expect("write");
    }
    // A garbled row in the SRS of 2024-05-22: that row is a dead letter, the file's others stay.
    let srs_path = root.join("srs/2024").join(srs_name(22));
    let srs = std::fs::read_to_string(&srs_path).expect("fixture");
    let row = srs
        .lines()
        .find(|l| l.starts_with("3738 "))
        .expect("region 3738 on 2024-05-22")
        .to_string();
    // Its location `S27Wnn` becomes `Q27Wnn`: no hemisphere starts with Q.
    let garbled = row.replacen(" S27", " Q27", 1);
    assert_ne!(garbled, row);
    std::fs::write(&srs_path, srs.replace(&row, &garbled)).expect("write");

    let (mut expected, rejected) = archive_expected(&root, &[21, 22, 23], &[21, 22, 23], &[]);
    expected.donki.clear();
    assert!(
        !expected
            .regions
            .iter()
            .any(|r| r.region_number == 3738 && r.timestamp.date_naive() == day("2024-05-22")),
        "the garbled row gives no record"
    );
    assert!(rejected >= 1, "the garbled row is a reject");
    let nats = testkit::NatsServer::start();
    let bus = Bus::connect(&nats.url());
    let env = backfill_env(&nats, work.path(), &[]);
    let source = root.display().to_string();
    let mut run = env.spawn(
        "archive-dir",
        &[
            "backfill",
            "--from",
            "2024-05-21",
            "--to",
            "2024-05-23",
            "--source",
            &source,
        ],
    );
    let (code, log) = finish(&mut run, "directory backfill");
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(&format!(
            "backfilled {} days of 2024-05-21..2024-05-23",
            range.len()
        )),
        "{log}"
    );
    assert!(log.contains(", 3 unusable files dead-lettered"), "{log}");
    assert!(log.contains("; 0 downloads"), "{log}");
    assert_stream_is(&bus, &expected);
    for (name, _, reason) in &hostile {
        assert_eq!(corrupt_letters(&bus, name), 1, "{name}");
        assert!(
            log.lines().any(|l| l.contains(name) && l.contains(reason)),
            "{name}: {reason}\n{log}"
        );
    }
    let dead: u64 = bus.subject_counts("DLQ", "flare.dlq.>").values().sum();
    assert_eq!(dead as usize, rejected + hostile.len());
}
