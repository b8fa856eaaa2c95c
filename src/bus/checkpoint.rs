//! Checkpoints in the JetStream key-value bucket: small JSON values under dotted keys
//! (`ingest.xrs.primary`, `features.global`), so a restarted actor resumes where it stopped.

use async_nats::jetstream::kv;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{BusError, BusErrorKind};

/// How long a failing checkpoint write is retried, and the backoff between tries.
const PUT_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(60);
const PUT_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(50);
const PUT_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Clone)]
pub struct Checkpoints {
    store: kv::Store,
}

impl Checkpoints {
    pub fn new(store: kv::Store) -> Checkpoints {
        Checkpoints { store }
    }

    /// The value under `key`, or None if never written.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, BusError> {
        let value = self.store.get(key).await.map_err(|e| {
            BusError::new(
                BusErrorKind::Other,
                format!("reading checkpoint {key}: {e}"),
            )
        })?;
        match value {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                BusError::new(
                    BusErrorKind::Other,
                    format!("checkpoint {key} is not valid: {e}"),
                )
            }),
        }
    }

    /// Stores `value` under `key` (the write is acknowledged by the stream).
    pub async fn put<T: Serialize>(&self, key: &str, value: &T) -> Result<(), BusError> {
        let bytes = serde_json::to_vec(value).map_err(|e| {
            BusError::new(
                BusErrorKind::Other,
                format!("encoding checkpoint {key}: {e}"),
            )
        })?;
        let bytes = bytes::Bytes::from(bytes);
        // While nats-server restarts, JetStream answers "no stream found" until it has loaded
        // its streams: retry for a while (the write is idempotent) before giving up.
        let started = std::time::Instant::now();
        let mut delay = PUT_RETRY_FIRST;
        loop {
            match self.store.put(key, bytes.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() < PUT_RETRY_FOR => {
                    tracing::debug!(key, error = %e, "checkpoint write failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(PUT_RETRY_MAX);
                }
                Err(e) => {
                    return Err(BusError::new(
                        BusErrorKind::Other,
                        format!("writing checkpoint {key} (retried for {PUT_RETRY_FOR:?}): {e}"),
                    ))
                }
            }
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), BusError> {
        self.store.delete(key).await.map_err(|e| {
            BusError::new(
                BusErrorKind::Other,
                format!("deleting checkpoint {key}: {e}"),
            )
        })
    }
}
