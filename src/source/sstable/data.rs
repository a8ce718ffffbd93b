//! Data.db, partition by partition, into the model's [`Partition`]s: the key, the partition
//! deletion, the static row, then rows and range tombstone markers until the end flag. Values
//! are delta-encoded against the serialization header's minimums; rows carry their size, which
//! is checked. Byte layouts: `../shared/research/sstable-format.md` (UnfilteredSerializer,
//! Cell.Serializer, ClusteringPrefix, Columns.serializeSubset, DeletionTime in Cassandra 5.0).
//!
//! Cells become the model's cells as Cassandra would read them at `now`: an expiring cell whose
//! time has come is the tombstone Cassandra turns it into (its write time kept, so it still
//! shadows older copies elsewhere); one still live keeps its expiry, its TTL being what is left.

use std::sync::Arc;

use memmap2::Mmap;

use super::compression::CompressionInfo;
use super::descriptor::Layout;
use super::statistics::Header;
use crate::model::cell::{ColumnData, NO_DELETION_TIME, RowLiveness};
use crate::model::sstable_format::*;
use crate::model::{
    Cell, CqlType, Deletion, Liveness, Partition, RangeDeletion, Row, SliceBound, SmallBytes, Token,
};

/// Bytes of an uncompressed Data.db handed out at a time.
const BLOCK: usize = 64 * 1024;

/// A header column as the reader needs it: where its cells go in the target table (`None`:
/// the column is not in the target, read and left out), whether it is multi-cell, its
/// values' width when fixed, and when a column of its name was last dropped (microseconds):
/// cells and collection deletions written up to then belong to the dropped column and are
/// left out, as Cassandra leaves them out (`SerializationHelper.isDropped`), also when a
/// column of the same name was added again since.
#[derive(Clone, Debug)]
pub struct ColumnPlan {
    pub target: Option<usize>,
    pub complex: bool,
    pub fixed: Option<usize>,
    pub dropped: Option<i64>,
    /// A dense compact table's hidden empty `value` column, not in the target: its live cell
    /// is what makes the row exist, so it becomes the row's liveness.
    pub marks_row: bool,
}

impl ColumnPlan {
    pub fn new(cql: &CqlType, target: Option<usize>, dropped: Option<i64>) -> ColumnPlan {
        ColumnPlan {
            target,
            complex: cql.is_multi_cell(),
            fixed: cql.fixed_len(),
            dropped,
            marks_row: false,
        }
    }
}

/// How to read one SSTable's rows.
#[derive(Clone, Debug)]
pub struct RowPlan {
    pub layout: Layout,
    pub min_timestamp: i64,
    pub min_local_deletion_time: i64,
    pub min_ttl: i64,
    pub clustering: Vec<Option<usize>>,
    /// In the order Cassandra serializes them: simple columns, then complex, each by name.
    pub statics: Vec<ColumnPlan>,
    pub regulars: Vec<ColumnPlan>,
    /// Seconds since the epoch that decide which expiring cells have expired.
    pub now: i64,
    /// Expiring cells as written: their own TTL, never expired (golden tests of the writer).
    pub as_written: bool,
    /// A static compact table read into a table without clustering columns (as CQL showed it
    /// before `DROP COMPACT STORAGE`): each partition's static row is its one row.
    pub static_as_row: bool,
}

impl RowPlan {
    pub fn new(
        header: &Header,
        layout: Layout,
        statics: Vec<ColumnPlan>,
        regulars: Vec<ColumnPlan>,
        now: i64,
    ) -> RowPlan {
        RowPlan {
            layout,
            min_timestamp: header.min_timestamp,
            min_local_deletion_time: header.min_local_deletion_time,
            min_ttl: header.min_ttl,
            clustering: header
                .clustering
                .iter()
                .map(|t| t.cql.fixed_len())
                .collect(),
            statics,
            regulars,
            now,
            as_written: false,
            static_as_row: false,
        }
    }
}

