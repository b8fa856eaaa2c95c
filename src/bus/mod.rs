//! Everything about NATS that is specific to flare-plus: subject names, the streams and
//! consumers, the wire codec and headers, connection options from config, checkpoints.
//! The generic machinery (pull source, publisher, dead letters) is in the `actors` crate.

pub mod batch;
pub mod checkpoint;
pub mod codec;
pub mod config;
pub mod connect;
pub mod embedded;
pub mod error;
pub mod headers;
pub mod streams;
pub mod subjects;
pub mod vectors;

pub use batch::{decode_message, BatchBuilder, BatchLimits, Decoded, RejectedRecord};
pub use checkpoint::Checkpoints;
pub use codec::{DecodeError, ObservationWire};
pub use config::{NatsConfig, ServerUrls};
pub use connect::connect;
pub use error::{BusError, BusErrorKind};
pub use streams::{ensure_topology, Topology};
