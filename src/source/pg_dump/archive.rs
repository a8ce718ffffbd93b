//! Custom (`pg_dump -Fc`) and directory (`pg_dump -Fd`) archives: the header, the table of
//! contents (TOC), and the way to each table's data.
//!
//! The layout, from PostgreSQL's `pg_backup_archiver.c` (`ReadHead`, `ReadToc`, `ReadInt`,
//! `ReadStr`, `ReadOffset`), `pg_backup_custom.c` and `pg_backup_directory.c`, for archive
//! versions 1.12 to 1.16:
//!
//! - header: `PGDMP`, version major/minor/revision bytes, int size, offset size, format byte
//!   (1 custom, 3 tar, 5 directory; a directory archive's `toc.dat` says 3, as its layout is
//!   the tar format's); from 1.15 a compression algorithm byte (0 none, 1 gzip,
//!   2 LZ4, 3 zstd), before it a compression level int (non-zero means gzip); the creation
//!   time as 7 ints (a local `struct tm`: sec, min, hour, mday, mon, year, isdst); the
//!   database name, the server version and the pg_dump version.
//! - an int is a sign byte (1 = negative) and `int size` bytes, least significant first; a
//!   string is an int length (-1 = NULL) and that many bytes.
//! - the TOC: an entry count, then per entry the dump ID, had-dumper, table OID, OID, tag,
//!   description (`TABLE`, `TABLE DATA`, ...), section, definition, drop statement, COPY
//!   statement, schema, tablespace, table access method (1.14+), relkind int (1.16+), owner,
//!   the obsolete with-OIDs string, the dependencies (strings ending with a NULL), then the
//!   format's own part: in a custom archive the data offset (a flag byte: 1 not set, 2 set,
//!   3 no data; then `offset size` bytes, least significant first), in a directory archive
//!   the data file's name.
//! - custom archive data: a block type byte (1 table data, 3 large objects), the dump ID, then
//!   chunks (an int length and that many bytes) ending with a zero length. The chunks together
//!   are one compressed stream: a zlib stream for gzip, an LZ4 frame, a zstd frame. Large
//!   object blocks hold, per object, an OID int followed by chunks; a zero OID ends them.
//! - directory archive data: `toc.dat` holds the header and TOC, each table's data is in the
//!   file the TOC names (`3343.dat`), with `.gz` (a gzip file), `.lz4` or `.zst` appended when
//!   compressed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::DumpError;
use super::stream::{BUF_SIZE, Codec, DataStream, FileReader, Position, carry, read_buffered};

/// Block type of table data in a custom archive.
const BLK_DATA: u8 = 1;
/// Block type of large objects in a custom archive.
const BLK_BLOBS: u8 = 3;

/// Data offset flags.
pub(crate) const OFFSET_NOT_SET: u8 = 1;
pub(crate) const OFFSET_SET: u8 = 2;
pub(crate) const OFFSET_NO_DATA: u8 = 3;

/// Format bytes in the header. pg_dump writes [`FORMAT_TAR`] into a directory archive's
/// `toc.dat`; [`FORMAT_DIRECTORY`] is accepted there too.
pub(crate) const FORMAT_CUSTOM: u8 = 1;
pub(crate) const FORMAT_TAR: u8 = 3;
pub(crate) const FORMAT_DIRECTORY: u8 = 5;

/// The archive versions this reader knows, as minor versions of major version 1.
const MIN_MINOR: u8 = 12;
const MAX_MINOR: u8 = 16;

/// The archive header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) version: (u8, u8, u8),
    pub(crate) int_size: usize,
    pub(crate) off_size: usize,
    pub(crate) format: u8,
    /// Compression of the table data.
    pub(crate) compression: Compression,
    /// The creation time as the 7 ints of a `struct tm`: sec, min, hour, mday, mon, year,
    /// isdst.
    pub(crate) created_tm: [i64; 7],
    pub(crate) database: Option<String>,
    pub(crate) server_version: Option<String>,
    pub(crate) pg_dump_version: Option<String>,
}

/// The compression algorithm of an archive's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Lz4,
    Zstd,
}

impl Compression {
    /// How a custom archive's data blocks are compressed (gzip means a bare zlib stream).
    pub(crate) fn custom_codec(self) -> Codec {
        match self {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Zlib,
            Compression::Lz4 => Codec::Lz4,
            Compression::Zstd => Codec::Zstd,
        }
    }
}