/// A Data.db, mapped, with its compression if any.
pub struct DataFile {
    pub map: Mmap,
    pub compression: Option<CompressionInfo>,
}

impl DataFile {
    /// The uncompressed length.
    pub fn len(&self) -> u64 {
        self.compression
            .as_ref()
            .map_or(self.map.len() as u64, |c| c.data_length)
    }
}

/// Why reading stopped: what was wrong, at which uncompressed byte of Data.db.
#[derive(Debug)]
pub struct Damage {
    pub offset: u64,
    pub reason: String,
    /// Not damage: data the target table has no place for.
    pub unfit: bool,
}

type Result<T> = std::result::Result<T, Damage>;

/// A read position in the uncompressed bytes of a Data.db, uncompressing chunk by chunk.
pub struct Cursor {
    file: Arc<DataFile>,
    next_chunk: usize,
    buf: Vec<u8>,
    pos: usize,
    /// The uncompressed offset of `buf[0]`.
    base: u64,
    scratch: Vec<u8>,
}

impl Cursor {
    pub fn new(file: Arc<DataFile>) -> Cursor {
        Cursor {
            file,
            next_chunk: 0,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            scratch: Vec::new(),
        }
    }

    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Moves to `offset` of the uncompressed data (a partition's start, from Index.db): the
    /// chunk holding it is the next one loaded, and its bytes before `offset` are skipped.
    pub fn seek(&mut self, offset: u64) -> Result<()> {
        let chunk = match &self.file.compression {
            Some(info) => info.chunk_length.max(1),
            None => BLOCK,
        } as u64;
        self.next_chunk = usize::try_from(offset / chunk).unwrap_or(usize::MAX);
        self.base = offset / chunk * chunk;
        self.buf.clear();
        self.pos = 0;
        let skip = (offset - self.base) as usize;
        if skip > 0 {
            self.fill(skip, "the start of a token slice")?;
            self.pos = skip;
        }
        Ok(())
    }

    fn damage(&self, reason: impl Into<String>) -> Damage {
        Damage {
            offset: self.offset(),
            reason: reason.into(),
            unfit: false,
        }
    }

    /// Appends the next chunk; false at the end of the file.
    fn load(&mut self) -> Result<bool> {
        let at = self.base + self.buf.len() as u64;
        match &self.file.compression {
            Some(info) => {
                if self.next_chunk >= info.offsets.len() {
                    return Ok(false);
                }
                info.chunk(&self.file.map[..], self.next_chunk, &mut self.scratch)
                    .map_err(|reason| Damage {
                        offset: at,
                        reason,
                        unfit: false,
                    })?;
                self.buf.extend_from_slice(&self.scratch);
            }
            None => {
                let start = self.next_chunk * BLOCK;
                if start >= self.file.map.len() {
                    return Ok(false);
                }
                let end = (start + BLOCK).min(self.file.map.len());
                self.buf.extend_from_slice(&self.file.map[start..end]);
            }
        }
        self.next_chunk += 1;
        Ok(true)
    }

    /// Makes `n` bytes available from the position, or says the file ends too soon.
    #[inline]
    fn fill(&mut self, n: usize, what: &str) -> Result<()> {
        if self.buf.len() - self.pos >= n {
            return Ok(());
        }
        self.refill(n, what)
    }

    /// [`Cursor::fill`] when the bytes are not there yet: the next chunks are loaded.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize, what: &str) -> Result<()> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        while self.buf.len() < n {
            if !self.load()? {
                return Err(self.damage(format!(
                    "{what} ({n} bytes) runs past the end of the data: the file is truncated"
                )));
            }
        }
        Ok(())
    }

    /// True when every byte has been read.
    pub fn at_end(&mut self) -> Result<bool> {
        // A chunk may be empty (a writer's last one): keep loading until bytes or the end.
        while self.pos >= self.buf.len() {
            if !self.load()? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    #[inline]
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        self.fill(n, what)?;
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    #[inline]
    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    #[inline]
    fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take(2, what)?.try_into().unwrap()))
    }

    #[inline]
    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    #[inline]
    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    #[inline]
    fn uvint(&mut self, what: &str) -> Result<u64> {
        self.fill(1, what)?;
        let extra = self.buf[self.pos].leading_ones() as usize;
        self.fill(1 + extra, what)?;
        let bytes = &self.buf[self.pos..self.pos + 1 + extra];
        let mut v = u64::from(bytes[0]) & (0xff >> extra);
        for &b in &bytes[1..] {
            v = (v << 8) | u64::from(b);
        }
        self.pos += 1 + extra;
        Ok(v)
    }

    /// A value: `fixed` bytes, or a vint length and that many bytes.
    #[inline]
    fn value(&mut self, fixed: Option<usize>, what: &str) -> Result<SmallBytes> {
        let len = match fixed {
            Some(n) => n,
            None => self.length(what)?,
        };
        Ok(SmallBytes::from(self.take(len, what)?))
    }

    #[inline]
    fn length(&mut self, what: &str) -> Result<usize> {
        let len = self.uvint(what)?;
        if len > self.file.len() {
            return Err(self.damage(format!(
                "{what} claims {len} bytes, more than the whole file holds"
            )));
        }
        Ok(len as usize)
    }
}

