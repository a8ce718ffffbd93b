//! The partition builder: sorting rows the way Cassandra sorts them (the model's comparators,
//! [`crate::model::order`]), in bounded memory (`run`: zstd spill files), and reconciling
//! duplicates into partitions in token order (`builder`, `entry`); rows wait in memory in their
//! run encoding (`arena`).

pub mod arena;
pub mod builder;
pub mod entry;
pub mod run;
