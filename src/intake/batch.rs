//! Row batches: what a columnar source (Parquet) hands the partition builder. A batch holds up to
//! a thousand rows for one table, column by column: each column's values serialized as Cassandra
//! stores them, back to back in one buffer, plus each row's write time and TTL. That is a few
//! allocations per batch instead of a dozen per row, and the decoding threads only do format work;
//! the builder makes the rows' cells ([`RowBatch::partition`], through
//! [`super::build_partition`]) on its own threads, in parallel.
//!
//! A column may instead stay as the source holds it: text is read in place from Arrow's string
//! buffers ([`SharedValues`]), and a multi-cell collection (a Parquet list or map,
//! [`ElementColumn`]) has its rows' element cells made straight from the elements, never
//! serialized as a whole collection only to be split into cells again.
//!
//! Rows the source rejected stay in the batch (their values partly written) and are skipped.

use std::fmt;
use std::sync::Arc;

use crate::intake::row::{
    ColumnRef, ElementColumn, NullMode, RowAccess, RowError, TtlOrigin, build_partition,
};
use crate::model::{Partition, TableSchema};

/// A column a source already holds as CQL stores it (Arrow's string bytes are CQL text), read
/// in place rather than copied.
pub trait SharedValues: Send + Sync + fmt::Debug {
    /// The serialized value of row `row`, `None` for NULL.
    fn get(&self, row: usize) -> Option<&[u8]>;
    /// Heap bytes held, roughly, for the memory limit.
    fn heap_size(&self) -> usize;
}

/// The table a batch is for and how its NULLs are written: shared by every batch of an input.
#[derive(Debug)]
pub struct BatchShape {
    pub schema: Arc<TableSchema>,
    /// Per CQL column: whether the input maps it (only mapped NULLs may delete).
    pub mapped: Vec<bool>,
    pub nulls: NullMode,
    /// What the rows' TTLs count from.
    pub ttl_origin: TtlOrigin,
}

/// One column's values for every row of a batch.
#[derive(Debug, Clone)]
pub enum BatchColumn {
    /// Not mapped: NULL in every row.
    Absent,
    /// The same value (or NULL) in every row, such as a `dt=` folder segment.
    Constant(Option<Vec<u8>>),
    Values(ColumnValues),
    /// Values read in place from the source's own buffers.
    Shared(Arc<dyn SharedValues>),
    /// A multi-cell collection held as its elements.
    Elements(Arc<dyn ElementColumn>),
}

impl BatchColumn {
    #[inline]
    fn get(&self, row: usize) -> Option<&[u8]> {
        match self {
            BatchColumn::Absent | BatchColumn::Elements(_) => None,
            BatchColumn::Constant(value) => value.as_deref(),
            BatchColumn::Values(values) => values.get(row),
            BatchColumn::Shared(values) => values.get(row),
        }
    }

    #[inline]
    fn column(&self, row: usize) -> ColumnRef<'_> {
        match self {
            BatchColumn::Elements(e) if e.is_null(row) => ColumnRef::Null,
            BatchColumn::Elements(e) => ColumnRef::Elements(e.as_ref(), row),
            other => match other.get(row) {
                Some(value) => ColumnRef::Value(value),
                None => ColumnRef::Null,
            },
        }
    }

    fn heap_size(&self) -> usize {
        match self {
            BatchColumn::Absent => 0,
            BatchColumn::Constant(value) => value.as_ref().map_or(0, Vec::capacity),
            BatchColumn::Values(v) => {
                v.data.capacity() + v.ends.capacity() * 4 + v.present.capacity()
            }
            BatchColumn::Shared(v) => v.heap_size(),
            BatchColumn::Elements(e) => e.heap_size(),
        }
    }
}

/// Serialized values back to back: row `i` is `data[ends[i - 1]..ends[i]]` when `present[i]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnValues {
    pub data: Vec<u8>,
    pub ends: Vec<u32>,
    pub present: Vec<bool>,
}

impl ColumnValues {
    pub fn with_capacity(rows: usize, bytes: usize) -> ColumnValues {
        ColumnValues {
            data: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(rows),
            present: Vec::with_capacity(rows),
        }
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Ends the current row: the bytes written since the last row are its value.
    #[inline]
    pub fn end_value(&mut self) {
        self.ends.push(self.data.len() as u32);
        self.present.push(true);
    }

    #[inline]
    pub fn push_null(&mut self) {
        self.ends.push(self.data.len() as u32);
        self.present.push(false);
    }

    /// Appends the value `write` writes; it returns false (having written nothing) for NULL. On
    /// an error the row is NULL here (the caller rejects the row) and the error is returned.
    #[inline]
    pub fn push_with<E>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<bool, E>,
    ) -> Result<(), E> {
        let start = self.data.len();
        match write(&mut self.data) {
            Ok(true) => {
                self.end_value();
                Ok(())
            }
            Ok(false) => {
                self.data.truncate(start);
                self.push_null();
                Ok(())
            }
            Err(e) => {
                self.data.truncate(start);
                self.push_null();
                Err(e)
            }
        }
    }

