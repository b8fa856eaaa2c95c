//! The instrumented actor runtime flare-plus runs on: actix actors behind a counted mailbox,
//! fed from NATS JetStream with bounded in-flight work, reporting to Prometheus. It knows
//! nothing of flares.
//!
//! # Layout
//!
//! - [`metrics`]: the `actor_*` metric names (DESIGN.md's table), their buckets, and the
//!   per-actor handles registered once when an actor starts.
//! - [`mailbox`]: [`Mailbox`] wraps an actix `Addr` so that every message travels in an
//!   [`Envelope`] stamped with its enqueue instant: the handler records mailbox latency and
//!   handler time, and the depth gauge is counted exactly (actix has no depth API).
//! - [`memory`]: [`HeapSize`], the bytes an actor's buffers really hold.
//! - [`nats`]: [`nats::PullSource`] (durable pull consumer -> mailbox, one semaphore permit per
//!   message, released when the handler reports the effect durable), [`nats::Delivery`] (ack,
//!   nak with delay, in-progress, dead-letter + term) and [`nats::Publisher`] (bounded un-acked
//!   publishes, `Nats-Msg-Id`).
//! - [`telemetry`]: the Prometheus recorder with real histogram buckets, its upkeep task and
//!   process metrics (RSS, CPU).
//! - [`health`] and [`http`]: readiness checks and the `/metrics`, `/healthz`, `/readyz`
//!   endpoint.
//! - [`shutdown`]: one stop signal plus "everyone finished", wired to SIGINT/SIGTERM.
//!
//! # Backpressure
//!
//! The actix mailbox bound is not the backpressure boundary (`do_send` ignores it and `send`
//! has known bypasses). Work in flight is bounded where it enters: a JetStream pull consumer
//! fetches only as many messages as it holds permits for, the consumer's `max_ack_pending`
//! bounds the server side, and each [`nats::Delivery`] carries its permit until it is acked,
//! nak'ed or dead-lettered.

pub mod health;
pub mod http;
pub mod mailbox;
pub mod memory;
pub mod metrics;
pub mod nats;
pub mod shutdown;
pub mod telemetry;

pub use mailbox::{Envelope, HandlerTimer, Mailbox};
pub use memory::HeapSize;
pub use metrics::{ActorMetrics, Outcome};
pub use shutdown::Shutdown;
