//! Dumps: a table's rows written to files for analytics jobs, in Parquet, CSV or PostgreSQL
//! COPY text. `format.rs` is the seam between the dump and a file format.

pub mod format;
