//! The feature actor: an actix shell around [`FeatureCore`], fed by a durable pull consumer
//! on OBS. Deliveries are handled one at a time (`AtomicResponse`: the series needs stream
//! order); a linger timer settles (flushes, acks, checkpoints) when input pauses.

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, AtomicResponse, Context, Handler, Message, SpawnHandle,
    WrapFuture,
};
use actors::nats::Delivery;
use actors::{ActorMetrics, Envelope};

use super::core::{FeatureCore, FeatureError};

/// Settle now: from the linger timer, or (with `force`, which always checkpoints) before
/// stopping.
pub struct Settle {
    pub force: bool,
}

impl Message for Settle {
    type Result = Result<(), FeatureError>;
}

pub struct FeatureActor {
    core: Option<FeatureCore>,
    metrics: Arc<ActorMetrics>,
    linger: Option<SpawnHandle>,
}

/// Held inputs are settled at the latest this long after input stops.
const LINGER: Duration = Duration::from_millis(50);

impl FeatureActor {
    pub fn new(core: FeatureCore, metrics: Arc<ActorMetrics>) -> FeatureActor {
        FeatureActor {
            core: Some(core),
            metrics,
            linger: None,
        }
    }

    fn report_memory(&self) {
        if let Some(core) = &self.core {
            self.metrics.set_memory_bytes(
                core.series().memory_bytes() + core.held() * std::mem::size_of::<Delivery>(),
            );
        }
    }
}

impl Actor for FeatureActor {
    type Context = Context<Self>;
}

impl Handler<Envelope<Delivery>> for FeatureActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, envelope: Envelope<Delivery>, ctx: &mut Context<Self>) -> Self::Result {
        let (delivery, timer) = envelope.open();
        if let Some(handle) = self.linger.take() {
            ctx.cancel_future(handle);
        }
        let Some(mut core) = self.core.take() else {
            tracing::error!("feature core missing; the delivery will be redelivered");
            return AtomicResponse::new(Box::pin(actix::fut::ready(())));
        };
        let more_queued = self.metrics.depth() > 0;
        AtomicResponse::new(Box::pin(
            async move {
                let result = core.take(delivery, more_queued).await;
                (core, result)
            }
            .into_actor(self)
            .map(move |(core, result), actor, ctx| {
                if let Err(e) = result {
                    tracing::error!(error = %e, "feature series failed on an observation");
                }
                let idle = core.unsettled();
                actor.core = Some(core);
                actor.report_memory();
                if idle {
                    // Input paused: settle and checkpoint whatever the rate limit says, so the stored
                    // progress never lags behind an idle actor.
                    actor.linger = Some(ctx.notify_later(Settle { force: true }, LINGER));
                }
                drop(timer);
            }),
        ))
    }
}

impl Handler<Settle> for FeatureActor {
    type Result = AtomicResponse<Self, Result<(), FeatureError>>;

    fn handle(&mut self, settle: Settle, _: &mut Context<Self>) -> Self::Result {
        self.linger = None;
        let Some(mut core) = self.core.take() else {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(FeatureError::Busy))));
        };
        AtomicResponse::new(Box::pin(
            async move {
                let result = core.settle(settle.force).await;
                (core, result)
            }
            .into_actor(self)
            .map(|(core, result), actor, _| {
                actor.core = Some(core);
                result
            }),
        ))
    }
}
