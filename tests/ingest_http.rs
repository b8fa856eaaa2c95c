//! Live polling end to end: the built binary (`flare-plus run --role ingest`, configured by
//! environment) polls a fake upstream (testkit's scripted HTTP server, so the real reqwest
//! path runs) and publishes to a private nats-server. Every test checks three views of the
//! same run: the upstream's request log (attempts, conditional headers, waits), the process's
//! /metrics (fetch outcomes, fetch timings, records ingested and dead-lettered), and what the
//! OBS and DLQ streams hold (every record once: nothing lost, nothing duplicated).

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use flare_plus::domain::Observation;
use flare_plus::domain::{FlareEvent, FlareSource, RegionObservation, XrayFeed, XrayObservation};
use flare_plus::sources::donki::parse_donki_flares;
use flare_plus::sources::swpc_xray::parse_xrays;
use support::live::bus::{wait_ok, Bus};
use support::live::prom;
use support::live::recorded::{array, elements, field};
use support::procs::{Env, Proc};
use testkit::upstream::{Behavior, RecordedRequest, Respond, RetryAfter, UpstreamServer};

const XRAYS: &str = "/json/goes/primary/xrays-7-day.json";
const REGIONS: &str = "/json/solar_regions.json";
const DONKI: &str = "/DONKI/FLR";

/// Long enough for a debug build on a loaded 2-core machine; a passing run takes a fraction.
const WAIT: Duration = Duration::from_secs(60);

/// One ingest process against its own nats-server and fake upstream.
struct Live {
    proc: Proc,
    bus: Bus,
    upstream: UpstreamServer,
    env: Env,
    _dir: tempfile::TempDir,
    _nats: testkit::NatsServer,
}

impl Live {
    /// Starts `flare-plus run --role ingest` polling `upstream` every second, with small
    /// timeouts and backoffs; `extra` overrides (later wins).
    fn start(upstream: UpstreamServer, extra: &[(&str, &str)]) -> Live {
        let nats = testkit::NatsServer::start();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut vars: Vec<(String, String)> = vec![
            (
                "FLARE__SOURCES__XRAY__PRIMARY_URL".into(),
                upstream.url(XRAYS),
            ),
            ("FLARE__SOURCES__XRAY__INTERVAL".into(), "1s".into()),
            ("FLARE__SOURCES__REGIONS__URL".into(), upstream.url(REGIONS)),
            ("FLARE__SOURCES__REGIONS__INTERVAL".into(), "1s".into()),
            ("FLARE__SOURCES__DONKI__URL".into(), upstream.url(DONKI)),
            ("FLARE__SOURCES__DONKI__INTERVAL".into(), "1s".into()),
            ("FLARE__HTTP_CLIENT__TIMEOUT".into(), "5s".into()),
            ("FLARE__HTTP_CLIENT__MAX_RETRIES".into(), "2".into()),
            ("FLARE__HTTP_CLIENT__RETRY_BASE".into(), "50ms".into()),
            ("FLARE__HTTP_CLIENT__RETRY_MAX".into(), "3000ms".into()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = Env {
            nats_url: nats.url(),
            database_url: format!("sqlite://{}/unused.db", dir.path().display()),
            dir: dir.path().to_path_buf(),
            extra: vars,
        };
        let mut proc = env.spawn("ingest", &["run", "--role", "ingest"]);
        proc.wait_ready(WAIT);
        let bus = Bus::connect(&nats.url());
        Live {
            proc,
            bus,
            upstream,
            env,
            _dir: dir,
            _nats: nats,
        }
    }

    fn metrics(&self) -> String {
        self.proc.metrics()
    }

    /// Starts a new ingest process (after the test stopped the previous one) and waits for
    /// its first X-ray poll to be answered. Returns the index of that request in the X-ray
    /// request log.
    fn restart_ingest(&mut self) -> usize {
        let before = self.upstream.requests_to(XRAYS).len();
        self.proc = self
            .env
            .spawn("ingest-restarted", &["run", "--role", "ingest"]);
        self.proc.wait_ready(WAIT);
        self.wait("the restarted process's first poll", || {
            match self.upstream.requests_to(XRAYS).get(before) {
                Some(r) if r.status != 0 => Ok(()),
                _ => Err("not yet".into()),
            }
        });
        before
    }

    /// What a failure message needs: the end of the process log and the request log.
    fn context(&self) -> String {
        let log = self.proc.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        let requests: Vec<String> = self
            .upstream
            .requests()
            .iter()
            .map(|r| {
                format!(
                    "{} {} -> {} (inm {:?}, ims {:?})",
                    r.path,
                    r.query.as_deref().unwrap_or(""),
                    r.status,
                    r.header("if-none-match"),
                    r.header("if-modified-since")
                )
            })
            .collect();
        format!(
            "process log (tail):\n{tail}\nrequests:\n{}",
            requests.join("\n")
        )
    }

    fn wait(&self, what: &str, check: impl FnMut() -> Result<(), String>) {
        wait_ok(what, WAIT, check, || self.context());
    }

    /// Statuses answered on `path`, in order (requests still unanswered left out).
    fn statuses(&self, path: &str) -> Vec<u16> {
        answered(&self.upstream.requests_to(path))
            .iter()
            .map(|r| r.status)
            .collect()
    }

    /// Waits until /metrics shows exactly `outcomes` for `source` (every other outcome
    /// absent), one fetch-duration sample per fetch, and `ingested` records published.
    /// `expect` computes them from the request log at each try, so a poll that is between
    /// its response and its bookkeeping only delays the check.
    fn wait_metrics(
        &self,
        source: &str,
        mut expect: impl FnMut(&Live) -> (BTreeMap<String, f64>, f64),
    ) {
        self.wait(
            &format!("{source} metrics to match the request log"),
            || {
                let (outcomes, ingested) = expect(self);
                let text = self.metrics();
                let seen = prom::fetch_outcomes(&text, source);
                if seen != outcomes {
                    return Err(format!("fetch outcomes {seen:?}, expected {outcomes:?}"));
                }
                let fetches: f64 = outcomes.values().sum();
                let timed = prom::sum(&text, "pipeline_fetch_seconds_count", &[("source", source)]);
                if timed != fetches {
                    return Err(format!(
                        "{timed} fetch-duration samples for {fetches} fetches"
                    ));
                }
                let published = prom::sum(
                    &text,
                    "pipeline_records_ingested_total",
                    &[("source", source)],
                );
                if published != ingested {
                    return Err(format!(
                        "pipeline_records_ingested_total {published}, expected {ingested}"
                    ));
                }
                Ok(())
            },
        );
    }
}

fn answered(requests: &[RecordedRequest]) -> Vec<RecordedRequest> {
    requests.iter().filter(|r| r.status != 0).cloned().collect()
}

fn outcomes(pairs: &[(&str, usize)]) -> BTreeMap<String, f64> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), *n as f64))
        .collect()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// Only the X-ray feed is polled.
