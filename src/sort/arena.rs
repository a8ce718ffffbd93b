//! The builder's in-memory buffer: entries held in their spill-run encoding ([`super::run`]),
//! packed into 1 MiB chunks, with a 24-byte slot per entry (token, chunk, offset, length) that
//! is what gets sorted. A row costs its serialized size plus its slot, where the same row as a
//! [`crate::model::Row`] costs several allocations; and since a row's cells are freed right
//! after they are encoded, the allocator hands the same warm memory to the next row instead of
//! touching fresh pages.
//!
//! Sorting compares tokens in the slots and then reads keys and clusterings straight from the
//! bytes; entries are decoded only when they leave the arena, equal ones merged on the way
//! ([`Sorted`]). A spill copies the bytes of an entry without a duplicate unchanged.

use std::cmp::Ordering;
use std::io;
use std::mem::size_of;

use rayon::slice::ParallelSliceMut;

use crate::model::vint;

use super::entry::{Entry, EntryOrder};
use super::run::{decode_entry_bytes, encode_entry};

/// Bytes per chunk; an entry longer than that gets a chunk of its own.
const CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Slot {
    token: i64,
    chunk: u32,
    start: u32,
    len: u32,
}

/// Encoded entries and their slots.
#[derive(Default)]
pub struct Arena {
    chunks: Vec<Vec<u8>>,
    slots: Vec<Slot>,
    scratch: Vec<u8>,
    /// Bytes per new chunk; 0 for [`CHUNK`].
    chunk: usize,
}

impl Arena {
    pub fn new() -> Arena {
        Arena::default()
    }

    /// An arena of smaller chunks, for a batch's entries that another arena takes in
    /// ([`Arena::append`]): its last chunk wastes at most `chunk` bytes there.
    pub fn with_chunk(chunk: usize) -> Arena {
        Arena {
            chunk,
            ..Arena::default()
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Heap bytes held: chunks and slots by capacity.
    pub fn heap_size(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum::<usize>()
            + self.slots.capacity() * size_of::<Slot>()
            + self.scratch.capacity()
    }

    /// Encodes an entry into the arena.
    pub fn push(&mut self, entry: &Entry) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        encode_entry(entry, &mut scratch);
        self.push_encoded(entry.token, &scratch);
        self.scratch = scratch;
    }

    fn push_encoded(&mut self, token: i64, bytes: &[u8]) {
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.capacity() - c.len() >= bytes.len());
        if !fits {
            let size = if self.chunk == 0 { CHUNK } else { self.chunk };
            self.chunks.push(Vec::with_capacity(size.max(bytes.len())));
        }
        let chunk = self.chunks.len() - 1;
        let buf = &mut self.chunks[chunk];
        let start = buf.len();
        buf.extend_from_slice(bytes);
        self.slots.push(Slot {
            token,
            chunk: chunk as u32,
            start: start as u32,
            len: bytes.len() as u32,
        });
    }

    /// Moves another arena's entries in after this one's.
    pub fn append(&mut self, mut other: Arena) {
        let base = self.chunks.len() as u32;
        // A half-used last chunk gives back what it did not use.
        if let Some(last) = other.chunks.last_mut()
            && last.len() < last.capacity() / 2
        {
            last.shrink_to_fit();
        }
        self.chunks.append(&mut other.chunks);
        self.slots.extend(other.slots.iter().map(|s| Slot {
            chunk: s.chunk + base,
            ..*s
        }));
    }

    fn bytes(&self, slot: &Slot) -> &[u8] {
        &self.chunks[slot.chunk as usize][slot.start as usize..(slot.start + slot.len) as usize]
    }

    /// Sorts the entries (stable, on all cores) and gives them back in order, merging equal
    /// ones as they are read.
    pub fn sort(mut self, order: &EntryOrder) -> Sorted {
        let mut slots = std::mem::take(&mut self.slots);
        {
            let arena = &self;
            slots.par_sort_by(|a, b| {
                a.token
                    .cmp(&b.token)
                    .then_with(|| compare_encoded(order, arena.bytes(a), arena.bytes(b)))
            });
        }
        self.scratch = Vec::new();
        Sorted {
            arena: self,
            slots,
            next: 0,
        }
    }
}