/// Reads partitions one by one.
pub struct Partitions {
    cursor: Cursor,
    plan: Arc<RowPlan>,
    /// Where reading stops (a token slice's end), short of the file's end.
    end: Option<u64>,
}

impl Partitions {
    pub fn new(file: Arc<DataFile>, plan: Arc<RowPlan>) -> Partitions {
        Partitions {
            cursor: Cursor::new(file),
            plan,
            end: None,
        }
    }

    /// The partitions that start in `[start, end)` of the uncompressed data: a token slice,
    /// with `start` and `end` partition starts from Index.db.
    pub fn between(
        file: Arc<DataFile>,
        plan: Arc<RowPlan>,
        start: u64,
        end: u64,
    ) -> Result<Partitions> {
        let mut cursor = Cursor::new(file);
        cursor.seek(start)?;
        Ok(Partitions {
            cursor,
            plan,
            end: Some(end),
        })
    }

    /// How far into the uncompressed data reading is.
    pub fn offset(&self) -> u64 {
        self.cursor.offset()
    }

    /// The next partition, `None` at the end of the file.
    pub fn next_partition(&mut self) -> Result<Option<Partition>> {
        if self.end.is_some_and(|end| self.cursor.offset() >= end) || self.cursor.at_end()? {
            return Ok(None);
        }
        let c = &mut self.cursor;
        let p = &*self.plan;
        let key_len = c.u16("the partition key length")? as usize;
        let key = c.take(key_len, "the partition key")?.to_vec();
        let deletion = match p.layout {
            Layout::Nb => {
                let ldt = c.i32("the partition deletion")?;
                let at = c.i64("the partition deletion")?;
                (!(at == i64::MIN && ldt == i32::MAX)).then_some(Deletion {
                    timestamp: at,
                    local_deletion_time: i64::from(ldt),
                })
            }
            Layout::Oa => {
                let flags = c.u8("the partition deletion")?;
                if flags & 0x80 != 0 {
                    if flags != 0x80 {
                        return Err(
                            c.damage(format!("partition deletion flags {flags:#04x} are invalid"))
                        );
                    }
                    None
                } else {
                    let rest = c.take(7, "the partition deletion")?;
                    let mut at = i64::from(flags);
                    for &b in rest {
                        at = (at << 8) | i64::from(b);
                    }
                    let ldt = c.i32("the partition deletion")? as u32;
                    Some(Deletion {
                        timestamp: at,
                        local_deletion_time: i64::from(ldt),
                    })
                }
            }
        };
        let mut partition = Partition {
            token: Token::of_key(&key),
            key,
            deletion,
            range_deletions: Vec::new(),
            static_row: None,
            rows: Vec::new(),
        };
        if !p.statics.is_empty() {
            let flags = c.u8("the static row's flags")?;
            let ext = if flags & EXTENSION_FLAG != 0 {
                c.u8("the static row's flags")?
            } else {
                0
            };
            if flags & (END_OF_PARTITION | IS_MARKER) != 0 || ext & IS_STATIC == 0 {
                return Err(c.damage(format!(
                    "a static row was expected (the table has static columns), found flags {flags:#04x}"
                )));
            }
            let row = read_row_body(c, p, flags, true, Vec::new())?;
            if p.static_as_row {
                partition.rows.extend(row);
            } else {
                partition.static_row = row;
            }
        }
        let mut open: Option<(SliceBound, Deletion)> = None;
        loop {
            let flags = c.u8("a row's flags")?;
            if flags & END_OF_PARTITION != 0 {
                break;
            }
            let ext = if flags & EXTENSION_FLAG != 0 {
                c.u8("a row's extended flags")?
            } else {
                0
            };
            if flags & IS_MARKER != 0 {
                let kind = c.u8("a range tombstone bound's kind")?;
                let size = c.u16("a range tombstone bound's size")? as usize;
                if size > p.clustering.len() {
                    return Err(c.damage(format!(
                        "a range tombstone bound has {size} clustering values; the table has {}",
                        p.clustering.len()
                    )));
                }
                let prefix: Vec<Vec<u8>> = clustering(c, &p.clustering[..size])?
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect();
                c.uvint("a marker's size")?;
                c.uvint("the previous row's size")?;
                let first = deletion_time(c, p, "a range tombstone")?;
                let bound = |inclusive: bool| SliceBound {
                    prefix: prefix.clone(),
                    inclusive,
                };
                let close = |open: &mut Option<(SliceBound, Deletion)>,
                             out: &mut Vec<RangeDeletion>,
                             end: SliceBound|
                 -> std::result::Result<(), String> {
                    let (start, deletion) = open
                        .take()
                        .ok_or("a range tombstone ends that never started")?;
                    out.push(RangeDeletion {
                        start,
                        end,
                        deletion,
                    });
                    Ok(())
                };
                let ranges = &mut partition.range_deletions;
                let result = match kind {
                    1 | 7 if open.is_none() => {
                        open = Some((bound(kind == 1), first));
                        Ok(())
                    }
                    0 | 6 => close(&mut open, ranges, bound(kind == 6)),
                    2 | 5 => {
                        let second = deletion_time(c, p, "a range tombstone boundary")?;
                        close(&mut open, ranges, bound(kind == 5))
                            .map(|()| open = Some((bound(kind == 2), second)))
                    }
                    _ => Err(format!("range tombstone bound kind {kind} is invalid here")),
                };
                result.map_err(|reason| c.damage(reason))?;
                continue;
            }
            if ext & IS_STATIC != 0 {
                return Err(c.damage("a second static row"));
            }
            if p.static_as_row {
                let mut unfit = c.damage(
                    "this static compact table holds a row with a clustering value (a Thrift dynamic column), which a table without clustering columns cannot hold; create the target as DROP COMPACT STORAGE presents it (column1 clustering, value, the other columns static)",
                );
                unfit.unfit = true;
                return Err(unfit);
            }
            let key = clustering(c, &p.clustering)?;
            let key = key.into_iter().map(Option::unwrap_or_default).collect();
            if let Some(row) = read_row_body(c, p, flags, false, key)? {
                partition.rows.push(row);
            }
        }
        if open.is_some() {
            return Err(c.damage("a range tombstone never ends"));
        }
        Ok(Some(partition))
    }
}

