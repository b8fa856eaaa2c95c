//! flare-plus streaming: live solar X-ray flux, active-region reports and flare catalogues
//! turned into flare-plus's feature vectors, continuously.
//!
//! # Layout
//!
//! - [`domain`]: the observation types every stage shares (no I/O).
//! - [`profile`]: flare-plus parity (default) or the spec's fixes.
//! - [`sources`]: the upstreams (SWPC X-ray, SWPC regions, NASA DONKI): the HTTP client
//!   ([`sources::fetch`]), recorded files, and the payload parsers (bytes in, domain records
//!   plus per-record rejects for the dead-letter subject out).
//! - [`detect`]: flare detection from the GOES long-band flux, batch and streaming.
//! - [`flare_events`]: flare-plus's de-duplicated `flare_events` table as a pure function.
//! - [`features`]: the feature engine (every flare-plus feature and covariate), pure math.
//! - [`config`]: typed configuration.
//! - [`bus`]: NATS subjects, streams, codec, checkpoints.
//! - [`store`]: sqlx storage (PostgreSQL, SQLite): migrations, batched idempotent writes,
//!   bulk readers.
//! - [`pipeline`]: the running system: actors and the supervisor.
//! - [`profiling`]: measurement for `flare-plus profile` and the slow-operation log: the
//!   counting allocator, peak RSS and CPU time from the kernel, span timing.
//!
//! Dependency direction is one way: `pipeline` uses `actors`, `features`, `store`, `bus` and
//! `sources`; `features`, `detect`, `flare_events`, the parsers and `domain` use nothing of
//! the project's I/O.

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
