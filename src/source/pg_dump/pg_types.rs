//! PostgreSQL types and their text forms (what COPY and pg_dump write) turned into CQL values.
//! Which PostgreSQL type may feed which CQL type is decided once, before any row is read
//! ([`Converter::new`]); converting a field then either gives the exact value or a reason the row
//! is rejected (out of range, malformed, a null inside an array).

use std::fmt;
use std::net::IpAddr;

use thiserror::Error;

use crate::model::literal::{parse_date, parse_decimal, parse_time_nanos, parse_timestamp_micros};
use crate::model::value::{Decimal, Varint};
use crate::model::{CqlType, NativeType, Value};

/// The PostgreSQL types cassbulk understands, by family.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgType {
    /// text, varchar, char, name, citext; enums and other types whose text form we keep as is.
    Text,
    Json,
    Int2,
    Int4,
    Int8,
    Numeric,
    Float4,
    Float8,
    Bool,
    Bytea,
    Uuid,
    Timestamp,
    Timestamptz,
    Date,
    Time,
    Inet,
    Array(Box<PgType>),
    /// Anything else (interval, money, geometric types, ...), by name: maps only to text.
    Other(String),
}

impl PgType {
    /// Reads a type as pg_dump writes it in `CREATE TABLE` (`character varying(64)`,
    /// `numeric(12,2)`, `timestamp(3) with time zone`, `text[]`, `public.mood`).
    pub fn parse(name: &str) -> PgType {
        let name = name.trim();
        if let Some(elem) = name.strip_suffix("[]") {
            return PgType::Array(Box::new(PgType::parse(elem)));
        }
        let lower = name.to_ascii_lowercase();
        // Drop type modifiers: "numeric(12,2)" -> "numeric", "timestamp(3) with time zone" ->
        // "timestamp with time zone".
        let mut base = String::with_capacity(lower.len());
        let mut depth = 0;
        for c in lower.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ if depth == 0 => base.push(c),
                _ => {}
            }
        }
        let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
        let base = base.strip_prefix("pg_catalog.").unwrap_or(&base);
        match base {
            "text" | "character varying" | "varchar" | "character" | "char" | "bpchar" | "name"
            | "citext" | "public.citext" => PgType::Text,
            "json" | "jsonb" => PgType::Json,
            "smallint" | "int2" => PgType::Int2,
            "integer" | "int" | "int4" => PgType::Int4,
            "bigint" | "int8" => PgType::Int8,
            "numeric" | "decimal" => PgType::Numeric,
            "real" | "float4" => PgType::Float4,
            "double precision" | "float8" => PgType::Float8,
            "boolean" | "bool" => PgType::Bool,
            "bytea" => PgType::Bytea,
            "uuid" => PgType::Uuid,
            "timestamp" | "timestamp without time zone" => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "date" => PgType::Date,
            "time" | "time without time zone" => PgType::Time,
            "inet" | "cidr" => PgType::Inet,
            _ => PgType::Other(name.to_owned()),
        }
    }

    /// The CQL type a table made from the dump gives a column of this type (`copy-schema
    /// --from-pgdump`): the one that holds every value exactly. Text, JSON, enums and
    /// types without a CQL counterpart (interval, money, tsvector, ...) become `text`, as
    /// they load; an array a `list` (of frozen lists when it has more dimensions).
    pub fn natural_cql(&self) -> String {
        let name = match self {
            PgType::Text | PgType::Json | PgType::Other(_) => "text",
            PgType::Int2 => "smallint",
            PgType::Int4 => "int",
            PgType::Int8 => "bigint",
            PgType::Numeric => "decimal",
            PgType::Float4 => "float",
            PgType::Float8 => "double",
            PgType::Bool => "boolean",
            PgType::Bytea => "blob",
            PgType::Uuid => "uuid",
            PgType::Timestamp | PgType::Timestamptz => "timestamp",
            PgType::Date => "date",
            PgType::Time => "time",
            PgType::Inet => "inet",
            PgType::Array(elem) => {
                return match elem.as_ref() {
                    PgType::Array(_) => format!("list<frozen<{}>>", elem.natural_cql()),
                    _ => format!("list<{}>", elem.natural_cql()),
                };
            }
        };
        name.to_owned()
    }

    /// True for text, JSON and the types pg_dump declares with `CREATE TYPE ... AS ENUM`
    /// (domains are their base types by now: `ddl::resolve_domains`), which load into text.
    fn is_textual(&self) -> bool {
        matches!(self, PgType::Text | PgType::Json | PgType::Other(_))
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PgType::Text => "text",
            PgType::Json => "json",
            PgType::Int2 => "smallint",
            PgType::Int4 => "integer",
            PgType::Int8 => "bigint",
            PgType::Numeric => "numeric",
            PgType::Float4 => "real",
            PgType::Float8 => "double precision",
            PgType::Bool => "boolean",
            PgType::Bytea => "bytea",
            PgType::Uuid => "uuid",
            PgType::Timestamp => "timestamp",
            PgType::Timestamptz => "timestamp with time zone",
            PgType::Date => "date",
            PgType::Time => "time",
            PgType::Inet => "inet",
            PgType::Array(elem) => return write!(f, "{elem}[]"),
            PgType::Other(name) => name,
        };
        f.write_str(name)
    }
}

