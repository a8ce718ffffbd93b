//! Integration tests against a real Cassandra node (`scripts/cassandra start`; `scripts/test`
//! starts one). Contact point: `CASSBULK_TEST_HOSTS` (default 127.0.0.1:9042). Every test works
//! in a keyspace of its own, so tests run in parallel and leave nothing shared behind.

mod common;
mod copy_schema;
mod dcs;
mod deletions;
mod dump;
mod inspect_cli;
mod lists;
mod load_parquet;
mod load_pg;
mod load_spark;
mod load_sstables;
mod load_sstables_3x;
mod nodes_down;
mod order;
mod parquet_corpus;
mod partition_builder;
mod ring;
mod schema;
mod secure;
mod sink_contract;
mod srv;
mod terminal;
mod tokens;
mod verify;
mod write_sstables;
