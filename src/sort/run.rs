//! Sorted runs on disk: the partition builder's entries written as a zstd-compressed stream in a
//! compact binary form (vints and length-prefixed bytes) and read back in order. A run that ends
//! early or holds garbage is an error, never a silent short read.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::model::bytes::INLINE;
use crate::model::cell::{ColumnData, RowLiveness};
use crate::model::vint;
use crate::model::{Cell, Deletion, Liveness, RangeDeletion, Row, SliceBound, SmallBytes};

use super::entry::{Entry, EntryKind};

/// zstd window: 2^17 bytes, so each run being read back needs little memory.
const WINDOW_LOG: u32 = 17;
/// Marks the end of a run, so a truncated run is detected.
const END: u8 = 0xff;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot write the spill file {path}: {source} (check free space in --temp-dir)")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read the spill file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the spill file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// Writes one sorted run.
pub struct RunWriter {
    path: PathBuf,
    out: zstd::Encoder<'static, BufWriter<File>>,
    buf: Vec<u8>,
    pub bytes_in: u64,
}

impl RunWriter {
    pub fn create(path: &Path) -> Result<RunWriter, RunError> {
        let err = |source| RunError::Write {
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(err)?;
        let mut out =
            zstd::Encoder::new(BufWriter::with_capacity(1 << 16, file), 1).map_err(err)?;
        out.window_log(WINDOW_LOG).map_err(err)?;
        Ok(RunWriter {
            path: path.to_owned(),
            out,
            buf: Vec::with_capacity(4096),
            bytes_in: 0,
        })
    }

    pub fn write(&mut self, entry: &Entry) -> Result<(), RunError> {
        self.buf.clear();
        encode_entry(entry, &mut self.buf);
        self.bytes_in += self.buf.len() as u64;
        self.out
            .write_all(&self.buf)
            .map_err(|source| RunError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// Writes an entry already encoded (`encode_entry`'s bytes).
    pub fn write_encoded(&mut self, bytes: &[u8]) -> Result<(), RunError> {
        self.bytes_in += bytes.len() as u64;
        self.out.write_all(bytes).map_err(|source| RunError::Write {
            path: self.path.clone(),
            source,
        })
    }

    /// Ends the run and flushes it to disk.
    pub fn finish(mut self) -> Result<PathBuf, RunError> {
        let err = |path: &Path, source| RunError::Write {
            path: path.to_owned(),
            source,
        };
        self.out.write_all(&[END]).map_err(|e| err(&self.path, e))?;
        let mut inner = self.out.finish().map_err(|e| err(&self.path, e))?;
        inner.flush().map_err(|e| err(&self.path, e))?;
        Ok(self.path)
    }
}

/// Reads a run back, entry by entry.
pub struct RunReader {
    path: PathBuf,
    input: BufReader<zstd::Decoder<'static, BufReader<File>>>,
    done: bool,
}

impl RunReader {
    pub fn open(path: &Path) -> Result<RunReader, RunError> {
        let err = |source| RunError::Read {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(err)?;
        let mut decoder = zstd::Decoder::new(file).map_err(err)?;
        decoder.window_log_max(WINDOW_LOG).map_err(err)?;
        Ok(RunReader {
            path: path.to_owned(),
            input: BufReader::with_capacity(1 << 16, decoder),
            done: false,
        })
    }

    /// The next entry, or `None` at the end marker.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, RunError> {
        if self.done {
            return Ok(None);
        }
        let mut input = Stream(&mut self.input);
        let mut r = Decoder { input: &mut input };
        let result = match r.byte() {
            Ok(END) => {
                self.done = true;
                return Ok(None);
            }
            Ok(tag) => decode_entry(tag, &mut r),
            Err(e) => Err(e),
        };
        result.map(Some).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => RunError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            },
            _ => RunError::Read {
                path: self.path.clone(),
                source: e,
            },
        })
    }
}

// ---- encoding ----

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    vint::write_unsigned(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn put_deletion(out: &mut Vec<u8>, d: Option<Deletion>) {
    match d {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            vint::write_signed(d.timestamp, out);
            vint::write_signed(d.local_deletion_time, out);
        }
    }
}

/// A liveness's kind: 0 live, 1 expiring, 2 tombstone (a row's tag byte, a cell header's
/// low two bits).
fn liveness_kind(l: Liveness) -> u8 {
    match l {
        Liveness::Live => 0,
        Liveness::Expiring { .. } => 1,
        Liveness::Tombstone { .. } => 2,
    }
}