const XRAY_ONLY: &[(&str, &str)] = &[
    ("FLARE__SOURCES__REGIONS__ENABLED", "false"),
    ("FLARE__SOURCES__DONKI__ENABLED", "false"),
];

/// The sample's X-ray elements (both bands, as SWPC serves them) before `hour` on the first
/// day, as a payload.
fn xray_hours(hour: u32) -> Vec<u8> {
    let all = elements(&support::xray_json());
    let cut = format!("2024-05-01T{hour:02}:00:00");
    array(
        all.iter()
            .filter(|e| field(e, "time_tag").is_some_and(|t| t < cut))
            .map(|e| e.get()),
    )
}

fn parse_primary(body: &[u8]) -> Vec<XrayObservation> {
    let parsed = parse_xrays(body, XrayFeed::Primary).expect("payload parses");
    parsed.records
}

/// The X-ray observations on OBS; panics on a natural key seen twice.
fn xrays_on_stream(bus: &Bus) -> HashMap<String, XrayObservation> {
    let mut seen = HashMap::new();
    for o in bus.records("flare.obs.xrs") {
        let Observation::Xray(x) = o else {
            panic!("not an X-ray observation on flare.obs.xrs");
        };
        let key = x.natural_key();
        assert!(seen.insert(key.clone(), x).is_none(), "{key} stored twice");
    }
    seen
}

fn by_key<T: Clone>(items: &[T], key: impl Fn(&T) -> String) -> HashMap<String, T> {
    items.iter().map(|i| (key(i), i.clone())).collect()
}

fn assert_xrays_once(bus: &Bus, expected: &[XrayObservation]) {
    let on_stream = xrays_on_stream(bus);
    assert_eq!(on_stream.len(), expected.len(), "X-ray observations stored");
    assert!(
        on_stream == by_key(expected, XrayObservation::natural_key),
        "the stored X-ray observations differ from the parsed payload"
    );
}

