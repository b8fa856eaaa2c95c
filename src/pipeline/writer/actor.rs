//! The storage writer: gathers deliveries from OBS into batches bounded by count, bytes and
//! time, writes each batch as one transaction, and acks every message of the batch only after
//! the commit. Undecodable or refused records are dead-lettered with their reason; the rest of
//! their batch is still written. While the database is down, the batch is retried with backoff,
//! its messages are kept alive with in-progress acks, and the mailbox waits (the source holds
//! no free permit, so consumption pauses): memory stays bounded, nothing is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, SpawnHandle, WrapFuture};
use actors::nats::{DeadLetterReason, Delivery};
use actors::{ActorMetrics, Envelope, Shutdown};

use crate::bus::{headers, Observation};
use crate::pipeline::events;
use crate::profile::Profile;
use crate::store::{RecordKind, Store, WriteBatch, WriteStats};

/// Batch bounds and retry pacing (from `[writer]`).
#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub batch_max_messages: usize,
    pub batch_max_bytes: usize,
    pub batch_max_wait: Duration,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Half the consumer's ack wait: how often held messages get an in-progress ack.
    pub progress_every: Duration,
    pub profile: Profile,
}

/// A message waiting for the batch commit.
struct Held {
    delivery: Delivery,
    /// None for marks that need no storage (acked with the batch).
    observation: Option<Observation>,
}

pub struct WriterActor {
    store: Store,
    settings: WriterSettings,
    metrics: Arc<ActorMetrics>,
    shutdown: Shutdown,
    held: Vec<Held>,
    held_bytes: usize,
    /// Undecodable deliveries, dead-lettered with the next flush.
    poison: Vec<(Delivery, DeadLetterReason)>,
    linger: Option<SpawnHandle>,
}

impl WriterActor {
    pub fn new(
        store: Store,
        settings: WriterSettings,
        metrics: Arc<ActorMetrics>,
        shutdown: Shutdown,
    ) -> WriterActor {
        WriterActor {
            store,
            settings,
            metrics,
            shutdown,
            held: Vec::new(),
            held_bytes: 0,
            poison: Vec::new(),
            linger: None,
        }
    }

    fn report_memory(&self) {
        let bytes = self.held.capacity() * std::mem::size_of::<Held>()
            + self.held_bytes
            + self.poison.capacity() * std::mem::size_of::<(Delivery, DeadLetterReason)>();
        self.metrics.set_memory_bytes(bytes);
    }

    /// Writes what is held, in the actor's context: the mailbox waits until it is done.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.linger.take() {
            ctx.cancel_future(timer);
        }
        if self.held.is_empty() && self.poison.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let poison = std::mem::take(&mut self.poison);
        self.held_bytes = 0;
        let job = FlushJob {
            store: self.store.clone(),
            settings: self.settings.clone(),
            shutdown: self.shutdown.clone(),
        };
        ctx.wait(
            job.run(held, poison)
                .into_actor(self)
                .map(|_, actor, _| actor.report_memory()),
        );
    }
}

impl Actor for WriterActor {
    type Context = Context<Self>;
}

impl Handler<Envelope<Delivery>> for WriterActor {
    type Result = ();

    fn handle(&mut self, envelope: Envelope<Delivery>, ctx: &mut Context<Self>) {
        let (delivery, _timer) = envelope.open();
        let first = self.held.is_empty() && self.poison.is_empty();
        // Nothing more on the consumer and nothing queued here (live cadence): write now
        // instead of lingering; under load batches still fill while a write is in progress.
        let caught_up = delivery.pending() == Some(0) && self.metrics.depth() <= 0;
        match Observation::decode(delivery.payload()) {
            Ok(observation) => {
                self.held_bytes += delivery.size();
                let observation = match observation {
                    Observation::Progress(_) => None,
                    other => Some(other),
                };
                self.held.push(Held {
                    delivery,
                    observation,
                });
            }
            Err(e) => self
                .poison
                .push((delivery, DeadLetterReason::new(e.code(), e.to_string()))),
        }
        if caught_up
            || self.held.len() >= self.settings.batch_max_messages
            || self.held_bytes >= self.settings.batch_max_bytes
        {
            self.flush(ctx);
        } else if first {
            self.linger = Some(ctx.run_later(self.settings.batch_max_wait, |actor, ctx| {
                actor.linger = None;
                actor.flush(ctx);
            }));
        }
        self.report_memory();
    }
}

/// One batch's trip to the database and back to JetStream.
struct FlushJob {
    store: Store,
    settings: WriterSettings,
    shutdown: Shutdown,
}

