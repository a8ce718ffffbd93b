//! Data.db, partition by partition, as Cassandra 5.0 writes it (`SortedTablePartitionWriter`,
//! `UnfilteredSerializer`, `Cell.Serializer`, `ClusteringPrefix.Serializer`,
//! `Columns.serializeSubset`): the key, the partition deletion, the static row whenever the
//! table has static columns (empty or not), the rows, the end flag. Timestamps, local deletion
//! times and TTLs are delta-encoded against the serialization header's minimums ([`Encoding`]);
//! a cell takes its row's timestamp or TTL when they are the same, as Cassandra's do. Range
//! deletions become range tombstone markers between the rows, a range's end and the next's
//! start at the same place one boundary marker; ranges that overlap (replicas' copies merged)
//! are first split so the newest deletion covers each place (`merge::normalize_ranges`), as
//! Cassandra's `RangeTombstoneList` does.

use std::cmp::Ordering;

use crate::merge::normalize_ranges;
use crate::model::cell::{NO_DELETION_TIME, RowLiveness};
use crate::model::order::{ClusteringComparator, Side};
use crate::model::sstable_format::*;
use crate::model::vint::{unsigned_size, write_unsigned};
use crate::model::{
    Cell, ColumnKind, Deletion, Liveness, Partition, RangeDeletion, Row, TableSchema,
};

/// `EncodingStats`: the minimums every delta is taken from. Any values at or below the data's
/// are correct; the data's own minimums make the smallest file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub min_timestamp: i64,
    pub min_local_deletion_time: i64,
    pub min_ttl: i64,
}

impl Encoding {
    /// `EncodingStats.NO_STATS`: Cassandra's epochs (2015-09-22) and a TTL of 0.
    pub const NO_STATS: Encoding = Encoding {
        min_timestamp: TIMESTAMP_EPOCH,
        min_local_deletion_time: DELETION_TIME_EPOCH,
        min_ttl: 0,
    };
}

/// Which big-format version is written: `nb` (what Cassandra 4.0, 4.1 and 5.0 read; 5.0's
/// default `storage_compatibility_mode`) or `oa` (5.0 with `storage_compatibility_mode: NONE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Nb,
    Oa,
}

impl Format {
    pub fn version(self) -> &'static str {
        match self {
            Format::Nb => "nb",
            Format::Oa => "oa",
        }
    }
}

/// Why a partition cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError(pub String);

/// A header column: where it is in the table, whether multi-cell, its values' fixed width.
#[derive(Clone, Debug)]
struct Column {
    table: usize,
    complex: bool,
    fixed: Option<usize>,
}

/// Writes the partitions of one table into Data.db bytes (uncompressed), layout `nb`.
pub struct DataWriter {
    format: Format,
    encoding: Encoding,
    clustering: Vec<Option<usize>>,
    /// In serialization order: simple columns, then complex, each by name's bytes.
    statics: Vec<Column>,
    regulars: Vec<Column>,
    /// Header position of each table column (static or regular).
    position: Vec<usize>,
    order: ClusteringComparator,
    scratch: Vec<u8>,
    /// The columns a row has, kept from row to row: (header position, index in the row).
    present: Vec<(usize, usize)>,
}

/// A range tombstone marker: where it lies, its kind (`ClusteringPrefix.Kind` ordinal) and the
/// deletions it closes and opens.
struct Marker<'a> {
    prefix: &'a [Vec<u8>],
    side: Side,
    kind: u8,
    deletions: Vec<Deletion>,
}

