//! Plain SQL dumps (`pg_dump` without `-F`, also with `--inserts`/`--column-inserts`), and the
//! INSERT statements inside archives made with `--inserts`.
//!
//! The [`Scanner`] splits a stream into statements the way psql does: it knows single-quoted
//! strings (`''` doubling; backslash escapes in `E'...'`, and in all strings when
//! `standard_conforming_strings` is off), double-quoted identifiers, dollar quoting, `--` and
//! nested `/* */` comments, and psql meta-commands, lines starting with a backslash
//! (`\connect`, and `\restrict`/`\unrestrict` that pg_dump 15.14 and later write), which it
//! skips. After `COPY ... FROM stdin;` the lines up to `\.` are data, not SQL.
//!
//! [`scan`] reads a whole dump once to list its tables and where each table's data is;
//! [`SqlRows`] then reads one table's rows from there.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use super::copy_text::{line_content, row_event};
use super::ddl::{
    CopyFrom, parse_attach, parse_copy, parse_create_domain, parse_create_table, parse_primary_key,
    resolve_domains,
};
use super::lexer::{QualifiedName, Token, Tokens};
use super::sql_literal;
use super::stream::DataStream;
use super::{DumpError, DumpRow, DumpTable, Location, PgColumn, Reject, RowEvent, excerpt};

/// Statements longer than this are taken for a sign of an unbalanced quote.
const MAX_STATEMENT: usize = 1 << 30;

/// Session settings that change how statements read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `standard_conforming_strings`: when off, backslashes escape in every string constant.
    pub(crate) std_strings: bool,
    /// The first schema of `search_path`, for names written without a schema.
    pub(crate) schema: Option<String>,
    /// `client_encoding`, as the dump sets it.
    pub(crate) encoding: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            std_strings: true,
            schema: None,
            encoding: None,
        }
    }
}

impl Settings {
    /// The schema and name a statement's table name stands for.
    pub(crate) fn resolve(&self, name: &QualifiedName) -> (String, String) {
        let schema = name
            .schema
            .clone()
            .or_else(|| self.schema.clone())
            .unwrap_or_else(|| "public".to_owned());
        (schema, name.name.clone())
    }

    /// Applies a `SET` (or pg_dump's `set_config('search_path', ...)`) statement.
    fn apply(&mut self, sql: &[u8]) {
        let mut t = Tokens::new(sql, self.std_strings);
        let Ok(Some((first, _))) = t.next_token() else {
            return;
        };
        if first.is_keyword("select") {
            // SELECT pg_catalog.set_config('search_path', '', false);
            let text = String::from_utf8_lossy(sql);
            if text.contains("set_config('search_path'") {
                let value = text
                    .split('\'')
                    .nth(3)
                    .and_then(|v| v.split(',').next())
                    .map(|v| v.trim().trim_matches('"').to_owned())
                    .filter(|v| !v.is_empty());
                self.schema = value;
            }
            return;
        }
        if !first.is_keyword("set") {
            return;
        }
        let _ = t.eat_keyword("session");
        let Ok(Some((name, _))) = t.next_token() else {
            return;
        };
        let Some(name) = name.identifier().map(str::to_owned) else {
            return;
        };
        // `=` or TO, then the value.
        let _ = t.next_token();
        let value = match t.next_token() {
            Ok(Some((Token::Str(s) | Token::Word(s) | Token::QuotedIdent(s), _))) => s,
            _ => return,
        };
        match name.as_str() {
            "standard_conforming_strings" => self.std_strings = value != "off",
            "client_encoding" => self.encoding = Some(value),
            "search_path" => self.schema = Some(value).filter(|v| !v.is_empty()),
            _ => {}
        }
    }

    /// Whether the text is UTF-8 (or said to be SQL_ASCII, which is usually UTF-8 too).
    pub(crate) fn encoding_is_utf8(encoding: &str) -> bool {
        let normal: String = encoding
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_uppercase();
        normal == "UTF8" || normal == "UNICODE" || normal == "SQLASCII"
    }
}

