//! What the partition builder sorts: entries, each one piece of a partition (its deletion, its
//! static row, or one row), ordered as Cassandra orders data: token (signed), partition key bytes
//! (unsigned), then partition deletion, static row, range deletions by start and end, rows by
//! clustering in each clustering column's comparator order (DESC reversed). Range deletions come
//! before every row, so the builder has all of a partition's ranges when it applies them.

use std::cmp::Ordering;

use crate::merge::{merge_deletions, merge_rows};
use crate::model::order::{ClusteringComparator, TableOrder};
use crate::model::{Deletion, Partition, RangeDeletion, Row, TableSchema};

#[derive(Debug, Clone, PartialEq)]
pub enum EntryKind {
    PartitionDeletion(Deletion),
    Static(Row),
    RangeDeletion(RangeDeletion),
    Row(Row),
}

impl EntryKind {
    /// Where the kind sorts within a partition; also its tag in the run encoding.
    pub(super) fn rank(&self) -> u8 {
        match self {
            EntryKind::PartitionDeletion(_) => 0,
            EntryKind::Static(_) => 1,
            EntryKind::RangeDeletion(_) => 2,
            EntryKind::Row(_) => 3,
        }
    }
}

/// One piece of a partition, with where it came from (the input's index).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub token: i64,
    pub key: Vec<u8>,
    pub source: u32,
    pub kind: EntryKind,
}

impl Entry {
    /// Splits a partition into its entries.
    pub fn split(partition: Partition, source: u32) -> impl Iterator<Item = Entry> {
        let Partition {
            token,
            key,
            deletion,
            range_deletions,
            static_row,
            rows,
        } = partition;
        let kinds = deletion
            .map(EntryKind::PartitionDeletion)
            .into_iter()
            .chain(static_row.map(EntryKind::Static))
            .chain(range_deletions.into_iter().map(EntryKind::RangeDeletion))
            .chain(rows.into_iter().map(EntryKind::Row))
            .collect::<Vec<_>>();
        let mut key = Some(key);
        let last = kinds.len().saturating_sub(1);
        kinds.into_iter().enumerate().map(move |(i, kind)| Entry {
            token: token.0,
            // Only a partition with several entries copies its key; the last one takes it.
            key: if i == last {
                key.take().unwrap_or_default()
            } else {
                key.clone().unwrap_or_default()
            },
            source,
            kind,
        })
    }

    /// Merges a later copy of this entry (equal in the order, so of the same kind) into it, as
    /// Cassandra reconciles them; returns the merged entry and how many cells merging dropped.
    pub fn absorb(mut self, other: Entry, order: &EntryOrder) -> (Entry, u64) {
        let before = self.cells() + other.cells();
        let path_order = |column: usize, x: &[u8], y: &[u8]| order.path_order(column, x, y);
        self.kind = match (self.kind, other.kind) {
            (EntryKind::PartitionDeletion(x), EntryKind::PartitionDeletion(y)) => {
                EntryKind::PartitionDeletion(merge_deletions(Some(x), Some(y)).unwrap_or(x))
            }
            (EntryKind::Static(x), EntryKind::Static(y)) => {
                EntryKind::Static(merge_rows(x, y, &path_order))
            }
            (EntryKind::Row(x), EntryKind::Row(y)) => EntryKind::Row(merge_rows(x, y, &path_order)),
            // Equal ranges: the later deletion.
            (EntryKind::RangeDeletion(mut x), EntryKind::RangeDeletion(y)) => {
                x.deletion =
                    merge_deletions(Some(x.deletion), Some(y.deletion)).unwrap_or(x.deletion);
                EntryKind::RangeDeletion(x)
            }
            // Entries only merge when their kinds are equal (the order ranks kinds).
            (a, _) => a,
        };
        let dropped = (before - self.cells()) as u64;
        (self, dropped)
    }

    /// The number of cells, for counting what merging collapsed.
    pub fn cells(&self) -> usize {
        match &self.kind {
            EntryKind::PartitionDeletion(_) | EntryKind::RangeDeletion(_) => 0,
            EntryKind::Static(row) | EntryKind::Row(row) => {
                row.columns.iter().map(|c| c.cells.len()).sum()
            }
        }
    }
}

/// The order of entries for one table.
pub struct EntryOrder {
    table: TableOrder,
}

impl EntryOrder {
    pub fn new(schema: &TableSchema) -> EntryOrder {
        EntryOrder {
            table: TableOrder::new(schema),
        }
    }

    /// Whether two entries belong to the same partition.
    pub fn same_partition(a: &Entry, b: &Entry) -> bool {
        a.token == b.token && a.key == b.key
    }

    pub fn compare(&self, a: &Entry, b: &Entry) -> Ordering {
        a.token
            .cmp(&b.token)
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.kind.rank().cmp(&b.kind.rank()))
            .then_with(|| match (&a.kind, &b.kind) {
                (EntryKind::Row(x), EntryKind::Row(y)) => {
                    self.clustering().compare(&x.clustering, &y.clustering)
                }
                (EntryKind::RangeDeletion(x), EntryKind::RangeDeletion(y)) => {
                    self.clustering().compare_ranges(x, y)
                }
                _ => Ordering::Equal,
            })
    }

    /// The table's clustering order.
    pub fn clustering(&self) -> &ClusteringComparator {
        self.table.clustering()
    }

    /// The order of cell paths within column `column` (multi-cell collections).
    pub fn path_order(&self, column: usize, a: &[u8], b: &[u8]) -> Ordering {
        self.table.path_order(column, a, b)
    }
}
