//! The actor metrics (names are part of the interface, see DESIGN.md) and their handles.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Unit};

/// Every metric this crate emits. Names live here once; code uses the enum, not strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorMetricName {
    /// Histogram: time from enqueue to handler start.
    MailboxLatencySeconds,
    /// Histogram: time inside the handler.
    HandlerSeconds,
    /// Gauge: messages enqueued and not yet handled.
    MailboxDepth,
    /// Counter, label `outcome` = ok | retry | dead_letter.
    MessagesTotal,
    /// Gauge: bytes the actor's state holds.
    MemoryBytes,
    /// Gauge: JetStream messages held by a pull source and not yet acked (its permits in use).
    SourceInFlight,
}

impl ActorMetricName {
    pub const ALL: [ActorMetricName; 6] = [
        ActorMetricName::MailboxLatencySeconds,
        ActorMetricName::HandlerSeconds,
        ActorMetricName::MailboxDepth,
        ActorMetricName::MessagesTotal,
        ActorMetricName::MemoryBytes,
        ActorMetricName::SourceInFlight,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ActorMetricName::MailboxLatencySeconds => "actor_mailbox_latency_seconds",
            ActorMetricName::HandlerSeconds => "actor_handler_seconds",
            ActorMetricName::MailboxDepth => "actor_mailbox_depth",
            ActorMetricName::MessagesTotal => "actor_messages_total",
            ActorMetricName::MemoryBytes => "actor_memory_bytes",
            ActorMetricName::SourceInFlight => "actor_source_in_flight",
        }
    }
}

/// Histogram buckets (seconds) for mailbox wait and handler time: from 50 µs (an idle mailbox
/// on this hardware) to 30 s (a batch commit waiting out a database outage).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0,
];

/// Registers the descriptions of every actor metric with the installed recorder. Call once at
/// start-up (after installing the recorder).
pub fn describe() {
    metrics::describe_histogram!(
        ActorMetricName::MailboxLatencySeconds.as_str(),
        Unit::Seconds,
        "Time a message waited in an actor's mailbox, from enqueue to handler start"
    );
    metrics::describe_histogram!(
        ActorMetricName::HandlerSeconds.as_str(),
        Unit::Seconds,
        "Time spent inside an actor's handler"
    );
    metrics::describe_gauge!(
        ActorMetricName::MailboxDepth.as_str(),
        Unit::Count,
        "Messages enqueued to an actor and not yet handled"
    );
    metrics::describe_counter!(
        ActorMetricName::MessagesTotal.as_str(),
        Unit::Count,
        "Messages an actor finished, by outcome: ok, retry (nak, redelivered later) or dead_letter"
    );
    metrics::describe_gauge!(
        ActorMetricName::MemoryBytes.as_str(),
        Unit::Bytes,
        "Bytes held by an actor's state (capacities of its buffers)"
    );
    metrics::describe_gauge!(
        ActorMetricName::SourceInFlight.as_str(),
        Unit::Count,
        "JetStream messages a pull source has handed out and not yet seen acked"
    );
}

/// How an actor finished with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The effect is durable (acked).
    Ok,
    /// Transient failure: the message will come again (nak with delay).
    Retry,
    /// Permanent failure: the message went to the dead-letter subject and was terminated.
    DeadLetter,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Retry => "retry",
            Outcome::DeadLetter => "dead_letter",
        }
    }
}

/// The metric handles of one actor, registered once (handles avoid re-hashing the key per
/// message). `actor` is a static type name: labels stay low-cardinality.
#[derive(Debug)]
pub struct ActorMetrics {
    actor: &'static str,
    mailbox_latency: Histogram,
    handler: Histogram,
    depth_gauge: Gauge,
    depth: AtomicI64,
    ok: Counter,
    retry: Counter,
    dead_letter: Counter,
    memory: Gauge,
    source_in_flight: Gauge,
}

impl ActorMetrics {
    pub fn register(actor: &'static str) -> Arc<ActorMetrics> {
        let outcome = |o: Outcome| metrics::counter!(ActorMetricName::MessagesTotal.as_str(), "actor" => actor, "outcome" => o.as_str());
        Arc::new(ActorMetrics {
            actor,
            mailbox_latency: metrics::histogram!(ActorMetricName::MailboxLatencySeconds.as_str(), "actor" => actor),
            handler: metrics::histogram!(ActorMetricName::HandlerSeconds.as_str(), "actor" => actor),
            depth_gauge: metrics::gauge!(ActorMetricName::MailboxDepth.as_str(), "actor" => actor),
            depth: AtomicI64::new(0),
            ok: outcome(Outcome::Ok),
            retry: outcome(Outcome::Retry),
            dead_letter: outcome(Outcome::DeadLetter),
            memory: metrics::gauge!(ActorMetricName::MemoryBytes.as_str(), "actor" => actor),
            source_in_flight: metrics::gauge!(ActorMetricName::SourceInFlight.as_str(), "actor" => actor),
        })
    }

    pub fn actor(&self) -> &'static str {
        self.actor
    }

    /// Messages enqueued and not yet handled, counted exactly.
    pub fn depth(&self) -> i64 {
        self.depth.load(Ordering::Acquire)
    }

    pub(crate) fn enqueued(&self) {
        let depth = self.depth.fetch_add(1, Ordering::AcqRel) + 1;
        self.depth_gauge.set(depth as f64);
    }

    pub(crate) fn dequeued(&self, waited: std::time::Duration) {
        let depth = self.depth.fetch_sub(1, Ordering::AcqRel) - 1;
        self.depth_gauge.set(depth as f64);
        self.mailbox_latency.record(waited.as_secs_f64());
    }

    /// A message that left the mailbox without being handled (the actor stopped).
    pub(crate) fn discarded(&self) {
        let depth = self.depth.fetch_sub(1, Ordering::AcqRel) - 1;
        self.depth_gauge.set(depth as f64);
    }

    pub(crate) fn handled(&self, took: std::time::Duration) {
        self.handler.record(took.as_secs_f64());
    }

    /// Counts one finished message.
    pub fn record_outcome(&self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok.increment(1),
            Outcome::Retry => self.retry.increment(1),
            Outcome::DeadLetter => self.dead_letter.increment(1),
        }
    }

    /// Counts `n` messages finished with the same outcome (a committed batch).
    pub fn record_outcomes(&self, outcome: Outcome, n: u64) {
        match outcome {
            Outcome::Ok => self.ok.increment(n),
            Outcome::Retry => self.retry.increment(n),
            Outcome::DeadLetter => self.dead_letter.increment(n),
        }
    }

    /// Sets the bytes the actor's state holds; call whenever its buffers change size.
    pub fn set_memory_bytes(&self, bytes: usize) {
        self.memory.set(bytes as f64);
    }

    pub(crate) fn set_source_in_flight(&self, n: usize) {
        self.source_in_flight.set(n as f64);
    }
}