/// One complete SQL statement.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub(crate) text: Vec<u8>,
    /// Line and text offset where it starts.
    pub(crate) line: u64,
    pub(crate) offset: u64,
    /// Text offset after its `;`.
    pub(crate) end: u64,
    /// The COPY it is, if it is a `COPY ... FROM stdin`.
    pub(crate) copy: Option<CopyFrom>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Normal,
    /// In a string constant; `escapes` when backslashes escape.
    Quote {
        escapes: bool,
    },
    Identifier,
    /// In a dollar-quoted string with this closing tag (`$tag$`).
    Dollar(Vec<u8>),
    /// In a `/* */` comment, nested this deep.
    Comment(usize),
}

impl State {
    fn describe(&self) -> &'static str {
        match self {
            State::Normal => "statement",
            State::Quote { .. } => "quoted string",
            State::Identifier => "quoted identifier",
            State::Dollar(_) => "dollar-quoted string",
            State::Comment(_) => "comment",
        }
    }
}

/// Splits a stream of SQL (with COPY data) into statements and data lines.
pub(crate) struct Scanner {
    stream: DataStream,
    /// The current line, `\n` included, and the position in it.
    line: Vec<u8>,
    pos: usize,
    /// The number of the current line (1-based) and the text offset of its first byte.
    line_no: u64,
    line_offset: u64,
    state: State,
    stmt: Vec<u8>,
    pub(crate) settings: Settings,
    /// While in COPY data: the line of the COPY statement.
    copy_line: Option<u64>,
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl Scanner {
    /// A scanner that starts at line `first_line` of the text, at the stream's position, at
    /// a point between statements.
    pub(crate) fn new(stream: DataStream, first_line: u64, settings: Settings) -> Scanner {
        let line_offset = stream.text_offset();
        Scanner {
            stream,
            line: Vec::new(),
            pos: 0,
            line_no: first_line.saturating_sub(1),
            line_offset,
            state: State::Normal,
            stmt: Vec::new(),
            settings,
            copy_line: None,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.stream.path()
    }

    /// The text offset reached.
    pub(crate) fn offset(&self) -> u64 {
        self.line_offset + self.pos as u64
    }

    /// Reads the next line; `false` at the end of the text.
    fn next_line(&mut self) -> Result<bool, DumpError> {
        self.line_offset = self.stream.text_offset();
        let n = self.stream.read_line(&mut self.line)?;
        self.pos = 0;
        if n == 0 {
            return Ok(false);
        }
        self.line_no += 1;
        Ok(true)
    }

    fn flush(&mut self, from: usize, to: usize) -> Result<(), DumpError> {
        if let Some(bytes) = self.line.get(from..to) {
            self.stmt.extend_from_slice(bytes);
        }
        if self.stmt.len() > MAX_STATEMENT {
            return Err(DumpError::Corrupt {
                path: self.stream.path().to_owned(),
                offset: self.stream.raw_offset(),
                reason: format!(
                    "a statement is longer than {} MiB at line {}; a quote is probably \
                     never closed",
                    MAX_STATEMENT >> 20,
                    self.line_no
                ),
            });
        }
        Ok(())
    }

    /// The next statement, skipping the data of a COPY the caller did not read.
    pub(crate) fn next_statement(&mut self) -> Result<Option<Statement>, DumpError> {
        while self.next_copy_line()?.is_some() {}
        self.stmt.clear();
        // Line and offset where the statement starts, once it has.
        let mut start: Option<(u64, u64)> = None;
        loop {
            if self.pos >= self.line.len() && !self.next_line()? {
                return self.end_of_text(start);
            }
            let len = self.line.len();
            let mut i = self.pos;
            match self.state.clone() {
                State::Normal => {
                    if start.is_none() {
                        // Between statements: skip blanks, comments and meta-commands.
                        let (b, next) = (
                            self.line.get(i).copied().unwrap_or(b'\n'),
                            self.line.get(i + 1).copied(),
                        );
                        if b.is_ascii_whitespace() {
                            self.pos = i + 1;
                            continue;
                        }
                        if b == b'\\' || (b == b'-' && next == Some(b'-')) {
                            self.pos = len;
                            continue;
                        }
                        if b == b'/' && next == Some(b'*') {
                            self.state = State::Comment(1);
                            self.pos = i + 2;
                            continue;
                        }
                        start = Some((self.line_no, self.line_offset + i as u64));
                    }
                    let from = i;
                    while let Some(&b) = self.line.get(i) {
                        let next = self.line.get(i + 1).copied();
                        match b {
                            b';' => {
                                self.flush(from, i + 1)?;
                                self.pos = i + 1;
                                let (line, offset) = start.unwrap_or_default();
                                return self.finish(line, offset).map(Some);
                            }
                            b'\'' => {
                                self.flush(from, i + 1)?;
                                let escapes = !self.settings.std_strings || self.e_prefix();
                                self.state = State::Quote { escapes };
                                i += 1;
                                break;
                            }
                            b'"' => {
                                self.flush(from, i + 1)?;
                                self.state = State::Identifier;
                                i += 1;
                                break;
                            }
                            b'$' => {
                                if let Some(tag) = self.dollar_tag(i) {
                                    let tag_len = tag.len();
                                    self.flush(from, i + tag_len)?;
                                    self.state = State::Dollar(tag);
                                    i += tag_len;
                                    break;
                                }
                                i += 1;
                            }
                            b'-' if next == Some(b'-') => {
                                self.flush(from, i)?;
                                self.stmt.push(b'\n');
                                i = len;
                                break;
                            }
                            b'/' if next == Some(b'*') => {
                                self.flush(from, i)?;
                                self.stmt.push(b' ');
                                self.state = State::Comment(1);
                                i += 2;
                                break;
                            }
                            _ => i += 1,
                        }
                    }
                    if i >= len && self.state == State::Normal {
                        self.flush(from, len)?;
                    }
                    self.pos = i.min(len);
                }
                State::Quote { escapes } => {
                    let from = i;
                    while let Some(&b) = self.line.get(i) {
                        i += 1;
                        if b == b'\\' && escapes {
                            i += 1;
                        } else if b == b'\'' {
                            self.state = State::Normal;
                            break;
                        }
                    }
                    let i = i.min(len);
                    self.flush(from, i)?;
                    self.pos = i;
                }
                State::Identifier => {
                    let from = i;
                    while let Some(&b) = self.line.get(i) {
                        i += 1;
                        if b == b'"' {
                            self.state = State::Normal;
                            break;
                        }
                    }
                    self.flush(from, i)?;
                    self.pos = i;
                }
                State::Dollar(tag) => {
                    let from = i;
                    let rest = self.line.get(i..).unwrap_or_default();
                    match rest.windows(tag.len()).position(|w| w == tag.as_slice()) {
                        Some(at) => {
                            i += at + tag.len();
                            self.state = State::Normal;
                        }
                        None => i = len,
                    }
                    self.flush(from, i)?;
                    self.pos = i;
                }
                State::Comment(depth) => {
                    let mut depth = depth;
                    while i < len && depth > 0 {
                        match (self.line.get(i), self.line.get(i + 1)) {
                            (Some(b'/'), Some(b'*')) => {
                                depth += 1;
                                i += 2;
                            }
                            (Some(b'*'), Some(b'/')) => {
                                depth -= 1;
                                i += 2;
                            }
                            _ => i += 1,
                        }
                    }
                    self.state = if depth == 0 {
                        State::Normal
                    } else {
                        State::Comment(depth)
                    };
                    self.pos = i.min(len);
                }
            }
        }
    }

    /// Whether the quote just added to the statement follows a lone `E` (an escape string).
    fn e_prefix(&self) -> bool {
        let n = self.stmt.len();
        n >= 2
            && matches!(self.stmt.get(n - 2), Some(b'e' | b'E'))
            && !(n >= 3 && self.stmt.get(n - 3).copied().is_some_and(is_ident_char))
    }

    /// The `$tag$` that starts a dollar-quoted string at `i` of the current line, if any.
    fn dollar_tag(&self, i: usize) -> Option<Vec<u8>> {
        let before = if i == 0 {
            self.stmt.last().copied()
        } else {
            self.line.get(i - 1).copied()
        };
        if before.is_some_and(is_ident_char) {
            return None;
        }
        let mut end = i + 1;
        if self.line.get(end).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while self
            .line
            .get(end)
            .is_some_and(|&b| is_ident_char(b) && b != b'$')
        {
            end += 1;
        }
        match self.line.get(end) {
            Some(b'$') => self.line.get(i..=end).map(<[u8]>::to_vec),
            _ => None,
        }
    }

    /// Completes the statement in `self.stmt`: applies settings, notices COPY.
    fn finish(&mut self, line: u64, offset: u64) -> Result<Statement, DumpError> {
        let text = std::mem::take(&mut self.stmt);
        self.settings.apply(&text);
        let copy = parse_copy(&text, self.settings.std_strings).ok().flatten();
        if copy.is_some() {
            // psql reads COPY data from the line after the command.
            self.pos = self.line.len();
            self.copy_line = Some(line);
        }
        Ok(Statement {
            text,
            line,
            offset,
            end: self.offset(),
            copy,
        })
    }

    fn end_of_text(&mut self, start: Option<(u64, u64)>) -> Result<Option<Statement>, DumpError> {
        if self.state != State::Normal {
            let what = self.state.describe();
            let line = start.map_or(self.line_no, |(line, _)| line);
            return Err(DumpError::Truncated {
                path: self.stream.path().to_owned(),
                offset: self.stream.raw_offset(),
                expected: format!(
                    "the end of a {what} in the statement at line {line}: the text ends first"
                ),
            });
        }
        match start {
            Some((line, offset)) if self.stmt.iter().any(|b| !b.is_ascii_whitespace()) => {
                // A last statement without `;`: psql runs it too.
                self.finish(line, offset).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The next data line of the COPY just read (without its line end), with its line
    /// number; `None` after the `\.` line (or when not in COPY data).
    pub(crate) fn next_copy_line(&mut self) -> Result<Option<(&[u8], u64)>, DumpError> {
        let Some(copy_line) = self.copy_line else {
            return Ok(None);
        };
        if !self.next_line()? {
            return Err(DumpError::Truncated {
                path: self.stream.path().to_owned(),
                offset: self.stream.raw_offset(),
                expected: format!(
                    "a line `\\.` ending the COPY data begun at line {copy_line}; the text \
                     ends after line {}",
                    self.line_no
                ),
            });
        }
        self.pos = self.line.len();
        let (content, complete) = line_content(&self.line);
        if content == b"\\." {
            self.copy_line = None;
            return Ok(None);
        }
        if !complete {
            return Err(DumpError::Truncated {
                path: self.stream.path().to_owned(),
                offset: self.stream.raw_offset(),
                expected: format!(
                    "the end of line {} in the COPY data begun at line {copy_line}: the text \
                     ends inside a row",
                    self.line_no
                ),
            });
        }
        Ok(Some((content, self.line_no)))
    }
}

/// What [`scan`] finds about one table.
#[derive(Debug, Clone)]
pub(crate) struct PlainTable {
    pub(crate) table: DumpTable,
    pub(crate) data: Option<PlainData>,
}

/// Where a table's data is in a plain dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainData {
    /// Text offset and line of its first data statement.
    pub(crate) offset: u64,
    pub(crate) line: u64,
    /// Text offset after its last data statement (or COPY data).
    pub(crate) end: u64,
    pub(crate) settings: Settings,
    /// Options of a COPY in another format than pg_dump's text format.
    pub(crate) unsupported_copy: Option<String>,
}

/// Reads a plain dump from start to end and lists its tables, in the order they first appear
/// (with a `CREATE TABLE` or with data), with where their data is.
pub(crate) fn scan(stream: DataStream) -> Result<Vec<PlainTable>, DumpError> {
    let mut scanner = Scanner::new(stream, 1, Settings::default());
    let mut tables: Vec<PlainTable> = Vec::new();
    let mut domains = Vec::new();
    let mut attached = Vec::new();
    let mut keys = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut entry = |tables: &mut Vec<PlainTable>, key: (String, String)| -> usize {
        *index.entry(key.clone()).or_insert_with(|| {
            tables.push(PlainTable {
                table: DumpTable {
                    schema: key.0,
                    name: key.1,
                    columns: Vec::new(),
                    data_columns: Vec::new(),
                    has_data: false,
                    partitions: None,
                    primary_key: Vec::new(),
                    partition_of: None,
                },
                data: None,
            });
            tables.len() - 1
        })
    };
    while let Some(stmt) = scanner.next_statement()? {
        if let Some(encoding) = &scanner.settings.encoding
            && !Settings::encoding_is_utf8(encoding)
        {
            return Err(DumpError::Unsupported {
                path: scanner.path().to_owned(),
                reason: format!(
                    "the dump is in the {encoding} encoding (line {}); only UTF8 is read: dump \
                     it again with pg_dump --encoding=UTF8",
                    stmt.line
                ),
            });
        }
        let settings = scanner.settings.clone();
        let start = |end| PlainData {
            offset: stmt.offset,
            line: stmt.line,
            end,
            settings: settings.clone(),
            unsupported_copy: None,
        };
        if let Some(copy) = &stmt.copy {
            let i = entry(&mut tables, settings.resolve(&copy.table));
            while scanner.next_copy_line()?.is_some() {}
            let end = scanner.offset();
            let Some(t) = tables.get_mut(i) else { continue };
            match &mut t.data {
                Some(data) => data.end = end,
                None => {
                    t.table.has_data = true;
                    t.table.data_columns = copy
                        .columns
                        .clone()
                        .unwrap_or_else(|| names(&t.table.columns));
                    let mut data = start(end);
                    data.unsupported_copy = copy.options.clone();
                    t.data = Some(data);
                }
            }
            continue;
        }
        let mut tokens = Tokens::new(&stmt.text, settings.std_strings);
        match tokens.peek() {
            Ok(Some(first)) if first.is_keyword("create") => {
                if let Ok(Some(create)) = parse_create_table(&stmt.text, settings.std_strings) {
                    let i = entry(&mut tables, settings.resolve(&create.table));
                    if let Some(t) = tables.get_mut(i) {
                        t.table.columns = create.columns;
                        t.table.primary_key = create.primary_key;
                        if create.partitioned {
                            t.table.partitions = Some(Vec::new());
                        }
                    }
                } else if let Ok(Some(domain)) =
                    parse_create_domain(&stmt.text, settings.std_strings)
                {
                    domains.push(domain);
                }
            }
            Ok(Some(first)) if first.is_keyword("alter") => {
                let qualified = |name| {
                    let (schema, name) = settings.resolve(&name);
                    QualifiedName {
                        schema: Some(schema),
                        name,
                    }
                };
                if let Ok(Some((parent, child))) = parse_attach(&stmt.text, settings.std_strings) {
                    attached.push((qualified(parent), qualified(child)));
                } else if let Ok(Some((table, columns))) =
                    parse_primary_key(&stmt.text, settings.std_strings)
                {
                    keys.push((qualified(table), columns));
                }
            }
            Ok(Some(first)) if first.is_keyword("insert") => {
                let Ok(Some(header)) = sql_literal::header(&mut tokens) else {
                    continue;
                };
                let i = entry(&mut tables, settings.resolve(&header.table));
                let Some(t) = tables.get_mut(i) else { continue };
                match &mut t.data {
                    Some(data) => data.end = stmt.end,
                    None => {
                        t.table.has_data = true;
                        t.table.data_columns =
                            header.columns.unwrap_or_else(|| names(&t.table.columns));
                        t.data = Some(start(stmt.end));
                    }
                }
            }
            _ => {}
        }
    }
    for t in &mut tables {
        resolve_domains(&mut t.table.columns, &domains);
    }
    super::attach_partitions(tables.iter_mut().map(|t| &mut t.table), &attached);
    super::set_primary_keys(tables.iter_mut().map(|t| &mut t.table), &keys);
    Ok(tables)
}

fn names(columns: &[PgColumn]) -> Vec<String> {
    columns.iter().map(|c| c.name.clone()).collect()
}

/// The rows of one table from SQL text: its COPY data and its INSERT statements, from where
/// the scanner starts up to an end offset.
pub(crate) struct SqlRows {
    scanner: Scanner,
    /// The file, for row locations.
    path: PathBuf,
    schema: String,
    name: String,
    /// The order fields come in; statements that list other columns are rejected.
    data_columns: Vec<String>,
    /// Stop at the first statement starting at or after this text offset.
    end: Option<u64>,
    pending: VecDeque<RowEvent>,
    /// Reading the data of a COPY into this table.
    in_copy: bool,
    copy_columns: Vec<String>,
    done: bool,
}

impl SqlRows {
    pub(crate) fn new(scanner: Scanner, table: &DumpTable, end: Option<u64>) -> SqlRows {
        SqlRows {
            path: scanner.path().to_owned(),
            scanner,
            schema: table.schema.clone(),
            name: table.name.clone(),
            data_columns: table.data_columns.clone(),
            end,
            pending: VecDeque::new(),
            in_copy: false,
            copy_columns: Vec::new(),
            done: false,
        }
    }

    fn is_target(&self, name: &QualifiedName) -> bool {
        let (schema, name) = self.scanner.settings.resolve(name);
        schema == self.schema && name == self.name
    }

    fn step(&mut self) -> Result<Option<RowEvent>, DumpError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if self.in_copy {
                match self.scanner.next_copy_line()? {
                    Some((line, line_no)) => {
                        return Ok(Some(row_event(
                            line,
                            line_no,
                            &self.path,
                            &self.copy_columns,
                        )));
                    }
                    None => {
                        self.in_copy = false;
                        continue;
                    }
                }
            }
            let Some(stmt) = self.scanner.next_statement()? else {
                return Ok(None);
            };
            if self.end.is_some_and(|end| stmt.offset >= end) {
                return Ok(None);
            }
            if let Some(copy) = &stmt.copy {
                if !self.is_target(&copy.table) {
                    continue;
                }
                if let Some(options) = &copy.options {
                    return Err(DumpError::Unsupported {
                        path: self.scanner.path().to_owned(),
                        reason: format!(
                            "the COPY at line {} reads data with the options `{options}`; only \
                             pg_dump's default text format is read",
                            stmt.line
                        ),
                    });
                }
                self.copy_columns = copy
                    .columns
                    .clone()
                    .unwrap_or_else(|| self.data_columns.clone());
                self.in_copy = true;
                continue;
            }
            self.insert(&stmt);
        }
    }

    /// Queues the rows of `stmt` if it is an INSERT into the table.
    fn insert(&mut self, stmt: &Statement) {
        let mut tokens = Tokens::new(&stmt.text, self.scanner.settings.std_strings);
        let path = &self.path;
        let reject = |reason: String, line: u64, raw: &[u8]| {
            RowEvent::Reject(Reject {
                location: Location {
                    file: path.clone(),
                    line,
                },
                reason,
                raw: excerpt(raw),
            })
        };
        let header = match sql_literal::header(&mut tokens) {
            Ok(Some(header)) => header,
            Ok(None) => return,
            Err(reason) => {
                // Not an INSERT this reader understands; reject it if it names the table.
                let mut t = Tokens::new(&stmt.text, self.scanner.settings.std_strings);
                let names_table = t.eat_keyword("insert").unwrap_or(false)
                    && t.eat_keyword("into").unwrap_or(false)
                    && t.qualified_name().is_ok_and(|name| self.is_target(&name));
                if names_table {
                    let event = reject(reason, stmt.line, &stmt.text);
                    self.pending.push_back(event);
                }
                return;
            }
        };
        if !self.is_target(&header.table) {
            return;
        }
        let expected = match &header.columns {
            Some(columns) if !self.data_columns.is_empty() && *columns != self.data_columns => {
                let event = reject(
                    format!(
                        "the INSERT lists the columns ({}), but the table's data columns are \
                         ({})",
                        columns.join(", "),
                        self.data_columns.join(", ")
                    ),
                    stmt.line,
                    &stmt.text,
                );
                self.pending.push_back(event);
                return;
            }
            Some(columns) => columns.len(),
            None => self.data_columns.len(),
        };
        let tuples = match sql_literal::values(&mut tokens) {
            Ok(tuples) => tuples,
            Err(reason) => {
                let event = reject(reason, stmt.line, &stmt.text);
                self.pending.push_back(event);
                return;
            }
        };
        let mut line = stmt.line;
        let mut counted = 0;
        for tuple in tuples {
            let upto = tuple.offset.min(stmt.text.len());
            line += stmt
                .text
                .get(counted..upto)
                .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64);
            counted = counted.max(upto);
            let raw_end = stmt.text.len().min(tuple.offset + 1024);
            let raw = stmt.text.get(tuple.offset..raw_end).unwrap_or_default();
            let event = match tuple.fields {
                Ok(fields) if expected == 0 || fields.len() == expected => RowEvent::Row(DumpRow {
                    fields: fields.into(),
                    location: Location {
                        file: path.clone(),
                        line,
                    },
                }),
                Ok(fields) => reject(
                    format!(
                        "{} values, but the table's data has {expected} columns ({})",
                        fields.len(),
                        self.data_columns.join(", ")
                    ),
                    line,
                    raw,
                ),
                Err(reason) => reject(reason, line, raw),
            };
            self.pending.push_back(event);
        }
    }
}

impl Iterator for SqlRows {
    type Item = Result<RowEvent, DumpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step();
        if !matches!(step, Ok(Some(_))) {
            self.done = true;
        }
        step.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pg_dump::stream::{Codec, Counted, Position};
    use std::io::Cursor;

