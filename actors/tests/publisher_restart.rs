//! A nats-server crash with a full window of publishes in flight: their acks are lost, and
//! the publisher re-sends the whole window after the first failed ack instead of waiting
//! out every message's ack timeout in turn (256 x 5 s). Everything ends up stored once.

mod common;

use std::time::Duration;

use actors::nats::{OutboundMessage, Publisher, PublisherConfig};
use async_nats::jetstream::stream;
use common::connect;
use tokio_util::sync::CancellationToken;

const MESSAGES: u64 = 256;

fn message(i: u64) -> OutboundMessage {
    OutboundMessage {
        subject: "restart.data".into(),
        headers: async_nats::HeaderMap::new(),
        payload: format!("m{i}").into(),
        msg_id: Some(format!("m{i}")),
    }
}

#[tokio::test]
async fn a_window_lost_with_the_server_is_re_sent_at_once_and_stored_once() {
    let mut nats = testkit::NatsServer::start();
    let (_client, js) = connect(&nats.url()).await;
    let config = stream::Config {
        name: "RESTART".into(),
        subjects: vec!["restart.>".into()],
        storage: stream::StorageType::File,
        ..Default::default()
    };
    js.create_stream(config.clone())
        .await
        .expect("create stream");
    let mut publisher = Publisher::new(
        js.clone(),
        PublisherConfig {
            max_in_flight: MESSAGES as usize,
            ..Default::default()
        },
        CancellationToken::new(),
    );
    for i in 0..MESSAGES {
        publisher.publish(message(i)).await.expect("publish");
    }
    // The window is in flight: the server dies with it, and comes back with its store.
    nats.kill();
    nats.restart();
    // Recovery takes one ack timeout and a re-send of the window, not one timeout per
    // message; the bound leaves room for a slow machine and is far below 256 x 5 s.
    tokio::time::timeout(Duration::from_secs(90), publisher.flush())
        .await
        .expect("the window is settled within one re-send round, not message by message")
        .expect("flush");
    assert_eq!(publisher.published(), MESSAGES);
    let mut stream = js.get_stream("RESTART").await.expect("stream");
    let info = stream.info().await.expect("info");
    assert_eq!(
        info.state.messages, MESSAGES,
        "each message stored once (re-sends de-duplicated by Nats-Msg-Id)"
    );
}
