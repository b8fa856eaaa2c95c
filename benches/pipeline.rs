//! Pipeline benchmarks (`cargo bench --bench pipeline`): the release binary's roles as
//! processes against a private nats-server (JetStream, file storage) and SQLite, measured in
//! one run next to a bare async-nats JetStream publish -> pull-consume of the same number of
//! messages. Prints one section per measurement; docs/BENCHMARKS.md records the results.
//!
//! Environment: FLARE_BENCH_YEAR_DAYS=DIR runs the year replay too (DIR = daily directories
//! from `tools/split-days.py`); FLARE_BENCH_LIVE_SECS (default 60) sets the live-latency run.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;
use support::procs::{fixture_path, metric, metric_sum, Env, Proc};

fn main() {
    let live_secs: u64 = std::env::var("FLARE_BENCH_LIVE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let sample_records = 42_991 + 297 + 70;
    println!(
        "# pipeline benchmarks ({} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let bare = bare_jetstream(sample_records + 200);
    println!(
        "\n## bare JetStream publish -> consume, {} messages of {} B",
        bare.messages, bare.bytes
    );
    println!(
        "rate {:.0} msg/s ({:.2} s)",
        bare.messages as f64 / bare.seconds,
        bare.seconds
    );

    let sample = replay_run(
        "sample",
        Source::Replay(fixture_path()),
        "2024-05-30T23:59:00Z",
    );
    report(&sample, bare.messages as f64 / bare.seconds);
    report_traffic(&sample);

    if let Ok(days) = std::env::var("FLARE_BENCH_YEAR_DAYS") {
        let bare_year = bare_jetstream(525_600 + 3_600 + 1_000);
        println!(
            "\n## bare JetStream publish -> consume, {} messages",
            bare_year.messages
        );
        println!(
            "rate {:.0} msg/s ({:.2} s)",
            bare_year.messages as f64 / bare_year.seconds,
            bare_year.seconds
        );
        let year = replay_run(
            "year",
            Source::Backfill(days.into(), "2023-01-01", "2023-12-31"),
            "2023-12-31T23:59:00Z",
        );
        report(&year, bare_year.messages as f64 / bare_year.seconds);
        report_traffic(&year);
    }

    if live_secs > 0 {
        live_latency(live_secs);
    }
    if std::env::var("FLARE_BENCH_SKIP_BACKFILL").is_err() {
        feature_backfill();
    }
}

/// Observation-sized: an X-ray record as ingest publishes it (211 B).
const INPUT: &[u8] = br#"{"v":1,"kind":"xrs","data":{"feed":"primary","time":"2024-05-01T00:00:00Z","satellite":16,"flux_short":1.09497e-8,"flux_long":3.13212e-7,"electron_contamination_short":false,"electron_contamination_long":false}}"#;

struct Bare {
    messages: usize,
    bytes: usize,
    seconds: f64,
}

/// Publishes `n` observation-sized messages (async acks, 256 in flight) while a durable pull
/// consumer (batches of 256, explicit ack of each) drains them; wall time from the first
/// publish to the last ack.
fn bare_jetstream(n: usize) -> Bare {
    Bare {
        messages: n,
        bytes: INPUT.len(),
        seconds: bare_run(n, INPUT.len(), &["c"], 0, 0),
    }
}

/// Bare JetStream moving the same traffic as `run`: its OBS messages (same count and
/// average size) consumed twice, and its final vectors out (same count and average size);
/// and how close the pipeline came to it.
fn report_traffic(run: &RunResult) {
    let input_bytes = (run.obs_bytes / run.obs_messages.max(1)) as usize;
    let traffic = Traffic {
        inputs: run.obs_messages as usize,
        input_bytes,
        outputs: run.final_vectors as usize,
        output_bytes: run.vector_bytes,
        seconds: bare_run(
            run.obs_messages as usize,
            input_bytes,
            &["writer", "features"],
            run.final_vectors as usize,
            run.vector_bytes,
        ),
    };
    println!(
        "\n## bare JetStream, the {} run's traffic: {} OBS messages of {} B consumed twice + {} published messages of {} B",
        run.name, traffic.inputs, traffic.input_bytes, traffic.outputs, traffic.output_bytes
    );
    println!(
        "{:.2} s; the pipeline end to end (from its first record on OBS) reaches {:.0}% of it",
        traffic.seconds,
        100.0 * traffic.seconds / (run.seconds - run.first_publish_seconds)
    );
}

struct Traffic {
    inputs: usize,
    input_bytes: usize,
    outputs: usize,
    output_bytes: usize,
    seconds: f64,
}

/// `inputs` messages of `input_bytes` published to stream IN (async acks, 256 in flight) and
/// drained by one durable pull consumer per name (fetch 256, explicit ack of each), and at
/// the same time `outputs` messages of `output_bytes` published to stream OUT. Both file
/// storage, a private nats-server. Wall time from the first publish until everything is
/// acked.
fn bare_run(
    inputs: usize,
    input_bytes: usize,
    consumers: &[&str],
    outputs: usize,
    output_bytes: usize,
) -> f64 {
    let nats = testkit::NatsServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = jetstream::new(client.clone());
        let mut streams = Vec::new();
        for (name, subject) in [("IN", "in.>"), ("OUT", "out.>")] {
            streams.push(
                js.create_stream(stream::Config {
                    name: name.into(),
                    subjects: vec![subject.into()],
                    ..Default::default()
                })
                .await
                .unwrap(),
            );
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for name in consumers {
            let c = streams[0]
                .create_consumer(consumer::pull::Config {
                    durable_name: Some(name.to_string()),
                    max_ack_pending: 4096,
                    ..Default::default()
                })
                .await
                .unwrap();
            tasks.push(tokio::spawn(async move {
                let mut done = 0;
                while done < inputs {
                    let mut batch = c.fetch().max_messages(256).messages().await.unwrap();
                    while let Some(m) = batch.next().await {
                        m.unwrap().ack().await.unwrap();
                        done += 1;
                    }
                }
            }));
        }
        let input = if input_bytes == INPUT.len() {
            bytes::Bytes::from_static(INPUT)
        } else {
            bytes::Bytes::from(vec![b'x'; input_bytes])
        };
        let output = bytes::Bytes::from(vec![b'y'; output_bytes]);
        for (subject, payload, n) in [("in.xrs", input, inputs), ("out.global", output, outputs)] {
            let js = js.clone();
            tasks.push(tokio::spawn(async move {
                let mut acks = std::collections::VecDeque::new();
                for i in 0..n {
                    let mut h = async_nats::HeaderMap::new();
                    h.insert("Nats-Msg-Id", format!("{subject}{i}").as_str());
                    acks.push_back(
                        js.publish_with_headers(subject, h, payload.clone())
                            .await
                            .unwrap(),
                    );
                    if acks.len() >= 256 {
                        acks.pop_front().unwrap().await.unwrap();
                    }
                }
                for a in acks {
                    a.await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        started.elapsed().as_secs_f64()
    })
}

enum Source {
    Replay(std::path::PathBuf),
    Backfill(std::path::PathBuf, &'static str, &'static str),
}

struct RunResult {
    name: &'static str,
    /// When the first record was stored on OBS, after the ingest process was started.
    first_publish_seconds: f64,
    /// OBS messages (batches) and their bytes.
    obs_messages: u64,
    obs_bytes: u64,
    /// Average stored size of a FEATURES message.
    vector_bytes: usize,
    records: f64,
    /// Until every record is stored and every final vector published.
    seconds: f64,
    /// Until every record is stored (ingest -> OBS -> writer -> database).
    stored_seconds: f64,
    rss: Vec<(&'static str, u64)>,
    writer: String,
    features: String,
    ingest_rss_kib: u64,
    final_vectors: f64,
}

fn vm_hwm_kib(p: &Proc) -> u64 {
    let pid = p.child.pid().unwrap_or(0);
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs writer + features, then the ingest (replay or backfill), and waits until every record
/// is stored and the last tick is final. Measures wall time from the ingest's start.
fn replay_run(name: &'static str, source: Source, last_tick: &str) -> RunResult {
    let nats = testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        nats_url: nats.url(),
        database_url: format!("sqlite://{}", dir.path().join("flare.db").display()),
        dir: dir.path().to_path_buf(),
        extra: vec![(
            "RUST_LOG".into(),
            "warn,flare_plus::pipeline::supervisor=info".into(),
        )],
    };
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(60));
    let mut worker_env = env.clone();
    worker_env
        .extra
        .push(("FLARE__FEATURES__WORKER_ID".into(), "bench".into()));
    let mut features = worker_env.spawn("features", &["run", "--role", "features"]);
    features.wait_ready(Duration::from_secs(60));
    let started = Instant::now();
    let started_wall = chrono::Utc::now();
    let mut ingest = match &source {
        Source::Replay(dir) => env.spawn("ingest", &["replay", dir.to_str().unwrap()]),
        Source::Backfill(dir, from, to) => env.spawn(
            "ingest",
            &[
                "backfill",
                "--from",
                from,
                "--to",
                to,
                "--source",
                dir.to_str().unwrap(),
            ],
        ),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let js = {
        let _g = rt.enter();
        jetstream::new(client)
    };
    let mut ingest_rss = 0;
    let mut ingest_done = false;
    let mut stored_at: Option<f64> = None;
    loop {
        if !ingest_done {
            ingest_rss = ingest_rss.max(vm_hwm_kib(&ingest));
            if let Some(status) = ingest.child.wait_timeout(Duration::from_millis(0)) {
                assert!(status.success(), "ingest failed:\n{}", ingest.log_text());
                ingest_done = true;
            }
        }
        let (stored, finals) = if !ingest_done {
            (false, false)
        } else {
            rt.block_on(async {
                let obs = js.get_stream("OBS").await.unwrap();
                let mut w = obs
                    .get_consumer::<consumer::pull::Config>("writer")
                    .await
                    .unwrap();
                let info = w.info().await.unwrap();
                let kv = js.get_key_value("flare_checkpoints").await.unwrap();
                let global = kv
                    .get("features.global")
                    .await
                    .unwrap()
                    .map(|b| String::from_utf8_lossy(&b).to_string());
                (
                    info.num_pending == 0 && info.num_ack_pending == 0,
                    global.is_some_and(|g| g.contains(&format!("\"last_final\":\"{last_tick}\""))),
                )
            })
        };
        if stored && stored_at.is_none() {
            stored_at = Some(started.elapsed().as_secs_f64());
        }
        let done = stored && finals;
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let seconds = started.elapsed().as_secs_f64();
    let (w, f) = (writer.metrics(), features.metrics());
    // What the streams hold, and when the first record reached OBS (the bare baseline's
    // clock also starts at its first publish).
    let (first_publish, obs, features_state) = rt.block_on(async {
        let mut obs = js.get_stream("OBS").await.unwrap();
        let first = obs.get_raw_message(1).await.unwrap().time;
        let obs_state = obs.info().await.unwrap().state.clone();
        let mut out = js.get_stream("FEATURES").await.unwrap();
        let out_state = out.info().await.unwrap().state.clone();
        (first, obs_state, out_state)
    });
    let first_publish_seconds = (first_publish - started_wall)
        .to_std()
        .map_or(0.0, |d| d.as_secs_f64());
    let result = RunResult {
        name,
        first_publish_seconds,
        obs_messages: obs.messages,
        obs_bytes: obs.bytes,
        vector_bytes: (features_state.bytes / features_state.messages.max(1)) as usize,
        records: metric(&w, "pipeline_records_stored_total").unwrap_or(0.0),
        seconds,
        stored_seconds: stored_at.unwrap_or(seconds),
        rss: vec![
            ("writer", vm_hwm_kib(&writer)),
            ("features", vm_hwm_kib(&features)),
        ],
        ingest_rss_kib: ingest_rss,
        final_vectors: metric_sum(&f, "pipeline_vectors_published_total", "status=\"final\""),
        writer: w,
        features: f,
    };
    writer.terminate();
    features.terminate();
    result
}

/// `histogram_quantile` over one series' buckets: cumulative counts by upper bound.
fn quantile(text: &str, name: &str, labels: &str, q: f64) -> Option<f64> {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(labels))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower);
            }
            let within = if count > below {
                (rank - below) / (count - below)
            } else {
                0.0
            };
            return Some(lower + (bound - lower) * within);
        }
        lower = bound;
        below = count;
    }
    None
}

fn ms(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.2} ms", v * 1e3))
}

fn report(r: &RunResult, bare_rate: f64) {
    let rate = r.records / r.seconds;
    let stored_rate = r.records / r.stored_seconds;
    println!("\n## pipeline replay: {}", r.name);
    println!(
        "ingest -> NATS -> writer -> database: {:.0} records in {:.2} s = {:.0} records/s ({:.0}% of the bare JetStream rate)",
        r.records,
        r.stored_seconds,
        stored_rate,
        100.0 * stored_rate / bare_rate
    );
    println!(
        "with every final feature vector published: {:.0} records in {:.2} s = {:.0} records/s ({:.0}% of the bare rate); {:.0} final vectors",
        r.records,
        r.seconds,
        rate,
        100.0 * rate / bare_rate,
        r.final_vectors
    );
    let from_first = r.seconds - r.first_publish_seconds;
    println!(
        "  the same, timed like the bare baseline (from the first record on OBS, {:.2} s after the ingest process started): {:.2} s = {:.0} records/s ({:.0}% of the bare rate)",
        r.first_publish_seconds,
        from_first,
        r.records / from_first,
        100.0 * r.records / from_first / bare_rate
    );
    println!(
        "OBS: {} messages, {:.0} records and {:.0} B per message",
        r.obs_messages,
        r.records / r.obs_messages.max(1) as f64,
        r.obs_bytes as f64 / r.obs_messages.max(1) as f64
    );
    println!(
        "peak RSS: ingest {} MiB, {}",
        r.ingest_rss_kib / 1024,
        r.rss
            .iter()
            .map(|(n, k)| format!("{n} {} MiB", k / 1024))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (text, actor) in [(&r.writer, "writer"), (&r.features, "features")] {
        let labels = format!("actor=\"{actor}\"");
        println!(
            "mailbox latency {actor}: p50 {} p99 {}; handler p50 {} p99 {}",
            ms(quantile(
                text,
                "actor_mailbox_latency_seconds",
                &labels,
                0.5
            )),
            ms(quantile(
                text,
                "actor_mailbox_latency_seconds",
                &labels,
                0.99
            )),
            ms(quantile(text, "actor_handler_seconds", &labels, 0.5)),
            ms(quantile(text, "actor_handler_seconds", &labels, 0.99)),
        );
    }
}

/// The sample replayed at 60x (one X-ray minute per second, as live SWPC data arrives per
/// minute), `secs` long: mailbox latency of each actor and end-to-end latency from a record
/// entering (ingest) to being stored / to its provisional vector being acked by the stream.
fn live_latency(secs: u64) {
    let nats = testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        nats_url: nats.url(),
        database_url: format!("sqlite://{}", dir.path().join("flare.db").display()),
        dir: dir.path().to_path_buf(),
        extra: vec![(
            "RUST_LOG".into(),
            "warn,flare_plus::pipeline::supervisor=info".into(),
        )],
    };
    let mut all = env.spawn(
        "all",
        &[
            "run",
            "--replay",
            fixture_path().to_str().unwrap(),
            "--speed",
            "60x",
        ],
    );
    all.wait_ready(Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(secs));
    let text = all.metrics();
    all.terminate();
    println!("\n## live cadence (replay at 60x: one X-ray minute per second), {secs} s");
    for actor in ["ingest_xrs_primary", "writer", "features"] {
        let labels = format!("actor=\"{actor}\"");
        println!(
            "mailbox latency {actor}: p50 {} p99 {} ({} messages)",
            ms(quantile(
                &text,
                "actor_mailbox_latency_seconds",
                &labels,
                0.5
            )),
            ms(quantile(
                &text,
                "actor_mailbox_latency_seconds",
                &labels,
                0.99
            )),
            metric(
                &text,
                &format!("actor_mailbox_latency_seconds_count{{{labels}}}")
            )
            .unwrap_or(0.0)
        );
    }
    for stage in ["stored", "feature_published", "feature_acked"] {
        let labels = format!("stage=\"{stage}\"");
        println!(
            "end to end (entered -> {stage}): p50 {} p99 {} ({} samples)",
            ms(quantile(&text, "pipeline_end_to_end_seconds", &labels, 0.5)),
            ms(quantile(
                &text,
                "pipeline_end_to_end_seconds",
                &labels,
                0.99
            )),
            metric(
                &text,
                &format!("pipeline_end_to_end_seconds_count{{{labels}}}")
            )
            .unwrap_or(0.0)
        );
    }
}

/// `features backfill` over the sample's 30 days (from a database filled with the sample),
/// with 1 and then 2 worker processes: vectors per second.
fn feature_backfill() {
    use flare_plus::profile::Profile;
    use flare_plus::store::{Store, StoreConfig, WriteBatch};
    println!("\n## feature backfill jobs (30 days, 6 h jobs)");
    let fixture = support::load_fixture();
    for workers in [1, 2] {
        let nats = testkit::NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("flare.db").display());
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = Store::connect(&StoreConfig::for_url(&db)).await.unwrap();
            store.migrate().await.unwrap();
            let mut flares = support::db::load_detected();
            flares.extend(support::load_donki());
            for chunk in fixture.flux.chunks(5_000) {
                store
                    .write(
                        &WriteBatch {
                            xrays: chunk.to_vec(),
                            ..Default::default()
                        },
                        Profile::FlarePlus,
                    )
                    .await
                    .unwrap();
            }
            store
                .write(
                    &WriteBatch {
                        regions: fixture.regions.clone(),
                        flares,
                        ..Default::default()
                    },
                    Profile::FlarePlus,
                )
                .await
                .unwrap();
            store.close().await;
        });
        let env = Env {
            nats_url: nats.url(),
            database_url: db,
            dir: dir.path().to_path_buf(),
            extra: vec![(
                "RUST_LOG".into(),
                "warn,flare_plus::pipeline::supervisor=info".into(),
            )],
        };
        let mut procs: Vec<Proc> = (0..workers)
            .map(|i| {
                let mut e = env.clone();
                e.extra
                    .push(("FLARE__FEATURES__WORKER_ID".into(), format!("w{i}")));
                let mut p = e.spawn(&format!("w{i}"), &["run", "--role", "features"]);
                p.wait_ready(Duration::from_secs(60));
                p
            })
            .collect();
        let started = Instant::now();
        let mut cmd = env.spawn(
            "backfill",
            &[
                "features",
                "backfill",
                "--from",
                "2024-05-03T00:00:00",
                "--to",
                "2024-05-30T23:59:00",
                "--job-hours",
                "6",
            ],
        );
        assert!(
            cmd.wait_exit(Duration::from_secs(900)).success(),
            "{}",
            cmd.log_text()
        );
        let seconds = started.elapsed().as_secs_f64();
        let vectors: f64 = procs
            .iter()
            .map(|p| {
                metric_sum(
                    &p.metrics(),
                    "pipeline_vectors_published_total",
                    "series=\"backfill\"",
                )
            })
            .sum();
        println!(
            "{workers} worker(s): {vectors:.0} vectors in {seconds:.2} s = {:.0} vectors/s",
            vectors / seconds
        );
        for p in &mut procs {
            p.terminate();
        }
    }
}
