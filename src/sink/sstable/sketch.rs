//! The key-count sketch of Statistics.db's compaction metadata: stream-lib's
//! `HyperLogLogPlus(13, 25)` over each partition key's `MurmurHash.hash2_64` (seed 0), as
//! Cassandra's `MetadataCollector.addKey` feeds it. Compaction sizes the bloom filter of the
//! SSTable it writes from these sketches (`SSTableReader.getApproximateKeyCount`), so an empty
//! one would leave the first compaction of loaded SSTables with a filter sized for no keys.
//!
//! Written in the sketch's NORMAL form (stream-lib's `getBytes`): the version flag -2, p and sp
//! as unsigned varints, 0 for NORMAL, the register bytes' count, then the 8192 five-bit
//! registers packed six to a big-endian int (`RegisterSet`: 1366 ints).

/// The sketch's precision: 2^13 registers.
const P: u32 = 13;
/// The sparse precision Cassandra asks for (written, unused in NORMAL form).
const SP: u32 = 25;
const REGISTERS: usize = 1 << P;
/// `RegisterSet.getSizeForCount(8192)`: 8192 / 6 = 1365, not a multiple of 32, so 1366 ints.
const WORDS: usize = REGISTERS / 6 + 1;

/// Cassandra's `MurmurHash.hash2_64(key, 0, len, 0)`: MurmurHash64A, whose tail bytes Java
/// reads sign-extended.
pub fn hash2_64(key: &[u8]) -> i64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h: u64 = M.wrapping_mul(key.len() as u64);
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            // `(long) key.get(..) << 8 * i`: the byte sign-extended first.
            h ^= ((b as i8 as i64) << (8 * i)) as u64;
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h as i64
}

/// `HyperLogLogPlus(13, 25)` kept in NORMAL form.
#[derive(Clone)]
pub struct KeySketch {
    words: Vec<i32>,
}

impl Default for KeySketch {
    fn default() -> Self {
        KeySketch {
            words: vec![0; WORDS],
        }
    }
}

impl std::fmt::Debug for KeySketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeySketch({} registers set)", self.registers_set())
    }
}

impl KeySketch {
    /// Offers a partition key, as `MetadataCollector.addKey`.
    pub fn add_key(&mut self, key: &[u8]) {
        self.offer_hashed(hash2_64(key));
    }

    /// `HyperLogLogPlus.offerHashed(long)` in NORMAL form and `RegisterSet.updateIfGreater`.
    fn offer_hashed(&mut self, hash: i64) {
        let h = hash as u64;
        let index = (h >> (64 - P)) as usize;
        let run = ((h << P) | (1 << (P - 1))).leading_zeros() as i64 + 1;
        let bucket = index / 6;
        let shift = 5 * (index - bucket * 6);
        let mask = 0x1f_i64 << shift;
        let current = i64::from(self.words[bucket]) & mask;
        let new = run << shift;
        if current < new {
            self.words[bucket] = ((i64::from(self.words[bucket]) & !mask) | new) as i32;
        }
    }

    fn registers_set(&self) -> usize {
        (0..REGISTERS)
            .filter(|&i| (self.words[i / 6] >> (5 * (i % 6))) & 0x1f != 0)
            .count()
    }

    /// `HyperLogLogPlus.getBytes()` of the NORMAL form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + WORDS * 4);
        out.extend_from_slice(&(-2i32).to_be_bytes());
        for v in [P as usize, SP as usize, 0, WORDS * 4] {
            write_varint(v as u32, &mut out);
        }
        for w in &self.words {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// stream-lib's `Varint.writeUnsignedVarInt`: seven bits a byte, low first, high bit = more.
fn write_varint(mut v: u32, out: &mut Vec<u8>) {
    while v & !0x7f != 0 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values from Cassandra 5.0.9's own `MurmurHash.hash2_64(key, 0, len, 0)`, run in
    /// jshell against the node's jar (docs/research/sstable-writer-notes.md says how).
    #[test]
    fn hash2_64_is_cassandras_on_keys_of_every_tail_length_and_high_bytes() {
        for (key, want) in GOLDEN_HASHES {
            assert_eq!(hash2_64(key), *want, "{key:?}");
        }
    }

    /// The NORMAL form of a sketch holding 7,000 keys (`user0` .. `user6999` as text), as
    /// stream-lib 2.5.2 in Cassandra 5.0.9 serializes it once it has left the sparse form:
    /// its length and the CRC32 of its bytes.
    #[test]
    fn a_sketch_of_7000_keys_serializes_as_stream_libs() {
        let mut sketch = KeySketch::default();
        for i in 0..7000 {
            sketch.add_key(format!("user{i}").as_bytes());
        }
        let bytes = sketch.to_bytes();
        assert_eq!(&bytes[..4], &[0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(&bytes[4..9], &[13, 25, 0, 0xd8, 0x2a]);
        assert_eq!(bytes.len(), 9 + 1366 * 4);
        assert_eq!((bytes.len(), crc32fast::hash(&bytes)), GOLDEN_7000);
    }

    const GOLDEN_HASHES: &[(&[u8], i64)] = &[
        (b"", 0),
        (b"a", 510903276987443985),
        (b"ab", 7115271465109541368),
        (b"abc", -7148968302806999301),
        (b"abcd", -1436572670970492550),
        (b"abcde", 1261737182030650295),
        (b"abcdef", -5220177580319479943),
        (b"abcdefg", 2601573339036254301),
        (b"abcdefgh", -5775019520204625256),
        (b"abcdefghi", -3910857017675978046),
        (b"user12345678901", -7367063325193395715),
        (&[255], 7618038988497784788),
        (&[128, 1, 254], -180639573691126607),
        (
            &[0, 0, 0, 0, 0, 0, 0, 144, 195, 169, 255],
            -738482381627411929,
        ),
    ];

    /// stream-lib's bytes for the same 7,000 keys: 5,473 bytes, CRC32 3388889676 (its estimate:
    /// 7,017).
    const GOLDEN_7000: (usize, u32) = (5473, 3388889676);
}
