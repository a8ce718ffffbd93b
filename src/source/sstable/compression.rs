//! Compressed Data.db files: `CompressionInfo.db` (the compressor's class name, its options, the
//! chunk length, the largest compressed chunk (from `na` on), the uncompressed length and every
//! chunk's offset) and the chunks themselves, each followed by a big-endian CRC32 of its bytes on
//! disk. From `na` on, a chunk whose compressed form would not be smaller than
//! `maxCompressedLength` is stored as it is; Cassandra 3.x compressed every chunk.
//! LZ4 chunks are a 4-byte little-endian length and an LZ4 block; Zstd chunks a Zstd frame;
//! Snappy chunks raw Snappy; Deflate chunks a zlib stream.

use std::io::Read;

/// How chunks are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Lz4,
    Zstd,
    Snappy,
    Deflate,
    Noop,
}

/// What `CompressionInfo.db` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressionInfo {
    pub algorithm: Algorithm,
    pub class: String,
    pub chunk_length: usize,
    pub max_compressed_length: usize,
    pub data_length: u64,
    pub offsets: Vec<u64>,
}

/// A big-endian reader over a small component file; errors say what was expected where.
pub struct Bytes<'a> {
    pub bytes: &'a [u8],
    pub at: usize,
}

impl<'a> Bytes<'a> {
    pub fn new(bytes: &'a [u8]) -> Bytes<'a> {
        Bytes { bytes, at: 0 }
    }

    pub fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "{what} at byte {} runs past the end of the file ({} bytes)",
                self.at,
                self.bytes.len()
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub fn u16(&mut self, what: &str) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.take(2, what)?.try_into().unwrap()))
    }

    pub fn i32(&mut self, what: &str) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.take(4, what)?.try_into().unwrap()))
    }

    pub fn i64(&mut self, what: &str) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.take(8, what)?.try_into().unwrap()))
    }

    pub fn uvint(&mut self, what: &str) -> Result<u64, String> {
        let at = self.at;
        let (v, n) = crate::model::vint::read_unsigned(&self.bytes[at.min(self.bytes.len())..])
            .map_err(|_| format!("{what} at byte {at} runs past the end of the file"))?;
        self.at += n;
        Ok(v)
    }

    /// Java's `writeUTF`: a u16 length and (modified) UTF-8.
    pub fn utf(&mut self, what: &str) -> Result<String, String> {
        let len = self.u16(what)? as usize;
        let at = self.at;
        String::from_utf8(self.take(len, what)?.to_vec())
            .map_err(|_| format!("{what} at byte {at} is not UTF-8"))
    }
}

