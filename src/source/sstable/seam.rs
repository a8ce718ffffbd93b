//! The SSTable source behind the source seam: it claims a `*-Data.db` file and any folder with
//! SSTables in it (surely), and reads its partitions as events. Which errors are the user's to
//! fix is said here too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::exit::Classify;
use crate::model::TableSchema;
use crate::plan::MappingOptions;
use crate::source::{
    Claim, Input, InputSize, Kind, OpenOptions, Planned, SourceError, SourceEvent, Started,
};

use super::{
    Reader, SstableError, SstableInput, compression, data::RowPlan, descriptor::Descriptor,
    read_parallel,
};

/// The SSTable source's entry in the registry.
pub const KIND: Kind = Kind {
    name: "SSTables",
    claims,
    open,
};

fn claims(input: &str) -> Claim {
    if super::looks_like_sstables(input) {
        Claim::Yes
    } else {
        Claim::No
    }
}

fn open(input: &str, _options: &OpenOptions) -> Result<Box<dyn Input>, SourceError> {
    Ok(Box::new(SstableInput::open(input)?))
}

impl Input for SstableInput {
    fn describe(&self) -> String {
        SstableInput::describe(self)
    }

    fn plan(
        self: Box<Self>,
        schema: Arc<TableSchema>,
        mapping: &MappingOptions,
    ) -> Result<Box<dyn Planned>, SourceError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let plans = SstableInput::plan(&self, &schema, mapping, now)?;
        let sstables = self
            .sstables
            .into_iter()
            .map(|s| s.descriptor)
            .zip(plans)
            .collect();
        Ok(Box::new(SstablePlanned { sstables }))
    }
}

struct SstablePlanned {
    sstables: Vec<(Descriptor, Arc<RowPlan>)>,
}

/// The uncompressed length of an SSTable's data (what reading counts), best effort.
fn data_length(d: &Descriptor) -> u64 {
    let data = std::fs::metadata(d.component("Data.db")).map_or(0, |m| m.len());
    std::fs::read(d.component("CompressionInfo.db"))
        .ok()
        .and_then(|b| compression::CompressionInfo::parse(&b, data).ok())
        .map_or(data, |c| c.data_length)
}

impl Planned for SstablePlanned {
    /// Partitions of every SSTable, read on every core when there are several; progress in
    /// bytes of uncompressed data.
    fn start(self: Box<Self>) -> Result<Started, SourceError> {
        let sizes: Vec<u64> = self.sstables.iter().map(|(d, _)| data_length(d)).collect();
        let total = sizes.iter().sum();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (events, read): (Box<dyn Iterator<Item = _> + Send>, Vec<Arc<AtomicU64>>) =
            if workers > 1 && self.sstables.len() > 1 {
                let (events, counters) = read_parallel(self.sstables, workers, &sizes);
                (Box::new(events), counters)
            } else {
                let read = Arc::new(AtomicU64::new(0));
                (
                    Box::new(Reader::new(self.sstables, read.clone())),
                    vec![read],
                )
            };
        let events = events.map(|r| r.map(SourceEvent::Partition).map_err(SourceError::from));
        Ok(Started {
            events: Box::new(events),
            size: InputSize::Bytes {
                read: Arc::new(move || read.iter().map(|r| r.load(Ordering::Relaxed)).sum()),
                total,
            },
            ordered: false,
        })
    }
}

impl Classify for SstableError {
    /// Flags, missing files and tables that do not match are the user's to fix; damaged or
    /// unreadable SSTables are not.
    fn is_usage(&self) -> bool {
        matches!(
            self,
            SstableError::NoSstables { .. }
                | SstableError::Flag { .. }
                | SstableError::Schema { .. }
                | SstableError::Counter { .. }
                | SstableError::Unsupported { .. }
        )
    }
}
