//! PostgreSQL COPY text files (`cassbulk dump --format pgcopy`), which `COPY table FROM` (or
//! psql's `\copy`) reads unchanged: one row per line ending in `\n`, fields separated by tabs,
//! `\N` for a null, no header, and COPY's backslash escapes (`\\`, `\b \f \n \r \t \v`) for
//! the bytes that need them ([`escape_copy`]). Everything else is UTF-8 as is.
//!
//! Each value is spelled as PostgreSQL itself prints the matching type (what `COPY ... TO`
//! of the same value gives, with DateStyle ISO, IntervalStyle postgres, extra_float_digits 1
//! and a UTC session), so a table that went PostgreSQL → pg_dump → `cassbulk load` →
//! Cassandra → this dump → `COPY FROM` comes back equal. This is the inverse of the loader's
//! parsing in `source/pg_dump/pg_types.rs`. [`write_text`] and [`write_text_as`] give a
//! value's text before COPY escaping:
//!
//! | CQL | PostgreSQL | spelling |
//! |-----|------------|----------|
//! | text, ascii | text | as is (a NUL character is refused: PostgreSQL text cannot hold it) |
//! | tinyint, smallint, int, bigint, counter | int2/int4/int8 | decimal digits |
//! | varint, decimal | numeric | plain digits, never an exponent, the scale's trailing zeros kept (`1.50`, `100000`) |
//! | double | float8 | PostgreSQL 12+'s shortest round trip (never a midpoint between two floats; exact ties to even) and layout: `0.0001`, `1e-05`, `123456789012345`, `1.234567890123456e+15`, `NaN`, `Infinity`, `-0` |
//! | float | float4 | the same with float4's digits and switch to exponents (`999999`, `1e+06`) |
//! | boolean | boolean | `t`, `f` |
//! | uuid, timeuuid | uuid | lower-case, hyphenated |
//! | blob | bytea | hex format, `\x0a1b` |
//! | timestamp | timestamptz | `2020-01-01 12:34:56.789+00`, the fraction trimmed, `10000-01-01 00:00:00+00`, `0044-03-15 12:00:00+00 BC` |
//! | date | date | `2020-01-01`, `0044-03-15 BC` |
//! | time | time | `12:34:56.5`; see below for nanoseconds |
//! | inet | inet | `1.2.3.4`, `2001:db8::1`, `::ffff:1.2.3.4` (no netmask: CQL inet is a host) |
//! | duration | interval | `1 year 2 mons 3 days 04:05:06.789`, `-1 days +00:00:01` |
//! | list, set, vector of a scalar | an array | `{1,2}`, `{"a b","",x}` (PostgreSQL's element quoting) |
//! | map, tuple, UDT, nested collections | jsonb | JSON text, below |
//!
//! Values outside PostgreSQL's ranges are refused rather than written wrong: timestamps
//! before 4714-11-24 BC or from 294277-01-01 on, dates past 5874897-12-31, times outside the
//! day, decimals with more than 131072 integer or 16383 fraction digits.
//!
//! **Time and duration below a microsecond.** PostgreSQL keeps microseconds; CQL keeps
//! nanoseconds. When the nanoseconds are a whole number of microseconds the spelling is
//! PostgreSQL's own (up to 6 fraction digits); otherwise all 9 digits are written (trailing
//! zeros trimmed) so the file loses nothing, and PostgreSQL rounds them to the microsecond
//! when it reads them (`12:00:00.1234567` → `12:00:00.123457`).
//!
//! **Empty collections.** Cassandra cannot tell an empty non-frozen collection from a null
//! one, so an empty non-frozen list, set or map is written as `\N`. A frozen one (which
//! Cassandra does keep apart from null) is written `{}` (an empty array, or an empty JSON
//! object for a map) or `[]` (an empty JSON array, for a list that is written as JSON).
//!
//! **JSON** (maps, tuples, UDTs, and lists, sets or vectors whose elements are collections,
//! tuples or UDTs) is what PostgreSQL's jsonb reads: a map is an object whose keys are the
//! keys' text forms as above (so `map<int, text>` gives `{"1": "a"}`, written without
//! spaces); a tuple is an array (`null` for a null field); a UDT is an object by field name
//! (`null` for a null or missing field; without its type, [`write_text`] writes a UDT as an
//! array); lists, sets and vectors are arrays. Integers, varints, decimals and finite floats
//! are JSON numbers (jsonb keeps them exactly as numeric); a float's `NaN`, `Infinity`,
//! `-Infinity` and `-0` are strings, since JSON numbers cannot hold them (jsonb would make
//! `-0` into `0`); booleans are `true`/`false`; everything else (uuid, timestamp, date, time,
//! inet, duration, blob, text) is a JSON string holding its text form above.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::format::{DumpColumn, DumpError, FileWriter};
use crate::model::value::{Decimal, Duration, Varint, civil_from_days};
use crate::model::{CqlType, NativeType, Value};

/// The write buffer: a few hundred KiB keeps the system calls rare.
const BUFFER: usize = 256 * 1024;

/// The first instant PostgreSQL's timestamptz holds, 4714-11-24 00:00:00 BC (Julian day 0),
/// in milliseconds since the Unix epoch.
const MIN_TIMESTAMP_MS: i64 = -210_866_803_200_000;
/// The first instant past PostgreSQL's timestamptz range, 294277-01-01 00:00:00.
const END_TIMESTAMP_MS: i64 = 9_224_318_016_000_000;
/// PostgreSQL's first date, 4714-11-24 BC, in days since the Unix epoch.
const MIN_DATE: i32 = -2_440_588;
/// PostgreSQL's last date, 5874897-12-31.
const MAX_DATE: i32 = 2_145_042_905;
/// PostgreSQL's numeric: at most this many digits before the decimal point...
const NUMERIC_MAX_INT_DIGITS: usize = 131_072;
/// ... and this many after it.
const NUMERIC_MAX_SCALE: i32 = 16_383;
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes a value's PostgreSQL text form (before COPY escaping) to `out`, judging from the
/// value alone: a UDT, whose field names only its type knows, is written as a JSON array.
/// The error says why the value has no PostgreSQL spelling (out of range, a NUL character).
pub fn write_text(value: &Value, out: &mut String) -> Result<(), String> {
    text(value, None, out)
}

/// Writes a value of `cql_type` in its PostgreSQL text form (before COPY escaping), as the
/// module documentation describes: UDTs become JSON objects by field name, and a value that
/// is not of `cql_type` is an error.
pub fn write_text_as(value: &Value, cql_type: &CqlType, out: &mut String) -> Result<(), String> {
    text(value, Some(cql_type), out)
}

/// Appends `text` with COPY text escaping, as PostgreSQL's `COPY TO` writes it: a backslash
/// as `\\`, backspace, form feed, newline, carriage return, tab and vertical tab as `\b \f \n
/// \r \t \v`; every other byte as is.
pub fn escape_copy(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped = match b {
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x0b => b'v',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(escaped);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// One column as the writer needs it.
struct Column {
    name: String,
    cql_type: CqlType,
    /// A non-frozen collection: empty is the same as null.
    empty_is_null: bool,
}

/// Writes one PostgreSQL COPY text file (see the module documentation).
pub struct PgCopyWriter {
    path: PathBuf,
    out: BufWriter<File>,
    columns: Vec<Column>,
    /// The row being built: a row is written whole or not at all.
    row: Vec<u8>,
    /// A field's text before escaping.
    field: String,
}

impl PgCopyWriter {
    /// Creates (or truncates) the file at `path` for rows of `columns`.
    pub fn create(path: &Path, columns: &[DumpColumn]) -> Result<PgCopyWriter, DumpError> {
        let file = File::create(path).map_err(DumpError::io(path))?;
        Ok(PgCopyWriter {
            path: path.to_owned(),
            out: BufWriter::with_capacity(BUFFER, file),
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.name.clone(),
                    cql_type: c.cql_type.clone(),
                    empty_is_null: c.cql_type.is_multi_cell()
                        && matches!(
                            c.cql_type,
                            CqlType::List { .. } | CqlType::Set { .. } | CqlType::Map { .. }
                        ),
                })
                .collect(),
            row: Vec::with_capacity(1024),
            field: String::with_capacity(256),
        })
    }
}

