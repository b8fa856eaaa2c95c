//! Golden-parity comparison: a port of the parity_check.py tool the goldens came with, with
//! the same semantics, so tests can check CSV output against the golden files in-process.
//!
//! * Rows are matched by a key column (default `timestamp`, compared after ISO normalisation).
//! * Every golden column except the key must exist in ours.
//! * A column is numeric when every non-empty golden cell in it is a number. There, empty/NaN
//!   cells are 0 on both sides (what a model sees after `nan_to_num`) and
//!   `|g − o| <= rel·max(|g|, |o|) + abs` (infinities must be equal).
//! * Other golden cells must equal ours after trimming (`*_time` and key columns after time
//!   normalisation); an empty golden cell in a text column is not compared.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Timelike};

/// Comparison options (the script's command-line flags).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Column identifying a row.
    pub key: String,
    /// Golden columns to compare (default: all but the key).
    pub columns: Option<Vec<String>>,
    /// Relative tolerance.
    pub rel: f64,
    /// Absolute tolerance.
    pub abs: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key: "timestamp".into(),
            columns: None,
            rel: 1e-9,
            abs: 1e-18,
        }
    }
}

/// Result of a comparison that could be carried out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub golden_rows: usize,
    pub ours_rows: usize,
    pub cells_compared: usize,
    /// One line per problem, in the script's wording and order.
    pub mismatches: Vec<String>,
}

impl Report {
    /// The script's last line.
    pub fn summary(&self) -> String {
        format!(
            "{} golden rows, {} cells compared, {} mismatches",
            self.golden_rows,
            self.cells_compared,
            self.mismatches.len()
        )
    }

    pub fn is_clean(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Unusable input (the script's exit status 2).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParityError {
    #[error("{which}: no key column '{key}'")]
    NoKeyColumn { which: &'static str, key: String },
    #[error("ours lacks {} golden columns: {}", .0.len(), .0.join(", "))]
    MissingColumns(Vec<String>),
    #[error("{which}: key {key} appears twice")]
    DuplicateKey { which: &'static str, key: String },
    #[error("{which}: unterminated quoted field")]
    BadCsv { which: &'static str },
}

/// A parsed CSV: header and rows (short rows padded with empty cells, like "" for `None`).
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn col(&self, name: &str) -> Option<usize> {
        // DictReader: with duplicate names the last one wins.
        self.header.iter().rposition(|h| h == name)
    }
}

/// RFC 4180 reader with Python `csv` defaults (quote `"`, doubled quotes, blank lines skipped).
fn parse_csv(text: &str, which: &'static str) -> Result<Table, ParityError> {
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut field_started = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                in_quotes = true;
                field_started = true;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                field_started = true;
            }
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                if field_started || !field.is_empty() || !row.is_empty() {
                    row.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut row));
                }
                field_started = false;
            }
            _ => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if in_quotes {
        return Err(ParityError::BadCsv { which });
    }
    if field_started || !field.is_empty() || !row.is_empty() {
        row.push(field);
        records.push(row);
    }
    let mut it = records.into_iter();
    let header = it.next().unwrap_or_default();
    let width = header.len();
    let rows = it
        .map(|mut r| {
            if r.len() < width {
                r.resize(width, String::new());
            }
            r
        })
        .collect();
    Ok(Table { header, rows })
}

/// Python `float(text)` for the subset that matters (signs, exponents, inf/nan, underscores
/// between digits).
fn py_float(t: &str) -> Option<f64> {
    if t.contains('_') {
        let b = t.as_bytes();
        for (i, &ch) in b.iter().enumerate() {
            if ch == b'_' {
                let ok = i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit();
                if !ok {
                    return None;
                }
            }
        }
        return t.replace('_', "").parse().ok();
    }
    t.parse().ok()
}

/// The script's `as_number`: `None` = not a number (or empty); NaN for nan/none/null/nat.
fn as_number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let low = t.to_lowercase();
    if matches!(low.as_str(), "nan" | "none" | "null" | "nat") {
        return Some(f64::NAN);
    }
    if matches!(low.as_str(), "true" | "false") {
        return None;
    }
    py_float(t)
}

fn model_value(x: Option<f64>) -> f64 {
    match x {
        Some(v) if !v.is_nan() => v,
        _ => 0.0,
    }
}

