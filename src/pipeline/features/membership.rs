//! Feature workers find each other through the checkpoint bucket, so any number can run: each
//! writes a heartbeat under `features.members.<id>` every second and reads the others'. The
//! live members (heartbeat at most 5 s older than the newest one, by the server's clock, and
//! always the worker itself) split
//! the work: the global series belongs to the smallest id, region `n` to member
//! `n mod count` in id order. A worker that stops deletes its heartbeat (immediate handover);
//! one that dies is dropped after 5 s.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use crate::features::series::SeriesId;

const PREFIX: &str = "features.members.";
/// A heartbeat older than this (relative to the newest) means the worker is gone.
pub const LIVENESS: Duration = Duration::from_secs(5);
const BEAT: Duration = Duration::from_secs(1);

/// Who does what, as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub me: String,
    /// Live member ids, sorted.
    pub live: Vec<String>,
    /// Bumped whenever `live` changes.
    pub generation: u64,
}

impl Membership {
    /// A worker alone (before the first heartbeat round, or without a bucket): owns all.
    pub fn alone(me: &str) -> Membership {
        Membership {
            me: me.to_string(),
            live: vec![me.to_string()],
            generation: 0,
        }
    }

    pub fn owns(&self, series: SeriesId) -> bool {
        if self.live.is_empty() {
            return true;
        }
        let owner = match series {
            SeriesId::Global => &self.live[0],
            SeriesId::Region(n) => &self.live[n.rem_euclid(self.live.len() as i32) as usize],
        };
        *owner == self.me
    }
}

/// Shared view of the membership, updated by [`run`].
#[derive(Debug, Clone)]
pub struct MembershipHandle(Arc<RwLock<Membership>>);

impl MembershipHandle {
    pub fn new(me: &str) -> MembershipHandle {
        MembershipHandle(Arc::new(RwLock::new(Membership::alone(me))))
    }

    pub fn get(&self) -> Membership {
        self.0
            .read()
            .map(|m| m.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    fn set_live(&self, live: Vec<String>) {
        if let Ok(mut m) = self.0.write() {
            if m.live != live {
                tracing::info!(members = ?live, "feature workers changed");
                m.live = live;
                m.generation += 1;
            }
        }
    }
}

/// A usable worker id: letters, digits, `-` and `_` only (it names a consumer and a key).
pub fn sanitize_id(raw: &str) -> String {
    let id: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() {
        "0".to_string()
    } else {
        id
    }
}

/// Heartbeats and membership updates until `stop`; then removes this worker's heartbeat.
/// One KV watch (`features.members.>`) keeps the latest heartbeat time of every worker.
pub async fn run(
    store: kv::Store,
    handle: MembershipHandle,
    stop: impl std::future::Future<Output = ()>,
) {
    let me = handle.get().me;
    let key = format!("{PREFIX}{me}");
    let mut beats: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut watch: Option<kv::Watch> = None;
    let mut tick = tokio::time::interval(BEAT);
    tokio::pin!(stop);
    loop {
        if watch.is_none() {
            match store.watch_with_history(format!("{PREFIX}>")).await {
                Ok(w) => watch = Some(w),
                Err(e) => tracing::warn!(error = %e, "watching feature workers failed; retrying"),
            }
        }
        let next_entry = async {
            match watch.as_mut() {
                Some(w) => w.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = store.put(&key, bytes::Bytes::from_static(b"1")).await {
                    tracing::warn!(error = %e, "feature worker heartbeat failed");
                }
                handle.set_live(live_view(&beats, &me));
            }
            entry = next_entry => match entry {
                Some(Ok(entry)) => {
                    if let Some(id) = entry.key.strip_prefix(PREFIX) {
                        match entry.operation {
                            kv::Operation::Put => {
                                beats.insert(id.to_string(), entry.created);
                            }
                            kv::Operation::Delete | kv::Operation::Purge => {
                                beats.remove(id);
                            }
                        }
                    }
                }
                // The watch ended or failed (NATS reconnecting): reopen it next round.
                Some(Err(_)) | None => watch = None,
            },
            _ = &mut stop => break,
        }
    }
    let _ = store.delete(&key).await;
}

/// The live members as this worker sees them: itself always (it is running, even before the
/// watch returned its own first heartbeat or when a busy machine delayed it), so two workers'
/// views can differ only by the other worker; then each owns at least what the other thinks
/// it owns, and no series is left without a publisher.
fn live_view(beats: &HashMap<String, DateTime<Utc>>, me: &str) -> Vec<String> {
    let mut live = live_members(beats);
    if !live.iter().any(|id| id == me) {
        live.push(me.to_string());
        live.sort();
    }
    live
}

/// Members whose heartbeat is at most [`LIVENESS`] older than the newest one (server time).
fn live_members(beats: &HashMap<String, DateTime<Utc>>) -> Vec<String> {
    let Some(newest) = beats.values().max().copied() else {
        return Vec::new();
    };
    let limit = chrono::Duration::from_std(LIVENESS).unwrap_or(chrono::Duration::seconds(5));
    let mut live: Vec<String> = beats
        .iter()
        .filter(|(_, t)| newest - **t <= limit)
        .map(|(id, _)| id.clone())
        .collect();
    live.sort();
    live.dedup();
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(me: &str, live: &[&str]) -> Membership {
        Membership {
            me: me.into(),
            live: live.iter().map(|s| s.to_string()).collect(),
            generation: 1,
        }
    }

    #[test]
    fn work_is_split_without_overlap_or_gap() {
        let members = ["a", "b", "c"];
        for region in 3700..3760 {
            let owners = members
                .iter()
                .filter(|me| m(me, &members).owns(SeriesId::Region(region)))
                .count();
            assert_eq!(owners, 1, "region {region} has exactly one owner");
        }
        assert!(m("a", &members).owns(SeriesId::Global));
        assert!(!m("b", &members).owns(SeriesId::Global));
        assert!(Membership::alone("x").owns(SeriesId::Region(5)));
        assert_eq!(sanitize_id("host.example:1"), "host_example_1");
    }

    #[test]
    fn stale_heartbeats_drop_out() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let beats: HashMap<String, DateTime<Utc>> = [
            ("b".to_string(), t("2024-01-01T00:00:10Z")),
            ("a".to_string(), t("2024-01-01T00:00:06Z")),
            ("gone".to_string(), t("2024-01-01T00:00:04Z")),
        ]
        .into();
        assert_eq!(live_members(&beats), vec!["a".to_string(), "b".to_string()]);
        assert!(live_members(&HashMap::new()).is_empty());
    }

    #[test]
    fn a_worker_always_sees_itself() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // Its own first heartbeat not seen yet, or stale behind the others': still a member.
        let others: HashMap<String, DateTime<Utc>> =
            [("a".to_string(), t("2024-01-01T00:00:10Z"))].into();
        assert_eq!(
            live_view(&others, "b"),
            vec!["a".to_string(), "b".to_string()]
        );
        let stale: HashMap<String, DateTime<Utc>> = [
            ("a".to_string(), t("2024-01-01T00:00:10Z")),
            ("b".to_string(), t("2024-01-01T00:00:01Z")),
        ]
        .into();
        assert_eq!(
            live_view(&stale, "b"),
            vec!["a".to_string(), "b".to_string()]
        );
        // Two workers whose views differ by the other one leave no region without a publisher.
        let (alone, both) = (m("a", &["a"]), m("b", &["a", "b"]));
        for region in 3700..3760 {
            assert!(
                alone.owns(SeriesId::Region(region)) || both.owns(SeriesId::Region(region)),
                "region {region} published by someone"
            );
        }
    }
}
