//! Walks a payload's top-level JSON array one element at a time.
//!
//! Why not `Vec<serde_json::Value>`: a 15 MB X-ray file would become ~100 MB of `Value`
//! nodes. Here each element is a [`RawValue`] (borrowed from the input for slices, one small
//! `Box` at a time for readers) handed to a callback, so memory stays at the input size (slice)
//! or at one element (reader). Skipping over an element's content in serde_json is iterative,
//! so deeply nested input cannot overflow the stack.

use std::io::{BufRead, BufReader, Read};
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::parse_error::PayloadError;

/// Largest payload any parser accepts. The live 7-day X-ray file is ~3.5 MB and a 30-day one
/// ~15 MB; 64 MiB leaves room for backfill files while bounding memory.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Calls `on_element(index, raw)` for each element of the top-level array in `bytes`.
pub(crate) fn for_each_element<'a>(
    bytes: &'a [u8],
    mut on_element: impl FnMut(usize, &'a RawValue),
) -> Result<usize, PayloadError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::TooLarge {
            limit: MAX_PAYLOAD_BYTES,
            actual: bytes.len(),
        });
    }
    let (bytes, skipped) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, UTF8_BOM.len()),
        None => (bytes, 0),
    };
    let text = std::str::from_utf8(bytes).map_err(|e| PayloadError::NotUtf8 {
        offset: skipped + e.valid_up_to(),
    })?;
    check_top_level(text.trim_start().bytes().next(), || {
        serde_json::from_str::<IgnoredAny>(text)
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let count = (&mut de)
        .deserialize_seq(EachElement::<&'a RawValue, _> {
            on_element: &mut on_element,
            element: PhantomData,
        })
        .map_err(payload_error)?;
    de.end().map_err(payload_error)?;
    Ok(count)
}

/// Reader form of [`for_each_element`]: holds one element at a time, never the whole text.
/// Invalid UTF-8 inside the stream is reported as [`PayloadError::NotJson`] (serde_json's
/// "invalid unicode code point"), since the bytes are never held as one string.
pub(crate) fn for_each_element_reader<R: Read>(
    reader: R,
    limit: usize,
    mut on_element: impl FnMut(usize, &RawValue),
) -> Result<usize, PayloadError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let first = skip_bom_and_whitespace(&mut reader)?;
    let mut counted = LimitedReader {
        inner: reader,
        limit,
        read: 0,
        exceeded: false,
    };
    let top = check_top_level(first, || {
        let mut de = serde_json::Deserializer::from_reader(&mut counted);
        IgnoredAny::deserialize(&mut de).map(|_| ())
    });
    if counted.exceeded {
        return Err(counted.too_large());
    }
    top?;
    let mut de = serde_json::Deserializer::from_reader(&mut counted);
    let result = (&mut de)
        .deserialize_seq(EachElement::<Box<RawValue>, _> {
            on_element: &mut |i, raw: Box<RawValue>| on_element(i, &raw),
            element: PhantomData,
        })
        .and_then(|count| de.end().map(|()| count));
    if counted.exceeded {
        return Err(counted.too_large());
    }
    result.map_err(payload_error)
}

/// Rejects the shapes we can tell from the first significant byte, with a clear message.
/// `parse_other` is only run for top-level scalars, to tell "valid JSON, wrong shape" from
/// "not JSON".
fn check_top_level<T>(
    first: Option<u8>,
    parse_other: impl FnOnce() -> Result<T, serde_json::Error>,
) -> Result<(), PayloadError> {
    match first {
        None => Err(PayloadError::Truncated {
            detail: "empty payload".into(),
        }),
        Some(b'[') => Ok(()),
        Some(b'<') => Err(PayloadError::LooksLikeHtml),
        Some(b'{') => Err(PayloadError::WrongShape {
            detail: "top level is a JSON object; expected an array of records".into(),
        }),
        Some(_) => match parse_other() {
            Ok(_) => Err(PayloadError::WrongShape {
                detail: "top level is a JSON scalar; expected an array of records".into(),
            }),
            Err(e) => Err(payload_error(e)),
        },
    }
}

fn skip_bom_and_whitespace<R: Read>(reader: &mut BufReader<R>) -> Result<Option<u8>, PayloadError> {
    let mut at_start = true;
    loop {
        let buf = reader.fill_buf().map_err(|e| PayloadError::Read {
            detail: e.to_string(),
        })?;
        if buf.is_empty() {
            return Ok(None);
        }
        if at_start && buf.starts_with(UTF8_BOM) {
            reader.consume(UTF8_BOM.len());
            at_start = false;
            continue;
        }
        at_start = false;
        let blank = buf
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
            .count();
        if blank < buf.len() {
            let first = buf[blank];
            reader.consume(blank);
            return Ok(Some(first));
        }
        reader.consume(blank);
    }
}

