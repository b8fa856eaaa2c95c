//! Recorded upstream payloads taken apart and put back together with every element's exact
//! text, so tests can serve slices, new versions and daily files of the sample in the
//! upstream formats (one element per line, as SWPC and DONKI write them).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::value::RawValue;

/// The elements of a top-level JSON array, each with its text exactly as in `bytes`.
pub fn elements(bytes: &[u8]) -> Vec<Box<RawValue>> {
    serde_json::from_slice(bytes).expect("a JSON array payload")
}

/// A JSON array payload of these element texts, one per line.
pub fn array<'a>(elements: impl IntoIterator<Item = &'a str>) -> Vec<u8> {
    let body: Vec<&str> = elements.into_iter().collect();
    format!("[\n{}\n]\n", body.join(",\n")).into_bytes()
}

/// The string value of `field` in an element that is an object.
pub fn field(element: &RawValue, field: &str) -> Option<String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(element.get()).ok()?;
    object.get(field)?.as_str().map(str::to_string)
}

/// The UTC day a record belongs to, from the date prefix of `field` (`2024-05-03...`).
pub fn day_of(element: &RawValue, field_name: &str) -> NaiveDate {
    let text = field(element, field_name).unwrap_or_else(|| panic!("no {field_name}"));
    NaiveDate::parse_from_str(&text[..10], "%Y-%m-%d").expect("a date prefix")
}

/// Elements grouped by day (per `field_name`), payload order kept within a day.
pub fn by_day(elements: &[Box<RawValue>], field_name: &str) -> BTreeMap<NaiveDate, Vec<String>> {
    let mut days: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for e in elements {
        days.entry(day_of(e, field_name))
            .or_default()
            .push(e.get().to_string());
    }
    days
}

/// gzip of `bytes` (as a `.json.gz` file is stored).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip into memory");
    encoder.finish().expect("gzip into memory")
}
