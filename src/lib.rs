//! flare-plus streaming: live solar X-ray flux, active-region reports and flare catalogues
//! turned into flare-plus's feature vectors, continuously.
//!
//! # Layout, from the ground up
//!
//! Each floor uses only the floors below it (docs/ARCHITECTURE.md draws them):
//!
//! 1. **Runtime and foundations.** The `actors` crate (the domain-free actor runtime: mailbox,
//!    NATS source and sink, metrics, readiness, shutdown) and, here:
//!    - [`domain`]: the observation types every stage shares (no I/O);
//!    - [`profile`]: flare-plus parity (default) or the spec's fixes;
//!    - [`config`]: the configuration loader and the secret types (one redaction); the
//!      sections themselves live beside the components they configure;
//!    - [`profiling`]: the counting allocator, process figures and span timing behind
//!      `flare-plus profile` and the slow-operation log.
//! 2. **Math, no I/O.** [`detect`] (flare detection, batch and streaming),
//!    [`flare_events`] (flare-plus's de-duplicated flare table as a pure function),
//!    [`features`] (every feature and covariate, and the streaming series of provisional
//!    and final vectors).
//! 3. **Edges.** [`sources`] (the upstreams: the HTTP client, recorded files, the payload
//!    parsers), [`store`] (sqlx: PostgreSQL and SQLite), [`bus`] (NATS: subjects, streams,
//!    the wire codec of observations and vectors, checkpoints).
//! 4. [`pipeline`]: the running system: the roles (ingest, writer, features), how each is
//!    assembled from source, actor and sink, the process configuration, and one entry point
//!    ([`pipeline::run`], [`pipeline::Pipeline`]).
//! 5. [`commands`]: one module per command-line command; `main.rs` parses arguments and
//!    calls one of them.

pub mod bus;
pub mod commands;
pub mod config;
pub mod detect;
pub mod domain;
pub mod features;
pub mod flare_events;
pub mod pipeline;
pub mod profile;
pub mod profiling;
pub mod sources;
pub mod store;
