//! PostgreSQL dumps as a source: plain SQL dumps (`pg_dump`, also `--inserts` and
//! `--column-inserts`, also gzip-, zstd- or LZ4-compressed), custom archives (`pg_dump -Fc`,
//! archive versions 1.12 to 1.16, uncompressed or with gzip, LZ4 or zstd) and directory
//! archives (`pg_dump -Fd`).
//!
//! [`Dump::open`] reads what the dump holds: its tables with their columns and the order their
//! data's fields come in. [`Dump::rows`] then streams one table's rows as text, the form
//! PostgreSQL's output functions give (what COPY text format carries), `None` for NULL. Memory
//! stays bounded by the largest row (or INSERT statement), whatever the size of the dump.
//!
//! Costs: opening a plain dump reads (and decompresses) it once from end to end to find its
//! tables; reading a table's rows then starts at its data (an uncompressed file seeks there, a
//! compressed one is decompressed again up to there). Opening an archive reads only its table
//! of contents. A custom archive written to a pipe has no data offsets, so each table's data is
//! found by skipping over the blocks before it. Directory archives keep each table in a file
//! of its own, so tables can be read in parallel.
//!
//! A malformed row (wrong field count, a bad escape, invalid UTF-8, an INSERT value that is an
//! expression) is a [`RowEvent::Reject`] with its line, and reading goes on. A damaged dump (cut
//! short, a bad block header, a compressed stream that does not decompress, COPY data without
//! its `\.` line) is a [`DumpError`] naming the file and byte offset.
//!
//! Loading: [`mapping`] plans how a dump table's columns convert to the target table
//! ([`pg_types`]: PostgreSQL types and their text forms as CQL values) and turns each row into a
//! partition; `seam.rs` is this source's side of the source seam ([`crate::source`]).

mod ahead;
mod archive;
mod copy_text;
pub mod cql_tables;
mod ddl;
mod lexer;
pub mod mapping;
pub mod pg_types;
mod plain;
mod seam;
mod sql_literal;
mod stream;
#[cfg(test)]
mod test_archive;

use std::io::{self, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use seam::KIND;

use archive::{
    CustomArchive, EntryData, FORMAT_CUSTOM, FORMAT_DIRECTORY, FORMAT_TAR, Toc,
    directory_data_file, tar_unsupported,
};
use copy_text::CopyRows;
use plain::{PlainData, Scanner, Settings, SqlRows};
use stream::{BUF_SIZE, Codec, Counted, DataStream, FileReader, Position, io_error};

/// The kind of dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// SQL text, as `pg_dump` writes by default.
    Plain,
    /// `pg_dump -Fc`.
    Custom,
    /// `pg_dump -Fd`.
    Directory,
}

/// A column of a table, from its `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumn {
    pub name: String,
    /// The type exactly as pg_dump wrote it: `text`, `character varying(255)`,
    /// `numeric(12,2)`, `timestamp with time zone`, `text[]`, `public.mood` ...
    pub type_name: String,
    pub not_null: bool,
}

/// A table in a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpTable {
    /// The schema, unquoted (`public`).
    pub schema: String,
    /// The table name, unquoted.
    pub name: String,
    /// The columns of its `CREATE TABLE`; empty if the dump has its data but not its
    /// definition (`pg_dump --data-only`).
    pub columns: Vec<PgColumn>,
    /// The columns of its data in the order the fields come in: the COPY column list or the
    /// INSERTs' column list (for INSERTs without one, all columns in table order). Empty if
    /// the table has no data.
    pub data_columns: Vec<String>,
    pub has_data: bool,
    /// For a partitioned table (`PARTITION BY`), the partitions attached to it
    /// (`schema.name`), which hold its rows as tables of their own.
    pub partitions: Option<Vec<String>>,
    /// The columns of its primary key (`ALTER TABLE ... ADD CONSTRAINT ... PRIMARY KEY`), in
    /// key order; empty when it has none.
    pub primary_key: Vec<String>,
    /// The partitioned table this one is a partition of (`schema.name`), if any.
    pub partition_of: Option<String>,
}

