//! The one entry point, in-process: `pipeline::run` starts a writer role on a real
//! nats-server and SQLite, with its endpoint on port 0, stores what arrives on OBS, and
//! stops in order when its shutdown future resolves.

mod support;

use std::time::{Duration, Instant};

use flare_plus::bus::{self, ObservationWire};
use flare_plus::domain::{Observation, XrayFeed};
use flare_plus::pipeline::{self, Config, Role};
use flare_plus::store::{Store, StoreConfig};

fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn a_writer_role_runs_in_process_until_its_shutdown_future_resolves() {
    let nats = testkit::NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = format!("sqlite://{}", dir.path().join("flare.db").display());
    let config = Config::load_with_env(
        None,
        env(&[
            ("FLARE__NATS__URL", nats.url()),
            ("FLARE__NATS__EMBEDDED", "false".into()),
            ("FLARE__DATABASE__URL", db_url.clone()),
            ("FLARE__HTTP__LISTEN", "127.0.0.1:0".into()),
            ("FLARE__SHUTDOWN__LIMIT", "10s".into()),
        ]),
    )
    .expect("config");
    let xrays: Vec<_> = support::load_xrays().into_iter().take(500).collect();

    // The topology first, then the records, as ingest would publish them one at a time.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let client = bus::connect(&config.nats, "test").await.expect("connect");
        let js = async_nats::jetstream::new(client);
        bus::ensure_topology(&js, &config.nats)
            .await
            .expect("topology");
        for x in &xrays {
            let m = Observation::Xray(x.clone()).to_message("0");
            let mut headers = m.headers.clone();
            if let Some(id) = &m.msg_id {
                headers.insert("Nats-Msg-Id", id.as_str());
            }
            js.publish_with_headers(m.subject.clone(), headers, m.payload.clone())
                .await
                .expect("publish")
                .await
                .expect("stored on OBS");
        }
    });

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let role = std::thread::spawn(move || {
        actix::System::new().block_on(pipeline::run(config, Role::Writer, async move {
            let _ = stopped.await;
        }))
    });

    let store_config = StoreConfig::for_url(&db_url);
    let deadline = Instant::now() + Duration::from_secs(60);
    let stored = loop {
        let stored = rt.block_on(async {
            let store = Store::connect(&store_config).await.expect("store");
            let rows = store
                .read_flux(
                    XrayFeed::Primary,
                    "2024-01-01T00:00:00Z".parse().expect("time"),
                    "2025-01-01T00:00:00Z".parse().expect("time"),
                )
                .await
                .unwrap_or_default();
            store.close().await;
            rows
        });
        if stored.len() == xrays.len() {
            break stored;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} stored",
            stored.len(),
            xrays.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(stored, xrays, "every record stored once, values intact");

    stop.send(()).expect("the role is running");
    let drained = role
        .join()
        .expect("the role's thread ends")
        .expect("the role started");
    assert!(drained, "stopped with nothing in flight");
}
