//! The constants of Cassandra's SSTable row format that the reader (`source/sstable`) and the
//! writer (`sink/sstable`) share: the unfiltered and cell flag bits (`UnfilteredSerializer`,
//! `Cell.Serializer`) and the epochs `EncodingStats` stores its minimums against. Byte layouts:
//! `docs/research/sstable-writer-notes.md`.

// Unfiltered flags.
pub const END_OF_PARTITION: u8 = 0x01;
pub const IS_MARKER: u8 = 0x02;
pub const HAS_TIMESTAMP: u8 = 0x04;
pub const HAS_TTL: u8 = 0x08;
pub const HAS_DELETION: u8 = 0x10;
pub const HAS_ALL_COLUMNS: u8 = 0x20;
pub const HAS_COMPLEX_DELETION: u8 = 0x40;
pub const EXTENSION_FLAG: u8 = 0x80;
/// In the extended flags byte.
pub const IS_STATIC: u8 = 0x01;

// Cell flags.
pub const CELL_DELETED: u8 = 0x01;
pub const CELL_EXPIRING: u8 = 0x02;
pub const CELL_EMPTY_VALUE: u8 = 0x04;
pub const CELL_ROW_TIMESTAMP: u8 = 0x08;
pub const CELL_ROW_TTL: u8 = 0x10;

/// `EncodingStats` epochs (2015-09-22): minimum timestamps (µs) and local deletion times (s)
/// are stored relative to these; TTLs relative to 0.
pub const TIMESTAMP_EPOCH: i64 = 1_442_880_000_000_000;
pub const DELETION_TIME_EPOCH: i64 = 1_442_880_000;
