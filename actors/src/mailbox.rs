//! A counted, timed mailbox in front of an actix actor.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};

use crate::metrics::ActorMetrics;

/// An actor's address plus its metric handles. Every message sent through it is wrapped in an
/// [`Envelope`]; the depth gauge goes up on send and down when the handler opens the envelope
/// (or when the envelope is dropped unhandled), so it is exact.
///
/// Only [`Mailbox::send`] exists: it waits for the handler's answer, so one sender has at most
/// one message in the mailbox at a time. There is deliberately no `do_send`.
pub struct Mailbox<A: Actor> {
    addr: Addr<A>,
    metrics: Arc<ActorMetrics>,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Mailbox {
            addr: self.addr.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<A: Actor> Mailbox<A> {
    pub fn new(addr: Addr<A>, metrics: Arc<ActorMetrics>) -> Mailbox<A> {
        Mailbox { addr, metrics }
    }

    pub fn metrics(&self) -> &Arc<ActorMetrics> {
        &self.metrics
    }

    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    pub fn connected(&self) -> bool {
        self.addr.connected()
    }

    /// Sends `msg` and waits for the handler's result.
    pub async fn send<M>(&self, msg: M) -> Result<M::Result, MailboxError>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<Envelope<M>>,
        A::Context: ToEnvelope<A, Envelope<M>>,
    {
        self.addr
            .send(Envelope::new(msg, self.metrics.clone()))
            .await
    }
}

/// A message plus the instant it was enqueued. The handler calls [`Envelope::open`] first.
pub struct Envelope<M> {
    msg: Option<M>,
    enqueued_at: Instant,
    metrics: Arc<ActorMetrics>,
}

impl<M: Message> Message for Envelope<M> {
    type Result = M::Result;
}

impl<M> Envelope<M> {
    pub fn new(msg: M, metrics: Arc<ActorMetrics>) -> Envelope<M> {
        metrics.enqueued();
        Envelope {
            msg: Some(msg),
            enqueued_at: Instant::now(),
            metrics,
        }
    }

    /// Takes the message out, recording the time it waited in the mailbox. The returned timer
    /// records the handler time when dropped: keep it alive for as long as the handler works
    /// (move it into the future of an async handler).
    pub fn open(mut self) -> (M, HandlerTimer) {
        let now = Instant::now();
        self.metrics
            .dequeued(now.saturating_duration_since(self.enqueued_at));
        let msg = self
            .msg
            .take()
            .expect("an envelope is opened once; open() consumes it");
        let timer = HandlerTimer {
            started: now,
            metrics: self.metrics.clone(),
        };
        (msg, timer)
    }

    /// How long the message has waited so far.
    pub fn waited(&self) -> Duration {
        self.enqueued_at.elapsed()
    }
}

impl<M> Drop for Envelope<M> {
    fn drop(&mut self) {
        if self.msg.is_some() {
            // Never opened: the actor stopped with it in the mailbox.
            self.metrics.discarded();
        }
    }
}

/// Records `actor_handler_seconds` when dropped.
pub struct HandlerTimer {
    started: Instant,
    metrics: Arc<ActorMetrics>,
}

impl HandlerTimer {
    pub fn metrics(&self) -> &Arc<ActorMetrics> {
        &self.metrics
    }
}

impl Drop for HandlerTimer {
    fn drop(&mut self) {
        self.metrics.handled(self.started.elapsed());
    }
}
