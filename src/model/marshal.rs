//! Cassandra's internal type names, as an SSTable's serialization header stores them
//! (`org.apache.cassandra.db.marshal.MapType(org.apache.cassandra.db.marshal.UTF8Type,...)`,
//! `AbstractType.toString()`), read into the model's [`CqlType`] ([`parse`]) and written from
//! it ([`type_name`], for the SSTables cassbulk writes). `ReversedType` (a DESC
//! clustering column) reads as its base type and reports that it was reversed;
//! `FrozenType(...)` freezes what it wraps; a `UserType` carries its keyspace and its name and
//! field names in hex.

use std::sync::Arc;

use crate::model::types::UdtDef;
use crate::model::{CqlType, NativeType};

/// A type name read, and whether it was `ReversedType(...)` (a DESC clustering column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderType {
    pub cql: CqlType,
    pub reversed: bool,
    /// The name as written.
    pub name: String,
}

const PACKAGE: &str = "org.apache.cassandra.db.marshal.";

/// The name Cassandra gives `cql` (`AbstractType.toString()`), `ReversedType(...)` around it
/// when `reversed` (a DESC clustering column). A frozen type is `FrozenType(...)` only where
/// its container is not frozen itself; tuples never say it; a UDT's name and field names are
/// hex. A composite partition key is a tuple of its parts: give it to [`key_type_name`].
pub fn type_name(cql: &CqlType, reversed: bool) -> String {
    let mut out = String::new();
    if reversed {
        out.push_str(PACKAGE);
        out.push_str("ReversedType(");
    }
    write_type(cql, false, &mut out);
    if reversed {
        out.push(')');
    }
    out
}

/// The partition key's type name: its one column's, or `CompositeType(...)` of several.
pub fn key_type_name(parts: &[&CqlType]) -> String {
    match parts {
        [one] => type_name(one, false),
        _ => {
            let mut out = format!("{PACKAGE}CompositeType(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_type(part, false, &mut out);
            }
            out.push(')');
            out
        }
    }
}

fn native_name(native: NativeType) -> &'static str {
    use NativeType as N;
    match native {
        N::Ascii => "AsciiType",
        N::Bigint => "LongType",
        N::Blob => "BytesType",
        N::Boolean => "BooleanType",
        N::Counter => "CounterColumnType",
        N::Date => "SimpleDateType",
        N::Decimal => "DecimalType",
        N::Double => "DoubleType",
        N::Duration => "DurationType",
        N::Float => "FloatType",
        N::Inet => "InetAddressType",
        N::Int => "Int32Type",
        N::Smallint => "ShortType",
        N::Text => "UTF8Type",
        N::Time => "TimeType",
        N::Timestamp => "TimestampType",
        N::Timeuuid => "TimeUUIDType",
        N::Tinyint => "ByteType",
        N::Uuid => "UUIDType",
        N::Varint => "IntegerType",
    }
}