/// The whole sample, polled several times: X-ray (first without its last two days, then the
/// full file gzip-encoded as a new version), regions (ETag + Last-Modified, so every later poll
/// is a 304) and DONKI (no validators: every poll re-reads the lookback window, and ingest
/// publishes none of it again as nothing changed). OBS ends with each record exactly once, equal to the parsed
/// files; polls that change nothing add nothing to the stream.
#[test]
fn the_sample_served_over_http_is_published_exactly_once() {
    let full = support::xray_json();
    let all_elements = elements(&full);
    let v1 = array(
        all_elements
            .iter()
            .filter(|e| field(e, "time_tag").is_some_and(|t| t.as_str() < "2024-05-30"))
            .map(|e| e.get()),
    );
    let v1_obs = parse_primary(&v1);
    let all_xrays = support::load_xrays();
    assert_eq!(all_xrays.len(), 42_991);
    let v1_last = v1_obs.last().expect("v1 has records").time;
    // Version 2 holds v1's last 30 minutes again (the overlap, for late corrections): those
    // are unchanged, so only what is newer than v1 is published.
    let v2_sent = all_xrays.iter().filter(|x| x.time > v1_last).count();
    let regions = support::load_regions();
    let donki = support::load_donki();
    assert_eq!((regions.len(), donki.len()), (297, 70));

    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(v1).with_etag("\"x-1\""));
    upstream.set_response(
        REGIONS,
        Respond::json(support::read_fixture("solar_regions.json"))
            .with_etag("\"r-1\"")
            .with_last_modified("Fri, 31 May 2024 00:00:00 GMT"),
    );
    upstream.set_payload(DONKI, support::read_fixture("donki_flares.json"), None);
    let live = Live::start(
        upstream,
        &[("FLARE__SOURCES__DONKI__API_KEY", "TEST-KEY-1")],
    );
    let bus = &live.bus;

    // First polls: everything published.
    live.wait("the first poll of every feed", || {
        let m = live.metrics();
        let ingested =
            |s| prom::sum(&m, "pipeline_records_ingested_total", &[("source", s)]) as usize;
        let got = (ingested("xrs"), ingested("region"), ingested("donki"));
        if got.0 >= v1_obs.len() && got.1 >= 297 && got.2 >= 70 {
            Ok(())
        } else {
            Err(format!("ingested (xrs, region, donki) = {got:?}"))
        }
    });
    assert_eq!(bus.record_count("flare.obs.xrs"), v1_obs.len() as u64);
    assert_eq!(bus.record_count("flare.obs.region"), 297);

    // Later polls: 304 for X-ray and regions, DONKI's re-reads unchanged: the stream is still.
    let sequence = bus.last_sequence("OBS");
    let base = live.metrics();
    let fresh_donki = prom::fetches(&base, "donki", "fresh");
    live.wait("two more polls of every feed", || {
        let m = live.metrics();
        let polls = (
            prom::fetches(&m, "xrs", "not_modified"),
            prom::fetches(&m, "region", "not_modified"),
            prom::fetches(&m, "donki", "fresh") - fresh_donki,
        );
        if polls.0 >= 2.0 && polls.1 >= 2.0 && polls.2 >= 3.0 {
            Ok(())
        } else {
            Err(format!(
                "(xrs 304s, region 304s, donki re-polls) = {polls:?}"
            ))
        }
    });
    assert_eq!(
        bus.last_sequence("OBS"),
        sequence,
        "polls of unchanged feeds stored nothing"
    );
    for (path, etag) in [(XRAYS, "\"x-1\""), (REGIONS, "\"r-1\"")] {
        let requests = answered(&live.upstream.requests_to(path));
        assert_eq!(requests[0].status, 200, "{path}");
        assert_eq!(requests[0].header("if-none-match"), None, "{path}");
        for r in &requests[1..] {
            assert_eq!(r.status, 304, "{path}: unchanged feed");
            assert_eq!(r.header("if-none-match"), Some(etag), "{path}");
        }
    }
    let region_requests = live.upstream.requests_to(REGIONS);
    assert_eq!(
        region_requests[1].header("if-modified-since"),
        Some("Fri, 31 May 2024 00:00:00 GMT")
    );
    let donki_requests = live.upstream.requests_to(DONKI);
    assert!(donki_requests
        .iter()
        .all(|r| r.header("if-none-match").is_none() && r.status == 200));
    assert_eq!(
        donki_requests[0].query_param("api_key").as_deref(),
        Some("TEST-KEY-1")
    );

    // A new X-ray version, gzip-encoded on the wire: only what is new is stored.
    live.upstream.set_response(
        XRAYS,
        Respond::json(full.clone()).with_etag("\"x-2\"").gzipped(),
    );
    live.wait("the new X-ray version and a 304 after it", || {
        let r = answered(&live.upstream.requests_to(XRAYS));
        let after = r
            .iter()
            .skip_while(|r| r.status != 200 || r.header("if-none-match") != Some("\"x-1\""))
            .skip(1)
            .any(|r| r.status == 304 && r.header("if-none-match") == Some("\"x-2\""));
        let stored = bus.record_count("flare.obs.xrs");
        if after && stored == 42_991 {
            Ok(())
        } else {
            Err(format!(
                "304 after v2: {after}, {stored} X-ray observations"
            ))
        }
    });
    let requests = answered(&live.upstream.requests_to(XRAYS));
    let v2 = requests
        .iter()
        .find(|r| r.status == 200 && r.header("if-none-match") == Some("\"x-1\""))
        .expect("the v2 response");
    assert!(v2
        .header("accept-encoding")
        .is_some_and(|e| e.contains("gzip")));
    assert!(
        (v2.body_bytes_sent as usize) < full.len() / 5,
        "v2 travelled gzip-encoded: {} bytes for {}",
        v2.body_bytes_sent,
        full.len()
    );

    // Metrics agree with the request log.
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", count(&s, 200)), ("not_modified", count(&s, 304))]),
            (v1_obs.len() + v2_sent) as f64,
        )
    });
    live.wait_metrics("region", |l| {
        let s = l.statuses(REGIONS);
        (
            outcomes(&[("fresh", count(&s, 200)), ("not_modified", count(&s, 304))]),
            297.0,
        )
    });
    live.wait_metrics("donki", |l| {
        let fresh = count(&l.statuses(DONKI), 200);
        (
            outcomes(&[("fresh", fresh)]),
            // Every poll re-reads the 7-day lookback; unchanged flares are not re-published.
            70.0,
        )
    });

    // The stream by key and content: each record once, equal to the parsed files.
    let mut xrays: HashMap<String, XrayObservation> = HashMap::new();
    let mut regions_seen: HashMap<String, RegionObservation> = HashMap::new();
    let mut donki_seen: HashMap<String, FlareEvent> = HashMap::new();
    let mut detected = 0usize;
    let mut keys = std::collections::HashSet::new();
    for o in bus.observations() {
        assert!(
            keys.insert(o.natural_key()),
            "{} stored twice",
            o.natural_key()
        );
        match o {
            Observation::Xray(x) => {
                xrays.insert(x.natural_key(), x);
            }
            Observation::Region(r) => {
                regions_seen.insert(r.natural_key(), r);
            }
            Observation::Flare(f) if f.source == FlareSource::Donki => {
                donki_seen.insert(f.natural_key(), f);
            }
            Observation::Flare(_) => detected += 1,
            Observation::Progress(_) => {}
        }
    }
    assert_eq!(xrays.len(), 42_991);
    assert!(
        xrays == by_key(&all_xrays, XrayObservation::natural_key),
        "X-ray content"
    );
    assert_eq!(regions_seen.len(), 297);
    assert!(
        regions_seen == by_key(&regions, RegionObservation::natural_key),
        "region content"
    );
    assert_eq!(donki_seen.len(), 70);
    assert!(
        donki_seen == by_key(&donki, FlareEvent::natural_key),
        "DONKI content"
    );
    assert!(detected > 0, "the detector ran on the primary feed");
    let m = live.metrics();
    assert_eq!(
        prom::sum(
            &m,
            "pipeline_records_ingested_total",
            &[("source", "detected")]
        ),
        detected as f64
    );
    assert_eq!(
        prom::sum(&m, "pipeline_records_dead_lettered_total", &[]),
        0.0
    );
    let mut proc = live.proc;
    assert_eq!(proc.terminate(), Some(0), "{}", proc.log_text());
}

