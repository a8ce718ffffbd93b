//! From command-line flags to a validated mapping, shared by every source: which source column
//! feeds which CQL column (`--map`), where write times and TTLs come from, what SQL NULL means,
//! and how a row of converted values becomes a partition of timestamped cells.

use thiserror::Error;

use crate::batch::{ColumnRef, RowAccess};
use crate::model::cell::{ColumnData, RowLiveness};
use crate::model::collection::{CollectionError, ElementCells, explode};
use crate::model::literal::parse_timestamp_micros;
use crate::model::token::composite_key;
use crate::model::{
    Cell, ColumnKind, Liveness, Partition, Row, SmallBytes, TableSchema, Token, Value,
};

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    #[error("--map {0}: write each pair as cql_column=source_column")]
    MapSyntax(String),
    #[error(
        "--map names the CQL column {column}, which {table} does not have (its columns: {columns})"
    )]
    NoSuchCqlColumn {
        column: String,
        table: String,
        columns: String,
    },
    #[error(
        "{what} names the source column {column}, which {source_name} does not have (its columns: {columns})"
    )]
    NoSuchSourceColumn {
        what: String,
        column: String,
        source_name: String,
        columns: String,
    },
    #[error(
        "primary key column {column} of {table} has no source column; map one with --map {column}=SOURCE_COLUMN"
    )]
    UnmappedKey { column: String, table: String },
    #[error(
        "--writetime {0}: give RFC 3339 (2026-11-18T10:30:00.123456Z) or microseconds since the epoch"
    )]
    WriteTime(String),
    #[error(
        "{source_name} carries no snapshot time to use as the write time: add --writetime TIME (RFC 3339 or microseconds) or --writetime-column COLUMN"
    )]
    NoWriteTime { source_name: String },
}

/// What SQL NULL (or a missing value) does to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NullMode {
    /// Leave the column as it is in Cassandra (nothing is written).
    #[default]
    Unset,
    /// Write a deletion with the row's write time.
    Delete,
}

/// How source columns become CQL columns, with write times and TTLs: the part of `load` and
/// `verify` that every source shares.
#[derive(Debug, Clone, Default)]
pub struct MappingOptions {
    /// `(cql_column, source_column)` pairs from `--map`.
    pub map: Vec<(String, String)>,
    pub writetime_column: Option<String>,
    /// `--writetime`, in microseconds since the epoch.
    pub writetime: Option<i64>,
    pub ttl: Option<u32>,
    pub ttl_column: Option<String>,
    pub nulls: NullMode,
}

/// Parses a size such as `1GiB`, `48MiB`, `512MB`, `64k` or plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let bytes = number * factor;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

/// Parses `--map cql=source,...` pairs.
pub fn parse_map(pairs: &[String]) -> Result<Vec<(String, String)>, PlanError> {
    pairs
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (cql, src) = p
                .split_once('=')
                .ok_or_else(|| PlanError::MapSyntax(p.clone()))?;
            let (cql, src) = (cql.trim(), src.trim());
            if cql.is_empty() || src.is_empty() {
                return Err(PlanError::MapSyntax(p.clone()));
            }
            Ok((cql.to_owned(), src.to_owned()))
        })
        .collect()
}

/// Parses `--writetime`: microseconds since the epoch, or an RFC 3339 timestamp (µs exact).
pub fn parse_writetime(s: &str) -> Result<i64, PlanError> {
    s.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| parse_timestamp_micros(s))
        .ok_or_else(|| PlanError::WriteTime(s.to_owned()))
}