    fn scanner(sql: &str) -> Scanner {
        let position = Position::at(0);
        let stream = DataStream::new(
            Path::new("t.sql"),
            Codec::None,
            Counted::new(Cursor::new(sql.as_bytes().to_vec()), position.clone()),
            position,
        )
        .unwrap();
        Scanner::new(stream, 1, Settings::default())
    }

    fn statements(sql: &str) -> Vec<(String, u64)> {
        let mut s = scanner(sql);
        let mut out = Vec::new();
        while let Some(stmt) = s.next_statement().unwrap() {
            out.push((String::from_utf8(stmt.text).unwrap(), stmt.line));
        }
        out
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_comments_and_dollar_quotes() {
        let sql = "\\restrict abc\nSET a = 1;\n-- a comment; with a semicolon\n\
                   CREATE FUNCTION f() RETURNS text AS $body$ select ';' $body$ LANGUAGE sql;\n\
                   /* outer /* inner; */ still; */ SELECT 'x;''y', \"semi;colon\", E'\\';', $$;$$;\n\
                   SELECT 2; SELECT 3\n;\n\\unrestrict abc\n";
        let got = statements(sql);
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "SET a = 1;",
                "CREATE FUNCTION f() RETURNS text AS $body$ select ';' $body$ LANGUAGE sql;",
                "SELECT 'x;''y', \"semi;colon\", E'\\';', $$;$$;",
                "SELECT 2;",
                "SELECT 3\n;",
            ]
        );
        let lines: Vec<u64> = got.iter().map(|(_, l)| *l).collect();
        assert_eq!(lines, vec![2, 4, 5, 6, 6]);
    }

