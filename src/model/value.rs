//! CQL values and their serialized form. The bytes are those of the native protocol (v4, section 6),
//! which are also the bytes Cassandra hashes for tokens, stores in cells and compares when it
//! reconciles two live cells with equal timestamps. Sources build `Value`s; the engine carries
//! the encoded bytes; sinks and `verify` decode them again.

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use super::types::{CqlType, NativeType};
use super::vint;

/// An arbitrary-precision integer as CQL `varint` stores it: minimal two's complement, big-endian.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Varint(pub Vec<u8>);

impl Varint {
    /// The minimal encoding of an `i128`.
    pub fn from_i128(v: i128) -> Varint {
        let mut out = Vec::with_capacity(16);
        Varint::write_i128(v, &mut out);
        Varint(out)
    }

    /// Appends the minimal encoding of an `i128`.
    pub fn write_i128(v: i128, out: &mut Vec<u8>) {
        let (bytes, start) = Varint::minimal_i128(v);
        out.extend_from_slice(&bytes[start..]);
    }

    /// The minimal encoding of an `i128`: `bytes[start..]` of the big-endian bytes returned.
    #[inline]
    pub fn minimal_i128(v: i128) -> ([u8; 16], usize) {
        let bytes = v.to_be_bytes();
        // Drop leading bytes that only repeat the sign of the next one.
        let mut start = 0;
        while start < 15 {
            let (b, next) = (bytes[start], bytes[start + 1]);
            if (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0) {
                start += 1;
            } else {
                break;
            }
        }
        (bytes, start)
    }

    /// The minimal encoding of any integer.
    pub fn from_bigint(v: &num_bigint::BigInt) -> Varint {
        Varint(v.to_signed_bytes_be())
    }

    pub fn to_bigint(&self) -> num_bigint::BigInt {
        num_bigint::BigInt::from_signed_bytes_be(&self.0)
    }

    /// The value, when it fits an `i128`.
    pub fn to_i128(&self) -> Option<i128> {
        if self.0.is_empty() || self.0.len() > 16 {
            return None;
        }
        let fill = if self.0[0] & 0x80 != 0 { 0xff } else { 0x00 };
        let mut bytes = [fill; 16];
        bytes[16 - self.0.len()..].copy_from_slice(&self.0);
        Some(i128::from_be_bytes(bytes))
    }
}

impl fmt::Display for Varint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_bigint())
    }
}

/// A CQL `decimal`: `unscaled × 10^-scale`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decimal {
    pub unscaled: Varint,
    pub scale: i32,
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale > 0
            && let Some(v) = self.unscaled.to_i128()
        {
            // The common case, without a big integer: the digits on the stack.
            let mut buf = [0u8; 40];
            let digits = decimal_digits(v.unsigned_abs(), &mut buf);
            return write_scaled(f, v < 0, digits, self.scale as usize);
        }
        let v = self.unscaled.to_bigint();
        if self.scale <= 0 {
            return write!(f, "{v}E{}", -i64::from(self.scale));
        }
        let digits = v.magnitude().to_string();
        write_scaled(
            f,
            v.sign() == num_bigint::Sign::Minus,
            &digits,
            self.scale as usize,
        )
    }
}

/// `bytes` as UTF-8 text, checked with SIMD (text is most of what a load reads and a dump
/// writes); the error, when there is one, is the standard library's, with where it fails.
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// The decimal digits of `n`, written at the end of `buf` (40 bytes hold any `u128`).
pub fn decimal_digits(mut n: u128, buf: &mut [u8; 40]) -> &str {
    let mut at = buf.len();
    // 128-bit division is a library call; most numbers fit in 64 bits.
    while n > u128::from(u64::MAX) {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let mut n = n as u64;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[at..]).expect("ASCII digits")
}

/// `digits × 10^-scale` in plain notation, `-` first when `negative`.
fn write_scaled(
    f: &mut fmt::Formatter<'_>,
    negative: bool,
    digits: &str,
    scale: usize,
) -> fmt::Result {
    if negative {
        f.write_str("-")?;
    }
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        f.write_str(int)?;
        f.write_str(".")?;
        f.write_str(frac)
    } else {
        f.write_str("0.")?;
        for _ in digits.len()..scale {
            f.write_str("0")?;
        }
        f.write_str(digits)
    }
}

/// A CQL `duration`: months, days and nanoseconds, each with its own sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Duration {
    pub months: i32,
    pub days: i32,
    pub nanos: i64,
}

