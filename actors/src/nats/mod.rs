//! NATS JetStream at the edges of an actor: a pull-consumer source feeding a [`crate::Mailbox`]
//! with bounded in-flight work, the [`Delivery`] a handler acks when the effect is durable, and
//! a [`Publisher`] sink with a bounded window of un-acked publishes, optionally held back by a
//! [`BacklogGate`] while a downstream consumer is behind.

mod delivery;
mod gate;
pub mod headers;
mod in_flight;
mod sink;
mod sink_error;
mod source;

pub use delivery::{DeadLetter, DeadLetterReason, DeadLetterSink, Delivery, DeliveryError};
pub use gate::BacklogGate;
pub use sink::{OutboundMessage, Publisher, PublisherConfig};
pub use sink_error::SinkError;
pub use source::{PullSource, PullSourceConfig, SourceReport};
