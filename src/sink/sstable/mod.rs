//! SSTables as a sink (issue #18, in progress): partitions in token order written as big-format
//! SSTables Cassandra imports or streams. Built so far: `data.rs`, the Data.db serializer, its
//! bytes equal to what a Cassandra 5.0 node wrote for the same partitions, range
//! tombstone markers included (overlapping ranges are refused for now). Still to come: the
//! other components (Index, Summary, Filter, Statistics, CompressionInfo, Digest, TOC), the ring
//! cut, and getting the files into the cluster; until then no command writes SSTables.

pub mod components;
pub mod data;
mod seam;
pub mod statistics;
pub mod writer;

pub use seam::{SstableSink, SstableSinkOptions, Stream};
