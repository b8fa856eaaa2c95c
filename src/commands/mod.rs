//! The work behind each command-line command, one module per command, so `main.rs` only
//! parses arguments and calls one function.

pub mod backfill;
pub mod detect;
pub mod features_backfill;
pub mod features_batch;
pub mod profile;
pub mod progress;
pub mod replay;
pub mod run;
pub mod times;
