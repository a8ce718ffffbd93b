//! Statistics.db for big-format `nb`, as `MetadataSerializer` writes it: a table of contents
//! and four components (validation, compaction, stats, serialization header), each followed by
//! its CRC32 (layout and sources: `docs/research/sstable-writer-notes.md`). [`Collector`]
//! gathers the stats from the partitions as `MetadataCollector` does; what it gets wrong
//! matters (a maximum timestamp too low hides data behind deletions, a maximum local deletion
//! time below gc_before lets compaction drop the file), so it tracks what Cassandra tracks:
//! live cells count as never deleting (`Long.MAX_VALUE`), deletions add their timestamps.

use std::collections::HashMap;

use super::data::{Encoding, Format, write_u32};
use super::sketch::KeySketch;
use crate::model::cell::NO_DELETION_TIME;
use crate::model::marshal::{key_type_name, type_name};
use crate::model::schema::ClusteringOrder;
use crate::model::vint::write_unsigned;
use crate::model::{ColumnKind, Deletion, Liveness, Partition, Row, TableSchema};

/// `EstimatedHistogram` with `buckets` offsets (1, 2, 3, ... each about 1.2 times the last)
/// and an overflow bucket.
pub struct Histogram {
    offsets: Vec<i64>,
    counts: Vec<i64>,
}

impl Histogram {
    pub fn new(buckets: usize) -> Histogram {
        let mut offsets = Vec::with_capacity(buckets);
        let mut last = 1i64;
        offsets.push(last);
        while offsets.len() < buckets {
            let mut next = (last as f64 * 1.2 + 0.5).floor() as i64;
            if next == last {
                next += 1;
            }
            offsets.push(next);
            last = next;
        }
        Histogram {
            counts: vec![0; buckets + 1],
            offsets,
        }
    }

    pub fn add(&mut self, value: i64) {
        let i = self.offsets.partition_point(|&o| o < value);
        self.counts[i] += 1;
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.counts.len() as i32).to_be_bytes());
        for (i, count) in self.counts.iter().enumerate() {
            let offset = self.offsets[i.saturating_sub(1)];
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
        }
    }
}

/// The tombstone histogram as Cassandra's `StreamingTombstoneHistogramBuilder(100, 100000,
/// 60)` builds it: deletion times (rounded up to the minute) are counted in a spool of at most
/// 100,000 distinct points; a full spool is flushed, in ascending order, into at most 100
/// bins, where each point past the 100th merges the two nearest bins into their weighted
/// mean, rounded up to the minute. Up to 100 distinct points the bins are exact; beyond,
/// the estimate depends on the order points arrive in, as Cassandra's does (its spool is
/// flushed in hash order). Memory stays bounded however many deletion times a table has.
#[derive(Default, Clone)]
struct TombstoneHistogram {
    spool: HashMap<i64, i64>,
    bins: Vec<(i64, i64)>,
}

const MAX_BINS: usize = 100;
const MAX_SPOOL: usize = 100_000;

impl TombstoneHistogram {
    fn add(&mut self, minute: i64) {
        *self.spool.entry(minute).or_default() += 1;
        if self.spool.len() >= MAX_SPOOL {
            let spool = std::mem::take(&mut self.spool);
            flush(&mut self.bins, spool);
        }
    }

    /// The bins, with what the spool holds flushed into them.
    fn bins(&self) -> Vec<(i64, i64)> {
        let mut bins = self.bins.clone();
        flush(&mut bins, self.spool.clone());
        bins
    }
}

fn flush(bins: &mut Vec<(i64, i64)>, spool: HashMap<i64, i64>) {
    let mut points: Vec<(i64, i64)> = spool.into_iter().collect();
    points.sort_unstable();
    for (point, count) in points {
        match bins.binary_search_by_key(&point, |b| b.0) {
            Ok(i) => bins[i].1 += count,
            Err(i) => {
                bins.insert(i, (point, count));
                if bins.len() > MAX_BINS {
                    merge_nearest(bins);
                }
            }
        }
    }
}

/// Merges the two nearest neighbours (the first such pair) into their weighted mean, rounded
/// up to the minute; it stays between them, so the bins stay in order.
fn merge_nearest(bins: &mut Vec<(i64, i64)>) {
    let Some(i) = (0..bins.len() - 1).min_by_key(|&i| bins[i + 1].0 - bins[i].0) else {
        return;
    };
    let ((a, ca), (b, cb)) = (bins[i], bins[i + 1]);
    let count = ca + cb;
    let mean = (a as f64 * ca as f64 + b as f64 * cb as f64) / count as f64;
    bins[i] = (((mean / 60.0).ceil() as i64) * 60, count);
    bins.remove(i + 1);
}