/// A PostgreSQL column that cannot feed its CQL column.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("column {column}: PostgreSQL {pg_type} cannot be loaded into CQL {cql_type}{hint}")]
pub struct MappingError {
    pub column: String,
    pub pg_type: String,
    pub cql_type: String,
    pub hint: String,
}

/// Converts one PostgreSQL column's text values to one CQL column's values.
#[derive(Clone, Debug)]
pub struct Converter {
    pg: PgType,
    cql: CqlType,
}

impl Converter {
    /// Checks that `pg` can feed `cql` (recursively for arrays) before any row is read.
    pub fn new(column: &str, pg: PgType, cql: CqlType) -> Result<Converter, MappingError> {
        if !compatible(&pg, &cql) {
            let hint = match (&pg, &cql) {
                (PgType::Array(_), _) => " (arrays load into list or set columns)".to_owned(),
                (_, CqlType::Native(NativeType::Counter)) => {
                    " (counter columns cannot be written with timestamps)".to_owned()
                }
                (PgType::Other(_), _) => {
                    " (this PostgreSQL type loads only into text columns)".to_owned()
                }
                _ => String::new(),
            };
            return Err(MappingError {
                column: column.to_owned(),
                pg_type: pg.to_string(),
                cql_type: cql.to_string(),
                hint,
            });
        }
        Ok(Converter { pg, cql })
    }

    pub fn cql_type(&self) -> &CqlType {
        &self.cql
    }

    /// Converts a field's text form; the error is the reason the row is rejected.
    pub fn convert(&self, text: &str) -> Result<Value, String> {
        convert(&self.pg, &self.cql, text)
    }

    /// Appends the CQL serialized form of [`Converter::convert`]'s value to `out`; text goes
    /// straight across, without a [`Value`] in between. On error nothing is appended.
    pub fn encode(&self, text: &str, out: &mut Vec<u8>) -> Result<(), String> {
        match self.cql {
            CqlType::Native(NativeType::Text) => out.extend_from_slice(text.as_bytes()),
            CqlType::Native(NativeType::Ascii) if text.is_ascii() => {
                out.extend_from_slice(text.as_bytes())
            }
            _ => self.convert(text)?.encode(out),
        }
        Ok(())
    }
}

fn compatible(pg: &PgType, cql: &CqlType) -> bool {
    use NativeType as N;
    match (pg, cql) {
        (PgType::Array(elem), CqlType::List { elem: c, .. } | CqlType::Set { elem: c, .. }) => {
            compatible(elem, c)
        }
        (PgType::Array(_), CqlType::Native(N::Text | N::Ascii)) => true,
        (PgType::Array(_), _) => false,
        (_, CqlType::Native(N::Counter)) => false,
        (_, CqlType::Native(N::Text | N::Ascii)) => true,
        (p, _) if p.is_textual() => false,
        (PgType::Int2 | PgType::Int4 | PgType::Int8, CqlType::Native(c)) => {
            matches!(
                c,
                N::Tinyint | N::Smallint | N::Int | N::Bigint | N::Varint | N::Decimal | N::Double
            ) || (*pg == PgType::Int8 && *c == N::Timestamp)
        }
        (PgType::Numeric, CqlType::Native(c)) => {
            matches!(c, N::Decimal | N::Varint | N::Double | N::Float)
        }
        (PgType::Float4 | PgType::Float8, CqlType::Native(c)) => {
            matches!(c, N::Float | N::Double | N::Decimal)
        }
        (PgType::Bool, CqlType::Native(N::Boolean)) => true,
        (PgType::Bytea, CqlType::Native(N::Blob)) => true,
        (PgType::Uuid, CqlType::Native(N::Uuid | N::Timeuuid)) => true,
        (PgType::Timestamp | PgType::Timestamptz, CqlType::Native(N::Timestamp | N::Date)) => true,
        (PgType::Date, CqlType::Native(N::Date | N::Timestamp)) => true,
        (PgType::Time, CqlType::Native(N::Time)) => true,
        (PgType::Inet, CqlType::Native(N::Inet)) => true,
        _ => false,
    }
}

