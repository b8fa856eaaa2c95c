//! flare-plus streaming: live solar X-ray flux, active-region reports and flare catalogues
//! turned into flare-plus's feature vectors, continuously.
//!
//! # Layout
//!
//! - [`domain`]: the observation types every stage shares (no I/O).
//!
//! Dependency direction is one way: `pipeline` uses `actors`, `features`, `store`, `bus` and
//! `sources`; `features`, `detect` and `domain` use nothing of the project's I/O.

pub mod bus;
pub mod config;
pub mod domain;
pub mod pipeline;
pub mod profile;