/// 500 then 200: the fetcher retries inside the poll (one fetch, two attempts, counted fresh);
/// the next polls get 304.
#[test]
fn a_500_then_200_is_one_fetch_with_a_retry() {
    let body = xray_hours(6);
    let expected = parse_primary(&body);
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(body).with_etag("\"a\""));
    upstream.script(XRAYS, [Behavior::Status(500)]);
    let live = Live::start(upstream, XRAY_ONLY);
    live.wait("500, 200, then 304s", || {
        let s = live.statuses(XRAYS);
        if s.len() >= 4 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    let requests = answered(&live.upstream.requests_to(XRAYS));
    let s: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(s[..3], [500, 200, 304], "{s:?}");
    assert!(s[3..].iter().all(|x| *x == 304), "{s:?}");
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(
        gap < Duration::from_millis(900),
        "the second attempt is a retry (backoff <= 50 ms), not the next poll: {gap:?}"
    );
    assert_eq!(requests[1].header("if-none-match"), None);
    assert_eq!(requests[2].header("if-none-match"), Some("\"a\""));
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 1), ("not_modified", count(&s, 304))]),
            expected.len() as f64,
        )
    });
    assert_xrays_once(&live.bus, &expected);
}

/// 429 with `Retry-After: 1`: the retry waits the second the upstream asked for (the jittered
/// backoff alone would be at most 50 ms, the next poll 2 s away).
#[test]
fn a_429_with_retry_after_is_retried_after_the_requested_wait() {
    let body = xray_hours(6);
    let expected = parse_primary(&body);
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(body).with_etag("\"a\""));
    upstream.script(
        XRAYS,
        [Behavior::TooManyRequests {
            retry_after: RetryAfter::Secs(1),
        }],
    );
    let mut env = XRAY_ONLY.to_vec();
    env.push(("FLARE__SOURCES__XRAY__INTERVAL", "3s"));
    let live = Live::start(upstream, &env);
    live.wait("429, 200, 304", || {
        let s = live.statuses(XRAYS);
        if s.len() >= 3 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    let requests = answered(&live.upstream.requests_to(XRAYS));
    let s: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(s[..3], [429, 200, 304], "{s:?}");
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(
        gap >= Duration::from_secs(1) && gap < Duration::from_millis(2500),
        "Retry-After: 1 honoured: {gap:?}"
    );
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 1), ("not_modified", count(&s, 304))]),
            expected.len() as f64,
        )
    });
    assert_xrays_once(&live.bus, &expected);
}

