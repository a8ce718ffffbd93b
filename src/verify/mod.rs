//! The `verify` job: a source (anything `load` reads) against the table in the target cluster.
//! The source goes through load's phase one (the partition builder: merged, in token order) and
//! the target is scanned by token ranges over CQL (the CQL source, in token order, every cell
//! with `writetime()` and `ttl()`); the two streams are joined partition by partition and
//! compared cell by cell ([`compare`]). With `--repair` the source's version of every row that
//! is missing, stale or differs goes, with the source's own timestamps, through the same sink
//! as a load, so a newer live write is never overwritten. `--sample` scans a random share of the
//! ring's ranges; `--checkpoint` records how far the comparison got, with its counts so far
//! (repairing, once the sink has written what those ranges needed).

pub mod compare;
pub mod report;

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use thiserror::Error;

use crate::checkpoint::Marks;
use crate::cluster::{self, ClusterError, ConnectOptions};
use crate::exit::{Classified, Classify};
use crate::load::{self, Feed, LoadError};
use crate::model::{Partition, TableName};
use crate::plan::MappingOptions;
use crate::progress::{Counters, InputMeter, Progress, Summary};
use crate::rejects::Rejects;
use crate::sink::{self, PartitionSender, PartitionStream, SinkReport, SinkSpec, Target};
use crate::source::cql::RANGES;
use crate::source::cql::scan::range_of;
use crate::source::cql::scan::split_range;
use crate::source::{InputSize, OpenOptions, Source, SourceEvent};

pub use compare::{Category, ColumnCounts, Comparer, Tally};
pub use report::Resume;

/// Repair partitions buffered on their way to the sink.
const REPAIR_DEPTH: usize = 256;

/// Everything a verify needs, validated by the command line.
#[derive(Debug, Clone)]
pub struct VerifyJob {
    pub inputs: Vec<String>,
    pub table: TableName,
    pub open: OpenOptions,
    pub mapping: MappingOptions,
    pub rejects: Option<PathBuf>,
    pub max_errors: u64,
    pub connection: ConnectOptions,
    pub quiet: bool,
    pub memory_limit: u64,
    pub temp_dir: PathBuf,
    /// Where the repair writes (`None`: no repair).
    pub repair: Option<SinkSpec>,
    /// A share of the ring's token ranges, and the seed that picks them.
    pub sample: Option<(f64, u64)>,
    /// Token ranges of the target scanned at once.
    pub concurrency: usize,
    /// Rows per second scanned from the target at most (0: no limit).
    pub rate: u64,
    pub checkpoint: Option<PathBuf>,
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Stage(#[from] Classified),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Report(#[from] report::ReportError),
    #[error(
        "the target's scan of {table} gave partitions out of token order (token {token} after {previous}); rerun, and report this if it happens again"
    )]
    Order {
        table: String,
        token: i64,
        previous: i64,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the {0} thread failed unexpectedly")]
    Thread(&'static str),
}

impl Classify for VerifyError {
    fn is_usage(&self) -> bool {
        match self {
            VerifyError::Load(e) => e.is_usage(),
            VerifyError::Stage(e) => e.is_usage(),
            VerifyError::Cluster(e) => e.is_usage(),
            VerifyError::Report(e) => e.is_usage(),
            VerifyError::Order { .. } | VerifyError::Runtime(_) | VerifyError::Thread(_) => false,
        }
    }
}

/// What a verify found, and what its repair wrote.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub table: TableName,
    pub tally: Tally,
    /// Reading the source: rows read and rejected.
    pub source: Summary,
    /// The whole run: time, CPU, memory.
    pub run: Summary,
    /// Rows the repair wrote and the sink's notes (`None`: no repair).
    pub repair: Option<(u64, SinkReport)>,
    /// The share of the ring compared, and its seed (`None`: all of it).
    pub sample: Option<(f64, u64)>,
    /// Token ranges compared (of [`RANGES`]), this run and earlier ones resumed.
    pub ranges: u64,
    /// Seconds of the run spent comparing, after the source was read and sorted (all of it
    /// when the source streams in order, as `cql://` does).
    pub compare_seconds: f64,
}