/// What follows a liveness's kind: the TTL and deletion time of an expiring cell, the
/// deletion time of a tombstone.
fn put_liveness_payload(out: &mut Vec<u8>, l: Liveness) {
    match l {
        Liveness::Live => {}
        Liveness::Expiring {
            ttl,
            local_deletion_time,
        } => {
            vint::write_unsigned(u64::from(ttl), out);
            vint::write_signed(local_deletion_time, out);
        }
        Liveness::Tombstone {
            local_deletion_time,
        } => vint::write_signed(local_deletion_time, out),
    }
}

fn put_liveness(out: &mut Vec<u8>, l: Liveness) {
    out.push(liveness_kind(l));
    put_liveness_payload(out, l);
}

/// A column's header: its index, then whether a collection deletion follows and whether it
/// has exactly one cell (else a count follows), in one vint.
const COLUMN_DELETION: u64 = 0b10;
const COLUMN_SINGLE: u64 = 0b01;
/// A cell's header byte: its liveness kind in the low two bits, then whether its timestamp is
/// the previous one's (else a zigzag delta from it follows) and whether it has a path.
const CELL_SAME_TIME: u8 = 0b100;
const CELL_PATH: u8 = 0b1000;

/// A row. Timestamps are written as deltas from the one before (the row's liveness first),
/// so the cells of a row written at one time cost a bit each, not a vint of seven bytes:
/// entries in memory are what the builder holds, and this keeps them near their SSTable size.
fn put_row(out: &mut Vec<u8>, row: &Row) {
    vint::write_unsigned(row.clustering.len() as u64, out);
    for c in &row.clustering {
        put_bytes(out, c);
    }
    let mut previous = 0;
    match row.liveness {
        None => out.push(0),
        Some(l) => {
            out.push(1);
            vint::write_signed(l.timestamp, out);
            put_liveness(out, l.liveness);
            previous = l.timestamp;
        }
    }
    put_deletion(out, row.deletion);
    vint::write_unsigned(row.columns.len() as u64, out);
    for c in &row.columns {
        let single = c.cells.len() == 1;
        vint::write_unsigned(
            (c.column as u64) << 2
                | if c.complex_deletion.is_some() {
                    COLUMN_DELETION
                } else {
                    0
                }
                | if single { COLUMN_SINGLE } else { 0 },
            out,
        );
        if c.complex_deletion.is_some() {
            put_deletion(out, c.complex_deletion);
        }
        if !single {
            vint::write_unsigned(c.cells.len() as u64, out);
        }
        for cell in &c.cells {
            let same_time = cell.timestamp == previous;
            out.push(
                liveness_kind(cell.liveness)
                    | if same_time { CELL_SAME_TIME } else { 0 }
                    | if cell.path.is_empty() { 0 } else { CELL_PATH },
            );
            if !same_time {
                vint::write_signed(cell.timestamp.wrapping_sub(previous), out);
                previous = cell.timestamp;
            }
            put_liveness_payload(out, cell.liveness);
            if !cell.path.is_empty() {
                put_bytes(out, &cell.path);
            }
            put_bytes(out, &cell.value);
        }
    }
}
fn put_bound(out: &mut Vec<u8>, bound: &SliceBound) {
    vint::write_unsigned(bound.prefix.len() as u64, out);
    for c in &bound.prefix {
        put_bytes(out, c);
    }
    out.push(u8::from(bound.inclusive));
}

/// Appends an entry's encoding: a kind tag (the kind's rank in a partition, so encoded entries
/// compare without decoding: `arena.rs`), token, key, then the kind's payload.
pub fn encode_entry(e: &Entry, out: &mut Vec<u8>) {
    out.push(e.kind.rank());
    out.extend_from_slice(&e.token.to_be_bytes());
    put_bytes(out, &e.key);
    vint::write_unsigned(u64::from(e.source), out);
    match &e.kind {
        EntryKind::PartitionDeletion(d) => put_deletion(out, Some(*d)),
        EntryKind::Static(row) | EntryKind::Row(row) => put_row(out, row),
        EntryKind::RangeDeletion(r) => {
            put_bound(out, &r.start);
            put_bound(out, &r.end);
            put_deletion(out, Some(r.deletion));
        }
    }
}

// ---- decoding ----