impl DumpTable {
    /// `schema.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// Where a row came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The dump file, or in a directory archive the table's data file.
    pub file: PathBuf,
    /// 1-based line in the file's (decompressed) text: in a plain dump the line of the SQL
    /// file, in an archive the line of the table's data.
    pub line: u64,
}

/// One row of table data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpRow {
    /// The fields in [`DumpTable::data_columns`] order, as text; `None` for NULL.
    pub fields: Fields,
    pub location: Location,
}

/// A row's fields as text (`None` for NULL), all in one buffer: a row read costs two
/// allocations, not one a field (the read-ahead thread reads millions of rows a run and the
/// converting thread frees them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    text: String,
    /// Each field's start and end in `text`; `NULL` for a NULL.
    spans: Vec<(u32, u32)>,
}

const NULL: (u32, u32) = (u32::MAX, 0);

impl Fields {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Field `i` (`None` for NULL). Panics past the last field, as indexing does.
    pub fn get(&self, i: usize) -> Option<&str> {
        match self.spans[i] {
            NULL => None,
            (start, end) => Some(&self.text[start as usize..end as usize]),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Appends a field; text past 4 GiB a row is not something a COPY line holds.
    pub fn push(&mut self, field: Option<&str>) {
        match field {
            None => self.spans.push(NULL),
            Some(text) => {
                let start = self.text.len();
                self.text.push_str(text);
                self.spans.push((start as u32, self.text.len() as u32));
            }
        }
    }

    pub fn to_vec(&self) -> Vec<Option<String>> {
        self.iter().map(|f| f.map(str::to_owned)).collect()
    }
}

impl From<Vec<Option<String>>> for Fields {
    fn from(fields: Vec<Option<String>>) -> Fields {
        let mut out = Fields {
            text: String::with_capacity(fields.iter().flatten().map(String::len).sum()),
            spans: Vec::with_capacity(fields.len()),
        };
        for field in &fields {
            out.push(field.as_deref());
        }
        out
    }
}

/// A row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub location: Location,
    /// What is wrong with it.
    pub reason: String,
    /// The offending line or statement, cut to about 1 KB.
    pub raw: String,
}

/// What reading a table's data gives, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowEvent {
    Row(DumpRow),
    Reject(Reject),
}

/// Why a dump cannot be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DumpError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is cut short at byte {offset}: expected {expected}", path.display())]
    Truncated {
        path: PathBuf,
        offset: u64,
        expected: String,
    },
    #[error("{} is corrupt at byte {offset}: {reason}", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{} cannot be read: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },
    #[error("the dump has no table `{spec}`; it has: {available}")]
    NoSuchTable { spec: String, available: String },
    #[error(
        "`{spec}` names more than one table in the dump ({candidates}); give it as schema.name"
    )]
    AmbiguousTable { spec: String, candidates: String },
    #[error(
        "--source-table `{spec}` is a list: a load reads one table of a dump; load each table with a command of its own (a name with a comma in it is written quoted: \"a,b\")"
    )]
    TableList { spec: String },
}

/// Where a table's data is.
#[derive(Debug, Clone)]
enum Source {
    None,
    Plain(PlainData),
    Custom {
        dump_id: i64,
        flag: u8,
        offset: u64,
        inserts: bool,
    },
    Directory {
        file: String,
        inserts: bool,
    },
}

/// An opened dump: its tables, and the way to their data.
#[derive(Debug, Clone)]
pub struct Dump {
    path: PathBuf,
    format: DumpFormat,
    created_micros: Option<i64>,
    tables: Vec<DumpTable>,
    /// Parallel to `tables`.
    sources: Vec<Source>,
    /// Compression of a plain dump.
    plain_codec: Codec,
    custom: Option<CustomArchive>,
    /// `standard_conforming_strings` of an archive (for `--inserts` data).
    std_strings: bool,
}

