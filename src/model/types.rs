//! CQL types: every native type, collections, tuples, user-defined types and vectors, with the
//! parser for the type strings Cassandra stores in `system_schema` (`frozen<map<text, int>>`,
//! `vector<float, 3>`, quoted UDT names) and a `Display` that writes them back the same way.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

/// The native (scalar) CQL types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NativeType {
    Ascii,
    Bigint,
    Blob,
    Boolean,
    Counter,
    Date,
    Decimal,
    Double,
    Duration,
    Float,
    Inet,
    Int,
    Smallint,
    Text,
    Time,
    Timestamp,
    Timeuuid,
    Tinyint,
    Uuid,
    Varint,
}

impl NativeType {
    /// Every native type, in the order of the CQL reference.
    pub const ALL: [NativeType; 20] = [
        NativeType::Ascii,
        NativeType::Bigint,
        NativeType::Blob,
        NativeType::Boolean,
        NativeType::Counter,
        NativeType::Date,
        NativeType::Decimal,
        NativeType::Double,
        NativeType::Duration,
        NativeType::Float,
        NativeType::Inet,
        NativeType::Int,
        NativeType::Smallint,
        NativeType::Text,
        NativeType::Time,
        NativeType::Timestamp,
        NativeType::Timeuuid,
        NativeType::Tinyint,
        NativeType::Uuid,
        NativeType::Varint,
    ];

    /// The CQL name (`varchar` is an alias of `text` and reads back as `text`).
    pub fn name(self) -> &'static str {
        match self {
            NativeType::Ascii => "ascii",
            NativeType::Bigint => "bigint",
            NativeType::Blob => "blob",
            NativeType::Boolean => "boolean",
            NativeType::Counter => "counter",
            NativeType::Date => "date",
            NativeType::Decimal => "decimal",
            NativeType::Double => "double",
            NativeType::Duration => "duration",
            NativeType::Float => "float",
            NativeType::Inet => "inet",
            NativeType::Int => "int",
            NativeType::Smallint => "smallint",
            NativeType::Text => "text",
            NativeType::Time => "time",
            NativeType::Timestamp => "timestamp",
            NativeType::Timeuuid => "timeuuid",
            NativeType::Tinyint => "tinyint",
            NativeType::Uuid => "uuid",
            NativeType::Varint => "varint",
        }
    }

    fn from_name(name: &str) -> Option<NativeType> {
        let lower = name.to_ascii_lowercase();
        if lower == "varchar" {
            return Some(NativeType::Text);
        }
        NativeType::ALL.into_iter().find(|t| t.name() == lower)
    }

    /// The width of the serialized value when it is fixed, as Cassandra's
    /// `AbstractType.valueLengthIfFixed` says (used by vectors and SSTables).
    pub fn fixed_len(self) -> Option<usize> {
        match self {
            NativeType::Bigint | NativeType::Double | NativeType::Timestamp => Some(8),
            NativeType::Int | NativeType::Float => Some(4),
            NativeType::Uuid | NativeType::Timeuuid => Some(16),
            NativeType::Boolean => Some(1),
            // counter, date, time, smallint and tinyint have a natural width but Cassandra's
            // types declare none, which is what the vector format follows.
            _ => None,
        }
    }
}

/// A user-defined type: its keyspace, name and fields in declaration order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UdtDef {
    pub keyspace: String,
    pub name: String,
    pub fields: Vec<(String, CqlType)>,
}

/// A CQL type as a column, a collection element or a field can have it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CqlType {
    Native(NativeType),
    List {
        elem: Box<CqlType>,
        frozen: bool,
    },
    Set {
        elem: Box<CqlType>,
        frozen: bool,
    },
    Map {
        key: Box<CqlType>,
        value: Box<CqlType>,
        frozen: bool,
    },
    /// Tuples are always frozen.
    Tuple(Vec<CqlType>),
    Udt {
        def: Arc<UdtDef>,
        frozen: bool,
    },
    /// `vector<elem, dimension>` (Cassandra 5.0); always frozen.
    Vector {
        elem: Box<CqlType>,
        dimension: usize,
    },
    /// A custom type given by its Java class name.
    Custom(String),
}

