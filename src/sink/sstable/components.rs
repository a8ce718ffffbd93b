//! The components around Data.db, as Cassandra 5.0 writes them for big-format `nb`
//! (byte layouts and their sources: `docs/research/sstable-writer-notes.md`): Index.db entries
//! without a row index, Summary.db (every 128th key), Filter.db (Cassandra's Bloom filter over
//! Murmur3 x64-128 of the key), LZ4 chunks with their CRC32s and CompressionInfo.db,
//! Statistics.db (validation, an empty key-count sketch, the stats, the serialization header)
//! with its CRC chain, Digest.crc32 and TOC.txt. Pure functions over bytes; `writer.rs` puts
//! them in files.

use crate::model::vint::write_unsigned;

// ------------------------------------------------------------------------------------------
// Murmur3, both halves (the Bloom filter needs h2 as well as the token's h1)

/// Cassandra's `MurmurHash.hash3_x64_128(key, 0)`, tail bytes sign-extended as Java does.
pub fn murmur3_128(key: &[u8]) -> (i64, i64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let fmix = |mut k: u64| {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    };
    let (mut h1, mut h2) = (0u64, 0u64);
    let blocks = key.len() / 16;
    for i in 0..blocks {
        let word = |j: usize| u64::from_le_bytes(key[j..j + 8].try_into().unwrap_or([0; 8]));
        let mut k1 = word(i * 16);
        let mut k2 = word(i * 16 + 8);
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = &key[blocks * 16..];
    // Java's (long) of a byte sign-extends before the shift.
    let byte = |i: usize| tail[i] as i8 as i64 as u64;
    let (mut k1, mut k2) = (0u64, 0u64);
    for i in (8..tail.len()).rev() {
        k2 ^= byte(i) << ((i - 8) * 8);
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    for i in (0..tail.len().min(8)).rev() {
        k1 ^= byte(i) << (i * 8);
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }
    h1 ^= key.len() as u64;
    h2 ^= key.len() as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1 as i64, h2 as i64)
}

// ------------------------------------------------------------------------------------------
// Filter.db

/// Cassandra's Bloom filter for `n` keys at a false-positive chance of 0.01: 5 hashes, 10 bits
/// per key plus 20, rounded up to whole 64-bit words (`FilterFactory`, `BloomCalculations`).
pub struct BloomFilter {
    hashes: u32,
    words: Vec<u64>,
}

impl BloomFilter {
    pub fn new(keys: u64) -> BloomFilter {
        let bits = keys * 10 + 20;
        let words = ((bits - 1) >> 6) + 1;
        BloomFilter {
            hashes: 5,
            words: vec![0; words as usize],
        }
    }

    /// Adds a partition key (`BloomFilter.setIndexes`: base h2, step h1, Java's signed `%`
    /// and `abs` over the whole words' capacity).
    pub fn add(&mut self, key: &[u8]) {
        let (h1, h2) = murmur3_128(key);
        self.add_hashes(h1, h2);
    }

    /// Adds a key by its [`murmur3_128`] halves.
    pub fn add_hashes(&mut self, h1: i64, h2: i64) {
        let capacity = (self.words.len() * 64) as i64;
        let mut base = h2;
        for _ in 0..self.hashes {
            let index = (base % capacity).unsigned_abs() as usize;
            self.words[index / 64] |= 1 << (index % 64);
            base = base.wrapping_add(h1);
        }
    }

    /// `BloomFilterSerializer`: the hash count, the word count, the bits (bit i in byte i/8).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.words.len() * 8);
        out.extend_from_slice(&(self.hashes as i32).to_be_bytes());
        out.extend_from_slice(&(self.words.len() as i32).to_be_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

// ------------------------------------------------------------------------------------------
// Index.db and Summary.db

/// An Index.db entry for a partition without a row index: the key, its Data.db offset, 0.
pub fn index_entry(key: &[u8], data_offset: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key);
    write_unsigned(data_offset, out);
    out.push(0);
}

/// `min_index_interval`: every this many keys one goes into Summary.db.
pub const INDEX_INTERVAL: u64 = 128;

/// Summary.db: every 128th key with its Index.db offset, then the first and last key.
#[derive(Default)]
pub struct Summary {
    samples: Vec<(Vec<u8>, u64)>,
    keys: u64,
    first: Option<Vec<u8>>,
    last: Vec<u8>,
}

impl Summary {
    pub fn add(&mut self, key: &[u8], index_offset: u64) {
        if self.keys.is_multiple_of(INDEX_INTERVAL) {
            self.samples.push((key.to_vec(), index_offset));
        }
        if self.first.is_none() {
            self.first = Some(key.to_vec());
        }
        self.last.clear();
        self.last.extend_from_slice(key);
        self.keys += 1;
    }

    /// The first and last keys added.
    pub fn bounds(&self) -> (&[u8], &[u8]) {
        (self.first.as_deref().unwrap_or_default(), &self.last)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let count = self.samples.len();
        let entries: usize = self.samples.iter().map(|(k, _)| k.len() + 8).sum();
        let mut out = Vec::with_capacity(24 + count * 4 + entries + 8 + 2 * self.last.len());
        out.extend_from_slice(&(INDEX_INTERVAL as i32).to_be_bytes());
        out.extend_from_slice(&(count as i32).to_be_bytes());
        out.extend_from_slice(&((count * 4 + entries) as i64).to_be_bytes());
        out.extend_from_slice(&(INDEX_INTERVAL as i32).to_be_bytes()); // sampling level
        out.extend_from_slice(&(count as i32).to_be_bytes()); // size at full sampling
        let mut offset = count * 4;
        for (key, _) in &self.samples {
            out.extend_from_slice(&(offset as u32).to_le_bytes());
            offset += key.len() + 8;
        }
        for (key, position) in &self.samples {
            out.extend_from_slice(key);
            out.extend_from_slice(&position.to_le_bytes());
        }
        for key in [self.first.as_deref().unwrap_or_default(), &self.last[..]] {
            out.extend_from_slice(&(key.len() as i32).to_be_bytes());
            out.extend_from_slice(key);
        }
        out
    }
}

// ------------------------------------------------------------------------------------------
// Compression: LZ4 chunks, CompressionInfo.db, Digest.crc32

/// The table's default: 16 KiB chunks.
pub const CHUNK_LENGTH: usize = 16 * 1024;

/// Compresses Data.db chunk by chunk as `CompressedSequentialWriter` does with the
/// LZ4Compressor: each chunk a 4-byte little-endian length and an LZ4 block, then a big-endian
/// CRC32 of those bytes. Keeps the chunk offsets and a CRC32 of everything written (the
/// digest).
pub struct Lz4Chunks {
    pending: Vec<u8>,
    offsets: Vec<u64>,
    written: u64,
    uncompressed: u64,
    compressed: u64,
    digest: crc32fast::Hasher,
    scratch: Vec<u8>,
}

impl Default for Lz4Chunks {
    fn default() -> Self {
        Lz4Chunks {
            pending: Vec::with_capacity(CHUNK_LENGTH * 2),
            offsets: Vec::new(),
            written: 0,
            uncompressed: 0,
            compressed: 0,
            digest: crc32fast::Hasher::new(),
            scratch: Vec::new(),
        }
    }
}

impl Lz4Chunks {
    /// Takes uncompressed bytes; appends the whole chunks they complete to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        // A chunk begun by earlier bytes is completed first; whole chunks are then compressed
        // straight from the input, and only the tail waits.
        if !self.pending.is_empty() {
            let take = (CHUNK_LENGTH - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() == CHUNK_LENGTH {
                let mut pending = std::mem::take(&mut self.pending);
                self.chunk(&pending, out);
                pending.clear();
                self.pending = pending;
            }
        }
        while bytes.len() >= CHUNK_LENGTH {
            self.chunk(&bytes[..CHUNK_LENGTH], out);
            bytes = &bytes[CHUNK_LENGTH..];
        }
        self.pending.extend_from_slice(bytes);
    }

    fn chunk(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
        self.scratch
            .resize(lz4_flex::block::get_maximum_output_size(chunk.len()), 0);
        let n = lz4_flex::block::compress_into(chunk, &mut self.scratch).unwrap_or(0);
        out.extend_from_slice(&self.scratch[..n]);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
        self.digest.update(&out[start..]);
        self.offsets.push(self.written);
        self.compressed += (out.len() - start - 4) as u64;
        self.written += (out.len() - start) as u64;
        self.uncompressed += chunk.len() as u64;
    }

    /// Writes the last, partial chunk; returns CompressionInfo.db, the digest and the
    /// compressed-to-uncompressed ratio.
    pub fn finish(mut self, out: &mut Vec<u8>) -> (Vec<u8>, u32, f64) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.chunk(&rest, out);
        }
        let mut info = Vec::with_capacity(40 + self.offsets.len() * 8);
        write_utf("LZ4Compressor", &mut info);
        info.extend_from_slice(&0i32.to_be_bytes()); // no options
        info.extend_from_slice(&(CHUNK_LENGTH as i32).to_be_bytes());
        info.extend_from_slice(&i32::MAX.to_be_bytes()); // every chunk compressed
        info.extend_from_slice(&(self.uncompressed as i64).to_be_bytes());
        info.extend_from_slice(&(self.offsets.len() as i32).to_be_bytes());
        for o in &self.offsets {
            info.extend_from_slice(&(*o as i64).to_be_bytes());
        }
        let ratio = if self.uncompressed == 0 {
            -1.0
        } else {
            self.compressed as f64 / self.uncompressed as f64
        };
        (info, self.digest.finalize(), ratio)
    }
}

