//! Reading values of native CQL types from text: CQL literals as a user types them on the
//! command line (`42`, `'abc'`, `0xcafe`, `'2024-05-01T10:00:00Z'`, uuids, `true`). Text values
//! may be given with or without single quotes.

use thiserror::Error;

use super::types::{CqlType, NativeType};
use super::value::{Decimal, Value, Varint, days_from_civil};

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{text}` is not a {cql_type} value: {reason}")]
pub struct LiteralError {
    pub text: String,
    pub cql_type: String,
    pub reason: String,
}

/// Parses `text` as a value of `cql_type` (native types only).
pub fn parse_literal(cql_type: &CqlType, text: &str) -> Result<Value, LiteralError> {
    let err = |reason: &str| LiteralError {
        text: text.to_owned(),
        cql_type: cql_type.to_string(),
        reason: reason.to_owned(),
    };
    let CqlType::Native(native) = cql_type else {
        return Err(err("only native types can be given as literals here"));
    };
    let raw = text.trim();
    let unquoted = raw
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .map(|s| s.replace("''", "'"))
        .unwrap_or_else(|| raw.to_owned());
    let s = unquoted.as_str();
    let int = |what: &str| err(&format!("expected {what}"));
    Ok(match native {
        NativeType::Ascii if !s.is_ascii() => return Err(err("contains non-ASCII characters")),
        NativeType::Ascii => Value::Ascii(unquoted),
        NativeType::Text => Value::Text(unquoted),
        NativeType::Bigint => Value::Bigint(s.parse().map_err(|_| int("a 64-bit integer"))?),
        NativeType::Counter => Value::Counter(s.parse().map_err(|_| int("a 64-bit integer"))?),
        NativeType::Int => Value::Int(s.parse().map_err(|_| int("a 32-bit integer"))?),
        NativeType::Smallint => Value::Smallint(s.parse().map_err(|_| int("a 16-bit integer"))?),
        NativeType::Tinyint => Value::Tinyint(s.parse().map_err(|_| int("an 8-bit integer"))?),
        NativeType::Varint => Value::Varint(Varint::from_i128(
            s.parse()
                .map_err(|_| int("an integer (up to 128 bits here)"))?,
        )),
        NativeType::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => return Err(err("expected true or false")),
        },
        NativeType::Double => Value::Double(parse_float(s).ok_or_else(|| int("a number"))?),
        NativeType::Float => Value::Float(parse_float(s).ok_or_else(|| int("a number"))? as f32),
        NativeType::Decimal => {
            Value::Decimal(parse_decimal(s).ok_or_else(|| int("a decimal number"))?)
        }
        NativeType::Blob => {
            let hex = s
                .strip_prefix("0x")
                .or_else(|| s.strip_prefix("0X"))
                .ok_or_else(|| err("expected 0x followed by hex digits"))?;
            Value::Blob(parse_hex(hex).ok_or_else(|| err("expected an even number of hex digits"))?)
        }
        NativeType::Uuid | NativeType::Timeuuid => {
            let bytes = parse_uuid(s)
                .ok_or_else(|| err("expected a uuid like 123e4567-e89b-12d3-a456-426614174000"))?;
            if *native == NativeType::Timeuuid {
                if bytes[6] >> 4 != 1 {
                    return Err(err("a timeuuid must be a version 1 uuid"));
                }
                Value::Timeuuid(bytes)
            } else {
                Value::Uuid(bytes)
            }
        }
        NativeType::Inet => Value::Inet(
            s.parse()
                .map_err(|_| err("expected an IPv4 or IPv6 address"))?,
        ),
        NativeType::Date => match s.parse::<i64>() {
            Ok(days) => {
                Value::Date(i32::try_from(days).map_err(|_| err("day count out of range"))?)
            }
            Err(_) => Value::Date(parse_date(s).ok_or_else(|| err("expected YYYY-MM-DD"))?),
        },
        NativeType::Timestamp => match s.parse::<i64>() {
            Ok(ms) => Value::Timestamp(ms),
            Err(_) => Value::Timestamp(
                parse_timestamp_micros(s)
                    .ok_or_else(|| {
                        err("expected milliseconds or YYYY-MM-DD[ HH:MM:SS[.fff]][Z|+HH:MM]")
                    })?
                    .div_euclid(1000),
            ),
        },
        NativeType::Time => match s.parse::<i64>() {
            Ok(nanos) => Value::Time(nanos),
            Err(_) => Value::Time(
                parse_time_nanos(s).ok_or_else(|| err("expected HH:MM:SS[.fffffffff]"))?,
            ),
        },
        NativeType::Duration => return Err(err("durations cannot be given here")),
    })
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// `-12.340`, `1E-3`, `5`: digits with an optional fraction and exponent.
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    if digits.trim_start_matches(['-', '+']).is_empty() {
        return None;
    }
    if !digits
        .trim_start_matches(['-', '+'])
        .bytes()
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let unscaled: num_bigint::BigInt = digits.parse().ok()?;
    let scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
    Some(Decimal {
        unscaled: Varint::from_bigint(&unscaled),
        scale,
    })
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: String = s.chars().filter(|&c| c != '-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return None;
    }
    parse_hex(&hex)?.try_into().ok()
}

/// `YYYY-MM-DD` (years may be negative or have more than four digits) to days since the epoch.
pub fn parse_date(s: &str) -> Option<i32> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut parts = body.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let year = if neg { -year } else { year };
    i32::try_from(days_from_civil(year, month, day)).ok()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `HH:MM:SS[.fraction]` to nanoseconds since midnight.
pub fn parse_time_nanos(s: &str) -> Option<i64> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec: i64 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 || frac.len() > 9 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    Some(((h * 60 + m) * 60 + sec) * 1_000_000_000 + frac_nanos)
}

/// An ISO 8601 / RFC 3339 timestamp (`T` or space between date and time, optional fraction,
/// `Z`, `+HH`, `+HH:MM` or `+HHMM`; no zone means UTC) to microseconds since the epoch.
pub fn parse_timestamp_micros(s: &str) -> Option<i64> {
    canonical_timestamp_micros(s.as_bytes()).or_else(|| general_timestamp_micros(s))
}

/// [`parse_timestamp_micros`] for every spelling it takes, the slower way.
fn general_timestamp_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let split = s.find(['T', ' ']).unwrap_or(s.len());
    let days = i64::from(parse_date(&s[..split])?);
    let rest = s.get(split + 1..).unwrap_or("").trim();
    let (time, offset_secs) = split_zone(rest)?;
    let nanos = if time.is_empty() {
        0
    } else {
        parse_time_nanos(time)?
    };
    let micros = days * 86_400_000_000 + nanos / 1000 - offset_secs * 1_000_000;
    Some(micros)
}

/// The common spelling, `YYYY-MM-DD HH:MM:SS[.f]` (or `T` between) with an optional zone
/// `Z`, `±HH`, `±HHMM` or `±HH:MM` and up to 6 fraction digits, as PostgreSQL and most
/// exports print it, read at fixed positions without allocating. `None` for anything else,
/// which [`general_timestamp_micros`] then reads: where both read a text, they
/// agree (property test).
fn canonical_timestamp_micros(b: &[u8]) -> Option<i64> {
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digit = |i: usize| -> Option<i64> {
        let c = *b.get(i)?;
        c.is_ascii_digit().then(|| i64::from(c - b'0'))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)? as u32, two(8)? as u32);
    let (hour, minute, second) = (two(11)?, two(14)?, two(17)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut i = 19;
    let mut micros = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(d) = digit(i) {
            micros = micros * 10 + d;
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 6 {
            return None;
        }
        micros *= 10i64.pow((6 - digits) as u32);
    }
    let offset = match &b[i..] {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), zone @ ..] => {
            let (h, m) = match zone.len() {
                2 => (two(i + 1)?, 0),
                4 => (two(i + 1)?, two(i + 3)?),
                5 if zone[2] == b':' => (two(i + 1)?, two(i + 4)?),
                _ => return None,
            };
            let seconds = h * 3600 + m * 60;
            if *sign == b'-' { -seconds } else { seconds }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400_000_000 + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros
            - offset * 1_000_000,
    )
}

/// Splits a time of day from its zone suffix; returns the zone's offset east of UTC in seconds.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(time) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((time.trim(), 0));
    }
    let Some(i) = s.rfind(['+', '-']) else {
        return Some((s, 0));
    };
    let (time, zone) = (s[..i].trim(), &s[i..]);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|&c| c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i64, i64) = match digits.len() {
        2 => (digits.parse().ok()?, 0),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        _ => return None,
    };
    Some((time, sign * (h * 3600 + m * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{NoUdts, parse_type};

    fn lit(ty: &str, s: &str) -> Result<Value, LiteralError> {
        parse_literal(&parse_type(ty, &NoUdts).unwrap(), s)
    }

    proptest::proptest! {
        #[test]
        fn the_fast_timestamp_path_reads_what_the_general_one_reads(
            year in 0u32..10000, month in 0u32..14, day in 0u32..33, hour in 0u32..26,
            minute in 0u32..61, second in 0u32..62, frac in "(\\.[0-9]{0,8})?",
            sep in "[ T]", zone in "(Z|[+-][0-9]{2}(:?[0-9]{2})?|[+-][0-9]{1,3}|)",
        ) {
            let text = format!(
                "{year:04}-{month:02}-{day:02}{sep}{hour:02}:{minute:02}:{second:02}{frac}{zone}"
            );
            let fast = canonical_timestamp_micros(text.as_bytes());
            let general = general_timestamp_micros(&text);
            if fast.is_some() {
                proptest::prop_assert_eq!(fast, general, "{}", text);
            }
            proptest::prop_assert_eq!(parse_timestamp_micros(&text), general, "{}", text);
        }
    }

    #[test]
    fn postgresqls_timestamps_read_to_golden_microseconds() {
        let cases = [
            ("1970-01-01 00:00:00+00", 0),
            ("2019-03-04 12:34:56.123456+00", 1_551_702_896_123_456),
            ("2019-03-04 12:34:56.5", 1_551_702_896_500_000),
            ("2019-03-04T14:34:56+02:00", 1_551_702_896_000_000),
            ("2019-03-04 07:04:56-0530", 1_551_702_896_000_000),
            ("1969-12-31 23:59:59.999999Z", -1),
            ("2000-02-29 00:00:00", 951_782_400_000_000),
        ];
        for (text, micros) in cases {
            assert_eq!(
                canonical_timestamp_micros(text.as_bytes()),
                Some(micros),
                "{text}"
            );
            assert_eq!(general_timestamp_micros(text), Some(micros), "{text}");
        }
        assert_eq!(canonical_timestamp_micros(b"2001-02-29 00:00:00"), None);
    }

    #[test]
    fn text_may_be_quoted_or_bare() {
        assert_eq!(lit("text", "'it''s'"), Ok(Value::Text("it's".into())));
        assert_eq!(lit("text", "plain"), Ok(Value::Text("plain".into())));
    }

    #[test]
    fn numbers_uuids_blobs_and_addresses_parse() {
        assert_eq!(
            lit("bigint", "-9223372036854775808"),
            Ok(Value::Bigint(i64::MIN))
        );
        assert_eq!(lit("blob", "0xCAfe"), Ok(Value::Blob(vec![0xca, 0xfe])));
        assert_eq!(
            lit("uuid", "00000000-0000-0000-0000-0000000000ff"),
            Ok(Value::Uuid({
                let mut u = [0; 16];
                u[15] = 0xff;
                u
            }))
        );
        assert!(lit("timeuuid", "00000000-0000-4000-8000-000000000000").is_err());
        assert_eq!(lit("inet", "'10.0.0.1'").unwrap().to_string(), "'10.0.0.1'");
        assert_eq!(lit("decimal", "-1.50").unwrap().to_string(), "-1.50");
        assert_eq!(lit("decimal", "1E-3").unwrap().to_string(), "0.001");
        let huge = "-123456789012345678901234567890123456789012345678901234567890.5";
        assert_eq!(lit("decimal", huge).unwrap().to_string(), huge);
        assert!(lit("decimal", "1.2.3").is_err());
        assert!(lit("decimal", "0x10").is_err());
    }

    #[test]
    fn dates_and_timestamps_accept_iso_forms_and_zones() {
        assert_eq!(lit("date", "1970-01-02"), Ok(Value::Date(1)));
        assert!(lit("date", "2023-02-29").is_err());
        assert_eq!(
            lit("timestamp", "1970-01-01T00:00:01Z"),
            Ok(Value::Timestamp(1000))
        );
        assert_eq!(
            lit("timestamp", "1970-01-01 01:00:00+01:00"),
            Ok(Value::Timestamp(0))
        );
        assert_eq!(
            lit("timestamp", "1969-12-31T23:59:59.999-0000"),
            Ok(Value::Timestamp(-1))
        );
        assert_eq!(
            parse_timestamp_micros("2026-11-18 10:30:00.123456+00"),
            Some(1_794_997_800_123_456)
        );
        assert_eq!(lit("time", "00:00:01.5"), Ok(Value::Time(1_500_000_000)));
    }

    #[test]
    fn bad_literals_say_what_was_expected() {
        let err = lit("int", "4x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`4x` is not a int value: expected a 32-bit integer"
        );
    }
}
