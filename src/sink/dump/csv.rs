//! CSV files (RFC 4180): a header line of column names, fields separated by commas, lines
//! ended by CRLF as the RFC has it. A field is quoted when it holds a comma, a quote, CR or LF,
//! or is empty text; quotes inside are doubled. A null is an empty unquoted field, so an empty
//! string (`""`) and a null stay apart.
//!
//! Spellings: text as is (UTF-8); integers, `varint` and `decimal` in plain digits; `float` and
//! `double` in the shortest form that reads back exactly (`1.5`, `1e20`, `NaN`, `Infinity`,
//! `-Infinity`); booleans `true`/`false`; `timestamp` in ISO 8601 UTC with milliseconds
//! (`2024-05-01T12:00:00.000Z`); `date` `2024-05-01`; `time` `12:00:00` with up to nine
//! fraction digits; `blob` as `0x` and lowercase hex; `uuid`, `timeuuid` and `inet` in their
//! usual text; `duration` as CQL writes it (`1mo2d3ns`). Collections, tuples and UDTs are JSON:
//! lists, sets, vectors and tuples as arrays, maps and UDTs as objects (a map's keys in their
//! text spelling), scalars inside as JSON numbers where they are exact (`NaN` and the
//! infinities as strings) and as strings otherwise.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::{DumpColumn, DumpError, FileWriter};
use crate::model::value::{civil_from_days, decimal_digits};
use crate::model::{CqlType, Value};

/// Writes one CSV file.
pub struct CsvWriter {
    path: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    types: Vec<CqlType>,
    line: String,
    field: String,
}

impl CsvWriter {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path, columns: &[DumpColumn]) -> Result<CsvWriter, DumpError> {
        let file = std::fs::File::create(path).map_err(DumpError::io(path))?;
        let mut writer = CsvWriter {
            path: path.to_owned(),
            out: std::io::BufWriter::with_capacity(256 << 10, file),
            types: columns.iter().map(|c| c.cql_type.clone()).collect(),
            line: String::with_capacity(1024),
            field: String::with_capacity(256),
        };
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                writer.line.push(',');
            }
            push_quoted(&column.name, false, &mut writer.line);
        }
        writer.line.push_str("\r\n");
        writer.flush_line()?;
        Ok(writer)
    }

    fn flush_line(&mut self) -> Result<(), DumpError> {
        self.out
            .write_all(self.line.as_bytes())
            .map_err(DumpError::io(&self.path))?;
        self.line.clear();
        Ok(())
    }
}

impl FileWriter for CsvWriter {
    fn write_row(&mut self, row: &[Option<Value>]) -> Result<(), DumpError> {
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            match value {
                // Text is quoted straight from the value, without a copy.
                Some(Value::Text(s) | Value::Ascii(s)) => push_quoted(s, true, &mut self.line),
                Some(value) => {
                    self.field.clear();
                    write_text(value, self.types.get(i), &mut self.field);
                    push_quoted(&self.field, false, &mut self.line);
                }
                None => {}
            }
        }
        self.line.push_str("\r\n");
        self.flush_line()
    }

    fn finish(self: Box<Self>) -> Result<(), DumpError> {
        let CsvWriter { path, out, .. } = *self;
        let file = out.into_inner().map_err(|e| DumpError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(DumpError::io(&path))
    }
}

/// Appends `field`, quoted when it must be (or when it is empty text, to tell it from null).
fn push_quoted(field: &str, text_like: bool, out: &mut String) {
    let bytes = field.as_bytes();
    let needs = (text_like && field.is_empty())
        || memchr::memchr3(b',', b'"', b'\n', bytes).is_some()
        || memchr::memchr(b'\r', bytes).is_some();
    if !needs {
        out.push_str(field);
        return;
    }
    out.push('"');
    let mut parts = field.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        out.push_str("\"\"");
        out.push_str(part);
    }
    out.push('"');
}

/// A value's CSV spelling (before quoting); see the module documentation.
pub fn write_text(value: &Value, cql_type: Option<&CqlType>, out: &mut String) {
    match value {
        Value::Ascii(s) | Value::Text(s) => out.push_str(s),
        Value::List(_)
        | Value::Set(_)
        | Value::Map(_)
        | Value::Tuple(_)
        | Value::Udt(_)
        | Value::Vector(_) => write_json(value, cql_type, out),
        other => write_scalar(other, out),
    }
}

