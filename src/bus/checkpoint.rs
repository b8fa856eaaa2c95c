//! Checkpoints in the JetStream key-value bucket: small JSON values under dotted keys
//! (`ingest.xrs.primary`, `features.global`), so a restarted actor resumes where it stopped.

use async_nats::jetstream::kv;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{BusError, BusErrorKind};

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
        self.store
            .put(key, bytes.into())
            .await
            .map(|_| ())
            .map_err(|e| {
                BusError::new(
                    BusErrorKind::Other,
                    format!("writing checkpoint {key}: {e}"),
                )
            })
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
