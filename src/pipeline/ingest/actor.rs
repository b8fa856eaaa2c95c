//! The ingest actor: an actix shell around one source's [`IngestCore`]. Payloads (from a
//! poller or a replay) arrive through the instrumented mailbox and are handled one at a time
//! (`AtomicResponse`), so records keep their order on the stream.

use std::sync::Arc;

use actix::{Actor, ActorFutureExt, AtomicResponse, Context, Handler, Message, WrapFuture};
use actors::{ActorMetrics, Envelope};

use super::core::{IngestCore, IngestError, IngestPayload, IngestReport};

/// Publish one payload.
pub struct Ingest(pub IngestPayload);

impl Message for Ingest {
    type Result = Result<IngestReport, IngestError>;
}

/// The input ended (finished replay): settle and publish what the detector still holds.
pub struct FinishInput;

impl Message for FinishInput {
    type Result = Result<IngestReport, IngestError>;
}

/// Save the checkpoint now if a payload changed it (a replay saves at most every 250 ms:
/// the replayer asks for this when its input ends or stops).
pub struct SaveCheckpoint;

impl Message for SaveCheckpoint {
    type Result = Result<IngestReport, IngestError>;
}

pub struct IngestActor {
    /// Taken out while a handler's future runs, put back when it ends. `AtomicResponse` keeps
    /// the next message waiting meanwhile, so a handler always finds it here.
    core: Option<IngestCore>,
    metrics: Arc<ActorMetrics>,
}

impl IngestActor {
    pub fn new(core: IngestCore, metrics: Arc<ActorMetrics>) -> IngestActor {
        IngestActor {
            core: Some(core),
            metrics,
        }
    }

    fn report_memory(&self) {
        let detector = self
            .core
            .as_ref()
            .and_then(|c| c.checkpoint().detector.as_ref())
            .map_or(0, |d| d.memory_bytes());
        self.metrics.set_memory_bytes(detector);
    }

    /// Runs `work` on the core and puts it back afterwards.
    fn with_core<F, Fut>(
        &mut self,
        timer: actors::HandlerTimer,
        work: F,
    ) -> AtomicResponse<Self, Result<IngestReport, IngestError>>
    where
        F: FnOnce(IngestCore) -> Fut + 'static,
        Fut:
            std::future::Future<Output = (IngestCore, Result<IngestReport, IngestError>)> + 'static,
    {
        let Some(core) = self.core.take() else {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(IngestError::Busy))));
        };
        AtomicResponse::new(Box::pin(work(core).into_actor(self).map(
            move |(core, result), actor, _| {
                actor.core = Some(core);
                actor.report_memory();
                drop(timer);
                result
            },
        )))
    }
}

impl Actor for IngestActor {
    type Context = Context<Self>;
}

impl Handler<Envelope<Ingest>> for IngestActor {
    type Result = AtomicResponse<Self, Result<IngestReport, IngestError>>;

    fn handle(&mut self, envelope: Envelope<Ingest>, _: &mut Context<Self>) -> Self::Result {
        let (Ingest(payload), timer) = envelope.open();
        let metrics = self.metrics.clone();
        self.with_core(timer, move |mut core| async move {
            let records = payload.records.len() as u64;
            let result = core.ingest(payload).await;
            if result.is_ok() {
                metrics.record_outcomes(actors::Outcome::Ok, records.max(1));
            }
            (core, result)
        })
    }
}

impl Handler<Envelope<FinishInput>> for IngestActor {
    type Result = AtomicResponse<Self, Result<IngestReport, IngestError>>;

    fn handle(&mut self, envelope: Envelope<FinishInput>, _: &mut Context<Self>) -> Self::Result {
        let (FinishInput, timer) = envelope.open();
        self.with_core(timer, |mut core| async move {
            let result = core.finish_input().await;
            (core, result)
        })
    }
}

impl Handler<Envelope<SaveCheckpoint>> for IngestActor {
    type Result = AtomicResponse<Self, Result<IngestReport, IngestError>>;

    fn handle(
        &mut self,
        envelope: Envelope<SaveCheckpoint>,
        _: &mut Context<Self>,
    ) -> Self::Result {
        let (SaveCheckpoint, timer) = envelope.open();
        self.with_core(timer, |mut core| async move {
            let result = core.save_pending().await.map(|()| IngestReport::default());
            (core, result)
        })
    }
}
