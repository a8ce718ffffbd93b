//! The SSTable source behind the source seam: it claims a `*-Data.db` file and any folder with
//! SSTables in it (surely), and reads its partitions as events. Which errors are the user's to
//! fix is said here too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::exit::Classify;
use crate::merge::streams::MergeStreams;
use crate::model::TableSchema;
use crate::model::order::TableOrder;
use crate::model::token::{MURMUR3_PARTITIONER, class_short_name};
use crate::plan::MappingOptions;
use crate::source::{
    Claim, Input, InputSize, Kind, OpenOptions, Planned, SourceError, SourceEvent, Started,
};

use super::{
    Reader, SstableError, SstableInput, ahead, compression, data::RowPlan, descriptor::Descriptor,
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

fn open(input: &str, options: &OpenOptions) -> Result<Box<dyn Input>, SourceError> {
    let mut input = SstableInput::open(input)?;
    input.sort_always = options.sort_always;
    if let Some(since) = options.since {
        input.skip_older_than(since);
    }
    Ok(Box::new(input))
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
        let partitioners = self.partitioners().into_iter().map(str::to_owned).collect();
        let sort_always = self.sort_always;
        let older_than_since = self.older_than_since;
        let sstables = self
            .sstables
            .into_iter()
            .map(|s| s.descriptor)
            .zip(plans)
            .collect();
        Ok(Box::new(SstablePlanned {
            sstables,
            schema,
            partitioners,
            sort_always,
            streamed: None,
            older_than_since,
        }))
    }
}

struct SstablePlanned {
    sstables: Vec<(Descriptor, Arc<RowPlan>)>,
    schema: Arc<TableSchema>,
    /// The partitioners' class names, each once.
    partitioners: Vec<String>,
    sort_always: bool,
    /// Whether the SSTables can be merged as streams, once [`SstablePlanned::streams`] checked.
    streamed: Option<bool>,
    /// SSTables `--since` left unread.
    older_than_since: usize,
}

impl SstablePlanned {
    /// Whether the partitions are in the order of the target's tokens (Murmur3's).
    fn in_target_order(&self) -> bool {
        self.partitioners.iter().all(|p| p == MURMUR3_PARTITIONER)
    }

    /// Whether the SSTables are merged as streams: in the target's order, not `--merge sort`,
    /// and every Data.db matching its digest (checked once, here; an uncompressed one that
    /// does not is refused).
    fn streams(&mut self) -> Result<bool, SstableError> {
        if let Some(streamed) = self.streamed {
            return Ok(streamed);
        }
        let streamed = check_digests(&self.sstables, self.in_target_order() && !self.sort_always)?;
        self.streamed = Some(streamed);
        Ok(streamed)
    }
}

/// Whether an SSTable's Data.db has the CRC32 its Digest.crc32 records (read whole once, so
/// a damaged or truncated file is found before anything is written). None without a digest;
/// false when the data cannot be read.
fn digest_matches(d: &Descriptor) -> Option<bool> {
    let expected = std::fs::read_to_string(d.component("Digest.crc32"))
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())?;
    let Ok(data) = std::fs::File::open(d.component("Data.db")) else {
        return Some(false);
    };
    let mut hasher = crc32fast::Hasher::new();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, data);
    loop {
        let buf = match std::io::BufRead::fill_buf(&mut reader) {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(_) => return Some(false),
        };
        hasher.update(buf);
        let n = buf.len();
        std::io::BufRead::consume(&mut reader, n);
    }
    Some(hasher.finalize() == expected)
}

/// Checks the SSTables' Data.db files against their Digest.crc32, on every core: every
/// uncompressed one, whose values carry no checksum of their own (compressed chunks do), so a
/// flipped bit in one would load as a different value without a word; with `all`, every one.
/// Refuses an uncompressed SSTable that does not match; returns whether all were checked and
/// matched.
fn check_digests(sstables: &[(Descriptor, Arc<RowPlan>)], all: bool) -> Result<bool, SstableError> {
    use rayon::prelude::*;
    let checked: Vec<(bool, Option<bool>)> = sstables
        .par_iter()
        .map(|(d, _)| {
            let compressed = d.component("CompressionInfo.db").exists();
            let matches = (all || !compressed).then(|| digest_matches(d)).flatten();
            (compressed, matches)
        })
        .collect();
    for ((d, _), (compressed, matches)) in sstables.iter().zip(&checked) {
        if !compressed && *matches == Some(false) {
            return Err(SstableError::Damaged {
                path: d.component("Data.db").display().to_string(),
                offset: 0,
                reason: "its CRC32 is not the one its Digest.crc32 records (an uncompressed SSTable has no other checksum, so the damage cannot be placed more exactly)".into(),
            });
        }
    }
    Ok(all && checked.iter().all(|(_, matches)| *matches == Some(true)))
}

/// The uncompressed length of an SSTable's data (what reading counts), best effort.
fn data_length(d: &Descriptor) -> u64 {
    let data = std::fs::metadata(d.component("Data.db")).map_or(0, |m| m.len());
    std::fs::read(d.component("CompressionInfo.db"))
        .ok()
        .and_then(|b| {
            compression::CompressionInfo::parse(&b, data, d.has_max_compressed_length()).ok()
        })
        .map_or(data, |c| c.data_length)
}

