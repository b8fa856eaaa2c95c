//! The consumer-backlog gauges: a durable consumer's undelivered and unacked messages,
//! sampled while the role runs.

use std::time::Duration;

use async_nats::jetstream::consumer;

use super::events;

/// Samples a durable consumer's backlog every `every` into the consumer gauges, until
/// `stop` resolves.
pub async fn watch_consumer_backlog(
    mut consumer: consumer::PullConsumer,
    name: &'static str,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Ok(info) = consumer.info().await {
                    events::consumer_backlog(name, info.num_pending, info.num_ack_pending);
                }
            }
            _ = &mut stop => break,
        }
    }
}