/// Responses slower than the 1 s timeout: the first poll's two attempts both time out (one
/// failed fetch, logged once with the URL); the next poll times out once, then succeeds
/// (recovery logged), and later polls are 304s.
#[test]
fn a_response_slower_than_the_timeout_fails_the_poll_and_the_next_poll_recovers() {
    let body = xray_hours(6);
    let expected = parse_primary(&body);
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(body).with_etag("\"a\""));
    let slow = Behavior::Delay(Duration::from_secs(3));
    upstream.script(XRAYS, [slow.clone(), slow.clone(), slow]);
    let mut env = XRAY_ONLY.to_vec();
    env.extend([
        ("FLARE__HTTP_CLIENT__TIMEOUT", "1s"),
        ("FLARE__HTTP_CLIENT__MAX_RETRIES", "1"),
    ]);
    let live = Live::start(upstream, &env);
    // The three delayed requests are answered (too late) once their delay is over.
    live.wait("three slow requests, a 200 and a 304", || {
        let s = live.statuses(XRAYS);
        if s.len() >= 5 && s[3] == 200 && s[4] == 304 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    let requests = live.upstream.requests_to(XRAYS);
    for pair in [(0, 1), (2, 3)] {
        let gap = requests[pair.1].received_at - requests[pair.0].received_at;
        assert!(
            gap >= Duration::from_secs(1),
            "attempt {} waited for the 1 s timeout: {gap:?}",
            pair.0
        );
    }
    assert!(requests[3..]
        .iter()
        .all(|r| r.status == 200 || r.status == 304));
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[
                ("timeout", 1),
                ("fresh", 1),
                ("not_modified", count(&s, 304)),
            ]),
            expected.len() as f64,
        )
    });
    let log = live.proc.log_text();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("poll failed")).collect();
    assert_eq!(failed.len(), 1, "one incident, logged once:\n{log}");
    assert!(
        failed[0].contains(&live.upstream.url(XRAYS)) && failed[0].contains("timed out"),
        "{}",
        failed[0]
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("polling recovered"))
            .count(),
        1,
        "{log}"
    );
    assert_xrays_once(&live.bus, &expected);
}

/// A body cut off before its declared length is a transfer failure: retried in the same poll.
#[test]
fn a_truncated_body_is_retried() {
    let body = xray_hours(6);
    let expected = parse_primary(&body);
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(body.clone()).with_etag("\"a\""));
    upstream.script(
        XRAYS,
        [Behavior::Truncated {
            declared_len: body.len() as u64,
            sent: body[..body.len() / 2].to_vec().into(),
        }],
    );
    let live = Live::start(upstream, XRAY_ONLY);
    live.wait("a cut-off 200, a full 200, a 304", || {
        let s = live.statuses(XRAYS);
        if s.len() >= 3 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    let requests = answered(&live.upstream.requests_to(XRAYS));
    let s: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(s[..3], [200, 200, 304], "{s:?}");
    assert_eq!(requests[0].body_bytes_sent as usize, body.len() / 2);
    assert!(requests[1].received_at - requests[0].received_at < Duration::from_millis(900));
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 1), ("not_modified", count(&s, 304))]),
            expected.len() as f64,
        )
    });
    assert_xrays_once(&live.bus, &expected);
}