/// Writes `cql`'s name; `ignore_freezing` inside a frozen container (what
/// `toString(ignoreFreezing)` passes down).
fn write_type(cql: &CqlType, ignore_freezing: bool, out: &mut String) {
    let frozen_wrapper = |frozen: bool, out: &mut String| {
        let wrap = frozen && !ignore_freezing;
        if wrap {
            out.push_str(PACKAGE);
            out.push_str("FrozenType(");
        }
        wrap
    };
    out.push_str(PACKAGE);
    match cql {
        CqlType::Native(n) => out.push_str(native_name(*n)),
        CqlType::List { elem, frozen } | CqlType::Set { elem, frozen } => {
            out.truncate(out.len() - PACKAGE.len());
            let wrap = frozen_wrapper(*frozen, out);
            out.push_str(PACKAGE);
            out.push_str(if matches!(cql, CqlType::List { .. }) {
                "ListType("
            } else {
                "SetType("
            });
            write_type(elem, ignore_freezing || *frozen, out);
            out.push(')');
            if wrap {
                out.push(')');
            }
        }
        CqlType::Map { key, value, frozen } => {
            out.truncate(out.len() - PACKAGE.len());
            let wrap = frozen_wrapper(*frozen, out);
            out.push_str(PACKAGE);
            out.push_str("MapType(");
            write_type(key, ignore_freezing || *frozen, out);
            out.push(',');
            write_type(value, ignore_freezing || *frozen, out);
            out.push(')');
            if wrap {
                out.push(')');
            }
        }
        CqlType::Tuple(items) => {
            out.push_str("TupleType(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_type(item, true, out);
            }
            out.push(')');
        }
        CqlType::Vector { elem, dimension } => {
            out.push_str("VectorType(");
            write_type(elem, ignore_freezing, out);
            out.push_str(&format!(" , {dimension})"));
        }
        CqlType::Custom(class) => {
            out.truncate(out.len() - PACKAGE.len());
            out.push_str(class);
        }
        CqlType::Udt { def, frozen } => {
            out.truncate(out.len() - PACKAGE.len());
            let wrap = frozen_wrapper(*frozen, out);
            out.push_str(PACKAGE);
            out.push_str("UserType(");
            out.push_str(&def.keyspace);
            out.push(',');
            out.push_str(&hex(&def.name));
            for (name, ty) in &def.fields {
                out.push(',');
                out.push_str(&hex(name));
                out.push(':');
                write_type(ty, ignore_freezing || *frozen, out);
            }
            out.push(')');
            if wrap {
                out.push(')');
            }
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Reads a type name; the error says what was expected where.
pub fn parse(input: &str) -> Result<HeaderType, String> {
    let mut p = Parser { input, at: 0 };
    let (cql, reversed) = p.top()?;
    p.skip_spaces();
    if p.at != input.len() {
        return Err(p.error("the end of the type"));
    }
    Ok(HeaderType {
        cql,
        reversed,
        name: input.to_owned(),
    })
}

struct Parser<'a> {
    input: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> String {
        format!(
            "cannot read type `{}`: expected {expected} at character {}",
            self.input, self.at
        )
    }

    fn skip_spaces(&mut self) {
        while self.input[self.at..].starts_with(' ') {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.input[self.at..].starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("`{c}`")))
        }
    }

    /// A bare word: a class name (dots included), a number, a hex name or a keyspace.
    fn word(&mut self) -> Result<&str, String> {
        self.skip_spaces();
        let start = self.at;
        let rest = &self.input[start..];
        let len = rest
            .find(['(', ')', ',', ':', ' ', '='])
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("a name"));
        }
        self.at += len;
        Ok(&self.input[start..start + len])
    }

    fn top(&mut self) -> Result<(CqlType, bool), String> {
        let name = self.word()?.to_owned();
        if crate::model::token::class_short_name(&name) == "ReversedType" {
            self.expect('(')?;
            let inner = self.cql()?;
            self.expect(')')?;
            return Ok((inner, true));
        }
        Ok((self.rest_of(&name)?, false))
    }

    fn cql(&mut self) -> Result<CqlType, String> {
        let name = self.word()?.to_owned();
        self.rest_of(&name)
    }

    /// The type whose class name was just read: its arguments, if it takes any.
    fn rest_of(&mut self, name: &str) -> Result<CqlType, String> {
        let class = crate::model::token::class_short_name(name);
        if let Some(native) = native(class) {
            return Ok(CqlType::Native(native));
        }
        let list = |elem| CqlType::List {
            elem: Box::new(elem),
            frozen: false,
        };
        self.expect('(')?;
        // What a collection holds is frozen whether or not the name says so: CQL allows no
        // other, and Cassandra 3.0 wrote a UDT inside one without `FrozenType(...)`.
        let cql = match class {
            "ReversedType" => self.cql()?,
            "FrozenType" => self.cql()?.frozen(),
            "ListType" => list(self.cql()?.frozen()),
            "SetType" => CqlType::Set {
                elem: Box::new(self.cql()?.frozen()),
                frozen: false,
            },
            "MapType" => {
                let key = self.cql()?.frozen();
                self.expect(',')?;
                let value = self.cql()?.frozen();
                CqlType::Map {
                    key: Box::new(key),
                    value: Box::new(value),
                    frozen: false,
                }
            }
            "TupleType" => {
                let mut items = vec![self.cql()?.frozen()];
                while self.eat(',') {
                    items.push(self.cql()?.frozen());
                }
                CqlType::Tuple(items)
            }
            "VectorType" => {
                let elem = self.cql()?;
                self.expect(',')?;
                let dimension = self
                    .word()?
                    .parse()
                    .map_err(|_| self.error("a vector dimension"))?;
                CqlType::Vector {
                    elem: Box::new(elem),
                    dimension,
                }
            }
            "UserType" => {
                let keyspace = self.word()?.to_owned();
                self.expect(',')?;
                let name = unhex(self.word()?).ok_or_else(|| self.error("a hex type name"))?;
                let mut fields = Vec::new();
                while self.eat(',') {
                    let field =
                        unhex(self.word()?).ok_or_else(|| self.error("a hex field name"))?;
                    self.expect(':')?;
                    // Fields are frozen whether or not the name says so (CQL allows no other).
                    fields.push((field, self.cql()?.frozen()));
                }
                CqlType::Udt {
                    def: Arc::new(UdtDef {
                        keyspace,
                        name,
                        fields,
                    }),
                    frozen: false,
                }
            }
            "CompositeType" => {
                // A composite partition key: the key is read as bytes, its parts never decoded.
                let mut items = vec![self.cql()?];
                while self.eat(',') {
                    items.push(self.cql()?);
                }
                CqlType::Tuple(items)
            }
            other => return Err(format!("unsupported type {other} in `{}`", self.input)),
        };
        self.expect(')')?;
        Ok(cql)
    }
}