impl FileWriter for PgCopyWriter {
    fn write_row(&mut self, row: &[Option<Value>]) -> Result<(), DumpError> {
        if row.len() != self.columns.len() {
            return Err(DumpError::Format {
                path: self.path.clone(),
                message: format!(
                    "a row has {} fields but the dump has {} columns",
                    row.len(),
                    self.columns.len()
                ),
            });
        }
        self.row.clear();
        for (i, (field, column)) in row.iter().zip(&self.columns).enumerate() {
            if i > 0 {
                self.row.push(b'\t');
            }
            let value = match field {
                None => {
                    self.row.extend_from_slice(b"\\N");
                    continue;
                }
                Some(v) => v,
            };
            let bad = |message: String| DumpError::Value {
                column: column.name.clone(),
                message,
            };
            match value {
                Value::List(items) | Value::Set(items)
                    if items.is_empty() && column.empty_is_null =>
                {
                    self.row.extend_from_slice(b"\\N");
                }
                Value::Map(entries) if entries.is_empty() && column.empty_is_null => {
                    self.row.extend_from_slice(b"\\N");
                }
                // Text is escaped straight from the value, without a copy.
                Value::Text(s) | Value::Ascii(s) => {
                    check(value, &column.cql_type).map_err(bad)?;
                    no_nul(s).map_err(bad)?;
                    escape_copy(s, &mut self.row);
                }
                _ => {
                    self.field.clear();
                    text(value, Some(&column.cql_type), &mut self.field).map_err(bad)?;
                    escape_copy(&self.field, &mut self.row);
                }
            }
        }
        self.row.push(b'\n');
        self.out
            .write_all(&self.row)
            .map_err(DumpError::io(&self.path))
    }

    fn finish(self: Box<Self>) -> Result<(), DumpError> {
        let path = self.path;
        let file = self
            .out
            .into_inner()
            .map_err(|e| DumpError::io(&path)(e.into_error()))?;
        file.sync_all().map_err(DumpError::io(&path))
    }
}

/// The text form of `value`, checked against `ty` when it is known.
fn text(value: &Value, ty: Option<&CqlType>, out: &mut String) -> Result<(), String> {
    if let Some(t) = ty {
        check(value, t)?;
    }
    match value {
        Value::List(items) | Value::Set(items) | Value::Vector(items) => {
            let elem = ty.and_then(element_type);
            let as_array = match elem {
                Some(t) => matches!(t, CqlType::Native(_) | CqlType::Custom(_)),
                None => items.first().is_none_or(is_scalar),
            };
            if as_array {
                array(items, elem, out)
            } else {
                json(value, ty, out)
            }
        }
        Value::Map(_) | Value::Tuple(_) | Value::Udt(_) => json(value, ty, out),
        _ => scalar(value, out),
    }
}

/// The element type of a list, set or vector type.
fn element_type(ty: &CqlType) -> Option<&CqlType> {
    match ty {
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } | CqlType::Vector { elem, .. } => {
            Some(elem)
        }
        _ => None,
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(
        value,
        Value::List(_)
            | Value::Set(_)
            | Value::Vector(_)
            | Value::Map(_)
            | Value::Tuple(_)
            | Value::Udt(_)
    )
}

/// Whether `value` is a value of `ty` (its outer shape; elements are checked as they are
/// written). Values with the same representation pass for one another: text and ascii,
/// bigint and counter, uuid and timeuuid; a custom type's values are blobs.
fn check(value: &Value, ty: &CqlType) -> Result<(), String> {
    use NativeType as N;
    let fits = match (value, ty) {
        (Value::Text(_) | Value::Ascii(_), CqlType::Native(N::Text | N::Ascii)) => true,
        (Value::Bigint(_) | Value::Counter(_), CqlType::Native(N::Bigint | N::Counter)) => true,
        (Value::Uuid(_) | Value::Timeuuid(_), CqlType::Native(N::Uuid | N::Timeuuid)) => true,
        (Value::Blob(_), CqlType::Native(N::Blob) | CqlType::Custom(_)) => true,
        (Value::Boolean(_), CqlType::Native(N::Boolean)) => true,
        (Value::Date(_), CqlType::Native(N::Date)) => true,
        (Value::Decimal(_), CqlType::Native(N::Decimal)) => true,
        (Value::Double(_), CqlType::Native(N::Double)) => true,
        (Value::Duration(_), CqlType::Native(N::Duration)) => true,
        (Value::Float(_), CqlType::Native(N::Float)) => true,
        (Value::Inet(_), CqlType::Native(N::Inet)) => true,
        (Value::Int(_), CqlType::Native(N::Int)) => true,
        (Value::Smallint(_), CqlType::Native(N::Smallint)) => true,
        (Value::Time(_), CqlType::Native(N::Time)) => true,
        (Value::Timestamp(_), CqlType::Native(N::Timestamp)) => true,
        (Value::Tinyint(_), CqlType::Native(N::Tinyint)) => true,
        (Value::Varint(_), CqlType::Native(N::Varint)) => true,
        (Value::List(_), CqlType::List { .. }) => true,
        (Value::Set(_), CqlType::Set { .. }) => true,
        (Value::Map(_), CqlType::Map { .. }) => true,
        (Value::Vector(_), CqlType::Vector { .. }) => true,
        (Value::Tuple(fields), CqlType::Tuple(types)) => fields.len() <= types.len(),
        (Value::Udt(fields), CqlType::Udt { def, .. }) => fields.len() <= def.fields.len(),
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            "a {} value cannot be written as CQL {ty}",
            kind(value)
        ))
    }
}

/// The kind of a value, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Ascii(_) => "ascii",
        Value::Bigint(_) => "bigint",
        Value::Blob(_) => "blob",
        Value::Boolean(_) => "boolean",
        Value::Counter(_) => "counter",
        Value::Date(_) => "date",
        Value::Decimal(_) => "decimal",
        Value::Double(_) => "double",
        Value::Duration(_) => "duration",
        Value::Float(_) => "float",
        Value::Inet(_) => "inet",
        Value::Int(_) => "int",
        Value::Smallint(_) => "smallint",
        Value::Text(_) => "text",
        Value::Time(_) => "time",
        Value::Timestamp(_) => "timestamp",
        Value::Timeuuid(_) => "timeuuid",
        Value::Tinyint(_) => "tinyint",
        Value::Uuid(_) => "uuid",
        Value::Varint(_) => "varint",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Tuple(_) => "tuple",
        Value::Udt(_) => "user-defined type",
        Value::Vector(_) => "vector",
    }
}

fn no_nul(s: &str) -> Result<(), String> {
    if s.as_bytes().contains(&0) {
        Err("the text holds a NUL character, which PostgreSQL text cannot hold".to_owned())
    } else {
        Ok(())
    }
}

/// The text form of a scalar value.
fn scalar(value: &Value, out: &mut String) -> Result<(), String> {
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Text(s) | Value::Ascii(s) => {
            no_nul(s)?;
            out.push_str(s);
            Ok(())
        }
        Value::Bigint(v) | Value::Counter(v) => write!(out, "{v}"),
        Value::Int(v) => write!(out, "{v}"),
        Value::Smallint(v) => write!(out, "{v}"),
        Value::Tinyint(v) => write!(out, "{v}"),
        Value::Varint(v) => return varint(v, out),
        Value::Decimal(d) => return decimal(d, out),
        Value::Double(v) => {
            float(*v, out);
            Ok(())
        }
        Value::Float(v) => {
            float(*v, out);
            Ok(())
        }
        Value::Boolean(b) => {
            out.push(if *b { 't' } else { 'f' });
            Ok(())
        }
        Value::Uuid(u) | Value::Timeuuid(u) => {
            uuid(u, out);
            Ok(())
        }
        Value::Blob(b) => {
            out.push_str("\\x");
            hex(b, out);
            Ok(())
        }
        Value::Timestamp(ms) => return timestamp(*ms, out),
        Value::Date(days) => return date(*days, out),
        Value::Time(nanos) => return time(*nanos, out),
        Value::Inet(std::net::IpAddr::V4(a)) => {
            ipv4(*a, out);
            Ok(())
        }
        Value::Inet(std::net::IpAddr::V6(a)) => {
            ipv6(*a, out);
            Ok(())
        }
        Value::Duration(d) => {
            interval(d, out);
            Ok(())
        }
        other => return Err(format!("a {} is not a scalar value", kind(other))),
    };
    Ok(())
}

