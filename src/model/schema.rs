//! A table's schema: its columns with their CQL types and roles (partition key, clustering with
//! its order, static, regular), built from the rows of `system_schema.columns` and
//! `system_schema.types`. Building is a pure function of those rows; [`crate::cluster`] fetches them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::fmt::Write as _;
use std::sync::Arc;

use thiserror::Error;

use super::types::{CqlType, TypeParseError, UdtDef, UdtResolver, parse_type, quote_identifier};

/// A keyspace-qualified table name as the user writes it: `ks.t`, `"MyKs"."MyTable"`.
/// Unquoted names fold to lower case, as in CQL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TableName {
    pub keyspace: String,
    pub table: String,
}

/// A table name that is not `KEYSPACE.TABLE`.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a table name: write it as KEYSPACE.TABLE (quote mixed-case names: '\"Ks\".\"Table\"')"
)]
pub struct TableNameError(pub String);

impl TableName {
    pub fn parse(input: &str) -> Result<TableName, TableNameError> {
        let err = || TableNameError(input.to_owned());
        let (keyspace, rest) = identifier(input).ok_or_else(err)?;
        let rest = rest.strip_prefix('.').ok_or_else(err)?;
        let (table, rest) = identifier(rest).ok_or_else(err)?;
        if !rest.is_empty() {
            return Err(err());
        }
        Ok(TableName { keyspace, table })
    }
}

/// Reads one identifier from the start of `s`; returns it and the rest.
fn identifier(s: &str) -> Option<(String, &str)> {
    if let Some(quoted) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut rest = quoted;
        loop {
            let end = rest.find('"')?;
            out.push_str(&rest[..end]);
            rest = &rest[end + 1..];
            match rest.strip_prefix('"') {
                Some(after) => {
                    out.push('"');
                    rest = after;
                }
                None => break,
            }
        }
        (!out.is_empty()).then_some((out, rest))
    } else {
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        (end > 0).then(|| (s[..end].to_ascii_lowercase(), &s[end..]))
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}",
            quote_identifier(&self.keyspace),
            quote_identifier(&self.table)
        )
    }
}

/// The sort direction of a clustering column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClusteringOrder {
    Asc,
    Desc,
}

/// What a column is to its table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnKind {
    PartitionKey,
    Clustering(ClusteringOrder),
    Static,
    Regular,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnSchema {
    pub name: String,
    pub cql_type: CqlType,
    pub kind: ColumnKind,
}

/// The columns of a table in Cassandra's order: partition key components, clustering columns,
/// then static and regular columns by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    pub name: TableName,
    pub columns: Vec<ColumnSchema>,
    /// How many leading entries of `columns` are partition key components.
    pub partition_key_len: usize,
    /// How many entries after the partition key are clustering columns.
    pub clustering_len: usize,
}

impl TableSchema {
    pub fn partition_key(&self) -> &[ColumnSchema] {
        &self.columns[..self.partition_key_len]
    }

    pub fn clustering(&self) -> &[ColumnSchema] {
        &self.columns[self.partition_key_len..self.partition_key_len + self.clustering_len]
    }

    /// Static and regular columns.
    pub fn values(&self) -> &[ColumnSchema] {
        &self.columns[self.partition_key_len + self.clustering_len..]
    }

    /// Whether the table has static columns (a static row per partition).
    pub fn has_static(&self) -> bool {
        self.values().iter().any(|c| c.kind == ColumnKind::Static)
    }

    /// A column's index and schema by its exact (case-sensitive) name.
    pub fn column(&self, name: &str) -> Option<(usize, &ColumnSchema)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }
}