/// One TOC entry, with the fields this reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TocEntry {
    pub(crate) dump_id: i64,
    pub(crate) tag: String,
    pub(crate) desc: String,
    pub(crate) defn: String,
    pub(crate) copy_stmt: String,
    pub(crate) namespace: String,
    pub(crate) data: EntryData,
}

/// Where a TOC entry's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryData {
    /// Custom archive: a data offset flag and the offset.
    Offset { flag: u8, offset: u64 },
    /// Directory archive: the data file's name, if the entry has data.
    File(Option<String>),
}

impl EntryData {
    pub(crate) fn has_data(&self) -> bool {
        match self {
            EntryData::Offset { flag, .. } => *flag != OFFSET_NO_DATA,
            EntryData::File(name) => name.is_some(),
        }
    }
}

/// A parsed `toc.dat` or custom archive header and TOC.
#[derive(Debug, Clone)]
pub(crate) struct Toc {
    pub(crate) header: Header,
    pub(crate) entries: Vec<TocEntry>,
    /// Offset of the first byte after the TOC: where a custom archive's data blocks start.
    pub(crate) end: u64,
    /// Length of the file.
    pub(crate) file_len: u64,
}

impl Toc {
    /// Reads the header and TOC of the archive file at `path` (a custom archive or a
    /// directory archive's `toc.dat`).
    pub(crate) fn read(path: &Path) -> Result<Toc, DumpError> {
        let file = FileReader::open(path)?;
        let file_len = file_len(path)?;
        let mut reader =
            ArchiveReader::new(BufReader::with_capacity(BUF_SIZE, file), path, file_len);
        let header = reader.header()?;
        let is_toc_dat = path.file_name().is_some_and(|name| name == "toc.dat");
        match header.format {
            FORMAT_CUSTOM | FORMAT_DIRECTORY => {}
            // The toc.dat of an extracted tar archive is laid out as a directory archive's.
            FORMAT_TAR if is_toc_dat => {}
            FORMAT_TAR => return Err(tar_unsupported(path)),
            other => {
                return Err(reader.corrupt(
                    10,
                    format!(
                        "unknown archive format {other} (expected 1 for custom or 5 for \
                         directory)"
                    ),
                ));
            }
        }
        let entries = reader.toc(&header)?;
        Ok(Toc {
            header,
            entries,
            end: reader.pos,
            file_len,
        })
    }

    /// The creation time as seconds since the Unix epoch, read as pg_restore reads it: as
    /// local time in this process's time zone (`TZ`), with `mktime`.
    pub(crate) fn created_seconds(&self) -> Option<i64> {
        local_mktime(self.header.created_tm)
    }

    /// The value of the `SET` in the definition of the TOC entry described `desc`
    /// (`ENCODING`, `STDSTRINGS`): the text between its first pair of single quotes.
    pub(crate) fn setting(&self, desc: &str) -> Option<&str> {
        let defn = &self.entries.iter().find(|e| e.desc == desc)?.defn;
        let (_, rest) = defn.split_once('\'')?;
        Some(rest.split_once('\'')?.0)
    }
}

fn file_len(path: &Path) -> Result<u64, DumpError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|source| DumpError::Io {
            path: path.to_owned(),
            source,
        })
}

/// The error for a tar archive (`pg_dump -Ft`).
pub(crate) fn tar_unsupported(path: &Path) -> DumpError {
    DumpError::Unsupported {
        path: path.to_owned(),
        reason: "tar archives (pg_dump -Ft) are not read; extract it (tar -xf) and give the \
                 directory, or dump with -Fc or -Fd"
            .into(),
    }
}

/// Converts a `struct tm` written by pg_dump to seconds since the epoch with the C library's
/// `mktime`, which reads it as local time in the time zone `TZ` names.
fn local_mktime(tm: [i64; 7]) -> Option<i64> {
    let [sec, min, hour, mday, mon, year, isdst] = tm.map(|v| i32::try_from(v).ok());
    // SAFETY: `libc::tm` is a plain C struct; all zeroes is a valid value (the `tm_zone`
    // pointer on glibc is then null, which mktime never reads).
    let mut t: libc::tm = unsafe { std::mem::zeroed() };
    t.tm_sec = sec?;
    t.tm_min = min?;
    t.tm_hour = hour?;
    t.tm_mday = mday?;
    t.tm_mon = mon?;
    t.tm_year = year?;
    t.tm_isdst = isdst?;
    // SAFETY: `t` is a valid, exclusively borrowed `tm`; mktime only reads and normalises it.
    let seconds = unsafe { libc::mktime(&mut t) };
    // pg_restore, too, treats -1 as "invalid creation date".
    // time_t is narrower than i64 on some platforms.
    #[allow(clippy::useless_conversion)]
    let seconds = i64::from(seconds);
    (seconds != -1).then_some(seconds)
}

