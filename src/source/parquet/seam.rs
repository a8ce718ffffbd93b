//! The Parquet source behind the source seam: which inputs it claims (`hdfs://` URLs, files
//! named `.parquet` or starting with `PAR1`, and folders no other source is sure of), and its
//! plan's decoded batches as events. Which errors are the user's to fix is said here too.

use std::path::Path;
use std::sync::Arc;

use crate::exit::Classify;
use crate::model::TableSchema;
use crate::plan::MappingOptions;
use crate::source::{Claim, Input, InputSize, Kind, OpenOptions, Planned, SourceError, Started};

use super::{ParquetError, ParquetInput, ParquetPlan};

/// The Parquet source's entry in the registry.
pub const KIND: Kind = Kind {
    name: "Parquet",
    claims,
    open,
};

/// An `hdfs://` URL, a file named `*.parquet`/`*.parq` or starting with `PAR1`: surely
/// Parquet. A folder: maybe (a folder of exports).
fn claims(input: &str) -> Claim {
    if input.starts_with("hdfs://") {
        return Claim::Yes;
    }
    let path = Path::new(input);
    if path.is_dir() {
        return Claim::Maybe;
    }
    let named = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("parq"));
    let mut magic = [0u8; 4];
    let starts_par1 = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && &magic == b"PAR1";
    if named || starts_par1 {
        Claim::Yes
    } else {
        Claim::No
    }
}

fn open(input: &str, options: &OpenOptions) -> Result<Box<dyn Input>, SourceError> {
    Ok(Box::new(ParquetInput::open(
        input,
        options.allow_incomplete,
    )?))
}

impl Input for ParquetInput {
    fn describe(&self) -> String {
        ParquetInput::describe(self)
    }

    fn plan(
        self: Box<Self>,
        schema: Arc<TableSchema>,
        mapping: &MappingOptions,
    ) -> Result<Box<dyn Planned>, SourceError> {
        let plan = ParquetInput::plan(&self, schema, mapping)?;
        Ok(Box::new(ParquetPlanned { input: *self, plan }))
    }
}

struct ParquetPlanned {
    input: ParquetInput,
    plan: ParquetPlan,
}

impl Planned for ParquetPlanned {
    fn columns(&self) -> Option<&crate::plan::ColumnPlan> {
        Some(&self.plan.column_plan)
    }

    fn notes(&self) -> Vec<String> {
        self.input.notes()
    }

    /// Decoded batches and rejects; the footers count the rows in advance.
    fn start(self: Box<Self>) -> Result<Started, SourceError> {
        let rows = self.input.row_count();
        let events = self
            .input
            .events(self.plan)
            .map(|e| e.map_err(SourceError::from));
        Ok(Started {
            events: Box::new(events),
            size: InputSize::Rows(rows),
            ordered: false,
        })
    }
}

impl Classify for ParquetError {
    /// Mappings, flags and names are the user's to fix; unreadable or damaged files are not.
    fn is_usage(&self) -> bool {
        matches!(
            self,
            ParquetError::Plan(_)
                | ParquetError::Mapping { .. }
                | ParquetError::SpecialColumn { .. }
                | ParquetError::Ttl(_)
                | ParquetError::KeyIsColumn { .. }
                | ParquetError::NoFiles { .. }
                | ParquetError::MixedTimestamps { .. }
                | ParquetError::Unfinished { .. }
                | ParquetError::RebaseZone { .. }
        )
    }
}