fn varint(v: &Varint, out: &mut String) -> Result<(), String> {
    if let Some(i) = v.to_i128() {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    let s = v.to_string();
    if s.trim_start_matches('-').len() > NUMERIC_MAX_INT_DIGITS {
        return Err(format!(
            "a varint of {} digits is out of PostgreSQL numeric's range",
            s.len()
        ));
    }
    out.push_str(&s);
    Ok(())
}

/// A decimal as numeric prints it: plain digits, the scale's zeros kept.
fn decimal(d: &Decimal, out: &mut String) -> Result<(), String> {
    if d.scale > NUMERIC_MAX_SCALE {
        return Err(format!(
            "a decimal of scale {} is out of PostgreSQL numeric's range (at most {NUMERIC_MAX_SCALE} fraction digits)",
            d.scale
        ));
    }
    let (negative, digits) = match d.unscaled.to_i128() {
        Some(v) => (v < 0, Digits::Small(v.unsigned_abs())),
        None => {
            let big = d.unscaled.to_bigint();
            (
                big.sign() == num_bigint::Sign::Minus,
                Digits::Big(big.magnitude().to_string()),
            )
        }
    };
    let start = out.len() + usize::from(negative);
    if negative {
        out.push('-');
    }
    let _ = match &digits {
        Digits::Small(v) => write!(out, "{v}"),
        Digits::Big(s) => out.write_str(s),
    };
    let n = out.len() - start;
    if d.scale <= 0 {
        if &out.as_bytes()[start..] == b"0" {
            // Zero times a power of ten is zero: numeric has no negative scale.
            return Ok(());
        }
        let zeros = d.scale.unsigned_abs() as usize;
        if n + zeros > NUMERIC_MAX_INT_DIGITS {
            out.truncate(start - usize::from(negative));
            return Err(format!(
                "the decimal {}E{} is out of PostgreSQL numeric's range (at most {NUMERIC_MAX_INT_DIGITS} integer digits)",
                d.unscaled,
                -i64::from(d.scale)
            ));
        }
        out.extend(std::iter::repeat_n('0', zeros));
        return Ok(());
    }
    let scale = d.scale as usize;
    if n > scale {
        if n - scale > NUMERIC_MAX_INT_DIGITS {
            out.truncate(start - usize::from(negative));
            return Err(
                "the decimal is out of PostgreSQL numeric's range (too many integer digits)"
                    .to_owned(),
            );
        }
        out.insert(start + n - scale, '.');
    } else {
        let mut lead = String::with_capacity(2 + scale - n);
        lead.push_str("0.");
        lead.extend(std::iter::repeat_n('0', scale - n));
        out.insert_str(start, &lead);
    }
    Ok(())
}

enum Digits {
    Small(u128),
    Big(String),
}

/// A float as PostgreSQL 12+ prints it with extra_float_digits = 1 (its Ryu output): the
/// fewest significant digits whose decimal lies strictly between the float's two rounding
/// midpoints (PostgreSQL never prints a midpoint itself, though one would read back under
/// round-half-even), the candidate nearest the float, an exact tie going to the even
/// digit. Plain notation when the decimal exponent is at least -4 and below
/// [`PgFloat::PLAIN_BELOW`], else `d.ddde±XX` with at least two exponent digits.
fn float<F: PgFloat>(v: F, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    let v = v.abs();
    if v.is_infinite() {
        out.push_str("Infinity");
        return;
    }
    if v.is_zero() {
        out.push('0');
        return;
    }
    let (digits, exp10) = shortest(v);
    let mut buf = [0u8; 24];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "{digits}");
        cursor.position() as usize
    };
    let digits = std::str::from_utf8(&buf[..len]).unwrap_or("0");
    // The exponent of the first digit, as in d.ddd × 10^exp.
    let exp = exp10 + len as i32 - 1;
    if exp < -4 || exp >= F::PLAIN_BELOW {
        out.push_str(&digits[..1]);
        if len > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", exp.unsigned_abs());
    } else if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(digits);
    } else if exp10 >= 0 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', exp10 as usize));
    } else {
        let point = (exp + 1) as usize;
        out.push_str(&digits[..point]);
        out.push('.');
        out.push_str(&digits[point..]);
    }
}

/// The shortest digits PostgreSQL prints for a finite, positive float: `(d, q)` stands for
/// `d × 10^q`, `d` without trailing zeros.
///
/// Rust's shortest form gives the fewest digits that read back as the float, but it may pick
/// a midpoint (which PostgreSQL avoids) or break an exact tie upwards; so each length from
/// there on is tried with the correctly rounded (ties to even) candidate, and, when that one
/// falls below a lower bound nearer than the upper one, the candidate above it.
fn shortest<F: PgFloat>(v: F) -> (u64, i32) {
    let mut buf = [0u8; 48];
    let (first_len, d0, q0) = sci(&mut buf, format_args!("{v:e}"));
    // The common case: Rust's pick (which reads back as `v`) is no midpoint, so strictly
    // inside, and `v` is no exact tie between two candidates of that length, so the pick is
    // the nearest candidate: PostgreSQL's too.
    if is_midpoint(v, d0, q0).is_none() && !is_tie(v, d0, q0) {
        return trimmed(d0, q0);
    }
    let mut last = (0, 0);
    for len in first_len.max(1)..=F::MAX_DIGITS {
        let (_, digits, q) = sci(&mut buf, format_args!("{v:.prec$e}", prec = len - 1));
        last = (digits, q);
        if inside(v, digits, q) {
            return trimmed(digits, q);
        }
        let below = parse_decimal::<F>(&mut buf, digits, q).is_some_and(|c| c != v && c < v)
            || is_midpoint(v, digits, q) == Some(Side::Below);
        if below && inside(v, digits + 1, q) {
            return trimmed(digits + 1, q);
        }
    }
    trimmed(last.0, last.1)
}

fn trimmed(mut digits: u64, mut q: i32) -> (u64, i32) {
    while digits != 0 && digits.is_multiple_of(10) {
        digits /= 10;
        q += 1;
    }
    (digits, q)
}

/// Formats into `buf` and reads back `d.ddde±x` as (number of digits, digits, exponent of
/// the last digit).
fn sci(buf: &mut [u8; 48], args: std::fmt::Arguments) -> (usize, u64, i32) {
    let len = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = std::io::Write::write_fmt(&mut cursor, args);
        cursor.position() as usize
    };
    let text = std::str::from_utf8(&buf[..len]).unwrap_or("0e0");
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits = 0u64;
    let mut count = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        digits = digits * 10 + u64::from(b - b'0');
        count += 1;
    }
    (count, digits, exp - (count as i32 - 1))
}

fn parse_decimal<F: PgFloat>(buf: &mut [u8; 48], digits: u64, q: i32) -> Option<F> {
    let len = {
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cursor, "{digits}e{q}");
        cursor.position() as usize
    };
    std::str::from_utf8(&buf[..len]).ok()?.parse().ok()
}

/// Whether `digits × 10^q` lies strictly between `v`'s rounding midpoints.
fn inside<F: PgFloat>(v: F, digits: u64, q: i32) -> bool {
    let mut buf = [0u8; 48];
    parse_decimal::<F>(&mut buf, digits, q) == Some(v) && is_midpoint(v, digits, q).is_none()
}