/// The markers of non-overlapping ranges, in order; adjacent ranges share a boundary.
fn markers<'a>(
    order: &ClusteringComparator,
    ranges: &'a [RangeDeletion],
) -> Result<Vec<Marker<'a>>, WriteError> {
    let mut sorted: Vec<&RangeDeletion> = ranges.iter().collect();
    sorted.sort_by(|a, b| order.compare_ranges(a, b));
    let mut out: Vec<Marker> = Vec::with_capacity(sorted.len() * 2);
    for r in sorted {
        let start = (&r.start.prefix[..], Side::of(&r.start, true));
        let end = (&r.end.prefix[..], Side::of(&r.end, false));
        match out.last_mut() {
            Some(last) => match order.compare_bounds((last.prefix, last.side), start) {
                Ordering::Greater => {
                    return Err(WriteError(
                        "range deletions overlap after normalizing; this is a bug in cassbulk, please report it".into(),
                    ));
                }
                Ordering::Equal => {
                    // EXCL_END_INCL_START or INCL_END_EXCL_START.
                    last.kind = if last.kind == 0 { 2 } else { 5 };
                    last.deletions.push(r.deletion);
                }
                Ordering::Less => out.push(Marker {
                    prefix: start.0,
                    side: start.1,
                    kind: if r.start.inclusive { 1 } else { 7 },
                    deletions: vec![r.deletion],
                }),
            },
            None => out.push(Marker {
                prefix: start.0,
                side: start.1,
                kind: if r.start.inclusive { 1 } else { 7 },
                deletions: vec![r.deletion],
            }),
        }
        out.push(Marker {
            prefix: end.0,
            side: end.1,
            kind: if r.end.inclusive { 6 } else { 0 },
            deletions: vec![r.deletion],
        });
    }
    Ok(out)
}