fn convert(pg: &PgType, cql: &CqlType, text: &str) -> Result<Value, String> {
    use NativeType as N;
    let native = match cql {
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } => {
            let PgType::Array(pg_elem) = pg else {
                return Err(format!("expected an array for {cql}"));
            };
            let items = parse_array(text)?
                .into_iter()
                .map(|item| match item {
                    Some(s) => convert(pg_elem, elem, &s),
                    None => Err(format!(
                        "the array {} has a NULL element, which a CQL {cql} cannot hold",
                        shorten(text)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(if matches!(cql, CqlType::Set { .. }) {
                Value::Set(set_of(items))
            } else {
                Value::List(items)
            });
        }
        CqlType::Native(n) => *n,
        other => {
            return Err(format!(
                "CQL {other} is not a load target for PostgreSQL values"
            ));
        }
    };
    let bad = |what: &str| format!("`{}` is not {what}", shorten(text));
    Ok(match native {
        N::Text => Value::Text(text.to_owned()),
        N::Ascii if text.is_ascii() => Value::Ascii(text.to_owned()),
        N::Ascii => return Err(format!("`{}` has non-ASCII characters", shorten(text))),
        N::Tinyint => Value::Tinyint(int_in_range(text, "an 8-bit integer")?),
        N::Smallint => Value::Smallint(int_in_range(text, "a 16-bit integer")?),
        N::Int => Value::Int(int_in_range(text, "a 32-bit integer")?),
        N::Bigint => Value::Bigint(int_in_range(text, "a 64-bit integer")?),
        N::Varint => {
            let d = parse_decimal(text).ok_or_else(|| bad("a number"))?;
            Value::Varint(integral(&d).ok_or_else(|| bad("a whole number"))?)
        }
        N::Decimal => Value::Decimal(match text {
            "NaN" | "Infinity" | "-Infinity" => {
                return Err(format!("`{text}` has no CQL decimal equivalent"));
            }
            _ => parse_decimal(text).ok_or_else(|| bad("a decimal number"))?,
        }),
        N::Double => Value::Double(pg_float(text).ok_or_else(|| bad("a number"))?),
        N::Float => Value::Float(pg_float32(text).ok_or_else(|| bad("a number"))?),
        N::Boolean => Value::Boolean(match text {
            "t" | "true" => true,
            "f" | "false" => false,
            _ => return Err(bad("a boolean (t or f)")),
        }),
        N::Blob => {
            Value::Blob(parse_bytea(text).ok_or_else(|| bad("bytea in hex or escape format"))?)
        }
        N::Uuid => Value::Uuid(parse_uuid(text).ok_or_else(|| bad("a uuid"))?),
        N::Timeuuid => {
            let u = parse_uuid(text).ok_or_else(|| bad("a uuid"))?;
            if u[6] >> 4 != 1 {
                return Err(format!(
                    "`{text}` is not a version 1 uuid, which a CQL timeuuid needs"
                ));
            }
            Value::Timeuuid(u)
        }
        N::Timestamp => match pg {
            PgType::Int8 => Value::Timestamp(text.parse().map_err(|_| bad("an integer"))?),
            _ => Value::Timestamp(pg_timestamp_micros(text)?.div_euclid(1000)),
        },
        N::Date => match pg {
            PgType::Date => Value::Date(pg_date(text)?),
            _ => Value::Date(pg_timestamp_micros(text)?.div_euclid(86_400_000_000) as i32),
        },
        N::Time => Value::Time(parse_time_nanos(text).ok_or_else(|| bad("a time of day"))?),
        N::Inet => Value::Inet(parse_inet(text).ok_or_else(|| {
            format!(
                "`{}` is not a host address (CQL inet has no netmask)",
                shorten(text)
            )
        })?),
        N::Counter | N::Duration => {
            return Err(format!("CQL {} is not a load target", native.name()));
        }
    })
}

/// The first 80 characters of a value, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn int_in_range<T: TryFrom<i128>>(text: &str, what: &str) -> Result<T, String> {
    let v: i128 = text
        .parse()
        .map_err(|_| format!("`{}` is not {what}", shorten(text)))?;
    T::try_from(v).map_err(|_| format!("{v} is out of range for {what}"))
}

/// The integer a decimal stands for, if it has no fractional part.
fn integral(d: &Decimal) -> Option<Varint> {
    let mut v = d.unscaled.to_bigint();
    let ten = num_bigint::BigInt::from(10);
    if d.scale >= 0 {
        for _ in 0..d.scale {
            if &v % &ten != num_bigint::BigInt::ZERO {
                return None;
            }
            v /= &ten;
        }
    } else {
        // A huge exponent would make a huge integer: refuse past any sane width.
        if d.scale < -10_000 {
            return None;
        }
        v *= ten.pow(d.scale.unsigned_abs());
    }
    Some(Varint::from_bigint(&v))
}

/// Parsed straight to `f32`: going through `f64` could round twice.
fn pg_float32(text: &str) -> Option<f32> {
    match text {
        "NaN" => Some(f32::NAN),
        "Infinity" => Some(f32::INFINITY),
        "-Infinity" => Some(f32::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

fn pg_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

/// Elements of a set, sorted and deduplicated by their serialized bytes, as Cassandra keeps them.
fn set_of(items: Vec<Value>) -> Vec<Value> {
    let mut keyed: Vec<(Vec<u8>, Value)> = items.into_iter().map(|v| (v.to_bytes(), v)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    keyed.into_iter().map(|(_, v)| v).collect()
}

/// bytea's hex format (`\x0a0b`) or escape format (`\000`, `\\`, printable bytes as is).
pub fn parse_bytea(text: &str) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix("\\x") {
        let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        if !digits.len().is_multiple_of(2) {
            return None;
        }
        return digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
            .collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = bytes.get(i + 1..i + 4)?;
            if !octal.iter().all(|b| (b'0'..=b'7').contains(b)) {
                return None;
            }
            let v = octal
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(v).ok()?);
            i += 4;
        }
    }
    Some(out)
}

fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

fn parse_inet(text: &str) -> Option<IpAddr> {
    match text.split_once('/') {
        None => text.parse().ok(),
        Some((addr, bits)) => {
            let addr: IpAddr = addr.parse().ok()?;
            let full = if addr.is_ipv4() { "32" } else { "128" };
            (bits == full).then_some(addr)
        }
    }
}

/// A date as PostgreSQL prints it with DateStyle ISO (`2024-05-01`, `0044-03-15 BC`).
fn pg_date(text: &str) -> Result<i32, String> {
    let (body, bc) = match text.strip_suffix(" BC") {
        Some(b) => (b, true),
        None => (text, false),
    };
    if matches!(text, "infinity" | "-infinity") {
        return Err(format!("`{text}` has no CQL date equivalent"));
    }
    let body = if bc {
        // 1 BC is year 0 in ISO 8601, 2 BC is year -1.
        let (year, rest) = body.split_once('-').ok_or("malformed BC date")?;
        let year: i64 = year.parse().map_err(|_| "malformed BC date")?;
        format!("{}-{rest}", 1 - year)
    } else {
        body.to_owned()
    };
    parse_date(&body).ok_or_else(|| format!("`{text}` is not a date"))
}

/// A timestamp as PostgreSQL prints it with DateStyle ISO, microseconds since the epoch:
/// `2026-11-18 10:30:00.123456` (no zone: UTC) or `... +05:30` / `+00` for timestamptz.
pub fn pg_timestamp_micros(text: &str) -> Result<i64, String> {
    if matches!(text, "infinity" | "-infinity") {
        return Err(format!("`{text}` has no CQL timestamp equivalent"));
    }
    let (body, bc) = match text.strip_suffix(" BC") {
        Some(b) => (b, true),
        None => (text, false),
    };
    let bc_body;
    let body = if bc {
        let (year, rest) = body.split_once('-').ok_or("malformed BC timestamp")?;
        let year: i64 = year.parse().map_err(|_| "malformed BC timestamp")?;
        bc_body = format!("{}-{rest}", 1 - year);
        &bc_body
    } else {
        body
    };
    parse_timestamp_micros(body).ok_or_else(|| format!("`{}` is not a timestamp", shorten(text)))
}

/// A one-dimensional array literal (`{a,"b c",NULL,"q\"uote"}`) into its element texts.
pub fn parse_array(text: &str) -> Result<Vec<Option<String>>, String> {
    let malformed = |why: &str| format!("malformed array {}: {why}", shorten(text));
    // Arrays with explicit bounds print as "[0:1]={...}".
    let body = match text.find("={") {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let inner = body
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .ok_or_else(|| malformed("expected {...}"))?;
    if inner.starts_with('{') {
        return Err(format!(
            "the array {} has several dimensions; CQL collections take one",
            shorten(text)
        ));
    }
    let mut items = Vec::new();
    if inner.is_empty() {
        return Ok(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => item.push(
                        chars
                            .next()
                            .ok_or_else(|| malformed("ends inside an escape"))?,
                    ),
                    Some(c) => item.push(c),
                    None => return Err(malformed("unterminated quoted element")),
                }
            }
            items.push(Some(item));
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    item.push(
                        chars
                            .next()
                            .ok_or_else(|| malformed("ends inside an escape"))?,
                    );
                    continue;
                }
                item.push(c);
                chars.next();
            }
            let item = item.trim().to_owned();
            items.push(if item.eq_ignore_ascii_case("NULL") {
                None
            } else {
                Some(item)
            });
        }
        match chars.next() {
            None => break,
            Some(',') => continue,
            Some(c) => return Err(malformed(&format!("unexpected `{c}` after an element"))),
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{NoUdts, parse_type};

    #[test]
    fn every_postgresql_type_loads_into_the_cql_type_copy_schema_gives_it() {
        let names = [
            "text",
            "character varying(64)",
            "character(3)",
            "json",
            "jsonb",
            "smallint",
            "integer",
            "bigint",
            "numeric(12,2)",
            "real",
            "double precision",
            "boolean",
            "bytea",
            "uuid",
            "timestamp without time zone",
            "timestamp(3) with time zone",
            "date",
            "time without time zone",
            "inet",
            "cidr",
            "public.mood",
            "interval",
            "money",
            "tsvector",
            "text[]",
            "integer[]",
            "numeric[]",
            "public.mood[]",
            "integer[][]",
        ];
        for name in names {
            let pg = PgType::parse(name);
            let cql = pg.natural_cql();
            let cql_type = parse_type(&cql, &NoUdts).unwrap_or_else(|e| panic!("{name}: {e}"));
            Converter::new("c", pg, cql_type).unwrap_or_else(|e| panic!("{name} -> {cql}: {e}"));
        }
        let golden = [
            ("numeric(12,2)", "decimal"),
            ("timestamp(3) with time zone", "timestamp"),
            ("public.mood", "text"),
            ("integer[]", "list<int>"),
            ("integer[][]", "list<frozen<list<int>>>"),
        ];
        for (pg, cql) in golden {
            assert_eq!(PgType::parse(pg).natural_cql(), cql, "{pg}");
        }
    }

    fn conv(pg: &str, cql: &str, text: &str) -> Result<Value, String> {
        Converter::new("c", PgType::parse(pg), parse_type(cql, &NoUdts).unwrap())
            .map_err(|e| e.to_string())?
            .convert(text)
    }

    #[test]
    fn type_names_as_pg_dump_writes_them_are_understood() {
        assert_eq!(PgType::parse("character varying(255)"), PgType::Text);
        assert_eq!(PgType::parse("numeric(12,2)"), PgType::Numeric);
        assert_eq!(
            PgType::parse("timestamp(3) with time zone"),
            PgType::Timestamptz
        );
        assert_eq!(
            PgType::parse("text[]"),
            PgType::Array(Box::new(PgType::Text))
        );
        assert_eq!(
            PgType::parse("public.mood"),
            PgType::Other("public.mood".into())
        );
    }

    #[test]
    fn incompatible_pairs_are_refused_naming_the_column_and_both_types() {
        let err = Converter::new("balance", PgType::Bool, parse_type("int", &NoUdts).unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column balance: PostgreSQL boolean cannot be loaded into CQL int"
        );
        assert!(
            Converter::new(
                "x",
                PgType::parse("text[]"),
                parse_type("int", &NoUdts).unwrap()
            )
            .is_err()
        );
        assert!(
            Converter::new(
                "x",
                PgType::parse("interval"),
                parse_type("text", &NoUdts).unwrap()
            )
            .is_ok()
        );
    }

    #[test]
    fn numbers_convert_exactly_and_out_of_range_values_are_rejected() {
        assert_eq!(
            conv("bigint", "bigint", "-9223372036854775808"),
            Ok(Value::Bigint(i64::MIN))
        );
        assert!(
            conv("integer", "smallint", "40000")
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(
            conv("numeric", "decimal", "-0.010").unwrap().to_string(),
            "-0.010"
        );
        assert_eq!(
            conv("numeric", "varint", "12.00"),
            Ok(Value::Varint(Varint::from_i128(12)))
        );
        assert!(conv("numeric", "varint", "12.5").is_err());
        assert!(conv("numeric", "decimal", "NaN").is_err());
        assert!(
            matches!(conv("double precision", "double", "NaN"), Ok(Value::Double(v)) if v.is_nan())
        );
        assert_eq!(
            conv("real", "float", "-Infinity"),
            Ok(Value::Float(f32::NEG_INFINITY))
        );
    }

    #[test]
    fn bytea_in_hex_and_escape_format_becomes_blob_bytes() {
        assert_eq!(parse_bytea("\\x00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(
            parse_bytea("ab\\000\\\\c\\377"),
            Some(vec![b'a', b'b', 0, b'\\', b'c', 255])
        );
        assert_eq!(parse_bytea("\\x0"), None);
        assert_eq!(parse_bytea("\\9"), None);
    }

    #[test]
    fn timestamps_keep_microseconds_and_honour_offsets() {
        assert_eq!(pg_timestamp_micros("1970-01-01 00:00:00.000001+00"), Ok(1));
        assert_eq!(pg_timestamp_micros("1970-01-01 05:30:00+05:30"), Ok(0));
        assert_eq!(pg_timestamp_micros("1969-12-31 23:59:59.999999"), Ok(-1));
        assert_eq!(
            pg_timestamp_micros("0001-01-01 00:00:00+00 BC").map(|m| m < 0),
            Ok(true)
        );
        assert!(pg_timestamp_micros("infinity").is_err());
        assert_eq!(
            conv(
                "timestamp with time zone",
                "timestamp",
                "2026-11-18 10:30:00.123999+00"
            ),
            Ok(Value::Timestamp(1_794_997_800_123))
        );
        assert_eq!(
            conv("date", "date", "0001-01-01 BC"),
            Ok(Value::Date(-719_528))
        );
    }

    #[test]
    fn arrays_become_lists_and_deduplicated_sets() {
        assert_eq!(
            parse_array(r#"{a,"b c",NULL,"q\"u\\ote","NULL"}"#),
            Ok(vec![
                Some("a".into()),
                Some("b c".into()),
                None,
                Some("q\"u\\ote".into()),
                Some("NULL".into())
            ])
        );
        assert_eq!(parse_array("{}"), Ok(vec![]));
        assert!(
            parse_array("{{1,2},{3,4}}")
                .unwrap_err()
                .contains("several dimensions")
        );
        assert_eq!(
            conv("text[]", "set<text>", "{b,a,b}"),
            Ok(Value::Set(vec![
                Value::Text("a".into()),
                Value::Text("b".into())
            ]))
        );
        assert_eq!(
            conv("integer[]", "list<int>", "[0:1]={5,4}"),
            Ok(Value::List(vec![Value::Int(5), Value::Int(4)]))
        );
        assert!(
            conv("text[]", "list<text>", "{a,NULL}")
                .unwrap_err()
                .contains("NULL element")
        );
    }

    #[test]
    fn inet_loads_host_addresses_and_refuses_networks() {
        assert_eq!(
            conv("inet", "inet", "10.1.2.3"),
            Ok(Value::Inet("10.1.2.3".parse().unwrap()))
        );
        assert_eq!(
            conv("inet", "inet", "::1/128"),
            Ok(Value::Inet("::1".parse().unwrap()))
        );
        assert!(conv("cidr", "inet", "10.0.0.0/8").is_err());
    }

    #[test]
    fn booleans_uuids_and_text_pass_through() {
        assert_eq!(conv("boolean", "boolean", "t"), Ok(Value::Boolean(true)));
        assert!(conv("boolean", "boolean", "yes").is_err());
        assert!(conv("uuid", "timeuuid", "123e4567-e89b-42d3-a456-426614174000").is_err());
        assert_eq!(
            conv("jsonb", "text", "{\"a\": 1}"),
            Ok(Value::Text("{\"a\": 1}".into()))
        );
        assert_eq!(
            conv("public.mood", "text", "happy"),
            Ok(Value::Text("happy".into()))
        );
    }
}