/// What Cassandra's `MetadataCollector` gathers while a table is written.
pub struct Collector {
    partition_sizes: Histogram,
    cell_counts: Histogram,
    min_timestamp: i64,
    max_timestamp: i64,
    min_ldt: i64,
    max_ldt: i64,
    min_ttl: i64,
    max_ttl: i64,
    /// Local deletion times rounded up to the minute, and how many.
    tombstones: TombstoneHistogram,
    rows: i64,
    columns_set: i64,
    cells: i64,
    partition_deletions: bool,
    /// The partition keys' count sketch (compaction metadata).
    keys: KeySketch,
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            // Cassandra 5.0's sizes (`MetadataCollector.default*Histogram`).
            partition_sizes: Histogram::new(155),
            cell_counts: Histogram::new(118),
            min_timestamp: i64::MAX,
            max_timestamp: i64::MIN,
            min_ldt: i64::MAX,
            max_ldt: i64::MIN,
            min_ttl: i64::MAX,
            max_ttl: i64::MIN,
            tombstones: TombstoneHistogram::default(),
            rows: 0,
            columns_set: 0,
            cells: 0,
            partition_deletions: false,
            keys: KeySketch::default(),
        }
    }
}

impl Collector {
    fn timestamp(&mut self, t: i64) {
        self.min_timestamp = self.min_timestamp.min(t);
        self.max_timestamp = self.max_timestamp.max(t);
    }

    fn ldt(&mut self, ldt: i64) {
        self.min_ldt = self.min_ldt.min(ldt);
        self.max_ldt = self.max_ldt.max(ldt);
        if ldt != NO_DELETION_TIME {
            let minute = ldt.div_euclid(60) * 60 + if ldt % 60 == 0 { 0 } else { 60 };
            self.tombstones.add(minute);
        }
    }

    fn ttl(&mut self, ttl: i64) {
        self.min_ttl = self.min_ttl.min(ttl);
        self.max_ttl = self.max_ttl.max(ttl);
    }

    fn deletion(&mut self, d: &Deletion) {
        self.timestamp(d.timestamp);
        self.ldt(d.local_deletion_time);
    }

    fn liveness(&mut self, timestamp: i64, liveness: Liveness) {
        self.timestamp(timestamp);
        self.ttl(i64::from(liveness.ttl().unwrap_or(0)));
        self.ldt(liveness.local_deletion_time());
    }

    fn row(&mut self, row: &Row) {
        if let Some(l) = row.liveness {
            self.liveness(l.timestamp, l.liveness);
        }
        if let Some(d) = &row.deletion {
            self.deletion(d);
        }
        self.rows += 1;
        // Most cells are live: their TTL (0) and deletion time (none) are counted once a row.
        let mut live = false;
        for column in &row.columns {
            if let Some(d) = &column.complex_deletion {
                self.deletion(d);
            }
            if !column.cells.is_empty() {
                self.columns_set += 1;
            }
            self.cells += column.cells.len() as i64;
            for cell in &column.cells {
                match cell.liveness {
                    Liveness::Live => {
                        self.timestamp(cell.timestamp);
                        live = true;
                    }
                    other => self.liveness(cell.timestamp, other),
                }
            }
        }
        if live {
            self.ttl(0);
            self.ldt(NO_DELETION_TIME);
        }
    }

    /// Adds a partition Data.db holds in `size` bytes.
    pub fn partition(&mut self, partition: &Partition, size: u64) {
        self.keys.add_key(&partition.key);
        let cells_before = self.cells;
        if let Some(d) = &partition.deletion {
            self.deletion(d);
            self.partition_deletions = true;
        }
        for r in &partition.range_deletions {
            self.deletion(&r.deletion);
        }
        for row in partition.static_row.iter().chain(&partition.rows) {
            self.row(row);
        }
        self.partition_sizes.add(size as i64);
        self.cell_counts.add(self.cells - cells_before);
    }