/// An arena's entries in order.
pub struct Sorted {
    arena: Arena,
    slots: Vec<Slot>,
    next: usize,
}

/// What merging equal entries collapsed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collapsed {
    pub entries: u64,
    pub cells: u64,
}

impl Sorted {
    pub fn is_empty(&self) -> bool {
        self.next >= self.slots.len()
    }

    /// How many slots from `self.next` on hold the same entry (at least one).
    fn run_of_equal(&self, order: &EntryOrder) -> usize {
        let first = &self.slots[self.next];
        let a = self.arena.bytes(first);
        self.slots[self.next + 1..]
            .iter()
            .take_while(|s| {
                s.token == first.token
                    && compare_encoded(order, a, self.arena.bytes(s)) == Ordering::Equal
            })
            .count()
            + 1
    }

    /// The next `n` slots' entries merged into one (later copies into earlier ones, as
    /// pushed, [`Entry::absorb`]), and what that collapsed.
    fn merge_next(&mut self, n: usize, order: &EntryOrder) -> io::Result<(Entry, Collapsed)> {
        let mut collapsed = Collapsed::default();
        let mut entry = decode_entry_bytes(self.arena.bytes(&self.slots[self.next]))?;
        for slot in &self.slots[self.next + 1..self.next + n] {
            let (merged, dropped) =
                entry.absorb(decode_entry_bytes(self.arena.bytes(slot))?, order);
            entry = merged;
            collapsed.entries += 1;
            collapsed.cells += dropped;
        }
        self.next += n;
        Ok((entry, collapsed))
    }

    /// The next entry, every copy of it merged, and what that collapsed.
    pub fn next_entry(&mut self, order: &EntryOrder) -> io::Result<Option<(Entry, Collapsed)>> {
        if self.is_empty() {
            return Ok(None);
        }
        let n = self.run_of_equal(order);
        self.merge_next(n, order).map(Some)
    }

    /// The next entry's encoding: its bytes unchanged when it has no copies, else the merged
    /// entry encoded again into `out`.
    pub fn next_encoded<'a>(
        &'a mut self,
        order: &EntryOrder,
        out: &'a mut Vec<u8>,
    ) -> io::Result<Option<(&'a [u8], Collapsed)>> {
        if self.is_empty() {
            return Ok(None);
        }
        let n = self.run_of_equal(order);
        if n == 1 {
            let slot = self.slots[self.next];
            self.next += 1;
            return Ok(Some((self.arena.bytes(&slot), Collapsed::default())));
        }
        let (entry, collapsed) = self.merge_next(n, order)?;
        out.clear();
        encode_entry(&entry, out);
        Ok(Some((out.as_slice(), collapsed)))
    }
}

// ---- comparing encoded entries ----

/// An encoded entry's leading fields.
struct Head<'a> {
    rank: u8,
    key: &'a [u8],
    /// The kind's payload.
    rest: &'a [u8],
}

/// Reads a vint at the front of `bytes`, moving past it.
fn take_unsigned(bytes: &mut &[u8]) -> u64 {
    match vint::read_unsigned(bytes) {
        Ok((v, n)) => {
            *bytes = &bytes[n..];
            v
        }
        Err(_) => {
            *bytes = &[];
            0
        }
    }
}

/// Reads a length-prefixed byte string at the front of `bytes`, moving past it.
fn take_bytes<'a>(bytes: &mut &'a [u8]) -> &'a [u8] {
    let n = (take_unsigned(bytes) as usize).min(bytes.len());
    let (b, rest) = bytes.split_at(n);
    *bytes = rest;
    b
}

