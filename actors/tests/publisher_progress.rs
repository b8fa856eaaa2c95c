//! The publisher's progress counters against a real nats-server: `sent` counts what was
//! handed over, `settle_through(n)` returns once the first n are stored, `settle_arrived`
//! never waits and never reports more than is stored, and everything counted as published
//! is in the stream.

mod common;

use actors::nats::{OutboundMessage, Publisher, PublisherConfig};
use async_nats::jetstream::stream;
use common::connect;
use tokio_util::sync::CancellationToken;

const MESSAGES: u64 = 2_000;

fn message(i: u64) -> OutboundMessage {
    OutboundMessage {
        subject: "progress.data".into(),
        headers: async_nats::HeaderMap::new(),
        payload: format!("m{i}").into(),
        msg_id: Some(format!("m{i}")),
    }
}

#[tokio::test]
async fn progress_counts_only_what_the_stream_stored() {
    let nats = testkit::NatsServer::start();
    let (_client, js) = connect(&nats.url()).await;
    let mut stream = js
        .create_stream(stream::Config {
            name: "PROGRESS".into(),
            subjects: vec!["progress.>".into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("create stream");
    let mut publisher = Publisher::new(
        js.clone(),
        PublisherConfig {
            max_in_flight: 64,
            ..Default::default()
        },
        CancellationToken::new(),
    );

    let mut last_reported = 0;
    for i in 0..MESSAGES {
        publisher.publish(message(i)).await.expect("publish");
        assert_eq!(publisher.sent(), i + 1);
        assert!(publisher.in_flight() <= 64, "the window bound holds");
        if i % 100 == 99 {
            let arrived = publisher.settle_arrived().await.expect("settle arrived");
            assert!(arrived >= last_reported, "progress never goes back");
            assert!(arrived <= publisher.sent());
            assert_eq!(arrived, publisher.published());
            // Whatever is reported as published is in the stream already.
            let stored = stream.info().await.expect("info").state.messages;
            assert!(stored >= arrived, "{arrived} reported, {stored} stored");
            last_reported = arrived;
        }
        if i == MESSAGES / 2 {
            let through = publisher.settle_through(i + 1).await.expect("settle");
            assert_eq!(through, i + 1, "everything sent so far is stored");
            assert_eq!(publisher.in_flight(), 0);
        }
    }
    let done = publisher.settle_through(MESSAGES).await.expect("settle");
    assert_eq!(done, MESSAGES);
    assert_eq!(publisher.in_flight(), 0);
    assert_eq!(
        stream.info().await.expect("info").state.messages,
        MESSAGES,
        "each message stored once"
    );
    // Nothing left to wait for: both return at once with the same count.
    assert_eq!(publisher.settle_arrived().await.expect("settle"), MESSAGES);
    assert_eq!(
        publisher
            .settle_through(MESSAGES + 10)
            .await
            .expect("settle"),
        MESSAGES
    );
}
