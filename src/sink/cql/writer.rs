//! The CQL sink's writer: sends each partition's statements (from [`super::statements`]) to
//! the cluster, routed token-aware by the driver, bounded in flight (`--concurrency`), paced
//! (`--rate`) and retried with backoff (the statements are idempotent: they carry explicit
//! timestamps). Range-deletion statements are prepared when a shape is first needed. Records
//! checkpoint marks as partitions are acknowledged in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::checkpoint::{Marks, Tracker};
use crate::cluster::Bind;
use crate::model::types::quote_identifier;
use crate::model::{ColumnKind, TableSchema};
use crate::progress::Counters;
use crate::sink::{PartitionStream, Sink, SinkError};

use super::error::{CqlError, unsupported};
use super::statements::{
    DEFAULT_BATCH_BYTES, Kind, RangeShape, Statement, partition_statements, range_delete_text,
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
    delete_range: Mutex<HashMap<RangeShape, PreparedStatement>>,
    options: CqlSinkOptions,
    counters: Arc<Counters>,
}

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
        Ok(CqlSink {
            runtime: tokio::runtime::Handle::current(),
            inner: Arc::new(Inner {
                session,
                schema,
                insert,
                insert_static,
                delete_partition,
                delete_row,
                delete_range: Mutex::new(HashMap::new()),
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
        while let Some(partition) = partitions.recv().await {
            let planned =
                partition_statements(&inner.schema, &partition, inner.options.batch_bytes)?;
            let seq = tracker.start(&partition, planned.len());
            for (kind, batch) in planned {
                pacer.wait(batch.iter().map(|s| s.rows).sum()).await;
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
                    let result = inner.execute(kind, batch).await;
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
    async fn range_statement(&self, shape: RangeShape) -> Result<PreparedStatement, CqlError> {
        let mut prepared = self.delete_range.lock().await;
        if let Some(p) = prepared.get(&shape) {
            return Ok(p.clone());
        }
        let statement = prepare(
            &self.session,
            &self.schema,
            range_delete_text(&self.schema, shape),
        )
        .await?;
        prepared.insert(shape, statement.clone());
        Ok(statement)
    }

    /// Runs one statement or batch, retrying what may succeed on another attempt.
    async fn execute(&self, kind: Kind, batch: Vec<Statement>) -> Result<(), CqlError> {
        let range;
        let prepared = match kind {
            Kind::Insert => &self.insert,
            Kind::InsertStatic => self
                .insert_static
                .as_ref()
                .ok_or_else(|| unsupported(&self.schema, "static columns"))?,
            Kind::DeletePartition => &self.delete_partition,
            Kind::DeleteRow => &self.delete_row,
            Kind::DeleteRange(shape) => {
                range = self.range_statement(shape).await?;
                &range
            }
        };
        let rows: u64 = batch.iter().map(|s| s.rows).sum();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = if let [single] = batch.as_slice() {
                self.session
                    .execute_unpaged(prepared, &single.values)
                    .await
                    .map(drop)
            } else {
                let mut b = Batch::new(BatchType::Unlogged);
                for _ in &batch {
                    b.append_statement(prepared.clone());
                }
                b.set_is_idempotent(true);
                let values: Vec<&Vec<Bind>> = batch.iter().map(|s| &s.values).collect();
                self.session.batch(&b, values).await.map(drop)
            };
            match result {
                Ok(()) => {
                    Counters::add(&self.counters.rows_written, rows);
                    Counters::add(&self.counters.statements, batch.len() as u64);
                    if batch.len() > 1 {
                        Counters::add(&self.counters.batches, 1);
                    }
                    return Ok(());
                }
                Err(e) if retryable(&e) && attempt < self.options.max_attempts => {
                    Counters::add(&self.counters.retries, 1);
                    tracing::debug!("attempt {attempt} failed, retrying: {e}");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(self.write_error(attempt, e.to_string())),
            }
        }
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

/// Whether another attempt of the same idempotent write may succeed.
fn retryable(e: &ExecutionError) -> bool {
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => matches!(
            db,
            DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::WriteTimeout { .. }
                | DbError::ReadTimeout { .. }
                | DbError::WriteFailure { .. }
                | DbError::ServerError
                | DbError::RateLimitReached { .. }
                | DbError::Unprepared { .. }
        ),
        ExecutionError::LastAttemptError(_)
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan => true,
        _ => false,
    }
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
