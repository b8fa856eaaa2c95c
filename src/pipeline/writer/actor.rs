//! The storage writer: gathers deliveries from OBS (batch messages of many records, or single
//! records) into write batches bounded by records, bytes, messages and time, writes each as
//! one transaction, and acks every message of it only after the commit. Undecodable or
//! refused records are dead-lettered with their reason; the rest of their batch is still
//! written. While the database is down, the batch is retried with backoff, its messages are
//! kept alive with in-progress acks, and the mailbox waits (the source holds no free permit,
//! so consumption pauses): memory stays bounded, nothing is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, SpawnHandle, WrapFuture};
use actors::health::Fault;
use actors::nats::{DeadLetterReason, Delivery};
use actors::{ActorMetrics, Envelope, Shutdown};

use crate::bus::{decode_message, headers, RejectedRecord};
use crate::domain::Observation;
use crate::pipeline::events;
use crate::profile::Profile;
use crate::store::{Store, TaggedBatch, WriteStats};

/// Batch bounds and retry pacing (from `[writer]`).
#[derive(Debug, Clone)]
pub struct WriterSettings {
    pub batch_max_records: usize,
    pub batch_max_bytes: usize,
    /// Messages the source may hand out (`writer.max_in_flight`): a batch holding them all is
    /// written at once, as no more can come before it is acked.
    pub max_messages: usize,
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
    /// Its records to store (none for marks); moved into the write batch at the flush.
    records: Vec<(Origin, Observation)>,
    /// How many records it holds (also once they moved into the batch).
    count: usize,
    /// Records of a batch message that could not be decoded: dead-lettered at the commit.
    undecodable: Vec<RejectedRecord>,
    /// A batch message (records are dead-lettered one by one), or a single record (the
    /// message itself is).
    is_batch: bool,
}

/// Where a record of a write batch came from: the tag the store hands back with a refusal.
#[derive(Debug, Clone)]
struct Origin {
    /// Index of its message among the held ones.
    message: usize,
    /// Position in its message (a dead letter's record index).
    position: usize,
    /// Its JSON as the message carries it (for the dead letter).
    raw: bytes::Bytes,
}

