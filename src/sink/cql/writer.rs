//! The CQL sink's writer: sends each partition's statements (from [`super::statements`]) to
//! the cluster, routed token-aware by the driver, bounded in flight (`--concurrency`), paced
//! (`--rate`) and retried with backoff (the statements are idempotent: they carry explicit
//! timestamps). Range-deletion statements are prepared when a shape is first needed. Records
//! checkpoint marks as partitions are acknowledged in order.
//!
//! A partition that writes a non-frozen list is written by one task that first reads the
//! partition's lists from the table and leaves out those already there ([`super::lists`]);
//! its statements are not retried by the driver, and before this writer retries one that
//! failed, it reads the lists again at ALL, so a timed-out write that was in fact applied is
//! never applied twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::deserialize::row::ColumnIterator;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::Consistency;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::checkpoint::{Marks, Tracker};
use crate::cluster::Bind;
use crate::model::token::split_key;
use crate::model::types::quote_identifier;
use crate::model::{ColumnKind, CqlType, Partition, TableSchema, Token};
use crate::progress::Counters;
use crate::sink::{PartitionStream, Sink, SinkError};

use super::error::{CqlError, unsupported};
use super::lists::{
    ListCheck, TargetList, TargetLists, decide, decide_append, list_elements, write_times,
};
use super::statements::{
    DEFAULT_BATCH_BYTES, ElementOp, Kind, Op, Statement, element_text, fence, partition_statements,
    range_delete_text, update_order, update_text,
};

#[derive(Debug, Clone)]
pub struct CqlSinkOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Rows per second at most; 0 for no limit.
    pub rate: u64,
    /// Attempts per request before the run fails.
    pub max_attempts: u32,
    /// Largest batch, counted in bound value bytes.
    pub batch_bytes: usize,
}

impl Default for CqlSinkOptions {
    fn default() -> Self {
        CqlSinkOptions {
            concurrency: 256,
            rate: 0,
            max_attempts: 10,
            batch_bytes: DEFAULT_BATCH_BYTES,
        }
    }
}

/// Writes partitions into one table.
pub struct CqlSink {
    inner: Arc<Inner>,
    /// The runtime [`CqlSink::new`] ran on, which the blocking [`Sink::write`] enters.
    runtime: tokio::runtime::Handle,
}

struct Inner {
    session: Arc<Session>,
    schema: Arc<TableSchema>,
    insert: PreparedStatement,
    /// Present when the table has static columns: key + static columns only.
    insert_static: Option<PreparedStatement>,
    delete_partition: PreparedStatement,
    /// By the whole primary key: without clustering columns, the same as `delete_partition`.
    delete_row: PreparedStatement,
    /// Range deletions' statements by shape, prepared on first use.
    /// Statements prepared when first needed: range deletions of each shape, element changes.
    lazy: Mutex<HashMap<Kind, PreparedStatement>>,
    /// Present when the table has non-frozen list columns.
    lists: Option<ListReader>,
    options: CqlSinkOptions,
    counters: Arc<Counters>,
}

/// Reads a partition's non-frozen lists, and each element's write time where the cluster
/// gives them (5.0), to check list writes against.
struct ListReader {
    /// `SELECT <clustering>, l, writetime(l), ... WHERE <partition key>`, paged.
    regular: Option<ListQuery>,
    /// `SELECT s, writetime(s), ... WHERE <partition key> LIMIT 1`.
    statics: Option<ListQuery>,
}

struct ListQuery {
    prepared: PreparedStatement,
    /// The list columns it reads, in order.
    columns: Vec<usize>,
    /// Clustering columns read before them.
    clustering: usize,
    /// Whether each list is followed by its `writetime()`.
    with_times: bool,
}

/// Why the lists of a partition could not be read back.
#[derive(Debug, thiserror::Error)]
enum ListReadError {
    #[error(transparent)]
    Execution(Box<ExecutionError>),
    #[error("the answer could not be decoded: {0}")]
    Undecodable(String),
}

