//! Shared pieces of the runtime's integration tests: a stream + durable consumer on a private
//! nats-server, a probe actor that holds deliveries and acks them in groups (like a batching
//! writer), and a tiny HTTP GET.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, WrapFuture};
use actors::nats::{DeadLetterReason, DeadLetterSink, Delivery};
use actors::{ActorMetrics, Envelope};
use async_nats::jetstream::{self, consumer, stream};

pub const STREAM: &str = "TEST_OBS";
pub const SUBJECTS: &str = "test.obs.>";
pub const DLQ_STREAM: &str = "TEST_DLQ";

pub async fn connect(url: &str) -> (async_nats::Client, jetstream::Context) {
    let client = async_nats::connect(url)
        .await
        .expect("connect to the test nats-server");
    let js = jetstream::new(client.clone());
    (client, js)
}

/// Creates the test stream, the dead-letter stream and a durable pull consumer whose
/// `max_ack_pending` equals `bound`.
pub async fn setup(js: &jetstream::Context, durable: &str, bound: usize) -> consumer::PullConsumer {
    let obs = js
        .get_or_create_stream(stream::Config {
            name: STREAM.into(),
            subjects: vec![SUBJECTS.into()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .expect("create stream");
    js.get_or_create_stream(stream::Config {
        name: DLQ_STREAM.into(),
        subjects: vec!["test.dlq.>".into()],
        ..Default::default()
    })
    .await
    .expect("create DLQ stream");
    obs.get_or_create_consumer(
        durable,
        consumer::pull::Config {
            durable_name: Some(durable.into()),
            ack_policy: consumer::AckPolicy::Explicit,
            max_ack_pending: bound as i64,
            ack_wait: Duration::from_secs(30),
            ..Default::default()
        },
    )
    .await
    .expect("create consumer")
}

pub fn dead_letters(js: &jetstream::Context) -> DeadLetterSink {
    DeadLetterSink::new(js.clone(), |subject: &str| {
        subject.replacen("test.obs.", "test.dlq.", 1)
    })
}

/// Publishes `n` messages `test.obs.data` with ids `m0..m{n-1}` (payload = id), waiting for
/// every ack.
pub async fn publish_ids(js: &jetstream::Context, n: usize) {
    let mut acks = Vec::with_capacity(256);
    for i in 0..n {
        let id = format!("m{i}");
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", id.as_str());
        acks.push(
            js.publish_with_headers("test.obs.data", h, id.clone().into())
                .await
                .expect("publish"),
        );
        if acks.len() == 256 {
            for a in acks.drain(..) {
                a.await.expect("publish ack");
            }
        }
    }
    for a in acks {
        a.await.expect("publish ack");
    }
}

/// What the probe does with one message: its durable effect, or why not.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Apply,
    Transient,
    Permanent(&'static str),
}

pub type Rule = Arc<dyn Fn(&str, i64) -> Verdict + Send + Sync>;

/// Effects applied, by message id (the test's "database").
pub type Effects = Arc<Mutex<HashMap<String, u32>>>;

/// Holds deliveries and applies+acks them `group` at a time, or after `linger` — the shape of
/// a batching writer, so in-flight work really piles up to the source's bound.
pub struct Probe {
    pub metrics: Arc<ActorMetrics>,
    pub held: Vec<Delivery>,
    pub group: usize,
    pub linger: Duration,
    pub pause: Duration,
    pub rule: Rule,
    pub effects: Effects,
    /// The pending "flush what you hold" timer; cancelled when a full group flushes first.
    pub linger_timer: Option<actix::SpawnHandle>,
}

impl Actor for Probe {
    type Context = Context<Self>;
}

impl Probe {
    fn flush(&mut self, ctx: &mut Context<Self>) {
        let batch = std::mem::take(&mut self.held);
        self.metrics.set_memory_bytes(held_bytes(&self.held));
        let rule = self.rule.clone();
        let effects = self.effects.clone();
        let pause = self.pause;
        if let Some(timer) = self.linger_timer.take() {
            ctx.cancel_future(timer);
        }
        // Finish the group in the background: the actor keeps accepting messages while earlier
        // groups are still being applied, so only the source's permits bound the work in flight.
        ctx.spawn(
            async move {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                for d in batch {
                    let id = String::from_utf8_lossy(d.payload()).to_string();
                    match rule(&id, d.delivered().unwrap_or(1)) {
                        Verdict::Apply => {
                            *effects.lock().unwrap().entry(id).or_insert(0) += 1;
                            d.ack().await.expect("ack");
                        }
                        Verdict::Transient => d.nak(Duration::from_millis(20)).await.expect("nak"),
                        Verdict::Permanent(code) => d
                            .dead_letter(&DeadLetterReason::new(
                                code,
                                format!("probe refused {id}"),
                            ))
                            .await
                            .expect("dead letter"),
                    }
                }
            }
            .into_actor(self),
        );
    }
}

impl Handler<Envelope<Delivery>> for Probe {
    type Result = ();

    fn handle(&mut self, envelope: Envelope<Delivery>, ctx: &mut Context<Self>) {
        let (delivery, _timer) = envelope.open();
        let first = self.held.is_empty();
        self.held.push(delivery);
        self.metrics.set_memory_bytes(held_bytes(&self.held));
        if self.held.len() >= self.group {
            self.flush(ctx);
        } else if first {
            self.linger_timer = Some(ctx.run_later(self.linger, |probe, ctx| {
                probe.linger_timer = None;
                if !probe.held.is_empty() {
                    probe.flush(ctx);
                }
            }));
        }
    }
}

/// GET `path` on 127.0.0.1:`port`; returns (status, body).
pub async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to the HTTP endpoint");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Resident set size of this process in bytes (from /proc).
pub fn rss_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmRSS/VmHWM in /proc/self/status")
}

/// Bytes the probe holds: its vector's capacity plus every held payload.
pub fn held_bytes(held: &Vec<Delivery>) -> usize {
    held.capacity() * std::mem::size_of::<Delivery>()
        + held.iter().map(Delivery::size).sum::<usize>()
}