impl CompressionInfo {
    /// Reads `CompressionInfo.db`; `file_length` is the compressed Data.db's size;
    /// `has_max_compressed_length` for versions `na` and later.
    pub fn parse(
        bytes: &[u8],
        file_length: u64,
        has_max_compressed_length: bool,
    ) -> Result<CompressionInfo, String> {
        let mut b = Bytes::new(bytes);
        let class = b.utf("the compressor's class name")?;
        let algorithm = match class.rsplit('.').next().unwrap_or(&class) {
            "LZ4Compressor" => Algorithm::Lz4,
            "ZstdCompressor" => Algorithm::Zstd,
            "SnappyCompressor" => Algorithm::Snappy,
            "DeflateCompressor" => Algorithm::Deflate,
            "NoopCompressor" => Algorithm::Noop,
            other => {
                return Err(format!(
                    "compressor {other} is not one cassbulk reads (LZ4, Zstd, Snappy, Deflate, Noop)"
                ));
            }
        };
        let options = b.i32("the option count")?;
        for _ in 0..options.max(0) {
            b.utf("an option name")?;
            b.utf("an option value")?;
        }
        let chunk_length = b.i32("the chunk length")?;
        // Cassandra reads a file without it as if every chunk were compressed.
        let max_compressed_length = match has_max_compressed_length {
            true => b.i32("the largest compressed chunk")?,
            false => i32::MAX,
        };
        let data_length = b.i64("the uncompressed length")?;
        let count = b.i32("the chunk count")?;
        if chunk_length <= 0 || !(chunk_length as u32).is_power_of_two() || count < 0 {
            return Err(format!(
                "chunk length {chunk_length} or chunk count {count} is impossible"
            ));
        }
        let mut offsets = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let offset = b.i64("a chunk offset")?;
            if offset < 0
                || offset as u64 > file_length
                || offsets.last().is_some_and(|&l| offset as u64 <= l)
            {
                return Err(format!(
                    "chunk offset {offset} is out of order or past the end of Data.db ({file_length} bytes)"
                ));
            }
            offsets.push(offset as u64);
        }
        // A writer that finishes on a chunk boundary may still write one empty chunk.
        let expected = (data_length.max(0) as u64).div_ceil(chunk_length as u64);
        if count as u64 != expected && count as u64 != expected + 1 {
            return Err(format!(
                "{count} chunks of {chunk_length} bytes cannot hold {data_length} bytes"
            ));
        }
        Ok(CompressionInfo {
            algorithm,
            class,
            chunk_length: chunk_length as usize,
            max_compressed_length: max_compressed_length.max(0) as usize,
            data_length: data_length as u64,
            offsets,
        })
    }

    /// Chunk `i` of `data` (the whole compressed Data.db), checked against its CRC32 and
    /// uncompressed into `out` (cleared first).
    pub fn chunk(&self, data: &[u8], i: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let start = self.offsets[i] as usize;
        let end = self.offsets.get(i + 1).map_or(data.len(), |&o| o as usize);
        if end < start + 4 || end > data.len() {
            return Err(format!(
                "chunk {i} (bytes {start}..{end} of Data.db) is cut short: the file is truncated"
            ));
        }
        let stored = &data[start..end - 4];
        let crc = u32::from_be_bytes(data[end - 4..end].try_into().unwrap());
        if crc32fast::hash(stored) != crc {
            let last = if i + 1 == self.offsets.len() {
                " (it is the last chunk: the file may be truncated)"
            } else {
                ""
            };
            return Err(format!(
                "chunk {i} (bytes {start}..{end} of Data.db) fails its CRC32 check{last}"
            ));
        }
        // The last chunk holds what is left.
        let expected = (self
            .data_length
            .saturating_sub((i * self.chunk_length) as u64))
        .min(self.chunk_length as u64) as usize;
        out.clear();
        if stored.is_empty() && expected == 0 {
            // An empty last chunk: Deflate writes no bytes at all for it.
            return Ok(());
        }
        if stored.len() >= self.max_compressed_length || self.algorithm == Algorithm::Noop {
            out.extend_from_slice(stored);
        } else {
            let failed = |e: &dyn std::fmt::Display| {
                format!("chunk {i} (bytes {start}..{end} of Data.db) does not uncompress: {e}")
            };
            match self.algorithm {
                Algorithm::Lz4 => {
                    if stored.len() < 4 {
                        return Err(failed(&"no length"));
                    }
                    let len = u32::from_le_bytes(stored[..4].try_into().unwrap()) as usize;
                    if len > self.chunk_length {
                        return Err(failed(&format!("length {len} exceeds the chunk length")));
                    }
                    out.resize(len, 0);
                    let n = lz4_flex::block::decompress_into(&stored[4..], out)
                        .map_err(|e| failed(&e))?;
                    out.truncate(n);
                }
                Algorithm::Zstd => {
                    let mut decoder =
                        zstd::stream::read::Decoder::new(stored).map_err(|e| failed(&e))?;
                    decoder
                        .by_ref()
                        .take(self.chunk_length as u64 + 1)
                        .read_to_end(out)
                        .map_err(|e| failed(&e))?;
                }
                Algorithm::Snappy => {
                    let len = snap::raw::decompress_len(stored).map_err(|e| failed(&e))?;
                    if len > self.chunk_length {
                        return Err(failed(&format!("length {len} exceeds the chunk length")));
                    }
                    out.resize(len, 0);
                    let n = snap::raw::Decoder::new()
                        .decompress(stored, out)
                        .map_err(|e| failed(&e))?;
                    out.truncate(n);
                }
                Algorithm::Deflate => {
                    flate2::read::ZlibDecoder::new(stored)
                        .take(self.chunk_length as u64 + 1)
                        .read_to_end(out)
                        .map_err(|e| failed(&e))?;
                }
                Algorithm::Noop => unreachable!(),
            }
        }
        if out.len() != expected {
            return Err(format!(
                "chunk {i} (bytes {start}..{end} of Data.db) holds {} bytes, not {expected}",
                out.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CompressionInfo.db as Cassandra writes it.
    fn info(class: &str, chunk: i32, max: i32, len: i64, offsets: &[i64]) -> Vec<u8> {
        let mut out = (class.len() as u16).to_be_bytes().to_vec();
        out.extend(class.as_bytes());
        out.extend(0i32.to_be_bytes());
        out.extend(chunk.to_be_bytes());
        out.extend(max.to_be_bytes());
        out.extend(len.to_be_bytes());
        out.extend((offsets.len() as i32).to_be_bytes());
        for o in offsets {
            out.extend(o.to_be_bytes());
        }
        out
    }

    fn lz4_chunk(raw: &[u8]) -> Vec<u8> {
        let mut c = (raw.len() as u32).to_le_bytes().to_vec();
        c.extend(lz4_flex::block::compress(raw));
        let crc = crc32fast::hash(&c);
        c.extend(crc.to_be_bytes());
        c
    }

    #[test]
    fn lz4_chunks_uncompress_and_a_flipped_bit_fails_the_crc_naming_the_chunk() {
        let (a, b) = (vec![7u8; 16], vec![9u8; 5]);
        let mut data = lz4_chunk(&a);
        let second = data.len() as i64;
        data.extend(lz4_chunk(&b));
        let bytes = info("LZ4Compressor", 16, 16, 21, &[0, second]);
        let info = CompressionInfo::parse(&bytes, data.len() as u64, true).unwrap();
        assert_eq!(info.algorithm, Algorithm::Lz4);
        let mut out = Vec::new();
        info.chunk(&data, 0, &mut out).unwrap();
        assert_eq!(out, a);
        info.chunk(&data, 1, &mut out).unwrap();
        assert_eq!(out, b);
        data[second as usize + 5] ^= 0x10;
        let e = info.chunk(&data, 1, &mut out).unwrap_err();
        assert!(e.contains("chunk 1") && e.contains("CRC32"), "{e}");
    }

    #[test]
    fn a_last_empty_chunk_after_a_full_one_is_read_as_nothing() {
        // Cassandra's compaction wrote one: 4933 chunks for 4932 chunks' worth of data.
        let full = vec![3u8; 16];
        let mut data = lz4_chunk(&full);
        let second = data.len() as i64;
        data.extend(lz4_chunk(&[]));
        let bytes = info("LZ4Compressor", 16, i32::MAX, 16, &[0, second]);
        let info = CompressionInfo::parse(&bytes, data.len() as u64, true).unwrap();
        let mut out = Vec::new();
        info.chunk(&data, 1, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_3x_compression_info_has_no_largest_chunk_and_every_chunk_is_compressed() {
        // 16 incompressible bytes grow under LZ4: 4.0 would store them raw, 3.x did not.
        let raw: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(97)).collect();
        let data = lz4_chunk(&raw);
        let mut bytes = info("LZ4Compressor", 16, 0, 16, &[0]);
        // Without the i32 after the chunk length.
        let at = 2 + "LZ4Compressor".len() + 4 + 4;
        bytes.drain(at..at + 4);
        let info = CompressionInfo::parse(&bytes, data.len() as u64, false).unwrap();
        assert_eq!(info.max_compressed_length, i32::MAX as usize);
        let mut out = Vec::new();
        info.chunk(&data, 0, &mut out).unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn impossible_compression_info_is_refused() {
        let bytes = info("LZ4Compressor", 16, 15, 100, &[0]);
        let e = CompressionInfo::parse(&bytes, 50, true).unwrap_err();
        assert!(e.contains("cannot hold"), "{e}");
        let bytes = info("BrotliCompressor", 16, 15, 10, &[0]);
        assert!(
            CompressionInfo::parse(&bytes, 50, true)
                .unwrap_err()
                .contains("Brotli")
        );
        let cut = &info("LZ4Compressor", 16, 15, 10, &[0])[..20];
        assert!(
            CompressionInfo::parse(cut, 50, true)
                .unwrap_err()
                .contains("past the end")
        );
    }
}
