//! The whole pipeline as an operator runs it: the three roles as separate OS processes of the
//! built binary, against a private nats-server and PostgreSQL, replaying the 30-day sample.
//! Checks: the database holds exactly the sample's unique records; the final feature vectors
//! on `flare.features.global` equal the batch command's output for the same ticks, bit for
//! bit; each process's /metrics shows the actor metrics with counts that add up (records in
//! = records stored + dead-lettered); SIGTERM stops the services cleanly.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use chrono::{DateTime, Utc};
use flare_plus::bus::vectors::{Values, VectorMessage};
use flare_plus::domain::XrayFeed;
use flare_plus::features::series::VectorStatus;
use flare_plus::store::{Store, StoreConfig};
use futures_util::StreamExt;
use support::db::{golden_flare_rows, sort_rows, FlareRow};
use support::procs::{fixture_path, metric, metric_sum, Stack};
use support::vectors::BatchInput;

/// Reads every message of the FEATURES stream (final global vectors by tick, and counts).
async fn read_vectors(
    js: &async_nats::jetstream::Context,
) -> (BTreeMap<DateTime<Utc>, VectorMessage>, usize, usize) {
    let mut stream = js.get_stream("FEATURES").await.expect("FEATURES stream");
    let total = stream.info().await.expect("info").state.messages as usize;
    let reader = stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("ordered reader");
    let mut messages = reader.messages().await.expect("messages");
    let (mut finals, mut provisional, mut regions) = (BTreeMap::new(), 0, 0);
    for _ in 0..total {
        let m = messages.next().await.expect("message").expect("ok");
        let v = VectorMessage::decode(&m.payload).expect("a vector");
        assert!(
            v.v == 2 && matches!(v.features, Values::Columns(_)),
            "the default layout: columns"
        );
        match (v.series.as_str(), v.status) {
            ("global", VectorStatus::Final) => {
                assert!(
                    finals.insert(v.tick, v).is_none(),
                    "a final tick published twice"
                );
            }
            ("global", VectorStatus::Provisional) => provisional += 1,
            _ => regions += 1,
        }
    }
    (finals, provisional, regions)
}