impl Planned for SstablePlanned {
    /// The partitioner the SSTables were written under, and what becomes of their tokens.
    fn notes(&self) -> Vec<String> {
        let names: Vec<&str> = self
            .partitioners
            .iter()
            .map(|p| class_short_name(p))
            .collect();
        let mut line = format!("SSTables written under {}", names.join(" and "));
        if !self.in_target_order() {
            line.push_str(
                ": every token is computed again with Murmur3Partitioner for the target, and the partitions sorted into its order",
            );
        }
        let mut notes = vec![line];
        if self.older_than_since > 0 {
            notes.push(format!(
                "{} SSTable(s) left unread: every write in them is older than --since (their Statistics.db)",
                self.older_than_since
            ));
        }
        notes
    }

    /// Partitions of every SSTable; progress in bytes of uncompressed data. SSTables written
    /// under Murmur3Partitioner whose Data.db files all match their digests (read whole first,
    /// so damage is found before anything is written) are each a stream of whole partitions in
    /// the target's token order: they are merged as streams, each decoded ahead on the cores,
    /// and handed on merged and settled as the partition builder would emit them, with no sort
    /// and in little memory. Any others are read on every core in any order, for the builder.
    fn start(mut self: Box<Self>) -> Result<Started, SourceError> {
        let streamed = self.streams()?;
        let sizes: Vec<u64> = self.sstables.iter().map(|(d, _)| data_length(d)).collect();
        let total = sizes.iter().sum();
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (events, read): (Box<dyn Iterator<Item = _> + Send>, Vec<Arc<AtomicU64>>) = if streamed
        {
            let (streams, counters) = ahead::streams(self.sstables);
            let merged = MergeStreams::new(streams, TableOrder::new(&self.schema));
            (Box::new(merged), counters)
        } else if workers > 1 && self.sstables.len() > 1 {
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
            ordered: streamed,
        })
    }

    /// Bytes of Data.db on disk.
    fn data_bytes(&self) -> u64 {
        self.sstables
            .iter()
            .map(|(d, _)| std::fs::metadata(d.component("Data.db")).map_or(0, |m| m.len()))
            .sum()
    }

    /// SSTables merged as streams whose Index.db can say where each token starts (big format;
    /// BTI's Partitions.db is not read here).
    fn sliceable(&mut self) -> Result<bool, SourceError> {
        let indexed = self
            .sstables
            .iter()
            .all(|(d, _)| d.component("Index.db").is_file());
        Ok(indexed && self.streams()?)
    }

    /// Each slice: every SSTable's partitions within it (where they start, from Index.db),
    /// read on the slice's own thread and merged as streams, with no pool and no queue.
    fn start_slices(self: Box<Self>, slices: &[(i64, i64)]) -> Result<Vec<Started>, SourceError> {
        let ranges = slice_ranges(&self.sstables, slices)?;
        let order = TableOrder::new(&self.schema);
        let mut started = Vec::with_capacity(slices.len());
        for ranges in ranges {
            let mut streams = Vec::new();
            let mut counters = Vec::new();
            let mut total = 0;
            for (sstable, range) in self.sstables.iter().zip(ranges) {
                if range.0 >= range.1 {
                    continue;
                }
                total += range.1 - range.0;
                let read = Arc::new(AtomicU64::new(0));
                counters.push(read.clone());
                let path = sstable.0.component("Data.db").display().to_string();
                streams.push((path, Reader::between(sstable.clone(), range, read)));
            }
            let merged = MergeStreams::new(streams, order.clone());
            let events = merged.map(|r| r.map(SourceEvent::Partition).map_err(SourceError::from));
            started.push(Started {
                events: Box::new(events),
                size: InputSize::Bytes {
                    read: Arc::new(move || {
                        counters.iter().map(|r| r.load(Ordering::Relaxed)).sum()
                    }),
                    total,
                },
                ordered: true,
            });
        }
        Ok(started)
    }
}

/// Which partitions of each SSTable fall in each slice: per slice, per SSTable, the
/// `[start, end)` of its uncompressed data, found in its Index.db.
fn slice_ranges(
    sstables: &[(Descriptor, Arc<RowPlan>)],
    slices: &[(i64, i64)],
) -> Result<Vec<Vec<(u64, u64)>>, SstableError> {
    use rayon::prelude::*;
    let starts: Vec<i64> = slices.iter().map(|s| s.0).collect();
    let per_sstable: Vec<Vec<(u64, u64)>> = sstables
        .par_iter()
        .map(|(d, _)| {
            let length = data_length(d);
            let index = d.component("Index.db");
            let offsets = super::index::offsets_of(&index, length, &starts).map_err(|reason| {
                SstableError::Damaged {
                    path: index.display().to_string(),
                    offset: 0,
                    reason,
                }
            })?;
            let ends = offsets.iter().skip(1).copied().chain([length]);
            Ok(offsets.iter().copied().zip(ends).collect())
        })
        .collect::<Result<_, SstableError>>()?;
    Ok((0..slices.len())
        .map(|slice| per_sstable.iter().map(|ranges| ranges[slice]).collect())
        .collect())
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
                | SstableError::MixedTables { .. }
                | SstableError::Unfit { .. }
        )
    }
}
