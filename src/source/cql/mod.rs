//! The CQL source: a live table read over CQL by token-range scans (`cql://HOST[:PORT][,HOST..]/KS.TABLE`),
//! every regular and static column with its `writetime()` and `ttl()` (on Cassandra 5.0 also
//! each element's, for multi-cell collections and UDTs), so a copy keeps every cell's time.
//!
//! The ring is split into many more ranges than nodes times cores (`scan::split_ring`); up to
//! `concurrency` ranges are scanned at once, each paged and each page retried with backoff
//! (resuming from its paging state), at the connection's consistency level (LOCAL_QUORUM by
//! default), each into a small buffer of its own; the ranges are handed on in token order, so
//! the partitions come out whole, once each and in token order (a job needs no partition
//! builder) in bounded memory. Rows become partitions in `scan.rs`. The source connects with the job's
//! connection options (credentials, consistency, data center) and the URL's contact points.

pub mod route;
pub mod scan;

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scylla::client::session::Session;
use scylla::deserialize::row::ColumnIterator;
use scylla::response::{PagingState, PagingStateResponse};
use thiserror::Error;

use self::scan::{Assembler, Scanned};
use crate::cluster::{self, ClusterError, ConnectOptions};
use crate::exit::Classify;
use crate::model::types::quote_identifier;
use crate::model::{ColumnKind, CqlType, Partition, TableName, TableSchema};
use crate::plan::MappingOptions;
use crate::source::{
    Claim, Input, InputSize, Kind, OpenOptions, Planned, SourceError, SourceEvent, Started,
};

/// The CQL source's entry in the registry.
pub const KIND: Kind = Kind {
    name: "CQL",
    claims,
    open,
};

/// Ranges per scan: many more than nodes times cores, so the work spreads evenly.
pub const RANGES: usize = 1024;
/// Ranges scanned at once, unless told otherwise.
const CONCURRENCY: usize = 16;
/// Rows per page.
const PAGE_SIZE: i32 = 5000;
/// Attempts at each page before the scan fails.
const ATTEMPTS: u32 = 10;
/// Partitions sent to the reader at a time.
const CHUNK: usize = 256;
/// Chunks a range scanned ahead of its turn may hold.
const RANGE_BUFFER: usize = 4;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CqlSourceError {
    #[error("{input}: give a CQL source as cql://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE.TABLE")]
    Url { input: String },
    #[error("{input}: {source}")]
    Cluster {
        input: String,
        #[source]
        source: ClusterError,
    },
    #[error(
        "{input}: {flag} does not apply to a live table: its cells carry their own write times and TTLs, and its columns match the target's by name"
    )]
    Flag { input: String, flag: &'static str },
    #[error("{input}: the table {table} has no columns there (does it exist?)")]
    NoTable { input: String, table: String },
    #[error(
        "{input}: the target's primary key column {column} is not in the source table with the same type ({found}); a copy needs the same primary key"
    )]
    Key {
        input: String,
        column: String,
        found: String,
    },
    #[error(
        "{input}: column {column} is {source_type} in the source and {target_type} in the target; copy between columns of the same type"
    )]
    Type {
        input: String,
        column: String,
        source_type: String,
        target_type: String,
    },
    #[error(
        "{input}: counter tables cannot be copied with write times (CQL cannot set a counter's value)"
    )]
    Counter { input: String },
    #[error("{input}: cannot start the async runtime: {source}")]
    Runtime {
        input: String,
        source: std::io::Error,
    },
    #[error("{input}: scanning tokens ({start}, {end}] failed after {ATTEMPTS} attempts: {reason}")]
    Scan {
        input: String,
        start: i64,
        end: i64,
        reason: String,
    },
    #[error("{input}: a row in tokens ({start}, {end}] could not be read: {reason}")]
    Row {
        input: String,
        start: i64,
        end: i64,
        reason: String,
    },
}