impl Dump {
    /// Opens a dump and reads what it holds. The format is found from the content: a
    /// directory holding `toc.dat` is a directory archive, a file starting with `PGDMP` a
    /// custom archive, anything else plain SQL, which may be gzip-, zstd- or LZ4-compressed.
    /// Tar archives (`pg_dump -Ft`) are not read; extracted into a directory they are.
    pub fn open(path: &Path) -> Result<Dump, DumpError> {
        let metadata = std::fs::metadata(path).map_err(io_error(path))?;
        if metadata.is_dir() {
            let toc = archive::directory_toc(path)?;
            return Dump::from_directory(path, toc);
        }
        let head = archive::read_head(path, 512)?;
        if head.is_empty() {
            return Err(DumpError::Unsupported {
                path: path.to_owned(),
                reason: "the file is empty, and no dump is".into(),
            });
        }
        if head.len() < 5 && b"PGDMP".starts_with(&head) {
            return Err(DumpError::Truncated {
                path: path.to_owned(),
                offset: head.len() as u64,
                expected: "the rest of the archive signature PGDMP and the archive".into(),
            });
        }
        if archive::is_archive_file(&head) {
            let toc = Toc::read(path)?;
            let format = toc.header.format;
            let is_toc_dat = path.file_name().is_some_and(|n| n == "toc.dat");
            return match format {
                FORMAT_CUSTOM => Dump::from_custom(path, toc),
                FORMAT_DIRECTORY | FORMAT_TAR if is_toc_dat => {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    Dump::from_directory(dir, toc)
                }
                FORMAT_DIRECTORY => Err(DumpError::Unsupported {
                    path: path.to_owned(),
                    reason: "this is the toc.dat of a directory archive (pg_dump -Fd); give \
                             the directory that holds it"
                        .into(),
                }),
                _ => Err(tar_unsupported(path)),
            };
        }
        if is_tar(&head) {
            return Err(tar_unsupported(path));
        }
        Dump::open_plain(path, Codec::sniff(&head))
    }

    /// The kind of dump.
    pub fn format(&self) -> DumpFormat {
        self.format
    }

    /// When the archive was made, in microseconds since the Unix epoch; `None` for plain
    /// dumps. pg_dump stores it as a broken-down local time without a zone; like
    /// pg_restore, this reads it as local time in this process's time zone (`TZ`).
    pub fn created_micros(&self) -> Option<i64> {
        self.created_micros
    }

    /// The tables the dump defines or has data for, in dump order.
    pub fn tables(&self) -> &[DumpTable] {
        &self.tables
    }

    /// Finds a table by `schema.name` or by `name` alone, which must then be unique across
    /// schemas. Unquoted names are folded to lower case, as PostgreSQL does, when no table
    /// has the name exactly as given.
    pub fn table(&self, spec: &str) -> Result<&DumpTable, DumpError> {
        let mut matches: Vec<&DumpTable> = Vec::new();
        let mut candidates = vec![];
        if let Some((schema, name)) = spec.split_once('.') {
            candidates.push((Some(schema.to_owned()), name.to_owned()));
        }
        candidates.push((None, spec.to_owned()));
        let mut tokens = lexer::Tokens::new(spec.as_bytes(), true);
        let mut is_list = false;
        if let Ok(parsed) = tokens.qualified_name() {
            // The whole spec is one name, or it is not a name (`public.a,public.b` is a list,
            // never the first table alone).
            let at_end = matches!(tokens.peek(), Ok(None));
            if at_end {
                candidates.push((parsed.schema, parsed.name));
            } else {
                is_list = tokens.eat_punct(b',') == Ok(true);
            }
        }
        for (schema, name) in candidates {
            matches = self
                .tables
                .iter()
                .filter(|t| t.name == name && schema.as_ref().is_none_or(|s| *s == t.schema))
                .collect();
            if !matches.is_empty() {
                break;
            }
        }
        match matches.as_slice() {
            [table] => Ok(table),
            [] if is_list => Err(DumpError::TableList {
                spec: spec.to_owned(),
            }),
            [] => Err(DumpError::NoSuchTable {
                spec: spec.to_owned(),
                available: list(self.tables.iter()),
            }),
            several => Err(DumpError::AmbiguousTable {
                spec: spec.to_owned(),
                candidates: list(several.iter().copied()),
            }),
        }
    }

