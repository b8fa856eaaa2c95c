//! NOAA SWPC active regions (`solar_regions.json`), spec 2.3, and flare-plus's derived
//! "magnetogram" rows, spec 2.4.

pub mod magnetogram;
mod parse;

pub use parse::{parse_regions, MAX_CLASS_CHARS};
