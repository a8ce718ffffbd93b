//! COPY text format, as pg_dump writes table data (PostgreSQL docs, "COPY", "Text Format"):
//! one row per line, fields separated by tabs, `\N` for NULL, and backslash escapes (`\b \f \n
//! \r \t \v \\`, `\` with 1 to 3 octal digits or `x` with 1 or 2 hex digits for a byte, any
//! other `\c` for `c`). A line `\.` ends the data.
//!
//! Fields are split on tabs that no backslash escapes, and `\N` is recognised before escapes
//! are processed, so `\\N` is the two characters `\N`. The bytes that escapes produce must form
//! UTF-8 text; a row that does not (or has the wrong number of fields, or ends with a lone
//! backslash) is rejected on its own, and reading goes on.

use std::path::Path;

use super::stream::DataStream;
use super::{DumpError, DumpRow, Fields, Location, Reject, RowEvent, excerpt};

/// Decodes one COPY text line (without its line end) into fields, `None` for NULL.
/// The error says what is wrong with the line.
pub(crate) fn decode_line(line: &[u8]) -> Result<Fields, String> {
    let mut fields = Fields {
        text: String::with_capacity(line.len()),
        spans: Vec::with_capacity(16),
    };
    let mut unescaped = Vec::new();
    let mut rest = line;
    loop {
        let number = fields.len() + 1;
        // The field ends at the first tab that no backslash escapes.
        let mut end = 0;
        let mut escaped = false;
        loop {
            let tail = rest.get(end..).unwrap_or_default();
            match tail.iter().position(|&b| b == b'\t' || b == b'\\') {
                Some(at) if tail.get(at) == Some(&b'\\') => {
                    escaped = true;
                    end += at + 2;
                }
                Some(at) => {
                    end += at;
                    break;
                }
                None => {
                    end += tail.len();
                    break;
                }
            }
        }
        let Some(raw) = rest.get(..end) else {
            return Err(format!(
                "field {number} ends with a lone backslash at the end of the line \
                 (COPY writes a backslash as \\\\)"
            ));
        };
        if raw == b"\\N" {
            fields.push(None);
        } else if escaped {
            unescaped.clear();
            unescape(raw, &mut unescaped);
            fields.push(Some(text(&unescaped, number)?));
        } else {
            fields.push(Some(text(raw, number)?));
        }
        match rest.get(end + 1..) {
            Some(after_tab) if rest.get(end) == Some(&b'\t') => rest = after_tab,
            _ => return Ok(fields),
        }
    }
}

/// Processes the backslash escapes of one raw field (which does not end with a lone
/// backslash).
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&c) = raw.get(i) else {
            break;
        };
        i += 1;
        let byte = match c {
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                (value & 0xff) as u8
            }
            b'x' => match raw.get(i).and_then(|&d| hex_digit(d)) {
                Some(high) => {
                    i += 1;
                    match raw.get(i).and_then(|&d| hex_digit(d)) {
                        Some(low) => {
                            i += 1;
                            high * 16 + low
                        }
                        None => high,
                    }
                }
                None => b'x',
            },
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            other => other,
        };
        out.push(byte);
    }
}

fn hex_digit(d: u8) -> Option<u8> {
    char::from(d).to_digit(16).map(|v| v as u8)
}

/// The bytes of field `number` as text: UTF-8 without NUL bytes, as PostgreSQL text is.
fn text(bytes: &[u8], number: usize) -> Result<&str, String> {
    if memchr::memchr(0, bytes).is_some() {
        return Err(format!(
            "field {number} holds a NUL byte, which PostgreSQL text cannot hold"
        ));
    }
    crate::model::value::utf8(bytes).map_err(|e| {
        format!(
            "field {number} is not valid UTF-8 (after unescaping): {e}; \
             the dump must be in the UTF8 encoding"
        )
    })
}

