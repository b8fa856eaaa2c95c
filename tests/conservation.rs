//! The conservation oracle: the three roles as separate processes against a private
//! nats-server and PostgreSQL replay a known input (the 30-day sample with malformed records
//! injected into each upstream file) while faults are injected, and at the end the oracle
//! checks the invariants:
//!
//! 1. every valid input record is stored exactly once with its values intact (the tables
//!    equal the input parsed by the library's parsers, and flare-plus's golden
//!    `flare_events` for the sample);
//! 2. every expected final feature vector was published (by `Nats-Msg-Id`), equals the batch
//!    command's output bit for bit (the clean run's, see pipeline_e2e), and no message id was
//!    published twice with different content;
//! 3. every injected invalid record is on the DLQ once, byte for byte, with its code and
//!    reason;
//! 4. after the faults, new input still flows to storage and to the feature vectors.
//!
//! Faults, one test each: SIGKILL of each role at seeded random points then restart;
//! nats-server restarted mid-stream; a writer 10x slower than the input (memory bounded in
//! every process, ingest held back, nothing dropped). PostgreSQL down for 20 s is
//! writer_faults.rs; an upstream flapping during a poll run is at the end of this file.
//!
//! Soak mode: `FLARE_SOAK_SEEDS=1,2,3,...` sets the kill seeds (default two) and
//! `FLARE_SOAK_INPUT=DIR` replays another recorded directory (e.g. a year from
//! gen_dataset.py) instead of the sample; see docs/RELIABILITY.md.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use flare_plus::bus::vectors::VectorMessage;
use flare_plus::detect::{detect_flares_in_observations, MergeRule};
use flare_plus::domain::Records;
use flare_plus::domain::{FlareCategory, FlareEvent, RegionObservation, XrayFeed, XrayObservation};
use flare_plus::features::series::VectorStatus;
use flare_plus::flare_events::materialize;
use flare_plus::profile::Profile;
use flare_plus::sources::files::{parse, scan};
use flare_plus::sources::SourceKind;
use flare_plus::store::{Store, StoreConfig};
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use support::db::{golden_flare_rows, sort_rows, FlareRow};
use support::live::prom;
use support::procs::{Env, Proc};
use support::vectors::BatchInput;
use testkit::upstream::{Behavior, UpstreamServer};

/// Long enough for a debug build on a loaded 2-core machine; a passing run takes a fraction.
const SETTLE: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// The input and what it must produce

