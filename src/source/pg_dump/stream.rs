//! Byte streams under the pg_dump readers: counting how far into a file a reader got, the
//! decompressors pg_dump uses (gzip files, zlib streams inside custom archives, LZ4 frames, zstd
//! frames), and turning their I/O errors into [`DumpError`]s that name the file and byte offset.
//!
//! Errors travel through the decompressors as `io::Error`s. Errors this module raises itself (a
//! file that cannot be read, an archive chunk cut short) carry their [`DumpError`] inside the
//! `io::Error` ([`carry`]) and come out unchanged ([`DataStream::error`]); any other error came
//! from a decompressor and is reported as a truncated or corrupt compressed stream.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::DumpError;

/// Read buffer size for dump files and decompressed streams.
pub(crate) const BUF_SIZE: usize = 256 * 1024;

/// How a data stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    /// gzip files (`.gz`, `pg_dump -Fp -Z`, directory archives).
    Gzip,
    /// Bare zlib streams: what custom archives call gzip compression.
    Zlib,
    Lz4,
    Zstd,
}

impl Codec {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::None => "uncompressed",
            Codec::Gzip => "gzip",
            Codec::Zlib => "zlib",
            Codec::Lz4 => "LZ4",
            Codec::Zstd => "zstd",
        }
    }

    /// The codec a file's first bytes announce (gzip, zstd or LZ4 frame magic), else `None`.
    pub(crate) fn sniff(head: &[u8]) -> Codec {
        if head.starts_with(&[0x1f, 0x8b]) {
            Codec::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Codec::Zstd
        } else if head.starts_with(&LZ4_MAGIC.to_le_bytes()) {
            Codec::Lz4
        } else {
            Codec::None
        }
    }
}

/// A byte offset shared between a reader deep inside a decompressor and the code that reports
/// errors: the absolute offset in the file of the next byte not yet consumed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Position(Arc<AtomicU64>);

impl Position {
    pub(crate) fn at(offset: u64) -> Position {
        Position(Arc::new(AtomicU64::new(offset)))
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, offset: u64) {
        self.0.store(offset, Ordering::Relaxed);
    }