/// Whole bad payloads on DONKI (an HTML page with status 200, twice; later a JSON array cut
/// off mid-record): each poll is counted `bad_payload`, each incident logged once with the
/// URL (key redacted), the schedule goes on and the next good payload is published. The NASA
/// key, sent to the upstream, appears nowhere in the process log (debug level) or /metrics.
#[test]
fn bad_payloads_are_counted_logged_once_per_incident_and_the_key_stays_secret() {
    const KEY: &str = "SEKRIT-nasa-4f9a";
    let good = support::read_fixture("donki_flares.json");
    let donki = parse_donki_flares(&good).expect("DONKI parses").records;
    assert_eq!(donki.len(), 70);
    let page =
        "<!DOCTYPE html><html><body><h1>503 Service Temporarily Unavailable</h1></body></html>";
    let cut = good[..good.len() / 2].to_vec();
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_payload(DONKI, good.clone(), None);
    upstream.script(
        DONKI,
        [
            Behavior::Html(page.into()),
            Behavior::Html(page.into()),
            Behavior::Payload,
            Behavior::Respond(Respond::json(cut)),
        ],
    );
    let live = Live::start(
        upstream,
        &[
            ("FLARE__SOURCES__XRAY__ENABLED", "false"),
            ("FLARE__SOURCES__REGIONS__ENABLED", "false"),
            ("FLARE__SOURCES__DONKI__API_KEY", KEY),
            ("RUST_LOG", "debug,async_nats=info"),
        ],
    );
    live.wait("two incidents and good polls after each", || {
        let n = live.statuses(DONKI).len();
        if n >= 6 {
            Ok(())
        } else {
            Err(format!("{n} DONKI polls"))
        }
    });
    live.wait_metrics("donki", |l| {
        let polls = l.statuses(DONKI).len();
        (outcomes(&[("bad_payload", 3), ("fresh", polls - 3)]), 70.0)
    });
    assert_eq!(live.bus.record_count("flare.obs.flare"), 70);
    let on_stream: HashMap<String, FlareEvent> = live
        .bus
        .observations()
        .into_iter()
        .map(|o| match o {
            Observation::Flare(f) => (f.natural_key(), f),
            other => panic!("only DONKI flares expected, got {other:?}"),
        })
        .collect();
    assert!(on_stream == by_key(&donki, FlareEvent::natural_key));

    let log = live.proc.log_text();
    let incidents: Vec<&str> = log.lines().filter(|l| l.contains("poll failed")).collect();
    assert_eq!(incidents.len(), 2, "one line per incident:\n{log}");
    let url = live.upstream.url(DONKI);
    assert!(incidents[0].contains("HTML"), "{}", incidents[0]);
    assert!(incidents[1].contains("truncated"), "{}", incidents[1]);
    for line in &incidents {
        assert!(
            line.contains(&format!("{url}?startDate=")) && line.contains("api_key=***"),
            "the incident names the URL, key redacted: {line}"
        );
    }
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("polling recovered"))
            .count(),
        2,
        "{log}"
    );
    let requests = live.upstream.requests_to(DONKI);
    assert!(requests
        .iter()
        .all(|r| r.query_param("api_key").as_deref() == Some(KEY)));
    assert!(!log.contains(KEY), "the key leaked into the log");
    assert!(
        !live.metrics().contains(KEY),
        "the key leaked into /metrics"
    );
    assert!(
        log.lines().any(|l| l.contains("DEBUG")),
        "the log was captured at debug level"
    );
}