/// Whether `v` lies exactly halfway between `digits × 10^q` and one of its neighbours of
/// the same length, `(10 × digits ± 5) × 10^(q-1)`.
fn is_tie<F: PgFloat>(v: F, digits: u64, q: i32) -> bool {
    let (m, e, _) = v.decompose();
    let twos = m.trailing_zeros();
    let (odd, j) = (m >> twos, e + twos as i32);
    [digits * 10 - 5, digits * 10 + 5]
        .into_iter()
        .any(|d| equals_odd_times_power_of_two(d, q - 1, odd, j))
}

#[derive(Debug, PartialEq, Eq)]
enum Side {
    Below,
    Above,
}

/// Whether `digits × 10^q` is exactly the midpoint between `v` and its neighbour below or
/// above. With `v = m × 2^e`, the midpoints are `(2m ± 1) × 2^(e-1)`, or `(4m - 1) ×
/// 2^(e-2)` below a power of two (whose lower neighbour is nearer).
fn is_midpoint<F: PgFloat>(v: F, digits: u64, q: i32) -> Option<Side> {
    let (m, e, nearer_below) = v.decompose();
    let below = if nearer_below {
        (4 * m - 1, e - 2)
    } else {
        (2 * m - 1, e - 1)
    };
    if equals_odd_times_power_of_two(digits, q, below.0, below.1) {
        return Some(Side::Below);
    }
    if equals_odd_times_power_of_two(digits, q, 2 * m + 1, e - 1) {
        return Some(Side::Above);
    }
    None
}

/// Whether `d × 10^q == odd × 2^j` exactly, `odd` being odd: the powers of two must agree,
/// and so must the odd parts, `d' × 5^q` and `odd` (or `d'` and `odd × 5^-q`).
fn equals_odd_times_power_of_two(d: u64, q: i32, odd: u64, j: i32) -> bool {
    if d == 0 || odd.is_multiple_of(2) {
        return false;
    }
    let twos = d.trailing_zeros() as i32;
    if twos + q != j {
        return false;
    }
    let d_odd = u128::from(d >> twos);
    let fives = |n: i32| 5u128.checked_pow(n.unsigned_abs());
    if q >= 0 {
        fives(q)
            .and_then(|p| d_odd.checked_mul(p))
            .is_some_and(|l| l == u128::from(odd))
    } else {
        fives(q)
            .and_then(|p| u128::from(odd).checked_mul(p))
            .is_some_and(|r| r == d_odd)
    }
}

/// What [`float`] needs to know of `f32` and `f64`.
trait PgFloat:
    Copy + PartialEq + PartialOrd + std::fmt::LowerExp + std::str::FromStr + std::fmt::Debug
{
    /// The most significant digits a float of this width needs (17 for float8, 9 for float4).
    const MAX_DIGITS: usize;
    /// Plain notation up to this decimal exponent (exclusive): PostgreSQL's DBL_DIG/FLT_DIG.
    const PLAIN_BELOW: i32;
    fn is_nan(self) -> bool;
    fn is_infinite(self) -> bool;
    fn is_zero(self) -> bool;
    fn is_sign_negative(self) -> bool;
    fn abs(self) -> Self;
    /// `(m, e, nearer_below)`: the value is `m × 2^e`; `nearer_below` when the float below is
    /// half as far as the one above (a power of two above the smallest normal).
    fn decompose(self) -> (u64, i32, bool);
}

impl PgFloat for f64 {
    const MAX_DIGITS: usize = 17;
    const PLAIN_BELOW: i32 = 15;
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn is_infinite(self) -> bool {
        f64::is_infinite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn is_sign_negative(self) -> bool {
        f64::is_sign_negative(self)
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn decompose(self) -> (u64, i32, bool) {
        let bits = self.to_bits();
        let biased = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        if biased == 0 {
            (fraction, -1074, false)
        } else {
            (
                fraction | 1 << 52,
                biased - 1075,
                fraction == 0 && biased > 1,
            )
        }
    }
}

impl PgFloat for f32 {
    const MAX_DIGITS: usize = 9;
    const PLAIN_BELOW: i32 = 6;
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn is_infinite(self) -> bool {
        f32::is_infinite(self)
    }
    fn is_zero(self) -> bool {
        self == 0.0
    }
    fn is_sign_negative(self) -> bool {
        f32::is_sign_negative(self)
    }
    fn abs(self) -> Self {
        f32::abs(self)
    }
    fn decompose(self) -> (u64, i32, bool) {
        let bits = self.to_bits();
        let biased = ((bits >> 23) & 0xff) as i32;
        let fraction = u64::from(bits & ((1 << 23) - 1));
        if biased == 0 {
            (fraction, -149, false)
        } else {
            (
                fraction | 1 << 23,
                biased - 150,
                fraction == 0 && biased > 1,
            )
        }
    }
}

fn hex(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

fn uuid(u: &[u8; 16], out: &mut String) {
    for (i, chunk) in [&u[0..4], &u[4..6], &u[6..8], &u[8..10], &u[10..16]]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push('-');
        }
        hex(chunk, out);
    }
}

/// The year, month and day as DateStyle ISO prints them; returns whether the date is BC
/// (the caller writes the ` BC` suffix at the very end, as PostgreSQL does).
fn ymd(days: i64, out: &mut String) -> bool {
    let (year, month, day) = civil_from_days(days);
    // Year 0 is 1 BC, year -1 is 2 BC.
    let bc = year <= 0;
    let shown = if bc { 1 - year } else { year };
    let _ = write!(out, "{shown:04}-{month:02}-{day:02}");
    bc
}

/// Fraction digits, trailing zeros trimmed, none when zero: `value` is the fraction scaled
/// to `width` digits.
fn fraction(mut value: u64, mut width: usize, out: &mut String) {
    if value == 0 {
        return;
    }
    while value.is_multiple_of(10) {
        value /= 10;
        width -= 1;
    }
    let _ = write!(out, ".{value:0width$}");
}

fn timestamp(ms: i64, out: &mut String) -> Result<(), String> {
    if !(MIN_TIMESTAMP_MS..END_TIMESTAMP_MS).contains(&ms) {
        return Err(format!(
            "the timestamp {ms} (ms since 1970) is out of PostgreSQL's range \
             (4714-11-24 00:00:00 BC to 294276-12-31 23:59:59.999999)"
        ));
    }
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let bc = ymd(days, out);
    let secs = in_day / 1000;
    let _ = write!(
        out,
        " {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    fraction((in_day % 1000) as u64, 3, out);
    out.push_str("+00");
    if bc {
        out.push_str(" BC");
    }
    Ok(())
}

fn date(days: i32, out: &mut String) -> Result<(), String> {
    if !(MIN_DATE..=MAX_DATE).contains(&days) {
        return Err(format!(
            "the date {days} (days since 1970-01-01) is out of PostgreSQL's range \
             (4714-11-24 BC to 5874897-12-31)"
        ));
    }
    if ymd(i64::from(days), out) {
        out.push_str(" BC");
    }
    Ok(())
}

fn time(nanos: i64, out: &mut String) -> Result<(), String> {
    if !(0..=NANOS_PER_DAY).contains(&nanos) {
        return Err(format!(
            "the time {nanos} (ns since midnight) is not a time of day"
        ));
    }
    hms(nanos.unsigned_abs(), out);
    Ok(())
}

/// `HH:MM:SS` (hours at least two digits) and the fraction: up to 6 digits, or up to 9 when
/// the nanoseconds are not whole microseconds.
fn hms(nanos: u64, out: &mut String) {
    let secs = nanos / 1_000_000_000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    fraction(nanos % 1_000_000_000, 9, out);
}

/// A duration as PostgreSQL prints an interval with IntervalStyle postgres: years, `mons`
/// and days, each with its own sign (a `+` on a positive part that follows a negative one),
/// then the time of day with one sign, or `00:00:00` when everything is zero.
fn interval(d: &Duration, out: &mut String) {
    let mut first = true;
    let mut after_negative = false;
    let parts = [
        (i64::from(d.months / 12), "year"),
        (i64::from(d.months % 12), "mon"),
        (i64::from(d.days), "day"),
    ];
    for (value, unit) in parts {
        if value == 0 {
            continue;
        }
        if !first {
            out.push(' ');
        }
        if after_negative && value > 0 {
            out.push('+');
        }
        let _ = write!(out, "{value} {unit}");
        if value != 1 {
            out.push('s');
        }
        after_negative = value < 0;
        first = false;
    }
    if first || d.nanos != 0 {
        if !first {
            out.push(' ');
        }
        if d.nanos < 0 {
            out.push('-');
        } else if after_negative {
            out.push('+');
        }
        hms(d.nanos.unsigned_abs(), out);
    }
}

fn ipv4(a: Ipv4Addr, out: &mut String) {
    let [a, b, c, d] = a.octets();
    let _ = write!(out, "{a}.{b}.{c}.{d}");
}

/// IPv6 as PostgreSQL prints it: lower-case hex groups, the first longest run of two or more
/// zero groups as `::`, and the last 32 bits in dotted form for IPv4-compatible
/// (`::1.2.3.4`) and IPv4-mapped (`::ffff:1.2.3.4`) addresses.
fn ipv6(a: Ipv6Addr, out: &mut String) {
    let words = a.segments();
    let (mut best, mut best_len) = (0, 0);
    let mut run = 0;
    for (i, &w) in words.iter().enumerate() {
        if w == 0 {
            run += 1;
            if run > best_len {
                best = i + 1 - run;
                best_len = run;
            }
        } else {
            run = 0;
        }
    }
    if best_len < 2 {
        best_len = 0;
    }
    let in_run = |i: usize| best_len > 0 && (best..best + best_len).contains(&i);
    for (i, &w) in words.iter().enumerate() {
        if in_run(i) {
            if i == best {
                out.push(':');
            }
            continue;
        }
        if i > 0 {
            out.push(':');
        }
        if i == 6
            && best_len > 0
            && best == 0
            && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))
        {
            let o = a.octets();
            let _ = write!(out, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            return;
        }
        let _ = write!(out, "{w:x}");
    }
    if best_len > 0 && best + best_len == 8 {
        out.push(':');
    }
}

/// A one-dimensional array literal of scalar elements, with PostgreSQL's element quoting.
fn array(items: &[Value], elem: Option<&CqlType>, out: &mut String) -> Result<(), String> {
    out.push('{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(t) = elem {
            check(item, t)?;
        }
        match item {
            Value::Text(s) | Value::Ascii(s) => {
                no_nul(s)?;
                if needs_quotes(s) {
                    push_quoted(s, out);
                } else {
                    out.push_str(s);
                }
            }
            _ => {
                let start = out.len();
                scalar(item, out)?;
                if needs_quotes(&out[start..]) {
                    let raw = out.split_off(start);
                    push_quoted(&raw, out);
                }
            }
        }
    }
    out.push('}');
    Ok(())
}