impl DataWriter {
    pub fn new(schema: &TableSchema, encoding: Encoding, format: Format) -> DataWriter {
        let mut position = vec![usize::MAX; schema.columns.len()];
        let mut columns = |kind: ColumnKind| {
            let mut list: Vec<(bool, &[u8], usize)> = schema
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.kind == kind)
                .map(|(i, c)| (c.cql_type.is_multi_cell(), c.name.as_bytes(), i))
                .collect();
            list.sort();
            list.into_iter()
                .enumerate()
                .map(|(at, (complex, _, table))| {
                    position[table] = at;
                    Column {
                        table,
                        complex,
                        fixed: schema.columns[table].cql_type.fixed_len(),
                    }
                })
                .collect::<Vec<_>>()
        };
        let statics = columns(ColumnKind::Static);
        let regulars = columns(ColumnKind::Regular);
        DataWriter {
            format,
            encoding,
            clustering: schema
                .clustering()
                .iter()
                .map(|c| c.cql_type.fixed_len())
                .collect(),
            statics,
            regulars,
            position,
            order: ClusteringComparator::new(schema),
            scratch: Vec::new(),
            present: Vec::new(),
        }
    }

    /// Appends `partition` to `out`.
    pub fn write(&mut self, partition: &Partition, out: &mut Vec<u8>) -> Result<(), WriteError> {
        let ranges = normalize_ranges(&self.order, &partition.range_deletions);
        let markers = markers(&self.order, &ranges)?;
        let start = out.len();
        let key_len = u16::try_from(partition.key.len())
            .map_err(|_| WriteError(format!("a key of {} bytes", partition.key.len())))?;
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(&partition.key);
        match (self.format, partition.deletion) {
            (Format::Nb, None) => {
                out.extend_from_slice(&i32::MAX.to_be_bytes());
                out.extend_from_slice(&i64::MIN.to_be_bytes());
            }
            (Format::Nb, Some(d)) => {
                out.extend_from_slice(&(d.local_deletion_time as i32).to_be_bytes());
                out.extend_from_slice(&d.timestamp.to_be_bytes());
            }
            // oa: one flag byte for a live partition, else the timestamp (its sign bit clear)
            // and the local deletion time as an unsigned 32-bit number.
            (Format::Oa, None) => out.push(0x80),
            (Format::Oa, Some(d)) => {
                if d.timestamp < 0 {
                    return Err(WriteError(format!(
                        "a partition deletion at timestamp {} (oa stores none below 0; write nb)",
                        d.timestamp
                    )));
                }
                out.extend_from_slice(&d.timestamp.to_be_bytes());
                out.extend_from_slice(&(d.local_deletion_time as u32).to_be_bytes());
            }
        }
        if !self.statics.is_empty() {
            let empty = Row::default();
            let row = partition.static_row.as_ref().unwrap_or(&empty);
            self.write_row(row, true, 0, out)?;
        }
        // Each unfiltered says how far back the previous one started (the first: the header).
        let mut previous = start;
        let mut pending = markers.into_iter().peekable();
        for row in &partition.rows {
            while let Some(m) = pending.next_if(|m| {
                self.order
                    .compare_bounds((m.prefix, m.side), (&row.clustering, Side::After))
                    == Ordering::Less
            }) {
                let at = out.len();
                self.write_marker(&m, (at - previous) as u64, out);
                previous = at;
            }
            let at = out.len();
            self.write_row(row, false, (at - previous) as u64, out)?;
            previous = at;
        }
        for m in pending {
            let at = out.len();
            self.write_marker(&m, (at - previous) as u64, out);
            previous = at;
        }
        out.push(END_OF_PARTITION);
        Ok(())
    }

    /// `UnfilteredSerializer.serialize(RangeTombstoneMarker)`: the flag, the bound's kind, its
    /// value count and values, the body's size, the previous unfiltered's, the deletion(s).
    fn write_marker(&self, m: &Marker, previous: u64, out: &mut Vec<u8>) {
        out.push(IS_MARKER);
        out.push(m.kind);
        out.extend_from_slice(&(m.prefix.len() as u16).to_be_bytes());
        write_clustering(m.prefix, &self.clustering, out);
        let mut body = Vec::with_capacity(32);
        write_unsigned(previous, &mut body);
        for d in &m.deletions {
            write_deletion(*d, self.encoding, &mut body);
        }
        write_unsigned(body.len() as u64, out);
        out.extend_from_slice(&body);
    }

    fn write_row(
        &mut self,
        row: &Row,
        is_static: bool,
        previous: u64,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        let e = self.encoding;
        let header = if is_static {
            &self.statics
        } else {
            &self.regulars
        };
        // (header position, index in the row) of each column the row has, in header order; a
        // vector kept from row to row.
        let mut present = std::mem::take(&mut self.present);
        present.clear();
        let mut has_complex_deletion = false;
        for (i, d) in row.columns.iter().enumerate() {
            match self.position.get(d.column) {
                Some(&at) if at < header.len() && header[at].table == d.column => {
                    present.push((at, i));
                    has_complex_deletion |= d.complex_deletion.is_some();
                }
                _ => {
                    return Err(WriteError(format!(
                        "column {} is not a {} column of the table",
                        d.column,
                        if is_static { "static" } else { "regular" }
                    )));
                }
            }
        }
        if !present.is_sorted_by_key(|(at, _)| *at) {
            present.sort_by_key(|(at, _)| *at);
        }
        let mut flags = 0u8;
        if row.liveness.is_some() {
            flags |= HAS_TIMESTAMP;
        }
        if row
            .liveness
            .is_some_and(|l| matches!(l.liveness, Liveness::Expiring { .. }))
        {
            flags |= HAS_TTL;
        }
        if row.deletion.is_some() {
            flags |= HAS_DELETION;
        }
        if has_complex_deletion {
            flags |= HAS_COMPLEX_DELETION;
        }
        if present.len() == header.len() {
            flags |= HAS_ALL_COLUMNS;
        }
        if is_static {
            flags |= EXTENSION_FLAG;
        }
        out.push(flags);
        if is_static {
            out.push(IS_STATIC);
        } else {
            if row.clustering.len() != self.clustering.len() {
                return Err(WriteError(format!(
                    "a row with {} clustering values; the table has {}",
                    row.clustering.len(),
                    self.clustering.len()
                )));
            }
            write_clustering(&row.clustering, &self.clustering, out);
        }
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let liveness = row.liveness;
        if let Some(l) = liveness {
            write_unsigned(l.timestamp.wrapping_sub(e.min_timestamp) as u64, &mut body);
            if let Liveness::Expiring {
                ttl,
                local_deletion_time,
            } = l.liveness
            {
                write_u32(i64::from(ttl) - e.min_ttl, &mut body);
                write_u32(local_deletion_time - e.min_local_deletion_time, &mut body);
            }
        }
        if let Some(d) = row.deletion {
            write_deletion(d, e, &mut body);
        }
        if flags & HAS_ALL_COLUMNS == 0 {
            write_subset(present.iter().map(|(at, _)| *at), header.len(), &mut body);
        }
        for &(at, i) in &present {
            let data = &row.columns[i];
            let column = &header[at];
            if column.complex {
                if has_complex_deletion {
                    match data.complex_deletion {
                        Some(d) => write_deletion(d, e, &mut body),
                        None => write_deletion(
                            Deletion {
                                timestamp: i64::MIN,
                                local_deletion_time: i64::from(i32::MAX),
                            },
                            e,
                            &mut body,
                        ),
                    }
                }
                write_unsigned(data.cells.len() as u64, &mut body);
                for cell in &data.cells {
                    write_cell(cell, column, liveness, e, &mut body);
                }
            } else {
                let [cell] = data.cells.as_slice() else {
                    return Err(WriteError(format!(
                        "simple column {} has {} cells",
                        column.table,
                        data.cells.len()
                    )));
                };
                write_cell(cell, column, liveness, e, &mut body);
            }
        }
        // The size covers the previous unfiltered's size and the body.
        write_unsigned((unsigned_size(previous) + body.len()) as u64, out);
        write_unsigned(previous, out);
        out.extend_from_slice(&body);
        self.scratch = body;
        self.present = present;
        Ok(())
    }
}