    /// The STATS component (`StatsMetadata.StatsMetadataSerializer`); oa's own fields from
    /// `schema` and the first and last keys.
    fn stats(&self, compression_ratio: f64, oa: Option<OaStats>, out: &mut Vec<u8>) {
        const NO_COMMIT_LOG: [u8; 12] =
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        self.partition_sizes.write(out);
        self.cell_counts.write(out);
        out.extend_from_slice(&NO_COMMIT_LOG);
        let (min_ts, max_ts) = if self.min_timestamp > self.max_timestamp {
            (i64::MIN, i64::MIN) // nothing written; Cassandra writes none either
        } else {
            (self.min_timestamp, self.max_timestamp)
        };
        out.extend_from_slice(&min_ts.to_be_bytes());
        out.extend_from_slice(&max_ts.to_be_bytes());
        let ldt = |v: i64| -> i32 {
            if v == NO_DELETION_TIME || v == i64::MAX || v == i64::MIN {
                i32::MAX
            } else {
                v.min(i64::from(i32::MAX) - 1) as i32
            }
        };
        if oa.is_some() {
            // Unsigned 32-bit seconds; none is all ones.
            let uldt = |v: i64| -> u32 {
                if v == NO_DELETION_TIME || v == i64::MAX || v == i64::MIN {
                    u32::MAX
                } else {
                    v.clamp(0, i64::from(u32::MAX) - 1) as u32
                }
            };
            out.extend_from_slice(&uldt(self.min_ldt).to_be_bytes());
            out.extend_from_slice(&uldt(self.max_ldt).to_be_bytes());
        } else {
            out.extend_from_slice(&ldt(self.min_ldt).to_be_bytes());
            out.extend_from_slice(&ldt(self.max_ldt).to_be_bytes());
        }
        let ttl = |v: i64| -> i32 {
            if v == i64::MAX || v == i64::MIN {
                0
            } else {
                v as i32
            }
        };
        out.extend_from_slice(&ttl(self.min_ttl).to_be_bytes());
        out.extend_from_slice(&ttl(self.max_ttl).to_be_bytes());
        out.extend_from_slice(&compression_ratio.to_be_bytes());
        let bins = self.tombstones.bins();
        out.extend_from_slice(&(bins.len() as i32).to_be_bytes());
        out.extend_from_slice(&(bins.len() as i32).to_be_bytes());
        for (point, count) in bins {
            if oa.is_some() {
                out.extend_from_slice(&point.to_be_bytes());
                out.extend_from_slice(&(count.min(i64::from(i32::MAX)) as i32).to_be_bytes());
            } else {
                out.extend_from_slice(&(point as f64).to_be_bytes());
                out.extend_from_slice(&count.to_be_bytes());
            }
        }
        out.extend_from_slice(&0i32.to_be_bytes()); // level
        out.extend_from_slice(&0i64.to_be_bytes()); // repaired at: unrepaired
        match &oa {
            // Clustering min and max: none, which reads as every clustering (Slice.ALL).
            None => {
                out.extend_from_slice(&0i32.to_be_bytes());
                out.extend_from_slice(&0i32.to_be_bytes());
            }
            // The clustering types, then Slice.ALL: an inclusive start and an inclusive end,
            // each of no values.
            Some(oa) => {
                write_unsigned(oa.clustering_types.len() as u64, out);
                for t in &oa.clustering_types {
                    write_unsigned(t.len() as u64, out);
                    out.extend_from_slice(t.as_bytes());
                }
                out.extend_from_slice(&[1, 0, 0, 6, 0, 0]);
            }
        }
        out.push(0); // no legacy counter shards
        out.extend_from_slice(&self.columns_set.to_be_bytes());
        out.extend_from_slice(&self.rows.to_be_bytes());
        out.extend_from_slice(&NO_COMMIT_LOG); // commit log lower bound
        out.extend_from_slice(&0i32.to_be_bytes()); // commit log intervals: none
        out.push(0); // no pending repair
        out.push(0); // not transient
        out.push(0); // no originating host id
        if let Some(oa) = oa {
            out.push(u8::from(self.partition_deletions));
            for key in [oa.first_key, oa.last_key] {
                write_unsigned(key.len() as u64, out);
                out.extend_from_slice(key);
            }
            out.extend_from_slice(&f64::NAN.to_be_bytes()); // token space coverage: unknown
        }
    }
}

/// What oa's STATS adds: the clustering types' names and the first and last partition keys.
pub struct OaStats<'a> {
    pub clustering_types: Vec<String>,
    pub first_key: &'a [u8],
    pub last_key: &'a [u8],
}

/// The clustering columns' type names (`ReversedType(...)` for DESC ones).
fn clustering_type_names(schema: &TableSchema) -> Vec<String> {
    schema
        .clustering()
        .iter()
        .map(|c| {
            let desc = c.kind == ColumnKind::Clustering(ClusteringOrder::Desc);
            type_name(&c.cql_type, desc)
        })
        .collect()
}