fn native(class: &str) -> Option<NativeType> {
    use NativeType as N;
    Some(match class {
        "AsciiType" => N::Ascii,
        "LongType" => N::Bigint,
        // A compact table's hidden `value` column, always empty: read as an empty blob.
        "BytesType" | "EmptyType" => N::Blob,
        "BooleanType" => N::Boolean,
        "CounterColumnType" => N::Counter,
        "SimpleDateType" => N::Date,
        "DecimalType" => N::Decimal,
        "DoubleType" => N::Double,
        "DurationType" => N::Duration,
        "FloatType" => N::Float,
        "InetAddressType" => N::Inet,
        "Int32Type" => N::Int,
        "ShortType" => N::Smallint,
        "UTF8Type" => N::Text,
        "TimeType" => N::Time,
        "TimestampType" | "DateType" => N::Timestamp,
        "TimeUUIDType" => N::Timeuuid,
        "ByteType" => N::Tinyint,
        "UUIDType" | "LexicalUUIDType" => N::Uuid,
        "IntegerType" => N::Varint,
        _ => return None,
    })
}

/// The text a hex string spells (a UDT's name or field names); `None` for anything that is not
/// pairs of hex digits spelling UTF-8.
fn unhex(hex: &str) -> Option<String> {
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let pairs = hex.as_bytes().chunks(2);
    let bytes: Option<Vec<u8>> = pairs
        .map(|pair| match pair {
            [high, low] => Some(digit(*high)? << 4 | digit(*low)?),
            _ => None,
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::{NoUdts, parse_type};

    const M: &str = "org.apache.cassandra.db.marshal.";

    fn cql(s: &str) -> CqlType {
        parse_type(s, &NoUdts).unwrap()
    }

    #[test]
    fn hex_names_that_are_not_pairs_of_hex_digits_are_refused_without_a_panic() {
        assert_eq!(unhex("6164647265737373").as_deref(), Some("addresss"));
        assert_eq!(unhex("4F4b").as_deref(), Some("OK"));
        // What the fuzzer found: a multi-byte character where a hex digit belongs.
        assert_eq!(unhex("6\u{6e3}1646472657373"), None);
        assert_eq!(unhex("616"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
        assert_eq!(unhex("c3"), None, "not UTF-8 on its own");
        assert!(parse(&format!("{M}UserType(ks,6\u{6e3}1646472657373)")).is_err());
    }

    #[test]
    fn native_and_collection_types_read_as_the_cql_types_they_are() {
        let read = |s: &str| parse(&s.replace("M.", M)).unwrap();
        assert_eq!(read("M.Int32Type").cql, cql("int"));
        assert_eq!(read("M.ListType(M.Int32Type)").cql, cql("list<int>"));
        assert_eq!(
            read("M.MapType(M.UTF8Type,M.Int32Type)").cql,
            cql("map<text, int>")
        );
        assert_eq!(
            read("M.FrozenType(M.ListType(M.UTF8Type))").cql,
            cql("frozen<list<text>>")
        );
        assert_eq!(
            read("M.TupleType(M.Int32Type,M.UTF8Type)").cql,
            cql("tuple<int, text>")
        );
        assert_eq!(
            read("M.VectorType(M.FloatType,3)").cql,
            cql("vector<float, 3>")
        );
        let desc = read("M.ReversedType(M.UTF8Type)");
        assert_eq!((desc.cql, desc.reversed), (cql("text"), true));
    }

    #[test]
    fn a_user_type_carries_its_keyspace_and_hex_names() {
        // From a real 5.0 node's header: fx.address (street text, zip int, tags frozen<set<text>>).
        let s = format!(
            "{M}UserType(fx,61646472657373,737472656574:{M}UTF8Type,7a6970:{M}Int32Type,74616773:{M}FrozenType({M}SetType({M}UTF8Type)))"
        );
        let t = parse(&s).unwrap().cql;
        let CqlType::Udt { def, frozen } = t else {
            panic!("{t:?}")
        };
        assert!(!frozen);
        assert_eq!(def.keyspace, "fx");
        assert_eq!(def.name, "address");
        let names: Vec<_> = def.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["street", "zip", "tags"]);
        assert_eq!(def.fields[2].1, cql("frozen<set<text>>"));
    }

    #[test]
    fn unknown_or_malformed_names_are_errors_that_quote_the_name() {
        let e = parse(&format!("{M}MapType({M}UTF8Type")).unwrap_err();
        assert!(e.contains("expected `,`"), "{e}");
        let e = parse("com.example.MyType(x)").unwrap_err();
        assert!(e.contains("unsupported type MyType"), "{e}");
    }
}
