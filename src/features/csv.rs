//! CSV output in the goldens' conventions (golden README): header `timestamp` + names,
//! naive ISO timestamps, floats as Python `repr`, integers as integers, missing as an empty cell.

use std::fmt::Write as _;
use std::io::{self, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::schema::Cell;

/// Appends `x` formatted like Python's `repr(float)`: the shortest digits that round-trip,
/// scientific (`5.480319993055555e-09`, `1e+16`) when the decimal exponent is < -4 or >= 16,
/// otherwise fixed with at least one decimal (`0.1`, `1.0`, `-30.0`).
pub fn push_py_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "d.ddde-9" / "de16". Formatted
    // into a stack buffer: this runs ~60 times per row.
    let mut buf = StackBuf::new();
    let _ = write!(buf, "{:e}", x.abs());
    let sci = buf.as_str();
    let (mant, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (lead, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if x < 0.0 {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(mant);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        if exp.abs() < 10 {
            out.push('0');
        }
        push_int(out, exp.abs() as i64);
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(lead);
        out.push_str(frac);
    } else {
        // digits = lead + frac; the decimal point goes after exp + 1 digits.
        let int_len = exp as usize + 1;
        let n = 1 + frac.len();
        if n <= int_len {
            out.push_str(lead);
            out.push_str(frac);
            for _ in n..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(lead);
            out.push_str(&frac[..int_len - 1]);
            out.push('.');
            out.push_str(&frac[int_len - 1..]);
        }
    }
}

/// A fixed 40-byte buffer for one formatted float (`{:e}` of an f64 is at most 24 bytes).
struct StackBuf {
    b: [u8; 40],
    n: usize,
}

impl StackBuf {
    fn new() -> Self {
        StackBuf { b: [0; 40], n: 0 }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.b[..self.n]).unwrap_or("0e0")
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.n + s.len();
        if end > self.b.len() {
            return Err(std::fmt::Error);
        }
        self.b[self.n..end].copy_from_slice(s.as_bytes());
        self.n = end;
        Ok(())
    }
}

/// Appends a decimal integer without going through `fmt`.
pub fn push_int(out: &mut String, v: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    // ASCII digits only.
    out.push_str(std::str::from_utf8(&tmp[i..]).unwrap_or("0"));
}

fn push_2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10 % 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

/// Python `repr(float)` as a new string.
pub fn py_float(x: f64) -> String {
    let mut s = String::new();
    push_py_float(&mut s, x);
    s
}

/// Naive ISO time like Python's `isoformat()`: `2024-05-21T00:00:00`, with `.ffffff` only when
/// there are microseconds.
pub fn push_timestamp(out: &mut String, t: &DateTime<Utc>) {
    let year = t.year();
    if (0..=9999).contains(&year) {
        push_2(out, year as u32 / 100);
        push_2(out, year as u32 % 100);
        out.push('-');
        push_2(out, t.month());
        out.push('-');
        push_2(out, t.day());
        out.push('T');
        push_2(out, t.hour());
        out.push(':');
        push_2(out, t.minute());
        out.push(':');
        push_2(out, t.second());
    } else {
        let _ = write!(out, "{}", t.format("%Y-%m-%dT%H:%M:%S"));
    }
    let us = t.nanosecond() / 1000 % 1_000_000;
    if us != 0 {
        let _ = write!(out, ".{us:06}");
    }
}

fn push_text(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// Appends one cell.
pub fn push_cell(out: &mut String, c: &Cell) {
    match c {
        Cell::Missing => {}
        Cell::Int(i) => push_int(out, *i),
        Cell::Num(x) if x.is_nan() => {}
        Cell::Num(x) => push_py_float(out, *x),
        Cell::Str(s) => push_text(out, s),
    }
}

/// Appends the header line.
pub fn push_header(out: &mut String, columns: &[String]) {
    out.push_str("timestamp");
    for c in columns {
        out.push(',');
        push_text(out, c);
    }
    out.push('\n');
}

/// Appends one data line.
pub fn push_row(out: &mut String, t: &DateTime<Utc>, cells: &[Cell]) {
    push_timestamp(out, t);
    for c in cells {
        out.push(',');
        push_cell(out, c);
    }
    out.push('\n');
}

/// Streams rows to a writer, reusing one line buffer.
pub struct CsvWriter<W: Write> {
    inner: W,
    line: String,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header and returns the writer.
    pub fn new(mut inner: W, columns: &[String]) -> io::Result<Self> {
        let mut line = String::with_capacity(4096);
        push_header(&mut line, columns);
        inner.write_all(line.as_bytes())?;
        line.clear();
        Ok(CsvWriter { inner, line })
    }

    pub fn write_row(&mut self, t: &DateTime<Utc>, cells: &[Cell]) -> io::Result<()> {
        self.line.clear();
        push_row(&mut self.line, t, cells);
        self.inner.write_all(self.line.as_bytes())
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// A whole CSV document as a string.
pub fn to_csv_string<'a>(
    columns: &[String],
    rows: impl IntoIterator<Item = (&'a DateTime<Utc>, &'a [Cell])>,
) -> String {
    let mut s = String::new();
    push_header(&mut s, columns);
    for (t, cells) in rows {
        push_row(&mut s, t, cells);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr() {
        let cases: &[(f64, &str)] = &[
            (5.480319993055555e-09, "5.480319993055555e-09"),
            (0.1, "0.1"),
            (1.0, "1.0"),
            (-30.0, "-30.0"),
            (250.0, "250.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e-05, "1e-05"),
            (2.3000000000000004e-06, "2.3000000000000004e-06"),
            (0.47000000000000003, "0.47000000000000003"),
            (207.27272727272728, "207.27272727272728"),
            (22.483333333333334, "22.483333333333334"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (-1.60735e-09, "-1.60735e-09"),
            (12.5, "12.5"),
            (1234567.0, "1234567.0"),
            (-9.99e-05, "-9.99e-05"),
            (1.2e-100, "1.2e-100"),
        ];
        for (x, want) in cases {
            assert_eq!(py_float(*x), *want, "{x:e}");
        }
    }

    #[test]
    fn timestamps_and_cells() {
        let t = DateTime::parse_from_rfc3339("2024-05-21T00:00:00Z")
            .unwrap()
            .to_utc();
        let mut s = String::new();
        push_timestamp(&mut s, &t);
        assert_eq!(s, "2024-05-21T00:00:00");
        let t2 = DateTime::parse_from_rfc3339("2024-05-21T00:00:00.25Z")
            .unwrap()
            .to_utc();
        s.clear();
        push_timestamp(&mut s, &t2);
        assert_eq!(s, "2024-05-21T00:00:00.250000");
        s.clear();
        push_row(
            &mut s,
            &t,
            &[
                Cell::Missing,
                Cell::Int(3),
                Cell::Num(0.5),
                Cell::Str("a,b".into()),
            ],
        );
        assert_eq!(s, "2024-05-21T00:00:00,,3,0.5,\"a,b\"\n");
        s.clear();
        for v in [0i64, -7, 42, i64::MIN, i64::MAX] {
            s.clear();
            push_int(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }
}
