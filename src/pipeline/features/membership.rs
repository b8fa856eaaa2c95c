//! Feature workers find each other through the checkpoint bucket, so any number can run: each
//! writes a heartbeat under `features.members.<id>` every second and reads the others'. The
//! live members (heartbeat at most 5 s older than the newest one, by the server's clock) split
//! the work: the global series belongs to the smallest id, region `n` to member
//! `n mod count` in id order. A worker that stops deletes its heartbeat (immediate handover);
//! one that dies is dropped after 5 s.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures_util::StreamExt;

use crate::pipeline::features::series::SeriesId;

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
pub async fn run(
    store: kv::Store,
    handle: MembershipHandle,
    stop: impl std::future::Future<Output = ()>,
) {
    let me = handle.get().me;
    let key = format!("{PREFIX}{me}");
    let mut tick = tokio::time::interval(BEAT);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = store.put(&key, bytes::Bytes::from_static(b"1")).await {
                    tracing::warn!(error = %e, "feature worker heartbeat failed");
                    continue;
                }
                match live_members(&store).await {
                    Ok(live) => handle.set_live(live),
                    Err(e) => tracing::warn!(error = %e, "reading feature workers failed"),
                }
            }
            _ = &mut stop => break,
        }
    }
    let _ = store.delete(&key).await;
}

/// Members whose heartbeat is at most [`LIVENESS`] older than the newest one.
async fn live_members(store: &kv::Store) -> Result<Vec<String>, String> {
    let mut keys = store.keys().await.map_err(|e| e.to_string())?;
    let mut beats = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.map_err(|e| e.to_string())?;
        let Some(id) = key.strip_prefix(PREFIX) else {
            continue;
        };
        if let Ok(Some(entry)) = store.entry(&key).await {
            if entry.operation == kv::Operation::Put {
                beats.push((id.to_string(), entry.created));
            }
        }
    }
    let Some(newest) = beats.iter().map(|(_, t)| *t).max() else {
        return Ok(Vec::new());
    };
    let limit = chrono::Duration::from_std(LIVENESS).unwrap_or(chrono::Duration::seconds(5));
    let mut live: Vec<String> = beats
        .into_iter()
        .filter(|(_, t)| newest - *t <= limit)
        .map(|(id, _)| id)
        .collect();
    live.sort();
    Ok(live)
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
}