/// Reads archive primitives (bytes, ints, strings, offsets), tracking the byte offset so that
/// errors can name it.
pub(crate) struct ArchiveReader<R> {
    inner: R,
    pos: u64,
    /// The file's length: no string or chunk may reach past it.
    limit: u64,
    path: PathBuf,
    int_size: usize,
    off_size: usize,
    /// What is being read, for error messages ("TOC entry 3 of 10").
    context: String,
}

impl<R: BufRead> ArchiveReader<R> {
    pub(crate) fn new(inner: R, path: &Path, limit: u64) -> ArchiveReader<R> {
        ArchiveReader {
            inner,
            pos: 0,
            limit,
            path: path.to_owned(),
            int_size: 4,
            off_size: 8,
            context: String::new(),
        }
    }

    fn what(&self, what: &str) -> String {
        if self.context.is_empty() {
            what.to_owned()
        } else {
            format!("{what} of {}", self.context)
        }
    }

    fn truncated(&self, offset: u64, expected: String) -> DumpError {
        DumpError::Truncated {
            path: self.path.clone(),
            offset,
            expected,
        }
    }

    fn corrupt(&self, offset: u64, reason: String) -> DumpError {
        DumpError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<(), DumpError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.truncated(
                self.pos,
                format!("{} ({} bytes)", self.what(what), buf.len()),
            )),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The [`DumpError`] for an I/O error of the underlying reader.
    fn io(&self, error: io::Error) -> DumpError {
        match super::stream::recover(error) {
            Ok(dump_error) => dump_error,
            Err(source) => DumpError::Io {
                path: self.path.clone(),
                source,
            },
        }
    }

    fn byte(&mut self, what: &str) -> Result<u8, DumpError> {
        let mut b = [0u8; 1];
        self.exact(&mut b, what)?;
        Ok(b[0])
    }