pub struct WriterActor {
    store: Store,
    settings: WriterSettings,
    metrics: Arc<ActorMetrics>,
    /// This role's stop signal (a child of the process's).
    shutdown: Shutdown,
    /// Set, with the reason, when a write fails in a way retrying cannot fix.
    fault: Fault,
    held: Vec<Held>,
    held_records: usize,
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
        fault: Fault,
    ) -> WriterActor {
        WriterActor {
            store,
            settings,
            metrics,
            shutdown,
            fault,
            held: Vec::new(),
            held_records: 0,
            held_bytes: 0,
            poison: Vec::new(),
            linger: None,
        }
    }

    fn report_memory(&self) {
        let bytes = self.held.capacity() * std::mem::size_of::<Held>()
            + self.held_records * std::mem::size_of::<Observation>()
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
        self.held_records = 0;
        self.held_bytes = 0;
        let job = FlushJob {
            store: self.store.clone(),
            settings: self.settings.clone(),
            shutdown: self.shutdown.clone(),
            fault: self.fault.clone(),
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
        match decode_message(delivery.payload()) {
            Ok(decoded) => {
                self.held_bytes += delivery.size();
                let message = self.held.len();
                let records: Vec<(Origin, Observation)> = decoded
                    .positions()
                    .into_iter()
                    .zip(decoded.raw)
                    .zip(decoded.records)
                    .filter(|(_, o)| !matches!(o, Observation::Progress(_)))
                    .map(|((position, raw), o)| {
                        let origin = Origin {
                            message,
                            position,
                            raw,
                        };
                        (origin, o)
                    })
                    .collect();
                events::records_received("writer", records.len() + decoded.rejected.len());
                self.held_records += records.len();
                self.held.push(Held {
                    delivery,
                    count: records.len(),
                    records,
                    undecodable: decoded.rejected,
                    is_batch: decoded.is_batch,
                });
            }
            Err(e) => self
                .poison
                .push((delivery, DeadLetterReason::new(e.code(), e.to_string()))),
        }
        if caught_up
            || self.held_records >= self.settings.batch_max_records
            || self.held_bytes >= self.settings.batch_max_bytes
            || self.held.len() + self.poison.len() >= self.settings.max_messages
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
    fault: Fault,
}

impl FlushJob {
    async fn run(self, mut held: Vec<Held>, poison: Vec<(Delivery, DeadLetterReason)>) {
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
        // The role stopped on a permanent error: what is still queued here goes back to the
        // stream untouched, for the writer that takes over once the fault is fixed.
        if self.fault.reason().is_some() {
            for h in held {
                let _ = h.delivery.nak(Duration::from_secs(1)).await;
            }
            return;
        }
        // The batch: records moved out of their messages, each tagged with its origin.
        let mut batch = TaggedBatch::default();
        for h in held.iter_mut() {
            for (origin, record) in std::mem::take(&mut h.records) {
                batch.push(origin, record);
            }
        }
        let Some(stats) = self.write_until_committed(&batch, &held).await else {
            // Stopping with the database still failing: hand everything back for redelivery.
            for h in held {
                let _ = h.delivery.nak(Duration::from_secs(1)).await;
            }
            return;
        };
        // Each refused record, by message: its position there, its JSON, the reason.
        let mut refused: Vec<Vec<Refused>> = held.iter().map(|_| Vec::new()).collect();
        for r in &stats.rejected {
            let Some(origin) = &r.tag else { continue };
            if let Some(list) = refused.get_mut(origin.message) {
                list.push(Refused {
                    index: origin.position,
                    record: origin.raw.clone(),
                    reason: DeadLetterReason::new(r.code, r.reason.clone()),
                });
            }
        }
        let mut stored = 0u64;
        for (h, refused) in held.into_iter().zip(refused) {
            stored += finish(h, refused).await;
        }
        events::records_stored(stored);
        emit_rows(&stats);
    }

    /// Writes the batch, retrying transient failures with backoff until it commits or a stop
    /// is requested (None). A failure retrying cannot fix (migration, configuration,
    /// permission) stops the role: the fault is set for `/readyz`, the role's stop signal is
    /// triggered, and None hands the batch back for redelivery (to another writer, or to this
    /// one once it is fixed and restarted). Held messages get in-progress acks so the server does not
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
    async fn write_until_committed(
        &self,
        batch: &TaggedBatch<Origin>,
        held: &[Held],
    ) -> Option<WriteStats<Origin>> {
        let mut delay = self.settings.retry_base;
        let mut attempt = 0u32;
        let mut last_progress = Instant::now();
        loop {
            let started = Instant::now();
            // A slow database may take longer than the consumer's ack wait for one batch:
            // keep the held messages alive meanwhile, or the server redelivers them.
            let write = self.store.write(batch, self.settings.profile);
            tokio::pin!(write);
            let result = loop {
                let next =
                    tokio::time::Instant::from_std(last_progress + self.settings.progress_every);
                tokio::select! {
                    result = &mut write => break result,
                    _ = tokio::time::sleep_until(next) => {
                        for h in held {
                            let _ = h.delivery.in_progress().await;
                        }
                        last_progress = Instant::now();
                    }
                }
            };
            match result {
                Ok(stats) => {
                    tracing::Span::current().record("attempts", attempt + 1);
                    events::batch_committed(batch.len(), started.elapsed().as_secs_f64());
                    if attempt > 0 {
                        tracing::info!(attempts = attempt + 1, "batch committed after retries");
                    }
                    return Some(stats);
                }
                Err(e) if !e.is_transient() => {
                    events::writer_stopped(e.code(), &e.to_string());
                    self.fault.set(format!("writer stopped: {e}"));
                    self.shutdown.trigger();
                    return None;
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

/// A record the store refused, from one message.
struct Refused {
    index: usize,
    record: bytes::Bytes,
    reason: DeadLetterReason,
}

/// After the commit: dead-letters what `h` could not store and acks it. Returns how many of
/// its records were stored. A single-record message whose record was refused is itself
/// dead-lettered (and terminated); a batch message is acked once its bad records are on the
/// dead-letter stream, or nak'ed for redelivery if they could not be put there (the rest
/// is rewritten idempotently).
async fn finish(h: Held, refused: Vec<Refused>) -> u64 {
    let entered = h
        .delivery
        .header(headers::ENTERED_AT)
        .and_then(headers::seconds_since);
    if !h.is_batch {
        if let Some(r) = refused.first() {
            if h.delivery.dead_letter(&r.reason).await.is_ok() {
                events::record_dead_lettered("writer", r.reason.code, &r.reason.detail);
            }
            return 0;
        }
    } else {
        let undecodable = h.undecodable.into_iter().map(|r| Refused {
            index: r.index,
            record: r.raw,
            reason: DeadLetterReason::new(r.error.code(), r.error.to_string()),
        });
        let refused_count = refused.len();
        for bad in undecodable.chain(refused) {
            if let Err(e) = h
                .delivery
                .dead_letter_record(bad.index, bad.record, &bad.reason)
                .await
            {
                tracing::warn!(error = %e, "dead-lettering a record failed; the batch will be redelivered");
                let _ = h.delivery.nak(Duration::from_secs(5)).await;
                return 0;
            }
            events::record_dead_lettered("writer", bad.reason.code, &bad.reason.detail);
        }
        return ack_stored(h.delivery, h.count - refused_count, entered).await;
    }
    ack_stored(h.delivery, h.count, entered).await
}

/// Acks a message whose `stored` records are committed, and records their latency.
async fn ack_stored(delivery: Delivery, stored: usize, entered: Option<f64>) -> u64 {
    if let Some(seconds) = entered {
        for _ in 0..stored {
            events::end_to_end("stored", seconds);
        }
    }
    if let Err(e) = delivery.ack().await {
        tracing::warn!(error = %e, "ack after commit failed; the records will be redelivered and rewritten idempotently");
    }
    stored as u64
}

fn emit_rows<T>(stats: &WriteStats<T>) {
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