impl CqlType {
    /// The width of every serialized value of this type, when Cassandra declares one: fixed
    /// native types, and vectors of fixed-width elements (nested vectors included).
    pub fn fixed_len(&self) -> Option<usize> {
        match self {
            CqlType::Native(t) => t.fixed_len(),
            CqlType::Vector { elem, dimension } => elem.fixed_len().map(|n| n * dimension),
            _ => None,
        }
    }

    /// True for a list, set or map that is not frozen: each element is then a cell of its own,
    /// with its own timestamp, TTL and cell path, and merges element by element.
    pub fn is_multi_cell(&self) -> bool {
        match self {
            CqlType::List { frozen, .. }
            | CqlType::Set { frozen, .. }
            | CqlType::Map { frozen, .. }
            | CqlType::Udt { frozen, .. } => !frozen,
            _ => false,
        }
    }

    /// The same type frozen, as `frozen<...>` makes it: the outer collection or UDT and every
    /// collection nested inside it (Cassandra freezes nested types implicitly).
    pub fn frozen(self) -> CqlType {
        let deep = |t: Box<CqlType>| Box::new(t.frozen());
        match self {
            CqlType::List { elem, .. } => CqlType::List {
                elem: deep(elem),
                frozen: true,
            },
            CqlType::Set { elem, .. } => CqlType::Set {
                elem: deep(elem),
                frozen: true,
            },
            CqlType::Map { key, value, .. } => CqlType::Map {
                key: deep(key),
                value: deep(value),
                frozen: true,
            },
            CqlType::Tuple(elems) => {
                CqlType::Tuple(elems.into_iter().map(CqlType::frozen).collect())
            }
            CqlType::Udt { def, .. } => CqlType::Udt { def, frozen: true },
            other => other,
        }
    }
}

impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frozen = |f: &mut fmt::Formatter<'_>, frozen: bool, inner: fmt::Arguments| {
            if frozen {
                write!(f, "frozen<{inner}>")
            } else {
                write!(f, "{inner}")
            }
        };
        match self {
            CqlType::Native(t) => f.write_str(t.name()),
            CqlType::List { elem, frozen: fr } => frozen(f, *fr, format_args!("list<{elem}>")),
            CqlType::Set { elem, frozen: fr } => frozen(f, *fr, format_args!("set<{elem}>")),
            CqlType::Map {
                key,
                value,
                frozen: fr,
            } => frozen(f, *fr, format_args!("map<{key}, {value}>")),
            CqlType::Tuple(elems) => {
                f.write_str("frozen<tuple<")?;
                for (i, e) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(">>")
            }
            CqlType::Udt { def, frozen: fr } => {
                frozen(f, *fr, format_args!("{}", quote_identifier(&def.name)))
            }
            CqlType::Vector { elem, dimension } => write!(f, "vector<{elem}, {dimension}>"),
            CqlType::Custom(class) => write!(f, "'{class}'"),
        }
    }
}

/// CQL's reserved keywords (Cassandra 3.0 to 5.0, and a few words older versions reserved):
/// a column named `null` or `order` must be quoted. Quoting a word that needs no quotes is
/// harmless, so the list errs on the side of more.
const RESERVED: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "between",
    "by",
    "columnfamily",
    "count",
    "create",
    "default",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "key",
    "keyspace",
    "limit",
    "materialized",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "unset",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// Quotes a CQL identifier when it needs quotes (anything but lower-case letters, digits and
/// underscores, starting with a letter, and reserved keywords), doubling inner double quotes.
pub fn quote_identifier(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Why a type string could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeParseError {
    #[error("cannot read CQL type `{input}`: {reason} at character {offset}")]
    Syntax {
        input: String,
        offset: usize,
        reason: String,
    },
    #[error(
        "CQL type `{input}` names the user-defined type `{name}`, which the keyspace does not define"
    )]
    UnknownUdt { input: String, name: String },
}