impl<'a> Head<'a> {
    /// The layout is `encode_entry`'s: tag (the kind's rank), 8 token bytes, key, source,
    /// payload. The arena's bytes are its own, so a short buffer (never written) reads as empty
    /// fields.
    fn parse(bytes: &'a [u8]) -> Head<'a> {
        let rank = bytes.first().copied().unwrap_or(0);
        let mut rest = bytes.get(9..).unwrap_or(&[]);
        let key = take_bytes(&mut rest);
        take_unsigned(&mut rest);
        Head { rank, key, rest }
    }
}

/// Compares two encoded entries of the same token as [`EntryOrder::compare`] compares them
/// decoded.
fn compare_encoded(order: &EntryOrder, a: &[u8], b: &[u8]) -> Ordering {
    let (x, y) = (Head::parse(a), Head::parse(b));
    x.key
        .cmp(y.key)
        .then(x.rank.cmp(&y.rank))
        .then_with(|| match x.rank {
            3 => compare_clusterings(order, x.rest, y.rest),
            // Range deletions are rare: compare them decoded.
            2 => match (decode_entry_bytes(a), decode_entry_bytes(b)) {
                (Ok(p), Ok(q)) => order.compare(&p, &q),
                _ => Ordering::Equal,
            },
            _ => Ordering::Equal,
        })
}

/// Compares the clusterings at the front of two rows' payloads, column by column, without
/// decoding the rows.
fn compare_clusterings(order: &EntryOrder, mut a: &[u8], mut b: &[u8]) -> Ordering {
    let (n, m) = (take_unsigned(&mut a), take_unsigned(&mut b));
    let clustering = order.clustering();
    for i in 0..n.min(m) as usize {
        let (x, y) = (take_bytes(&mut a), take_bytes(&mut b));
        let ord = clustering.compare_column(i, x, y);
        if ord.is_ne() {
            return ord;
        }
    }
    n.cmp(&m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cell::{ColumnData, RowLiveness};
    use crate::model::{Cell, Deletion, Liveness, RangeDeletion, Row, SliceBound, TableSchema};
    use crate::sort::entry::EntryKind;
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.t",
            &[
                ("k", "partition_key", "text"),
                ("c", "clustering desc", "int"),
                ("d", "clustering", "varint"),
                ("v", "regular", "text"),
            ],
        )
        .unwrap()
    }

    #[derive(Debug, Clone)]
    enum Kind {
        PartitionDeletion,
        Static,
        Range(i32, i32),
        Row(Vec<i32>),
    }

    fn varint(v: i32) -> Vec<u8> {
        let b = (v as i64).to_be_bytes();
        let skip = b
            .windows(2)
            .take_while(|w| (w[0] == 0 && w[1] < 0x80) || (w[0] == 0xff && w[1] >= 0x80))
            .count();
        b[skip..].to_vec()
    }

    fn entry(token: i64, key: u8, kind: Kind, ts: i64) -> Entry {
        let deletion = Deletion {
            timestamp: ts,
            local_deletion_time: 1,
        };
        let row = |clustering: Vec<Vec<u8>>| Row {
            clustering,
            liveness: Some(RowLiveness {
                timestamp: ts,
                liveness: Liveness::Live,
            }),
            deletion: None,
            columns: vec![ColumnData {
                column: 3,
                cells: vec![Cell {
                    timestamp: ts,
                    liveness: Liveness::Live,
                    path: Default::default(),
                    value: format!("v{ts}").into_bytes().into(),
                }],
                complex_deletion: None,
            }],
        };
        let kind = match kind {
            Kind::PartitionDeletion => EntryKind::PartitionDeletion(deletion),
            Kind::Static => EntryKind::Static(row(vec![])),
            Kind::Range(a, b) => EntryKind::RangeDeletion(RangeDeletion {
                start: SliceBound {
                    prefix: vec![a.to_be_bytes().to_vec()],
                    inclusive: true,
                },
                end: SliceBound {
                    prefix: vec![b.to_be_bytes().to_vec()],
                    inclusive: false,
                },
                deletion,
            }),
            Kind::Row(c) => {
                let mut clustering = vec![c[0].to_be_bytes().to_vec()];
                clustering.extend(c[1..].iter().map(|&d| varint(d)));
                EntryKind::Row(row(clustering))
            }
        };
        Entry {
            token,
            key: vec![b'k', key],
            source: 0,
            kind,
        }
    }