/// Clustering values, each null, empty or a value, behind 2-bit headers per 32 values.
fn clustering(c: &mut Cursor, widths: &[Option<usize>]) -> Result<Vec<Option<Vec<u8>>>> {
    let mut out = Vec::with_capacity(widths.len());
    let mut header = 0u64;
    for (i, width) in widths.iter().enumerate() {
        if i % 32 == 0 {
            header = c.uvint("a clustering header")?;
        }
        let shift = (i % 32) * 2;
        if header & (1 << (shift + 1)) != 0 {
            out.push(None);
        } else if header & (1 << shift) != 0 {
            out.push(Some(Vec::new()));
        } else {
            out.push(Some(c.value(*width, "a clustering value")?.to_vec()));
        }
    }
    Ok(out)
}

fn timestamp(c: &mut Cursor, p: &RowPlan, what: &str) -> Result<i64> {
    Ok((c.uvint(what)? as i64).wrapping_add(p.min_timestamp))
}

fn local_deletion_time(c: &mut Cursor, p: &RowPlan, what: &str) -> Result<i64> {
    Ok(i64::from(c.uvint(what)? as u32 as i32) + p.min_local_deletion_time)
}

fn ttl(c: &mut Cursor, p: &RowPlan, what: &str) -> Result<i64> {
    Ok(i64::from(c.uvint(what)? as u32 as i32) + p.min_ttl)
}