/// Looks up a user-defined type by name while parsing.
pub trait UdtResolver {
    fn resolve(&self, name: &str) -> Option<Arc<UdtDef>>;
}

/// A resolver that knows no user-defined types.
pub struct NoUdts;

impl UdtResolver for NoUdts {
    fn resolve(&self, _name: &str) -> Option<Arc<UdtDef>> {
        None
    }
}

impl<F: Fn(&str) -> Option<Arc<UdtDef>>> UdtResolver for F {
    fn resolve(&self, name: &str) -> Option<Arc<UdtDef>> {
        self(name)
    }
}

/// Parses a type string as `system_schema.columns.type` holds it.
pub fn parse_type(input: &str, udts: &dyn UdtResolver) -> Result<CqlType, TypeParseError> {
    let mut p = Parser {
        input,
        pos: 0,
        udts,
    };
    let t = p.parse()?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.error("unexpected text after the type"));
    }
    Ok(t)
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    udts: &'a dyn UdtResolver,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> TypeParseError {
        TypeParseError::Syntax {
            input: self.input.to_owned(),
            offset: self.pos,
            reason: reason.to_owned(),
        }
    }

    fn skip_ws(&mut self) {
        while self.input[self.pos..].starts_with(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.input[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), TypeParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{c}`")))
        }
    }

    /// An identifier, unquoted (folded to lower case) or double-quoted (kept as is).
    fn identifier(&mut self) -> Result<String, TypeParseError> {
        self.skip_ws();
        let rest = &self.input[self.pos..];
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = quoted.char_indices();
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        out.push('"');
                        chars.next();
                    } else {
                        self.pos += i + 2;
                        return Ok(out);
                    }
                } else {
                    out.push(c);
                }
            }
            return Err(self.error("unterminated quoted identifier"));
        }
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a type name"));
        }
        self.pos += len;
        Ok(rest[..len].to_owned())
    }

    fn parse(&mut self) -> Result<CqlType, TypeParseError> {
        self.skip_ws();
        if self.input[self.pos..].starts_with('\'') {
            let rest = &self.input[self.pos + 1..];
            let end = rest
                .find('\'')
                .ok_or_else(|| self.error("unterminated custom type class name"))?;
            self.pos += end + 2;
            return Ok(CqlType::Custom(rest[..end].to_owned()));
        }
        let quoted = self.input[self.pos..].starts_with('"');
        let name = self.identifier()?;
        if !quoted {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "frozen" => {
                    self.expect('<')?;
                    let inner = self.parse()?;
                    self.expect('>')?;
                    return Ok(inner.frozen());
                }
                "list" | "set" => {
                    self.expect('<')?;
                    let elem = Box::new(self.parse()?);
                    self.expect('>')?;
                    return Ok(if lower == "list" {
                        CqlType::List {
                            elem,
                            frozen: false,
                        }
                    } else {
                        CqlType::Set {
                            elem,
                            frozen: false,
                        }
                    });
                }
                "map" => {
                    self.expect('<')?;
                    let key = Box::new(self.parse()?);
                    self.expect(',')?;
                    let value = Box::new(self.parse()?);
                    self.expect('>')?;
                    return Ok(CqlType::Map {
                        key,
                        value,
                        frozen: false,
                    });
                }
                "tuple" => {
                    self.expect('<')?;
                    // Tuple elements are frozen whether or not the string says so.
                    let mut elems = vec![self.parse()?.frozen()];
                    while self.eat(',') {
                        elems.push(self.parse()?.frozen());
                    }
                    self.expect('>')?;
                    return Ok(CqlType::Tuple(elems));
                }
                "vector" => {
                    self.expect('<')?;
                    let elem = Box::new(self.parse()?);
                    self.expect(',')?;
                    self.skip_ws();
                    let digits = self.identifier()?;
                    let dimension = digits
                        .parse()
                        .map_err(|_| self.error("expected the vector's dimension"))?;
                    self.expect('>')?;
                    return Ok(CqlType::Vector { elem, dimension });
                }
                _ => {}
            }
            if let Some(native) = NativeType::from_name(&name) {
                return Ok(CqlType::Native(native));
            }
        }
        // Anything else names a user-defined type; system_schema stores UDTs unfrozen
        // unless wrapped in frozen<...>.
        let def = self
            .udts
            .resolve(&name)
            .ok_or_else(|| TypeParseError::UnknownUdt {
                input: self.input.to_owned(),
                name: name.clone(),
            })?;
        Ok(CqlType::Udt { def, frozen: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> CqlType {
        parse_type(s, &NoUdts).unwrap()
    }

    #[test]
    fn identifiers_are_quoted_when_case_characters_or_a_reserved_keyword_require_it() {
        assert_eq!(quote_identifier("user_id"), "user_id");
        assert_eq!(quote_identifier("null"), "\"null\"");
        assert_eq!(quote_identifier("order"), "\"order\"");
        assert_eq!(quote_identifier("Name"), "\"Name\"");
        assert_eq!(quote_identifier("c_customer_sk:"), "\"c_customer_sk:\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn every_native_type_parses_from_its_name_and_prints_back() {
        for t in NativeType::ALL {
            assert_eq!(parse(t.name()), CqlType::Native(t));
            assert_eq!(CqlType::Native(t).to_string(), t.name());
        }
        assert_eq!(parse("varchar"), CqlType::Native(NativeType::Text));
    }

    #[test]
    fn nested_frozen_collections_round_trip_through_display() {
        for s in [
            "list<int>",
            "set<text>",
            "map<text, int>",
            "frozen<list<int>>",
            "map<text, frozen<list<frozen<set<uuid>>>>>",
            "frozen<tuple<int, text, frozen<map<int, blob>>>>",
            "vector<float, 3>",
            "list<frozen<tuple<bigint, double>>>",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn frozen_freezes_every_collection_nested_inside() {
        assert_eq!(
            parse("frozen<map<text, list<int>>>"),
            parse("frozen<map<text, frozen<list<int>>>>")
        );
    }

    #[test]
    fn whitespace_inside_type_strings_is_ignored() {
        assert_eq!(parse(" map < text ,int > "), parse("map<text, int>"));
    }

    #[test]
    fn only_unfrozen_collections_and_udts_are_multi_cell() {
        assert!(parse("list<int>").is_multi_cell());
        assert!(!parse("frozen<list<int>>").is_multi_cell());
        assert!(!parse("tuple<int, int>").is_multi_cell());
        assert!(!parse("vector<float, 2>").is_multi_cell());
    }

    #[test]
    fn user_defined_types_are_resolved_by_name_including_quoted_names() {
        let addr = Arc::new(UdtDef {
            keyspace: "ks".into(),
            name: "Address".into(),
            fields: vec![("city".into(), CqlType::Native(NativeType::Text))],
        });
        let resolver = |name: &str| (name == "Address").then(|| addr.clone());
        let t = parse_type("frozen<\"Address\">", &resolver).unwrap();
        assert_eq!(
            t,
            CqlType::Udt {
                def: addr.clone(),
                frozen: true
            }
        );
        assert_eq!(t.to_string(), "frozen<\"Address\">");
        assert!(matches!(
            parse_type("frozen<address>", &resolver),
            Err(TypeParseError::UnknownUdt { .. })
        ));
    }

    #[test]
    fn custom_types_keep_their_class_name() {
        assert_eq!(
            parse("'org.apache.cassandra.db.marshal.DynamicCompositeType'"),
            CqlType::Custom("org.apache.cassandra.db.marshal.DynamicCompositeType".into())
        );
    }

    #[test]
    fn malformed_type_strings_are_errors_with_an_offset() {
        for s in [
            "list<int",
            "map<int>",
            "frozen<>",
            "vector<float, x>",
            "int int",
        ] {
            let err = parse_type(s, &NoUdts).unwrap_err();
            assert!(err.to_string().contains(s), "{err}");
        }
    }
}