    /// Row `row`'s value, `None` for NULL.
    #[inline]
    pub fn get(&self, row: usize) -> Option<&[u8]> {
        if !*self.present.get(row)? {
            return None;
        }
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        Some(&self.data[start as usize..self.ends[row] as usize])
    }
}

/// Rows of one table, column by column, with each row's write time and TTL.
#[derive(Debug, Clone)]
pub struct RowBatch {
    pub shape: Arc<BatchShape>,
    /// One per CQL column, in schema order.
    pub columns: Vec<BatchColumn>,
    /// Per row: the write time in µs since the epoch.
    pub timestamps: Vec<i64>,
    /// Per row: the TTL in seconds, 0 for none.
    pub ttls: Vec<u32>,
    /// Per row: rejected by the source (and reported there), so skipped.
    pub rejected: Vec<bool>,
}

/// One row of a batch, read through [`RowAccess`].
pub struct BatchRow<'a> {
    batch: &'a RowBatch,
    row: usize,
}

impl RowAccess for BatchRow<'_> {
    #[inline]
    fn value(&self, column: usize) -> Option<&[u8]> {
        self.batch.columns.get(column)?.get(self.row)
    }

    #[inline]
    fn column(&self, column: usize) -> ColumnRef<'_> {
        match self.batch.columns.get(column) {
            Some(c) => c.column(self.row),
            None => ColumnRef::Null,
        }
    }
}

impl RowBatch {
    /// Rows, rejected ones included.
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Rows that were not rejected.
    pub fn accepted(&self) -> usize {
        self.rejected.iter().filter(|r| !**r).count()
    }

    /// Heap bytes the batch holds, for the memory limit.
    pub fn heap_size(&self) -> usize {
        self.columns
            .iter()
            .map(BatchColumn::heap_size)
            .sum::<usize>()
            + self.timestamps.capacity() * 8
            + self.ttls.capacity() * 4
            + self.rejected.capacity()
    }

