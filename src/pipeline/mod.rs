//! The running system: the concrete actors (ingest, writer, features) and the supervisor that
//! starts a process's shared pieces (telemetry, HTTP endpoint, NATS, topology) and drains
//! them on shutdown.

pub mod actor_thread;
pub mod backlog;
pub mod config;
pub mod events;
pub mod features;
pub mod ingest;
pub mod metrics;
pub mod process;
pub mod supervisor;
pub mod writer;

pub use config::Config;
pub use process::{run, Pipeline, Role};
pub use supervisor::{Runtime, StartError};