    /// Streams the rows of `table` (one of [`Dump::tables`]). Each call opens the data
    /// afresh, so different tables can be read at the same time on different threads.
    pub fn rows(&self, table: &DumpTable) -> Result<Rows, DumpError> {
        let index = self
            .tables
            .iter()
            .position(|t| t.schema == table.schema && t.name == table.name)
            .ok_or_else(|| DumpError::NoSuchTable {
                spec: table.qualified_name(),
                available: list(self.tables.iter()),
            })?;
        let (table, source) = match (self.tables.get(index), self.sources.get(index)) {
            (Some(table), Some(source)) => (table, source),
            _ => return Ok(Rows::empty()),
        };
        let mut progress = None;
        let mut track = |stream: &DataStream, start: u64, end: u64| {
            progress = Some(ReadProgress {
                position: stream.raw_position(),
                start,
                end: end.max(start),
            });
        };
        let inner = match source {
            Source::None => RowsInner::Empty,
            Source::Plain(data) => {
                if let Some(options) = &data.unsupported_copy {
                    return Err(DumpError::Unsupported {
                        path: self.path.clone(),
                        reason: format!(
                            "the COPY of {} at line {} reads data with the options \
                             `{options}`; only pg_dump's default text format is read",
                            table.qualified_name(),
                            data.line
                        ),
                    });
                }
                let stream = self.plain_stream_at(data.offset)?;
                if self.plain_codec == Codec::None {
                    track(&stream, data.offset, data.end);
                } else {
                    // Text offsets mean nothing in the compressed file: the whole file it is.
                    track(&stream, 0, file_size(&self.path));
                }
                let scanner = Scanner::new(stream, data.line, data.settings.clone());
                RowsInner::Sql(Box::new(SqlRows::new(scanner, table, Some(data.end))))
            }
            Source::Custom {
                dump_id,
                flag,
                offset,
                inserts,
            } => {
                let custom = self.custom.as_ref().ok_or_else(|| DumpError::Unsupported {
                    path: self.path.clone(),
                    reason: "custom archive data in a dump of another format".into(),
                })?;
                let stream = custom.open_block(*dump_id, *flag, *offset)?;
                // The block ends where the next one starts, or at the end of the file.
                let end = self
                    .sources
                    .iter()
                    .filter_map(|s| match s {
                        Source::Custom { offset: o, .. } if o > offset => Some(*o),
                        _ => None,
                    })
                    .min()
                    .unwrap_or(custom.file_len);
                track(&stream, *offset, end);
                self.archive_rows(stream, table, *inserts)
            }
            Source::Directory { file, inserts } => {
                let (path, codec) = directory_data_file(&self.path, file)?;
                let stream = DataStream::open_file(&path, codec)?;
                track(&stream, 0, file_size(&path));
                self.archive_rows(stream, table, *inserts)
            }
        };
        Ok(Rows { inner, progress })
    }

    fn archive_rows(&self, stream: DataStream, table: &DumpTable, inserts: bool) -> RowsInner {
        if inserts {
            let scanner = Scanner::new(stream, 1, self.archive_settings(table));
            RowsInner::Sql(Box::new(SqlRows::new(scanner, table, None)))
        } else {
            RowsInner::Copy(CopyRows::new(
                stream,
                table.data_columns.clone(),
                table.qualified_name(),
            ))
        }
    }

    /// Settings for reading INSERT statements of an archive's table.
    fn archive_settings(&self, table: &DumpTable) -> Settings {
        Settings {
            std_strings: self.std_strings,
            schema: Some(table.schema.clone()),
            encoding: None,
        }
    }

