//! Tests of the SRS parser on the real sample files (`fixtures/srs/`) and hostile input.

mod feed_parity;
mod hand_checked;
mod hostile;
mod samples;

use chrono::NaiveDate;

macro_rules! sample {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/srs/", $name)) as &[u8],
        )
    };
}

/// Every sample file: name and bytes.
const SAMPLES: [(&str, &[u8]); 8] = [
    sample!("19960106SRS.txt"),
    sample!("19960513SRS.txt"),
    sample!("20000922SRS.txt"),
    sample!("20001001SRS.txt"),
    sample!("20020624SRS.txt"),
    sample!("20100621SRS.txt"),
    sample!("20150101SRS.txt"),
    sample!("20150306SRS.txt"),
];

fn sample(name: &str) -> &'static [u8] {
    SAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .expect("known sample name")
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
}