/// The serialization header component: the encoding minimums, the key, clustering and column
/// types, in the order Data.db serializes the columns.
fn header(schema: &TableSchema, encoding: Encoding, out: &mut Vec<u8>) {
    let e = Encoding::NO_STATS;
    write_unsigned(
        encoding.min_timestamp.wrapping_sub(e.min_timestamp) as u64,
        out,
    );
    write_u32(
        encoding.min_local_deletion_time - e.min_local_deletion_time,
        out,
    );
    write_u32(encoding.min_ttl - e.min_ttl, out);
    let string = |s: &str, out: &mut Vec<u8>| {
        write_unsigned(s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    };
    let key: Vec<_> = schema.partition_key().iter().map(|c| &c.cql_type).collect();
    string(&key_type_name(&key), out);
    let clustering = schema.clustering();
    write_unsigned(clustering.len() as u64, out);
    for name in clustering_type_names(schema) {
        string(&name, out);
    }
    for kind in [ColumnKind::Static, ColumnKind::Regular] {
        let mut columns: Vec<_> = schema.columns.iter().filter(|c| c.kind == kind).collect();
        columns.sort_by(|a, b| {
            (a.cql_type.is_multi_cell(), a.name.as_bytes())
                .cmp(&(b.cql_type.is_multi_cell(), b.name.as_bytes()))
        });
        write_unsigned(columns.len() as u64, out);
        for c in columns {
            string(&c.name, out);
            string(&type_name(&c.cql_type, false), out);
        }
    }
}

/// The whole Statistics.db of an SSTable whose first and last keys are these.
pub fn statistics(
    schema: &TableSchema,
    encoding: Encoding,
    collector: &Collector,
    compression_ratio: f64,
    format: Format,
    keys: (&[u8], &[u8]),
) -> Vec<u8> {
    let mut validation = Vec::new();
    const PARTITIONER: &str = "org.apache.cassandra.dht.Murmur3Partitioner";
    validation.extend_from_slice(&(PARTITIONER.len() as u16).to_be_bytes());
    validation.extend_from_slice(PARTITIONER.as_bytes());
    validation.extend_from_slice(&0.01f64.to_be_bytes());
    // The partition keys' HyperLogLogPlus(13, 25), length-prefixed.
    let sketch = collector.keys.to_bytes();
    let mut compaction = Vec::with_capacity(4 + sketch.len());
    compaction.extend_from_slice(&(sketch.len() as i32).to_be_bytes());
    compaction.extend_from_slice(&sketch);
    let mut stats = Vec::new();
    let oa = (format == Format::Oa).then(|| OaStats {
        clustering_types: clustering_type_names(schema),
        first_key: keys.0,
        last_key: keys.1,
    });
    collector.stats(compression_ratio, oa, &mut stats);
    let mut head = Vec::new();
    header(schema, encoding, &mut head);
    let parts = [validation, compaction, stats, head];

    let mut out = Vec::new();
    out.extend_from_slice(&(parts.len() as i32).to_be_bytes());
    out.extend_from_slice(&crc32fast::hash(&out[..4]).to_be_bytes());
    let mut offset = 4 + 4 + 8 * parts.len() + 4;
    let toc_start = out.len();
    for (ordinal, part) in parts.iter().enumerate() {
        out.extend_from_slice(&(ordinal as i32).to_be_bytes());
        out.extend_from_slice(&(offset as i32).to_be_bytes());
        offset += part.len() + 4;
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[..4]);
    crc.update(&out[toc_start..]);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    for part in &parts {
        out.extend_from_slice(part);
        out.extend_from_slice(&crc32fast::hash(part).to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_deletion_times_merge_into_100_bins_keeping_every_count_in_bounded_memory() {
        let mut c = Collector::default();
        for i in 0..200_000i64 {
            c.ldt(1_500_000_000 + i * 37);
        }
        // The spool was flushed once it held 100,000 points: memory stays bounded.
        assert!(c.tombstones.spool.len() < MAX_SPOOL);
        assert!(c.tombstones.bins.len() <= MAX_BINS);
        let bins = c.tombstones.bins();
        assert_eq!(bins.len(), 100);
        assert_eq!(bins.iter().map(|b| b.1).sum::<i64>(), 200_000);
        assert!(bins.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(bins.iter().all(|b| b.0 % 60 == 0));
        // Few points stay exact.
        let mut few = Collector::default();
        for t in [120, 60, 125] {
            few.ldt(t);
        }
        assert_eq!(few.tombstones.bins(), [(60, 1), (120, 1), (180, 1)]);
    }

    #[test]
    fn histogram_offsets_grow_as_cassandras_and_end_where_5_0s_do() {
        let h = Histogram::new(155);
        assert_eq!(
            h.offsets[..25],
            [
                1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 20, 24, 29, 35, 42, 50, 60, 72, 86, 103,
                124, 149, 179
            ]
        );
        assert_eq!(*h.offsets.last().unwrap(), 3_520_571_548_412);
        assert_eq!(*Histogram::new(118).offsets.last().unwrap(), 4_139_110_981);
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out.len(), 4 + 156 * 16);
    }
}