/// Runs the comparison (and the repair) and reports what it found.
pub fn run(job: VerifyJob) -> Result<VerifyReport, VerifyError> {
    let begun = std::time::Instant::now();
    let opened = job
        .inputs
        .iter()
        .map(|input| Source::open(input, &job.open))
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(VerifyError::Runtime)?;
    let session = Arc::new(runtime.block_on(cluster::connect(&job.connection))?);
    let schema = Arc::new(runtime.block_on(cluster::read_table_schema(&session, &job.table))?);
    let planned = opened
        .into_iter()
        .map(|source| source.plan(schema.clone(), &job.mapping))
        .collect::<Result<Vec<_>, _>>()?;
    crate::load::state_plans(&planned);
    let table = job.table.to_string();

    // Which token ranges: the whole ring, a sample of it, less what a resumed run compared.
    let all = split_range(i64::MIN, i64::MAX, RANGES);
    let mut ranges = match job.sample {
        Some((fraction, seed)) => report::sample_ranges(&all, fraction, seed),
        None => all,
    };
    let resume = match &job.checkpoint {
        Some(path) => report::read_checkpoint(path, &table)?,
        None => None,
    };
    let mut tally = Comparer::new(&schema, 0).tally();
    let mut ranges_before = 0;
    if let Some(resume) = resume {
        ranges_before = resume.ranges_done;
        let before = ranges.len();
        ranges.retain(|&(_, end)| end > resume.done_through);
        ranges_before = ranges_before.max((before - ranges.len()) as u64);
        tally.absorb(resume.tally);
    }
    let ranges: Arc<[(i64, i64)]> = ranges.into();

    // The target, scanned in token order.
    let url = format!(
        "cql://{}/{}.{}",
        job.connection.hosts.join(","),
        quote(&job.table.keyspace),
        quote(&job.table.table)
    );
    let target = Source::open(
        &url,
        &OpenOptions {
            connection: Some(job.connection.clone()),
            cql_concurrency: job.concurrency,
            cql_ranges: Some(ranges.clone()),
            cql_rate: job.rate,
            ..OpenOptions::default()
        },
    )?
    .plan(schema.clone(), &MappingOptions::default())?
    .start()?;
    let InputSize::Ranges {
        done: target_done,
        total: target_total,
    } = target.size
    else {
        return Err(VerifyError::Thread("target scan"));
    };
    let mut target_events = target.events;

    // The source, through the partition builder (phase one of a load).
    let rejects =
        Arc::new(Rejects::new(job.rejects.as_deref(), job.max_errors).map_err(LoadError::from)?);
    let counters = Arc::new(Counters::default());
    crate::cleanup::install_interrupt_cleanup();
    let (sources, sizes, ordered) = load::start_inputs(planned, job.open.sort_always)?;
    let reading = Progress::start(
        counters.clone(),
        load::input_meter(sizes),
        job.quiet || ordered,
    );
    let mut feed = load::feed(
        job.inputs.iter().cloned().zip(sources).collect(),
        ordered,
        &schema,
        job.memory_limit,
        &job.temp_dir,
        &counters,
        &rejects,
    )?;
    let source_summary = if ordered {
        None
    } else {
        Some(reading.finish())
    };
    let started = std::time::Instant::now();

    // The repair's sink, fed as the comparison finds rows to write.
    let repair_counters = Arc::new(Counters::default());
    let mut sink = match &job.repair {
        Some(spec) => Some(sink::open(
            spec,
            &Target {
                schema: schema.clone(),
                session: Some(session.clone()),
                runtime: runtime.handle().clone(),
                counters: repair_counters.clone(),
            },
        )?),
        None => None,
    };

    let compared = Arc::new(Counters::default());
    let progress = Progress::start(
        compared.clone(),
        InputMeter::Ranges {
            done: Box::new(move || target_done()),
            total: target_total,
        },
        job.quiet,
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let comparer = Comparer::new(&schema, now);
    let mut checkpoint = report::Checkpointer::new(job.checkpoint.clone(), &table, ranges_before);
    let (tx, stream) = PartitionStream::channel(REPAIR_DEPTH);
    // How many repair partitions the sink has written: a checkpoint waits for them.
    let (mut marks, durable) = Marks::watched(&table);
    let (compared_result, written) = std::thread::scope(|scope| {
        let compare = scope.spawn(|| {
            let mut tx = tx;
            let mut tally = tally;
            let mut source_next = next_in(&mut feed, &ranges)?;
            let mut target_next = next_target(&mut target_events)?;
            let mut previous = i64::MIN;
            let mut sent = 0u64;
            while source_next.is_some() || target_next.is_some() {
                let order = match (&source_next, &target_next) {
                    (Some(s), Some(t)) => (s.token, &s.key).cmp(&(t.token, &t.key)),
                    (Some(_), None) => Ordering::Less,
                    _ => Ordering::Greater,
                };
                let (s, t) = match order {
                    Ordering::Less => (source_next.take(), None),
                    Ordering::Greater => (None, target_next.take()),
                    Ordering::Equal => (source_next.take(), target_next.take()),
                };
                if let Some(t) = &t {
                    if t.token.0 < previous {
                        return Err(VerifyError::Order {
                            table: table.clone(),
                            token: t.token.0,
                            previous,
                        });
                    }
                    previous = t.token.0;
                    let rows = t.rows.len() + usize::from(t.static_row.is_some());
                    Counters::add(&compared.rows_read, rows as u64);
                }
                if let Some(p) = s.as_ref().or(t.as_ref()) {
                    // Everything before this partition is compared; repairing, a checkpoint
                    // waits until what was sent for it is written.
                    let settle = || job.repair.is_none() || settled(&mut tx, &durable, sent);
                    checkpoint.reached(p.token.0, &ranges, &tally, settle)?;
                }
                let repair = comparer.partition(s.as_ref(), t.as_ref(), &mut tally);
                if let Some(repair) = repair
                    && job.repair.is_some()
                {
                    if tx.blocking_send(repair).is_err() {
                        break;
                    }
                    sent += 1;
                }
                if s.is_some() {
                    source_next = next_in(&mut feed, &ranges)?;
                }
                if t.is_some() {
                    target_next = next_target(&mut target_events)?;
                }
            }
            drop(tx);
            Ok(tally)
        });
        let written = match sink.as_mut() {
            Some(sink) => sink.write(stream, &mut marks).and_then(|()| sink.flush()),
            None => {
                drop(stream);
                Ok(())
            }
        };
        (compare.join(), written)
    });
    let tally = compared_result.map_err(|_| VerifyError::Thread("compare"))??;
    written?;
    rejects.finish().map_err(LoadError::from)?;
    let repair = match sink {
        Some(sink) => Some((Counters::get(&repair_counters.rows_written), sink.finish()?)),
        None => None,
    };
    let mut run = progress.finish();
    let compare_seconds = started.elapsed().as_secs_f64();
    run.elapsed_seconds = begun.elapsed().as_secs_f64();
    run.rows_per_second = if run.elapsed_seconds > 0.0 {
        tally.source_rows.max(tally.target_rows) as f64 / run.elapsed_seconds
    } else {
        0.0
    };
    checkpoint.finished();
    let source = source_summary.unwrap_or_else(|| Summary {
        rows_read: tally.source_rows,
        ..run.clone()
    });
    Ok(VerifyReport {
        table: job.table.clone(),
        tally,
        source,
        run,
        repair,
        sample: job.sample,
        ranges: ranges_before + ranges.len() as u64,
        compare_seconds,
    })
}

/// Hands on the repairs queued and waits until the sink has written all `sent`; false when
/// the sink stopped (its error ends the run).
fn settled(tx: &mut PartitionSender, durable: &AtomicU64, sent: u64) -> bool {
    if tx.flush_blocking().is_err() {
        return false;
    }
    while durable.load(AtomicOrdering::Acquire) < sent {
        if tx.is_closed() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    true
}

/// The next source partition in one of `ranges`.
fn next_in(feed: &mut Feed, ranges: &[(i64, i64)]) -> Result<Option<Partition>, VerifyError> {
    for partition in feed.by_ref() {
        let partition = partition?;
        if range_of(ranges, partition.token.0).is_some() {
            return Ok(Some(partition));
        }
    }
    Ok(None)
}

fn next_target(events: &mut crate::source::Events) -> Result<Option<Partition>, VerifyError> {
    for event in events.by_ref() {
        if let SourceEvent::Partition(partition) = event? {
            return Ok(Some(partition));
        }
    }
    Ok(None)
}

fn quote(name: &str) -> String {
    crate::model::types::quote_identifier(name)
}