/// A typed CQL value. Nulls are not values: a missing cell or `Option::None` stands for them.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Ascii(String),
    Bigint(i64),
    Blob(Vec<u8>),
    Boolean(bool),
    Counter(i64),
    /// Days since 1970-01-01 (negative before it).
    Date(i32),
    Decimal(Decimal),
    Double(f64),
    Duration(Duration),
    Float(f32),
    Inet(IpAddr),
    Int(i32),
    Smallint(i16),
    Text(String),
    /// Nanoseconds since midnight.
    Time(i64),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Timeuuid([u8; 16]),
    Tinyint(i8),
    Uuid([u8; 16]),
    Varint(Varint),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Tuple(Vec<Option<Value>>),
    Udt(Vec<Option<Value>>),
    Vector(Vec<Value>),
}

/// Why bytes could not be decoded as the column's type.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    #[error("a {cql_type} value must be {expected} bytes, found {found}")]
    Length {
        cql_type: String,
        expected: usize,
        found: usize,
    },
    #[error("a {cql_type} value is cut short: {reason}")]
    Truncated { cql_type: String, reason: String },
    #[error("a {cql_type} value is not valid: {reason}")]
    Invalid { cql_type: String, reason: String },
    #[error("values of the custom type '{0}' are not supported")]
    Custom(String),
}