/// A local deletion time as Cassandra decodes it: 5.0 (`oa`) stores them as unsigned 32-bit,
/// so one past 2038 reads negative here.
fn decode_ldt(p: &RowPlan, ldt: i64) -> i64 {
    if ldt >= 0 || p.layout == Layout::Nb {
        ldt
    } else {
        i64::from(ldt as i32 as u32)
    }
}

fn deletion_time(c: &mut Cursor, p: &RowPlan, what: &str) -> Result<Deletion> {
    let timestamp = timestamp(c, p, what)?;
    let ldt = local_deletion_time(c, p, what)?;
    Ok(Deletion {
        timestamp,
        local_deletion_time: decode_ldt(p, ldt),
    })
}

/// An expiring value at `now`: live with what is left of its TTL; `None` once expired.
fn expiring(p: &RowPlan, ldt: i64, ttl: i64) -> Option<Liveness> {
    if p.as_written {
        return Some(Liveness::Expiring {
            ttl: ttl as u32,
            local_deletion_time: ldt,
        });
    }
    let left = ldt - p.now;
    (left > 0).then(|| Liveness::Expiring {
        ttl: left.min(i64::from(u32::MAX)) as u32,
        local_deletion_time: ldt,
    })
}

/// The row after its flags (and clustering): size, liveness, deletion, columns. `None` when
/// nothing of the row is in the target table.
fn read_row_body(
    c: &mut Cursor,
    p: &RowPlan,
    flags: u8,
    is_static: bool,
    clustering: Vec<Vec<u8>>,
) -> Result<Option<Row>> {
    let size = c.uvint("a row's size")?;
    let start = c.offset();
    c.uvint("the previous row's size")?;
    let mut row = Row {
        clustering,
        ..Row::default()
    };
    let mut row_ttl = None;
    let mut row_timestamp = None;
    if flags & HAS_TIMESTAMP != 0 {
        let ts = timestamp(c, p, "a row's timestamp")?;
        row_timestamp = Some(ts);
        let liveness = if flags & HAS_TTL != 0 {
            let t = ttl(c, p, "a row's TTL")?;
            let ldt = decode_ldt(p, local_deletion_time(c, p, "a row's expiry")?);
            row_ttl = Some((t, ldt));
            // A materialized view's dead primary key (`EXPIRED_LIVENESS_TTL`), not a long TTL.
            if t == i64::from(i32::MAX) {
                None
            } else {
                expiring(p, ldt, t)
            }
        } else {
            Some(Liveness::Live)
        };
        // An expired row marker shows nothing; it is left out.
        row.liveness = liveness.map(|liveness| RowLiveness {
            timestamp: ts,
            liveness,
        });
    }
    if flags & HAS_DELETION != 0 {
        row.deletion = Some(deletion_time(c, p, "a row deletion")?);
    }
    let columns = if is_static { &p.statics } else { &p.regulars };
    let present: Vec<usize> = if flags & HAS_ALL_COLUMNS != 0 {
        (0..columns.len()).collect()
    } else {
        subset(c, columns.len())?
    };
    row.columns.reserve_exact(present.len());
    for i in present {
        let column = &columns[i];
        let mut data = ColumnData {
            column: column.target.unwrap_or(usize::MAX),
            cells: Vec::with_capacity(usize::from(!column.complex)),
            complex_deletion: None,
        };
        if column.complex {
            if flags & HAS_COMPLEX_DELETION != 0 {
                let d = deletion_time(c, p, "a collection deletion")?;
                // Written for every complex column of the row; a live one is no deletion.
                if d.timestamp != i64::MIN {
                    data.complex_deletion = Some(d);
                }
            }
            let n = c.uvint("a collection's cell count")?;
            data.cells.reserve_exact(n.min(1024) as usize);
            for _ in 0..n {
                if let Some(cell) = read_cell(c, p, column, row_timestamp, row_ttl)? {
                    data.cells.push(cell);
                }
            }
        } else if let Some(cell) = read_cell(c, p, column, row_timestamp, row_ttl)? {
            data.cells.push(cell);
        }
        if let Some(dropped) = column.dropped {
            data.cells.retain(|cell| cell.timestamp > dropped);
            data.complex_deletion = data.complex_deletion.filter(|d| d.timestamp > dropped);
        }
        if column.marks_row && row.liveness.is_none() {
            row.liveness = data
                .cells
                .iter()
                .find(|cell| !cell.liveness.is_tombstone())
                .map(|cell| RowLiveness {
                    timestamp: cell.timestamp,
                    liveness: cell.liveness,
                });
        }
        if column.target.is_some() && (!data.cells.is_empty() || data.complex_deletion.is_some()) {
            row.columns.push(data);
        }
    }
    // The model keeps a row's columns in table order (the merge walks them so); Cassandra
    // serializes simple columns before complex ones.
    row.columns.sort_by_key(|d| d.column);
    let read = c.offset() - start;
    if read != size {
        return Err(c.damage(format!(
            "a row says it is {size} bytes but its contents are {read}"
        )));
    }
    let empty = row.liveness.is_none() && row.deletion.is_none() && row.columns.is_empty();
    Ok((!empty).then_some(row))
}