    fn at_end(&mut self) -> Result<bool, DumpError> {
        match self.inner.fill_buf() {
            Ok(buf) => Ok(buf.is_empty()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// An int: a sign byte, then `int_size` bytes, least significant first.
    fn int(&mut self, what: &str) -> Result<i64, DumpError> {
        let at = self.pos;
        let mut buf = [0u8; 9];
        let Some(bytes) = buf.get_mut(..1 + self.int_size) else {
            return Err(self.corrupt(at, format!("an int size of {}", self.int_size)));
        };
        self.exact(bytes, what)?;
        let (sign, digits) = bytes.split_first().unwrap_or((&0, &[]));
        let magnitude = digits
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let value = i64::try_from(magnitude).map_err(|_| {
            self.corrupt(
                at,
                format!("{}: {magnitude} does not fit in 63 bits", self.what(what)),
            )
        })?;
        match sign {
            0 => Ok(value),
            1 => Ok(-value),
            other => Err(self.corrupt(
                at,
                format!(
                    "{}: the sign byte is {other}, expected 0 or 1",
                    self.what(what)
                ),
            )),
        }
    }

    /// A string: an int length (-1 for NULL) and that many bytes.
    fn string(&mut self, what: &str) -> Result<Option<String>, DumpError> {
        let at = self.pos;
        let len = self.int(what)?;
        if len == -1 {
            return Ok(None);
        }
        let len = u64::try_from(len)
            .map_err(|_| self.corrupt(at, format!("{} has the length {len}", self.what(what))))?;
        if len > self.limit.saturating_sub(self.pos) {
            return Err(self.truncated(
                at,
                format!(
                    "{}: a string of {len} bytes, but the file ends at byte {}",
                    self.what(what),
                    self.limit
                ),
            ));
        }
        // Read as the bytes come (not into a buffer of the announced size): a compressed
        // toc.dat has no known length to check a corrupt length against.
        let mut bytes = Vec::new();
        let read = (&mut self.inner)
            .take(len)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io(e))?;
        self.pos += read as u64;
        if (read as u64) < len {
            return Err(self.truncated(
                self.pos,
                format!(
                    "{}: {} more bytes of a {len}-byte string",
                    self.what(what),
                    len - read as u64
                ),
            ));
        }
        Ok(Some(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }))
    }

    /// A data offset: a flag byte, then `off_size` bytes, least significant first.
    fn offset(&mut self, what: &str) -> Result<(u8, u64), DumpError> {
        let at = self.pos;
        let flag = self.byte(what)?;
        if !(OFFSET_NOT_SET..=OFFSET_NO_DATA).contains(&flag) {
            return Err(self.corrupt(
                at,
                format!(
                    "{}: the flag is {flag}, expected 1 (not set), 2 (set) or 3 (no data)",
                    self.what(what)
                ),
            ));
        }
        let mut offset = 0u64;
        for i in 0..self.off_size {
            let b = self.byte(what)?;
            if i < 8 {
                offset |= u64::from(b) << (8 * i);
            } else if b != 0 {
                return Err(self.corrupt(at, format!("{} is too large", self.what(what))));
            }
        }
        Ok((flag, offset))
    }

    /// The archive header.
    pub(crate) fn header(&mut self) -> Result<Header, DumpError> {
        let mut magic = [0u8; 5];
        self.exact(&mut magic, "the archive signature PGDMP")?;
        if &magic != b"PGDMP" {
            return Err(self.corrupt(
                0,
                format!(
                    "expected the archive signature PGDMP, found {:?}",
                    String::from_utf8_lossy(&magic)
                ),
            ));
        }
        let major = self.byte("the archive version")?;
        let minor = self.byte("the archive version")?;
        let revision = if major > 1 || (major == 1 && minor > 0) {
            self.byte("the archive version")?
        } else {
            0
        };
        if major != 1 || !(MIN_MINOR..=MAX_MINOR).contains(&minor) {
            return Err(DumpError::Unsupported {
                path: self.path.clone(),
                reason: format!(
                    "archive version {major}.{minor}.{revision}; this reader knows versions \
                     1.{MIN_MINOR} to 1.{MAX_MINOR} (pg_dump of PostgreSQL 9.0 to 17)"
                ),
            });
        }
        let at = self.pos;
        let int_size = usize::from(self.byte("the int size")?);
        if !(1..=8).contains(&int_size) {
            return Err(DumpError::Unsupported {
                path: self.path.clone(),
                reason: format!(
                    "ints of {int_size} bytes (at byte {at}); this reader takes 1 to 8, \
                     pg_dump writes 4"
                ),
            });
        }
        let off_size = usize::from(self.byte("the offset size")?);
        if !(1..=16).contains(&off_size) {
            return Err(self.corrupt(
                at + 1,
                format!("an offset size of {off_size} bytes (pg_dump writes 8)"),
            ));
        }
        self.int_size = int_size;
        self.off_size = off_size;
        let format = self.byte("the format byte")?;
        let at = self.pos;
        let compression = if minor >= 15 {
            match self.byte("the compression algorithm")? {
                0 => Compression::None,
                1 => Compression::Gzip,
                2 => Compression::Lz4,
                3 => Compression::Zstd,
                other => {
                    return Err(DumpError::Unsupported {
                        path: self.path.clone(),
                        reason: format!(
                            "compression algorithm {other} (at byte {at}); known are 0 (none), \
                             1 (gzip), 2 (LZ4) and 3 (zstd)"
                        ),
                    });
                }
            }
        } else if self.int("the compression level")? != 0 {
            Compression::Gzip
        } else {
            Compression::None
        };
        let mut created_tm = [0i64; 7];
        for field in &mut created_tm {
            *field = self.int("the creation time")?;
        }
        let database = self.string("the database name")?;
        let server_version = self.string("the server version")?;
        let pg_dump_version = self.string("the pg_dump version")?;
        Ok(Header {
            version: (major, minor, revision),
            int_size,
            off_size,
            format,
            compression,
            created_tm,
            database,
            server_version,
            pg_dump_version,
        })
    }

    /// The TOC entries, read after [`ArchiveReader::header`].
    pub(crate) fn toc(&mut self, header: &Header) -> Result<Vec<TocEntry>, DumpError> {
        let minor = header.version.1;
        let at = self.pos;
        let count = self.int("the number of TOC entries")?;
        if count < 0 {
            return Err(self.corrupt(at, format!("the TOC has {count} entries")));
        }
        let mut entries = Vec::new();
        for i in 1..=count {
            self.context = format!("TOC entry {i} of {count}");
            let at = self.pos;
            let dump_id = self.int("the dump ID")?;
            if dump_id <= 0 {
                return Err(self.corrupt(at, format!("{}: the dump ID is {dump_id}", self.context)));
            }
            self.context = format!("TOC entry {i} of {count} (dump ID {dump_id})");
            self.int("the had-dumper flag")?;
            self.string("the table OID")?;
            self.string("the OID")?;
            let tag = self.string("the tag")?.unwrap_or_default();
            let desc = self.string("the description")?.unwrap_or_default();
            self.int("the section")?;
            let defn = self.string("the definition")?.unwrap_or_default();
            self.string("the drop statement")?;
            let copy_stmt = self.string("the COPY statement")?.unwrap_or_default();
            let namespace = self.string("the schema")?.unwrap_or_default();
            self.string("the tablespace")?;
            if minor >= 14 {
                self.string("the table access method")?;
            }
            if minor >= 16 {
                self.int("the relkind")?;
            }
            self.string("the owner")?;
            self.string("the with-OIDs flag")?;
            while self.string("a dependency")?.is_some() {}
            let data = if header.format == FORMAT_CUSTOM {
                let (flag, offset) = self.offset("the data offset")?;
                EntryData::Offset { flag, offset }
            } else {
                EntryData::File(
                    self.string("the data file name")?
                        .filter(|name| !name.is_empty()),
                )
            };
            entries.push(TocEntry {
                dump_id,
                tag,
                desc,
                defn,
                copy_stmt,
                namespace,
                data,
            });
        }
        self.context.clear();
        Ok(entries)
    }
}

impl ArchiveReader<BufReader<FileReader>> {
    fn seek(&mut self, offset: u64, what: &str) -> Result<(), DumpError> {
        if offset > self.limit {
            return Err(self.truncated(
                offset,
                format!("{what}, but the file ends at byte {}", self.limit),
            ));
        }
        let result = self.inner.seek(SeekFrom::Start(offset));
        self.seek_result(result)?;
        self.pos = offset;
        Ok(())
    }