/// The script's `parse_time`: ISO text to naive-UTC `isoformat()`, or the trimmed text.
fn parse_time(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return String::new();
    }
    let t2 = match t.strip_suffix('Z') {
        Some(s) => format!("{s}+00:00"),
        None => t.to_string(),
    }
    .replace(' ', "T");
    let naive: Option<NaiveDateTime> = {
        let aware = [
            "%Y-%m-%dT%H:%M:%S%.f%:z",
            "%Y-%m-%dT%H:%M%:z",
            "%Y-%m-%dT%H:%M:%S%.f%z",
        ]
        .iter()
        .find_map(|f| DateTime::parse_from_str(&t2, f).ok())
        .map(|d| d.naive_utc());
        aware.or_else(|| {
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(&t2, f).ok())
                .or_else(|| {
                    NaiveDate::parse_from_str(&t2, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
        })
    };
    match naive {
        Some(dt) => {
            let mut s = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
            let us = dt.nanosecond() / 1000;
            if us != 0 {
                s.push_str(&format!(".{us:06}"));
            }
            s
        }
        None => t.to_string(),
    }
}

/// Python `repr(str)`, for messages.
fn py_repr(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Compares `ours` against `golden` (CSV texts) with the script's rules.
pub fn compare_csv(golden: &str, ours: &str, opts: &Options) -> Result<Report, ParityError> {
    let g = parse_csv(golden, "golden")?;
    let o = parse_csv(ours, "ours")?;
    let gk = g.col(&opts.key).ok_or_else(|| ParityError::NoKeyColumn {
        which: "golden",
        key: opts.key.clone(),
    })?;
    let ok = o.col(&opts.key).ok_or_else(|| ParityError::NoKeyColumn {
        which: "ours",
        key: opts.key.clone(),
    })?;
    let columns: Vec<String> = opts
        .columns
        .clone()
        .unwrap_or_else(|| g.header.clone())
        .into_iter()
        .filter(|c| *c != opts.key)
        .collect();
    let missing_cols: Vec<String> = columns
        .iter()
        .filter(|c| o.col(c).is_none())
        .cloned()
        .collect();
    if !missing_cols.is_empty() {
        return Err(ParityError::MissingColumns(missing_cols));
    }
    let g_idx: Vec<usize> = columns
        .iter()
        .map(|c| g.col(c).unwrap_or(usize::MAX))
        .collect();
    let o_idx: Vec<usize> = columns
        .iter()
        .map(|c| o.col(c).unwrap_or(usize::MAX))
        .collect();
    if g_idx.contains(&usize::MAX) {
        // A requested column the golden file does not have: the script fails with KeyError.
        return Err(ParityError::MissingColumns(
            columns
                .iter()
                .filter(|c| g.col(c).is_none())
                .cloned()
                .collect(),
        ));
    }
    let cell = |r: &Vec<String>, i: usize| -> String { r.get(i).cloned().unwrap_or_default() };

    let keyed = |t: &Table, k: usize, which: &'static str| {
        let mut order: Vec<(String, usize)> = Vec::with_capacity(t.rows.len());
        let mut seen = std::collections::HashMap::with_capacity(t.rows.len());
        for (i, r) in t.rows.iter().enumerate() {
            let key = parse_time(&cell(r, k));
            if seen.insert(key.clone(), i).is_some() {
                return Err(ParityError::DuplicateKey { which, key });
            }
            order.push((key, i));
        }
        Ok((order, seen))
    };
    let (g_order, g_by) = keyed(&g, gk, "golden")?;
    let (o_order, o_by) = keyed(&o, ok, "ours")?;

    let mut problems = Vec::new();
    for (k, _) in &g_order {
        if !o_by.contains_key(k) {
            problems.push(format!("row {k}: in golden, not in ours"));
        }
    }
    for (k, _) in &o_order {
        if !g_by.contains_key(k) {
            problems.push(format!("row {k}: in ours, not in golden"));
        }
    }
    let numeric: Vec<bool> = g_idx
        .iter()
        .map(|&ci| {
            g.rows.iter().all(|r| {
                let v = cell(r, ci);
                v.trim().is_empty() || as_number(&v).is_some()
            })
        })
        .collect();
    let mut cells = 0usize;
    for (k, gi) in &g_order {
        let Some(&oi) = o_by.get(k) else { continue };
        let (gr, or) = (&g.rows[*gi], &o.rows[oi]);
        for (j, c) in columns.iter().enumerate() {
            let gv = cell(gr, g_idx[j]);
            let ov = cell(or, o_idx[j]);
            let mut gn = as_number(&gv);
            if gn.is_none() && gv.trim().is_empty() {
                if !numeric[j] {
                    continue;
                }
                gn = Some(f64::NAN);
            }
            cells += 1;
            if let Some(gnum) = gn {
                let on = as_number(&ov);
                if on.is_none() && !ov.trim().is_empty() {
                    problems.push(format!(
                        "row {k} {c}: golden {}, ours {} (not a number)",
                        py_repr(&gv),
                        py_repr(&ov)
                    ));
                    continue;
                }
                let (a, b) = (model_value(Some(gnum)), model_value(on));
                let good = if a.is_infinite() || b.is_infinite() {
                    a == b
                } else {
                    (a - b).abs() <= opts.rel * a.abs().max(b.abs()) + opts.abs
                };
                if !good {
                    problems.push(format!(
                        "row {k} {c}: golden {}, ours {}",
                        py_repr(&gv),
                        py_repr(&ov)
                    ));
                }
            } else if gv.trim() != ov.trim() {
                if (c.ends_with("_time") || *c == opts.key) && parse_time(&gv) == parse_time(&ov) {
                    continue;
                }
                problems.push(format!(
                    "row {k} {c}: golden {}, ours {}",
                    py_repr(&gv),
                    py_repr(&ov)
                ));
            }
        }
    }
    Ok(Report {
        golden_rows: g_order.len(),
        ours_rows: o_order.len(),
        cells_compared: cells,
        mismatches: problems,
    })
}