    /// The plain dump's text from `offset` on.
    fn plain_stream_at(&self, offset: u64) -> Result<DataStream, DumpError> {
        if self.plain_codec != Codec::None {
            let mut stream = DataStream::open_file(&self.path, self.plain_codec)?;
            stream.skip(offset)?;
            return Ok(stream);
        }
        let mut file = FileReader::open(&self.path)?;
        file.file()
            .seek(SeekFrom::Start(offset))
            .map_err(io_error(&self.path))?;
        let position = Position::at(offset);
        let inner = Counted::new(BufReader::with_capacity(BUF_SIZE, file), position.clone());
        let mut stream = DataStream::new(&self.path, Codec::None, inner, position)?;
        stream.set_text_offset(offset);
        Ok(stream)
    }

    fn open_plain(path: &Path, codec: Codec) -> Result<Dump, DumpError> {
        let mut stream = DataStream::open_file(path, codec)?;
        let head = stream.peek()?;
        let head = head.get(..head.len().min(512)).unwrap_or_default();
        let unsupported = |reason: &str| DumpError::Unsupported {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        if archive::is_archive_file(head) {
            return Err(unsupported(
                "this is a compressed custom archive (pg_dump -Fc); decompress it first",
            ));
        }
        if is_tar(head) {
            return Err(tar_unsupported(path));
        }
        if head.contains(&0) {
            return Err(unsupported(
                "this is not SQL text (it has NUL bytes), nor a pg_dump archive",
            ));
        }
        let found = plain::scan(stream)?;
        let (tables, sources) = found
            .into_iter()
            .map(|t| {
                let source = t.data.map_or(Source::None, Source::Plain);
                (t.table, source)
            })
            .unzip();
        Ok(Dump {
            path: path.to_owned(),
            format: DumpFormat::Plain,
            created_micros: None,
            tables,
            sources,
            plain_codec: codec,
            custom: None,
            std_strings: true,
        })
    }

    fn from_custom(path: &Path, toc: Toc) -> Result<Dump, DumpError> {
        let custom = CustomArchive::new(path, &toc);
        let mut dump = Dump::from_toc(path, DumpFormat::Custom, &toc)?;
        dump.custom = Some(custom);
        dump.find_insert_columns();
        Ok(dump)
    }

    fn from_directory(dir: &Path, toc: Toc) -> Result<Dump, DumpError> {
        let format = toc.header.format;
        if format != FORMAT_DIRECTORY && format != FORMAT_TAR {
            return Err(DumpError::Unsupported {
                path: dir.join("toc.dat"),
                reason: format!(
                    "toc.dat has the archive format {format}, expected 5 (directory) or 3 \
                     (an extracted tar archive)"
                ),
            });
        }
        let mut dump = Dump::from_toc(dir, DumpFormat::Directory, &toc)?;
        dump.find_insert_columns();
        Ok(dump)
    }

    /// The tables of an archive's TOC: `TABLE` entries (with the columns of their
    /// definition) and `TABLE DATA` entries (with the COPY statement's column list).
    fn from_toc(path: &Path, format: DumpFormat, toc: &Toc) -> Result<Dump, DumpError> {
        if let Some(encoding) = toc.setting("ENCODING")
            && !Settings::encoding_is_utf8(encoding)
        {
            return Err(DumpError::Unsupported {
                path: path.to_owned(),
                reason: format!(
                    "the dump is in the {encoding} encoding; only UTF8 is read: dump it again \
                     with pg_dump --encoding=UTF8"
                ),
            });
        }
        let std_strings = toc.setting("STDSTRINGS").is_some_and(|v| v == "on");
        let mut tables: Vec<DumpTable> = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        let mut domains = Vec::new();
        let mut attached = Vec::new();
        let mut keys = Vec::new();
        for entry in &toc.entries {
            if entry.desc == "TABLE ATTACH" {
                if let Ok(Some(pair)) = ddl::parse_attach(entry.defn.as_bytes(), std_strings) {
                    attached.push(pair);
                }
                continue;
            }
            if entry.desc == "CONSTRAINT" {
                if let Ok(Some(key)) = ddl::parse_primary_key(entry.defn.as_bytes(), std_strings) {
                    keys.push(key);
                }
                continue;
            }
            if entry.desc == "DOMAIN" {
                if let Ok(Some(domain)) =
                    ddl::parse_create_domain(entry.defn.as_bytes(), std_strings)
                {
                    domains.push(domain);
                }
                continue;
            }
            let is_table = entry.desc == "TABLE";
            if !is_table && entry.desc != "TABLE DATA" {
                continue;
            }
            let index = match tables
                .iter()
                .position(|t| t.schema == entry.namespace && t.name == entry.tag)
            {
                Some(index) => index,
                None => {
                    tables.push(DumpTable {
                        schema: entry.namespace.clone(),
                        name: entry.tag.clone(),
                        columns: Vec::new(),
                        data_columns: Vec::new(),
                        has_data: false,
                        partitions: None,
                        primary_key: Vec::new(),
                        partition_of: None,
                    });
                    sources.push(Source::None);
                    tables.len() - 1
                }
            };
            let (Some(table), Some(source)) = (tables.get_mut(index), sources.get_mut(index))
            else {
                continue;
            };
            if is_table {
                if let Ok(Some(create)) =
                    ddl::parse_create_table(entry.defn.as_bytes(), std_strings)
                {
                    table.columns = create.columns;
                    table.primary_key = create.primary_key;
                    if create.partitioned {
                        table.partitions = Some(Vec::new());
                    }
                }
                continue;
            }
            if !entry.data.has_data() {
                continue;
            }
            let copy = ddl::parse_copy(entry.copy_stmt.as_bytes(), std_strings)
                .ok()
                .flatten();
            let inserts = copy.is_none();
            table.has_data = true;
            table.data_columns = copy
                .and_then(|c| c.columns)
                .unwrap_or_else(|| table.columns.iter().map(|c| c.name.clone()).collect());
            *source = match &entry.data {
                EntryData::Offset { flag, offset } => Source::Custom {
                    dump_id: entry.dump_id,
                    flag: *flag,
                    offset: *offset,
                    inserts,
                },
                EntryData::File(file) => Source::Directory {
                    file: file.clone().unwrap_or_default(),
                    inserts,
                },
            };
        }
        for table in &mut tables {
            ddl::resolve_domains(&mut table.columns, &domains);
        }
        attach_partitions(&mut tables, &attached);
        set_primary_keys(&mut tables, &keys);
        Ok(Dump {
            path: path.to_owned(),
            format,
            created_micros: toc.created_seconds().and_then(|s| s.checked_mul(1_000_000)),
            tables,
            sources,
            plain_codec: Codec::None,
            custom: None,
            std_strings,
        })
    }

    /// For tables dumped with `--column-inserts` into an archive, the TOC has no column
    /// list: it is in the first INSERT. A table whose data cannot be read here keeps the
    /// table's columns; reading its rows reports the problem.
    fn find_insert_columns(&mut self) {
        for i in 0..self.tables.len() {
            let (Some(table), Some(source)) = (self.tables.get(i), self.sources.get(i)) else {
                continue;
            };
            let stream = match source {
                Source::Custom {
                    dump_id,
                    flag,
                    offset,
                    inserts: true,
                } => match &self.custom {
                    Some(custom) => custom.open_block(*dump_id, *flag, *offset),
                    None => continue,
                },
                Source::Directory {
                    file,
                    inserts: true,
                } => directory_data_file(&self.path, file)
                    .and_then(|(path, codec)| DataStream::open_file(&path, codec)),
                _ => continue,
            };
            let Ok(stream) = stream else { continue };
            let mut scanner = Scanner::new(stream, 1, self.archive_settings(table));
            let Ok(Some(statement)) = scanner.next_statement() else {
                continue;
            };
            let mut tokens = lexer::Tokens::new(&statement.text, self.std_strings);
            if let Ok(Some(header)) = sql_literal::header(&mut tokens)
                && let Some(columns) = header.columns
                && let Some(table) = self.tables.get_mut(i)
            {
                table.data_columns = columns;
            }
        }
    }
}

fn is_tar(head: &[u8]) -> bool {
    head.get(257..262) == Some(b"ustar")
}

/// `schema.name` of each table, comma-separated, at most 20.
/// Records each `(parent, child)` attachment in the parent's partitions; names without a schema
/// are in `public` (pg_dump qualifies them; a plain dump's are resolved before).
pub(crate) fn attach_partitions<'a>(
    tables: impl IntoIterator<Item = &'a mut DumpTable>,
    attached: &[(lexer::QualifiedName, lexer::QualifiedName)],
) {
    let mut tables: Vec<&mut DumpTable> = tables.into_iter().collect();
    let schema_of =
        |name: &lexer::QualifiedName| name.schema.clone().unwrap_or_else(|| "public".to_owned());
    for (parent, child) in attached {
        let parent_schema = schema_of(parent);
        let child_schema = schema_of(child);
        if let Some(table) = tables
            .iter_mut()
            .find(|t| t.schema == parent_schema && t.name == parent.name)
            && let Some(partitions) = &mut table.partitions
        {
            partitions.push(format!("{child_schema}.{}", child.name));
        }
        if let Some(table) = tables
            .iter_mut()
            .find(|t| t.schema == child_schema && t.name == child.name)
        {
            table.partition_of = Some(format!("{parent_schema}.{}", parent.name));
        }
    }
}