impl From<ExecutionError> for ListReadError {
    fn from(e: ExecutionError) -> ListReadError {
        ListReadError::Execution(Box::new(e))
    }
}

impl ListReadError {
    fn retryable(&self) -> bool {
        matches!(self, ListReadError::Execution(e) if retryable(e))
    }
}

/// What one writer task does: a batch, a partition whose lists are checked first, or a
/// partition whose batches must apply in order (list appends: their order is the list's).
enum Work {
    Batch(Kind, Vec<Statement>),
    Checked(Vec<Vec<u8>>, Vec<(Kind, Vec<Statement>)>),
    InOrder(Vec<(Kind, Vec<Statement>)>),
}

impl Work {
    /// Rows it writes, for `--rate`.
    fn rows(&self) -> u64 {
        match self {
            Work::Batch(_, batch) => batch.iter().map(|s| s.rows).sum(),
            Work::Checked(_, planned) | Work::InOrder(planned) => {
                planned.iter().flat_map(|(_, b)| b).map(|s| s.rows).sum()
            }
        }
    }
}

/// Page size of list reads.
const LIST_PAGE: i32 = 1000;

impl CqlSink {
    /// Prepares the statements for `schema`'s table.
    pub async fn new(
        session: Arc<Session>,
        schema: Arc<TableSchema>,
        options: CqlSinkOptions,
        counters: Arc<Counters>,
    ) -> Result<CqlSink, CqlError> {
        let table = schema.name.to_string();
        let prepare = |statement: String| prepare(&session, &schema, statement);
        let insert_into = |columns: Vec<&str>| {
            format!(
                "INSERT INTO {table} ({}) VALUES ({}) USING TIMESTAMP ? AND TTL ?",
                columns
                    .iter()
                    .map(|c| quote_identifier(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                vec!["?"; columns.len()].join(", ")
            )
        };
        let delete_where = |columns: &[crate::model::schema::ColumnSchema]| {
            format!(
                "DELETE FROM {table} USING TIMESTAMP ? WHERE {}",
                columns
                    .iter()
                    .map(|c| format!("{} = ?", quote_identifier(&c.name)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            )
        };
        let insert = prepare(insert_into(
            schema.columns.iter().map(|c| c.name.as_str()).collect(),
        ))
        .await?;
        let insert_static = if schema.has_static() {
            let columns = schema
                .columns
                .iter()
                .filter(|c| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Static))
                .map(|c| c.name.as_str())
                .collect();
            Some(prepare(insert_into(columns)).await?)
        } else {
            None
        };
        let primary_key = schema.partition_key_len + schema.clustering_len;
        let delete_partition =
            prepare(delete_where(&schema.columns[..schema.partition_key_len])).await?;
        let delete_row = prepare(delete_where(&schema.columns[..primary_key])).await?;
        let lists = ListReader::prepare(&session, &schema).await?;
        Ok(CqlSink {
            runtime: tokio::runtime::Handle::current(),
            inner: Arc::new(Inner {
                session,
                schema,
                insert,
                insert_static,
                delete_partition,
                delete_row,
                lazy: Mutex::new(HashMap::new()),
                lists,
                options,
                counters,
            }),
        })
    }

    /// Writes every partition received until the channel closes. Fails on the first write that
    /// still fails after all its attempts; statements already in flight finish first. With a
    /// checkpoint, records the last partition below which everything is acknowledged.
    pub async fn write_all(
        &self,
        mut partitions: PartitionStream,
        marks: &mut Marks,
    ) -> Result<(), CqlError> {
        let inner = &self.inner;
        let permits = Arc::new(Semaphore::new(inner.options.concurrency.max(1)));
        let mut tasks: JoinSet<Result<u64, CqlError>> = JoinSet::new();
        let mut pacer = Pacer::new(inner.options.rate);
        let mut tracker = Tracker::default();
        let record = |marks: &mut Marks, tracker: &Tracker| match tracker.mark() {
            Some((token, key, done)) => marks.record(token, key, done),
            None => Ok(()),
        };
        loop {
            // Acknowledgements are taken while waiting for the next partition too, so marks
            // follow the writes when the stream pauses.
            let next = if tasks.is_empty() {
                partitions.recv().await
            } else {
                tokio::select! {
                    next = partitions.recv() => next,
                    Some(done) = tasks.join_next() => {
                        tracker.ack(flatten(done)?);
                        if marks.due() || (marks.eager() && tasks.is_empty()) {
                            record(marks, &tracker)?;
                        }
                        continue;
                    }
                }
            };
            let Some(partition) = next else {
                break;
            };
            let planned =
                partition_statements(&inner.schema, &partition, inner.options.batch_bytes)?;
            let writes_lists = inner.lists.is_some()
                && planned
                    .iter()
                    .flat_map(|(_, b)| b)
                    .any(|s| !s.lists.is_empty());
            let appends = planned.iter().any(|(kind, _)| {
                matches!(kind, Kind::Element(ElementOp { op: Op::Add, column })
                    if matches!(inner.schema.columns[*column].cql_type, CqlType::List { .. }))
            });
            let work = if writes_lists {
                // One task checks the partition's lists, then writes its batches in turn.
                let key = partition_key(&inner.schema, &partition)?;
                vec![Work::Checked(key, planned)]
            } else if appends {
                vec![Work::InOrder(planned)]
            } else {
                planned
                    .into_iter()
                    .map(|(kind, batch)| Work::Batch(kind, batch))
                    .collect()
            };
            let seq = tracker.start(&partition, work.len());
            for unit in work {
                pacer.wait(unit.rows()).await;
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| inner.write_error(0, "the writer stopped".into()))?;
                while let Some(done) = tasks.try_join_next() {
                    tracker.ack(flatten(done)?);
                }
                let inner = self.inner.clone();
                tasks.spawn(async move {
                    let result = match unit {
                        Work::Batch(kind, batch) => inner.execute(kind, batch, &[]).await,
                        Work::Checked(key, planned) => inner.write_checked(key, planned).await,
                        Work::InOrder(planned) => {
                            let mut result = Ok(());
                            for (kind, batch) in planned {
                                result = inner.execute(kind, batch, &[]).await;
                                if result.is_err() {
                                    break;
                                }
                            }
                            result
                        }
                    };
                    drop(permit);
                    result.map(|()| seq)
                });
            }
            if marks.due() {
                record(marks, &tracker)?;
            }
        }
        while let Some(done) = tasks.join_next().await {
            tracker.ack(flatten(done)?);
        }
        Ok(record(marks, &tracker)?)
    }
}

/// The blocking face of [`CqlSink::write_all`], for jobs that run outside the runtime.
impl Sink for CqlSink {
    fn write(&mut self, partitions: PartitionStream, marks: &mut Marks) -> Result<(), SinkError> {
        let runtime = self.runtime.clone();
        Ok(runtime.block_on(self.write_all(partitions, marks))?)
    }

    fn resumable(&self) -> bool {
        true
    }
}

fn flatten<T>(done: Result<Result<T, CqlError>, tokio::task::JoinError>) -> Result<T, CqlError> {
    done.map_err(|e| CqlError::Write {
        table: String::new(),
        attempts: 0,
        reason: format!("a writer task failed: {e}"),
    })?
}

impl Inner {
    fn table(&self) -> String {
        self.schema.name.to_string()
    }

    fn write_error(&self, attempts: u32, reason: String) -> CqlError {
        CqlError::Write {
            table: self.table(),
            attempts,
            reason,
        }
    }

    /// The statement for a range deletion's piece of `shape`, prepared once.
    async fn lazy_statement(&self, kind: Kind) -> Result<PreparedStatement, CqlError> {
        let mut prepared = self.lazy.lock().await;
        if let Some(p) = prepared.get(&kind) {
            return Ok(p.clone());
        }
        let text = match kind {
            Kind::DeleteRange(shape) => range_delete_text(&self.schema, shape),
            Kind::Element(op) => element_text(&self.schema, op),
            Kind::Update => update_text(&self.schema, false),
            Kind::UpdateStatic => update_text(&self.schema, true),
            _ => unreachable!("prepared up front"),
        };
        let mut statement = prepare(&self.session, &self.schema, text).await?;
        if let Kind::Element(ElementOp {
            op: Op::Add,
            column,
        }) = kind
            && matches!(self.schema.columns[column].cql_type, CqlType::List { .. })
        {
            // An append applied twice keeps both copies: never retried by the driver.
            statement.set_is_idempotent(false);
        }
        prepared.insert(kind, statement.clone());
        Ok(statement)
    }

    /// Checks a partition's list writes against the table, then writes its batches in turn.
    async fn write_checked(
        &self,
        key: Vec<Vec<u8>>,
        mut planned: Vec<(Kind, Vec<Statement>)>,
    ) -> Result<(), CqlError> {
        let statements = planned.iter_mut().flat_map(|(_, b)| b.iter_mut()).collect();
        self.check_lists(&key, statements, None).await?;
        for (kind, batch) in planned {
            self.execute(kind, batch, &key).await?;
        }
        Ok(())
    }

    /// Reads the lists `statements` write from the table (at `consistency`, else the load's),
    /// retrying reads that may succeed on another attempt, and unsets those the table already
    /// holds or holds newer.
    async fn check_lists(
        &self,
        key: &[Vec<u8>],
        mut statements: Vec<&mut Statement>,
        consistency: Option<Consistency>,
    ) -> Result<(), CqlError> {
        let mut attempt = 0;
        let held = loop {
            attempt += 1;
            match self.read_target(key, &statements, consistency).await {
                Ok(held) => break held,
                Err(e) if e.retryable() && attempt < self.options.max_attempts => {
                    Counters::add(&self.counters.retries, 1);
                    tracing::debug!("reading the lists, attempt {attempt} failed, retrying: {e}");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => {
                    return Err(CqlError::ListCheck {
                        table: self.table(),
                        attempts: attempt,
                        reason: e.to_string(),
                    });
                }
            }
        };
        for statement in statements.iter_mut() {
            let mut kept = Vec::new();
            for list in std::mem::take(&mut statement.lists) {
                let Bind::Value(value) = &statement.values[list.at] else {
                    continue;
                };
                let Some(elements) = list_elements(value) else {
                    kept.push(list);
                    continue;
                };
                let target = held.get(&(list.clustering.clone(), list.column));
                let check = if list.append {
                    decide_append(&elements, list.timestamp, target)
                } else {
                    decide(&elements, list.timestamp, target)
                };
                // Cassandra 5.0 fails an append of an unset value (a ClassCastException in
                // Lists.Appender); an empty list appends nothing.
                let nothing = if list.append {
                    Bind::Value(0i32.to_be_bytes().to_vec())
                } else {
                    Bind::Unset
                };
                match check {
                    ListCheck::Write => kept.push(list),
                    ListCheck::Present => {
                        Counters::add(&self.counters.lists_present, 1);
                        statement.values[list.at] = nothing;
                    }
                    ListCheck::Newer => {
                        Counters::add(&self.counters.lists_newer, 1);
                        statement.values[list.at] = nothing;
                    }
                }
            }
            statement.lists = kept;
        }
        Ok(())
    }

    /// Takes the whole lists still to write out of `batch` after an attempt whose outcome is
    /// unknown: an `Insert`'s list is unset and its [`fence`] queued in `fenced`; a fenced
    /// write is itself moved one microsecond on.
    fn fence_lists(
        &self,
        kind: Kind,
        batch: &mut [Statement],
        fenced: &mut Vec<(ElementOp, Statement)>,
    ) {
        for statement in batch.iter_mut() {
            for list in std::mem::take(&mut statement.lists) {
                match fence(&self.schema, kind, statement, &list) {
                    None => statement.lists.push(list),
                    // A fenced write (one list), moved on again: counted when first moved on.
                    Some((_, moved)) if matches!(kind, Kind::Element(_)) => *statement = moved,
                    Some(write) => {
                        Counters::add(&self.counters.lists_fenced, 1);
                        statement.values[list.at] = Bind::Unset;
                        fenced.push(write);
                    }
                }
            }
        }
    }

    /// What the table holds of the lists `statements` write: one read for the rows' lists,
    /// one for the static ones, as needed.
    async fn read_target(
        &self,
        key: &[Vec<u8>],
        statements: &[&mut Statement],
        consistency: Option<Consistency>,
    ) -> Result<TargetLists, ListReadError> {
        let mut held = TargetLists::new();
        let Some(reader) = &self.lists else {
            return Ok(held);
        };
        let writes = || statements.iter().flat_map(|s| &s.lists);
        let wants_static = writes().any(|l| self.is_static(l.column));
        let wants_regular = writes().any(|l| !self.is_static(l.column));
        for (query, wanted) in [
            (&reader.regular, wants_regular),
            (&reader.statics, wants_static),
        ] {
            if let (Some(query), true) = (query, wanted) {
                self.read_lists(query, key, consistency, &mut held).await?;
            }
        }
        Ok(held)
    }

    fn is_static(&self, column: usize) -> bool {
        self.schema.columns[column].kind == ColumnKind::Static
    }

    /// Adds what `query` reads of the partition `key` to `held`.
    async fn read_lists(
        &self,
        query: &ListQuery,
        key: &[Vec<u8>],
        consistency: Option<Consistency>,
        held: &mut TargetLists,
    ) -> Result<(), ListReadError> {
        let mut prepared = query.prepared.clone();
        if let Some(c) = consistency {
            prepared.set_consistency(c);
        }
        let values: Vec<Bind> = key.iter().map(|k| Bind::Value(k.clone())).collect();
        let mut paging = PagingState::start();
        loop {
            let (result, next) = self
                .session
                .execute_single_page(&prepared, &values, paging)
                .await?;
            let undecodable = |e: &dyn std::fmt::Display| ListReadError::Undecodable(e.to_string());
            let rows = result.into_rows_result().map_err(|e| undecodable(&e))?;
            for row in rows.rows::<ColumnIterator>().map_err(|e| undecodable(&e))? {
                let mut columns = Vec::new();
                for column in row.map_err(|e| undecodable(&e))? {
                    let column = column.map_err(|e| undecodable(&e))?;
                    columns.push(column.slice.map(|s| s.as_slice().to_vec()));
                }
                let clustering: Vec<Vec<u8>> = columns[..query.clustering]
                    .iter()
                    .map(|c| c.clone().unwrap_or_default())
                    .collect();
                let step = if query.with_times { 2 } else { 1 };
                for (i, &column) in query.columns.iter().enumerate() {
                    let at = query.clustering + i * step;
                    let Some(value) = &columns[at] else {
                        continue;
                    };
                    let elements = list_elements(value)
                        .ok_or_else(|| undecodable(&"a list value that is not a list"))?;
                    let times = match query.with_times {
                        true => Some(
                            columns[at + 1]
                                .as_deref()
                                .and_then(write_times)
                                .ok_or_else(|| undecodable(&"writetime() of a list"))?,
                        ),
                        false => None,
                    };
                    held.insert(
                        (clustering.clone(), column),
                        TargetList {
                            elements: elements.into_iter().map(<[u8]>::to_vec).collect(),
                            write_times: times,
                        },
                    );
                }
            }
            match next {
                PagingStateResponse::HasMorePages { state } => paging = state,
                PagingStateResponse::NoMorePages => return Ok(()),
            }
        }
    }

    /// Runs one statement or batch, retrying what may succeed on another attempt. A batch
    /// that writes lists (of the partition `key`) is not retried by the driver; before this
    /// retries it, the lists are read again at ALL and those now in the table left out. When
    /// an attempt failed without saying whether it applied, the whole lists still to write
    /// are taken out of the batch and written after it one microsecond later ([`fence`]), so
    /// that the first attempt, should it land late, cannot add a second copy.
    fn execute<'a>(
        &'a self,
        kind: Kind,
        batch: Vec<Statement>,
        key: &'a [Vec<u8>],
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CqlError>> + Send + 'a>>
    {
        Box::pin(self.execute_inner(kind, batch, key))
    }

    async fn execute_inner(
        &self,
        kind: Kind,
        mut batch: Vec<Statement>,
        key: &[Vec<u8>],
    ) -> Result<(), CqlError> {
        let range;
        let prepared = match kind {
            Kind::Insert => &self.insert,
            Kind::InsertStatic => self
                .insert_static
                .as_ref()
                .ok_or_else(|| unsupported(&self.schema, "static columns"))?,
            Kind::Update | Kind::UpdateStatic => {
                range = self.lazy_statement(kind).await?;
                &range
            }
            Kind::DeletePartition => &self.delete_partition,
            Kind::DeleteRow => &self.delete_row,
            Kind::DeleteRange(_) | Kind::Element(_) => {
                range = self.lazy_statement(kind).await?;
                &range
            }
        };
        let rows: u64 = batch.iter().map(|s| s.rows).sum();
        let writes_lists = batch.iter().any(|s| !s.lists.is_empty());
        let once;
        let prepared = if writes_lists {
            // The driver would retry an idempotent statement on its own, without the check.
            let mut p = prepared.clone();
            p.set_is_idempotent(false);
            once = p;
            &once
        } else {
            prepared
        };
        let mut attempt = 0;
        // Whether an attempt failed in a way that leaves open whether it applied, and the
        // lists taken out of the batch because of it.
        let mut unknown = false;
        let mut fenced: Vec<(ElementOp, Statement)> = Vec::new();
        loop {
            attempt += 1;
            if attempt > 1 && batch.iter().any(|s| !s.lists.is_empty()) {
                let statements = batch.iter_mut().collect();
                self.check_lists(key, statements, Some(Consistency::All))
                    .await?;
                if unknown {
                    self.fence_lists(kind, &mut batch, &mut fenced);
                }
            }
            // An UPDATE binds the same values as an INSERT, in its own order.
            let reordered: Option<Vec<Vec<Bind>>> = match kind {
                Kind::Update | Kind::UpdateStatic => {
                    let order = update_order(&self.schema, kind == Kind::UpdateStatic);
                    Some(
                        batch
                            .iter()
                            .map(|s| order.iter().map(|&i| s.values[i].clone()).collect())
                            .collect(),
                    )
                }
                _ => None,
            };
            let values: Vec<&Vec<Bind>> = match &reordered {
                Some(values) => values.iter().collect(),
                None => batch.iter().map(|s| &s.values).collect(),
            };
            let result = if let [single] = values.as_slice() {
                self.session
                    .execute_unpaged(prepared, single)
                    .await
                    .map(drop)
            } else {
                let mut b = Batch::new(BatchType::Unlogged);
                for _ in &batch {
                    b.append_statement(prepared.clone());
                }
                b.set_is_idempotent(!writes_lists && prepared.get_is_idempotent());
                self.session.batch(&b, values).await.map(drop)
            };
            match result {
                Ok(()) => {
                    Counters::add(&self.counters.rows_written, rows);
                    Counters::add(&self.counters.statements, batch.len() as u64);
                    if batch.len() > 1 {
                        Counters::add(&self.counters.batches, 1);
                    }
                    for (op, statement) in fenced {
                        self.execute(Kind::Element(op), vec![statement], key)
                            .await?;
                    }
                    return Ok(());
                }
                // A statement neither idempotent nor list-checked may have applied: not retried.
                Err(e)
                    if retryable(&e)
                        && attempt < self.options.max_attempts
                        && (writes_lists || prepared.get_is_idempotent()) =>
                {
                    Counters::add(&self.counters.retries, 1);
                    unknown |= failure(&e) == Some(Failure::MayHaveApplied);
                    tracing::debug!(
                        "writing {}: attempt {attempt} failed, retrying: {e}",
                        self.schema.name
                    );
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => {
                    let reason = match failure(&e) {
                        Some(_) => format!("{e}; {}", self.replicas_of(key)),
                        None => e.to_string(),
                    };
                    return Err(self.write_error(attempt, reason));
                }
            }
        }
    }

    /// The replicas of partition `key` as the driver sees them (each up or down) and the ring
    /// range holding its token, for a write that could not reach enough of them.
    fn replicas_of(&self, key: &[Vec<u8>]) -> String {
        let token = Token::of_components(key).0;
        let state = self.session.get_cluster_state();
        let (ks, table) = (&self.schema.name.keyspace, &self.schema.name.table);
        let replicas: Vec<String> = state
            .get_token_endpoints(ks, table, scylla::routing::Token::new(token))
            .into_iter()
            .map(|(node, _)| {
                let state = if node.is_connected() { "up" } else { "down" };
                format!("{} ({state})", node.address.ip())
            })
            .collect();
        let ring: Vec<i64> = state
            .replica_locator()
            .ring()
            .iter()
            .map(|(t, _)| t.value())
            .collect();
        // The range (previous ring token, next ring token] holding `token`, wrapping around.
        let end = ring.iter().copied().find(|&t| t >= token);
        let start = match end {
            Some(e) => ring.iter().copied().rfind(|&t| t < e),
            None => None,
        }
        .or_else(|| ring.last().copied());
        let range = match (start, end.or_else(|| ring.first().copied())) {
            (Some(s), Some(e)) => format!("token range ({s}, {e}]"),
            _ => "the whole ring".to_owned(),
        };
        format!(
            "token {token} in {range} has replicas {}; once enough of them are up, run the same command again (with --checkpoint FILE it resumes where it stopped)",
            replicas.join(", ")
        )
    }
}

/// The partition key's components, owned, for list reads.
fn partition_key(schema: &TableSchema, partition: &Partition) -> Result<Vec<Vec<u8>>, CqlError> {
    split_key(&partition.key, schema.partition_key_len)
        .map(|parts| parts.into_iter().map(<[u8]>::to_vec).collect())
        .ok_or(CqlError::Key {
            table: schema.name.to_string(),
            components: schema.partition_key_len,
        })
}

impl ListReader {
    /// The list reads for `schema`'s table, or `None` when it has no non-frozen list. On a
    /// cluster that refuses `writetime()` of a non-frozen collection, reads values only.
    async fn prepare(
        session: &Session,
        schema: &TableSchema,
    ) -> Result<Option<ListReader>, CqlError> {
        let lists = |kind: ColumnKind| -> Vec<usize> {
            (0..schema.columns.len())
                .filter(|&i| {
                    let c = &schema.columns[i];
                    c.kind == kind
                        && matches!(c.cql_type, CqlType::List { .. })
                        && c.cql_type.is_multi_cell()
                })
                .collect()
        };
        let (regular, statics) = (lists(ColumnKind::Regular), lists(ColumnKind::Static));
        if regular.is_empty() && statics.is_empty() {
            return Ok(None);
        }
        let key = &schema.columns[..schema.partition_key_len];
        let clustering = &schema.columns[key.len()..key.len() + schema.clustering_len];
        let text = |columns: &[usize], with_clustering: bool, with_times: bool| {
            let mut selected: Vec<String> = Vec::new();
            if with_clustering {
                selected.extend(clustering.iter().map(|c| quote_identifier(&c.name)));
            }
            for &i in columns {
                let name = quote_identifier(&schema.columns[i].name);
                if with_times {
                    selected.push(format!("{name}, writetime({name})"));
                } else {
                    selected.push(name);
                }
            }
            format!(
                "SELECT {} FROM {} WHERE {}{}",
                selected.join(", "),
                schema.name,
                key.iter()
                    .map(|c| format!("{} = ?", quote_identifier(&c.name)))
                    .collect::<Vec<_>>()
                    .join(" AND "),
                if with_clustering { "" } else { " LIMIT 1" }
            )
        };
        let query = async |columns: Vec<usize>,
                           with_clustering: bool|
               -> Result<Option<ListQuery>, CqlError> {
            if columns.is_empty() {
                return Ok(None);
            }
            let (prepared, with_times) =
                match prepare(session, schema, text(&columns, with_clustering, true)).await {
                    Ok(p) => (p, true),
                    // Before 5.0: "Cannot use selection function writeTime on non-frozen list".
                    Err(_) => (
                        prepare(session, schema, text(&columns, with_clustering, false)).await?,
                        false,
                    ),
                };
            let mut prepared = prepared;
            prepared.set_page_size(LIST_PAGE);
            Ok(Some(ListQuery {
                prepared,
                columns,
                clustering: if with_clustering { clustering.len() } else { 0 },
                with_times,
            }))
        };
        Ok(Some(ListReader {
            regular: query(regular, true).await?,
            statics: query(statics, false).await?,
        }))
    }
}

/// Prepares an idempotent statement.
async fn prepare(
    session: &Session,
    schema: &TableSchema,
    statement: String,
) -> Result<PreparedStatement, CqlError> {
    let mut prepared = session
        .prepare(statement)
        .await
        .map_err(|e| CqlError::Prepare {
            table: schema.name.to_string(),
            reason: e.to_string(),
        })?;
    prepared.set_is_idempotent(true);
    Ok(prepared)
}

/// What a failed attempt may have done, when another attempt may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Refused before any replica was written to, or never sent.
    AppliedNothing,
    /// A timeout, a write failure, a server error or a lost connection: it may have applied,
    /// and may still apply later.
    MayHaveApplied,
}

/// How `e` failed, or `None` when another attempt cannot help.
fn failure(e: &ExecutionError) -> Option<Failure> {
    use Failure::{AppliedNothing, MayHaveApplied};
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => match db {
            DbError::Unavailable { .. }
            | DbError::Overloaded
            | DbError::IsBootstrapping
            | DbError::RateLimitReached { .. }
            | DbError::Unprepared { .. } => Some(AppliedNothing),
            DbError::WriteTimeout { .. }
            | DbError::ReadTimeout { .. }
            | DbError::WriteFailure { .. }
            | DbError::ServerError => Some(MayHaveApplied),
            _ => None,
        },
        ExecutionError::ConnectionPoolError(_) | ExecutionError::EmptyPlan => Some(AppliedNothing),
        ExecutionError::LastAttemptError(_) | ExecutionError::RequestTimeout(_) => {
            Some(MayHaveApplied)
        }
        _ => None,
    }
}

/// Whether another attempt of the same idempotent write may succeed.
fn retryable(e: &ExecutionError) -> bool {
    failure(e).is_some()
}

/// 50 ms doubling per attempt, at most 5 s, with up to 25% jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << attempt.min(7)).min(5_000);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0)
        % (base / 4 + 1);
    Duration::from_millis(base + jitter)
}

/// Paces writes to at most `rate` rows per second.
struct Pacer {
    rate: u64,
    started: Instant,
    rows: u64,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            started: Instant::now(),
            rows: 0,
        }
    }

    async fn wait(&mut self, rows: u64) {
        if self.rate == 0 {
            return;
        }
        self.rows += rows;
        let due = self.started + Duration::from_secs_f64(self.rows as f64 / self.rate as f64);
        tokio::time::sleep_until(due).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        assert!(backoff(1) >= Duration::from_millis(100));
        assert!(backoff(1) <= Duration::from_millis(125));
        assert!(backoff(20) <= Duration::from_millis(6_250));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spreads_rows_over_time() {
        let mut pacer = Pacer::new(100);
        let start = Instant::now();
        for _ in 0..50 {
            pacer.wait(1).await;
        }
        assert_eq!(start.elapsed().as_millis(), 500);
    }
}