impl FlushJob {
    async fn run(self, held: Vec<Held>, poison: Vec<(Delivery, DeadLetterReason)>) {
        for (delivery, reason) in poison {
            let subject = delivery.subject().to_string();
            if let Err(e) = delivery.dead_letter(&reason).await {
                tracing::warn!(error = %e, subject, "dead-lettering failed; the message will be redelivered");
            } else {
                events::record_dead_lettered("writer", reason.code, &reason.detail);
            }
        }
        if held.is_empty() {
            return;
        }
        // The batch, plus where each record came from (to find the delivery of a refused one).
        let mut batch = WriteBatch::default();
        let mut origin: Vec<(RecordKind, usize)> = Vec::with_capacity(held.len());
        for (i, h) in held.iter().enumerate() {
            match &h.observation {
                Some(Observation::Xray(x)) => {
                    origin.push((RecordKind::Xray, i));
                    batch.xrays.push(x.clone());
                }
                Some(Observation::Region(r)) => {
                    origin.push((RecordKind::Region, i));
                    batch.regions.push(r.clone());
                }
                Some(Observation::Flare(f)) => {
                    origin.push((RecordKind::Flare, i));
                    batch.flares.push(f.clone());
                }
                Some(Observation::Progress(_)) | None => {}
            }
        }
        let Some(stats) = self.write_until_committed(&batch, &held).await else {
            // Stopping with the database still failing: hand everything back for redelivery.
            for h in held {
                let _ = h.delivery.nak(Duration::from_secs(1)).await;
            }
            return;
        };
        // Map each refused record back to its delivery.
        let nth = |kind: RecordKind, index: usize| {
            origin
                .iter()
                .filter(|(k, _)| *k == kind)
                .nth(index)
                .map(|(_, i)| *i)
        };
        let mut refused: Vec<Option<DeadLetterReason>> = (0..held.len()).map(|_| None).collect();
        for r in &stats.rejected {
            if let Some(i) = nth(r.kind, r.index) {
                refused[i] = Some(DeadLetterReason::new(r.code, r.reason.clone()));
            }
        }
        let mut stored = 0u64;
        for (h, reason) in held.into_iter().zip(refused) {
            let entered = h
                .delivery
                .header(headers::ENTERED_AT)
                .and_then(headers::seconds_since);
            match reason {
                Some(reason) => {
                    let code = reason.code;
                    let detail = reason.detail.clone();
                    if h.delivery.dead_letter(&reason).await.is_ok() {
                        events::record_dead_lettered("writer", code, &detail);
                    }
                }
                None => {
                    if h.observation.is_some() {
                        stored += 1;
                        if let Some(seconds) = entered {
                            events::end_to_end("stored", seconds);
                        }
                    }
                    if let Err(e) = h.delivery.ack().await {
                        tracing::warn!(error = %e, "ack after commit failed; the record will be redelivered and rewritten idempotently");
                    }
                }
            }
        }
        events::records_stored(stored);
        emit_rows(&stats);
    }

    /// Writes the batch, retrying transient failures with backoff until it commits or a stop
    /// is requested (None). Held messages get in-progress acks so the server does not
    /// redeliver them meanwhile. One `write` span per batch (retries included) for the
    /// slow-operation log.
    #[tracing::instrument(
        name = "write",
        level = "debug",
        skip_all,
        fields(
            records = batch.len(),
            messages = held.len(),
            attempts = tracing::field::Empty
        )
    )]
    async fn write_until_committed(&self, batch: &WriteBatch, held: &[Held]) -> Option<WriteStats> {
        let mut delay = self.settings.retry_base;
        let mut attempt = 0u32;
        let mut last_progress = Instant::now();
        loop {
            let started = Instant::now();
            match self.store.write(batch, self.settings.profile).await {
                Ok(stats) => {
                    tracing::Span::current().record("attempts", attempt + 1);
                    events::batch_committed(held.len(), started.elapsed().as_secs_f64());
                    if attempt > 0 {
                        tracing::info!(attempts = attempt + 1, "batch committed after retries");
                    }
                    return Some(stats);
                }
                Err(e) => {
                    attempt += 1;
                    events::write_retried(e.code(), &e.to_string(), attempt);
                    if last_progress.elapsed() >= self.settings.progress_every {
                        for h in held {
                            let _ = h.delivery.in_progress().await;
                        }
                        last_progress = Instant::now();
                    }
                    if self.shutdown.is_triggered() {
                        return None;
                    }
                    let pause = delay.min(self.settings.progress_every);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = self.shutdown.cancelled() => return None,
                    }
                    delay = (delay * 2).min(self.settings.retry_max);
                }
            }
        }
    }
}

fn emit_rows(stats: &WriteStats) {
    events::rows_written(
        "flare_goes_xray_flux",
        stats.xrays.inserted + stats.xrays.updated,
    );
    events::rows_written(
        "flare_solar_regions",
        stats.regions.inserted + stats.regions.updated,
    );
    events::rows_written(
        "flare_event_candidates",
        stats.flare_candidates.inserted + stats.flare_candidates.updated,
    );
    events::rows_written(
        "flare_events",
        stats.flare_events.inserted + stats.flare_events.updated + stats.flare_events.deleted,
    );
}