    #[test]
    fn with_standard_conforming_strings_off_a_backslash_escapes_a_quote() {
        let sql = "SET standard_conforming_strings = off;\nSELECT 'a\\';b';\nSET standard_conforming_strings = on;\nSELECT 'c\\';\n";
        let texts: Vec<String> = statements(sql).into_iter().map(|(t, _)| t).collect();
        assert_eq!(texts[1], "SELECT 'a\\';b';");
        assert_eq!(texts[3], "SELECT 'c\\';");
    }

    #[test]
    fn copy_data_is_lines_up_to_the_end_marker_not_sql() {
        let sql = "COPY public.t (a, b) FROM stdin;\n1\t'; not sql\n2\t\\N\n\\.\nSELECT 1;\n";
        let mut s = scanner(sql);
        let stmt = s.next_statement().unwrap().unwrap();
        assert!(stmt.copy.is_some());
        let mut lines = Vec::new();
        while let Some((line, no)) = s.next_copy_line().unwrap() {
            lines.push((String::from_utf8(line.to_vec()).unwrap(), no));
        }
        assert_eq!(
            lines,
            vec![("1\t'; not sql".to_owned(), 2), ("2\t\\N".to_owned(), 3)]
        );
        let next = s.next_statement().unwrap().unwrap();
        assert_eq!(next.text, b"SELECT 1;");
        assert_eq!(next.line, 5);
    }