/// A 32-bit delta as Cassandra's `writeUnsignedVInt32` writes it: the int widened to a long
/// with its sign, so a negative delta (a deletion time before the header's minimum) takes nine
/// bytes and reads back through `readUnsignedVInt32`'s range check.
pub(crate) fn write_u32(delta: i64, out: &mut Vec<u8>) {
    write_unsigned(delta as i32 as i64 as u64, out);
}

fn write_deletion(d: Deletion, e: Encoding, out: &mut Vec<u8>) {
    write_unsigned(d.timestamp.wrapping_sub(e.min_timestamp) as u64, out);
    write_u32(d.local_deletion_time - e.min_local_deletion_time, out);
}

fn write_cell(
    cell: &Cell,
    column: &Column,
    row: Option<RowLiveness>,
    e: Encoding,
    out: &mut Vec<u8>,
) {
    let (deleted, expiring) = match cell.liveness {
        Liveness::Live => (false, None),
        Liveness::Tombstone { .. } => (true, None),
        Liveness::Expiring { ttl, .. } => (false, Some(ttl)),
    };
    let ldt = cell.liveness.local_deletion_time();
    let use_row_timestamp = row.is_some_and(|r| r.timestamp == cell.timestamp);
    let use_row_ttl = expiring.is_some()
        && row.is_some_and(|r| {
            matches!(r.liveness, Liveness::Expiring { .. })
                && r.liveness.ttl() == expiring
                && r.liveness.local_deletion_time() == ldt
        });
    let mut flags = 0u8;
    if cell.value.is_empty() {
        flags |= CELL_EMPTY_VALUE;
    }
    if deleted {
        flags |= CELL_DELETED;
    } else if expiring.is_some() {
        flags |= CELL_EXPIRING;
    }
    if use_row_timestamp {
        flags |= CELL_ROW_TIMESTAMP;
    }
    if use_row_ttl {
        flags |= CELL_ROW_TTL;
    }
    out.push(flags);
    if !use_row_timestamp {
        write_unsigned(cell.timestamp.wrapping_sub(e.min_timestamp) as u64, out);
    }
    if (deleted || expiring.is_some()) && !use_row_ttl {
        debug_assert_ne!(ldt, NO_DELETION_TIME);
        write_u32(ldt - e.min_local_deletion_time, out);
    }
    if let (Some(ttl), false) = (expiring, use_row_ttl) {
        write_u32(i64::from(ttl) - e.min_ttl, out);
    }
    if column.complex {
        write_unsigned(cell.path.len() as u64, out);
        out.extend_from_slice(&cell.path);
    }
    if !cell.value.is_empty() {
        write_value(&cell.value, column.fixed, out);
    }
}

fn write_value(value: &[u8], fixed: Option<usize>, out: &mut Vec<u8>) {
    if fixed.is_none() {
        write_unsigned(value.len() as u64, out);
    }
    out.extend_from_slice(value);
}

