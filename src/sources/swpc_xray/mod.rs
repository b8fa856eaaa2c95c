//! NOAA SWPC GOES X-ray flux (`xrays-*.json`), spec 2.2.

mod parse;

pub use parse::{parse_xrays, parse_xrays_reader, parse_xrays_reader_limited, MAX_ABS_FLUX};