/// A payload with malformed records mixed in: each goes to `flare.dlq.xrs` with its raw text
/// and a reason code; every good record is published; the 304s that follow re-send nothing.
#[test]
fn malformed_records_are_dead_lettered_and_the_rest_is_published() {
    let base = xray_hours(6);
    let good = elements(&base);
    let bad = [
        (
            r#"{"time_tag":"2024-05-01T01:00:30Zgarbage","satellite":16,"flux":1.0e-6,"energy":"0.1-0.8nm"}"#,
            "bad_time",
        ),
        ("42", "not_an_object"),
        (
            r#"{"time_tag":"2024-05-01T02:10:00Z","satellite":16,"flux":2.0e-6,"energy":"0.2-0.9nm"}"#,
            "unknown_band",
        ),
        (
            r#"{"time_tag":"2024-05-01T03:20:00Z","satellite":16,"flux":{"value":1},"energy":"0.1-0.8nm"}"#,
            "wrong_type",
        ),
    ];
    let mut texts: Vec<&str> = good.iter().map(|e| e.get()).collect();
    for (i, (raw, _)) in bad.iter().enumerate() {
        texts.insert(10 + i * 100, raw);
    }
    let body = array(texts);
    let parsed = parse_xrays(&body, XrayFeed::Primary).expect("parses");
    let expected = parse_primary(&base);
    assert!(
        parsed.records == expected,
        "bad records do not touch good ones"
    );
    let codes: Vec<(&str, &str)> = parsed
        .rejected
        .iter()
        .map(|r| (r.raw.as_str(), r.reason.code.as_str()))
        .collect();
    assert_eq!(codes, bad.to_vec(), "the parser's verdicts");

    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(body).with_etag("\"m\""));
    let live = Live::start(upstream, XRAY_ONLY);
    live.wait("the payload and two 304s", || {
        let s = live.statuses(XRAYS);
        if count(&s, 304) >= 2 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 1), ("not_modified", count(&s, 304))]),
            expected.len() as f64,
        )
    });
    let m = live.metrics();
    for (_, code) in bad {
        assert_eq!(
            prom::sum(
                &m,
                "pipeline_records_dead_lettered_total",
                &[("source", "xrs"), ("code", code)]
            ),
            1.0,
            "{code}"
        );
    }
    assert_eq!(
        prom::sum(&m, "pipeline_records_dead_lettered_total", &[]),
        4.0
    );
    let letters = live.bus.messages("DLQ", "flare.dlq.>");
    let got: Vec<(String, String, String)> = letters
        .iter()
        .map(|l| {
            (
                l.subject.clone(),
                String::from_utf8(l.payload.to_vec()).expect("UTF-8"),
                l.header("Flare-Dlq-Code").unwrap_or_default(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = bad
        .iter()
        .map(|(raw, code)| ("flare.dlq.xrs".into(), raw.to_string(), code.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(letters
        .iter()
        .all(|l| l.header("Flare-Dlq-Reason").is_some_and(|r| !r.is_empty())));
    assert_xrays_once(&live.bus, &expected);
}

/// An unchanged feed (Last-Modified only) costs a 304 and stores nothing; the validator
/// survives a restart through the checkpoint, so the new process's first poll is a 304 too.
#[test]
fn an_unchanged_feed_is_a_304_that_publishes_nothing_also_after_a_restart() {
    const STAMP: &str = "Wed, 01 May 2024 06:00:00 GMT";
    let body = xray_hours(6);
    let expected = parse_primary(&body);
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(body).with_last_modified(STAMP));
    let mut live = Live::start(upstream, XRAY_ONLY);
    live.wait("the payload", || {
        let n = live.bus.record_count("flare.obs.xrs") as usize;
        if n == expected.len() {
            Ok(())
        } else {
            Err(format!("{n} stored"))
        }
    });
    let sequence = live.bus.last_sequence("OBS");
    live.wait("two 304s", || {
        let s = live.statuses(XRAYS);
        if count(&s, 304) >= 2 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 1), ("not_modified", count(&s, 304))]),
            expected.len() as f64,
        )
    });
    assert_eq!(live.bus.last_sequence("OBS"), sequence);
    let requests = live.upstream.requests_to(XRAYS);
    assert_eq!(requests[0].header("if-modified-since"), None);
    assert!(requests[1..]
        .iter()
        .all(|r| r.header("if-modified-since") == Some(STAMP)));

    assert_eq!(live.proc.terminate(), Some(0), "{}", live.proc.log_text());
    let before = live.restart_ingest();
    let first = &live.upstream.requests_to(XRAYS)[before];
    assert_eq!(first.header("if-modified-since"), Some(STAMP));
    assert_eq!(first.status, 304);
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (outcomes(&[("not_modified", count(&s[before..], 304))]), 0.0)
    });
    assert_eq!(live.bus.last_sequence("OBS"), sequence);
    assert_xrays_once(&live.bus, &expected);
}

