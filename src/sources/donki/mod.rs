//! NASA DONKI solar flare catalogue (`/DONKI/FLR`), spec 2.5.

mod parse;

pub use parse::{parse_donki_flares, parse_flare_class, MAX_FLARE_CLASS_CHARS, MAX_LOCATION_CHARS};