/// Malformed elements injected into each upstream file: each must be rejected by its parser
/// (the oracle checks that first) and end up on the DLQ.
const HOSTILE_XRAYS: &[&str] = &[
    r#"{"time_tag":"2024-05-10T00:00:00Z","satellite":16,"energy":"0.1-0.8nm","flux":"NaN"}"#,
    r#"{"time_tag":"2024-13-40T25:61:00Z","satellite":16,"energy":"0.1-0.8nm","flux":1e-6}"#,
    r#"{"time_tag":"2024-05-11T00:00:00Z","satellite":16,"energy":"0.1-0.8nm","flux":1e400}"#,
    r#""not a record""#,
];
const HOSTILE_REGIONS: &[&str] = &[r#"["not", "a", "region"]"#, r#"17"#];
const HOSTILE_DONKI: &[&str] = &[r#""not a flare""#, r#"[1, 2, 3]"#];

/// The input directory (a copy with the hostile records injected) and the oracle's
/// expectations, computed from the clean input with the library's parsers, detector and
/// flare_events model (the same chain as `flare-plus features batch`).
struct Oracle {
    _dir: tempfile::TempDir,
    input: PathBuf,
    flux: Vec<XrayObservation>,
    regions: Vec<RegionObservation>,
    flare_rows: Vec<FlareRow>,
    flares: Vec<FlareEvent>,
    /// Raw hostile elements, each expected once on the DLQ.
    hostile: Vec<String>,
    /// Every minute from the first to the last observation: the final global ticks.
    ticks: Vec<DateTime<Utc>>,
    /// Records the input puts on OBS for the writer (records + detected flares).
    records: u64,
}

impl Oracle {
    /// The sample, or `FLARE_SOAK_INPUT`.
    fn load() -> Oracle {
        match std::env::var("FLARE_SOAK_INPUT") {
            Ok(dir) if !dir.is_empty() => Oracle::for_input(Path::new(&dir)),
            _ => {
                let oracle = Oracle::for_input(&support::fixture_dir());
                // Tie the oracle to independent truth: flare-plus's own table and counts.
                assert_eq!(
                    oracle.flare_rows,
                    golden_flare_rows(),
                    "oracle = golden flare_events"
                );
                assert_eq!(
                    (oracle.flux.len(), oracle.regions.len(), oracle.ticks.len()),
                    (42_991, 297, 43_200)
                );
                assert_eq!(oracle.records, 42_991 + 297 + 70 + 83);
                oracle
            }
        }
    }

    /// The first `days` days of the sample (for the slow-writer test, which runs at the
    /// throttled writer's pace).
    fn sample_days(days: i64) -> Oracle {
        let source = support::fixture_dir();
        let cutoff = (support::golden_time("2024-05-01T00:00:00") + TimeDelta::days(days))
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        let trimmed = tempfile::tempdir().expect("temp dir");
        for (file, time_field) in [
            ("xrays.json.gz", "time_tag"),
            ("solar_regions.json", "observed_date"),
            ("donki_flares.json", "beginTime"),
        ] {
            let text = read_maybe_gz(&source.join(file));
            let elements: Vec<serde_json::Value> = serde_json::from_str(&text).expect("array");
            let kept: Vec<serde_json::Value> = elements
                .into_iter()
                .filter(|e| e[time_field].as_str().is_some_and(|t| t < cutoff.as_str()))
                .collect();
            std::fs::write(
                trimmed.path().join(file.trim_end_matches(".gz")),
                serde_json::to_string(&kept).expect("JSON"),
            )
            .expect("write trimmed input");
        }
        let oracle = Oracle::for_input(trimmed.path());
        assert_eq!(
            oracle.ticks.len() as i64,
            days * 1440,
            "{days} days of minutes"
        );
        oracle
    }

    fn for_input(source: &Path) -> Oracle {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut hostile = Vec::new();
        let (mut flux, mut regions, mut donki) = (Vec::new(), Vec::new(), Vec::new());
        for file in scan(source).expect("recorded files") {
            let clean = parse(&file).expect("the input parses");
            let injected: &[&str] = match file.kind {
                SourceKind::Xrays(_) => HOSTILE_XRAYS,
                SourceKind::Regions => HOSTILE_REGIONS,
                SourceKind::Donki => HOSTILE_DONKI,
            };
            let name = file
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name")
                .trim_end_matches(".gz")
                .to_string();
            let text = read_maybe_gz(&file.path);
            let open = text.find('[').expect("a JSON array");
            let patched = format!(
                "{}[{},{}",
                &text[..open],
                injected.join(","),
                &text[open + 1..]
            );
            let target = dir.path().join(&name);
            std::fs::write(&target, patched).expect("write input copy");
            let copy = scan(dir.path())
                .expect("scan copy")
                .into_iter()
                .find(|f| f.path == target)
                .expect("the copy is a recorded file");
            // The expectation is the copy's valid records (a region's source_order is its
            // position in the payload, so it counts the injected elements too); the injected
            // elements are rejected, and only they, and nothing else changed.
            let p = parse(&copy).expect("the copy parses");
            match (p.records, clean.records) {
                (Records::Xrays(p), Records::Xrays(c)) => {
                    assert!(p == c, "{name}: same valid records");
                    if file.kind == SourceKind::Xrays(XrayFeed::Primary) {
                        flux.extend(p);
                    }
                }
                (Records::Regions(p), Records::Regions(c)) => {
                    assert_eq!(p.len(), c.len(), "{name}: same valid records");
                    regions.extend(p);
                }
                (Records::Flares(p), Records::Flares(c)) => {
                    assert!(p == c, "{name}: same valid records");
                    donki.extend(p);
                }
                _ => unreachable!("a file parses as its kind"),
            }
            let rejected = p.rejected;
            let raws: Vec<&str> = rejected.iter().map(|r| r.raw.as_str()).collect();
            assert_eq!(
                raws, injected,
                "{name}: exactly the injected records rejected"
            );
            hostile.extend(injected.iter().map(|s| s.to_string()));
        }
        flux.sort_by_key(|x| x.time);
        regions.sort_by_key(|r| (r.timestamp, r.source_order));
        let detected = detect_flares_in_observations(&flux, FlareCategory::C, MergeRule::FlarePlus);
        let records = (flux.len() + regions.len() + donki.len() + detected.len()) as u64;
        let mut candidates = detected;
        candidates.extend(donki);
        let flares = materialize(&candidates, Profile::FlarePlus);
        let mut flare_rows: Vec<FlareRow> = flares.iter().map(FlareRow::of).collect();
        sort_rows(&mut flare_rows);
        let minute = TimeDelta::minutes(1);
        let first = flux
            .first()
            .expect("X-ray records")
            .time
            .duration_trunc(minute)
            .unwrap();
        let last = flux
            .last()
            .expect("X-ray records")
            .time
            .duration_trunc(minute)
            .unwrap();
        let ticks = std::iter::successors(Some(first), |t| Some(*t + minute))
            .take_while(|t| *t <= last)
            .collect();
        Oracle {
            input: dir.path().to_path_buf(),
            _dir: dir,
            flux,
            regions,
            flare_rows,
            flares,
            hostile,
            ticks,
            records,
        }
    }

    fn last_tick(&self) -> DateTime<Utc> {
        *self.ticks.last().expect("ticks")
    }
}

fn read_maybe_gz(path: &Path) -> String {
    String::from_utf8(support::read_maybe_gz(path)).expect("UTF-8 input")
}

// ---------------------------------------------------------------------------------------------
// The pipeline under test

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Ingest,
    Writer,
    Features,
}

/// Private servers, the three role processes, and a client to watch the streams.
struct Cluster {
    nats: testkit::NatsServer,
    _pg: testkit::Postgres,
    db_url: String,
    env: Env,
    _dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
    procs: HashMap<Role, Proc>,
    starts: HashMap<Role, usize>,
    replay_args: Vec<String>,
}

impl Cluster {
    fn start(oracle: &Oracle, extra: &[(&str, &str)], replay_speed: Option<&str>) -> Cluster {
        let nats = testkit::NatsServer::start();
        let pg = testkit::Postgres::start();
        let db_url = pg.create_database("flare_conservation");
        let dir = tempfile::tempdir().unwrap();
        let mut vars = vec![("FLARE__FEATURES__WORKER_ID".to_string(), "w1".to_string())];
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = Env {
            nats_url: nats.url(),
            database_url: db_url.clone(),
            dir: dir.path().to_path_buf(),
            extra: vars,
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
        let js = {
            let _guard = rt.enter();
            async_nats::jetstream::new(client)
        };
        let mut replay_args: Vec<String> = ["run", "--role", "ingest", "--replay"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        replay_args.push(oracle.input.display().to_string());
        if let Some(speed) = replay_speed {
            replay_args.extend(["--speed".to_string(), speed.to_string()]);
        }
        let mut cluster = Cluster {
            nats,
            _pg: pg,
            db_url,
            env,
            _dir: dir,
            rt,
            js,
            procs: HashMap::new(),
            starts: HashMap::new(),
            replay_args,
        };
        cluster.spawn(Role::Writer);
        cluster.spawn(Role::Features);
        cluster
    }

    /// [`Cluster::start`] and the replay at once.
    fn run(oracle: &Oracle, extra: &[(&str, &str)], replay_speed: Option<&str>) -> Cluster {
        let mut cluster = Cluster::start(oracle, extra, replay_speed);
        cluster.spawn(Role::Ingest);
        cluster
    }

    /// Starts (or restarts) a role's process; services wait until ready.
    fn spawn(&mut self, role: Role) {
        let n = self.starts.entry(role).or_default();
        *n += 1;
        let name = format!("{role:?}-{n}").to_lowercase();
        let args: Vec<&str> = match role {
            Role::Ingest => self.replay_args.iter().map(String::as_str).collect(),
            Role::Writer => vec!["run", "--role", "writer"],
            Role::Features => vec!["run", "--role", "features"],
        };
        let mut proc = self.env.spawn(&name, &args);
        if role != Role::Ingest {
            proc.wait_ready(Duration::from_secs(120));
        }
        self.procs.insert(role, proc);
    }

    fn proc(&mut self, role: Role) -> &mut Proc {
        self.procs.get_mut(&role).expect("role started")
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for (role, p) in &self.procs {
            let text = p.log_text();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!(
                "--- {role:?} (last 40 lines)\n{}\n",
                lines[lines.len().saturating_sub(40)..].join("\n")
            ));
        }
        out
    }

    fn consumer_info(&self, name: &str) -> Option<consumer::Info> {
        self.rt.block_on(async {
            let obs = self.js.get_stream("OBS").await.ok()?;
            let mut c = obs
                .get_consumer::<consumer::pull::Config>(name)
                .await
                .ok()?;
            c.info().await.ok().cloned()
        })
    }

    /// How far a role's current process got, as a fraction of the input's records: records
    /// published (ingest), committed (writer) or taken from OBS (features), from its
    /// /metrics. Each role is killed once, so a restarted process's count starting over
    /// does not matter.
    fn progress(&mut self, role: Role, oracle: &Oracle) -> f64 {
        let metrics = self.proc(role).metrics();
        let records = match role {
            Role::Ingest => prom::sum(&metrics, "pipeline_records_ingested_total", &[]),
            Role::Writer => prom::sum(&metrics, "pipeline_records_stored_total", &[]),
            Role::Features => prom::sum(
                &metrics,
                "pipeline_records_received_total",
                &[("actor", "features")],
            ),
        };
        records / oracle.records as f64
    }

    fn feature_checkpoint(&self) -> Option<String> {
        self.rt.block_on(async {
            let kv = self.js.get_key_value("flare_checkpoints").await.ok()?;
            let value = kv.get("features.global").await.ok()??;
            Some(String::from_utf8_lossy(&value).to_string())
        })
    }

    /// Waits until the replay exited successfully, both consumers have nothing left and the
    /// global series is final up to `last_tick`.
    fn wait_settled(&mut self, last_tick: DateTime<Utc>, what: &str) {
        let deadline = Instant::now() + SETTLE;
        let status = self.proc(Role::Ingest).wait_exit(SETTLE);
        assert!(status.success(), "{what}: replay failed:\n{}", self.logs());
        let want = format!(
            "\"last_final\":\"{}\"",
            last_tick.format("%Y-%m-%dT%H:%M:%SZ")
        );
        loop {
            let caught_up = ["writer", "features-w1"].iter().all(|name| {
                self.consumer_info(name)
                    .is_some_and(|i| i.num_pending == 0 && i.num_ack_pending == 0)
            });
            let final_reached = self.feature_checkpoint().is_some_and(|c| c.contains(&want));
            if caught_up && final_reached {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: did not settle (consumers caught up: {caught_up}, checkpoint {:?})\n{}",
                self.feature_checkpoint(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop_services(&mut self) {
        for role in [Role::Writer, Role::Features] {
            let log = self.proc(role).log_text();
            assert_eq!(
                self.proc(role).terminate(),
                Some(0),
                "{role:?} exits 0 on SIGTERM:\n{log}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The invariants

/// Every message of a stream: (subject, `Nats-Msg-Id`, headers, payload).
async fn read_stream(
    js: &async_nats::jetstream::Context,
    name: &str,
) -> Vec<(String, Option<String>, async_nats::HeaderMap, Vec<u8>)> {
    let mut stream = js.get_stream(name).await.expect("stream");
    let total = stream.info().await.expect("info").state.messages;
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("ordered reader");
    let mut messages = reader.messages().await.expect("messages");
    let mut out = Vec::new();
    for _ in 0..total {
        let m = messages.next().await.expect("a message").expect("ok");
        let headers = m.headers.clone().unwrap_or_default();
        let id = headers
            .get(actors::nats::headers::MSG_ID)
            .map(|v| v.as_str().to_string());
        out.push((m.subject.to_string(), id, headers, m.payload.to_vec()));
    }
    out
}

/// Invariant 1: the tables hold every valid record exactly once, values intact.
fn assert_tables_exact(rt: &tokio::runtime::Runtime, db_url: &str, oracle: &Oracle) {
    rt.block_on(async {
        let store = Store::connect(&StoreConfig::for_url(db_url)).await.unwrap();
        let (from, to) = (
            oracle.ticks[0] - TimeDelta::days(400),
            oracle.last_tick() + TimeDelta::days(400),
        );
        let flux = store.read_flux(XrayFeed::Primary, from, to).await.unwrap();
        assert_eq!(flux.len(), oracle.flux.len(), "flux rows");
        assert!(flux == oracle.flux, "every flux row once, values intact");
        let regions = store.read_regions(from, to).await.unwrap();
        assert_eq!(regions.len(), oracle.regions.len(), "region rows");
        assert!(regions == oracle.regions, "region rows intact");
        let mut rows: Vec<FlareRow> = store
            .read_flare_events(from, to)
            .await
            .unwrap()
            .iter()
            .map(FlareRow::of)
            .collect();
        sort_rows(&mut rows);
        assert_eq!(rows, oracle.flare_rows, "flare_events");
        store.close().await;
    });
}

/// Invariant 2: every final global tick once by message id, equal to the batch output; no
/// message id (any series, any status) stored twice with different content.
fn assert_vectors_exact(cluster: &Cluster, oracle: &Oracle) {
    let first = cluster.rt.block_on(async {
        let mut stream = cluster.js.get_stream("FEATURES").await.expect("FEATURES");
        stream.info().await.expect("info").state.first_sequence
    });
    assert_eq!(
        first, 1,
        "FEATURES evicted its oldest vectors (nats.features_max_bytes): the oracle needs them \
         all; use a shorter FLARE_SOAK_INPUT or raise FLARE__NATS__FEATURES_MAX_BYTES"
    );
    let messages = cluster.rt.block_on(read_stream(&cluster.js, "FEATURES"));
    let mut by_id: HashMap<String, serde_json::Value> = HashMap::new();
    let mut finals: BTreeMap<DateTime<Utc>, VectorMessage> = BTreeMap::new();
    for (subject, id, _, payload) in &messages {
        let id = id
            .clone()
            .unwrap_or_else(|| panic!("{subject}: no Nats-Msg-Id"));
        let value: serde_json::Value = serde_json::from_slice(payload).expect("JSON vector");
        if let Some(before) = by_id.insert(id.clone(), value.clone()) {
            assert_eq!(before, value, "{id} published twice with different content");
        }
        let v = VectorMessage::decode(payload).expect("a vector");
        if v.series == "global" && v.status == VectorStatus::Final {
            assert_eq!(
                id,
                flare_plus::bus::vectors::msg_id(
                    flare_plus::features::series::SeriesId::Global,
                    v.tick,
                    VectorStatus::Final
                )
            );
            finals.insert(v.tick, v);
        }
    }
    let ticks: Vec<DateTime<Utc>> = finals.keys().copied().collect();
    let missing: Vec<&DateTime<Utc>> = oracle
        .ticks
        .iter()
        .filter(|t| !finals.contains_key(t))
        .take(5)
        .collect();
    assert!(
        missing.is_empty() && ticks.len() == oracle.ticks.len(),
        "{} final ticks for {} expected; first missing: {missing:?}",
        ticks.len(),
        oracle.ticks.len()
    );
    support::vectors::assert_finals_equal_batch(
        &finals,
        BatchInput {
            flux: &oracle.flux,
            regions: &oracle.regions,
            flares: &oracle.flares,
        },
    );
}

/// Invariant 3: each injected record on the DLQ once, byte for byte, with code and reason.
fn assert_dead_letters(
    rt: &tokio::runtime::Runtime,
    js: &async_nats::jetstream::Context,
    oracle: &Oracle,
) {
    let dlq = rt.block_on(read_stream(js, "DLQ"));
    let mut payloads: Vec<String> = Vec::new();
    for (subject, _, headers, payload) in &dlq {
        assert!(subject.starts_with("flare.dlq."), "{subject}");
        for h in [
            actors::nats::headers::DLQ_CODE,
            actors::nats::headers::DLQ_REASON,
        ] {
            assert!(
                headers.get(h).is_some_and(|v| !v.as_str().is_empty()),
                "{subject}: header {h} present"
            );
        }
        payloads.push(String::from_utf8_lossy(payload).to_string());
    }
    payloads.sort();
    let mut expected = oracle.hostile.clone();
    expected.sort();
    assert_eq!(payloads, expected, "the DLQ holds each invalid record once");
}

/// Invariant 4: after the faults, two new minutes of X-ray data reach storage and produce
/// their feature vectors.
fn assert_still_flows(cluster: &mut Cluster, oracle: &Oracle) {
    let next = oracle.last_tick() + TimeDelta::minutes(1);
    let dir = cluster.env.dir.join("after");
    std::fs::create_dir_all(&dir).unwrap();
    let band = |t: DateTime<Utc>, energy: &str, flux: f64| {
        format!(
            r#"{{"time_tag":"{}","satellite":16,"energy":"{energy}","flux":{flux:e}}}"#,
            t.format("%Y-%m-%dT%H:%M:%SZ")
        )
    };
    let t2 = next + TimeDelta::minutes(1);
    let elements = [
        band(next, "0.05-0.4nm", 1.5e-8),
        band(next, "0.1-0.8nm", 2.5e-7),
        band(t2, "0.05-0.4nm", 1.6e-8),
        band(t2, "0.1-0.8nm", 2.6e-7),
    ];
    std::fs::write(dir.join("xrays.json"), format!("[{}]", elements.join(","))).unwrap();
    let mut replay = cluster
        .env
        .spawn("after", &["replay", dir.to_str().unwrap()]);
    let status = replay.wait_exit(SETTLE);
    assert!(status.success(), "{}", replay.log_text());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = cluster.rt.block_on(async {
            let store = Store::connect(&StoreConfig::for_url(&cluster.db_url))
                .await
                .unwrap();
            let rows = store
                .read_flux(XrayFeed::Primary, next, t2 + TimeDelta::seconds(1))
                .await
                .unwrap();
            store.close().await;
            rows
        });
        let vector = cluster.rt.block_on(async {
            let vectors = read_stream(&cluster.js, "FEATURES").await;
            vectors.iter().any(|(subject, _, _, payload)| {
                subject == "flare.features.global"
                    && VectorMessage::decode(payload).is_ok_and(|v| v.tick == t2)
            })
        });
        if stored.len() == 2 && vector {
            assert_eq!(
                stored.iter().map(|x| x.flux_long).collect::<Vec<_>>(),
                vec![Some(2.5e-7), Some(2.6e-7)]
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "new input after the faults: {} rows stored, vector for {t2}: {vector}\n{}",
            stored.len(),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn assert_conserved(cluster: &mut Cluster, oracle: &Oracle) {
    assert_tables_exact(&cluster.rt, &cluster.db_url, oracle);
    assert_vectors_exact(cluster, oracle);
    assert_dead_letters(&cluster.rt, &cluster.js, oracle);
    assert_still_flows(cluster, oracle);
    cluster.stop_services();
}

// ---------------------------------------------------------------------------------------------
// Faults

fn seeds() -> Vec<u64> {
    match std::env::var("FLARE_SOAK_SEEDS") {
        Ok(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("FLARE_SOAK_SEEDS: comma-separated integers")
            })
            .collect(),
        _ => vec![7, 1913],
    }
}

/// One kill per role, each once the role's own progress passed a seeded fraction of the
/// input (so kills land in a seeded order and may overlap); a killed process is restarted
/// after a seeded pause.
fn kill_each_role(seed: u64, oracle: &Oracle) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut plan: Vec<(Role, f64, Duration)> = [Role::Ingest, Role::Writer, Role::Features]
        .into_iter()
        .map(|role| {
            let at = rng.random_range(0.1..0.8);
            let down = Duration::from_millis(rng.random_range(0..1500));
            (role, at, down)
        })
        .collect();
    // Paced (30 days in about 13 s) so every seeded point is passed while all three roles
    // still run: at full speed the ingest is through the sample in well under a second.
    let mut cluster = Cluster::run(oracle, &[], Some("200000x"));
    let deadline = Instant::now() + SETTLE;
    let mut restarts: Vec<(Role, Instant)> = Vec::new();
    let mut done = Vec::new();
    while !plan.is_empty() || !restarts.is_empty() {
        assert!(
            Instant::now() < deadline,
            "seed {seed}: kills {plan:?} never happened\n{}",
            cluster.logs()
        );
        let mut i = 0;
        while i < plan.len() {
            let (role, at, down) = plan[i];
            let reached = cluster.progress(role, oracle);
            if reached < at {
                i += 1;
                continue;
            }
            plan.remove(i);
            assert!(
                cluster.proc(role).child.is_running(),
                "seed {seed}: {role:?} still running at {reached:.2} (a kill mid-stream)\n{}",
                cluster.logs()
            );
            cluster.proc(role).child.kill();
            restarts.push((role, Instant::now() + down));
            done.push(format!(
                "{role:?} at {reached:.2} (target {at:.2}), down {down:?}"
            ));
        }
        restarts.retain(|(role, at)| {
            if Instant::now() >= *at {
                cluster.spawn(*role);
                false
            } else {
                true
            }
        });
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("seed {seed}: killed {done:?}");
    cluster.wait_settled(oracle.last_tick(), &format!("seed {seed}"));
    assert_conserved(&mut cluster, oracle);
}

#[test]
fn sigkill_of_each_role_at_seeded_points_loses_and_doubles_nothing() {
    let oracle = Oracle::load();
    for seed in seeds() {
        kill_each_role(seed, &oracle);
    }
}

#[test]
fn nats_server_restarted_mid_stream_loses_and_doubles_nothing() {
    let oracle = Oracle::load();
    // Paced so the restart lands in the middle of the input: 30 days in about 30 s.
    let mut cluster = Cluster::run(&oracle, &[], Some("90000x"));
    let deadline = Instant::now() + SETTLE;
    while cluster.progress(Role::Writer, &oracle) < 0.3 {
        assert!(Instant::now() < deadline, "no progress\n{}", cluster.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cluster.proc(Role::Ingest).child.is_running(), "mid-stream");
    cluster.nats.restart();
    // Every process survived the outage (reconnected, not restarted).
    std::thread::sleep(Duration::from_secs(2));
    for role in [Role::Writer, Role::Features] {
        assert!(
            cluster.proc(role).child.is_running(),
            "{role:?} survived the restart\n{}",
            cluster.logs()
        );
    }
    cluster.wait_settled(oracle.last_tick(), "after the nats-server restart");
    assert_eq!(
        cluster.starts.values().sum::<usize>(),
        3,
        "no process restarted"
    );
    let m = cluster.proc(Role::Features).metrics();
    eprintln!(
        "feature deliveries out of order: waited {}, redelivered {}, holes accepted {}",
        prom::sum(
            &m,
            "pipeline_features_out_of_order_total",
            &[("outcome", "waited")]
        ),
        prom::sum(
            &m,
            "pipeline_features_out_of_order_total",
            &[("outcome", "redelivered")]
        ),
        prom::sum(
            &m,
            "pipeline_features_out_of_order_total",
            &[("outcome", "hole_accepted")]
        ),
    );
    assert_conserved(&mut cluster, &oracle);
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

#[test]
fn a_writer_ten_times_slower_than_the_input_holds_ingest_back_in_bounded_memory() {
    let oracle = Oracle::sample_days(8);
    // OBS messages (batches of up to 500 records): about 2,000 records.
    const MAX_BACKLOG: u64 = 4;
    // The writer is ready (its migrations ran) before the replay starts. The backlog is read
    // every 10 ms, so publishes overshoot the bound by what one 10 ms interval sends.
    let mut cluster = Cluster::start(
        &oracle,
        &[
            ("FLARE__INGEST__MAX_WRITER_BACKLOG", "4"),
            ("FLARE__INGEST__BACKLOG_CHECK", "10ms"),
        ],
        None,
    );
    // The throttle: every flux row costs the database 1 ms, so the writer stores under 1000
    // rows/s (asserted below), against a replay at full speed (unthrottled, ingest -> stored
    // runs at 17,000 records/s in the release benchmark and above 10,000 in this debug build).
    cluster.rt.block_on(async {
        let pool = sqlx::PgPool::connect(&cluster.db_url).await.unwrap();
        for statement in [
            "CREATE FUNCTION throttle() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$",
            "CREATE TRIGGER throttle BEFORE INSERT ON flare_goes_xray_flux \
             FOR EACH ROW EXECUTE FUNCTION throttle()",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }
        pool.close().await;
    });
    let started = Instant::now();
    cluster.spawn(Role::Ingest);
    let pids: Vec<(Role, u32)> = [Role::Ingest, Role::Writer, Role::Features]
        .into_iter()
        .map(|r| (r, cluster.proc(r).child.pid().expect("pid")))
        .collect();
    let mut peak_rss: HashMap<Role, u64> = HashMap::new();
    let mut peak_backlog = 0u64;
    let mut ingest_done = None;
    while cluster.progress(Role::Writer, &oracle) < 0.999 {
        for (role, pid) in &pids {
            if let Some(kib) = rss_kib(*pid) {
                let peak = peak_rss.entry(*role).or_default();
                *peak = (*peak).max(kib);
            }
        }
        if let Some(info) = cluster.consumer_info("writer") {
            peak_backlog = peak_backlog.max(info.num_pending + info.num_ack_pending as u64);
        }
        if ingest_done.is_none() && !cluster.proc(Role::Ingest).child.is_running() {
            ingest_done = Some(started.elapsed());
        }
        assert!(
            started.elapsed() < SETTLE,
            "throttled run did not finish\n{}",
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let writer_done = started.elapsed();
    let ingest_done = ingest_done.unwrap_or(writer_done);
    let writer_rate = oracle.records as f64 / writer_done.as_secs_f64();
    assert!(
        writer_rate < 1000.0,
        "throttled writer stored {writer_rate:.0} records/s"
    );
    eprintln!(
        "throttled: ingest done after {ingest_done:?}, writer after {writer_done:?}, \
         peak writer backlog {peak_backlog}, peak RSS KiB {peak_rss:?}"
    );
    // Held back: the backlog stayed near the bound (what the four ingest actors publish in
    // one check interval over it), and ingest finished only with the writer, not in the
    // second an unthrottled replay takes.
    assert!(
        peak_backlog <= MAX_BACKLOG + 20,
        "writer backlog {peak_backlog} (bound {MAX_BACKLOG})"
    );
    assert!(
        ingest_done.as_secs_f64() >= 0.6 * writer_done.as_secs_f64(),
        "ingest ({ingest_done:?}) was paced by the writer ({writer_done:?})"
    );
    assert!(
        cluster
            .proc(Role::Ingest)
            .log_text()
            .contains("consumer behind: holding publishes back"),
        "ingest logged its backpressure"
    );
    // Stated bounds (docs/RELIABILITY.md): every process well under 128 MiB while the writer
    // is 10x slower than the input; without the gate, OBS would buffer the whole input.
    for (role, kib) in &peak_rss {
        assert!(*kib < 128 * 1024, "{role:?} peak RSS {kib} KiB");
    }
    assert_eq!(peak_rss.len(), 3, "RSS sampled for every process");
    cluster.wait_settled(oracle.last_tick(), "throttled writer");
    assert_conserved(&mut cluster, &oracle);
}

// ---------------------------------------------------------------------------------------------
// A flapping upstream during a poll run

const XRAYS_PATH: &str = "/json/goes/primary/xrays-7-day.json";
const REGIONS_PATH: &str = "/json/solar_regions.json";
const DONKI_PATH: &str = "/DONKI/FLR";

#[test]
fn a_flapping_upstream_during_a_poll_run_loses_and_doubles_nothing() {
    let oracle = Oracle::load();
    let upstream = UpstreamServer::start().expect("upstream");
    let payload = |name: &str| std::fs::read(oracle.input.join(name)).expect("input file");
    upstream.set_payload(XRAYS_PATH, payload("xrays.json"), None);
    upstream.set_payload(REGIONS_PATH, payload("solar_regions.json"), None);
    upstream.set_payload(DONKI_PATH, payload("donki_flares.json"), None);
    // Every feed fails in every way before it answers, and again between good answers.
    let flaps = || {
        vec![
            Behavior::Status(503),
            Behavior::Truncated {
                declared_len: 100_000,
                sent: bytes::Bytes::from_static(b"[{\"time_tag\":"),
            },
            Behavior::Delay(Duration::from_secs(3)),
            Behavior::ResetMidBody,
            Behavior::Status(502),
            Behavior::Payload,
            Behavior::Status(500),
            Behavior::ResetMidBody,
            Behavior::Payload,
        ]
    };
    for path in [XRAYS_PATH, REGIONS_PATH, DONKI_PATH] {
        upstream.script(path, flaps());
    }
    let nats = testkit::NatsServer::start();
    let pg = testkit::Postgres::start();
    let db_url = pg.create_database("flare_flapping");
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        nats_url: nats.url(),
        database_url: db_url.clone(),
        dir: dir.path().to_path_buf(),
        extra: [
            (
                "FLARE__SOURCES__XRAY__PRIMARY_URL",
                upstream.url(XRAYS_PATH),
            ),
            ("FLARE__SOURCES__REGIONS__URL", upstream.url(REGIONS_PATH)),
            ("FLARE__SOURCES__DONKI__URL", upstream.url(DONKI_PATH)),
            ("FLARE__SOURCES__DONKI__API_KEY", "TEST-KEY-1".to_string()),
            ("FLARE__SOURCES__XRAY__INTERVAL", "1s".to_string()),
            ("FLARE__SOURCES__REGIONS__INTERVAL", "1s".to_string()),
            ("FLARE__SOURCES__DONKI__INTERVAL", "1s".to_string()),
            ("FLARE__HTTP_CLIENT__TIMEOUT", "1s".to_string()),
            ("FLARE__HTTP_CLIENT__MAX_RETRIES", "1".to_string()),
            ("FLARE__HTTP_CLIENT__RETRY_BASE", "50ms".to_string()),
            ("FLARE__HTTP_CLIENT__RETRY_MAX", "200ms".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    };
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(120));
    let mut ingest = env.spawn("ingest", &["run", "--role", "ingest"]);
    ingest.wait_ready(Duration::from_secs(120));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let js = {
        let _guard = rt.enter();
        async_nats::jetstream::new(client)
    };
    // Done once every scripted flap was served (each feed answered twice more after it) and
    // the writer stored what ingest published.
    let deadline = Instant::now() + SETTLE;
    loop {
        let served_all = [XRAYS_PATH, REGIONS_PATH, DONKI_PATH].iter().all(|p| {
            upstream
                .requests_to(p)
                .iter()
                .filter(|r| r.completed)
                .count()
                >= 11
        });
        let writer_idle = rt.block_on(async {
            let obs = js.get_stream("OBS").await.ok()?;
            let mut c = obs
                .get_consumer::<consumer::pull::Config>("writer")
                .await
                .ok()?;
            let info = c.info().await.ok()?;
            Some(
                info.num_pending == 0
                    && info.num_ack_pending == 0
                    && info.delivered.stream_sequence > 0,
            )
        });
        if served_all && writer_idle == Some(true) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "flapping poll run did not settle\ningest:\n{}\nwriter:\n{}",
            ingest.log_text(),
            writer.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every failure mode was seen and counted as a failed fetch, never as data.
    let m = ingest.metrics();
    for source in ["xrs", "region", "donki"] {
        let fetches = prom::sum(&m, "pipeline_fetches_total", &[("source", source)]);
        let good = prom::fetches(&m, source, "fresh") + prom::fetches(&m, source, "not_modified");
        assert!(
            fetches - good >= 3.0,
            "{source}: {fetches} fetches, {good} good; failed polls counted:\n{m}"
        );
    }
    // Stored exactly once, values intact; the DLQ holds the hostile records once (the same
    // payload served again is deduplicated by content).
    assert_tables_exact(&rt, &db_url, &oracle);
    assert_dead_letters(&rt, &js, &oracle);
    assert_eq!(ingest.terminate(), Some(0));
    assert_eq!(writer.terminate(), Some(0));
    drop(pg);
}