impl Value {
    /// The serialized value, without the protocol's length prefix.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out
    }

    /// The serialized value, reusing the value's own buffer where it already holds the bytes
    /// (text, ascii, blob, varint): the hot path of every source, one allocation or none.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Value::Ascii(s) | Value::Text(s) => s.into_bytes(),
            Value::Blob(b) => b,
            Value::Varint(v) => v.0,
            other => other.to_bytes(),
        }
    }

    /// The length of the serialized value (exact, except vectors of variable-length elements,
    /// where it may be a few bytes short: it only sizes buffers).
    pub fn encoded_len(&self) -> usize {
        let framed = |v: Option<&Value>| 4 + v.map_or(0, Value::encoded_len);
        match self {
            Value::Ascii(s) | Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
            Value::Varint(v) => v.0.len(),
            Value::Decimal(d) => 4 + d.unscaled.0.len(),
            Value::Duration(_) => 3 * 9,
            Value::Inet(IpAddr::V6(_)) => 16,
            Value::List(items) | Value::Set(items) => {
                4 + items.iter().map(|i| framed(Some(i))).sum::<usize>()
            }
            Value::Map(entries) => {
                4 + entries
                    .iter()
                    .map(|(k, v)| framed(Some(k)) + framed(Some(v)))
                    .sum::<usize>()
            }
            Value::Tuple(fields) | Value::Udt(fields) => {
                fields.iter().map(|f| framed(f.as_ref())).sum()
            }
            Value::Vector(items) => items.iter().map(|i| 1 + i.encoded_len()).sum(),
            v => v
                .native_type()
                .and_then(NativeType::fixed_len)
                .unwrap_or(match v {
                    Value::Inet(_) => 4,
                    _ => 8,
                }),
        }
    }

    /// Appends the serialized value, without the protocol's length prefix.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Ascii(s) | Value::Text(s) => out.extend_from_slice(s.as_bytes()),
            Value::Bigint(v) | Value::Counter(v) | Value::Timestamp(v) | Value::Time(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Value::Blob(b) => out.extend_from_slice(b),
            Value::Boolean(b) => out.push(u8::from(*b)),
            Value::Date(days) => {
                out.extend_from_slice(&((i64::from(*days) + (1 << 31)) as u32).to_be_bytes())
            }
            Value::Decimal(d) => {
                out.extend_from_slice(&d.scale.to_be_bytes());
                out.extend_from_slice(&d.unscaled.0);
            }
            Value::Double(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Duration(d) => {
                vint::write_signed(i64::from(d.months), out);
                vint::write_signed(i64::from(d.days), out);
                vint::write_signed(d.nanos, out);
            }
            Value::Float(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Inet(IpAddr::V4(a)) => out.extend_from_slice(&a.octets()),
            Value::Inet(IpAddr::V6(a)) => out.extend_from_slice(&a.octets()),
            Value::Int(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Smallint(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Tinyint(v) => out.extend_from_slice(&v.to_be_bytes()),
            Value::Uuid(u) | Value::Timeuuid(u) => out.extend_from_slice(u),
            Value::Varint(v) => out.extend_from_slice(&v.0),
            Value::List(items) | Value::Set(items) => {
                out.extend_from_slice(&(items.len() as i32).to_be_bytes());
                for item in items {
                    encode_framed(Some(item), out);
                }
            }
            Value::Map(entries) => {
                out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
                for (k, v) in entries {
                    encode_framed(Some(k), out);
                    encode_framed(Some(v), out);
                }
            }
            Value::Tuple(fields) | Value::Udt(fields) => {
                for field in fields {
                    encode_framed(field.as_ref(), out);
                }
            }
            Value::Vector(items) => {
                for item in items {
                    let start = out.len();
                    item.encode(out);
                    if item.fixed_len().is_none() {
                        // Variable-length elements carry an unsigned vint length prefix.
                        let body = out.split_off(start);
                        vint::write_unsigned(body.len() as u64, out);
                        out.extend_from_slice(&body);
                    }
                }
            }
        }
    }

    /// Whether values like this one have a width Cassandra declares fixed (see
    /// [`CqlType::fixed_len`]): decides the length prefixes inside vectors.
    fn fixed_len(&self) -> Option<usize> {
        match self {
            Value::Vector(items) => items
                .iter()
                .map(Value::fixed_len)
                .sum::<Option<usize>>()
                .filter(|_| !items.is_empty()),
            v => v.native_type().and_then(NativeType::fixed_len),
        }
    }

    fn native_type(&self) -> Option<NativeType> {
        Some(match self {
            Value::Ascii(_) => NativeType::Ascii,
            Value::Bigint(_) => NativeType::Bigint,
            Value::Blob(_) => NativeType::Blob,
            Value::Boolean(_) => NativeType::Boolean,
            Value::Counter(_) => NativeType::Counter,
            Value::Date(_) => NativeType::Date,
            Value::Decimal(_) => NativeType::Decimal,
            Value::Double(_) => NativeType::Double,
            Value::Duration(_) => NativeType::Duration,
            Value::Float(_) => NativeType::Float,
            Value::Inet(_) => NativeType::Inet,
            Value::Int(_) => NativeType::Int,
            Value::Smallint(_) => NativeType::Smallint,
            Value::Text(_) => NativeType::Text,
            Value::Time(_) => NativeType::Time,
            Value::Timestamp(_) => NativeType::Timestamp,
            Value::Timeuuid(_) => NativeType::Timeuuid,
            Value::Tinyint(_) => NativeType::Tinyint,
            Value::Uuid(_) => NativeType::Uuid,
            Value::Varint(_) => NativeType::Varint,
            _ => return None,
        })
    }

    /// [`Value::decode`] into `slot`, reusing the buffer of the text, blob or decimal it
    /// holds: a dump decodes millions of values into the same few slots.
    pub fn decode_into(
        cql_type: &CqlType,
        bytes: &[u8],
        slot: &mut Option<Value>,
    ) -> Result<(), ValueError> {
        match (cql_type, slot.as_mut()) {
            (CqlType::Native(NativeType::Text), Some(Value::Text(s))) => {
                let text = utf8(bytes).map_err(|_| ValueError::Invalid {
                    cql_type: cql_type.to_string(),
                    reason: "not valid UTF-8".to_owned(),
                })?;
                s.clear();
                s.push_str(text);
            }
            (CqlType::Native(NativeType::Ascii), Some(Value::Ascii(s))) if bytes.is_ascii() => {
                s.clear();
                s.push_str(std::str::from_utf8(bytes).expect("ASCII is UTF-8"));
            }
            (CqlType::Native(NativeType::Blob), Some(Value::Blob(b))) => {
                b.clear();
                b.extend_from_slice(bytes);
            }
            (CqlType::Native(NativeType::Decimal), Some(Value::Decimal(d))) if bytes.len() >= 5 => {
                d.scale = i32::from_be_bytes(array(&bytes[..4]));
                d.unscaled.0.clear();
                d.unscaled.0.extend_from_slice(&bytes[4..]);
            }
            _ => *slot = Some(Value::decode(cql_type, bytes)?),
        }
        Ok(())
    }

    /// Decodes serialized bytes as a value of `cql_type`. Refuses anything malformed or truncated.
    pub fn decode(cql_type: &CqlType, bytes: &[u8]) -> Result<Value, ValueError> {
        let name = || cql_type.to_string();
        let fixed = |n: usize| -> Result<&[u8], ValueError> {
            if bytes.len() == n {
                Ok(bytes)
            } else {
                Err(ValueError::Length {
                    cql_type: name(),
                    expected: n,
                    found: bytes.len(),
                })
            }
        };
        let invalid = |reason: &str| ValueError::Invalid {
            cql_type: name(),
            reason: reason.to_owned(),
        };
        Ok(match cql_type {
            CqlType::Native(t) => match t {
                NativeType::Ascii => {
                    if !bytes.is_ascii() {
                        return Err(invalid("contains non-ASCII bytes"));
                    }
                    Value::Ascii(String::from_utf8_lossy(bytes).into_owned())
                }
                NativeType::Text => Value::Text(
                    utf8(bytes)
                        .map_err(|_| invalid("not valid UTF-8"))?
                        .to_owned(),
                ),
                NativeType::Bigint => Value::Bigint(i64::from_be_bytes(array(fixed(8)?))),
                NativeType::Counter => Value::Counter(i64::from_be_bytes(array(fixed(8)?))),
                NativeType::Timestamp => Value::Timestamp(i64::from_be_bytes(array(fixed(8)?))),
                NativeType::Time => Value::Time(i64::from_be_bytes(array(fixed(8)?))),
                NativeType::Blob => Value::Blob(bytes.to_vec()),
                NativeType::Boolean => Value::Boolean(fixed(1)?[0] != 0),
                NativeType::Date => {
                    let raw = u32::from_be_bytes(array(fixed(4)?));
                    Value::Date((i64::from(raw) - (1 << 31)) as i32)
                }
                NativeType::Decimal => {
                    if bytes.len() < 5 {
                        return Err(invalid("needs a 4-byte scale and at least one digit byte"));
                    }
                    Value::Decimal(Decimal {
                        scale: i32::from_be_bytes(array(&bytes[..4])),
                        unscaled: Varint(bytes[4..].to_vec()),
                    })
                }
                NativeType::Double => Value::Double(f64::from_be_bytes(array(fixed(8)?))),
                NativeType::Float => Value::Float(f32::from_be_bytes(array(fixed(4)?))),
                NativeType::Duration => {
                    let trunc = |e: vint::VintError| ValueError::Truncated {
                        cql_type: name(),
                        reason: e.to_string(),
                    };
                    let (months, a) = vint::read_signed(bytes).map_err(trunc)?;
                    let (days, b) = vint::read_signed(&bytes[a..]).map_err(trunc)?;
                    let (nanos, c) = vint::read_signed(&bytes[a + b..]).map_err(trunc)?;
                    if a + b + c != bytes.len() {
                        return Err(invalid("extra bytes after the nanoseconds"));
                    }
                    let months = i32::try_from(months).map_err(|_| invalid("months overflow"))?;
                    let days = i32::try_from(days).map_err(|_| invalid("days overflow"))?;
                    Value::Duration(Duration {
                        months,
                        days,
                        nanos,
                    })
                }
                NativeType::Inet => match bytes.len() {
                    4 => Value::Inet(IpAddr::from(array::<4>(bytes))),
                    16 => Value::Inet(IpAddr::from(array::<16>(bytes))),
                    n => {
                        return Err(invalid(&format!("an address is 4 or 16 bytes, found {n}")));
                    }
                },
                NativeType::Int => Value::Int(i32::from_be_bytes(array(fixed(4)?))),
                NativeType::Smallint => Value::Smallint(i16::from_be_bytes(array(fixed(2)?))),
                NativeType::Tinyint => Value::Tinyint(i8::from_be_bytes(array(fixed(1)?))),
                NativeType::Uuid => Value::Uuid(array(fixed(16)?)),
                NativeType::Timeuuid => Value::Timeuuid(array(fixed(16)?)),
                NativeType::Varint => {
                    if bytes.is_empty() {
                        return Err(invalid("needs at least one byte"));
                    }
                    Value::Varint(Varint(bytes.to_vec()))
                }
            },
            CqlType::List { elem, .. } | CqlType::Set { elem, .. } => {
                let mut r = Reader::new(bytes, cql_type);
                let n = r.count()?;
                let mut items = Vec::with_capacity(n.min(bytes.len()));
                for _ in 0..n {
                    items.push(r.required(elem)?);
                }
                r.finish()?;
                if matches!(cql_type, CqlType::List { .. }) {
                    Value::List(items)
                } else {
                    Value::Set(items)
                }
            }
            CqlType::Map { key, value, .. } => {
                let mut r = Reader::new(bytes, cql_type);
                let n = r.count()?;
                let mut entries = Vec::with_capacity(n.min(bytes.len()));
                for _ in 0..n {
                    entries.push((r.required(key)?, r.required(value)?));
                }
                r.finish()?;
                Value::Map(entries)
            }
            CqlType::Tuple(types) => Value::Tuple(decode_fields(bytes, cql_type, types.iter())?),
            CqlType::Udt { def, .. } => Value::Udt(decode_fields(
                bytes,
                cql_type,
                def.fields.iter().map(|(_, t)| t),
            )?),
            CqlType::Vector { elem, dimension } => {
                let fixed_len = elem.fixed_len();
                let mut items = Vec::with_capacity(*dimension);
                let mut rest = bytes;
                for _ in 0..*dimension {
                    let len = match fixed_len {
                        Some(n) => n,
                        None => {
                            let (n, used) =
                                vint::read_unsigned(rest).map_err(|e| ValueError::Truncated {
                                    cql_type: name(),
                                    reason: e.to_string(),
                                })?;
                            rest = &rest[used..];
                            n as usize
                        }
                    };
                    if rest.len() < len {
                        return Err(ValueError::Truncated {
                            cql_type: name(),
                            reason: format!("element needs {len} bytes, {} left", rest.len()),
                        });
                    }
                    items.push(Value::decode(elem, &rest[..len])?);
                    rest = &rest[len..];
                }
                if !rest.is_empty() {
                    return Err(invalid("extra bytes after the last element"));
                }
                Value::Vector(items)
            }
            CqlType::Custom(class) => return Err(ValueError::Custom(class.clone())),
        })
    }

    /// The value written as a CQL literal, as `cqlsh` would accept it in a statement.
    pub fn to_cql_literal(&self) -> String {
        self.to_string()
    }
}

fn encode_framed(value: Option<&Value>, out: &mut Vec<u8>) {
    let Ok(_) = write_framed(out, |out| {
        if let Some(v) = value {
            v.encode(out);
        }
        Ok::<_, std::convert::Infallible>(value.is_some())
    });
}

/// Writes a value as collections, tuples and UDTs frame their elements: its 4-byte length, then
/// the bytes `write` appends, or -1 when it returns false (NULL, having written nothing).
/// Returns what `write` returned.
pub fn write_framed<E>(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>) -> Result<bool, E>,
) -> Result<bool, E> {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let present = write(out)?;
    let len = if present {
        (out.len() - at - 4) as i32
    } else {
        -1
    };
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    Ok(present)
}

fn decode_fields<'t>(
    bytes: &[u8],
    cql_type: &CqlType,
    types: impl Iterator<Item = &'t CqlType>,
) -> Result<Vec<Option<Value>>, ValueError> {
    let mut r = Reader::new(bytes, cql_type);
    let mut fields = Vec::new();
    for t in types {
        // A tuple or UDT serialized before a field was added simply ends early.
        if r.rest.is_empty() {
            fields.push(None);
            continue;
        }
        fields.push(r.optional(t)?);
    }
    r.finish()?;
    Ok(fields)
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(bytes);
    a
}

