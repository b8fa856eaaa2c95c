//! The topology is created idempotently against a real nats-server: OBS pushes back when
//! full (DiscardNew) and de-duplicates by Nats-Msg-Id, the checkpoint bucket round-trips.

use std::time::Duration;

use async_nats::jetstream::stream::DiscardPolicy;
use flare_plus::bus::{self, streams, Checkpoints};
use flare_plus::pipeline::Config;

fn config_for(url: &str) -> Config {
    let mut cfg =
        Config::load_with_env(None, Vec::<(String, String)>::new()).expect("default config");
    cfg.nats.url = flare_plus::bus::ServerUrls::new(url);
    cfg
}

#[tokio::test]
async fn topology_is_idempotent_and_obs_pushes_back_when_full() {
    let nats = testkit::NatsServer::start();
    let mut cfg = config_for(&nats.url());
    cfg.nats.obs_max_bytes = 64 * 1024;
    let client = bus::connect(&cfg.nats, "test").await.expect("connect");
    let js = async_nats::jetstream::new(client.clone());
    let first = bus::ensure_topology(&js, &cfg.nats).await.expect("create");
    let mut again = bus::ensure_topology(&js, &cfg.nats)
        .await
        .expect("create again is fine");
    let info = again.obs.info().await.expect("info").clone();
    assert_eq!(info.config.discard, DiscardPolicy::New);
    assert_eq!(info.config.subjects, vec!["flare.obs.>".to_string()]);
    assert_eq!(info.config.duplicate_window, Duration::from_secs(600));

    // Same Nats-Msg-Id twice: stored once.
    for _ in 0..2 {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", "xrs:primary:2024-05-01T00:00:00Z");
        js.publish_with_headers("flare.obs.xrs", h, "{}".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert_eq!(again.obs.info().await.unwrap().state.messages, 1);

    // Fill the 64 KiB stream: the publish is refused (backpressure), nothing old is evicted.
    let payload = bytes::Bytes::from(vec![b'x'; 8 * 1024]);
    let mut refused = false;
    for i in 0..20 {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", format!("fill-{i}").as_str());
        match js
            .publish_with_headers("flare.obs.xrs", h, payload.clone())
            .await
            .unwrap()
            .await
        {
            Ok(_) => {}
            Err(_) => {
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "a full OBS refuses new publishes");
    assert_eq!(
        again.obs.info().await.unwrap().state.first_sequence,
        1,
        "nothing evicted"
    );

    let checkpoints = Checkpoints::new(first.checkpoints.clone());
    assert_eq!(
        checkpoints
            .get::<String>("ingest.xrs.primary")
            .await
            .unwrap(),
        None
    );
    checkpoints
        .put("ingest.xrs.primary", &"2024-05-01T00:00:00Z".to_string())
        .await
        .unwrap();
    checkpoints
        .put("ingest.xrs.primary", &"2024-05-02T00:00:00Z".to_string())
        .await
        .unwrap();
    assert_eq!(
        checkpoints
            .get::<String>("ingest.xrs.primary")
            .await
            .unwrap()
            .as_deref(),
        Some("2024-05-02T00:00:00Z")
    );
    assert_eq!(streams::stream_configs(&cfg.nats)[0].name, "OBS");
    client.drain().await.unwrap();
}

#[tokio::test]
async fn unreachable_nats_is_a_clear_error() {
    let port = testkit::free_port();
    let mut cfg = config_for(&format!("nats://127.0.0.1:{port}"));
    cfg.nats.connect_timeout = std::time::Duration::from_millis(500);
    let err = bus::connect(&cfg.nats, "test")
        .await
        .expect_err("nothing listens there");
    assert_eq!(err.kind(), bus::BusErrorKind::Unreachable);
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}
