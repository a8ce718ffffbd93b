//! The data model every source, the partition builder and every sink share: CQL types and values
//! (serialized exactly as Cassandra serializes them), cells with write timestamps, TTLs and
//! tombstones, rows and partitions, Murmur3 tokens, table schemas, and Cassandra's order for
//! all of them (`order`). Nothing here imports anything outside `model`.

pub mod bytes;
pub mod cell;
pub mod collection;
pub mod literal;
pub mod marshal;
pub mod order;
pub mod schema;
pub mod schema_cql;
pub mod sstable_format;
pub mod token;
pub mod types;
pub mod value;
pub mod vint;

pub use bytes::SmallBytes;
pub use cell::{Cell, Deletion, Liveness, Partition, RangeDeletion, Row, SliceBound, WriteTime};
pub use schema::{ColumnKind, ColumnSchema, TableName, TableSchema};
pub use token::Token;
pub use types::{CqlType, NativeType};
pub use value::Value;