    /// Skips the chunks of one data block (after its header).
    fn skip_chunks(&mut self) -> Result<(), DumpError> {
        loop {
            let at = self.pos;
            let len = self.int("the length of a data chunk")?;
            if len == 0 {
                return Ok(());
            }
            let len = self.chunk_len(at, len)?;
            let result = self.inner.seek_relative(len as i64);
            self.seek_result(result)?;
            self.pos += len;
        }
    }

    fn seek_result<T>(&self, result: io::Result<T>) -> Result<T, DumpError> {
        result.map_err(|e| self.io(e))
    }

    /// Checks a chunk length read at `at` against the end of the file.
    fn chunk_len(&self, at: u64, len: i64) -> Result<u64, DumpError> {
        let len = u64::try_from(len)
            .map_err(|_| self.corrupt(at, format!("a data chunk has the length {len}")))?;
        if len > self.limit.saturating_sub(self.pos) {
            return Err(self.truncated(
                at,
                format!(
                    "a data chunk of {len} bytes, but the file ends at byte {}",
                    self.limit
                ),
            ));
        }
        Ok(len)
    }
}

impl Seek for FileReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file().seek(pos)
    }
}

/// A custom archive's data, as needed to open one table's data block.
#[derive(Debug, Clone)]
pub(crate) struct CustomArchive {
    pub(crate) path: PathBuf,
    pub(crate) int_size: usize,
    pub(crate) off_size: usize,
    pub(crate) codec: Codec,
    /// Where the data blocks start (the end of the TOC).
    pub(crate) data_start: u64,
    pub(crate) file_len: u64,
}

impl CustomArchive {
    pub(crate) fn new(path: &Path, toc: &Toc) -> CustomArchive {
        CustomArchive {
            path: path.to_owned(),
            int_size: toc.header.int_size,
            off_size: toc.header.off_size,
            codec: toc.header.compression.custom_codec(),
            data_start: toc.end,
            file_len: toc.file_len,
        }
    }