impl Classify for CqlSourceError {
    fn is_usage(&self) -> bool {
        matches!(
            self,
            CqlSourceError::Url { .. }
                | CqlSourceError::NoTable { .. }
                | CqlSourceError::Key { .. }
                | CqlSourceError::Type { .. }
                | CqlSourceError::Counter { .. }
                | CqlSourceError::Flag { .. }
        )
    }
}

/// A parsed `cql://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CqlUrl {
    pub hosts: Vec<String>,
    pub table: TableName,
}

impl CqlUrl {
    pub fn parse(input: &str) -> Result<CqlUrl, CqlSourceError> {
        let bad = || CqlSourceError::Url {
            input: input.to_owned(),
        };
        let rest = input.strip_prefix("cql://").ok_or_else(bad)?;
        let (hosts, table) = rest.split_once('/').ok_or_else(bad)?;
        let hosts: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        let table = TableName::parse(table.trim_end_matches('/')).map_err(|_| bad())?;
        if hosts.is_empty() {
            return Err(bad());
        }
        Ok(CqlUrl { hosts, table })
    }
}

fn claims(input: &str) -> Claim {
    if input.starts_with("cql://") {
        Claim::Yes
    } else {
        Claim::No
    }
}

fn open(input: &str, options: &OpenOptions) -> Result<Box<dyn Input>, SourceError> {
    let url = CqlUrl::parse(input)?;
    let connection = ConnectOptions {
        hosts: url.hosts.clone(),
        ..options.connection.clone().unwrap_or_default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CqlSourceError::Runtime {
            input: input.to_owned(),
            source,
        })?;
    let cluster_error = |source| CqlSourceError::Cluster {
        input: input.to_owned(),
        source,
    };
    let (session, dc) = runtime
        .block_on(cluster::connect_local(&connection))
        .map_err(cluster_error)?;
    let schema = runtime
        .block_on(cluster::read_table_schema(&session, &url.table))
        .map_err(cluster_error)?;
    if schema.columns.is_empty() {
        return Err(CqlSourceError::NoTable {
            input: input.to_owned(),
            table: url.table.to_string(),
        }
        .into());
    }
    // A resumed run scans from the checkpoint's token on: (token - 1, ...].
    let token_range = match (options.cql_token_range, options.cql_from_token) {
        (range, None) => range,
        (range, Some(from)) => {
            let (start, end) = range.unwrap_or((i64::MIN, i64::MAX));
            Some((start.max(from.saturating_sub(1)), end))
        }
    };
    let ranges = match (&options.cql_ranges, options.cql_from_token) {
        (Some(ranges), Some(from)) => Some(
            ranges
                .iter()
                .filter(|&&(_, end)| end >= from)
                .map(|&(start, end)| (start.max(from.saturating_sub(1)), end))
                .collect(),
        ),
        (ranges, _) => ranges.clone(),
    };
    Ok(Box::new(CqlInput {
        token_range,
        ranges,
        rate: options.cql_rate,
        dc,
        concurrency: match options.cql_concurrency {
            0 => CONCURRENCY,
            n => n,
        },
        timed: !options.cql_without_times,
        input: input.to_owned(),
        runtime,
        session: Arc::new(session),
        source: schema,
    }))
}

struct CqlInput {
    /// Only these tokens, `(start, end]`.
    token_range: Option<(i64, i64)>,
    /// Exactly these ranges, when given.
    ranges: Option<Arc<[(i64, i64)]>>,
    /// Rows per second handed on at most (0: no limit).
    rate: u64,
    /// The local data center: only its replicas scan (all replicas on a one-DC cluster).
    dc: Option<String>,
    /// Ranges scanned at once.
    concurrency: usize,
    /// Whether `writetime()` and `ttl()` are read.
    timed: bool,
    input: String,
    runtime: tokio::runtime::Runtime,
    session: Arc<Session>,
    source: TableSchema,
}