    fn advance(&self, n: usize) {
        self.0.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Wraps a [`DumpError`] so that it passes through a decompressor's `io::Error`s unchanged.
pub(crate) fn carry(error: DumpError) -> io::Error {
    io::Error::other(error)
}

/// The [`DumpError`] an `io::Error` carries, or the error itself when it carries none.
pub(crate) fn recover(error: io::Error) -> Result<DumpError, io::Error> {
    if !error.get_ref().is_some_and(|inner| inner.is::<DumpError>()) {
        return Err(error);
    }
    let kind = error.kind();
    match error.into_inner() {
        Some(inner) => match inner.downcast::<DumpError>() {
            Ok(dump_error) => Ok(*dump_error),
            Err(inner) => Err(io::Error::new(kind, inner)),
        },
        None => Err(io::Error::from(kind)),
    }
}

/// The `DumpError::Io` for `path`.
pub(crate) fn io_error(path: &Path) -> impl Fn(io::Error) -> DumpError + '_ {
    move |source| DumpError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A file whose read errors name the file.
pub(crate) struct FileReader {
    file: File,
    path: PathBuf,
}

impl FileReader {
    pub(crate) fn open(path: &Path) -> Result<FileReader, DumpError> {
        let file = File::open(path).map_err(io_error(path))?;
        Ok(FileReader {
            file,
            path: path.to_owned(),
        })
    }

    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf).map_err(|source| {
            if source.kind() == io::ErrorKind::Interrupted {
                source
            } else {
                carry(DumpError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        })
    }
}

/// A buffered reader that records in a [`Position`] how many bytes were consumed.
pub(crate) struct Counted<R> {
    inner: R,
    position: Position,
}

impl<R: BufRead> Counted<R> {
    pub(crate) fn new(inner: R, position: Position) -> Counted<R> {
        Counted { inner, position }
    }
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.position.advance(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        self.position.advance(amount);
    }
}

/// `Read::read` for a reader whose `BufRead` side is the primary one.
pub(crate) fn read_buffered(reader: &mut impl BufRead, buf: &mut [u8]) -> io::Result<usize> {
    let available = reader.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    reader.consume(n);
    Ok(n)
}

/// Wraps `inner` (compressed bytes) in the decompressor for `codec`.
pub(crate) fn decoder(
    codec: Codec,
    inner: impl BufRead + Send + 'static,
) -> io::Result<Box<dyn BufRead + Send>> {
    Ok(match codec {
        Codec::None => Box::new(inner),
        Codec::Gzip => Box::new(BufReader::with_capacity(
            BUF_SIZE,
            flate2::bufread::MultiGzDecoder::new(inner),
        )),
        Codec::Zlib => Box::new(BufReader::with_capacity(
            BUF_SIZE,
            flate2::bufread::ZlibDecoder::new(inner),
        )),
        Codec::Lz4 => Box::new(BufReader::with_capacity(BUF_SIZE, Lz4Frames::new(inner))),
        Codec::Zstd => Box::new(BufReader::with_capacity(
            BUF_SIZE,
            zstd::stream::read::Decoder::with_buffer(inner)?,
        )),
    })
}

/// Decompressed text from one file (or one archive data block), with errors that name the
/// file and the byte offset in it.
pub(crate) struct DataStream {
    reader: Box<dyn BufRead + Send>,
    context: ErrorContext,
    /// Offset in the decompressed text of the next byte not yet read.
    text_offset: u64,
}

/// What an error from a [`DataStream`] needs to name where it happened.
struct ErrorContext {
    path: PathBuf,
    codec: Codec,
    /// Offset in `path` of the next compressed byte not yet consumed.
    raw: Position,
}

impl ErrorContext {
    /// The [`DumpError`] for an error that came out of the reader stack.
    fn error(&self, error: io::Error) -> DumpError {
        match recover(error) {
            Ok(dump_error) => dump_error,
            Err(source) if self.codec == Codec::None => DumpError::Io {
                path: self.path.clone(),
                source,
            },
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => DumpError::Truncated {
                path: self.path.clone(),
                offset: self.raw.get(),
                expected: format!(
                    "the rest of the {} stream, which ends early ({e})",
                    self.codec.name()
                ),
            },
            Err(e) => DumpError::Corrupt {
                path: self.path.clone(),
                offset: self.raw.get(),
                reason: format!("the {} data does not decompress: {e}", self.codec.name()),
            },
        }
    }
}

impl DataStream {
    /// `inner` must advance `raw` as it is consumed.
    pub(crate) fn new(
        path: &Path,
        codec: Codec,
        inner: impl BufRead + Send + 'static,
        raw: Position,
    ) -> Result<DataStream, DumpError> {
        let reader = decoder(codec, inner).map_err(|e| DumpError::Corrupt {
            path: path.to_owned(),
            offset: raw.get(),
            reason: format!("cannot start the {} decompressor: {e}", codec.name()),
        })?;
        Ok(DataStream {
            reader,
            context: ErrorContext {
                path: path.to_owned(),
                codec,
                raw,
            },
            text_offset: 0,
        })
    }

    /// Opens `path` as a whole file compressed with `codec`.
    pub(crate) fn open_file(path: &Path, codec: Codec) -> Result<DataStream, DumpError> {
        let raw = Position::at(0);
        let file = FileReader::open(path)?;
        let inner = Counted::new(BufReader::with_capacity(BUF_SIZE, file), raw.clone());
        DataStream::new(path, codec, inner, raw)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.context.path
    }

    /// Offset in the decompressed text of the next byte to be read.
    pub(crate) fn text_offset(&self) -> u64 {
        self.text_offset
    }

    /// Declares that the stream starts at text offset `offset` (a file opened after seeking).
    pub(crate) fn set_text_offset(&mut self, offset: u64) {
        self.text_offset = offset;
    }

    /// Offset in the file (compressed bytes) reached so far.
    pub(crate) fn raw_offset(&self) -> u64 {
        self.context.raw.get()
    }

    /// A handle on [`DataStream::raw_offset`] that follows the stream, for progress displays.
    pub(crate) fn raw_position(&self) -> Position {
        self.context.raw.clone()
    }

    /// Reads one line, `\n` included, into `buf` (cleared first). Returns 0 at the end.
    pub(crate) fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<usize, DumpError> {
        buf.clear();
        let n = self
            .reader
            .read_until(b'\n', buf)
            .map_err(|e| self.context.error(e))?;
        self.text_offset += n as u64;
        Ok(n)
    }

    /// The next bytes of decompressed text without consuming them (empty at the end).
    pub(crate) fn peek(&mut self) -> Result<&[u8], DumpError> {
        let context = &self.context;
        self.reader.fill_buf().map_err(|e| context.error(e))
    }

    /// Marks `n` bytes returned by [`DataStream::peek`] as read.
    pub(crate) fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.text_offset += n as u64;
    }

    /// Skips `n` bytes of decompressed text.
    pub(crate) fn skip(&mut self, n: u64) -> Result<(), DumpError> {
        let skipped = io::copy(&mut (&mut self.reader).take(n), &mut io::sink())
            .map_err(|e| self.context.error(e))?;
        self.text_offset += skipped;
        if skipped < n {
            return Err(DumpError::Truncated {
                path: self.context.path.clone(),
                offset: self.context.raw.get(),
                expected: format!(
                    "{n} bytes of text to skip to where the table's data starts, found {skipped}; \
                     the file changed since it was opened"
                ),
            });
        }
        Ok(())
    }

    /// Reads and discards the rest of the stream, so that the decompressor checks its
    /// trailer (checksum, end mark) and an archive block its end marker.
    pub(crate) fn drain(&mut self) -> Result<(), DumpError> {
        let n = io::copy(&mut self.reader, &mut io::sink()).map_err(|e| self.context.error(e))?;
        self.text_offset += n;
        Ok(())
    }
}

/// The magic number that starts an LZ4 frame.
const LZ4_MAGIC: u32 = 0x184D_2204;
/// Linked blocks may refer back this far into earlier output.
const LZ4_WINDOW: usize = 64 * 1024;

/// A reader of LZ4 frames (the format of `lz4` files and of pg_dump's LZ4 compression).
///
/// `lz4_flex`'s own frame reader treats a stream that stops at a block boundary as complete;
/// this one insists on each frame's end mark, so a truncated file is an error. Block and
/// content checksums are skipped, not verified.
pub(crate) struct Lz4Frames<R> {
    inner: R,
    frame: Option<Lz4Frame>,
    /// Decompressed bytes not yet read, at `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    /// The last [`LZ4_WINDOW`] bytes of output, for linked blocks.
    window: Vec<u8>,
    block: Vec<u8>,
}

struct Lz4Frame {
    linked: bool,
    block_checksums: bool,
    content_checksum: bool,
    max_block: usize,
}

fn lz4_corrupt(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

impl<R: BufRead> Lz4Frames<R> {
    pub(crate) fn new(inner: R) -> Lz4Frames<R> {
        Lz4Frames {
            inner,
            frame: None,
            out: Vec::new(),
            out_pos: 0,
            window: Vec::new(),
            block: Vec::new(),
        }
    }

    fn read_u32(&mut self) -> io::Result<u32> {
        let mut b = [0u8; 4];
        self.inner.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a frame header; `Ok(false)` at a clean end of input between frames.
    fn start_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.inner.fill_buf()?.is_empty() {
                return Ok(false);
            }
            let magic = self.read_u32()?;
            if (0x184D_2A50..=0x184D_2A5F).contains(&magic) {
                // A skippable frame: a length, then that many bytes to ignore.
                let len = u64::from(self.read_u32()?);
                let skipped = io::copy(&mut (&mut self.inner).take(len), &mut io::sink())?;
                if skipped < len {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                continue;
            }
            if magic != LZ4_MAGIC {
                return Err(lz4_corrupt(format!(
                    "expected the LZ4 frame magic 0x184D2204, found {magic:#010x}"
                )));
            }
            let mut descriptor = [0u8; 2];
            self.inner.read_exact(&mut descriptor)?;
            let [flags, block_descriptor] = descriptor;
            if flags >> 6 != 0b01 {
                return Err(lz4_corrupt(format!(
                    "unknown LZ4 frame version {} (expected 1)",
                    flags >> 6
                )));
            }
            if flags & 0x01 != 0 {
                return Err(lz4_corrupt(
                    "the LZ4 frame needs a preset dictionary, which pg_dump never uses".into(),
                ));
            }
            let max_block = match (block_descriptor >> 4) & 0x07 {
                4 => 64 * 1024,
                5 => 256 * 1024,
                6 => 1024 * 1024,
                7 => 4 * 1024 * 1024,
                other => {
                    return Err(lz4_corrupt(format!(
                        "invalid LZ4 block size code {other} (expected 4 to 7)"
                    )));
                }
            };
            let mut rest = [0u8; 9];
            let rest_len = if flags & 0x08 != 0 { 9 } else { 1 };
            // Content size (8 bytes) if announced, then the header checksum byte.
            self.inner.read_exact(&mut rest[..rest_len])?;
            self.frame = Some(Lz4Frame {
                linked: flags & 0x20 == 0,
                block_checksums: flags & 0x10 != 0,
                content_checksum: flags & 0x04 != 0,
                max_block,
            });
            self.window.clear();
            return Ok(true);
        }
    }

    /// Decompresses the next block into `out`; `Ok(false)` at the end of the input.
    fn next_block(&mut self) -> io::Result<bool> {
        loop {
            let Some(frame) = &self.frame else {
                if !self.start_frame()? {
                    return Ok(false);
                }
                continue;
            };
            let (linked, block_checksums, content_checksum, max_block) = (
                frame.linked,
                frame.block_checksums,
                frame.content_checksum,
                frame.max_block,
            );
            let size_word = self.read_u32()?;
            if size_word == 0 {
                // The end mark, then the content checksum if the frame has one.
                if content_checksum {
                    self.read_u32()?;
                }
                self.frame = None;
                continue;
            }
            let stored = size_word & 0x8000_0000 != 0;
            let size = (size_word & 0x7FFF_FFFF) as usize;
            if size > max_block {
                return Err(lz4_corrupt(format!(
                    "an LZ4 block of {size} bytes is larger than the frame's maximum of {max_block}"
                )));
            }
            self.block.resize(size, 0);
            self.inner.read_exact(&mut self.block)?;
            if block_checksums {
                self.read_u32()?;
            }
            self.out.clear();
            self.out_pos = 0;
            if stored {
                self.out.extend_from_slice(&self.block);
            } else {
                self.out.resize(max_block, 0);
                let n = if linked {
                    lz4_flex::block::decompress_into_with_dict(
                        &self.block,
                        &mut self.out,
                        &self.window,
                    )
                } else {
                    lz4_flex::block::decompress_into(&self.block, &mut self.out)
                }
                .map_err(|e| lz4_corrupt(format!("an LZ4 block does not decompress: {e}")))?;
                self.out.truncate(n);
            }
            if linked {
                self.window.extend_from_slice(&self.out);
                if self.window.len() > LZ4_WINDOW {
                    let excess = self.window.len() - LZ4_WINDOW;
                    self.window.drain(..excess);
                }
            }
            if !self.out.is_empty() {
                return Ok(true);
            }
        }
    }
}

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos >= self.out.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let available = self.out.get(self.out_pos..).unwrap_or_default();
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};