/// The event for one data line: the row, or a rejection saying what is wrong with it.
/// `columns` are the COPY column list (empty when unknown: any field count is taken).
pub(crate) fn row_event(line: &[u8], line_no: u64, file: &Path, columns: &[String]) -> RowEvent {
    let location = Location {
        file: file.to_owned(),
        line: line_no,
    };
    let reason = match decode_line(line) {
        Ok(fields) if columns.is_empty() || fields.len() == columns.len() => {
            return RowEvent::Row(DumpRow { fields, location });
        }
        Ok(fields) => format!(
            "{} fields, but the COPY column list has {} ({})",
            fields.len(),
            columns.len(),
            columns.join(", ")
        ),
        Err(reason) => reason,
    };
    RowEvent::Reject(Reject {
        location,
        reason,
        raw: excerpt(line),
    })
}

/// The line without its `\n` (and a `\r` before it), and whether it had a `\n`.
pub(crate) fn line_content(line: &[u8]) -> (&[u8], bool) {
    match line.strip_suffix(b"\n") {
        Some(content) => (content.strip_suffix(b"\r").unwrap_or(content), true),
        None => (line.strip_suffix(b"\r").unwrap_or(line), false),
    }
}

/// Rows of a stream that holds only COPY text data (a table's data in an archive), up to
/// the `\.` line.
pub(crate) struct CopyRows {
    stream: DataStream,
    columns: Vec<String>,
    /// `schema.name`, for error messages.
    table: String,
    line_no: u64,
    buf: Vec<u8>,
    done: bool,
}

