//! Reading Prometheus text exposition regardless of label order.

use std::collections::BTreeMap;

/// One sample line: name, labels, value.
fn parse_line(line: &str) -> Option<(&str, BTreeMap<&str, &str>, f64)> {
    if line.starts_with('#') {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (series, ""),
    };
    let labels = labels
        .split(',')
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            Some((k, v.trim_matches('"')))
        })
        .collect();
    Some((name, labels, value))
}

/// Sum of the series of metric `name` whose labels include every pair of `labels`
/// (0 when there is none: a counter never incremented is absent).
pub fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(parse_line)
        .filter(|(n, l, _)| {
            *n == name && labels.iter().all(|(k, v)| l.get(k).is_some_and(|x| x == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

/// `pipeline_fetches_total{source,outcome}`.
pub fn fetches(text: &str, source: &str, outcome: &str) -> f64 {
    sum(
        text,
        "pipeline_fetches_total",
        &[("source", source), ("outcome", outcome)],
    )
}

/// Every outcome counted for `source`, with its count.
pub fn fetch_outcomes(text: &str, source: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(parse_line)
        .filter(|(n, l, _)| *n == "pipeline_fetches_total" && l.get("source") == Some(&source))
        .map(|(_, l, v)| (l.get("outcome").copied().unwrap_or("").to_string(), v))
        .collect()
}