/// A scalar's text: what CSV writes, and what JSON quotes when it is not a number. The common
/// types are spelled by hand, without `fmt`: a dump spends its time here.
fn write_scalar(value: &Value, out: &mut String) {
    let _ = match value {
        Value::Ascii(s) | Value::Text(s) => {
            out.push_str(s);
            Ok(())
        }
        Value::Bigint(v) | Value::Counter(v) => {
            push_int(i128::from(*v), out);
            Ok(())
        }
        Value::Int(v) => {
            push_int(i128::from(*v), out);
            Ok(())
        }
        Value::Smallint(v) => {
            push_int(i128::from(*v), out);
            Ok(())
        }
        Value::Tinyint(v) => {
            push_int(i128::from(*v), out);
            Ok(())
        }
        Value::Varint(v) => write!(out, "{v}"),
        Value::Decimal(d) => write!(out, "{d}"),
        Value::Double(v) => write_float(*v, format_args!("{v:?}"), out),
        Value::Float(v) => write_float(f64::from(*v), format_args!("{v:?}"), out),
        Value::Boolean(b) => {
            out.push_str(if *b { "true" } else { "false" });
            Ok(())
        }
        Value::Blob(b) => {
            out.push_str("0x");
            push_hex(b, out);
            Ok(())
        }
        Value::Date(days) => write_date(i64::from(*days), out),
        Value::Time(nanos) => write_time(*nanos, out),
        Value::Timestamp(ms) => {
            let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
            let _ = write_date(days, out);
            out.push('T');
            let secs = ms_of_day / 1000;
            push_padded(secs / 3600, 2, out);
            out.push(':');
            push_padded(secs / 60 % 60, 2, out);
            out.push(':');
            push_padded(secs % 60, 2, out);
            out.push('.');
            push_padded(ms_of_day % 1000, 3, out);
            out.push('Z');
            Ok(())
        }
        Value::Inet(a) => write!(out, "{a}"),
        Value::Uuid(u) | Value::Timeuuid(u) => {
            for (i, range) in [0..4, 4..6, 6..8, 8..10, 10..16].into_iter().enumerate() {
                if i > 0 {
                    out.push('-');
                }
                push_hex(&u[range], out);
            }
            Ok(())
        }
        Value::Duration(_) => write!(out, "{value}"),
        // Not scalars: JSON.
        _ => {
            write_json(value, None, out);
            Ok(())
        }
    };
}

/// Lowercase hex of `bytes`.
fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

/// A non-negative number in at least `width` digits, zero-padded.
fn push_padded(v: i64, width: usize, out: &mut String) {
    let mut digits = [b'0'; 20];
    let mut n = v.unsigned_abs();
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = i.min(digits.len() - width.min(digits.len()));
    for &d in &digits[start..] {
        out.push(d as char);
    }
}

/// An integer in plain digits.
fn push_int(v: i128, out: &mut String) {
    if v < 0 {
        out.push('-');
    }
    let mut buf = [0u8; 40];
    out.push_str(decimal_digits(v.unsigned_abs(), &mut buf));
}

fn write_float(v: f64, shown: std::fmt::Arguments<'_>, out: &mut String) -> std::fmt::Result {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // Debug is Rust's shortest exact spelling; drop the `.0` of whole numbers.
        let start = out.len();
        out.write_fmt(shown)?;
        if out[start..].ends_with(".0") {
            out.truncate(out.len() - 2);
        }
    }
    Ok(())
}

fn write_date(days: i64, out: &mut String) -> std::fmt::Result {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        push_padded(y, 4, out);
    } else {
        // ISO 8601's expanded years.
        write!(out, "{y:+05}")?;
    }
    out.push('-');
    push_padded(i64::from(m), 2, out);
    out.push('-');
    push_padded(i64::from(d), 2, out);
    Ok(())
}