    /// Opens the decompressed data of the TOC entry `dump_id`, seeking to its offset when
    /// the archive has one and otherwise (an archive written to a pipe) searching the data
    /// blocks in order.
    pub(crate) fn open_block(
        &self,
        dump_id: i64,
        flag: u8,
        offset: u64,
    ) -> Result<DataStream, DumpError> {
        let file = FileReader::open(&self.path)?;
        let mut reader = ArchiveReader::new(
            BufReader::with_capacity(BUF_SIZE, file),
            &self.path,
            self.file_len,
        );
        reader.int_size = self.int_size;
        reader.off_size = self.off_size;
        if flag == OFFSET_SET {
            reader.seek(
                offset,
                &format!("the data of TOC entry {dump_id} at byte {offset}"),
            )?;
            let kind = reader.byte("the type of a data block")?;
            let id = reader.int("the dump ID of a data block")?;
            if kind != BLK_DATA || id != dump_id {
                return Err(reader.corrupt(
                    offset,
                    format!(
                        "TOC entry {dump_id} says its data starts here, but the block here \
                         is of type {kind} for dump ID {id} (expected type 1 for {dump_id})"
                    ),
                ));
            }
        } else {
            reader.seek(self.data_start, "the first data block")?;
            self.find_block(&mut reader, dump_id)?;
        }
        let position = Position::at(reader.pos);
        let chunks = ChunkReader {
            reader,
            remaining: 0,
            done: false,
            position: position.clone(),
        };
        DataStream::new(&self.path, self.codec, chunks, position)
    }

    /// Reads block headers from the current position, skipping other blocks, until the data
    /// block of `dump_id`.
    fn find_block(
        &self,
        reader: &mut ArchiveReader<BufReader<FileReader>>,
        dump_id: i64,
    ) -> Result<(), DumpError> {
        loop {
            let at = reader.pos;
            if reader.at_end()? {
                return Err(reader.truncated(
                    at,
                    format!(
                        "the data block of TOC entry {dump_id}: the archive has no data \
                         offsets (it was written to a pipe), and its blocks from byte {} to \
                         the end of the file are for other entries",
                        self.data_start
                    ),
                ));
            }
            let kind = reader.byte("the type of a data block")?;
            let id = reader.int("the dump ID of a data block")?;
            match kind {
                BLK_DATA if id == dump_id => return Ok(()),
                BLK_DATA => reader.skip_chunks()?,
                BLK_BLOBS => loop {
                    if reader.int("the OID of a large object")? == 0 {
                        break;
                    }
                    reader.skip_chunks()?;
                },
                other => {
                    return Err(reader.corrupt(
                        at,
                        format!(
                            "a data block of unknown type {other} (expected 1 for table data \
                             or 3 for large objects)"
                        ),
                    ));
                }
            }
        }
    }
}

/// The data of one custom archive block as one byte stream: the chunks' contents, checked
/// against the file's length, ending at the zero-length chunk.
struct ChunkReader {
    reader: ArchiveReader<BufReader<FileReader>>,
    /// Bytes left in the current chunk.
    remaining: u64,
    /// The zero-length end chunk was read.
    done: bool,
    position: Position,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl BufRead for ChunkReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.remaining == 0 {
            if self.done {
                return Ok(&[]);
            }
            let at = self.reader.pos;
            let len = self
                .reader
                .int("the length of a data chunk")
                .map_err(carry)?;
            self.position.set(self.reader.pos);
            if len == 0 {
                self.done = true;
            } else {
                self.remaining = self.reader.chunk_len(at, len).map_err(carry)?;
            }
        }
        let remaining = self.remaining;
        let ArchiveReader {
            inner, pos, path, ..
        } = &mut self.reader;
        let buf = inner.fill_buf()?;
        if buf.is_empty() {
            return Err(carry(DumpError::Truncated {
                path: path.clone(),
                offset: *pos,
                expected: format!("{remaining} more bytes of a data chunk"),
            }));
        }
        let n = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        Ok(&buf[..n])
    }

    fn consume(&mut self, amount: usize) {
        self.reader.inner.consume(amount);
        self.reader.pos += amount as u64;
        self.remaining = self.remaining.saturating_sub(amount as u64);
        self.position.set(self.reader.pos);
    }
}

/// The data file of a directory archive entry: `dir/name` as is or with `.gz`, `.lz4` or
/// `.zst` appended, whichever exists, and its compression.
pub(crate) fn directory_data_file(dir: &Path, name: &str) -> Result<(PathBuf, Codec), DumpError> {
    if name.is_empty() || name.contains(['/', '\\']) || name == ".." || name == "." {
        return Err(DumpError::Corrupt {
            path: dir.join("toc.dat"),
            offset: 0,
            reason: format!("the data file name {name:?} is not a plain file name"),
        });
    }
    for (suffix, codec) in [
        ("", Codec::None),
        (".gz", Codec::Gzip),
        (".lz4", Codec::Lz4),
        (".zst", Codec::Zstd),
    ] {
        let path = dir.join(format!("{name}{suffix}"));
        if path.is_file() {
            return Ok((path, codec));
        }
    }
    Err(DumpError::Io {
        path: dir.join(name),
        source: io::Error::new(
            io::ErrorKind::NotFound,
            "the archive's data file is missing (looked for it also with .gz, .lz4 and .zst)",
        ),
    })
}

