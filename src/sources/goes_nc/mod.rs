//! NOAA NCEI GOES XRS science files (netCDF-4) -> X-ray observations, for backfill.
//!
//! Two levels:
//! * [`read_xrs`] / [`read_xrs_path`]: any NCEI XRS file (1-minute averages, 1-s flux, 2-s
//!   irradiance) -> times (from the file's own `units`), both bands' fluxes (float32 widened
//!   exactly; fill and NaN -> `None`) and flags with their decoded `flag_*` attributes.
//! * [`parse_goes_avg1m`] / [`parse_goes_avg1m_path`]: a 1-minute average file (GOES-R or
//!   reprocessed GOES-13/14/15) -> [`Parsed`](crate::sources::Parsed)`<XrayObservation>` like
//!   the live feed's parser produces, after the flag rule in [`quality`]. Other products are
//!   refused: the live feed is 1-minute data.
//!
//! [`parse_archive_name`] recognises avg1m archive names. Every error is a [`GoesNcError`]
//! whose message omits the file name, for the caller to prefix. The decoder is the pure-Rust
//! `netcdf-reader` crate: no libhdf5 on the machine.

mod avg1m;
mod column;
mod error;
mod flags;
mod name;
mod open;
pub mod quality;
mod reader;
mod units;

pub use avg1m::{parse_goes_avg1m, parse_goes_avg1m_path};
pub use column::MAX_ROWS;
pub use error::GoesNcError;
pub use flags::{FlagCondition, FlagSpec};
pub use name::{parse_archive_name, ArchiveName, AVG1M_PRODUCT};
pub use reader::{read_xrs, read_xrs_path, XrsBand, XrsFile};
pub use units::TimeUnits;