/// For each CQL column (schema order), the index of the source column that feeds it, if any.
/// Columns map by equal name unless `--map` says otherwise; every primary key column must map.
pub fn map_columns(
    schema: &TableSchema,
    source_name: &str,
    source_columns: &[String],
    map: &[(String, String)],
) -> Result<Vec<Option<usize>>, PlanError> {
    let list = |names: &mut dyn Iterator<Item = &str>| names.collect::<Vec<_>>().join(", ");
    for (cql, _) in map {
        if schema.column(cql).is_none() {
            return Err(PlanError::NoSuchCqlColumn {
                column: cql.clone(),
                table: schema.name.to_string(),
                columns: list(&mut schema.columns.iter().map(|c| c.name.as_str())),
            });
        }
    }
    let find_source = |what: &str, name: &str| {
        source_columns
            .iter()
            .position(|s| s == name)
            .ok_or_else(|| PlanError::NoSuchSourceColumn {
                what: what.to_owned(),
                column: name.to_owned(),
                source_name: source_name.to_owned(),
                columns: list(&mut source_columns.iter().map(String::as_str)),
            })
    };
    schema
        .columns
        .iter()
        .map(|c| {
            let mapped = map.iter().find(|(cql, _)| *cql == c.name);
            let index = match mapped {
                Some((_, src)) => Some(find_source("--map", src)?),
                None => source_columns.iter().position(|s| *s == c.name),
            };
            if index.is_none()
                && matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering(_))
            {
                return Err(PlanError::UnmappedKey {
                    column: c.name.clone(),
                    table: schema.name.to_string(),
                });
            }
            Ok(index)
        })
        .collect()
}

/// Finds a source column named by a flag such as `--writetime-column`.
pub fn source_column(
    what: &str,
    name: &str,
    source_name: &str,
    source_columns: &[String],
) -> Result<usize, PlanError> {
    source_columns
        .iter()
        .position(|s| s == name)
        .ok_or_else(|| PlanError::NoSuchSourceColumn {
            what: what.to_owned(),
            column: name.to_owned(),
            source_name: source_name.to_owned(),
            columns: source_columns.join(", "),
        })
}

/// Why a row cannot become a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub column: Option<String>,
    pub reason: String,
}

/// The values of one source row, serialized back to back in one buffer: what sources fill,
/// column by column in schema order, and [`build_partition`] reads. One per decoding thread,
/// cleared for each row, so a row costs no allocation until its cells are made.
#[derive(Debug, Default, Clone)]
pub struct RowValues {
    buf: Vec<u8>,
    /// Per column: the value's range in `buf`, or `None` for NULL (or not mapped).
    spans: Vec<Option<(u32, u32)>>,
}

impl RowValues {
    pub fn new() -> RowValues {
        RowValues::default()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.spans.clear();
    }

    pub fn push_null(&mut self) {
        self.spans.push(None);
    }

    pub fn push_value(&mut self, value: &Value) {
        let start = self.buf.len();
        value.encode(&mut self.buf);
        self.spans.push(Some((start as u32, self.buf.len() as u32)));
    }

    /// Appends a value already serialized, or NULL.
    pub fn push_bytes(&mut self, bytes: Option<&[u8]>) {
        self.spans.push(bytes.map(|b| {
            let start = self.buf.len();
            self.buf.extend_from_slice(b);
            (start as u32, self.buf.len() as u32)
        }));
    }

