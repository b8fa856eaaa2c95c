//! NOAA SWPC GOES X-ray flux (`xrays-*.json`), spec 2.2.

mod parse;

pub use parse::{parse_xrays, parse_xrays_reader, MAX_ABS_FLUX};