/// Whether two types are the same, UDTs compared by their fields (a copy into another
/// keyspace has its own UDT of the same shape).
fn same_type(a: &CqlType, b: &CqlType) -> bool {
    match (a, b) {
        (CqlType::Udt { def: x, frozen: fx }, CqlType::Udt { def: y, frozen: fy }) => {
            fx == fy
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(&y.fields)
                    .all(|((nx, tx), (ny, ty))| nx == ny && same_type(tx, ty))
        }
        (
            CqlType::List {
                elem: x,
                frozen: fx,
            },
            CqlType::List {
                elem: y,
                frozen: fy,
            },
        )
        | (
            CqlType::Set {
                elem: x,
                frozen: fx,
            },
            CqlType::Set {
                elem: y,
                frozen: fy,
            },
        ) => fx == fy && same_type(x, y),
        (
            CqlType::Map {
                key: kx,
                value: vx,
                frozen: fx,
            },
            CqlType::Map {
                key: ky,
                value: vy,
                frozen: fy,
            },
        ) => fx == fy && same_type(kx, ky) && same_type(vx, vy),
        (CqlType::Tuple(x), CqlType::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_type(a, b))
        }
        _ => a == b,
    }
}

impl Input for CqlInput {
    fn describe(&self) -> String {
        format!(
            "CQL table {} ({} columns), scanned by token ranges",
            self.source.name,
            self.source.columns.len()
        )
    }

    fn plan(
        self: Box<Self>,
        schema: Arc<TableSchema>,
        mapping: &MappingOptions,
    ) -> Result<Box<dyn Planned>, SourceError> {
        let input = self.input.clone();
        if let Some(flag) = mapping.row_source_flag() {
            return Err(CqlSourceError::Flag { input, flag }.into());
        }
        let keys = schema.partition_key_len + schema.clustering_len;
        let mut columns = Vec::new();
        for (index, target) in schema.columns.iter().enumerate() {
            let found = self.source.column(&target.name);
            if matches!(
                target.cql_type,
                CqlType::Native(crate::model::NativeType::Counter)
            ) {
                return Err(CqlSourceError::Counter { input }.into());
            }
            match found {
                Some((_, source)) if same_type(&source.cql_type, &target.cql_type) => {
                    let key_role = |k: ColumnKind| match k {
                        ColumnKind::PartitionKey => 0,
                        ColumnKind::Clustering(_) => 1,
                        _ => 2,
                    };
                    if index < keys && key_role(source.kind) != key_role(target.kind) {
                        return Err(CqlSourceError::Key {
                            input,
                            column: target.name.clone(),
                            found: format!("{:?} there", source.kind),
                        }
                        .into());
                    }
                    columns.push(Scanned {
                        column: index,
                        timed: self.timed && index >= keys,
                    });
                }
                Some((_, source)) if index >= keys => {
                    return Err(CqlSourceError::Type {
                        input,
                        column: target.name.clone(),
                        source_type: source.cql_type.to_string(),
                        target_type: target.cql_type.to_string(),
                    }
                    .into());
                }
                // A column the source lacks stays unwritten.
                None if index >= keys => {}
                other => {
                    return Err(CqlSourceError::Key {
                        input,
                        column: target.name.clone(),
                        found: other.map_or("missing".into(), |(_, s)| s.cql_type.to_string()),
                    }
                    .into());
                }
            }
        }
        let source_name = format!(
            "{}.{}",
            quote_identifier(&self.source.name.keyspace),
            quote_identifier(&self.source.name.table)
        );
        let query = scan::select(&schema, &source_name, &columns);
        Ok(Box::new(CqlPlanned {
            input: self,
            schema,
            columns,
            query,
        }))
    }
}

struct CqlPlanned {
    input: Box<CqlInput>,
    schema: Arc<TableSchema>,
    columns: Vec<Scanned>,
    query: String,
}

type Chunk = Result<Vec<Partition>, CqlSourceError>;

