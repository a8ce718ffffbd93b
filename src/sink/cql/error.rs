//! What the CQL sink fails with; every message names the table.

use thiserror::Error;

use crate::checkpoint::CheckpointError;
use crate::exit::Classify;
use crate::model::TableSchema;
use crate::model::collection::CollectionError;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CqlError {
    #[error("cannot prepare the write statement for {table}: {reason}")]
    Prepare { table: String, reason: String },
    #[error("writing to {table} failed after {attempts} attempt(s): {reason}")]
    Write {
        table: String,
        attempts: u32,
        reason: String,
    },
    #[error("partition key of {table} is malformed ({components} components expected)")]
    Key { table: String, components: usize },
    #[error("column {column} of {table}: {source}")]
    Collection {
        table: String,
        column: String,
        source: CollectionError,
    },
    #[error(
        "cannot read back the lists of {table} to check them before writing, after {attempts} attempt(s): {reason} (a non-frozen list written twice would hold its elements twice; rerun when every replica answers, the checkpoint resumes)"
    )]
    ListCheck {
        table: String,
        attempts: u32,
        reason: String,
    },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{table}: {what} cannot be written over CQL by this version")]
    Unsupported { table: String, what: String },
}

impl Classify for CqlError {
    /// Every CQL sink error is a failure: the command was right, the write was not.
    fn is_usage(&self) -> bool {
        false
    }
}

/// What this version cannot write over CQL, named.
pub fn unsupported(schema: &TableSchema, what: &str) -> CqlError {
    CqlError::Unsupported {
        table: schema.name.to_string(),
        what: what.to_owned(),
    }
}