impl CopyRows {
    pub(crate) fn new(stream: DataStream, columns: Vec<String>, table: String) -> CopyRows {
        CopyRows {
            stream,
            columns,
            table,
            line_no: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<RowEvent>, DumpError> {
        let n = self.stream.read_line(&mut self.buf)?;
        if n == 0 {
            return Err(DumpError::Truncated {
                path: self.stream.path().to_owned(),
                offset: self.stream.raw_offset(),
                expected: format!(
                    "a line `\\.` ending the COPY data of {} after line {}",
                    self.table, self.line_no
                ),
            });
        }
        self.line_no += 1;
        let (line, complete) = line_content(&self.buf);
        if line == b"\\." {
            // Read to the end, so that checksums and end markers are checked.
            self.stream.drain()?;
            return Ok(None);
        }
        if !complete {
            return Err(DumpError::Truncated {
                path: self.stream.path().to_owned(),
                offset: self.stream.raw_offset(),
                expected: format!(
                    "the end of line {} of the COPY data of {}: the data stops inside a row",
                    self.line_no, self.table
                ),
            });
        }
        Ok(Some(row_event(
            line,
            self.line_no,
            self.stream.path(),
            &self.columns,
        )))
    }
}

impl Iterator for CopyRows {
    type Item = Result<RowEvent, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        if !matches!(step, Ok(Some(_))) {
            self.done = true;
        }
        step.transpose()
    }
}

/// Encodes a row the way COPY text format does (for tests).
#[cfg(test)]
pub(crate) fn encode_line(fields: &[Option<String>]) -> String {
    let encoded: Vec<String> = fields
        .iter()
        .map(|field| match field {
            None => "\\N".to_owned(),
            Some(text) => {
                let mut out = String::with_capacity(text.len());
                for c in text.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\u{b}' => out.push_str("\\v"),
                        c => out.push(c),
                    }
                }
                out
            }
        })
        .collect();
    encoded.join("\t")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(line: &str) -> Result<Vec<Option<String>>, String> {
        decode_line(line.as_bytes()).map(|f| f.to_vec())
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn every_escape_decodes_to_its_golden_value() {
        let cases: &[(&str, &str)] = &[
            (r"\b", "\u{8}"),
            (r"\f", "\u{c}"),
            (r"\n", "\n"),
            (r"\r", "\r"),
            (r"\t", "\t"),
            (r"\v", "\u{b}"),
            (r"\\", "\\"),
            (r"\101", "A"),
            (r"\1011", "A1"),
            (r"\7", "\u{7}"),
            (r"\47x", "'x"),
            (r"\x41", "A"),
            (r"\x4", "\u{4}"),
            (r"\x4g", "\u{4}g"),
            (r"\x414", "A4"),
            (r"\xg", "xg"),
            (r"\q", "q"),
            (r"\.", "."),
            (r"\'", "'"),
            (r"a\Nb", "aNb"),
            (r"\N\N", "NN"),
        ];
        for (raw, expected) in cases {
            assert_eq!(decode(raw), Ok(vec![some(expected)]), "{raw}");
        }
    }

    #[test]
    fn backslash_n_alone_is_null_but_an_escaped_backslash_before_n_is_text() {
        assert_eq!(decode(r"\N"), Ok(vec![None]));
        assert_eq!(decode(r"\\N"), Ok(vec![some(r"\N")]));
        assert_eq!(
            decode("a\t\\N\t\\\\N\tb"),
            Ok(vec![some("a"), None, some(r"\N"), some("b")])
        );
    }

    #[test]
    fn an_empty_field_is_the_empty_string_not_null() {
        assert_eq!(decode(""), Ok(vec![some("")]));
        assert_eq!(decode("\t"), Ok(vec![some(""), some("")]));
        assert_eq!(decode("\\N\t"), Ok(vec![None, some("")]));
    }

    #[test]
    fn octal_and_hex_escapes_assemble_into_utf8() {
        assert_eq!(decode(r"caf\303\251"), Ok(vec![some("café")]));
        assert_eq!(decode(r"caf\xc3\xa9"), Ok(vec![some("café")]));
        assert_eq!(decode(r"\360\x9d\204\236"), Ok(vec![some("𝄞")]));
    }

    #[test]
    fn an_escaped_tab_is_data_not_a_field_separator() {
        assert_eq!(decode("a\\\tb\tc"), Ok(vec![some("a\tb"), some("c")]));
    }

    #[test]
    fn a_lone_backslash_at_the_end_of_a_line_is_malformed() {
        let error = decode("a\tb\\").unwrap_err();
        assert!(
            error.contains("field 2 ends with a lone backslash"),
            "{error}"
        );
        assert_eq!(decode("a\tb\\\\"), Ok(vec![some("a"), some("b\\")]));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_malformed() {
        let error = decode(r"ok	\303(").unwrap_err();
        assert!(error.contains("field 2 is not valid UTF-8"), "{error}");
        let error = decode_line(b"\xff").unwrap_err();
        assert!(error.contains("field 1 is not valid UTF-8"), "{error}");
    }

    #[test]
    fn a_nul_byte_is_malformed() {
        let error = decode(r"a\0b").unwrap_err();
        assert!(error.contains("NUL"), "{error}");
    }

    #[test]
    fn a_row_with_the_wrong_field_count_is_rejected_with_its_line() {
        let columns = vec!["a".to_owned(), "b".to_owned()];
        let event = row_event(b"1\t2\t3", 7, Path::new("d.sql"), &columns);
        let RowEvent::Reject(reject) = event else {
            panic!("expected a reject, got {event:?}");
        };
        assert_eq!(reject.location.line, 7);
        assert_eq!(reject.raw, "1\t2\t3");
        assert!(reject.reason.contains("3 fields"), "{}", reject.reason);
    }

    #[test]
    fn line_ends_with_cr_lf_are_taken_off() {
        assert_eq!(line_content(b"a\tb\r\n"), (&b"a\tb"[..], true));
        assert_eq!(line_content(b"a\tb\n"), (&b"a\tb"[..], true));
        assert_eq!(line_content(b"a\tb"), (&b"a\tb"[..], false));
    }

    fn field() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(String::new())),
            1 => Just(Some(r"\N".to_owned())),
            1 => Just(Some("\\".to_owned())),
            8 => "[a-z\t\n\r\\\\N.\u{8}\u{b}\u{c} 'é😀𝄞\u{202e}\u{1}]{0,12}".prop_map(Some),
            2 => any::<String>().prop_map(|s| Some(s.replace('\0', ""))),
        ]
    }

    proptest! {
        #[test]
        fn encoding_rows_as_copy_does_and_decoding_gives_them_back(
            row in prop::collection::vec(field(), 1..8)
        ) {
            let line = encode_line(&row);
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(decode(&line), Ok(row));
        }
    }
}
