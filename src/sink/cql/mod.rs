//! The CQL sink: writes partitions to a live table with every cell's own write timestamp and
//! TTL. Two halves: [`statements`] turns a partition into batches of statements (pure, no
//! cluster), [`writer`] sends them (token-aware, bounded in flight, paced, retried) and records
//! checkpoint marks. [`slices`] is how a range deletion becomes what CQL can name.

pub mod error;
pub mod lists;
pub mod slices;
pub mod statements;
pub mod writer;

pub use error::CqlError;
pub use statements::DEFAULT_BATCH_BYTES;
pub use writer::{CqlSink, CqlSinkOptions};
