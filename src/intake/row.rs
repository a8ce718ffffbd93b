//! One source row on its way into the partition builder: the row trait every source fills
//! ([`RowAccess`], column by column in schema order, as serialized CQL values, NULLs or a
//! collection's elements), the reusable row buffer ([`RowValues`]), and the one function that
//! turns a row into a one-row partition of timestamped cells ([`build_partition`]). Rows that
//! cannot become a partition say why ([`RowError`]); the source turns that into a reject.

use std::fmt;

use crate::model::cell::{ColumnData, RowLiveness};
use crate::model::collection::{CollectionError, ElementCells, explode};
use crate::model::token::composite_key;
use crate::model::{
    Cell, ColumnKind, Liveness, Partition, Row, SmallBytes, TableSchema, Token, Value,
};

/// What SQL NULL (or a missing value) does to a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NullMode {
    /// Leave the column as it is in Cassandra (nothing is written).
    #[default]
    Unset,
    /// Write a deletion with the row's write time.
    Delete,
}

/// What a row's TTL counts from.
///
/// A load counts it from the load ([`TtlOrigin::At`] its start), as Cassandra counts `USING TTL`
/// from when a node applies the write, whatever `USING TIMESTAMP` says: both routes then give the
/// same `ttl()`. `verify` counts it from the row's write time, the earliest expiry a correct load
/// can have left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlOrigin {
    #[default]
    WriteTime,
    /// Seconds since the epoch.
    At(i64),
}

impl TtlOrigin {
    /// The liveness of a row written at `timestamp` (µs) with `ttl` seconds (`None` or 0: live).
    pub fn liveness(self, timestamp: i64, ttl: Option<u32>) -> Liveness {
        match (ttl, self) {
            (Some(ttl), TtlOrigin::WriteTime) if ttl > 0 => Liveness::expiring_from(timestamp, ttl),
            (Some(ttl), TtlOrigin::At(now)) if ttl > 0 => Liveness::Expiring {
                ttl,
                local_deletion_time: now + i64::from(ttl),
            },
            _ => Liveness::Live,
        }
    }
}

/// Where a row's values are: one serialized value (or NULL) per CQL column, in schema order.
pub trait RowAccess {
    /// The serialized value of CQL column `column`, `None` for NULL or not mapped. A column held
    /// as elements has none: read it through [`RowAccess::column`].
    fn value(&self, column: usize) -> Option<&[u8]>;

    /// CQL column `column`: NULL, its serialized value, or the elements of a collection.
    #[inline]
    fn column(&self, column: usize) -> ColumnRef<'_> {
        match self.value(column) {
            Some(value) => ColumnRef::Value(value),
            None => ColumnRef::Null,
        }
    }
}

/// One column of one row, as [`RowAccess::column`] gives it.
pub enum ColumnRef<'a> {
    Null,
    Value(&'a [u8]),
    /// Row `.1` of a multi-cell collection column held as elements.
    Elements(&'a dyn ElementColumn, usize),
}

/// A multi-cell collection column held as its elements, for every row of a batch.
pub trait ElementColumn: Send + Sync + fmt::Debug {
    /// Whether row `row`'s collection is NULL.
    fn is_null(&self, row: usize) -> bool;
    /// Adds the elements of row `row` (not NULL, not rejected), in order, to `cells`.
    fn add_elements(&self, row: usize, cells: &mut ElementCells<'_>);
    /// Heap bytes held, roughly, for the memory limit.
    fn heap_size(&self) -> usize;
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
    let liveness = TtlOrigin::WriteTime.liveness(timestamp, ttl);
    build_partition(schema, &row, mapped, timestamp, liveness, nulls)
}

/// [`row_partition`] for values already serialized, every cell written at `timestamp` with
/// `liveness` (live or expiring: see [`TtlOrigin::liveness`]): the sources' hot path.
pub fn build_partition(
    schema: &TableSchema,
    values: &impl RowAccess,
    mapped: &[bool],
    timestamp: i64,
    liveness: Liveness,
    nulls: NullMode,
) -> Result<Partition, RowError> {
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
pub(crate) mod tests {
    use super::*;

    /// `ks.accounts (username text PRIMARY KEY, email text, tags set<text>)`.
    pub(crate) fn schema() -> TableSchema {
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
            let built =
                build_partition(schema, &values, &mapped, 1, Liveness::Live, NullMode::Unset);
            assert_eq!(
                check_primary_key(schema, &values),
                built.map(|_| ()),
                "{} {row:?}",
                schema.name
            );
        }
    }

    #[test]
    fn a_load_counts_ttls_from_its_start_and_verify_from_the_write_time() {
        let written = 1_000_000_000_000_000; // µs: 2001-09-09
        let load = TtlOrigin::At(1_800_000_000);
        assert_eq!(
            load.liveness(written, Some(60)),
            Liveness::Expiring {
                ttl: 60,
                local_deletion_time: 1_800_000_060
            }
        );
        assert_eq!(
            TtlOrigin::WriteTime.liveness(written, Some(60)),
            Liveness::Expiring {
                ttl: 60,
                local_deletion_time: 1_000_000_060
            }
        );
        for origin in [load, TtlOrigin::WriteTime] {
            assert_eq!(origin.liveness(written, None), Liveness::Live);
            assert_eq!(origin.liveness(written, Some(0)), Liveness::Live);
        }
    }
}