impl TableSchema {
    /// A table's columns, one per line, with their types and roles.
    pub fn describe(&self) -> String {
        let schema = self;
        let width = schema
            .columns
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(0);
        let mut out = format!("table {}\n", schema.name);
        for (i, c) in schema.columns.iter().enumerate() {
            let role = match c.kind {
                ColumnKind::PartitionKey => format!("partition key {}", i + 1),
                ColumnKind::Clustering(order) => format!(
                    "clustering {} {}",
                    i + 1 - schema.partition_key_len,
                    if order == ClusteringOrder::Desc {
                        "desc"
                    } else {
                        "asc"
                    }
                ),
                ColumnKind::Static => "static".into(),
                ColumnKind::Regular => String::new(),
            };
            let _ = writeln!(out, "  {:width$}  {}  {role}", c.name, c.cql_type);
        }
        out
    }

    /// A schema from `(name, kind, type)` triples in the words `system_schema` uses: kinds
    /// `partition_key`, `clustering`, `clustering desc`, `static`, `regular`; positions follow
    /// the order given. For tools, tests and benches that know a table without a cluster.
    pub fn from_columns(
        table: &str,
        columns: &[(&str, &str, &str)],
    ) -> Result<TableSchema, SchemaError> {
        let name = TableName::parse(table).map_err(|e| SchemaError::Kind {
            table: TableName {
                keyspace: String::new(),
                table: table.to_owned(),
            },
            column: String::new(),
            kind: e.to_string(),
        })?;
        let mut positions: std::collections::HashMap<&str, i32> = std::collections::HashMap::new();
        let rows: Vec<ColumnRow> = columns
            .iter()
            .map(|(column, kind, type_name)| {
                let (kind, order) = kind.split_once(' ').unwrap_or((kind, "asc"));
                // Like system_schema: key columns are numbered, the others are -1 (by name).
                let position = match kind {
                    "partition_key" | "clustering" => {
                        let next = positions.entry(kind).or_insert(0);
                        *next += 1;
                        *next - 1
                    }
                    _ => -1,
                };
                ColumnRow {
                    column_name: (*column).to_owned(),
                    clustering_order: order.to_owned(),
                    kind: kind.to_owned(),
                    position,
                    type_name: (*type_name).to_owned(),
                }
            })
            .collect();
        build_table_schema(&name, &rows, &[])
    }
}

/// One row of `system_schema.columns`.
#[derive(Clone, Debug)]
pub struct ColumnRow {
    pub column_name: String,
    pub clustering_order: String,
    pub kind: String,
    pub position: i32,
    pub type_name: String,
}

/// One row of `system_schema.types`.
#[derive(Clone, Debug)]
pub struct TypeRow {
    pub type_name: String,
    pub field_names: Vec<String>,
    pub field_types: Vec<String>,
}

/// Why a schema could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SchemaError {
    #[error(
        "table {0} does not exist (check the keyspace and table names, and that the schema was created)"
    )]
    NoSuchTable(TableName),
    #[error("column {column} of {table}: {source}")]
    Type {
        table: TableName,
        column: String,
        source: Box<TypeParseError>,
    },
    #[error("column {column} of {table} has the unknown kind `{kind}`")]
    Kind {
        table: TableName,
        column: String,
        kind: String,
    },
    #[error("user-defined type {keyspace}.{name}: {reason}")]
    Udt {
        keyspace: String,
        name: String,
        reason: String,
    },
}

/// Builds a table's schema from its `system_schema` rows (`types` are the keyspace's UDTs).
/// Whether a column's type is Cassandra's `empty` (`EmptyType`), as `system_schema` or a
/// `CREATE TABLE` names it.
pub fn is_empty_type(type_name: &str) -> bool {
    let t = type_name.trim().trim_matches('\'').to_ascii_lowercase();
    t == "empty" || t == "org.apache.cassandra.db.marshal.emptytype"
}

