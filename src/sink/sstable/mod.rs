//! SSTables as a sink (`load --via sstable`): merged partitions in token order written as
//! big-format `nb` SSTables (`writer.rs`), each component as Cassandra 5.0 writes it: Data.db
//! byte for byte a node's (`data.rs`; range deletions split so the newest wins where they
//! overlap), Index, Summary, Filter, CompressionInfo with LZ4 chunks, Digest, TOC
//! (`components.rs`), Statistics (`statistics.rs`); cut along the ring (`ring.rs`); then
//! `nodetool import`, `sstableloader` or nothing (`seam.rs`), given logins and TLS through
//! files, never their command lines (`tools.rs`).

pub mod components;
pub mod data;
pub mod ring;
mod seam;
pub mod sketch;
pub mod statistics;
pub mod tools;
pub mod writer;

#[cfg(test)]
mod tests;

pub use data::Format;
pub use ring::Ring;
pub use seam::{MANIFEST, SstableSink, SstableSinkOptions, Stream, pick_format, ring_of};