    /// Appends the value `encode` writes; it returns false (having written nothing) for NULL.
    pub fn push_encoded<E>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let start = self.buf.len();
        match encode(&mut self.buf) {
            Ok(true) => {
                self.spans.push(Some((start as u32, self.buf.len() as u32)));
                Ok(())
            }
            Ok(false) => {
                self.buf.truncate(start);
                self.spans.push(None);
                Ok(())
            }
            Err(e) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    /// The serialized value of column `i`, `None` for NULL.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans
            .get(i)
            .copied()
            .flatten()
            .map(|(s, e)| &self.buf[s as usize..e as usize])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl RowAccess for RowValues {
    fn value(&self, column: usize) -> Option<&[u8]> {
        self.get(column)
    }
}

/// Checks what [`build_partition`] refuses in a row's primary key without building anything: a
/// NULL key or clustering column, a composite key component over 65535 bytes, an empty key.
/// Sources that hand rows to the builder in batches run it on every row first.
pub fn check_primary_key(schema: &TableSchema, values: &impl RowAccess) -> Result<(), RowError> {
    let key_len = schema.partition_key_len;
    let mut key_bytes = 0;
    for (i, column) in schema.columns[..key_len + schema.clustering_len]
        .iter()
        .enumerate()
    {
        let value = values.value(i).ok_or_else(|| RowError {
            column: Some(column.name.clone()),
            reason: "a primary key column cannot be NULL".to_owned(),
        })?;
        if i < key_len {
            if key_len > 1 && value.len() > usize::from(u16::MAX) {
                return Err(RowError {
                    column: Some(column.name.clone()),
                    reason: crate::model::token::KeyTooLong {
                        index: i,
                        len: value.len(),
                    }
                    .to_string(),
                });
            }
            key_bytes += value.len();
        }
    }
    if key_len == 1 && key_bytes == 0 {
        return Err(RowError {
            column: Some(schema.columns[0].name.clone()),
            reason: "the partition key is empty, which Cassandra refuses".to_owned(),
        });
    }
    Ok(())
}

/// Builds the one-row partition of a source row: `values[i]` is the value of CQL column `i`
/// (`None`: NULL or not mapped, see `mapped`), written at `timestamp` with `ttl` seconds.
pub fn row_partition(
    schema: &TableSchema,
    values: Vec<Option<Value>>,
    mapped: &[bool],
    timestamp: i64,
    ttl: Option<u32>,
    nulls: NullMode,
) -> Result<Partition, RowError> {
    let mut row = RowValues::new();
    for value in &values {
        match value {
            Some(v) => row.push_value(v),
            None => row.push_null(),
        }
    }
    build_partition(schema, &row, mapped, timestamp, ttl, nulls)
}

/// [`row_partition`] for values already serialized: the sources' hot path.
pub fn build_partition(
    schema: &TableSchema,
    values: &impl RowAccess,
    mapped: &[bool],
    timestamp: i64,
    ttl: Option<u32>,
    nulls: NullMode,
) -> Result<Partition, RowError> {
    let liveness = match ttl {
        Some(ttl) if ttl > 0 => Liveness::expiring_from(timestamp, ttl),
        _ => Liveness::Live,
    };
    let key_len = schema.partition_key_len;
    let clustering_len = schema.clustering_len;
    let mut clustering = Vec::with_capacity(clustering_len);
    let mut columns = Vec::with_capacity(schema.columns.len() - key_len - clustering_len);
    let mut static_columns = Vec::new();
    for (i, column) in schema.columns.iter().enumerate() {
        let missing_key = || RowError {
            column: Some(column.name.clone()),
            reason: "a primary key column cannot be NULL".to_owned(),
        };
        match column.kind {
            // Checked here, joined below.
            ColumnKind::PartitionKey => {
                values.value(i).ok_or_else(missing_key)?;
            }
            ColumnKind::Clustering(_) => {
                clustering.push(values.value(i).ok_or_else(missing_key)?.to_vec())
            }
            ColumnKind::Regular | ColumnKind::Static => {
                let collection_error = |e: CollectionError| RowError {
                    column: Some(column.name.clone()),
                    reason: e.to_string(),
                };
                let data = match values.column(i) {
                    ColumnRef::Elements(elements, row) => {
                        let mut cells = ElementCells::new(i, &column.cql_type, timestamp, liveness)
                            .map_err(collection_error)?;
                        elements.add_elements(row, &mut cells);
                        cells.finish()
                    }
                    ColumnRef::Value(v) if column.cql_type.is_multi_cell() => {
                        explode(i, &column.cql_type, v, timestamp, liveness)
                            .map_err(collection_error)?
                    }
                    ColumnRef::Value(v) => ColumnData {
                        column: i,
                        cells: vec![Cell {
                            timestamp,
                            liveness,
                            path: SmallBytes::new(),
                            value: SmallBytes::from_slice(v),
                        }],
                        complex_deletion: None,
                    },
                    ColumnRef::Null if nulls == NullMode::Delete && mapped[i] => {
                        if column.cql_type.is_multi_cell() {
                            ColumnData {
                                column: i,
                                cells: Vec::new(),
                                complex_deletion: Some(crate::model::Deletion {
                                    timestamp: timestamp - 1,
                                    local_deletion_time: timestamp.div_euclid(1_000_000),
                                }),
                            }
                        } else {
                            ColumnData {
                                column: i,
                                cells: vec![Cell::tombstone(
                                    timestamp,
                                    timestamp.div_euclid(1_000_000),
                                )],
                                complex_deletion: None,
                            }
                        }
                    }
                    ColumnRef::Null => continue,
                };
                if column.kind == ColumnKind::Static {
                    static_columns.push(data);
                } else {
                    columns.push(data);
                }
            }
        }
    }
    let key_values = (0..key_len).map(|i| values.value(i).unwrap_or_default());
    let key_bytes = composite_key(key_values).map_err(|e| RowError {
        column: Some(schema.columns[e.index].name.clone()),
        reason: e.to_string(),
    })?;
    if key_bytes.is_empty() {
        return Err(RowError {
            column: Some(schema.columns[0].name.clone()),
            reason: "the partition key is empty, which Cassandra refuses".to_owned(),
        });
    }
    let row_liveness = Some(RowLiveness {
        timestamp,
        liveness,
    });
    let static_row = (!static_columns.is_empty()).then(|| Row {
        clustering: Vec::new(),
        liveness: None,
        deletion: None,
        columns: static_columns,
    });
    // A table without clustering columns keeps its one row; with them, a row needs the key.
    let rows = vec![Row {
        clustering,
        liveness: row_liveness,
        deletion: None,
        columns,
    }];
    Ok(Partition {
        token: Token::of_key(&key_bytes),
        key: key_bytes,
        deletion: None,
        range_deletions: Vec::new(),
        static_row,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.accounts",
            &[
                ("username", "partition_key", "text"),
                ("email", "regular", "text"),
                ("tags", "regular", "set<text>"),
            ],
        )
        .unwrap()
    }

    fn names(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_map_by_name_unless_map_says_otherwise() {
        let schema = schema();
        let src = names(&["user", "email", "other"]);
        let map = parse_map(&["username=user".into()]).unwrap();
        assert_eq!(
            map_columns(&schema, "dump", &src, &map).unwrap(),
            [Some(0), Some(1), None]
        );
    }

    #[test]
    fn an_unmapped_key_and_unknown_names_are_refused_with_the_fix() {
        let schema = schema();
        let err = map_columns(&schema, "dump", &names(&["email"]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("--map username=SOURCE_COLUMN"),
            "{err}"
        );
        let err = map_columns(
            &schema,
            "dump",
            &names(&["username"]),
            &[("nope".into(), "x".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("CQL column nope"), "{err}");
        let err = map_columns(
            &schema,
            "dump",
            &names(&["username"]),
            &[("email".into(), "mail".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("source column mail"), "{err}");
        assert_eq!(
            parse_map(&["a:b".into()]),
            Err(PlanError::MapSyntax("a:b".into()))
        );
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("48MiB"), Some(48 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("512MB"), Some(512_000_000));
        assert_eq!(parse_size("1.5k"), Some(1500));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }

    #[test]
    fn writetimes_parse_from_microseconds_or_rfc_3339() {
        assert_eq!(
            parse_writetime("1700000000000001"),
            Ok(1_700_000_000_000_001)
        );
        assert_eq!(parse_writetime("1970-01-01T00:00:00.000002Z"), Ok(2));
        assert!(parse_writetime("yesterday").is_err());
    }

    #[test]
    fn a_row_becomes_a_partition_with_every_cell_at_the_row_timestamp_and_ttl() {
        let schema = schema();
        let values = vec![
            Some(Value::Text("alice".into())),
            Some(Value::Text("a@x".into())),
            Some(Value::Set(vec![Value::Text("t".into())])),
        ];
        let p = row_partition(
            &schema,
            values,
            &[true; 3],
            1_000_000,
            Some(60),
            NullMode::Unset,
        )
        .unwrap();
        assert_eq!(p.key, b"alice");
        assert_eq!(p.token, Token::of_key(b"alice"));
        let row = &p.rows[0];
        assert_eq!(
            row.liveness.unwrap().liveness,
            Liveness::expiring_from(1_000_000, 60)
        );
        assert_eq!(row.columns.len(), 2);
        assert_eq!(row.columns[0].cells[0].timestamp, 1_000_000);
        assert_eq!(row.columns[1].complex_deletion.unwrap().timestamp, 999_999);
    }

    #[test]
    fn row_values_keep_each_columns_bytes_and_drop_what_a_null_or_failed_encoder_wrote() {
        let mut row = RowValues::new();
        row.push_value(&Value::Int(7));
        row.push_null();
        row.push_encoded(|out| {
            out.extend_from_slice(b"partial");
            Ok::<_, String>(false)
        })
        .unwrap();
        let failed = row.push_encoded(|out| {
            out.extend_from_slice(b"half a value");
            Err("bad".to_owned())
        });
        assert_eq!(failed, Err("bad".to_owned()));
        row.push_encoded(|out| {
            out.extend_from_slice(b"text");
            Ok::<_, String>(true)
        })
        .unwrap();
        assert_eq!(row.len(), 4, "a failed encoder adds no column");
        assert_eq!(row.get(0), Some(&[0, 0, 0, 7][..]));
        assert_eq!(row.get(1), None);
        assert_eq!(row.get(2), None);
        assert_eq!(row.get(3), Some(&b"text"[..]));
        assert_eq!(row.get(4), None);
        row.clear();
        assert!(row.is_empty());
    }

    #[test]
    fn a_composite_partition_key_is_stored_as_length_bytes_and_end_of_component() {
        let schema = TableSchema::from_columns(
            "ks.events",
            &[
                ("tenant", "partition_key", "text"),
                ("day", "partition_key", "int"),
                ("n", "regular", "int"),
            ],
        )
        .unwrap();
        let values = vec![Some(Value::Text("a".into())), Some(Value::Int(7)), None];
        let p = row_partition(&schema, values, &[true; 3], 5, None, NullMode::Unset).unwrap();
        assert_eq!(p.key, [0, 1, b'a', 0, 0, 4, 0, 0, 0, 7, 0]);
        assert_eq!(p.token, Token::of_key(&p.key));
    }

    #[test]
    fn nulls_are_left_unset_or_become_deletions_as_asked() {
        let schema = schema();
        let values = || vec![Some(Value::Text("bob".into())), None, None];
        let unset = row_partition(&schema, values(), &[true; 3], 5, None, NullMode::Unset).unwrap();
        assert!(unset.rows[0].columns.is_empty());
        let delete =
            row_partition(&schema, values(), &[true; 3], 5, None, NullMode::Delete).unwrap();
        assert!(delete.rows[0].columns[0].cells[0].liveness.is_tombstone());
        assert_eq!(
            delete.rows[0].columns[1]
                .complex_deletion
                .unwrap()
                .timestamp,
            4
        );
        let err = row_partition(
            &schema,
            vec![None, None, None],
            &[true; 3],
            5,
            None,
            NullMode::Unset,
        )
        .unwrap_err();
        assert_eq!(err.column.as_deref(), Some("username"));
    }
    #[test]
    fn check_primary_key_refuses_exactly_the_keys_build_partition_refuses_with_the_same_reason() {
        let composite = TableSchema::from_columns(
            "ks.events",
            &[
                ("user", "partition_key", "text"),
                ("day", "partition_key", "text"),
                ("at", "clustering", "int"),
                ("what", "regular", "text"),
            ],
        )
        .unwrap();
        let single = schema();
        let long = "x".repeat(70_000);
        let rows: Vec<(&TableSchema, Vec<Option<&str>>)> = vec![
            (
                &composite,
                vec![Some("a"), Some("b"), Some("\0\0\0\x01"), Some("w")],
            ),
            (&composite, vec![Some("a"), None, Some("\0\0\0\x01"), None]),
            (&composite, vec![Some("a"), Some("b"), None, Some("w")]),
            (
                &composite,
                vec![Some(""), Some(""), Some("\0\0\0\x01"), None],
            ),
            (
                &composite,
                vec![Some(&long), Some("b"), Some("\0\0\0\x01"), None],
            ),
            (&single, vec![Some(&long), None, None]),
            (&single, vec![Some(""), Some("e"), None]),
            (&single, vec![None, Some("e"), None]),
            (&single, vec![Some("u"), None, None]),
        ];
        for (schema, row) in rows {
            let mut values = RowValues::new();
            for v in &row {
                values.push_bytes(v.map(str::as_bytes));
            }
            let mapped = vec![true; schema.columns.len()];
            let built = build_partition(schema, &values, &mapped, 1, None, NullMode::Unset);
            assert_eq!(
                check_primary_key(schema, &values),
                built.map(|_| ()),
                "{} {row:?}",
                schema.name
            );
        }
    }
}
