//! A real scrape of /metrics after traffic shows the actor's histograms (with buckets, not
//! summaries), the exact depth gauge, the memory gauges and the outcome counters, with counts
//! that match the messages handled; /healthz and /readyz answer.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Actor;
use actors::health::Readiness;
use actors::nats::{PullSource, PullSourceConfig};
use actors::{telemetry, ActorMetrics, Mailbox, Shutdown};
use common::*;

const MESSAGES: usize = 1_000;

fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[actix::test]
async fn scrape_shows_actor_histograms_gauges_and_counters() {
    let telemetry = telemetry::install(&[]).expect("install recorder");
    let shutdown = Shutdown::new();
    telemetry.spawn_upkeep(Duration::from_secs(1), shutdown.clone());
    let readiness = Readiness::new();
    let bound_flag = readiness.add_flag("consumer bound");
    let stop = shutdown.clone();
    let endpoint = actors::http::serve(
        "127.0.0.1:0".parse().unwrap(),
        telemetry.clone(),
        readiness.clone(),
        async move { stop.cancelled().await },
    )
    .await
    .expect("bind the endpoint");
    let port = endpoint.local_addr.port();

    let (status, _) = http_get(port, "/readyz").await;
    assert_eq!(status, 503, "not ready before the consumer is bound");
    assert_eq!(http_get(port, "/healthz").await.0, 200);

    let nats = testkit::NatsServer::start();
    let (client, js) = connect(&nats.url()).await;
    let consumer = setup(&js, "metrics", 100).await;
    publish_ids(&js, MESSAGES).await;

    let metrics = ActorMetrics::register("metrics_probe");
    let effects: Effects = Arc::new(Mutex::new(Default::default()));
    let probe = Probe {
        metrics: metrics.clone(),
        held: Vec::new(),
        group: 10,
        linger: Duration::from_millis(2),
        pause: Duration::ZERO,
        rule: Arc::new(|_, _| Verdict::Apply),
        effects: effects.clone(),
        linger_timer: None,
    };
    let mailbox = Mailbox::new(probe.start(), metrics.clone());
    let source = PullSource::new(
        consumer.clone(),
        PullSourceConfig::default(),
        metrics.clone(),
        dead_letters(&js),
    )
    .with_ready_flag(bound_flag);
    let source_stop = Shutdown::new();
    let run = tokio::spawn(source.run(mailbox, source_stop.clone(), Duration::from_secs(10)));

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while effects.lock().unwrap().len() < MESSAGES {
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages not handled in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = http_get(port, "/readyz").await;
    assert_eq!(status, 200, "ready once bound: {body}");

    source_stop.trigger();
    let report = run.await.expect("source");
    assert!(report.drained);

    let (status, text) = http_get(port, "/metrics").await;
    assert_eq!(status, 200);
    let a = r#"actor="metrics_probe""#;
    // Real histograms: bucket series exist and counts equal the messages handled.
    assert!(
        text.contains(&format!(
            "actor_mailbox_latency_seconds_bucket{{{a},le=\"0.001\"}}"
        )),
        "latency histogram buckets missing:\n{text}"
    );
    assert!(
        !text.contains("actor_mailbox_latency_seconds{"),
        "must not render as a summary"
    );
    let latency_count = metric_value(
        &text,
        &format!("actor_mailbox_latency_seconds_count{{{a}}}"),
    );
    assert_eq!(latency_count, Some(MESSAGES as f64));
    let handler_count = metric_value(&text, &format!("actor_handler_seconds_count{{{a}}}"));
    assert_eq!(handler_count, Some(MESSAGES as f64));
    let inf_bucket = metric_value(
        &text,
        &format!("actor_mailbox_latency_seconds_bucket{{{a},le=\"+Inf\"}}"),
    );
    assert_eq!(inf_bucket, Some(MESSAGES as f64));
    let latency_sum =
        metric_value(&text, &format!("actor_mailbox_latency_seconds_sum{{{a}}}")).unwrap();
    assert!(
        latency_sum > 0.0 && latency_sum < MESSAGES as f64,
        "plausible total wait {latency_sum}"
    );
    assert_eq!(
        metric_value(
            &text,
            &format!("actor_messages_total{{{a},outcome=\"ok\"}}")
        ),
        Some(MESSAGES as f64)
    );
    assert_eq!(
        metric_value(&text, &format!("actor_mailbox_depth{{{a}}}")),
        Some(0.0)
    );
    assert!(
        metric_value(&text, &format!("actor_memory_bytes{{{a}}}")).is_some(),
        "memory gauge missing"
    );
    assert_eq!(
        metric_value(&text, &format!("actor_source_in_flight{{{a}}}")),
        Some(0.0)
    );
    let rss = metric_value(&text, "process_resident_memory_bytes").expect("process RSS");
    assert!(rss > 1e6, "RSS {rss}");
    assert!(
        metric_value(&text, "process_cpu_seconds_total").is_some(),
        "process CPU"
    );

    readiness.set_draining();
    assert_eq!(
        http_get(port, "/readyz").await.0,
        503,
        "draining makes the process unready"
    );
    shutdown.trigger();
    endpoint.task.await.expect("endpoint stops");
    client.drain().await.expect("drain");
}
