//! `flare-plus features backfill`: a range split into jobs on the JOBS work queue, taken by two
//! feature worker processes that compute final vectors from storage (each job with its own
//! 48 h warm-up). The union of what they publish equals the batch computation over the range,
//! every tick exactly once per series, and both workers took jobs.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::consumer;
use chrono::{DateTime, Utc};
use flare_plus::bus::vectors::{Values, VectorMessage};
use flare_plus::features::series::VectorStatus;
use flare_plus::features::{compute_features_batch, Cell};
use flare_plus::profile::Profile;
use flare_plus::store::{Store, StoreConfig, WriteBatch};
use futures_util::StreamExt;
use support::procs::{metric, Env};

#[test]
fn two_workers_split_the_jobs_and_publish_what_the_batch_computes() {
    let nats = testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("flare.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Storage holds the sample, written the way the writer writes it.
    let fixture = support::load_fixture();
    rt.block_on(async {
        let store = Store::connect(&StoreConfig::for_url(&db_url))
            .await
            .unwrap();
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
        let batch = WriteBatch {
            regions: fixture.regions.clone(),
            flares,
            ..Default::default()
        };
        store.write(&batch, Profile::FlarePlus).await.unwrap();
        store.close().await;
    });

    let env = Env {
        nats_url: nats.url(),
        database_url: db_url,
        dir: dir.path().to_path_buf(),
        // The named layout here (the other vector tests read the default, columns).
        extra: vec![("FLARE__FEATURES__VECTOR_FORMAT".into(), "named".into())],
    };
    let worker = |id: &str| {
        let mut e = env.clone();
        e.extra
            .push(("FLARE__FEATURES__WORKER_ID".into(), id.into()));
        let mut p = e.spawn(&format!("worker-{id}"), &["run", "--role", "features"]);
        p.wait_ready(Duration::from_secs(60));
        p
    };
    let mut a = worker("a");
    let mut b = worker("b");
    let mut backfill = env.spawn(
        "backfill",
        &[
            "features",
            "backfill",
            "--from",
            "2024-05-10T00:00:00",
            "--to",
            "2024-05-13T23:59:00",
            "--job-hours",
            "6",
        ],
    );
    let status = backfill.wait_exit(Duration::from_secs(600));
    assert!(status.success(), "{}", backfill.log_text());
    assert!(
        backfill.log_text().contains("queued 16 feature jobs"),
        "{}",
        backfill.log_text()
    );
    assert!(
        backfill.log_text().contains("16 feature jobs done"),
        "{}",
        backfill.log_text()
    );

    let (jobs_a, jobs_b) = (
        metric(
            &a.metrics(),
            "actor_messages_total{actor=\"feature_jobs\",outcome=\"ok\"}",
        )
        .unwrap_or(0.0),
        metric(
            &b.metrics(),
            "actor_messages_total{actor=\"feature_jobs\",outcome=\"ok\"}",
        )
        .unwrap_or(0.0),
    );
    assert_eq!(jobs_a + jobs_b, 16.0, "every job done once");
    assert!(
        jobs_a > 0.0 && jobs_b > 0.0,
        "both workers took jobs: {jobs_a} + {jobs_b}"
    );

    // The published global vectors: one per minute of the range, equal to the batch output.
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let js = {
        let _g = rt.enter();
        async_nats::jetstream::new(client)
    };
    let mut global: BTreeMap<DateTime<Utc>, Vec<Cell>> = BTreeMap::new();
    let mut regions = 0usize;
    rt.block_on(async {
        let mut stream = js.get_stream("FEATURES").await.unwrap();
        let total = stream.info().await.unwrap().state.messages;
        let reader = stream
            .create_consumer(consumer::pull::OrderedConfig::default())
            .await
            .unwrap();
        let mut messages = reader.messages().await.unwrap();
        for _ in 0..total {
            let m = messages.next().await.unwrap().unwrap();
            let v = VectorMessage::decode(&m.payload).unwrap();
            assert_eq!(v.status, VectorStatus::Final);
            assert!(
                v.v == 1 && matches!(v.features, Values::Named(_)),
                "the named layout"
            );
            if v.region.is_some() {
                regions += 1;
                continue;
            }
            assert!(
                global.insert(v.tick, v.feature_cells()).is_none(),
                "tick {} twice",
                v.tick
            );
        }
    });
    assert_eq!(global.len(), 4 * 1440, "every minute of the four days");
    assert!(regions > 0, "hourly region vectors too");
    let ticks: Vec<DateTime<Utc>> = global.keys().copied().collect();
    let batch = compute_features_batch(
        &fixture.flux,
        &fixture.regions,
        &fixture.flares,
        &ticks,
        Profile::FlarePlus,
    )
    .unwrap();
    for ((t, live), row) in global.iter().zip(&batch) {
        assert_eq!(
            live, &row.cells,
            "vector at {t} differs from the batch computation"
        );
    }
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
}
