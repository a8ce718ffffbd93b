//! Sources: readers that turn an input (a pg_dump, a Parquet folder, SSTables, a live cluster)
//! into rows for one target table. Each is a noun named after the format it reads.

pub mod pg_dump;
pub mod pg_types;
pub mod postgres;