/// Whether a file's first bytes are the archive signature.
pub(crate) fn is_archive_file(head: &[u8]) -> bool {
    head.starts_with(b"PGDMP")
}

/// Opens the file that holds a directory archive's TOC: `toc.dat`, or a compressed
/// `toc.dat.gz`/`.lz4`/`.zst`.
pub(crate) fn directory_toc(dir: &Path) -> Result<Toc, DumpError> {
    let plain = dir.join("toc.dat");
    if plain.is_file() {
        return Toc::read(&plain);
    }
    for (suffix, codec) in [
        ("gz", Codec::Gzip),
        ("lz4", Codec::Lz4),
        ("zst", Codec::Zstd),
    ] {
        let path = dir.join(format!("toc.dat.{suffix}"));
        if path.is_file() {
            let stream = DataStream::open_file(&path, codec)?;
            let mut reader = ArchiveReader::new(StreamReader(stream), &path, u64::MAX);
            let header = reader.header()?;
            let entries = reader.toc(&header)?;
            return Ok(Toc {
                header,
                entries,
                end: reader.pos,
                file_len: u64::MAX,
            });
        }
    }
    Err(DumpError::Unsupported {
        path: dir.to_owned(),
        reason: "the directory has no toc.dat, so it is not a pg_dump directory archive \
                 (pg_dump -Fd)"
            .into(),
    })
}

/// A [`DataStream`] as a `BufRead` (for a compressed `toc.dat`).
struct StreamReader(DataStream);

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_buffered(self, buf)
    }
}

impl BufRead for StreamReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.peek().map_err(carry)
    }

    fn consume(&mut self, amount: usize) {
        self.0.consume(amount);
    }
}