fn write_time(nanos: i64, out: &mut String) -> std::fmt::Result {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    push_padded(secs / 3600, 2, out);
    out.push(':');
    push_padded(secs / 60 % 60, 2, out);
    out.push(':');
    push_padded(secs % 60, 2, out);
    if frac != 0 {
        let mut digits = String::with_capacity(9);
        push_padded(frac, 9, &mut digits);
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    Ok(())
}

/// A value as JSON; its type (when known) names a UDT's fields, else they are numbered.
fn write_json(value: &Value, cql_type: Option<&CqlType>, out: &mut String) {
    let array = |items: &mut dyn Iterator<Item = (Option<&Value>, Option<&CqlType>)>,
                 out: &mut String| {
        out.push('[');
        for (i, (item, ty)) in items.enumerate() {
            if i > 0 {
                out.push(',');
            }
            match item {
                Some(v) => write_json(v, ty, out),
                None => out.push_str("null"),
            }
        }
        out.push(']');
    };
    match value {
        Value::List(items) | Value::Set(items) | Value::Vector(items) => {
            let elem = match cql_type {
                Some(CqlType::List { elem, .. } | CqlType::Set { elem, .. }) => Some(&**elem),
                Some(CqlType::Vector { elem, .. }) => Some(&**elem),
                _ => None,
            };
            array(&mut items.iter().map(|v| (Some(v), elem)), out)
        }
        Value::Tuple(fields) => {
            let types = match cql_type {
                Some(CqlType::Tuple(types)) => Some(types),
                _ => None,
            };
            array(
                &mut fields
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (v.as_ref(), types.and_then(|t| t.get(i)))),
                out,
            )
        }
        Value::Udt(fields) => {
            let def = match cql_type {
                Some(CqlType::Udt { def, .. }) => Some(def),
                _ => None,
            };
            out.push('{');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let named = def.and_then(|d| d.fields.get(i));
                match named {
                    Some((name, _)) => json_string(name, out),
                    None => json_string(&i.to_string(), out),
                }
                out.push(':');
                match field {
                    Some(v) => write_json(v, named.map(|(_, t)| t), out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
        Value::Map(entries) => {
            let (key_type, value_type) = match cql_type {
                Some(CqlType::Map { key, value, .. }) => (Some(&**key), Some(&**value)),
                _ => (None, None),
            };
            out.push('{');
            let mut key = String::new();
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                key.clear();
                write_text(k, key_type, &mut key);
                json_string(&key, out);
                out.push(':');
                write_json(v, value_type, out);
            }
            out.push('}');
        }
        Value::Bigint(_)
        | Value::Counter(_)
        | Value::Int(_)
        | Value::Smallint(_)
        | Value::Tinyint(_)
        | Value::Varint(_)
        | Value::Decimal(_)
        | Value::Boolean(_) => write_scalar(value, out),
        Value::Double(v) if v.is_finite() => write_scalar(value, out),
        Value::Float(v) if v.is_finite() => write_scalar(value, out),
        other => {
            let mut text = String::new();
            write_scalar(other, &mut text);
            json_string(&text, out);
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NativeType;
    use crate::model::value::{Decimal, Varint};

    fn text(v: &Value) -> String {
        let mut s = String::new();
        write_text(v, None, &mut s);
        s
    }

    #[test]
    fn scalars_have_their_documented_spellings() {
        assert_eq!(text(&Value::Double(1.5)), "1.5");
        assert_eq!(text(&Value::Double(1e20)), "1e20");
        assert_eq!(text(&Value::Double(3.0)), "3");
        assert_eq!(text(&Value::Float(0.1)), "0.1");
        assert_eq!(text(&Value::Double(f64::NEG_INFINITY)), "-Infinity");
        assert_eq!(text(&Value::Boolean(true)), "true");
        assert_eq!(text(&Value::Blob(vec![0, 0xab])), "0x00ab");
        assert_eq!(
            text(&Value::Timestamp(1_714_564_800_123)),
            "2024-05-01T12:00:00.123Z"
        );
        assert_eq!(text(&Value::Timestamp(-1)), "1969-12-31T23:59:59.999Z");
        assert_eq!(text(&Value::Timestamp(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(text(&Value::Date(-719_529)), "-0001-12-31");
        assert_eq!(text(&Value::Time(3_723_000_000_100)), "01:02:03.0000001");
        assert_eq!(
            text(&Value::Decimal(Decimal {
                unscaled: Varint::from_i128(-12345),
                scale: 2
            })),
            "-123.45"
        );
        assert_eq!(
            text(&Value::Uuid([0xab; 16])),
            "abababab-abab-abab-abab-abababababab"
        );
    }

    #[test]
    fn hand_spelled_numbers_match_rusts_own() {
        for v in [0i64, 7, -7, 10, 99, -100, i64::MIN, i64::MAX, 1_234_567_890] {
            assert_eq!(text(&Value::Bigint(v)), v.to_string());
        }
        assert_eq!(text(&Value::Tinyint(i8::MIN)), "-128");
        assert_eq!(
            text(&Value::Timestamp(253_402_300_799_999)),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(text(&Value::Date(2_932_897)), "+10000-01-01");
        assert_eq!(text(&Value::Time(0)), "00:00:00");
        assert_eq!(text(&Value::Time(86_399_999_999_999)), "23:59:59.999999999");
    }

    #[test]
    fn collections_are_json_with_exact_numbers_and_quoted_text() {
        let v = Value::Map(vec![(
            Value::Int(1),
            Value::List(vec![Value::Text("a\"b\n".into()), Value::Text("c".into())]),
        )]);
        assert_eq!(text(&v), r#"{"1":["a\"b\n","c"]}"#);
        let t = Value::Tuple(vec![Some(Value::Double(f64::NAN)), None]);
        assert_eq!(text(&t), r#"["NaN",null]"#);
    }

    #[test]
    fn fields_are_quoted_only_when_rfc_4180_needs_it_and_empty_text_is_not_null() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let columns = [
            DumpColumn {
                name: "a".into(),
                cql_type: CqlType::Native(NativeType::Text),
            },
            DumpColumn {
                name: "b,c".into(),
                cql_type: CqlType::Native(NativeType::Int),
            },
        ];
        let mut w: Box<dyn FileWriter> = Box::new(CsvWriter::create(&path, &columns).unwrap());
        w.write_row(&[
            Some(Value::Text("say \"hi\", ok".into())),
            Some(Value::Int(1)),
        ])
        .unwrap();
        w.write_row(&[Some(Value::Text(String::new())), None])
            .unwrap();
        w.write_row(&[None, None]).unwrap();
        w.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "a,\"b,c\"\r\n\"say \"\"hi\"\", ok\",1\r\n\"\",\r\n,\r\n"
        );
    }
}