    #[test]
    fn copy_data_without_an_end_marker_is_a_truncated_dump() {
        let mut s = scanner("COPY t (a) FROM stdin;\n1\n2\n");
        s.next_statement().unwrap();
        let error = loop {
            match s.next_copy_line() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no error"),
                Err(e) => break e,
            }
        };
        assert!(
            matches!(&error, DumpError::Truncated { offset: 27, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("begun at line 1"), "{error}");
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_a_truncated_dump() {
        let mut s = scanner("SELECT 1;\nINSERT INTO t VALUES ('abc\n");
        s.next_statement().unwrap();
        let error = s.next_statement().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("quoted string in the statement at line 2"),
            "{error}"
        );
    }

    #[test]
    fn the_scan_lists_tables_and_where_their_data_is() {
        let sql = "SET search_path = app, pg_catalog;\n\
                   CREATE TABLE t (a integer NOT NULL, b text);\n\
                   COPY t (b, a) FROM stdin;\nx\t1\n\\.\n\
                   INSERT INTO public.u VALUES (1);\nINSERT INTO public.u VALUES (2);\nSELECT 1;\n";
        let stream = scanner(sql).stream;
        let tables = scan(stream).unwrap();
        assert_eq!(tables.len(), 2);
        let t = &tables[0];
        assert_eq!(
            (t.table.schema.as_str(), t.table.name.as_str()),
            ("app", "t")
        );
        assert_eq!(t.table.columns.len(), 2);
        assert_eq!(t.table.data_columns, vec!["b", "a"]);
        let data = t.data.as_ref().unwrap();
        assert_eq!((data.line, data.offset), (3, 80));
        assert_eq!(data.end, 113);
        let u = &tables[1];
        assert_eq!(
            (u.table.schema.as_str(), u.table.name.as_str()),
            ("public", "u")
        );
        assert!(u.table.columns.is_empty());
        assert!(u.table.data_columns.is_empty());
        assert_eq!(u.data.as_ref().unwrap().line, 6);
    }
}
