//! A backfill from archive files (NCEI GOES XRS netCDF and SWPC SRS, in the archives' folder
//! layout, downloaded from the local HTTP stand-in through their listings) through the three
//! roles: the writer stores exactly the rows `features batch` reads
//! from the same files, and the features role publishes one final vector per minute, equal to
//! `features batch` over the same files bit for bit.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use chrono::{DateTime, Utc};
use flare_plus::bus::vectors::VectorMessage;
use flare_plus::commands::features_batch::{inputs_from_dir, BatchOptions, Table};
use flare_plus::detect::MergeRule;
use flare_plus::domain::{FlareCategory, XrayFeed};
use flare_plus::features::series::VectorStatus;
use flare_plus::profile::Profile;
use flare_plus::store::{Store, StoreConfig};
use futures_util::StreamExt;
use support::procs::Stack;
use support::vectors::BatchInput;
use testkit::upstream::UpstreamServer;

/// Every final global vector on FEATURES, by tick (each tick once).
async fn finals(js: &async_nats::jetstream::Context) -> BTreeMap<DateTime<Utc>, VectorMessage> {
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
    let mut finals = BTreeMap::new();
    for _ in 0..total {
        let m = messages.next().await.expect("message").expect("ok");
        let v = VectorMessage::decode(&m.payload).expect("a vector");
        if v.series == "global" && v.status == VectorStatus::Final {
            let tick = v.tick;
            assert!(finals.insert(tick, v).is_none(), "final {tick} twice");
        }
    }
    finals
}

#[test]
fn an_archive_backfill_stores_the_files_rows_and_publishes_the_batch_vectors() {
    let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backfill-archive");
    let stack = Stack::start(None, &[]);
    let (env, rt, js) = (&stack.env, &stack.rt, &stack.js);
    let mut writer = env.spawn("writer", &["run", "--role", "writer"]);
    writer.wait_ready(Duration::from_secs(60));
    let mut features = env.spawn("features", &["run", "--role", "features"]);
    features.wait_ready(Duration::from_secs(60));

    // The archives as NCEI and SWPC serve them: BASE/YYYY/MM/ and BASE/YYYY/ listings.
    let upstream = UpstreamServer::start().expect("upstream");
    support::archive_server::serve_tree(&upstream, "/ncei", &archive.join("goes"));
    support::archive_server::serve_tree(&upstream, "/srs", &archive.join("srs"));
    let (ncei, srs) = (upstream.url("/ncei"), upstream.url("/srs"));
    let work = tempfile::tempdir().expect("temp dir");
    let cache = work.path().join("cache").display().to_string();
    let mut backfill = env.spawn(
        "backfill",
        &[
            "backfill",
            "--from",
            "2024-05-21",
            "--to",
            "2024-05-23",
            "--source",
            &ncei,
            "--source",
            &srs,
            "--cache",
            &cache,
        ],
    );
    let status = backfill.wait_exit(Duration::from_secs(300));
    assert!(status.success(), "{}", backfill.log_text());
    for day in 21..=23 {
        let goes = format!("/ncei/2024/05/sci_xrsf-l2-avg1m_g16_d202405{day}_v2-1-0.nc");
        assert_eq!(
            upstream.requests_to(&goes).len(),
            1,
            "{goes} downloaded once"
        );
    }

    // Wait (with a deadline) until the writer and the features role have taken everything
    // and the last minute of the range is final.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = rt.block_on(async {
            let obs = js.get_stream("OBS").await.expect("OBS");
            let names: Vec<String> = obs
                .consumer_names()
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .flatten()
                .collect();
            let mut caught_up = names.len() >= 2;
            for name in &names {
                let mut c = obs
                    .get_consumer::<consumer::pull::Config>(name)
                    .await
                    .expect("consumer");
                let info = c.info().await.expect("consumer info");
                caught_up &= info.num_pending == 0 && info.num_ack_pending == 0;
            }
            let kv = js.get_key_value("flare_checkpoints").await.expect("bucket");
            let checkpoint = kv
                .get("features.global")
                .await
                .ok()
                .flatten()
                .map(|b| String::from_utf8_lossy(&b).to_string());
            caught_up
                && checkpoint.is_some_and(|c| c.contains("\"last_final\":\"2024-05-23T23:59:00Z\""))
        });
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the roles did not finish:\nwriter:\n{}\nfeatures:\n{}",
            writer.log_text(),
            features.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // What `features batch --dir` reads from the same files.
    let options = BatchOptions {
        table: Table::Features,
        profile: Profile::FlarePlus,
        merge: MergeRule::FlarePlus,
        min_class: FlareCategory::C,
    };
    let inputs = inputs_from_dir(&archive, &options).expect("the batch reads the archive");
    assert_eq!(inputs.flux.len(), 3 * 1440, "three whole days of minutes");
    assert!(!inputs.regions.is_empty());
    assert!(inputs.flares_detected > 0, "the range has flares");

    // Storage: exactly those rows.
    rt.block_on(async {
        let store = Store::connect(&StoreConfig::for_url(&env.database_url))
            .await
            .expect("store");
        let (from, to) = (
            "2024-05-01T00:00:00Z".parse().expect("time"),
            "2024-06-01T00:00:00Z".parse().expect("time"),
        );
        let flux = store
            .read_flux(XrayFeed::Primary, from, to)
            .await
            .expect("flux");
        assert!(flux == inputs.flux, "stored flux rows equal the files'");
        let regions = store.read_regions(from, to).await.expect("regions");
        assert_eq!(regions.len(), inputs.regions.len(), "stored region rows");
        store.close().await;
    });

    // Vectors: every minute final once, equal to the batch output bit for bit.
    let finals = rt.block_on(finals(js));
    assert_eq!(
        finals.len(),
        3 * 1440,
        "every minute of the range is final once"
    );
    support::vectors::assert_finals_equal_batch(
        &finals,
        BatchInput {
            flux: &inputs.flux,
            regions: &inputs.regions,
            flares: &inputs.flares,
        },
    );
}