/// Clustering values behind 2-bit headers per 32 (bit 2i+1: null, bit 2i: empty); the model
/// has no null clustering values, so only empty ones are flagged.
fn write_clustering(values: &[Vec<u8>], widths: &[Option<usize>], out: &mut Vec<u8>) {
    for (block, chunk) in values.chunks(32).enumerate() {
        let mut header = 0u64;
        for (i, v) in chunk.iter().enumerate() {
            if v.is_empty() {
                header |= 1 << (2 * i);
            }
        }
        write_unsigned(header, out);
        for (i, v) in chunk.iter().enumerate() {
            if !v.is_empty() {
                write_value(v, widths[block * 32 + i], out);
            }
        }
    }
}

/// `Columns.serializeSubset`: which of the header's `superset` columns a row has.
/// `present` in increasing order.
fn write_subset(
    present: impl ExactSizeIterator<Item = usize> + Clone,
    superset: usize,
    out: &mut Vec<u8>,
) {
    let count = present.len();
    if count == superset {
        write_unsigned(0, out);
    } else if superset < 64 {
        // A bitmap of the missing columns.
        let mut bitmap = (1u64 << superset) - 1;
        for at in present {
            bitmap &= !(1 << at);
        }
        write_unsigned(bitmap, out);
    } else {
        write_unsigned((superset - count) as u64, out);
        if count < superset / 2 {
            for at in present {
                write_unsigned(at as u64, out);
            }
        } else {
            let mut next = present.peekable();
            for at in 0..superset {
                if next.peek() == Some(&at) {
                    next.next();
                } else {
                    write_unsigned(at as u64, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SliceBound;
    use crate::model::schema::{ColumnRow, build_table_schema};
    use crate::model::{TableName, Token};

    fn schema() -> TableSchema {
        let column = |name: &str, kind: &str, position: i32, ty: &str| ColumnRow {
            column_name: name.into(),
            clustering_order: "asc".into(),
            kind: kind.into(),
            position,
            type_name: ty.into(),
        };
        let rows = [
            column("k", "partition_key", 0, "int"),
            column("c", "clustering", 0, "int"),
            column("v", "regular", -1, "text"),
        ];
        build_table_schema(&TableName::parse("ks.t").unwrap(), &rows, &[]).unwrap()
    }

    fn range(from: i32, to: i32, timestamp: i64) -> RangeDeletion {
        let bound = |c: i32, inclusive| SliceBound {
            prefix: vec![c.to_be_bytes().to_vec()],
            inclusive,
        };
        RangeDeletion {
            start: bound(from, true),
            end: bound(to, false),
            deletion: Deletion {
                timestamp,
                local_deletion_time: 1_800_000_000,
            },
        }
    }

    fn partition(ranges: Vec<RangeDeletion>) -> Partition {
        Partition {
            token: Token(0),
            key: 1i32.to_be_bytes().to_vec(),
            deletion: None,
            range_deletions: ranges,
            static_row: None,
            rows: vec![],
        }
    }

    #[test]
    fn a_negative_32_bit_delta_is_sign_extended_as_cassandra_writes_it() {
        let mut out = Vec::new();
        write_u32(-1, &mut out);
        assert_eq!(out, [0xff; 9]);
        out.clear();
        write_u32(5, &mut out);
        assert_eq!(out, [5]);
    }

    #[test]
    fn adjacent_ranges_share_one_boundary_marker_and_overlapping_ones_are_split() {
        let mut writer = DataWriter::new(&schema(), Encoding::NO_STATS, Format::Nb);
        let mut out = Vec::new();
        writer
            .write(&partition(vec![range(5, 9, 20), range(1, 5, 10)]), &mut out)
            .unwrap();
        // Key, partition deletion, then three markers: INCL_START 1, the boundary
        // EXCL_END_INCL_START 5, EXCL_END 9.
        let kinds: Vec<u8> = out
            .windows(4)
            .filter(|w| w[0] == IS_MARKER && w[2..4] == [0, 1])
            .map(|w| w[1])
            .collect();
        assert_eq!(kinds, [1, 2, 0]);
        assert_eq!(out.last(), Some(&END_OF_PARTITION));
        // [1, 6) at 10 and [5, 9) at 20: [1, 5) at 10, then [5, 9) at 20, one boundary.
        let mut split = Vec::new();
        let overlapping = partition(vec![range(1, 6, 10), range(5, 9, 20)]);
        writer.write(&overlapping, &mut split).unwrap();
        assert_eq!(split, out);
    }
}
