//! Intake: how a source's rows enter the partition builder. A source fills rows column by column
//! ([`RowAccess`]: serialized CQL values, NULLs, or a collection's elements), one at a time
//! ([`RowValues`], turned into a partition by [`build_partition`]) or a batch at a time
//! ([`RowBatch`], whose cells the builder makes on its own threads). This is the seam between
//! the sources and the sort: sources import it, it imports only the model.

pub mod batch;
pub mod row;

pub use batch::{BatchColumn, BatchShape, ColumnValues, RowBatch, SharedValues};
pub use row::{
    ColumnRef, ElementColumn, NullMode, RowAccess, RowError, RowValues, TtlOrigin, build_partition,
    check_primary_key, row_partition,
};
