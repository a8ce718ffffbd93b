//! The partition builder: sorting rows the way Cassandra sorts them (`order`: comparators of
//! serialized values and clustering prefixes), in bounded memory (`run`: zstd spill files), and
//! reconciling duplicates into partitions in token order (`builder`, `entry`).

pub mod builder;
pub mod entry;
pub mod order;
pub mod run;