pub fn build_table_schema(
    name: &TableName,
    columns: &[ColumnRow],
    types: &[TypeRow],
) -> Result<TableSchema, SchemaError> {
    if columns.is_empty() {
        return Err(SchemaError::NoSuchTable(name.clone()));
    }
    let udts = KeyspaceUdts::new(&name.keyspace, types);
    let mut built = Vec::with_capacity(columns.len());
    for row in columns {
        // A compact table's hidden value column after DROP COMPACT STORAGE, type `empty`: it
        // holds no value, only says that a row exists, which cassbulk writes as the row's
        // liveness (the driver cannot bind the type). Left out of the table as cassbulk sees it.
        if row.kind == "regular" && is_empty_type(&row.type_name) {
            continue;
        }
        let cql_type = parse_type(&row.type_name, &udts).map_err(|source| SchemaError::Type {
            table: name.clone(),
            column: row.column_name.clone(),
            source: Box::new(source),
        })?;
        if let Some(err) = udts.error.borrow_mut().take() {
            return Err(err);
        }
        let kind = match row.kind.as_str() {
            "partition_key" => ColumnKind::PartitionKey,
            "clustering" => ColumnKind::Clustering(if row.clustering_order == "desc" {
                ClusteringOrder::Desc
            } else {
                ClusteringOrder::Asc
            }),
            "static" => ColumnKind::Static,
            "regular" => ColumnKind::Regular,
            other => {
                return Err(SchemaError::Kind {
                    table: name.clone(),
                    column: row.column_name.clone(),
                    kind: other.to_owned(),
                });
            }
        };
        let rank = match kind {
            ColumnKind::PartitionKey => 0,
            ColumnKind::Clustering(_) => 1,
            ColumnKind::Static | ColumnKind::Regular => 2,
        };
        built.push((rank, row.position, row.column_name.clone(), cql_type, kind));
    }
    built.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
    let partition_key_len = built.iter().filter(|c| c.0 == 0).count();
    let clustering_len = built.iter().filter(|c| c.0 == 1).count();
    Ok(TableSchema {
        name: name.clone(),
        columns: built
            .into_iter()
            .map(|(_, _, name, cql_type, kind)| ColumnSchema {
                name,
                cql_type,
                kind,
            })
            .collect(),
        partition_key_len,
        clustering_len,
    })
}

/// Resolves a keyspace's UDTs by name, parsing each definition once (UDTs may nest).
struct KeyspaceUdts<'a> {
    keyspace: &'a str,
    rows: HashMap<&'a str, &'a TypeRow>,
    resolved: RefCell<HashMap<String, Arc<UdtDef>>>,
    in_progress: RefCell<Vec<String>>,
    error: RefCell<Option<SchemaError>>,
}

impl<'a> KeyspaceUdts<'a> {
    fn new(keyspace: &'a str, types: &'a [TypeRow]) -> Self {
        KeyspaceUdts {
            keyspace,
            rows: types.iter().map(|t| (t.type_name.as_str(), t)).collect(),
            resolved: RefCell::default(),
            in_progress: RefCell::default(),
            error: RefCell::default(),
        }
    }

    fn fail(&self, name: &str, reason: String) -> Option<Arc<UdtDef>> {
        self.error.borrow_mut().get_or_insert(SchemaError::Udt {
            keyspace: self.keyspace.to_owned(),
            name: name.to_owned(),
            reason,
        });
        None
    }
}