fn payload_error(e: serde_json::Error) -> PayloadError {
    use serde_json::error::Category;
    let detail = e.to_string();
    match e.classify() {
        Category::Eof => PayloadError::Truncated { detail },
        Category::Syntax => PayloadError::NotJson { detail },
        Category::Data => PayloadError::WrongShape { detail },
        Category::Io => PayloadError::Read { detail },
    }
}

/// Counts bytes and fails the read once more than `limit` have been read.
struct LimitedReader<R> {
    inner: R,
    limit: usize,
    read: usize,
    exceeded: bool,
}

impl<R> LimitedReader<R> {
    fn too_large(&self) -> PayloadError {
        PayloadError::TooLarge {
            limit: self.limit,
            actual: self.read,
        }
    }
}

impl<R: Read> Read for LimitedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read = self.read.saturating_add(n);
        if self.read > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("payload size limit exceeded"));
        }
        Ok(n)
    }
}

/// Sequence visitor that hands each element to a callback instead of collecting them.
struct EachElement<'f, T, F> {
    on_element: &'f mut F,
    element: PhantomData<fn() -> T>,
}

impl<'de, T, F> Visitor<'de> for EachElement<'_, T, F>
where
    T: Deserialize<'de>,
    F: FnMut(usize, T),
{
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut index = 0;
        while let Some(element) = seq.next_element::<T>()? {
            (self.on_element)(index, element);
            index += 1;
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> Result<Vec<String>, PayloadError> {
        let mut out = Vec::new();
        for_each_element(bytes, |_, raw| out.push(raw.get().to_owned()))?;
        Ok(out)
    }

    fn collect_reader(bytes: &[u8], limit: usize) -> Result<Vec<String>, PayloadError> {
        let mut out = Vec::new();
        for_each_element_reader(bytes, limit, |_, raw| out.push(raw.get().to_owned()))?;
        Ok(out)
    }

    #[test]
    fn elements_are_raw_text_in_order() {
        let input = b"\xEF\xBB\xBF [ {\"a\": 1},  2 ,\"x\" ] ";
        let expected = vec!["{\"a\": 1}".to_owned(), "2".into(), "\"x\"".into()];
        assert_eq!(collect(input).unwrap(), expected);
        assert_eq!(collect_reader(input, 1000).unwrap(), expected);
    }

    #[test]
    fn whole_payload_errors_are_classified() {
        for read in [collect, |b: &[u8]| collect_reader(b, 1 << 20)] {
            assert!(matches!(read(b""), Err(PayloadError::Truncated { .. })));
            assert!(matches!(read(b"  \n"), Err(PayloadError::Truncated { .. })));
            assert!(matches!(
                read(b"[{\"a\":1},"),
                Err(PayloadError::Truncated { .. })
            ));
            assert_eq!(
                read(b"<html><body>502</body></html>"),
                Err(PayloadError::LooksLikeHtml)
            );
            assert!(matches!(
                read(b"{\"error\":\"x\"}"),
                Err(PayloadError::WrongShape { .. })
            ));
            assert!(matches!(read(b"42"), Err(PayloadError::WrongShape { .. })));
            assert!(matches!(read(b"[NaN]"), Err(PayloadError::NotJson { .. })));
            assert!(matches!(read(b"[1] x"), Err(PayloadError::NotJson { .. })));
            assert!(matches!(read(b"nope"), Err(PayloadError::NotJson { .. })));
        }
        assert_eq!(
            collect(b"[\"\xFF\"]"),
            Err(PayloadError::NotUtf8 { offset: 2 })
        );
    }

    #[test]
    fn deep_nesting_is_not_a_stack_overflow() {
        let depth = 200_000;
        let mut text = String::from("[");
        text.push_str(&"[".repeat(depth));
        text.push_str(&"]".repeat(depth));
        text.push(']');
        let got = collect(text.as_bytes()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(collect_reader(text.as_bytes(), 1 << 20).unwrap().len(), 1);
    }

    #[test]
    fn reader_enforces_the_size_limit() {
        let text = format!("[{}]", vec!["1"; 1000].join(","));
        assert_eq!(collect_reader(text.as_bytes(), 10_000).unwrap().len(), 1000);
        assert!(matches!(
            collect_reader(text.as_bytes(), 100),
            Err(PayloadError::TooLarge { limit: 100, .. })
        ));
    }
}
