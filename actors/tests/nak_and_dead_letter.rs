//! Transient failures are retried with a nak until they succeed, with exactly one durable
//! effect; a permanent failure ends in the dead-letter stream with its reason and is never
//! redelivered.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Actor;
use actors::nats::headers;
use actors::nats::{PullSource, PullSourceConfig};
use actors::{ActorMetrics, Mailbox, Shutdown};
use async_nats::jetstream::consumer;
use common::*;
use futures_util::StreamExt;

#[actix::test]
async fn transient_failures_retry_and_permanent_ones_are_dead_lettered() {
    let nats = testkit::NatsServer::start();
    let (client, js) = connect(&nats.url()).await;
    let consumer = setup(&js, "naks", 50).await;
    publish_ids(&js, 20).await;

    // m3 fails twice then succeeds; m7 is poison.
    let rule: Rule = Arc::new(|id, delivered| match id {
        "m3" if delivered < 3 => Verdict::Transient,
        "m7" => Verdict::Permanent("invalid_record"),
        _ => Verdict::Apply,
    });
    let metrics = ActorMetrics::register("nak_probe");
    let effects: Effects = Arc::new(Mutex::new(Default::default()));
    let probe = Probe {
        metrics: metrics.clone(),
        held: Vec::new(),
        group: 5,
        linger: Duration::from_millis(2),
        pause: Duration::ZERO,
        rule,
        effects: effects.clone(),
        linger_timer: None,
    };
    let mailbox = Mailbox::new(probe.start(), metrics.clone());
    let stop = Shutdown::new();
    let source = PullSource::new(
        consumer.clone(),
        PullSourceConfig::default(),
        metrics.clone(),
        dead_letters(&js),
    );
    let run = tokio::spawn(source.run(mailbox, stop.clone(), Duration::from_secs(10)));

    let mut info_consumer = consumer.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = info_consumer.info().await.expect("info");
        if info.num_pending == 0 && info.num_ack_pending == 0 && effects.lock().unwrap().len() == 19
        {
            assert_eq!(
                info.num_redelivered, 0,
                "nothing left waiting for redelivery"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not settle: {info:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.trigger();
    assert!(run.await.expect("source").drained);

    let effects = effects.lock().unwrap().clone();
    assert_eq!(
        effects.get("m3"),
        Some(&1),
        "retried message applied exactly once"
    );
    assert_eq!(effects.get("m7"), None, "poison never applied");
    assert!(effects.values().all(|&n| n == 1));

    // The dead letter: raw payload plus reason headers, exactly one.
    let dlq = js.get_stream(DLQ_STREAM).await.expect("DLQ stream");
    let mut dlq_info = dlq.clone();
    assert_eq!(dlq_info.info().await.expect("dlq info").state.messages, 1);
    let reader = dlq
        .create_consumer(consumer::pull::Config {
            ..Default::default()
        })
        .await
        .expect("dlq reader");
    let mut batch = reader
        .fetch()
        .max_messages(10)
        .messages()
        .await
        .expect("fetch dlq");
    let letter = batch
        .next()
        .await
        .expect("one dead letter")
        .expect("message");
    assert_eq!(letter.subject.as_str(), "test.dlq.data");
    assert_eq!(&letter.payload[..], b"m7");
    let h = letter.headers.as_ref().expect("headers");
    assert_eq!(
        h.get(headers::DLQ_CODE).map(|v| v.as_str()),
        Some("invalid_record")
    );
    assert_eq!(
        h.get(headers::DLQ_REASON).map(|v| v.as_str()),
        Some("probe refused m7")
    );
    assert_eq!(
        h.get(headers::DLQ_SUBJECT).map(|v| v.as_str()),
        Some("test.obs.data")
    );
    assert_eq!(
        h.get(headers::DLQ_ACTOR).map(|v| v.as_str()),
        Some("nak_probe")
    );
    client.drain().await.expect("drain");
}