/// Opens `path` and returns its first bytes (up to `n`), for format detection.
pub(crate) fn read_head(path: &Path, n: usize) -> Result<Vec<u8>, DumpError> {
    let mut head = Vec::with_capacity(n);
    File::open(path)
        .and_then(|f| f.take(n as u64).read_to_end(&mut head))
        .map_err(|source| DumpError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn fixture(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/accounts")
            .join(relative)
    }

    fn entries(toc: &Toc) -> Vec<(i64, &str, &str, &str)> {
        toc.entries
            .iter()
            .map(|e| {
                (
                    e.dump_id,
                    e.desc.as_str(),
                    e.tag.as_str(),
                    e.namespace.as_str(),
                )
            })
            .collect()
    }

    const ACCOUNTS_TOC: [(i64, &str, &str, &str); 10] = [
        (3346, "ENCODING", "ENCODING", ""),
        (3347, "STDSTRINGS", "STDSTRINGS", ""),
        (3348, "SEARCHPATH", "SEARCHPATH", ""),
        (3349, "DATABASE", "cassbulk", ""),
        (214, "TABLE", "accounts", "public"),
        (3350, "COMMENT", "TABLE accounts", "public"),
        (3351, "COMMENT", "COLUMN accounts.last_updated", "public"),
        (3343, "TABLE DATA", "accounts", "public"),
        (3200, "CONSTRAINT", "accounts accounts_pkey", "public"),
        (3198, "INDEX", "accounts_lower_email_idx", "public"),
    ];

    #[test]
    fn the_header_and_toc_of_the_pg_dump_15_custom_archive_have_their_golden_values() {
        let toc = Toc::read(&fixture("accounts.dump")).unwrap();
        let h = &toc.header;
        assert_eq!(h.version, (1, 14, 0));
        assert_eq!((h.int_size, h.off_size, h.format), (4, 8, FORMAT_CUSTOM));
        assert_eq!(h.compression, Compression::Gzip);
        assert_eq!(h.database.as_deref(), Some("cassbulk"));
        let version = Some("15.18 (Debian 15.18-0+deb12u1)");
        assert_eq!(h.server_version.as_deref(), version);
        assert_eq!(h.pg_dump_version.as_deref(), version);
        // The creation time changes with each regeneration; its shape does not.
        let [sec, min, hour, mday, mon, year, isdst] = h.created_tm;
        assert!((0..=60).contains(&sec) && (0..60).contains(&min) && (0..24).contains(&hour));
        assert!((1..=31).contains(&mday) && (0..12).contains(&mon) && year >= 125);
        assert!((-1..=1).contains(&isdst));
        assert_eq!(entries(&toc), ACCOUNTS_TOC);
        let data = &toc.entries[7];
        assert_eq!(
            data.copy_stmt,
            "COPY public.accounts (username, email, country, created, last_updated, premium, \
             accepted_licences, bio, user_id, birth_year, balance, login_count) FROM stdin;\n"
        );
        // The data block follows the TOC directly.
        assert_eq!(
            data.data,
            EntryData::Offset {
                flag: OFFSET_SET,
                offset: toc.end
            }
        );
        assert!(toc.entries.iter().enumerate().all(|(i, e)| i == 7
            || e.data
                == EntryData::Offset {
                    flag: OFFSET_NO_DATA,
                    offset: 0
                }));
        assert_eq!(toc.setting("ENCODING"), Some("UTF8"));
        assert_eq!(toc.setting("STDSTRINGS"), Some("on"));
    }

    #[test]
    fn a_directory_archive_toc_says_tar_and_names_the_data_file() {
        // pg_dump marks a directory archive's toc.dat with the tar format code (3), the
        // layout being the same.
        let toc = Toc::read(&fixture("accounts.dir/toc.dat")).unwrap();
        assert_eq!(toc.header.format, FORMAT_TAR);
        assert_eq!(toc.header.compression, Compression::Gzip);
        assert_eq!(entries(&toc), ACCOUNTS_TOC);
        for (i, entry) in toc.entries.iter().enumerate() {
            let file = (i == 7).then(|| "3343.dat".to_owned());
            assert_eq!(entry.data, EntryData::File(file));
        }
    }

    fn reader(bytes: &[u8]) -> ArchiveReader<Cursor<Vec<u8>>> {
        ArchiveReader::new(
            Cursor::new(bytes.to_vec()),
            Path::new("x"),
            bytes.len() as u64,
        )
    }

    #[test]
    fn ints_strings_and_offsets_decode_to_golden_values() {
        let mut r = reader(&[
            0, 0x0f, 0x0d, 0, 0, // 3343
            1, 1, 0, 0, 0, // -1
            0, 2, 0, 0, 0, b'h', b'i', // "hi"
            1, 1, 0, 0, 0, // NULL
            2, 0xc8, 0x0a, 0, 0, 0, 0, 0, 0, // offset 2760, set
        ]);
        assert_eq!(r.int("a").unwrap(), 3343);
        assert_eq!(r.int("b").unwrap(), -1);
        assert_eq!(r.string("c").unwrap().as_deref(), Some("hi"));
        assert_eq!(r.string("d").unwrap(), None);
        assert_eq!(r.offset("e").unwrap(), (OFFSET_SET, 2760));
        assert!(r.at_end().unwrap());
    }

    #[test]
    fn bad_sign_bytes_flags_and_lengths_name_their_byte_offset() {
        let mut r = reader(&[0, 1, 0, 0, 0, 7, 0, 0, 0, 0]);
        r.int("x").unwrap();
        let error = r.int("the tag").unwrap_err();
        assert!(
            matches!(&error, DumpError::Corrupt { offset: 5, reason, .. }
                if reason.contains("the tag: the sign byte is 7")),
            "{error}"
        );
        let error = reader(&[9, 0, 0, 0, 0, 0, 0, 0, 0])
            .offset("o")
            .unwrap_err();
        assert!(error.to_string().contains("the flag is 9"), "{error}");
        let error = reader(&[0, 100, 0, 0, 0, b'a'])
            .string("the owner")
            .unwrap_err();
        assert!(
            matches!(&error, DumpError::Truncated { offset: 0, expected, .. }
                if expected.contains("a string of 100 bytes, but the file ends at byte 6")),
            "{error}"
        );
        let error = reader(&[0, 1, 0]).int("the section").unwrap_err();
        assert!(
            matches!(&error, DumpError::Truncated { offset: 0, expected, .. }
                if expected == "the section (5 bytes)"),
            "{error}"
        );
    }

    #[test]
    fn a_toc_cut_short_names_the_entry_and_field_it_stopped_in() {
        let bytes = std::fs::read(fixture("accounts.dump")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cut.dump");
        std::fs::write(&path, &bytes[..1000]).unwrap();
        let error = Toc::read(&path).unwrap_err();
        let DumpError::Truncated { expected, .. } = &error else {
            panic!("{error}");
        };
        assert!(
            expected.contains("of TOC entry 5 of 10 (dump ID 214)"),
            "{error}"
        );
    }
}
