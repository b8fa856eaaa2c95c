//! Reading what a `flare-plus` process left on NATS (stream contents, per-subject counts, the
//! checkpoint bucket) from a blocking test, and waiting on observable state with a deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use async_nats::HeaderMap;
use bytes::Bytes;
use flare_plus::bus::decode_message;
use flare_plus::domain::Observation;
use futures_util::{StreamExt, TryStreamExt};

/// A NATS client with its own runtime, for blocking tests.
pub struct Bus {
    pub rt: tokio::runtime::Runtime,
    pub client: async_nats::Client,
    pub js: jetstream::Context,
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub headers: Option<HeaderMap>,
    pub payload: Bytes,
}

impl Stored {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .as_ref()?
            .get(name)
            .map(|v| v.as_str().to_string())
    }
}

impl Bus {
    pub fn connect(url: &str) -> Bus {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("test runtime");
        let client = rt
            .block_on(async_nats::connect(url))
            .expect("connect to NATS");
        let js = {
            let _guard = rt.enter();
            jetstream::new(client.clone())
        };
        Bus { rt, client, js }
    }

    /// Message count per subject of `stream` matching `filter`; empty if the stream does not
    /// exist yet.
    pub fn subject_counts(&self, stream: &str, filter: &str) -> HashMap<String, u64> {
        self.rt.block_on(async {
            let Ok(s) = self.js.get_stream(stream).await else {
                return HashMap::new();
            };
            let Ok(info) = s.info_with_subjects(filter).await else {
                return HashMap::new();
            };
            info.map_ok(|(subject, n)| (subject, n as u64))
                .try_collect::<HashMap<_, _>>()
                .await
                .unwrap_or_default()
        })
    }

    /// Messages stored on exactly `subject` (0 when the stream does not exist yet).
    pub fn count(&self, stream: &str, subject: &str) -> u64 {
        self.subject_counts(stream, subject)
            .get(subject)
            .copied()
            .unwrap_or(0)
    }

    /// The last sequence the stream assigned (a de-duplicated publish assigns none).
    pub fn last_sequence(&self, stream: &str) -> u64 {
        self.rt.block_on(async {
            match self.js.get_stream(stream).await {
                Ok(mut s) => s.info().await.map_or(0, |i| i.state.last_sequence),
                Err(_) => 0,
            }
        })
    }

    /// Every message of `stream` on subjects matching `filter`, in stream order.
    pub fn messages(&self, stream: &str, filter: &str) -> Vec<Stored> {
        let total: u64 = self.subject_counts(stream, filter).values().sum();
        self.rt.block_on(async {
            let s = self.js.get_stream(stream).await.expect("stream exists");
            let reader = s
                .create_consumer(consumer::pull::OrderedConfig {
                    deliver_policy: consumer::DeliverPolicy::All,
                    filter_subject: filter.to_string(),
                    ..Default::default()
                })
                .await
                .expect("ordered consumer");
            let mut messages = reader.messages().await.expect("messages");
            let mut out = Vec::with_capacity(total as usize);
            while (out.len() as u64) < total {
                let next = tokio::time::timeout(Duration::from_secs(20), messages.next())
                    .await
                    .unwrap_or_else(|_| {
                        panic!("{stream}: only {} of {total} messages read", out.len())
                    })
                    .expect("message stream open")
                    .expect("message");
                out.push(Stored {
                    subject: next.subject.to_string(),
                    headers: next.headers.clone(),
                    payload: next.payload.clone(),
                });
            }
            out
        })
    }

    /// Every observation on OBS subjects matching `filter`, decoded, in stream order (a
    /// batch message gives its records in order; each must decode).
    pub fn records(&self, filter: &str) -> Vec<Observation> {
        self.messages("OBS", filter)
            .iter()
            .flat_map(|m| {
                let decoded = decode_message(&m.payload).expect("an OBS message");
                assert!(decoded.rejected.is_empty(), "undecodable records on OBS");
                decoded.records
            })
            .collect()
    }

    /// Every observation on OBS, decoded, in stream order.
    pub fn observations(&self) -> Vec<Observation> {
        self.records("flare.obs.>")
    }

    /// Observations stored on exactly `subject` (records, not messages: a batch holds many).
    pub fn record_count(&self, subject: &str) -> u64 {
        if self.count("OBS", subject) == 0 {
            return 0;
        }
        self.records(subject).len() as u64
    }

    /// A value of the checkpoint bucket, as text.
    pub fn checkpoint(&self, key: &str) -> Option<String> {
        self.rt.block_on(async {
            let kv = self.js.get_key_value("flare_checkpoints").await.ok()?;
            let value = kv.get(key).await.ok()??;
            Some(String::from_utf8_lossy(&value).into_owned())
        })
    }

    /// Every key of the checkpoint bucket.
    pub fn checkpoint_keys(&self) -> Vec<String> {
        self.rt.block_on(async {
            let Ok(kv) = self.js.get_key_value("flare_checkpoints").await else {
                return Vec::new();
            };
            match kv.keys().await {
                Ok(keys) => keys.try_collect().await.unwrap_or_default(),
                Err(_) => Vec::new(),
            }
        })
    }
}

/// Polls `condition` every 50 ms until it holds; panics after `timeout` with `what` and the
/// text `context()` gives (process logs, request logs).
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like [`wait_until`], for checks that explain themselves: polls `check` every 50 ms until it
/// returns `Ok`; panics after `timeout` with the last `Err` and `context()`.
pub fn wait_ok(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<(), String>,
    context: impl Fn() -> String,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(why) => why,
        };
        if Instant::now() >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}: {last}\n{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