    fn text(rows: u32) -> Vec<u8> {
        (0..rows)
            .flat_map(|i| format!("{i}\trow number {i}\t\\N\n").into_bytes())
            .collect()
    }

    fn lz4(data: &[u8], info: FrameInfo) -> Vec<u8> {
        let mut encoder = FrameEncoder::with_frame_info(info, Vec::new());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn unlz4(data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Lz4Frames::new(data).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn linked_and_independent_lz4_frames_with_checksums_decompress() {
        let data = text(50_000);
        for mode in [BlockMode::Linked, BlockMode::Independent] {
            let info = FrameInfo::new()
                .block_mode(mode)
                .block_size(BlockSize::Max64KB)
                .block_checksums(true)
                .content_checksum(true);
            assert_eq!(unlz4(&lz4(&data, info)).unwrap(), data, "{mode:?}");
        }
    }

    #[test]
    fn concatenated_lz4_frames_decompress_as_one_stream() {
        let (a, b) = (text(10), text(20));
        let mut both = lz4(&a, FrameInfo::new());
        both.extend(lz4(&b, FrameInfo::new()));
        assert_eq!(unlz4(&both).unwrap(), [a, b].concat());
    }

    #[test]
    fn an_lz4_frame_cut_at_a_block_boundary_is_an_error_not_a_short_read() {
        let data = text(50_000);
        let frame = lz4(&data, FrameInfo::new().block_mode(BlockMode::Linked));
        // Without its 4-byte end mark the frame ends exactly after its last block.
        let cut = &frame[..frame.len() - 4];
        let error = unlz4(cut).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        for cut in (5..frame.len()).step_by(997) {
            assert!(unlz4(&frame[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn sniffing_recognises_gzip_zstd_and_lz4_magic() {
        assert_eq!(Codec::sniff(&[0x1f, 0x8b, 8, 0]), Codec::Gzip);
        assert_eq!(Codec::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Codec::Zstd);
        assert_eq!(Codec::sniff(&[0x04, 0x22, 0x4d, 0x18, 0x64]), Codec::Lz4);
        assert_eq!(Codec::sniff(b"--\n-- PostgreSQL"), Codec::None);
        assert_eq!(Codec::sniff(b""), Codec::None);
    }

    #[test]
    fn a_dump_error_survives_a_trip_through_a_decompressor() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(carry(DumpError::Truncated {
                    path: "x.dump".into(),
                    offset: 42,
                    expected: "a chunk".into(),
                }))
            }
        }
        let stream = DataStream::new(
            Path::new("x.dump"),
            Codec::Zlib,
            BufReader::new(Failing),
            Position::at(0),
        )
        .unwrap();
        let mut out = Vec::new();
        let mut stream = stream;
        let error = stream.read_line(&mut out).unwrap_err();
        assert!(
            matches!(error, DumpError::Truncated { offset: 42, .. }),
            "{error}"
        );
    }
}
