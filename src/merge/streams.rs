//! Inputs that are already in token order (each SSTable written under Murmur3Partitioner, a live
//! table's scan), merged as streams: a k-way merge by token and partition key that takes the
//! versions of each partition from every input, merges them ([`merge_partitions`]) and settles
//! the result ([`settle`]), exactly as the partition builder would emit it, with no sort, no
//! arena and no spill. Memory is the partitions at the heads of the inputs.
//!
//! An input whose partitions are not in strictly increasing (token, key) order is refused where
//! it goes wrong ([`OutOfOrder`]): merging it as a stream would write a partition twice.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::model::order::TableOrder;
use crate::model::{Partition, Token};

use super::{Collapsed, merge_partitions, settle};

/// An input gave a partition that does not come after its previous one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{input}: partition {key} (token {token}) comes after token {previous}: its partitions are not in Murmur3 token order, so it cannot be merged as a stream; the SSTable may be damaged, or written under another partitioner"
)]
pub struct OutOfOrder {
    pub input: String,
    /// The partition key, as hex.
    pub key: String,
    pub token: i64,
    pub previous: i64,
}

/// The next partition of one input, in the heap ordered by (token, key, input).
struct Head {
    partition: Partition,
    input: usize,
}

impl Head {
    fn place(&self) -> (i64, &[u8], usize) {
        (self.partition.token.0, &self.partition.key, self.input)
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.place() == other.place()
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        self.place().cmp(&other.place())
    }
}

/// The k-way merge of token-ordered inputs, each named for errors. Yields every partition once,
/// merged and settled, in token order.
pub struct MergeStreams<I> {
    inputs: Vec<(String, I)>,
    heap: BinaryHeap<Reverse<Head>>,
    order: TableOrder,
    /// The inputs' partitions are settled already (`Started::ordered`): only merged copies
    /// need settling.
    settled: bool,
    started: bool,
    failed: bool,
    collapsed: Collapsed,
    partitions_out: u64,
}

impl<I, E> MergeStreams<I>
where
    I: Iterator<Item = Result<Partition, E>>,
    E: From<OutOfOrder>,
{
    /// The merge of inputs whose partitions are as read (an SSTable's): every partition given
    /// is settled.
    pub fn new(inputs: Vec<(String, I)>, order: TableOrder) -> MergeStreams<I> {
        MergeStreams {
            heap: BinaryHeap::with_capacity(inputs.len()),
            inputs,
            order,
            settled: false,
            started: false,
            failed: false,
            collapsed: Collapsed::default(),
            partitions_out: 0,
        }
    }

    /// The merge of inputs whose partitions are settled already: a partition only one input
    /// has is handed on as it is, and merged copies are settled.
    pub fn of_settled(inputs: Vec<(String, I)>, order: TableOrder) -> MergeStreams<I> {
        MergeStreams {
            settled: true,
            ..MergeStreams::new(inputs, order)
        }
    }

    /// What merging collapsed so far.
    pub fn collapsed(&self) -> Collapsed {
        self.collapsed
    }

    /// Partitions given so far.
    pub fn partitions_out(&self) -> u64 {
        self.partitions_out
    }

    /// Takes input `i`'s next partition into the heap; `after` is the one it gave before.
    fn pull(&mut self, i: usize, after: Option<(Token, &[u8])>) -> Result<(), E> {
        let (name, input) = &mut self.inputs[i];
        let Some(next) = input.next() else {
            return Ok(());
        };
        let partition = next?;
        if let Some((token, key)) = after
            && (token.0, key) >= (partition.token.0, &partition.key[..])
        {
            return Err(E::from(OutOfOrder {
                input: name.clone(),
                key: partition.key.iter().map(|b| format!("{b:02x}")).collect(),
                token: partition.token.0,
                previous: token.0,
            }));
        }
        self.heap.push(Reverse(Head {
            partition,
            input: i,
        }));
        Ok(())
    }

    fn next_partition(&mut self) -> Result<Option<Partition>, E> {
        if !self.started {
            self.started = true;
            for i in 0..self.inputs.len() {
                self.pull(i, None)?;
            }
        }
        let Some(Reverse(first)) = self.heap.pop() else {
            return Ok(None);
        };
        self.pull(
            first.input,
            Some((first.partition.token, &first.partition.key)),
        )?;
        let mut partition = first.partition;
        let mut merged = false;
        while self.heap.peek().is_some_and(|Reverse(h)| {
            h.partition.token == partition.token && h.partition.key == partition.key
        }) {
            let Some(Reverse(other)) = self.heap.pop() else {
                break;
            };
            self.pull(
                other.input,
                Some((other.partition.token, &other.partition.key)),
            )?;
            partition =
                merge_partitions(partition, other.partition, &self.order, &mut self.collapsed);
            merged = true;
        }
        if merged || !self.settled {
            settle(&mut partition, self.order.clustering());
        }
        self.partitions_out += 1;
        Ok(Some(partition))
    }
}

impl<I, E> Iterator for MergeStreams<I>
where
    I: Iterator<Item = Result<Partition, E>>,
    E: From<OutOfOrder>,
{
    type Item = Result<Partition, E>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_partition() {
            Ok(p) => p.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