/// Where a [`Decoder`] reads from: a run's stream, or an entry's bytes in the arena, which
/// it reads in place (the builder's output decodes every entry it holds, on one thread).
trait Input {
    fn byte(&mut self) -> io::Result<u8>;
    fn unsigned(&mut self) -> io::Result<u64>;
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()>;
    /// The next `n` bytes, owned.
    fn vec(&mut self, n: usize) -> io::Result<Vec<u8>>;
    /// The next `n` bytes, without a heap allocation when they are short.
    fn small(&mut self, n: usize) -> io::Result<SmallBytes>;
}

/// A run's decompressed stream.
struct Stream<'a, R: Read>(&'a mut R);

impl<R: Read> Input for Stream<'_, R> {
    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.0.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn unsigned(&mut self) -> io::Result<u64> {
        let first = self.byte()?;
        let extra = first.leading_ones() as usize;
        let mut buf = [0u8; 9];
        buf[0] = first;
        self.0.read_exact(&mut buf[1..=extra])?;
        vint::read_unsigned(&buf[..=extra])
            .map(|(v, _)| v)
            .map_err(|e| invalid(&e.to_string()))
    }

    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }

    fn vec(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0u8; n];
        self.0.read_exact(&mut v)?;
        Ok(v)
    }

    fn small(&mut self, n: usize) -> io::Result<SmallBytes> {
        if n > INLINE {
            return self.vec(n).map(SmallBytes::from);
        }
        let mut buf = [0u8; INLINE];
        self.0.read_exact(&mut buf[..n])?;
        Ok(SmallBytes::from_slice(&buf[..n]))
    }
}

/// An entry's bytes.
struct Slice<'a>(&'a [u8]);

impl Slice<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        if n > self.0.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "an entry cut short",
            ));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

impl Input for Slice<'_> {
    #[inline]
    fn byte(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    #[inline]
    fn unsigned(&mut self) -> io::Result<u64> {
        let (v, n) = vint::read_unsigned(self.0).map_err(|e| invalid(&e.to_string()))?;
        self.0 = &self.0[n..];
        Ok(v)
    }

    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        buf.copy_from_slice(self.take(buf.len())?);
        Ok(())
    }

    fn vec(&mut self, n: usize) -> io::Result<Vec<u8>> {
        Ok(self.take(n)?.to_vec())
    }

    #[inline]
    fn small(&mut self, n: usize) -> io::Result<SmallBytes> {
        Ok(SmallBytes::from_slice(self.take(n)?))
    }
}

