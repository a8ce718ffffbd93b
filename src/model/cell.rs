//! Cells, rows and partitions as Cassandra stores them: every cell carries its write timestamp
//! (microseconds since the epoch), and is live, expiring (TTL plus the local deletion time at
//! which it expires) or a tombstone (the local deletion time at which it was deleted). Rows carry
//! primary-key liveness and an optional row deletion; partitions a token, a key, an optional
//! partition deletion and range deletions over clustering slices. Values stay serialized
//! ([`super::value`]) so the engine never re-encodes.

use super::bytes::SmallBytes;
use super::token::Token;

/// Microseconds since the Unix epoch, as `USING TIMESTAMP` and `writetime()` use them.
pub type WriteTime = i64;

/// Seconds since the Unix epoch at which an expiring cell turns into a tombstone, or at which a
/// tombstone was written (Cassandra's `localDeletionTime`).
pub type LocalDeletionTime = i64;

/// Cassandra's marker for "no deletion time" (`Cell.NO_DELETION_TIME`, `Integer.MAX_VALUE`).
pub const NO_DELETION_TIME: LocalDeletionTime = i32::MAX as i64;

/// Whether a cell holds a value, holds one until it expires, or deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Liveness {
    Live,
    Expiring {
        ttl: u32,
        local_deletion_time: LocalDeletionTime,
    },
    Tombstone {
        local_deletion_time: LocalDeletionTime,
    },
}

impl Liveness {
    /// An expiring liveness for a write at `timestamp` (µs) with `ttl` seconds; Cassandra sets
    /// the expiry from the time the write is applied, which a bulk load takes to be the write time.
    pub fn expiring_from(timestamp: WriteTime, ttl: u32) -> Liveness {
        Liveness::Expiring {
            ttl,
            local_deletion_time: timestamp.div_euclid(1_000_000) + i64::from(ttl),
        }
    }

    /// Cassandra's `localDeletionTime()`: `NO_DELETION_TIME` for live cells.
    pub fn local_deletion_time(self) -> LocalDeletionTime {
        match self {
            Liveness::Live => NO_DELETION_TIME,
            Liveness::Expiring {
                local_deletion_time,
                ..
            }
            | Liveness::Tombstone {
                local_deletion_time,
            } => local_deletion_time,
        }
    }

    pub fn ttl(self) -> Option<u32> {
        match self {
            Liveness::Expiring { ttl, .. } => Some(ttl),
            _ => None,
        }
    }

    pub fn is_tombstone(self) -> bool {
        matches!(self, Liveness::Tombstone { .. })
    }
}

/// One version of one column (or of one element of a multi-cell collection).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    pub timestamp: WriteTime,
    pub liveness: Liveness,
    /// The element key of a multi-cell collection (list: a timeuuid, set: the element, map: the
    /// key); empty for a whole value.
    pub path: SmallBytes,
    /// The serialized value; empty for a tombstone.
    pub value: SmallBytes,
}

impl Cell {
    pub fn live(timestamp: WriteTime, value: impl Into<SmallBytes>) -> Cell {
        Cell {
            timestamp,
            liveness: Liveness::Live,
            path: SmallBytes::new(),
            value: value.into(),
        }
    }

    pub fn tombstone(timestamp: WriteTime, local_deletion_time: LocalDeletionTime) -> Cell {
        Cell {
            timestamp,
            liveness: Liveness::Tombstone {
                local_deletion_time,
            },
            path: SmallBytes::new(),
            value: SmallBytes::new(),
        }
    }
}

/// A deletion: everything written at or before `timestamp` is shadowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Deletion {
    pub timestamp: WriteTime,
    pub local_deletion_time: LocalDeletionTime,
}

/// The liveness of a row's primary key (what `INSERT` writes and `UPDATE` does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowLiveness {
    pub timestamp: WriteTime,
    pub liveness: Liveness,
}

/// A column's cells within a row: one for a simple column, one per element for a multi-cell
/// collection, with an optional whole-collection deletion.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnData {
    /// Index of the column in [`super::schema::TableSchema::columns`].
    pub column: usize,
    pub cells: Vec<Cell>,
    pub complex_deletion: Option<Deletion>,
}

/// One CQL row: its serialized clustering values, its primary-key liveness and its columns.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Row {
    pub clustering: Vec<Vec<u8>>,
    pub liveness: Option<RowLiveness>,
    pub deletion: Option<Deletion>,
    pub columns: Vec<ColumnData>,
}

/// One end of a range deletion: a clustering prefix (serialized values of the first clustering
/// columns; empty for the start or end of the partition) and whether the rows that begin with it
/// are inside the range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SliceBound {
    pub prefix: Vec<Vec<u8>>,
    pub inclusive: bool,
}

impl SliceBound {
    /// The start or end of the partition.
    pub fn open() -> SliceBound {
        SliceBound {
            prefix: Vec::new(),
            inclusive: true,
        }
    }
}

/// A range deletion (Cassandra's range tombstone, what `DELETE ... WHERE c > ? AND c <= ?`
/// writes): every row whose clustering lies from `start` to `end` in clustering order, and
/// everything in it written at or before the deletion, is shadowed. The static row is not.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RangeDeletion {
    pub start: SliceBound,
    pub end: SliceBound,
    pub deletion: Deletion,
}

/// A partition: its token, serialized key and rows in clustering order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Partition {
    pub token: Token,
    /// The partition key as Cassandra stores it: the value itself for a single-column key, the
    /// composite encoding (see [`super::token::composite_key`]) for several.
    pub key: Vec<u8>,
    pub deletion: Option<Deletion>,
    /// In the order of their starts; they may overlap.
    pub range_deletions: Vec<RangeDeletion>,
    pub static_row: Option<Row>,
    pub rows: Vec<Row>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiring_cell_expires_ttl_seconds_after_its_write_time() {
        let l = Liveness::expiring_from(1_700_000_000_123_456, 3600);
        assert_eq!(l.local_deletion_time(), 1_700_003_600);
        assert_eq!(l.ttl(), Some(3600));
        assert_eq!(Liveness::Live.local_deletion_time(), NO_DELETION_TIME);
    }

    #[test]
    fn write_times_before_the_epoch_round_down_to_the_earlier_second() {
        let l = Liveness::expiring_from(-1, 10);
        assert_eq!(l.local_deletion_time(), 9);
    }
}
