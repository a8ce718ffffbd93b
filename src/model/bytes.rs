//! [`SmallBytes`]: the owned byte string of a cell's value and path. Most CQL values are short
//! (ints, timestamps, uuids, the timeuuid paths of list elements, ids and names), so up to
//! [`INLINE`] bytes live inside the 24-byte handle itself and only longer ones go to the heap.
//! Sources build millions of cells a second; this keeps most of them free of allocations (the
//! Parquet decode stage spent a third of its time in malloc and free with `Vec<u8>` cells).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes stored inline, without a heap allocation.
pub const INLINE: usize = 22;

/// An immutable owned byte string, inline up to [`INLINE`] bytes. Compares, hashes and orders
/// as its bytes.
#[derive(Clone)]
pub struct SmallBytes(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl SmallBytes {
    /// The empty byte string.
    pub const fn new() -> SmallBytes {
        SmallBytes(Repr::Inline {
            len: 0,
            buf: [0; INLINE],
        })
    }

    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> SmallBytes {
        if bytes.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            SmallBytes(Repr::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            SmallBytes(Repr::Heap(bytes.into()))
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }

    /// Heap bytes held (0 when inline), for memory accounting.
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.as_slice().to_vec()
    }

    pub fn into_vec(self) -> Vec<u8> {
        match self.0 {
            Repr::Inline { len, buf } => buf[..usize::from(len)].to_vec(),
            Repr::Heap(b) => b.into_vec(),
        }
    }
}

impl Default for SmallBytes {
    fn default() -> SmallBytes {
        SmallBytes::new()
    }
}

impl Deref for SmallBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(bytes: &[u8]) -> SmallBytes {
        SmallBytes::from_slice(bytes)
    }
}

impl<const N: usize> From<[u8; N]> for SmallBytes {
    fn from(bytes: [u8; N]) -> SmallBytes {
        SmallBytes::from_slice(&bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for SmallBytes {
    fn from(bytes: &[u8; N]) -> SmallBytes {
        SmallBytes::from_slice(bytes)
    }
}

impl From<Vec<u8>> for SmallBytes {
    /// Short vectors are copied inline; longer ones keep their buffer (shrunk to fit).
    fn from(bytes: Vec<u8>) -> SmallBytes {
        if bytes.len() <= INLINE {
            SmallBytes::from_slice(&bytes)
        } else {
            SmallBytes(Repr::Heap(bytes.into_boxed_slice()))
        }
    }
}

impl From<SmallBytes> for Vec<u8> {
    fn from(bytes: SmallBytes) -> Vec<u8> {
        bytes.into_vec()
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &SmallBytes) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl PartialEq<[u8]> for SmallBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for SmallBytes {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl PartialEq<Vec<u8>> for SmallBytes {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<const N: usize> PartialEq<[u8; N]> for SmallBytes {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &SmallBytes) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &SmallBytes) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_is_as_small_as_a_vec() {
        assert_eq!(
            std::mem::size_of::<SmallBytes>(),
            std::mem::size_of::<Vec<u8>>()
        );
    }

    #[test]
    fn short_strings_stay_inline_and_long_ones_go_to_the_heap() {
        for len in [0, 1, 16, INLINE, INLINE + 1, 300] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let from_slice = SmallBytes::from_slice(&data);
            let from_vec = SmallBytes::from(data.clone());
            assert_eq!(from_slice, data);
            assert_eq!(from_vec.as_slice(), &data[..]);
            assert_eq!(from_vec.heap_size(), if len <= INLINE { 0 } else { len });
            assert_eq!(from_vec.clone().into_vec(), data);
        }
    }

    #[test]
    fn order_equality_and_hash_are_those_of_the_bytes() {
        use std::collections::hash_map::DefaultHasher;
        let short = SmallBytes::from(b"abc");
        let long = SmallBytes::from(vec![b'a'; 40]);
        assert!(long < short, "aaaa... sorts before abc");
        assert_eq!(short.cmp(&short.clone()), std::cmp::Ordering::Equal);
        let hash = |b: &[u8]| {
            let mut h = DefaultHasher::new();
            b.hash(&mut h);
            h.finish()
        };
        let mut h = DefaultHasher::new();
        long.hash(&mut h);
        assert_eq!(h.finish(), hash(&[b'a'; 40]));
        assert_eq!(SmallBytes::new(), SmallBytes::default());
        assert!(SmallBytes::new().is_empty());
    }
}
