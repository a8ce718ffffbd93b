//! cassbulk moves big tables into, between and out of Apache Cassandra clusters, keeping every
//! cell's write timestamp and TTL so that an older write never beats a newer one.
//!
//! The data flow (see `docs/ARCHITECTURE.md`): sources produce rows of timestamped cells, the
//! partition builder orders and reconciles them by token, sinks write them. This library holds all
//! of it; `src/main.rs` only parses the command line and maps errors to exit codes.

pub mod app;
pub mod checkpoint;
pub mod cleanup;
pub mod cli;
pub mod cluster;
pub mod exit;
pub mod intake;
pub mod load;
pub mod merge;
pub mod model;
pub mod plan;
pub mod progress;
pub mod rejects;
pub mod schema_copy;
pub mod sink;
pub mod sort;
pub mod source;
pub mod srv;
pub mod tls;
pub mod verify;