impl Planned for CqlPlanned {
    fn start(self: Box<Self>) -> Result<Started, SourceError> {
        let CqlPlanned {
            input,
            schema,
            columns,
            query,
        } = *self;
        let CqlInput {
            input: name,
            runtime,
            session,
            concurrency,
            token_range,
            ranges: given,
            rate,
            dc,
            source,
            ..
        } = *input;
        let mut prepared = runtime
            .block_on(session.prepare(query.as_str()))
            .map_err(|e| CqlSourceError::Cluster {
                input: name.clone(),
                source: ClusterError::Query {
                    statement: query.clone(),
                    reason: e.to_string(),
                },
            })?;
        prepared.set_page_size(PAGE_SIZE);
        let scan_time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let context = Arc::new(ScanContext {
            name,
            keyspace: source.name.keyspace.clone(),
            table: source.name.table.clone(),
            dc,
            session: session.clone(),
            prepared,
            schema,
            columns,
            scan_time,
        });
        let done = Arc::new(AtomicU64::new(0));
        let (start, end) = token_range.unwrap_or((i64::MIN, i64::MAX));
        let ranges = match given {
            Some(ranges) => ranges.to_vec(),
            None => scan::split_range(start, end, RANGES),
        };
        // Each range inside one replica set's, so it can go to a replica.
        let ranges = route::split_at(&ranges, &route::ring_tokens(&session));
        let total = ranges.len() as u64;
        let counted = done.clone();
        Ok(Started {
            events: Box::new(Ordered {
                runtime,
                context,
                ranges: ranges.into(),
                in_flight: VecDeque::new(),
                current: Vec::new().into_iter(),
                failed: false,
                done,
                concurrency,
                pace: Pace::new(rate),
            }),
            size: InputSize::Ranges {
                done: Arc::new(move || counted.load(Ordering::Relaxed)),
                total,
            },
            ordered: true,
        })
    }
}

/// The scan's partitions in token order: up to `concurrency` ranges are scanned at once, each
/// into a small buffer of its own, and the ranges are handed on in order, so memory stays
/// bounded whatever the table's size.
struct Ordered {
    runtime: tokio::runtime::Runtime,
    context: Arc<ScanContext>,
    /// Ranges not started yet, in order.
    ranges: VecDeque<(i64, i64)>,
    /// The ranges being scanned, in order; the first is the one being handed on.
    in_flight: VecDeque<tokio::sync::mpsc::Receiver<Chunk>>,
    current: std::vec::IntoIter<Partition>,
    failed: bool,
    /// Ranges handed on whole.
    done: Arc<AtomicU64>,
    /// Ranges scanned at once.
    concurrency: usize,
    pace: Pace,
}

/// `--rate` for a scan: rows handed on are counted against the time since the first, and the
/// reader waits when it is ahead (the scans then wait on their full buffers).
struct Pace {
    rate: u64,
    started: Option<std::time::Instant>,
    rows: u64,
}

impl Pace {
    fn new(rate: u64) -> Pace {
        Pace {
            rate,
            started: None,
            rows: 0,
        }
    }

