//! Observation types shared by every stage: plain data, serde, no I/O.
//!
//! These are the records that travel on `flare.obs.*` (inside [`crate::bus`]'s envelope), that
//! the writer stores and that the feature engine reads. Field names follow flare-plus's tables
//! where a table exists (spec section 3), so a reader of either can map one to the other.

mod flare;
mod observation;
mod records;
mod region;
mod xray;

pub use flare::{FlareCategory, FlareEvent, FlareSource};
pub use observation::{Observation, ProgressMark};
pub use records::Records;
pub use region::RegionObservation;
pub use xray::{DataQuality, XrayFeed, XrayObservation};

/// Version of the observation and feature-vector shapes on the wire. Bump it when a field
/// changes meaning; readers reject versions they do not know.
pub const SCHEMA_VERSION: u32 = 1;