struct Decoder<'a, I: Input> {
    input: &'a mut I,
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl<I: Input> Decoder<'_, I> {
    fn byte(&mut self) -> io::Result<u8> {
        self.input.byte()
    }

    fn unsigned(&mut self) -> io::Result<u64> {
        self.input.unsigned()
    }

    fn signed(&mut self) -> io::Result<i64> {
        let v = self.unsigned()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn len(&mut self) -> io::Result<usize> {
        let n = self.unsigned()?;
        if n > 1 << 31 {
            return Err(invalid("a length over 2 GiB"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> io::Result<Vec<u8>> {
        let n = self.len()?;
        self.input.vec(n)
    }

    /// A cell's path or value: short ones without a heap allocation.
    fn small_bytes(&mut self) -> io::Result<SmallBytes> {
        let n = self.len()?;
        self.input.small(n)
    }

    fn deletion(&mut self) -> io::Result<Option<Deletion>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(Deletion {
                timestamp: self.signed()?,
                local_deletion_time: self.signed()?,
            })),
            _ => Err(invalid("bad deletion tag")),
        }
    }

    fn liveness(&mut self) -> io::Result<Liveness> {
        let kind = self.byte()?;
        self.liveness_of_kind(kind)
    }

    /// The liveness of `kind` ([`liveness_kind`]), its payload read.
    fn liveness_of_kind(&mut self, kind: u8) -> io::Result<Liveness> {
        match kind {
            0 => Ok(Liveness::Live),
            1 => Ok(Liveness::Expiring {
                ttl: u32::try_from(self.unsigned()?).map_err(|_| invalid("TTL overflow"))?,
                local_deletion_time: self.signed()?,
            }),
            2 => Ok(Liveness::Tombstone {
                local_deletion_time: self.signed()?,
            }),
            _ => Err(invalid("bad liveness tag")),
        }
    }

    fn bound(&mut self) -> io::Result<SliceBound> {
        let n = self.len()?;
        let mut prefix = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            prefix.push(self.bytes()?);
        }
        let inclusive = match self.byte()? {
            0 => false,
            1 => true,
            _ => return Err(invalid("bad bound tag")),
        };
        Ok(SliceBound { prefix, inclusive })
    }

    fn row(&mut self) -> io::Result<Row> {
        let n = self.len()?;
        let mut clustering = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            clustering.push(self.bytes()?);
        }
        let liveness = match self.byte()? {
            0 => None,
            1 => Some(RowLiveness {
                timestamp: self.signed()?,
                liveness: self.liveness()?,
            }),
            _ => return Err(invalid("bad row liveness tag")),
        };
        let mut previous = liveness.map_or(0, |l| l.timestamp);
        let deletion = self.deletion()?;
        let n = self.len()?;
        let mut columns = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            let header = self.unsigned()?;
            let column = usize::try_from(header >> 2).map_err(|_| invalid("column overflow"))?;
            let complex_deletion = if header & COLUMN_DELETION != 0 {
                Some(
                    self.deletion()?
                        .ok_or_else(|| invalid("empty collection deletion"))?,
                )
            } else {
                None
            };
            let cells_len = if header & COLUMN_SINGLE != 0 {
                1
            } else {
                self.len()?
            };
            let mut cells = Vec::with_capacity(cells_len.min(1024));
            for _ in 0..cells_len {
                let header = self.byte()?;
                if header & !(0b11 | CELL_SAME_TIME | CELL_PATH) != 0 {
                    return Err(invalid("bad cell header"));
                }
                if header & CELL_SAME_TIME == 0 {
                    previous = previous.wrapping_add(self.signed()?);
                }
                let liveness = self.liveness_of_kind(header & 0b11)?;
                cells.push(Cell {
                    timestamp: previous,
                    liveness,
                    path: if header & CELL_PATH != 0 {
                        self.small_bytes()?
                    } else {
                        SmallBytes::new()
                    },
                    value: self.small_bytes()?,
                });
            }
            columns.push(ColumnData {
                column,
                cells,
                complex_deletion,
            });
        }
        Ok(Row {
            clustering,
            liveness,
            deletion,
            columns,
        })
    }
}

/// Decodes one entry from `encode_entry`'s bytes.
pub fn decode_entry_bytes(bytes: &[u8]) -> io::Result<Entry> {
    let mut input = Slice(bytes);
    let mut r = Decoder { input: &mut input };
    let tag = r.byte()?;
    decode_entry(tag, &mut r)
}