/// A response over the size cap is refused without retry (counted `too_large`, logged once);
/// the next poll's payload, within the cap, is published.
#[test]
fn a_payload_over_the_size_cap_is_counted_and_the_next_poll_publishes() {
    let small = xray_hours(3);
    let large = xray_hours(12);
    let expected = parse_primary(&small);
    let cap = (small.len() + 4096).to_string();
    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(small).with_etag("\"s\""));
    upstream.script(
        XRAYS,
        [Behavior::Respond(Respond::json(large).with_etag("\"l\""))],
    );
    let mut env = XRAY_ONLY.to_vec();
    env.push(("FLARE__HTTP_CLIENT__MAX_RESPONSE_BYTES", &cap));
    let live = Live::start(upstream, &env);
    live.wait("the large response, then the payload and a 304", || {
        let s = live.statuses(XRAYS);
        if s.len() >= 3 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    });
    assert_eq!(live.statuses(XRAYS)[..3], [200, 200, 304]);
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[
                ("too_large", 1),
                ("fresh", 1),
                ("not_modified", count(&s, 304)),
            ]),
            expected.len() as f64,
        )
    });
    let log = live.proc.log_text();
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("poll failed")).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert!(
        failed[0].contains(&live.upstream.url(XRAYS)),
        "{}",
        failed[0]
    );
    assert_xrays_once(&live.bus, &expected);
}

/// Every X-ray poll re-reads the 30 minutes before the checkpoint (late corrections). Inside
/// that overlap a corrected record is published again and an unchanged one is not, also by a
/// restarted process: the checkpoint remembers what was published there.
#[test]
fn a_correction_inside_the_overlap_is_published_and_unchanged_re_reads_are_not() {
    let v1 = xray_hours(6);
    let v1_obs = parse_primary(&v1);
    let last = v1_obs.last().expect("records").time;
    let corrected_tag = (last - chrono::TimeDelta::minutes(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // v2: v1's records, one long-band flux inside the overlap corrected, and an hour more.
    let v2_elements: Vec<String> = elements(&xray_hours(7))
        .iter()
        .map(|e| {
            let is_target = field(e, "time_tag").as_deref() == Some(corrected_tag.as_str())
                && field(e, "energy").as_deref() == Some("0.1-0.8nm");
            if !is_target {
                return e.get().to_string();
            }
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(e.get()).expect("an element");
            object.insert("flux".into(), serde_json::json!(4.5e-6));
            serde_json::Value::Object(object).to_string()
        })
        .collect();
    let v2 = array(v2_elements.iter().map(String::as_str));
    let v2_obs = parse_primary(&v2);
    let new_in_v2 = v2_obs.iter().filter(|x| x.time > last).count();
    assert!(new_in_v2 > 0);

    let upstream = UpstreamServer::start().expect("upstream");
    upstream.set_response(XRAYS, Respond::json(v1).with_etag("\"x-1\""));
    let mut live = Live::start(upstream, XRAY_ONLY);
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 1), ("not_modified", count(&s, 304))]),
            v1_obs.len() as f64,
        )
    });
    live.upstream
        .set_response(XRAYS, Respond::json(v2.clone()).with_etag("\"x-2\""));
    live.wait_metrics("xrs", |l| {
        let s = l.statuses(XRAYS);
        (
            outcomes(&[("fresh", 2), ("not_modified", count(&s, 304))]),
            (v1_obs.len() + 1 + new_in_v2) as f64,
        )
    });
    // On the stream: every record of v2 once, but the corrected one twice, the correction last.
    let mut seen: HashMap<String, Vec<XrayObservation>> = HashMap::new();
    for o in live.bus.records("flare.obs.xrs") {
        let Observation::Xray(x) = o else {
            panic!("not an X-ray observation");
        };
        seen.entry(x.natural_key()).or_default().push(x);
    }
    assert_eq!(seen.len(), v2_obs.len());
    for x in &v2_obs {
        let versions = &seen[&x.natural_key()];
        assert_eq!(versions.last(), Some(x), "{}: the newest version", x.time);
        let expected = if x.time.format("%Y-%m-%dT%H:%M:%SZ").to_string() == corrected_tag {
            assert_eq!(x.flux_long, Some(4.5e-6));
            2
        } else {
            1
        };
        assert_eq!(versions.len(), expected, "{}", x.time);
    }

    // A restarted process re-reads v2 under a new validator: nothing in it is new or changed.
    assert_eq!(live.proc.terminate(), Some(0), "{}", live.proc.log_text());
    let sequence = live.bus.last_sequence("OBS");
    live.upstream
        .set_response(XRAYS, Respond::json(v2).with_etag("\"x-3\""));
    let before = live.restart_ingest();
    assert_eq!(live.upstream.requests_to(XRAYS)[before].status, 200);
    live.wait_metrics("xrs", |l| {
        let s = &l.statuses(XRAYS)[before..];
        (
            outcomes(&[("fresh", count(s, 200)), ("not_modified", count(s, 304))]),
            0.0,
        )
    });
    assert_eq!(
        live.bus.last_sequence("OBS"),
        sequence,
        "nothing re-published"
    );
}