#[test]
fn three_role_processes_replay_the_sample_into_postgres_and_features() {
    let pg = testkit::Postgres::start();
    let db_url = pg.create_database("flare_e2e");
    let stack = Stack::start(Some(db_url.clone()), &[]);
    let (env, rt, js) = (&stack.env, &stack.rt, &stack.js);

    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(60));
    let mut features = env.spawn("features", &["run", "--role", "features"]);
    features.wait_ready(Duration::from_secs(60));
    let sample = fixture_path();
    let mut ingest = env.spawn(
        "ingest",
        &[
            "run",
            "--role",
            "ingest",
            "--replay",
            sample.to_str().unwrap(),
        ],
    );
    let status = ingest.wait_exit(Duration::from_secs(300));
    assert!(status.success(), "ingest failed:\n{}", ingest.log_text());
    assert!(
        ingest.log_text().contains("replayed 43358 records"),
        "{}",
        ingest.log_text()
    );

    // Done when both consumers have nothing pending and the feature checkpoint reached the
    // last minute of the sample (end of input makes every tick final).
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = rt.block_on(async {
            let obs = js.get_stream("OBS").await.unwrap();
            let mut caught_up = true;
            // The writer's shared consumer and the feature worker's own one (features-<id>).
            let names: Vec<String> = obs
                .consumer_names()
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .flatten()
                .collect();
            assert!(
                names.iter().any(|n| n.starts_with("features-")),
                "a feature worker consumer: {names:?}"
            );
            for name in &names {
                let mut c = obs
                    .get_consumer::<consumer::pull::Config>(name)
                    .await
                    .unwrap();
                let info = c.info().await.unwrap();
                caught_up &= info.num_pending == 0 && info.num_ack_pending == 0;
            }
            let kv = js.get_key_value("flare_checkpoints").await.unwrap();
            let checkpoint = kv
                .get("features.global")
                .await
                .unwrap()
                .map(|b| String::from_utf8_lossy(&b).to_string());
            caught_up
                && checkpoint.is_some_and(|c| c.contains("\"last_final\":\"2024-05-30T23:59:00Z\""))
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pipeline did not finish:\nwriter:\n{}\nfeatures:\n{}",
            writer.log_text(),
            features.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // Storage: exactly the sample's unique records.
    rt.block_on(async {
        let store = Store::connect(&StoreConfig::for_url(&db_url))
            .await
            .unwrap();
        let (from, to) = (
            "2024-04-01T00:00:00Z".parse().unwrap(),
            "2024-07-01T00:00:00Z".parse().unwrap(),
        );
        let flux = store.read_flux(XrayFeed::Primary, from, to).await.unwrap();
        assert_eq!(flux.len(), 42_991);
        assert_eq!(
            flux,
            support::load_xrays(),
            "flux rows equal the parsed sample"
        );
        assert_eq!(store.read_regions(from, to).await.unwrap().len(), 297);
        let mut rows: Vec<FlareRow> = store
            .read_flare_events(from, to)
            .await
            .unwrap()
            .iter()
            .map(FlareRow::of)
            .collect();
        sort_rows(&mut rows);
        assert_eq!(
            rows,
            golden_flare_rows(),
            "flare_events equals flare-plus's table"
        );
    });

    // The batch command reads the same tables back (one bulk query each) and matches
    // flare-plus's golden scenarios.
    for (times, golden) in [
        ("times_S2.txt", "features_S2.csv.gz"),
        ("times_S4.txt", "features_S4.csv.gz"),
    ] {
        let out = stack.dir.path().join("batch.csv");
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_flare-plus"))
            .args(["features", "batch", "--db", &db_url, "--times"])
            .arg(fixture_path().join(times))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let report = support::parity::compare_csv(
            &support::read_text(&format!("golden/{golden}")),
            &std::fs::read_to_string(&out).unwrap(),
            &Default::default(),
        )
        .unwrap();
        assert!(
            report.golden_rows >= 721 && report.mismatches.is_empty(),
            "{golden} from the database: {}",
            report.summary()
        );
    }

    // Feature vectors: every minute final once, equal to the batch output bit for bit.
    let (finals, provisional, regions) = rt.block_on(read_vectors(js));
    assert_eq!(
        finals.len(),
        43_200,
        "every minute of the sample is final once"
    );
    assert!(regions > 0, "region vectors published");
    let f = support::load_fixture();
    support::vectors::assert_finals_equal_batch(
        &finals,
        BatchInput {
            flux: &f.flux,
            regions: &f.regions,
            flares: &f.flares,
        },
    );

    // Metrics: actor metrics present in every process; records in = stored + dead-lettered.
    let (w, fm) = (writer.metrics(), features.metrics());
    // Provisional vectors are conflated while the worker catches up: each tick got one or
    // counts as conflated.
    let conflated = metric(&fm, "pipeline_vectors_conflated_total").unwrap_or(0.0);
    assert!(provisional > 0, "provisional vectors published");
    assert_eq!(
        provisional as f64 + conflated,
        43_200.0,
        "{provisional} provisional vectors + {conflated} conflated ticks"
    );
    let stored = metric(&w, "pipeline_records_stored_total").expect("stored counter");
    let dead = metric_sum(&w, "pipeline_records_dead_lettered_total", "");
    let ingested = 42_991.0 + 297.0 + 70.0 + 83.0; // ingest exited; its counts per source:
    assert_eq!(
        stored + dead,
        ingested,
        "records in = records stored + dead-lettered"
    );
    for (text, actor) in [(&w, "writer"), (&fm, "features")] {
        assert_eq!(
            metric(
                text,
                &format!("pipeline_records_received_total{{actor=\"{actor}\"}}")
            ),
            Some(ingested),
            "{actor}: every record taken from OBS once"
        );
    }
    assert_eq!(
        metric(
            &w,
            "pipeline_rows_written_total{table=\"flare_goes_xray_flux\"}"
        ),
        Some(42_991.0)
    );
    for (text, actor) in [(&w, "writer"), (&fm, "features")] {
        let ok = metric(
            text,
            &format!("actor_messages_total{{actor=\"{actor}\",outcome=\"ok\"}}"),
        )
        .unwrap_or(0.0);
        let count = metric(
            text,
            &format!("actor_mailbox_latency_seconds_count{{actor=\"{actor}\"}}"),
        )
        .unwrap_or(0.0);
        // Records travel in batches: fewer messages than records, but every one acked.
        assert!(ok > 0.0 && ok < ingested, "{actor}: {ok} messages acked ok");
        assert_eq!(
            count, ok,
            "{actor}: every message handled went through the mailbox once"
        );
        assert_eq!(
            metric(text, &format!("actor_mailbox_depth{{actor=\"{actor}\"}}")),
            Some(0.0)
        );
        let memory = metric(text, &format!("actor_memory_bytes{{actor=\"{actor}\"}}"));
        assert!(memory.is_some(), "{actor} memory gauge");
        if actor == "features" {
            // The series keeps 48 h of data in two engines; the idle writer holds nothing.
            assert!(
                memory.unwrap() > 100_000.0,
                "features holds its window: {memory:?}"
            );
        }
        assert!(metric(text, "process_resident_memory_bytes").unwrap_or(0.0) > 0.0);
    }
    let published = metric_sum(&fm, "pipeline_vectors_published_total", "status=\"final\"");
    assert!(published >= 43_200.0, "{published} final vectors counted");

    assert_eq!(
        writer.terminate(),
        Some(0),
        "writer stops cleanly:\n{}",
        writer.log_text()
    );
    assert_eq!(
        features.terminate(),
        Some(0),
        "features stops cleanly:\n{}",
        features.log_text()
    );
}