fn decode_entry<I: Input>(tag: u8, r: &mut Decoder<'_, I>) -> io::Result<Entry> {
    let mut token = [0u8; 8];
    r.input.fill(&mut token)?;
    let token = i64::from_be_bytes(token);
    let key = r.bytes()?;
    let source = u32::try_from(r.unsigned()?).map_err(|_| invalid("source overflow"))?;
    let kind = match tag {
        0 => EntryKind::PartitionDeletion(r.deletion()?.ok_or_else(|| invalid("empty deletion"))?),
        1 => EntryKind::Static(r.row()?),
        2 => EntryKind::RangeDeletion(RangeDeletion {
            start: r.bound()?,
            end: r.bound()?,
            deletion: r.deletion()?.ok_or_else(|| invalid("empty deletion"))?,
        }),
        3 => EntryKind::Row(r.row()?),
        _ => return Err(invalid("bad entry tag")),
    };
    Ok(Entry {
        token,
        key,
        source,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Entry> {
        let cell = Cell {
            timestamp: -5,
            liveness: Liveness::Expiring {
                ttl: 60,
                local_deletion_time: 1_800_000_000,
            },
            path: b"p".to_vec().into(),
            value: vec![0; 300].into(),
        };
        vec![
            Entry {
                token: i64::MIN,
                key: b"k1".to_vec(),
                source: 0,
                kind: EntryKind::PartitionDeletion(Deletion {
                    timestamp: 7,
                    local_deletion_time: 8,
                }),
            },
            Entry {
                token: i64::MIN,
                key: b"k1".to_vec(),
                source: 1,
                kind: EntryKind::RangeDeletion(RangeDeletion {
                    start: SliceBound {
                        prefix: vec![b"a".to_vec(), vec![]],
                        inclusive: false,
                    },
                    end: SliceBound::open(),
                    deletion: Deletion {
                        timestamp: 9,
                        local_deletion_time: 10,
                    },
                }),
            },
            Entry {
                token: 3,
                key: vec![],
                source: 2,
                kind: EntryKind::Row(Row {
                    clustering: vec![b"c".to_vec(), vec![]],
                    liveness: Some(RowLiveness {
                        timestamp: 9,
                        liveness: Liveness::Live,
                    }),
                    deletion: Some(Deletion {
                        timestamp: 1,
                        local_deletion_time: 2,
                    }),
                    columns: vec![ColumnData {
                        column: 4,
                        cells: vec![cell, Cell::tombstone(3, 4)],
                        complex_deletion: None,
                    }],
                }),
            },
            Entry {
                token: i64::MAX,
                key: b"k3".to_vec(),
                source: 1,
                kind: EntryKind::Static(Row::default()),
            },
            Entry {
                token: i64::MAX,
                key: b"k4".to_vec(),
                source: 0,
                kind: EntryKind::Row(Row {
                    columns: vec![
                        ColumnData {
                            column: 1,
                            cells: vec![Cell::live(i64::MIN, b"x".to_vec())],
                            complex_deletion: Some(Deletion {
                                timestamp: i64::MIN,
                                local_deletion_time: 5,
                            }),
                        },
                        ColumnData {
                            column: 70,
                            cells: vec![
                                Cell::live(i64::MAX, b"y".to_vec()),
                                Cell::live(i64::MAX, vec![]),
                                Cell::live(i64::MIN, b"z".to_vec()),
                            ],
                            complex_deletion: None,
                        },
                    ],
                    ..Row::default()
                }),
            },
        ]
    }

    #[test]
    fn a_row_written_at_one_time_costs_a_byte_a_cell_beyond_its_values() {
        let set = |path: &[u8], timestamp| Cell {
            path: path.into(),
            ..Cell::live(timestamp, Vec::new())
        };
        let entry = Entry {
            token: 0x0102_0304_0506_0708,
            key: b"k".to_vec(),
            source: 0,
            kind: EntryKind::Row(Row {
                clustering: vec![],
                liveness: Some(RowLiveness {
                    timestamp: 1000,
                    liveness: Liveness::Live,
                }),
                deletion: None,
                columns: vec![
                    ColumnData {
                        column: 1,
                        cells: vec![Cell::live(1000, b"ab".to_vec())],
                        complex_deletion: None,
                    },
                    ColumnData {
                        column: 2,
                        cells: vec![set(b"x", 1000), set(b"y", 1005)],
                        complex_deletion: None,
                    },
                ],
            }),
        };
        let mut out = Vec::new();
        encode_entry(&entry, &mut out);
        #[rustfmt::skip]
        let expected = [
            3, 1, 2, 3, 4, 5, 6, 7, 8, // row rank, token
            1, b'k', 0,                 // key, source
            0,                          // no clustering
            1, 0x87, 0xd0, 0,           // row liveness: zigzag 1000 as a vint, live
            0, 2,                       // no row deletion, two columns
            1 << 2 | 1,                 // column 1, one cell
            0b100, 2, b'a', b'b',       // live, the row's time, no path; value
            2 << 2,                     // column 2, a count follows
            2,
            0b1100, 1, b'x', 0,         // live, same time, path x, empty value
            0b1000, 10, 1, b'y', 0,     // live, time +5 (zigzag 10), path y
        ];
        assert_eq!(out, expected);
        assert_eq!(decode_entry_bytes(&out).unwrap(), entry);
    }

    #[test]
    fn entries_written_to_a_run_read_back_identical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run-0");
        let mut w = RunWriter::create(&path).unwrap();
        for e in sample() {
            w.write(&e).unwrap();
        }
        w.finish().unwrap();
        let mut r = RunReader::open(&path).unwrap();
        let mut back = Vec::new();
        while let Some(e) = r.next_entry().unwrap() {
            back.push(e);
        }
        assert_eq!(back, sample());
    }

    #[test]
    fn a_truncated_run_is_an_error_not_a_short_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run-0");
        let mut w = RunWriter::create(&path).unwrap();
        for e in sample() {
            w.write(&e).unwrap();
        }
        w.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 3] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let mut r = RunReader::open(&path).unwrap();
            let outcome = loop {
                match r.next_entry() {
                    Ok(Some(_)) => continue,
                    other => break other,
                }
            };
            assert!(outcome.is_err(), "cut at {cut} of {}", bytes.len());
        }
    }
}
