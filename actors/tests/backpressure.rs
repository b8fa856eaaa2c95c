//! 100,000 messages through a slow, batching actor: in-flight work never exceeds the bound
//! (from the source and from the server's consumer info), every message is handled exactly
//! once, and memory stays bounded.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Actor;
use actors::nats::{PullSource, PullSourceConfig};
use actors::{ActorMetrics, Mailbox, Shutdown};
use common::*;

const MESSAGES: usize = 100_000;
const BOUND: usize = 200;
/// Stated bound for this test process: the published payloads (about 1 MB) and the client's
/// buffers fit many times over; an unbounded mailbox or prefetch would not.
const RSS_LIMIT: u64 = 64 * 1024 * 1024;

#[actix::test]
async fn in_flight_stays_under_the_bound_and_every_message_is_handled_once() {
    let nats = testkit::NatsServer::start();
    let (client, js) = connect(&nats.url()).await;
    let consumer = setup(&js, "backpressure", BOUND).await;
    publish_ids(&js, MESSAGES).await;

    let metrics = ActorMetrics::register("backpressure_probe");
    let effects: Effects = Arc::new(Mutex::new(Default::default()));
    let probe = Probe {
        metrics: metrics.clone(),
        held: Vec::new(),
        group: 50,
        linger: Duration::from_millis(5),
        pause: Duration::from_millis(2),
        rule: Arc::new(|_, _| Verdict::Apply),
        effects: effects.clone(),
        linger_timer: None,
    };
    let mailbox = Mailbox::new(probe.start(), metrics.clone());

    // Watch the server's view of un-acked messages while the source runs.
    let watching = Arc::new(AtomicBool::new(true));
    let max_ack_pending_seen = Arc::new(AtomicI64::new(0));
    let watcher = {
        let mut consumer = consumer.clone();
        let watching = watching.clone();
        let seen = max_ack_pending_seen.clone();
        tokio::spawn(async move {
            while watching.load(Ordering::Acquire) {
                if let Ok(info) = consumer.info().await {
                    seen.fetch_max(info.num_ack_pending as i64, Ordering::AcqRel);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let shutdown = Shutdown::new();
    let source = PullSource::new(
        consumer.clone(),
        PullSourceConfig {
            max_in_flight: BOUND,
            batch: 64,
            ..Default::default()
        },
        metrics.clone(),
        dead_letters(&js),
    );
    let run = tokio::spawn(source.run(mailbox, shutdown.clone(), Duration::from_secs(30)));

    // Done when the server has nothing pending or un-acked for this consumer.
    let mut consumer_probe = consumer.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let info = consumer_probe.info().await.expect("consumer info");
        if info.num_pending == 0
            && info.num_ack_pending == 0
            && info.ack_floor.stream_sequence >= MESSAGES as u64
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not finished: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.trigger();
    let report = run.await.expect("source task");
    watching.store(false, Ordering::Release);
    watcher.await.expect("watcher");

    assert!(
        report.drained,
        "every in-flight message finished before the drain limit"
    );
    assert_eq!(report.delivered, MESSAGES as u64, "no redelivery happened");
    assert!(
        report.max_in_flight_seen <= BOUND,
        "source held {} > {BOUND}",
        report.max_in_flight_seen
    );
    assert!(
        report.max_in_flight_seen >= BOUND / 2,
        "the slow actor should have filled the window"
    );
    let server_seen = max_ack_pending_seen.load(Ordering::Acquire);
    assert!(
        server_seen <= BOUND as i64,
        "server saw {server_seen} un-acked > {BOUND}"
    );
    assert!(server_seen > 0, "the watcher observed in-flight work");

    let effects = effects.lock().unwrap().clone();
    assert_eq!(effects.len(), MESSAGES, "every id handled");
    assert!(effects.values().all(|&n| n == 1), "no id handled twice");
    assert_eq!(metrics.depth(), 0, "mailbox empty at the end");

    let peak = rss_bytes("VmHWM:");
    eprintln!(
        "source max in flight {}, server max ack pending {server_seen}, peak RSS {} MiB",
        report.max_in_flight_seen,
        peak >> 20
    );
    assert!(
        peak < RSS_LIMIT,
        "peak RSS {} MiB over the stated {} MiB",
        peak >> 20,
        RSS_LIMIT >> 20
    );
    client.drain().await.expect("drain client");
}