/// Gives each table its primary key columns from the dump's `ADD CONSTRAINT ... PRIMARY KEY`
/// statements (`(table, columns)`; a name without a schema is in `public`).
pub(crate) fn set_primary_keys<'a>(
    tables: impl IntoIterator<Item = &'a mut DumpTable>,
    keys: &[(lexer::QualifiedName, Vec<String>)],
) {
    let mut tables: Vec<&mut DumpTable> = tables.into_iter().collect();
    for (name, columns) in keys {
        let schema = name.schema.as_deref().unwrap_or("public");
        if let Some(table) = tables
            .iter_mut()
            .find(|t| t.schema == schema && t.name == name.name)
        {
            table.primary_key = columns.clone();
        }
    }
}

fn list<'a>(tables: impl Iterator<Item = &'a DumpTable>) -> String {
    let names: Vec<String> = tables.map(DumpTable::qualified_name).collect();
    if names.is_empty() {
        return "no tables".to_owned();
    }
    let shown = names
        .iter()
        .take(20)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len() {
        n if n > 20 => format!("{shown} and {} more", n - 20),
        _ => shown,
    }
}

/// Raw text for a [`Reject`]: lossy UTF-8, cut to 1 KB.
pub(crate) fn excerpt(raw: &[u8]) -> String {
    const MAX: usize = 1024;
    match raw.get(..MAX) {
        Some(head) if raw.len() > MAX => format!("{}…", String::from_utf8_lossy(head)),
        _ => String::from_utf8_lossy(raw).into_owned(),
    }
}