    /// Counts `rows` more, then waits until they are due.
    fn wait(&mut self, rows: u64) {
        if self.rate == 0 {
            return;
        }
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        self.rows += rows;
        let due = std::time::Duration::from_secs_f64(self.rows as f64 / self.rate as f64);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

impl Ordered {
    fn start_ranges(&mut self) {
        while self.in_flight.len() < self.concurrency {
            let Some(range) = self.ranges.pop_front() else {
                return;
            };
            let (tx, rx) = tokio::sync::mpsc::channel(RANGE_BUFFER);
            let context = self.context.clone();
            self.runtime.spawn(async move {
                if let Err(e) = scan_range(&context, range, &tx).await {
                    let _ = tx.send(Err(e)).await;
                }
            });
            self.in_flight.push_back(rx);
        }
    }
}

impl Iterator for Ordered {
    type Item = Result<SourceEvent, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(partition) = self.current.next() {
                let rows = partition.rows.len() + usize::from(partition.static_row.is_some());
                self.pace.wait(rows.max(1) as u64);
                return Some(Ok(SourceEvent::Partition(partition)));
            }
            if self.failed {
                return None;
            }
            self.start_ranges();
            let first = self.in_flight.front_mut()?;
            match first.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk.into_iter(),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e.into()));
                }
                // That range is done.
                None => {
                    self.in_flight.pop_front();
                    self.done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

struct ScanContext {
    name: String,
    /// The scanned table, whose replicas each range goes to.
    keyspace: String,
    table: String,
    dc: Option<String>,
    session: Arc<Session>,
    prepared: scylla::statement::prepared::PreparedStatement,
    schema: Arc<TableSchema>,
    columns: Vec<Scanned>,
    scan_time: i64,
}

/// Scans one range into `tx`; stops early when the reader hung up.
async fn scan_range(
    context: &ScanContext,
    (start, end): (i64, i64),
    tx: &tokio::sync::mpsc::Sender<Chunk>,
) -> Result<(), CqlSourceError> {
    let mut assembler = Assembler::new(&context.schema, &context.columns, context.scan_time);
    let mut out = Vec::with_capacity(CHUNK);
    let mut paging = PagingState::start();
    let values = (start, end);
    let mut statement = context.prepared.clone();
    statement.set_execution_profile_handle(Some(route::profile_for(
        &context.session,
        &context.keyspace,
        &context.table,
        end,
        context.dc.as_deref(),
    )));
    let row_error = |reason: String| CqlSourceError::Row {
        input: context.name.clone(),
        start,
        end,
        reason,
    };
    loop {
        let mut attempt = 0;
        let (result, next) = loop {
            match context
                .session
                .execute_single_page(&statement, values, paging.clone())
                .await
            {
                Ok(page) => break page,
                Err(e) => {
                    attempt += 1;
                    if attempt >= ATTEMPTS {
                        return Err(CqlSourceError::Scan {
                            input: context.name.clone(),
                            start,
                            end,
                            reason: e.to_string(),
                        });
                    }
                    tracing::warn!("{}: tokens ({start}, {end}]: {e}; retrying", context.name);
                    tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                }
            }
        };
        let rows = result
            .into_rows_result()
            .map_err(|e| row_error(e.to_string()))?;
        let mut fields: Vec<Option<&[u8]>> = Vec::new();
        for row in rows
            .rows::<ColumnIterator>()
            .map_err(|e| row_error(e.to_string()))?
        {
            fields.clear();
            for column in row.map_err(|e| row_error(e.to_string()))? {
                let column = column.map_err(|e| row_error(e.to_string()))?;
                fields.push(column.slice.map(|s| s.as_slice()));
            }
            if let Some(done) = assembler.push(&fields).map_err(|e| row_error(e.0))? {
                out.push(done);
                if out.len() == CHUNK {
                    let full = std::mem::replace(&mut out, Vec::with_capacity(CHUNK));
                    if tx.send(Ok(full)).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        match next {
            PagingStateResponse::HasMorePages { state } => paging = state,
            PagingStateResponse::NoMorePages => break,
        }
    }
    out.extend(assembler.finish());
    if !out.is_empty() {
        let _ = tx.send(Ok(out)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cql_url_names_contact_points_and_a_table() {
        let url = CqlUrl::parse("cql://10.0.0.1:9042,10.0.0.2/ks.accounts").unwrap();
        assert_eq!(url.hosts, ["10.0.0.1:9042", "10.0.0.2"]);
        assert_eq!(url.table.to_string(), "ks.accounts");
        assert!(CqlUrl::parse("cql://host").is_err());
        assert!(CqlUrl::parse("cql:///ks.t").is_err());
    }

    #[test]
    fn a_paced_scan_hands_on_no_more_rows_than_the_rate_allows() {
        let mut pace = Pace::new(10_000);
        let started = std::time::Instant::now();
        for _ in 0..11 {
            pace.wait(100);
        }
        // 1,100 rows at 10,000 rows/s are due 110 ms after the pace started.
        assert!(started.elapsed() >= std::time::Duration::from_millis(100));
        let mut unpaced = Pace::new(0);
        let started = std::time::Instant::now();
        unpaced.wait(1_000_000);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
