//! Sinks: where rows go. Each is a noun named after what it writes: `cql` (a live table).
//! Planned: SSTables for `nodetool import`, Parquet, CSV and PostgreSQL COPY dumps.

pub mod cql;