    fn arb_entry() -> impl Strategy<Value = Entry> {
        let kind = prop_oneof![
            Just(Kind::PartitionDeletion),
            Just(Kind::Static),
            (-3..3i32, -3..3i32).prop_map(|(a, b)| Kind::Range(a, b)),
            proptest::collection::vec(-300..300i32, 1..3).prop_map(Kind::Row),
        ];
        (-2..2i64, 0..3u8, kind, 0..5i64).prop_map(|(t, k, kind, ts)| entry(t, k, kind, ts))
    }

    proptest! {
        #[test]
        fn encoded_entries_sort_and_compare_exactly_as_decoded_ones(
            entries in proptest::collection::vec(arb_entry(), 0..60),
        ) {
            let order = EntryOrder::new(&schema());
            let mut arena = Arena::new();
            for e in &entries {
                arena.push(e);
            }
            let mut expected = entries.clone();
            expected.sort_by(|a, b| order.compare(a, b));
            let mut sorted = arena.sort(&order);
            let got: Vec<Entry> = sorted.slots.iter().map(|s| {
                decode_entry_bytes(sorted.arena.bytes(s)).unwrap()
            }).collect();
            prop_assert_eq!(&got, &expected);
            // Entries reading back merged: one per class of equal ones.
            let mut classes = expected.clone();
            classes.dedup_by(|a, b| order.compare(a, b) == Ordering::Equal);
            let mut merged = 0;
            while let Some((e, _)) = sorted.next_entry(&order).unwrap() {
                prop_assert_eq!(order.compare(&e, &classes[merged]), Ordering::Equal);
                merged += 1;
            }
            prop_assert_eq!(merged, classes.len());
        }
    }

    #[test]
    fn an_entry_without_copies_spills_as_its_own_bytes_and_copies_merge() {
        let order = EntryOrder::new(&schema());
        let mut arena = Arena::new();
        let a = entry(1, 1, Kind::Row(vec![5, 7]), 1);
        let b = entry(1, 1, Kind::Row(vec![5, 7]), 2);
        let c = entry(0, 1, Kind::Static, 3);
        for e in [&a, &b, &c] {
            arena.push(e);
        }
        assert_eq!(arena.len(), 3);
        let mut sorted = arena.sort(&order);
        let mut out = Vec::new();
        let mut own = Vec::new();
        encode_entry(&c, &mut own);
        let (bytes, collapsed) = sorted.next_encoded(&order, &mut out).unwrap().unwrap();
        assert_eq!((bytes, collapsed), (own.as_slice(), Collapsed::default()));
        let (bytes, collapsed) = sorted.next_encoded(&order, &mut out).unwrap().unwrap();
        assert_eq!(decode_entry_bytes(bytes).unwrap(), b);
        assert_eq!(collapsed.entries, 1);
        assert!(sorted.next_encoded(&order, &mut out).unwrap().is_none());
    }

    #[test]
    fn a_row_costs_its_encoding_and_a_slot() {
        let mut arena = Arena::new();
        let e = entry(1, 1, Kind::Row(vec![5, 7]), 1);
        let mut own = Vec::new();
        encode_entry(&e, &mut own);
        for _ in 0..100_000 {
            arena.push(&e);
        }
        let per_row = arena.heap_size().saturating_sub(CHUNK) as f64 / 100_000.0;
        assert!(
            per_row <= (own.len() + 2 * size_of::<Slot>()) as f64,
            "{per_row} bytes a row"
        );
    }
}
