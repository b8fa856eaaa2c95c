//! Rebuilding a restarted feature actor's state from the OBS stream: re-read from the
//! checkpoint's `rebuild_from` sequence up to where the durable consumer resumes (its ack
//! floor), feeding the series as live. Ticks up to the checkpoint are not published again;
//! later ones are (with the same content and ids, so the stream drops any already stored).

use async_nats::jetstream::consumer::{self, DeliverPolicy};
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;

use super::core::{FeatureCore, FeatureError};
use crate::bus::{decode_message, BusError, BusErrorKind};

/// Re-reads OBS sequences `from..=to` into `core`. Returns how many observations were read.
pub async fn rebuild(
    obs: &Stream,
    from: u64,
    to: u64,
    core: &mut FeatureCore,
) -> Result<u64, FeatureError> {
    if from == 0 || from > to {
        return Ok(0);
    }
    let topology = |e: String| FeatureError::Checkpoint(BusError::new(BusErrorKind::Topology, e));
    let reader = obs
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: from,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| topology(format!("cannot open an ordered reader on OBS: {e}")))?;
    let mut messages = reader
        .messages()
        .await
        .map_err(|e| topology(format!("cannot read OBS: {e}")))?;
    let mut read = 0u64;
    while let Some(message) = messages.next().await {
        let message =
            message.map_err(|e| topology(format!("reading OBS during the rebuild: {e}")))?;
        let Ok(info) = message.info() else { continue };
        let seq = info.stream_sequence;
        if seq > to {
            break;
        }
        if let Ok(decoded) = decode_message(&message.payload) {
            for observation in &decoded.records {
                core.observe(observation, Some(seq), None).await?;
                read += 1;
            }
        }
        if seq >= to {
            break;
        }
    }
    core.settle(true).await?;
    Ok(read)
}