    /// Row `row`'s values.
    pub fn row(&self, row: usize) -> BatchRow<'_> {
        BatchRow { batch: self, row }
    }

    /// Row `row` as a one-row partition of cells.
    pub fn partition(&self, row: usize) -> Result<Partition, RowError> {
        let ttl = self.ttls[row];
        build_partition(
            &self.shape.schema,
            &self.row(row),
            &self.shape.mapped,
            self.timestamps[row],
            self.shape
                .ttl_origin
                .liveness(self.timestamps[row], Some(ttl)),
            self.shape.nulls,
        )
    }

    /// Every row that was not rejected, as partitions.
    pub fn partitions(&self) -> impl Iterator<Item = Result<Partition, RowError>> + '_ {
        (0..self.len())
            .filter(|&row| !self.rejected[row])
            .map(|row| self.partition(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::model::collection::ElementCells;

    fn shape() -> Arc<BatchShape> {
        let schema = TableSchema::from_columns(
            "ks.t",
            &[
                ("id", "partition_key", "int"),
                ("name", "regular", "text"),
                ("day", "regular", "date"),
            ],
        )
        .unwrap();
        Arc::new(BatchShape {
            schema: Arc::new(schema),
            mapped: vec![true, true, true],
            nulls: NullMode::Unset,
            ttl_origin: TtlOrigin::WriteTime,
        })
    }

    #[test]
    fn column_values_give_back_each_row_and_null_after_a_failed_write() {
        let mut column = ColumnValues::default();
        column
            .push_with(|out| {
                out.extend_from_slice(b"ab");
                Ok::<_, ()>(true)
            })
            .unwrap();
        column.push_with(|_| Ok::<_, ()>(false)).unwrap();
        assert_eq!(
            column.push_with(|out| {
                out.extend_from_slice(b"partial");
                Err("bad")
            }),
            Err("bad")
        );
        column
            .push_with(|out| {
                out.extend_from_slice(b"c");
                Ok::<_, ()>(true)
            })
            .unwrap();
        assert_eq!(column.len(), 4);
        assert_eq!(column.get(0), Some(&b"ab"[..]));
        assert_eq!(column.get(1), None);
        assert_eq!(column.get(2), None);
        assert_eq!(column.get(3), Some(&b"c"[..]));
        assert_eq!(column.get(4), None);
    }

    #[test]
    fn a_batch_builds_the_same_partitions_as_row_partition_and_skips_rejected_rows() {
        let shape = shape();
        let mut ids = ColumnValues::default();
        let mut names = ColumnValues::default();
        for (id, name) in [(1, Some("one")), (2, None), (3, Some("three"))] {
            ids.push_with(|out| {
                Value::Int(id).encode(out);
                Ok::<_, ()>(true)
            })
            .unwrap();
            names
                .push_with(|out| {
                    name.map(|n| Value::Text(n.into()).encode(out)).ok_or(())?;
                    Ok::<_, ()>(true)
                })
                .unwrap_or(());
        }
        let mut day = Vec::new();
        Value::Date(20_000).encode(&mut day);
        let batch = RowBatch {
            shape: shape.clone(),
            columns: vec![
                BatchColumn::Values(ids),
                BatchColumn::Values(names),
                BatchColumn::Constant(Some(day)),
            ],
            timestamps: vec![10, 20, 30],
            ttls: vec![0, 0, 60],
            rejected: vec![false, true, false],
        };
        assert_eq!(batch.accepted(), 2);
        let built: Vec<_> = batch.partitions().map(Result::unwrap).collect();
        let expected = |id: i32, name: &str, ts: i64, ttl: Option<u32>| {
            crate::intake::row::row_partition(
                &shape.schema,
                vec![
                    Some(Value::Int(id)),
                    Some(Value::Text(name.into())),
                    Some(Value::Date(20_000)),
                ],
                &shape.mapped,
                ts,
                ttl,
                NullMode::Unset,
            )
            .unwrap()
        };
        assert_eq!(
            built,
            vec![
                expected(1, "one", 10, None),
                expected(3, "three", 30, Some(60))
            ]
        );
        assert!(batch.heap_size() > 0);
    }

    /// Sets of text held as their elements, as a columnar source would hold them.
    #[derive(Debug)]
    struct FakeSets(Vec<Option<Vec<&'static str>>>);

    impl ElementColumn for FakeSets {
        fn is_null(&self, row: usize) -> bool {
            self.0[row].is_none()
        }
        fn add_elements(&self, row: usize, cells: &mut ElementCells<'_>) {
            for e in self.0[row].iter().flatten() {
                cells.push_element(e.as_bytes());
            }
        }
        fn heap_size(&self) -> usize {
            0
        }
    }

    #[test]
    fn a_collection_held_as_elements_builds_the_partitions_of_its_serialized_value() {
        let schema = TableSchema::from_columns(
            "ks.t",
            &[
                ("id", "partition_key", "int"),
                ("tags", "regular", "set<text>"),
            ],
        )
        .unwrap();
        let sets = vec![Some(vec!["b", "a", "b"]), None, Some(vec![])];
        for nulls in [NullMode::Unset, NullMode::Delete] {
            let shape = Arc::new(BatchShape {
                schema: Arc::new(schema.clone()),
                mapped: vec![true, true],
                nulls,
                ttl_origin: TtlOrigin::WriteTime,
            });
            let mut ids = ColumnValues::default();
            for id in 0..3 {
                ids.push_with(|out| {
                    Value::Int(id).encode(out);
                    Ok::<_, ()>(true)
                })
                .unwrap();
            }
            let batch = RowBatch {
                shape: shape.clone(),
                columns: vec![
                    BatchColumn::Values(ids),
                    BatchColumn::Elements(Arc::new(FakeSets(sets.clone()))),
                ],
                timestamps: vec![10, 20, 30],
                ttls: vec![0, 60, 0],
                rejected: vec![false; 3],
            };
            for (row, built) in batch.partitions().enumerate() {
                let tags = sets[row].as_ref().map(|tags| {
                    Value::Set(tags.iter().map(|t| Value::Text(t.to_string())).collect())
                });
                let expected = crate::intake::row::row_partition(
                    &shape.schema,
                    vec![Some(Value::Int(row as i32)), tags],
                    &shape.mapped,
                    batch.timestamps[row],
                    Some(batch.ttls[row]).filter(|t| *t > 0),
                    nulls,
                )
                .unwrap();
                assert_eq!(built.unwrap(), expected, "{nulls:?}, row {row}");
            }
        }
    }
}