/// The positions present in a row that does not have every column (`Columns.serializeSubset`).
fn subset(c: &mut Cursor, superset: usize) -> Result<Vec<usize>> {
    let encoded = c.uvint("a row's column subset")?;
    if encoded == 0 {
        return Ok((0..superset).collect());
    }
    if superset < 64 {
        if encoded >> superset != 0 {
            return Err(c.damage(format!(
                "a row's column bitmap {encoded:#x} names columns beyond the {superset} there are"
            )));
        }
        return Ok((0..superset).filter(|i| encoded & (1 << i) == 0).collect());
    }
    let missing = encoded as usize;
    if missing > superset {
        return Err(c.damage(format!("a row lacks {missing} of {superset} columns")));
    }
    let count = superset - missing;
    if count < superset / 2 {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let i = c.uvint("a present column's index")? as usize;
            if i >= superset {
                return Err(c.damage(format!("column index {i} is out of range")));
            }
            out.push(i);
        }
        Ok(out)
    } else {
        let mut absent = Vec::with_capacity(missing);
        for _ in 0..missing {
            absent.push(c.uvint("a missing column's index")? as usize);
        }
        Ok((0..superset).filter(|i| !absent.contains(i)).collect())
    }
}

fn read_cell(
    c: &mut Cursor,
    p: &RowPlan,
    column: &ColumnPlan,
    row_timestamp: Option<i64>,
    row_ttl: Option<(i64, i64)>,
) -> Result<Option<Cell>> {
    let flags = c.u8("a cell's flags")?;
    let deleted = flags & CELL_DELETED != 0;
    let is_expiring = flags & CELL_EXPIRING != 0;
    let timestamp = if flags & CELL_ROW_TIMESTAMP != 0 {
        row_timestamp
            .ok_or_else(|| c.damage("a cell takes the row's timestamp; the row has none"))?
    } else {
        timestamp(c, p, "a cell's timestamp")?
    };
    let (ttl_value, ldt) = if flags & CELL_ROW_TTL != 0 {
        row_ttl.ok_or_else(|| c.damage("a cell takes the row's TTL; the row has none"))?
    } else {
        let ldt = if deleted || is_expiring {
            decode_ldt(
                p,
                local_deletion_time(c, p, "a cell's local deletion time")?,
            )
        } else {
            NO_DELETION_TIME
        };
        let t = if is_expiring {
            ttl(c, p, "a cell's TTL")?
        } else {
            0
        };
        (t, ldt)
    };
    let path = if column.complex {
        let len = c.length("a cell path")?;
        SmallBytes::from(c.take(len, "a cell path")?)
    } else {
        SmallBytes::new()
    };
    let value = if flags & CELL_EMPTY_VALUE == 0 {
        c.value(column.fixed, "a cell value")?
    } else {
        SmallBytes::new()
    };
    let liveness = if deleted {
        Liveness::Tombstone {
            local_deletion_time: ldt,
        }
    } else if is_expiring || flags & CELL_ROW_TTL != 0 {
        match expiring(p, ldt, ttl_value) {
            Some(l) => l,
            None => {
                // Expired: a tombstone, as Cassandra reads it, so older copies stay shadowed.
                return Ok(Some(Cell {
                    timestamp,
                    liveness: Liveness::Tombstone {
                        local_deletion_time: ldt - ttl_value,
                    },
                    path,
                    value: SmallBytes::new(),
                }));
            }
        }
    } else {
        Liveness::Live
    };
    Ok(Some(Cell {
        timestamp,
        liveness,
        path,
        value,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An uncompressed Data.db of `len` bytes, byte `i` being `i % 251`.
    fn uncompressed(len: usize) -> (tempfile::NamedTempFile, Arc<DataFile>) {
        use std::io::Write;
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        file.write_all(&bytes).unwrap();
        let map = unsafe { Mmap::map(file.as_file()) }.unwrap();
        let data = Arc::new(DataFile {
            map,
            compression: None,
        });
        (file, data)
    }

    #[test]
    fn a_seek_lands_on_the_byte_asked_for_across_block_boundaries() {
        let len = 3 * BLOCK + 123;
        let (_file, data) = uncompressed(len);
        for at in [0, 1, BLOCK - 1, BLOCK, BLOCK + 7, 2 * BLOCK, len - 5] {
            let mut cursor = Cursor::new(data.clone());
            cursor.seek(at as u64).unwrap();
            assert_eq!(cursor.offset(), at as u64);
            let bytes = cursor.take(5, "five bytes").unwrap().to_vec();
            let want: Vec<u8> = (at..at + 5).map(|i| (i % 251) as u8).collect();
            assert_eq!(bytes, want, "at {at}");
            assert_eq!(cursor.offset(), at as u64 + 5);
        }
        let mut cursor = Cursor::new(data.clone());
        cursor.seek(len as u64).unwrap();
        assert!(cursor.at_end().unwrap(), "a seek to the end reads nothing");
        let mut cursor = Cursor::new(data);
        assert!(
            cursor.seek(len as u64 + 1).is_err(),
            "past the end is damage"
        );
    }
}
