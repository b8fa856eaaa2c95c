//! The running system: the concrete actors (ingest, writer, features) and the supervisor that
//! starts a process's shared pieces (telemetry, HTTP endpoint, NATS, topology) and drains
//! them on shutdown.

pub mod actor_thread;
pub mod events;
pub mod features;
pub mod ingest;
pub mod metrics;
pub mod supervisor;
pub mod writer;

pub use supervisor::{Runtime, StartError};