/// Whether array_out quotes an element: empty, `NULL` in any case, or holding `{}",\` or
/// whitespace.
fn needs_quotes(s: &str) -> bool {
    s.is_empty()
        || s.eq_ignore_ascii_case("NULL")
        || s.bytes().any(|b| {
            matches!(
                b,
                b'{' | b'}' | b'"' | b',' | b'\\' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
            )
        })
}

fn push_quoted(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A JSON string, as jsonb reads it (which refuses `\u0000`).
fn json_string(s: &str, out: &mut String) -> Result<(), String> {
    no_nul(s)?;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(())
}

/// A value as JSON (see the module documentation), checked against `ty` when it is known.
fn json(value: &Value, ty: Option<&CqlType>, out: &mut String) -> Result<(), String> {
    if let Some(t) = ty {
        check(value, t)?;
    }
    match value {
        Value::Text(s) | Value::Ascii(s) => json_string(s, out)?,
        Value::Tinyint(_)
        | Value::Smallint(_)
        | Value::Int(_)
        | Value::Bigint(_)
        | Value::Counter(_)
        | Value::Varint(_)
        | Value::Decimal(_) => scalar(value, out)?,
        Value::Double(v) if v.is_finite() && !(*v == 0.0 && v.is_sign_negative()) => {
            scalar(value, out)?
        }
        Value::Float(v) if v.is_finite() && !(*v == 0.0 && v.is_sign_negative()) => {
            scalar(value, out)?
        }
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Blob(b) => {
            // `\x...` with its backslash escaped for JSON.
            out.push_str("\"\\\\x");
            hex(b, out);
            out.push('"');
        }
        Value::List(items) | Value::Set(items) | Value::Vector(items) => {
            let elem = ty.and_then(element_type);
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(item, elem, out)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let (key_ty, value_ty) = match ty {
                Some(CqlType::Map { key, value, .. }) => (Some(&**key), Some(&**value)),
                _ => (None, None),
            };
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match k {
                    Value::Text(s) | Value::Ascii(s) => {
                        if let Some(t) = key_ty {
                            check(k, t)?;
                        }
                        json_string(s, out)?;
                    }
                    _ => {
                        let start = out.len();
                        text(k, key_ty, out)?;
                        let raw = out.split_off(start);
                        json_string(&raw, out)?;
                    }
                }
                out.push(':');
                json(v, value_ty, out)?;
            }
            out.push('}');
        }
        Value::Tuple(fields) => {
            let types = match ty {
                Some(CqlType::Tuple(types)) => Some(types),
                _ => None,
            };
            out.push('[');
            for (i, field) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match field {
                    Some(f) => json(f, types.and_then(|t| t.get(i)), out)?,
                    None => out.push_str("null"),
                }
            }
            out.push(']');
        }
        Value::Udt(fields) => match ty {
            Some(CqlType::Udt { def, .. }) => {
                out.push('{');
                for (i, (name, field_ty)) in def.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_string(name, out)?;
                    out.push(':');
                    match fields.get(i) {
                        Some(Some(f)) => json(f, Some(field_ty), out)?,
                        _ => out.push_str("null"),
                    }
                }
                out.push('}');
            }
            _ => {
                out.push('[');
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    match field {
                        Some(f) => json(f, None, out)?,
                        None => out.push_str("null"),
                    }
                }
                out.push(']');
            }
        },
        // uuid, timestamp, date, time, inet, duration and non-finite floats: their text form
        // as a string (none of them holds a character JSON must escape).
        _ => {
            out.push('"');
            scalar(value, out)?;
            out.push('"');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The golden spellings below came from a real server: PostgreSQL 15.18 (Debian
    //! 15.18-0+deb12u1) on x86_64-pc-linux-gnu, extra_float_digits 1, DateStyle ISO,
    //! IntervalStyle postgres, TimeZone UTC (`SELECT v::float8`, `SELECT i` for inet, `COPY
    //! (SELECT ...) TO STDOUT` for escaping, and so on).

    use std::sync::Arc;

    use super::*;
    use crate::model::types::{NoUdts, UdtDef, parse_type};
    use crate::model::value::days_from_civil;

    fn t(s: &str) -> CqlType {
        parse_type(s, &NoUdts).unwrap()
    }

    fn pg(value: &Value) -> String {
        let mut out = String::new();
        write_text(value, &mut out).unwrap();
        out
    }

    fn pg_as(value: &Value, ty: &CqlType) -> String {
        let mut out = String::new();
        write_text_as(value, ty, &mut out).unwrap();
        out
    }

    fn dec(unscaled: i128, scale: i32) -> Value {
        Value::Decimal(Decimal {
            unscaled: Varint::from_i128(unscaled),
            scale,
        })
    }

    fn ip(s: &str) -> Value {
        Value::Inet(s.parse().unwrap())
    }

    fn dur(months: i32, days: i32, nanos: i64) -> Value {
        Value::Duration(Duration {
            months,
            days,
            nanos,
        })
    }

    #[test]
    fn floats_are_spelled_as_postgresql_prints_them() {
        for (v, golden) in [
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (1e16, "1e+16"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-0.0, "-0"),
            (0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100.0, "100"),
            (123456789012345.0, "123456789012345"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (999999999999999.9, "999999999999999.9"),
            (2.5e-10, "2.5e-10"),
            (1e100, "1e+100"),
            (1e-100, "1e-100"),
            (1.2345e-5, "1.2345e-05"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(pg(&Value::Double(v)), golden, "{v:e}");
        }
    }

    #[test]
    fn floats_avoid_midpoints_and_break_exact_ties_to_even_as_postgresql_does() {
        // PostgreSQL printed these for random floats where Rust's shortest form differs:
        // `6.522278074567166e16` is exactly a midpoint (PostgreSQL prints one digit more),
        // 1564176898443884.25 is a tie between ...842 and ...843 (PostgreSQL takes the even).
        for golden in ["1.5641768984438842e+15", "6.5222780745671664e+16"] {
            let v: f64 = golden.parse().unwrap();
            assert_eq!(pg(&Value::Double(v)), golden);
        }
        for golden in ["1.1111092e+06", "4.3299032e+07", "5.4567283e+08"] {
            let v: f32 = golden.parse().unwrap();
            assert_eq!(pg(&Value::Float(v)), golden);
        }
    }

    #[test]
    fn reals_use_float4_digits_and_switch_to_exponents_sooner() {
        for (v, golden) in [
            (3.4028235e38f32, "3.4028235e+38"),
            (1e-45, "1e-45"),
            (0.1, "0.1"),
            (16777216.0, "1.6777216e+07"),
            (1e6, "1e+06"),
            (999999.0, "999999"),
            (100000.0, "100000"),
            (1234567.0, "1.234567e+06"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (f32::MIN_POSITIVE, "1.1754944e-38"),
            (-0.0, "-0"),
            (12345.678, "12345.678"),
            (0.3333333, "0.3333333"),
            (f32::NAN, "NaN"),
            (f32::INFINITY, "Infinity"),
            (f32::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(pg(&Value::Float(v)), golden, "{v:e}");
        }
    }

    #[test]
    fn integers_varints_and_decimals_are_plain_digits_as_numeric_prints_them() {
        assert_eq!(pg(&Value::Bigint(i64::MIN)), "-9223372036854775808");
        assert_eq!(pg(&Value::Counter(7)), "7");
        assert_eq!(pg(&Value::Smallint(32767)), "32767");
        assert_eq!(pg(&Value::Tinyint(-128)), "-128");
        assert_eq!(pg(&Value::Int(0)), "0");
        let big = num_bigint::BigInt::from(10).pow(40) * -3;
        assert_eq!(
            pg(&Value::Varint(Varint::from_bigint(&big))),
            format!("-3{}", "0".repeat(40))
        );
        // SELECT 0.000::numeric, 1.50, -0.010, 1e20::numeric, 1.5e-10::numeric,
        // 123::numeric(10,3), '1e-3'::numeric
        assert_eq!(pg(&dec(0, 3)), "0.000");
        assert_eq!(pg(&dec(150, 2)), "1.50");
        assert_eq!(pg(&dec(-10, 3)), "-0.010");
        assert_eq!(pg(&dec(1, -20)), "100000000000000000000");
        assert_eq!(pg(&dec(15, 11)), "0.00000000015");
        assert_eq!(pg(&dec(123000, 3)), "123.000");
        assert_eq!(pg(&dec(1, 3)), "0.001");
        assert_eq!(pg(&dec(0, -2)), "0");
        assert_eq!(pg(&dec(-5, 0)), "-5");
        let huge = Value::Decimal(Decimal {
            unscaled: Varint::from_bigint(&(num_bigint::BigInt::from(10).pow(50) + 1)),
            scale: 52,
        });
        assert_eq!(pg(&huge), format!("0.01{}1", "0".repeat(49)));
    }

    #[test]
    fn decimals_beyond_numerics_digit_limits_are_refused() {
        let mut out = String::from("kept");
        assert!(write_text(&dec(1, 16_384), &mut out).is_err());
        assert!(write_text(&dec(1, -131_072), &mut out).is_err());
        assert_eq!(out, "kept");
        // '1e-16383'::numeric and '1e131071'::numeric are the limits PostgreSQL accepts.
        assert_eq!(pg(&dec(1, 16_383)).len(), 16_385);
        assert_eq!(pg(&dec(1, -131_071)).len(), 131_072);
    }

    #[test]
    fn booleans_uuids_and_blobs_use_postgresql_spellings() {
        assert_eq!(pg(&Value::Boolean(true)), "t");
        assert_eq!(pg(&Value::Boolean(false)), "f");
        let u = [
            0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
            0x0a, 0x11,
        ];
        assert_eq!(pg(&Value::Uuid(u)), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        assert_eq!(
            pg(&Value::Timeuuid(u)),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert_eq!(pg(&Value::Blob(vec![0x0a, 0x1b])), "\\x0a1b");
        assert_eq!(pg(&Value::Blob(vec![])), "\\x");
    }

    #[test]
    fn timestamps_are_timestamptz_in_utc_as_postgresql_prints_them() {
        for (ms, golden) in [
            (0, "1970-01-01 00:00:00+00"),
            (789, "1970-01-01 00:00:00.789+00"),
            (1500, "1970-01-01 00:00:01.5+00"),
            (-1, "1969-12-31 23:59:59.999+00"),
            (1_577_882_096_789, "2020-01-01 12:34:56.789+00"),
            (1_577_882_096_780, "2020-01-01 12:34:56.78+00"),
            (253_402_300_800_000, "10000-01-01 00:00:00+00"),
            (-62_167_219_200_000, "0001-01-01 00:00:00+00 BC"),
            (-63_517_780_799_500, "0044-03-15 12:00:00.5+00 BC"),
            (-210_835_180_800_000, "4713-11-24 00:00:00+00 BC"),
            (-210_866_803_200_000, "4714-11-24 00:00:00+00 BC"),
            (9_224_318_015_999_999, "294276-12-31 23:59:59.999+00"),
            (-62_135_596_800_000, "0001-01-01 00:00:00+00"),
            (-59_040_144_000_000, "0099-02-03 00:00:00+00"),
        ] {
            assert_eq!(pg(&Value::Timestamp(ms)), golden, "{ms}");
        }
    }

    #[test]
    fn timestamps_outside_postgresqls_range_are_refused() {
        // '4714-11-23 23:59:59.999999+00 BC' and '294277-01-01 00:00:00+00' are out of range.
        let mut out = String::new();
        for ms in [MIN_TIMESTAMP_MS - 1, END_TIMESTAMP_MS, i64::MAX, i64::MIN] {
            let err = write_text(&Value::Timestamp(ms), &mut out).unwrap_err();
            assert!(err.contains("out of PostgreSQL's range"), "{err}");
        }
        assert_eq!(
            MIN_TIMESTAMP_MS,
            days_from_civil(-4713, 11, 24) * 86_400_000
        );
        assert_eq!(
            END_TIMESTAMP_MS,
            days_from_civil(294_277, 1, 1) * 86_400_000
        );
    }

    #[test]
    fn dates_are_iso_with_bc_years_as_postgresql_prints_them() {
        // SELECT d, d - '1970-01-01'::date
        for (days, golden) in [
            (0, "1970-01-01"),
            (18_262, "2020-01-01"),
            (-719_528, "0001-01-01 BC"),
            (-2_440_588, "4714-11-24 BC"),
            (2_145_042_905, "5874897-12-31"),
            (2_932_897, "10000-01-01"),
            (-719_162, "0001-01-01"),
            (-735_160, "0044-03-15 BC"),
            (-1, "1969-12-31"),
        ] {
            assert_eq!(pg(&Value::Date(days)), golden, "{days}");
        }
        let mut out = String::new();
        assert!(write_text(&Value::Date(MIN_DATE - 1), &mut out).is_err());
        assert!(write_text(&Value::Date(MAX_DATE + 1), &mut out).is_err());
        assert!(write_text(&Value::Date(i32::MIN), &mut out).is_err());
    }

    #[test]
    fn times_keep_microseconds_and_write_nanoseconds_in_nine_digits() {
        let s = 1_000_000_000i64;
        for (nanos, golden) in [
            (0, "00:00:00"),
            (86_399 * s + 999_999_000, "23:59:59.999999"),
            (45_296 * s + 500_000_000, "12:34:56.5"),
            (3_723 * s + 1_000, "01:02:03.000001"),
            (NANOS_PER_DAY, "24:00:00"),
            // PostgreSQL rounds these to the microsecond when it reads them.
            (43_200 * s + 123_456_700, "12:00:00.1234567"),
            (86_399 * s + 999_999_999, "23:59:59.999999999"),
            (1, "00:00:00.000000001"),
        ] {
            assert_eq!(pg(&Value::Time(nanos)), golden, "{nanos}");
        }
        let mut out = String::new();
        assert!(write_text(&Value::Time(-1), &mut out).is_err());
        assert!(write_text(&Value::Time(NANOS_PER_DAY + 1), &mut out).is_err());
    }

    #[test]
    fn durations_are_intervals_as_postgresql_prints_them() {
        let us = 1_000i64;
        let sec = 1_000_000_000i64;
        for (d, golden) in [
            (
                dur(14, 3, 14_706 * sec + 789_000 * us),
                "1 year 2 mons 3 days 04:05:06.789",
            ),
            (dur(0, 0, 0), "00:00:00"),
            (dur(1, 0, 0), "1 mon"),
            (dur(-1, 0, 0), "-1 mons"),
            (dur(-14, 0, 0), "-1 years -2 mons"),
            (dur(0, 1, 0), "1 day"),
            (dur(0, -1, 0), "-1 days"),
            (dur(0, 2, 0), "2 days"),
            (dur(12, 0, 0), "1 year"),
            (dur(13, 0, 0), "1 year 1 mon"),
            (
                dur(-14, 3, -14_706 * sec),
                "-1 years -2 mons +3 days -04:05:06",
            ),
            (dur(0, 1, -sec), "1 day -00:00:01"),
            (dur(0, -1, sec), "-1 days +00:00:01"),
            (dur(0, 0, 360_000 * sec), "100:00:00"),
            (dur(0, 0, -us), "-00:00:00.000001"),
            (dur(0, 0, sec / 2), "00:00:00.5"),
            (dur(-1, 1, 0), "-1 mons +1 day"),
            (dur(1, -1, 0), "1 mon -1 days"),
            (dur(12, -1, 0), "1 year -1 days"),
            (dur(-11, 0, 0), "-11 mons"),
            (dur(0, 0, i64::MAX), "2562047:47:16.854775807"),
            (dur(i32::MIN, 0, 0), "-178956970 years -8 mons"),
            (dur(0, i32::MIN, 0), "-2147483648 days"),
            (dur(0, i32::MAX, 0), "2147483647 days"),
            (dur(-13, 0, 0), "-1 years -1 mons"),
            (dur(0, -1, -sec), "-1 days -00:00:01"),
            (dur(12, 0, sec), "1 year 00:00:01"),
            // Below a microsecond: all nine digits; PostgreSQL rounds them on input.
            (dur(0, 1, 123_456_789), "1 day 00:00:00.123456789"),
        ] {
            assert_eq!(pg(&d), golden, "{d:?}");
        }
    }

    #[test]
    fn inets_are_spelled_as_postgresql_prints_them() {
        for (addr, golden) in [
            ("1.2.3.4", "1.2.3.4"),
            ("0.0.0.0", "0.0.0.0"),
            ("::", "::"),
            ("::1", "::1"),
            ("1::", "1::"),
            ("2001:db8::1", "2001:db8::1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::0.0.1.2", "::102"),
            ("0:2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
            ("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"),
            ("fe80::1:2:3:4", "fe80::1:2:3:4"),
            ("0:0:0:0:0:1:0:0", "::1:0:0"),
            ("ABCD::EF", "abcd::ef"),
            ("::ffff:0.0.0.0", "::ffff:0.0.0.0"),
            ("::ffff:0.0.0.1", "::ffff:0.0.0.1"),
            ("::1:2", "::0.1.0.2"),
            ("::ffff", "::ffff"),
            ("::1:0:0:0", "::1:0:0:0"),
            ("1:0:0:2:0:0:3:4", "1::2:0:0:3:4"),
            ("1:0:0:2:0:0:0:4", "1:0:0:2::4"),
            ("0:0:1:0:0:0:0:0", "0:0:1::"),
        ] {
            assert_eq!(pg(&ip(addr)), golden, "{addr}");
        }
    }

    #[test]
    fn arrays_quote_hostile_elements_as_postgresql_does() {
        // SELECT ARRAY['a b','','NULL','x"y','back\slash','{}',',','null','Null ',
        //              E'tab\t',E'nl\n','ok','é',' lead','a;b','a[b]','a=b','a''b','a:b']
        let hostile = [
            "a b",
            "",
            "NULL",
            "x\"y",
            "back\\slash",
            "{}",
            ",",
            "null",
            "Null ",
            "tab\t",
            "nl\n",
            "ok",
            "é",
            " lead",
            "a;b",
            "a[b]",
            "a=b",
            "a'b",
            "a:b",
        ];
        let list = Value::List(hostile.iter().map(|s| Value::Text((*s).into())).collect());
        assert_eq!(
            pg_as(&list, &t("list<text>")),
            "{\"a b\",\"\",\"NULL\",\"x\\\"y\",\"back\\\\slash\",\"{}\",\",\",\"null\",\
             \"Null \",\"tab\t\",\"nl\n\",ok,é,\" lead\",a;b,a[b],a=b,a'b,a:b}"
        );
        assert_eq!(pg(&list), pg_as(&list, &t("list<text>")));
    }

    #[test]
    fn array_elements_keep_their_own_spellings_and_quotes() {
        // SELECT ARRAY[to_timestamp(0), to_timestamp(1.5)], ARRAY['2020-01-01'::date], ...
        let cases = [
            (
                Value::Set(vec![Value::Timestamp(0), Value::Timestamp(1500)]),
                "set<timestamp>",
                "{\"1970-01-01 00:00:00+00\",\"1970-01-01 00:00:01.5+00\"}",
            ),
            (
                Value::List(vec![Value::Date(18_262)]),
                "list<date>",
                "{2020-01-01}",
            ),
            (
                Value::List(vec![Value::Time(43_200_000_000_000)]),
                "list<time>",
                "{12:00:00}",
            ),
            (
                Value::List(vec![
                    Value::Double(1.5),
                    Value::Double(f64::NAN),
                    Value::Double(f64::NEG_INFINITY),
                    Value::Double(1e20),
                ]),
                "list<double>",
                "{1.5,NaN,-Infinity,1e+20}",
            ),
            (
                Value::List(vec![Value::Boolean(true), Value::Boolean(false)]),
                "list<boolean>",
                "{t,f}",
            ),
            (
                Value::List(vec![Value::Blob(vec![0, 0xff]), Value::Blob(vec![])]),
                "list<blob>",
                "{\"\\\\x00ff\",\"\\\\x\"}",
            ),
            (
                Value::List(vec![ip("::1"), ip("1.2.3.4")]),
                "list<inet>",
                "{::1,1.2.3.4}",
            ),
            (
                Value::List(vec![dur(0, 1, 7_200_000_000_000), dur(12, 0, 0)]),
                "list<duration>",
                "{\"1 day 02:00:00\",\"1 year\"}",
            ),
            (Value::List(vec![dec(150, 2)]), "list<decimal>", "{1.50}"),
            (
                Value::List(vec![Value::Date(-735_160)]),
                "list<date>",
                "{\"0044-03-15 BC\"}",
            ),
            (
                Value::Vector(vec![Value::Float(0.1), Value::Float(1e6)]),
                "vector<float, 2>",
                "{0.1,1e+06}",
            ),
        ];
        for (value, ty, golden) in cases {
            assert_eq!(pg_as(&value, &t(ty)), golden, "{ty}");
            assert_eq!(pg(&value), golden, "{ty} without its type");
        }
    }

    #[test]
    fn maps_tuples_udts_and_nested_collections_are_json_jsonb_reads() {
        let map = Value::Map(vec![
            (Value::Text("a\"b".into()), Value::Int(1)),
            (Value::Text("tab\t".into()), Value::Int(-2)),
        ]);
        assert_eq!(
            pg_as(&map, &t("map<text, int>")),
            r#"{"a\"b":1,"tab\t":-2}"#
        );
        let by_time = Value::Map(vec![(
            Value::Timestamp(1500),
            Value::List(vec![Value::Blob(vec![1]), Value::Blob(vec![])]),
        )]);
        assert_eq!(
            pg_as(&by_time, &t("map<timestamp, frozen<list<blob>>>")),
            r#"{"1970-01-01 00:00:01.5+00":["\\x01","\\x"]}"#
        );
        let floats = Value::Map(vec![
            (Value::Int(1), Value::Double(1e20)),
            (Value::Int(2), Value::Double(f64::NAN)),
            (Value::Int(3), Value::Double(-0.0)),
            (Value::Int(4), Value::Double(f64::NEG_INFINITY)),
        ]);
        assert_eq!(
            pg_as(&floats, &t("map<int, double>")),
            r#"{"1":1e+20,"2":"NaN","3":"-0","4":"-Infinity"}"#
        );
        let tuple = Value::Tuple(vec![
            Some(Value::Bigint(1)),
            None,
            Some(dec(-10, 3)),
            Some(Value::Boolean(true)),
            Some(dur(1, 2, 3_000_000_000)),
        ]);
        assert_eq!(
            pg_as(
                &tuple,
                &t("tuple<bigint, text, decimal, boolean, duration>")
            ),
            r#"[1,null,-0.010,true,"1 mon 2 days 00:00:03"]"#
        );
        let def = Arc::new(UdtDef {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![
                ("city".into(), t("text")),
                ("zip".into(), t("int")),
                ("since".into(), t("date")),
            ],
        });
        let udt_type = CqlType::Udt { def, frozen: true };
        // A UDT value may lack trailing fields added to the type later.
        let udt = Value::Udt(vec![Some(Value::Text("Zürich\n".into())), None]);
        assert_eq!(
            pg_as(&udt, &udt_type),
            r#"{"city":"Zürich\n","zip":null,"since":null}"#
        );
        assert_eq!(pg(&udt), r#"["Zürich\n",null]"#);
        let nested = Value::List(vec![
            Value::List(vec![Value::Int(1), Value::Int(2)]),
            Value::List(vec![]),
        ]);
        assert_eq!(pg_as(&nested, &t("list<frozen<list<int>>>")), "[[1,2],[]]");
        assert_eq!(pg(&nested), "[[1,2],[]]");
        let set_key = Value::Map(vec![(
            Value::Set(vec![Value::Text("a b".into())]),
            Value::Text("\u{1}".into()),
        )]);
        assert_eq!(
            pg_as(&set_key, &t("map<frozen<set<text>>, text>")),
            r#"{"{\"a b\"}":"\u0001"}"#
        );
    }

    #[test]
    fn copy_escaping_matches_postgresqls_copy_to() {
        // COPY (SELECT E'tab\there\nnew\\back', E'\b\f\r' || chr(11) || chr(1) || 'end',
        //       NULL::text, '', 'é\N') TO STDOUT
        let mut out = Vec::new();
        for (i, field) in [
            "tab\there\nnew\\back",
            "\u{8}\u{c}\r\u{b}\u{1}end",
            "",
            "é\\N",
        ]
        .into_iter()
        .enumerate()
        {
            if i == 2 {
                out.extend_from_slice(b"\t\\N");
            }
            if i > 0 {
                out.push(b'\t');
            }
            escape_copy(field, &mut out);
        }
        out.push(b'\n');
        assert_eq!(
            out,
            "tab\\there\\nnew\\\\back\t\\b\\f\\r\\v\u{1}end\t\\N\t\té\\\\N\n".as_bytes()
        );
    }

    #[test]
    fn text_with_a_nul_character_is_refused() {
        let mut out = String::new();
        assert!(write_text(&Value::Text("a\0b".into()), &mut out).is_err());
        assert!(write_text(&Value::List(vec![Value::Text("\0".into())]), &mut out).is_err());
    }

    fn column(name: &str, ty: &str) -> DumpColumn {
        DumpColumn {
            name: name.into(),
            cql_type: t(ty),
        }
    }

    #[test]
    fn rows_are_tab_separated_lines_with_nulls_escapes_and_empty_collections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-0.copy");
        let columns = [
            column("id", "int"),
            column("name", "text"),
            column("tags", "set<text>"),
            column("frozen_tags", "frozen<list<text>>"),
            column("attrs", "map<text, int>"),
            column("at", "timestamp"),
            column("data", "blob"),
        ];
        let mut writer: Box<dyn FileWriter> =
            Box::new(PgCopyWriter::create(&path, &columns).unwrap());
        writer
            .write_row(&[
                Some(Value::Int(1)),
                Some(Value::Text("tab\there\nnew\\back".into())),
                Some(Value::Set(vec![
                    Value::Text("a b".into()),
                    Value::Text("NULL".into()),
                ])),
                Some(Value::List(vec![Value::Text("x".into())])),
                Some(Value::Map(vec![(Value::Text("k".into()), Value::Int(1))])),
                Some(Value::Timestamp(1_577_882_096_789)),
                Some(Value::Blob(vec![0x0a, 0x1b])),
            ])
            .unwrap();
        writer
            .write_row(&[
                Some(Value::Int(2)),
                None,
                Some(Value::Set(vec![])),
                Some(Value::List(vec![])),
                Some(Value::Map(vec![])),
                None,
                Some(Value::Blob(vec![])),
            ])
            .unwrap();
        writer.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1\ttab\\there\\nnew\\\\back\t{\"a b\",\"NULL\"}\t{x}\t{\"k\":1}\t\
             2020-01-01 12:34:56.789+00\t\\\\x0a1b\n\
             2\t\\N\t\\N\t{}\t\\N\t\\N\t\\\\x\n"
        );
    }

    #[test]
    fn unwritable_values_are_errors_naming_the_column_and_no_partial_row_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-0.copy");
        let columns = [column("id", "int"), column("at", "timestamp")];
        let mut writer = PgCopyWriter::create(&path, &columns).unwrap();
        let err = writer
            .write_row(&[Some(Value::Int(1)), Some(Value::Timestamp(i64::MAX))])
            .unwrap_err();
        assert!(
            matches!(&err, DumpError::Value { column, .. } if column == "at"),
            "{err}"
        );
        let err = writer
            .write_row(&[Some(Value::Text("1".into())), None])
            .unwrap_err();
        assert!(
            matches!(&err, DumpError::Value { column, message } if column == "id" && message.contains("text")),
            "{err}"
        );
        assert!(matches!(
            writer.write_row(&[Some(Value::Int(1))]),
            Err(DumpError::Format { .. })
        ));
        writer
            .write_row(&[Some(Value::Int(3)), Some(Value::Timestamp(0))])
            .unwrap();
        Box::new(writer).finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "3\t1970-01-01 00:00:00+00\n"
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_refused_inside_collections_too() {
        let mut out = String::new();
        let list = Value::List(vec![Value::Int(1), Value::Text("x".into())]);
        assert!(write_text_as(&list, &t("list<int>"), &mut out).is_err());
        assert!(write_text_as(&Value::Int(1), &t("list<int>"), &mut out).is_err());
        let tuple = Value::Tuple(vec![Some(Value::Int(1)), Some(Value::Int(2))]);
        assert!(write_text_as(&tuple, &t("tuple<int>"), &mut out).is_err());
    }
}