/// The rows of one table, from [`Dump::rows`]. After an error it ends.
pub struct Rows {
    inner: RowsInner,
    progress: Option<ReadProgress>,
}

/// How far the reading of one table's data has got, in bytes of the dump file: shared with the
/// reader, so another thread can follow it.
#[derive(Debug, Clone)]
pub struct ReadProgress {
    position: Position,
    start: u64,
    end: u64,
}

impl ReadProgress {
    /// Bytes of the table's data read so far (compressed bytes, where it is compressed).
    pub fn bytes_read(&self) -> u64 {
        self.position
            .get()
            .saturating_sub(self.start)
            .min(self.total_bytes())
    }

    /// The size of the table's data in the file.
    pub fn total_bytes(&self) -> u64 {
        self.end - self.start
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

enum RowsInner {
    Empty,
    Copy(CopyRows),
    Sql(Box<SqlRows>),
}

impl Rows {
    fn empty() -> Rows {
        Rows {
            inner: RowsInner::Empty,
            progress: None,
        }
    }

    /// A handle that follows how far these rows have been read, when the size is known.
    pub fn progress(&self) -> Option<ReadProgress> {
        self.progress.clone()
    }
}

impl Iterator for Rows {
    type Item = Result<RowEvent, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            RowsInner::Empty => None,
            RowsInner::Copy(rows) => rows.next(),
            RowsInner::Sql(rows) => rows.next(),
        }
    }
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rows")
    }
}