/// Java's `writeUTF` for ASCII: a u16 length and the bytes.
fn write_utf(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// TOC.txt: one component per line.
pub fn toc(compressed: bool) -> String {
    let mut names = vec![
        "Data.db",
        "Index.db",
        "Filter.db",
        "Summary.db",
        "Statistics.db",
        "Digest.crc32",
    ];
    names.push(if compressed {
        "CompressionInfo.db"
    } else {
        "CRC.db"
    });
    names.push("TOC.txt");
    names.iter().map(|n| format!("{n}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Token;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn murmur3_gives_the_token_as_its_first_half_and_cassandras_second_half() {
        let key = 1i32.to_be_bytes();
        let (h1, h2) = murmur3_128(&key);
        assert_eq!(h1 as u64, 0xc784_9998_2ae4_e0cf);
        assert_eq!(h2 as u64, 0x798c_330c_bcdf_e0e6);
        // Every length of tail, high bytes (sign extension) included: the driver's token.
        let bytes: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(200))
            .collect();
        for len in 0..bytes.len() {
            let key = &bytes[..len];
            let token = Token::of_key(key).0;
            let h1 = murmur3_128(key).0;
            // The partitioner maps Long.MIN_VALUE to Long.MAX_VALUE; nothing else changes.
            assert_eq!(if h1 == i64::MIN { i64::MAX } else { h1 }, token, "{len}");
        }
    }

    #[test]
    fn the_filter_for_one_key_is_cassandras_bytes() {
        let mut filter = BloomFilter::new(1);
        filter.add(&1i32.to_be_bytes());
        assert_eq!(hex(&filter.to_bytes()), "00000005000000011000004040202000");
    }

    #[test]
    fn the_summary_of_one_key_is_cassandras_bytes() {
        let mut summary = Summary::default();
        summary.add(&1i32.to_be_bytes(), 0);
        assert_eq!(
            hex(&summary.to_bytes()),
            "00000080000000010000000000000010000000800000000104000000\
             000000010000000000000000000000040000000100000004 00000001"
                .replace(' ', "")
        );
    }

    #[test]
    fn an_index_entry_is_the_key_its_offset_and_no_row_index() {
        let mut out = Vec::new();
        index_entry(&1i32.to_be_bytes(), 0, &mut out);
        assert_eq!(hex(&out), "0004000000010000");
    }

    #[test]
    fn lz4_chunks_read_back_through_the_readers_compression_info() {
        let data: Vec<u8> = (0..40_000u32).flat_map(|i| (i / 7).to_be_bytes()).collect();
        let mut chunks = Lz4Chunks::default();
        let mut file = Vec::new();
        for piece in data.chunks(1000) {
            chunks.push(piece, &mut file);
        }
        let (info, digest, ratio) = chunks.finish(&mut file);
        assert_eq!(digest, crc32fast::hash(&file));
        assert!(ratio > 0.0 && ratio < 1.0, "{ratio}");
        let parsed =
            crate::source::sstable::parse_compression_info(&info, file.len() as u64).unwrap();
        assert_eq!(parsed.data_length, data.len() as u64);
        let mut back = Vec::new();
        let mut chunk = Vec::new();
        for i in 0..parsed.offsets.len() {
            parsed.chunk(&file, i, &mut chunk).unwrap();
            back.extend_from_slice(&chunk);
        }
        assert_eq!(back, data);
    }
}