/// Reads `[int n][int len][bytes]...` framed collections and tuples.
struct Reader<'a> {
    rest: &'a [u8],
    cql_type: &'a CqlType,
}

impl<'a> Reader<'a> {
    fn new(rest: &'a [u8], cql_type: &'a CqlType) -> Self {
        Reader { rest, cql_type }
    }

    fn truncated(&self, reason: String) -> ValueError {
        ValueError::Truncated {
            cql_type: self.cql_type.to_string(),
            reason,
        }
    }

    fn int(&mut self) -> Result<i32, ValueError> {
        if self.rest.len() < 4 {
            return Err(self.truncated(format!(
                "needs a 4-byte length, {} bytes left",
                self.rest.len()
            )));
        }
        let v = i32::from_be_bytes(array(&self.rest[..4]));
        self.rest = &self.rest[4..];
        Ok(v)
    }

    fn count(&mut self) -> Result<usize, ValueError> {
        let n = self.int()?;
        usize::try_from(n).map_err(|_| self.truncated(format!("negative element count {n}")))
    }

    fn optional(&mut self, t: &CqlType) -> Result<Option<Value>, ValueError> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        let len = len as usize;
        if self.rest.len() < len {
            return Err(self.truncated(format!(
                "element needs {len} bytes, {} left",
                self.rest.len()
            )));
        }
        let (item, rest) = self.rest.split_at(len);
        self.rest = rest;
        Value::decode(t, item).map(Some)
    }

    fn required(&mut self, t: &CqlType) -> Result<Value, ValueError> {
        self.optional(t)?.ok_or_else(|| ValueError::Invalid {
            cql_type: self.cql_type.to_string(),
            reason: "a collection element is null".to_owned(),
        })
    }

    fn finish(self) -> Result<(), ValueError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(ValueError::Invalid {
                cql_type: self.cql_type.to_string(),
                reason: format!("{} extra bytes after the last element", self.rest.len()),
            })
        }
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn uuid_string(u: &[u8; 16]) -> String {
    let h = hex(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day count since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn float_literal(f: &mut fmt::Formatter<'_>, v: f64, shown: String) -> fmt::Result {
    if v.is_nan() {
        f.write_str("NaN")
    } else if v.is_infinite() {
        f.write_str(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        f.write_str(&shown)
    }
}

fn write_list<T>(
    f: &mut fmt::Formatter<'_>,
    open: &str,
    close: &str,
    items: impl IntoIterator<Item = T>,
    mut each: impl FnMut(&mut fmt::Formatter<'_>, T) -> fmt::Result,
) -> fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    f.write_str(close)
}

/// Writes the value as a CQL literal.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |f: &mut fmt::Formatter<'_>, v: &Option<Value>| match v {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("null"),
        };
        match self {
            Value::Ascii(s) | Value::Text(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Value::Bigint(v) | Value::Counter(v) => write!(f, "{v}"),
            Value::Blob(b) => write!(f, "0x{}", hex(b)),
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Date(days) => {
                let (y, m, d) = civil_from_days(i64::from(*days));
                write!(f, "'{y:04}-{m:02}-{d:02}'")
            }
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Double(v) => float_literal(f, *v, format!("{v:?}")),
            Value::Duration(d) => {
                let neg = d.months < 0 || d.days < 0 || d.nanos < 0;
                let sign = if neg { "-" } else { "" };
                write!(
                    f,
                    "{sign}{}mo{}d{}ns",
                    d.months.unsigned_abs(),
                    d.days.unsigned_abs(),
                    d.nanos.unsigned_abs()
                )
            }
            Value::Float(v) => float_literal(f, f64::from(*v), format!("{v:?}")),
            Value::Inet(a) => write!(f, "'{a}'"),
            Value::Int(v) => write!(f, "{v}"),
            Value::Smallint(v) => write!(f, "{v}"),
            Value::Tinyint(v) => write!(f, "{v}"),
            Value::Time(nanos) => write!(f, "{nanos}"),
            Value::Timestamp(ms) => write!(f, "{ms}"),
            Value::Uuid(u) | Value::Timeuuid(u) => f.write_str(&uuid_string(u)),
            Value::Varint(v) => write!(f, "{v}"),
            Value::List(items) | Value::Vector(items) => {
                write_list(f, "[", "]", items, |f, v| write!(f, "{v}"))
            }
            Value::Set(items) => write_list(f, "{", "}", items, |f, v| write!(f, "{v}")),
            Value::Map(entries) => {
                write_list(f, "{", "}", entries, |f, (k, v)| write!(f, "{k}: {v}"))
            }
            Value::Tuple(fields) => write_list(f, "(", ")", fields, opt),
            Value::Udt(fields) => write_list(f, "(", ")", fields, opt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{NoUdts, parse_type};

    fn t(s: &str) -> CqlType {
        parse_type(s, &NoUdts).unwrap()
    }

    #[test]
    fn decimal_digits_print_every_width_as_format_does() {
        let max64 = u128::from(u64::MAX);
        for n in [
            0,
            7,
            10,
            99,
            max64 - 1,
            max64,
            max64 + 1,
            max64 * 10 + 9,
            u128::MAX,
        ] {
            assert_eq!(decimal_digits(n, &mut [0; 40]), n.to_string());
        }
    }

    #[test]
    fn utf8_takes_what_the_standard_library_takes_and_says_where_it_fails() {
        let long = "Zürich, 東京, 🎵 ".repeat(40);
        assert_eq!(utf8(long.as_bytes()), Ok(long.as_str()));
        let mut bad = long.clone().into_bytes();
        let at = long.char_indices().nth(100).unwrap().0;
        bad.insert(at, 0xff);
        let error = utf8(&bad).unwrap_err();
        assert_eq!(error, std::str::from_utf8(&bad).unwrap_err());
        assert_eq!(error.valid_up_to(), at);
    }

    // Golden bytes: what Cassandra's serializers (and the native protocol spec) give.
    #[test]
    fn native_values_serialize_to_cassandra_golden_bytes() {
        assert_eq!(Value::Int(1).to_bytes(), [0, 0, 0, 1]);
        assert_eq!(
            Value::Bigint(-2).to_bytes(),
            [0xff; 7].iter().chain(&[0xfe]).copied().collect::<Vec<_>>()
        );
        assert_eq!(Value::Smallint(258).to_bytes(), [1, 2]);
        assert_eq!(Value::Tinyint(-1).to_bytes(), [0xff]);
        assert_eq!(Value::Boolean(true).to_bytes(), [1]);
        assert_eq!(Value::Date(0).to_bytes(), [0x80, 0, 0, 0]);
        assert_eq!(Value::Date(-1).to_bytes(), [0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(
            Value::Double(1.0).to_bytes(),
            [0x3f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(Value::Float(1.0).to_bytes(), [0x3f, 0x80, 0, 0]);
        assert_eq!(Value::Text("é".into()).to_bytes(), [0xc3, 0xa9]);
        assert_eq!(
            Value::Inet("127.0.0.1".parse().unwrap()).to_bytes(),
            [127, 0, 0, 1]
        );
        assert_eq!(
            Value::Duration(Duration {
                months: 1,
                days: -1,
                nanos: 64
            })
            .to_bytes(),
            [0x02, 0x01, 0x80, 0x80]
        );
    }

    #[test]
    fn varints_use_the_minimal_twos_complement_encoding() {
        for (v, bytes) in [
            (0i128, vec![0x00]),
            (1, vec![0x01]),
            (127, vec![0x7f]),
            (128, vec![0x00, 0x80]),
            (-1, vec![0xff]),
            (-128, vec![0x80]),
            (-129, vec![0xff, 0x7f]),
            (256, vec![0x01, 0x00]),
        ] {
            assert_eq!(Varint::from_i128(v).0, bytes, "{v}");
            assert_eq!(Varint(bytes).to_i128(), Some(v));
        }
    }

    #[test]
    fn decimals_serialize_as_scale_then_unscaled_varint() {
        let d = Value::Decimal(Decimal {
            unscaled: Varint::from_i128(-12345),
            scale: 2,
        });
        assert_eq!(d.to_bytes(), [0, 0, 0, 2, 0xcf, 0xc7]);
        assert_eq!(d.to_string(), "-123.45");
        let small = Decimal {
            unscaled: Varint::from_i128(5),
            scale: 3,
        };
        assert_eq!(small.to_string(), "0.005");
    }

    #[test]
    fn decimals_print_the_same_with_and_without_a_big_integer() {
        let text = |unscaled: Varint, scale: i32| Decimal { unscaled, scale }.to_string();
        assert_eq!(text(Varint::from_i128(-5), 3), "-0.005");
        assert_eq!(text(Varint::from_i128(1000), 3), "1.000");
        assert_eq!(text(Varint::from_i128(0), 2), "0.00");
        assert_eq!(text(Varint::from_i128(7), 0), "7E0");
        assert_eq!(text(Varint::from_i128(7), -2), "7E2");
        assert_eq!(
            text(Varint::from_i128(i128::MIN), 1),
            "-17014118346046923173168730371588410572.8"
        );
        // Wider than an i128: the big-integer path, same spelling.
        let big: num_bigint::BigInt = num_bigint::BigInt::from(i128::MAX) * 1000 + 7;
        assert_eq!(
            text(Varint::from_bigint(&-big), 4),
            "-17014118346046923173168730371588410572.7007"
        );
    }

    #[test]
    fn decoding_into_a_slot_reuses_it_and_gives_what_decode_gives() {
        let mut slot = None;
        for (cql_type, bytes) in [
            ("text", b"hello".to_vec()),
            ("text", b"".to_vec()),
            ("ascii", b"abc".to_vec()),
            ("blob", vec![1, 2, 3]),
            ("decimal", vec![0, 0, 0, 2, 0xcf, 0xc7]),
            ("int", vec![0, 0, 0, 9]),
        ] {
            let t = parse_type(cql_type, &NoUdts).unwrap();
            for _ in 0..2 {
                Value::decode_into(&t, &bytes, &mut slot).unwrap();
                assert_eq!(slot, Some(Value::decode(&t, &bytes).unwrap()), "{cql_type}");
            }
        }
        let text = parse_type("text", &NoUdts).unwrap();
        Value::decode_into(&text, b"ok", &mut slot).unwrap();
        assert!(Value::decode_into(&text, &[0xff], &mut slot).is_err());
        let ascii = parse_type("ascii", &NoUdts).unwrap();
        Value::decode_into(&ascii, b"ok", &mut slot).unwrap();
        assert!(Value::decode_into(&ascii, "é".as_bytes(), &mut slot).is_err());
    }

    #[test]
    fn collections_and_tuples_serialize_with_int_length_frames() {
        let list = Value::List(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(
            list.to_bytes(),
            [0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 2]
        );
        let tuple = Value::Tuple(vec![Some(Value::Int(7)), None]);
        assert_eq!(
            tuple.to_bytes(),
            [0, 0, 0, 4, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn vectors_of_fixed_width_elements_have_no_length_prefixes() {
        let v = Value::Vector(vec![Value::Float(1.0), Value::Float(2.0)]);
        assert_eq!(v.to_bytes(), [0x3f, 0x80, 0, 0, 0x40, 0, 0, 0]);
        let texts = Value::Vector(vec![Value::Text("ab".into()), Value::Text("".into())]);
        assert_eq!(texts.to_bytes(), [2, b'a', b'b', 0]);
        assert_eq!(
            Value::decode(&t("vector<text, 2>"), &texts.to_bytes()),
            Ok(texts)
        );
    }

    #[test]
    fn vectors_of_dates_carry_length_prefixes_and_nested_fixed_vectors_do_not() {
        let dates = Value::Vector(vec![Value::Date(0), Value::Date(1)]);
        assert_eq!(dates.to_bytes(), [4, 0x80, 0, 0, 0, 4, 0x80, 0, 0, 1]);
        assert_eq!(
            Value::decode(&t("vector<date, 2>"), &dates.to_bytes()),
            Ok(dates)
        );
        let nested = Value::Vector(vec![
            Value::Vector(vec![Value::Int(1), Value::Int(2)]),
            Value::Vector(vec![Value::Int(3), Value::Int(4)]),
        ]);
        assert_eq!(nested.to_bytes().len(), 16);
        assert_eq!(
            Value::decode(&t("vector<vector<int, 2>, 2>"), &nested.to_bytes()),
            Ok(nested)
        );
    }

    #[test]
    fn every_kind_of_value_decodes_back_to_itself() {
        let cases = [
            ("ascii", Value::Ascii("abc".into())),
            ("text", Value::Text("هذا نص 🎵".into())),
            ("bigint", Value::Bigint(i64::MIN)),
            ("counter", Value::Counter(42)),
            ("blob", Value::Blob(vec![0, 1, 255])),
            ("boolean", Value::Boolean(false)),
            ("date", Value::Date(-719_162)),
            (
                "decimal",
                Value::Decimal(Decimal {
                    unscaled: Varint::from_i128(1),
                    scale: -3,
                }),
            ),
            ("double", Value::Double(f64::MAX)),
            (
                "duration",
                Value::Duration(Duration {
                    months: -1,
                    days: -2,
                    nanos: -3,
                }),
            ),
            ("float", Value::Float(-0.5)),
            ("inet", Value::Inet("::1".parse().unwrap())),
            ("int", Value::Int(i32::MIN)),
            ("smallint", Value::Smallint(i16::MAX)),
            ("time", Value::Time(86_399_999_999_999)),
            ("timestamp", Value::Timestamp(-1)),
            ("timeuuid", Value::Timeuuid([0x11; 16])),
            ("tinyint", Value::Tinyint(i8::MIN)),
            ("uuid", Value::Uuid([0xab; 16])),
            ("varint", Value::Varint(Varint::from_i128(i128::MAX))),
            ("set<int>", Value::Set(vec![Value::Int(1)])),
            (
                "map<text, frozen<list<int>>>",
                Value::Map(vec![(
                    Value::Text("k".into()),
                    Value::List(vec![Value::Int(3)]),
                )]),
            ),
            (
                "tuple<int, text>",
                Value::Tuple(vec![None, Some(Value::Text("x".into()))]),
            ),
            ("vector<float, 1>", Value::Vector(vec![Value::Float(3.5)])),
        ];
        for (ty, v) in cases {
            assert_eq!(Value::decode(&t(ty), &v.to_bytes()), Ok(v), "{ty}");
        }
    }

    #[test]
    fn truncated_or_oversized_bytes_are_refused() {
        assert!(matches!(
            Value::decode(&t("int"), &[0, 1]),
            Err(ValueError::Length {
                expected: 4,
                found: 2,
                ..
            })
        ));
        assert!(matches!(
            Value::decode(&t("list<int>"), &[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 1]),
            Err(ValueError::Truncated { .. })
        ));
        assert!(matches!(
            Value::decode(&t("list<int>"), &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]),
            Err(ValueError::Invalid { .. })
        ));
        assert!(Value::decode(&t("text"), &[0xff]).is_err());
        assert!(Value::decode(&t("duration"), &[0x02, 0x01]).is_err());
    }

    #[test]
    fn values_print_as_cql_literals() {
        assert_eq!(Value::Text("it's".into()).to_string(), "'it''s'");
        assert_eq!(Value::Date(0).to_string(), "'1970-01-01'");
        assert_eq!(Value::Date(-1).to_string(), "'1969-12-31'");
        assert_eq!(
            Value::Uuid([0xab; 16]).to_string(),
            "abababab-abab-abab-abab-abababababab"
        );
        assert_eq!(Value::Double(f64::NAN).to_string(), "NaN");
        assert_eq!(
            Value::Map(vec![(Value::Int(1), Value::Text("a".into()))]).to_string(),
            "{1: 'a'}"
        );
    }

    #[test]
    fn civil_dates_and_day_counts_are_inverse() {
        for days in [-800_000i64, -719_162, -1, 0, 1, 18_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(20_412), (2025, 11, 20));
    }
}