impl UdtResolver for KeyspaceUdts<'_> {
    fn resolve(&self, name: &str) -> Option<Arc<UdtDef>> {
        if let Some(def) = self.resolved.borrow().get(name) {
            return Some(def.clone());
        }
        let row = self.rows.get(name)?;
        if self.in_progress.borrow().iter().any(|n| n == name) {
            return self.fail(name, "it contains itself".to_owned());
        }
        if row.field_names.len() != row.field_types.len() {
            return self.fail(name, "field names and types differ in number".to_owned());
        }
        self.in_progress.borrow_mut().push(name.to_owned());
        let mut fields = Vec::with_capacity(row.field_names.len());
        for (field, type_name) in row.field_names.iter().zip(&row.field_types) {
            match parse_type(type_name, self) {
                Ok(t) => fields.push((field.clone(), t)),
                Err(e) => {
                    self.in_progress.borrow_mut().pop();
                    return self.fail(name, format!("field {field}: {e}"));
                }
            }
        }
        self.in_progress.borrow_mut().pop();
        let def = Arc::new(UdtDef {
            keyspace: self.keyspace.to_owned(),
            name: name.to_owned(),
            fields,
        });
        self.resolved
            .borrow_mut()
            .insert(name.to_owned(), def.clone());
        Some(def)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::types::NativeType;

    fn col(name: &str, kind: &str, position: i32, ty: &str) -> ColumnRow {
        ColumnRow {
            column_name: name.into(),
            clustering_order: if kind == "clustering" && name.ends_with("_desc") {
                "desc".into()
            } else {
                "none".into()
            },
            kind: kind.into(),
            position,
            type_name: ty.into(),
        }
    }

    fn name() -> TableName {
        TableName::parse("ks.t").unwrap()
    }

    #[test]
    fn table_names_fold_unquoted_parts_and_keep_quoted_ones() {
        assert_eq!(
            TableName::parse("Ks.Accounts").unwrap(),
            TableName {
                keyspace: "ks".into(),
                table: "accounts".into()
            }
        );
        let quoted = TableName::parse("\"MyKs\".\"My\"\"T\"").unwrap();
        assert_eq!(quoted.keyspace, "MyKs");
        assert_eq!(quoted.table, "My\"T");
        assert_eq!(quoted.to_string(), "\"MyKs\".\"My\"\"T\"");
        for bad in ["accounts", "ks.", ".t", "ks.t.x", "ks t", "\"ks.t"] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn columns_are_ordered_key_first_then_clustering_then_the_rest_by_name() {
        let rows = [
            col("z", "regular", -1, "text"),
            col("c2_desc", "clustering", 1, "int"),
            col("k2", "partition_key", 1, "text"),
            col("s", "static", -1, "int"),
            col("c1", "clustering", 0, "timeuuid"),
            col("k1", "partition_key", 0, "bigint"),
            col("a", "regular", -1, "blob"),
        ];
        let schema = build_table_schema(&name(), &rows, &[]).unwrap();
        let names: Vec<_> = schema.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["k1", "k2", "c1", "c2_desc", "a", "s", "z"]);
        assert_eq!(schema.partition_key().len(), 2);
        assert_eq!(
            schema.clustering()[1].kind,
            ColumnKind::Clustering(ClusteringOrder::Desc)
        );
        assert_eq!(schema.values().len(), 3);
        assert_eq!(schema.column("s").unwrap().0, 5);
    }

    #[test]
    fn nested_user_defined_types_resolve_within_the_keyspace() {
        let types = [
            TypeRow {
                type_name: "address".into(),
                field_names: vec!["city".into(), "geo".into()],
                field_types: vec!["text".into(), "frozen<point>".into()],
            },
            TypeRow {
                type_name: "point".into(),
                field_names: vec!["lat".into(), "lon".into()],
                field_types: vec!["double".into(), "double".into()],
            },
        ];
        let rows = [
            col("k", "partition_key", 0, "int"),
            col("home", "regular", -1, "address"),
        ];
        let schema = build_table_schema(&name(), &rows, &types).unwrap();
        let CqlType::Udt { def, frozen } = &schema.columns[1].cql_type else {
            panic!("not a UDT: {:?}", schema.columns[1].cql_type);
        };
        assert!(!frozen);
        let CqlType::Udt { def: point, .. } = &def.fields[1].1 else {
            panic!("geo is not a UDT");
        };
        assert_eq!(
            point.fields[0].1,
            CqlType::Native(NativeType::Double),
            "point.lat"
        );
    }

    #[test]
    fn a_missing_table_and_an_unknown_type_are_clear_errors() {
        let err = build_table_schema(&name(), &[], &[]).unwrap_err();
        assert!(err.to_string().contains("ks.t does not exist"), "{err}");
        let rows = [col("k", "partition_key", 0, "frozen<nope>")];
        let err = build_table_schema(&name(), &rows, &[]).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
