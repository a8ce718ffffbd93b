//! What each subcommand does with its parsed arguments: checks the arguments the parser cannot
//! (names, files), then runs the job. Errors that are the user's to fix are [`UsageError`]s
//! (exit 2); everything else is a failure (exit 3); `verify` differences exit 1.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use thiserror::Error;

use crate::cli::{
    Cli, Command, CopySchemaArgs, DumpArgs, DumpFormat, ImportVerify, InspectArgs, LoadArgs,
    MergeMode, SourceArgs, SstableFormat, StreamMode, VerifyArgs, Via,
};
use crate::cluster::{self, ConnectOptions};
use crate::exit::Classify;
use crate::intake::TtlOrigin;
use crate::load::{self, LoadJob, Purge};
use crate::model::literal::{parse_date, parse_literal};
use crate::model::{TableName, TableSchema, Token};
use crate::plan::{MappingOptions, PlanError, parse_map, parse_size, parse_writetime};
use crate::sink::SinkSpec;
use crate::sink::cql::CqlSinkOptions;
use crate::sink::dump::{self, DumpSinkOptions};
use crate::sink::sstable::tools::{JmxLogin, LoaderTls, ToolError};
use crate::sink::sstable::{Format, SstableSinkOptions, Stream};
use crate::source::OpenOptions;
use crate::verify::{self, VerifyJob};

/// A mistake in how cassbulk was called; the message says how to fix it.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Runs the command; `Ok` carries the exit code of a run that completed.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Load(args) => load(*args),
        Command::Verify(args) => verify(*args),
        Command::Dump(args) => dump(*args),
        Command::CopySchema(args) => block_on(copy_schema(args)),
        Command::Inspect(args) => block_on(inspect(args)),
    }
}

fn load(args: LoadArgs) -> Result<ExitCode> {
    check_inputs(&args.inputs)?;
    check_source_cluster(&args.source, &args.inputs)?;
    if args.jmx_username.is_some()
        && !(args.via == Via::Sstable && args.stream == StreamMode::Import)
    {
        return Err(UsageError(
            "--jmx-username (or CASSBULK_JMX_USERNAME) is nodetool's JMX login and goes with --via sstable --stream import; leave it out here".into(),
        )
        .into());
    }
    if args.local_dc_only && !(args.via == Via::Sstable && args.stream == StreamMode::Sstableloader)
    {
        return Err(UsageError(
            "--local-dc-only goes with --via sstable --stream sstableloader (the CQL route writes through the local datacenter at LOCAL_* consistency already; nodetool import loads one node)".into(),
        )
        .into());
    }
    check_schemes(&args.inputs)?;
    let job = LoadJob {
        inputs: args.inputs.clone(),
        table: table_name(&args.table)?,
        open: OpenOptions {
            since: args.since,
            source_table: args.source.source_table.clone(),
            connection: Some(args.source.cluster.options(&args.connection.options())),
            allow_incomplete: args.source.allow_incomplete,
            cql_without_times: false,
            cql_concurrency: 0,
            cql_token_range: None,
            cql_ranges: None,
            // --rate paces the writes, and through them a cql:// source's scan.
            cql_rate: 0,
            cql_from_token: None,
            sort_always: args.merge == MergeMode::Sort,
        },
        mapping: mapping(&args.source)?,
        sink: match args.via {
            Via::Cql => SinkSpec::Cql(CqlSinkOptions {
                concurrency: args.concurrency,
                rate: args.rate,
                ..CqlSinkOptions::default()
            }),
            Via::Sstable => SinkSpec::Sstable(SstableSinkOptions {
                dir: args.sstable_dir.clone(),
                format: args.format.map(|f| match f {
                    SstableFormat::Nb => Format::Nb,
                    SstableFormat::Oa => Format::Oa,
                }),
                sstable_size: args.sstable_size.max(1) << 20,
                // The load job fills it in from its inputs and options.
                job: String::new(),
                local_dc_only: args.local_dc_only,
                local_dc: None,
                stream: match args.stream {
                    StreamMode::None => Stream::None,
                    StreamMode::Import => Stream::Import {
                        nodetool: args.nodetool.clone(),
                        extended_verify: args.import_verify == ImportVerify::Extended,
                        jmx: args
                            .jmx_username
                            .as_deref()
                            .map(|user| JmxLogin::resolve(user, args.jmx_password_file.as_deref()))
                            .transpose()
                            .map_err(classified)?,
                    },
                    StreamMode::Sstableloader => {
                        if args.connection.username.is_some() {
                            return Err(classified(ToolError::LoaderPassword));
                        }
                        let (hosts, port) = loader_hosts(&args.connection.options())?;
                        Stream::Loader {
                            tls: args
                                .connection
                                .options()
                                .tls
                                .as_ref()
                                .map(LoaderTls::from_options)
                                .transpose()
                                .map_err(classified)?,
                            sstableloader: args.sstableloader.clone(),
                            hosts,
                            port,
                        }
                    }
                },
            }),
        },
        rejects: args.source.rejects.clone(),
        max_errors: args.source.max_errors,
        connection: args.connection.options(),
        quiet: args.no_progress,
        memory_limit: memory_limit(&args.memory_limit)?,
        temp_dir: args.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
        checkpoint: args.checkpoint.clone(),
        purge: match (args.purge_tombstones, args.gc_grace) {
            (false, _) => Purge::Keep,
            (true, None) => Purge::TableGcGrace,
            (true, Some(seconds)) => Purge::OlderThan(i64::from(seconds)),
        },
        since: args.since,
        schema_file: None,
    };
    run_job(job, "load", args.summary_json.as_deref())
}

/// How a source's rows become cells, from the flags `load` and `verify` share.
fn mapping(source: &SourceArgs) -> Result<MappingOptions> {
    let usage = |e: PlanError| UsageError(e.to_string());
    Ok(MappingOptions {
        map: parse_map(&source.map).map_err(usage)?,
        writetime_column: source.writetime_column.clone(),
        writetime: source
            .writetime
            .as_deref()
            .map(parse_writetime)
            .transpose()
            .map_err(usage)?,
        ttl: source.ttl,
        ttl_column: source.ttl_column.clone(),
        nulls: source.nulls,
        ignore_columns: source.ignore_columns.clone(),
        strict: source.strict,
        // `load` counts TTLs from its start (see `load::run`).
        ttl_origin: TtlOrigin::WriteTime,
    })
}

/// `--memory-limit`.
fn memory_limit(text: &str) -> Result<u64> {
    Ok(parse_size(text).ok_or_else(|| {
        UsageError(format!(
            "--memory-limit {text}: give a size such as 512MiB or 2GiB"
        ))
    })?)
}

/// `--decimal P,S`: a precision from 1 to 38 and a scale from 0 to P.
fn parse_decimal(text: &str) -> Result<(u8, i8)> {
    let parsed = text.split_once(',').and_then(|(p, s)| {
        let p: u8 = p.trim().parse().ok()?;
        let s: i8 = s.trim().parse().ok()?;
        ((1..=38).contains(&p) && s >= 0 && s as u8 <= p).then_some((p, s))
    });
    Ok(parsed.ok_or_else(|| {
        UsageError(format!(
            "--decimal {text}: give a precision from 1 to 38 and a scale from 0 to it, e.g. 38,6"
        ))
    })?)
}

/// Refuses URLs of schemes no source reads.
/// The --source-* flags are for a cql:// input's cluster; without one they would do nothing.
fn check_source_cluster(source: &SourceArgs, inputs: &[String]) -> Result<()> {
    match source.cluster.first_given() {
        Some(flag) if !inputs.iter().any(|i| i.starts_with("cql://")) => Err(UsageError(format!(
            "{flag} (or its CASSBULK_SOURCE_* variable) is for the cluster of a cql:// input, and this run reads none; leave it out"
        ))
        .into()),
        _ => Ok(()),
    }
}

fn check_schemes(inputs: &[String]) -> Result<()> {
    if let Some(url) = inputs
        .iter()
        .find(|i| i.contains("://") && !i.starts_with("hdfs://") && !i.starts_with("cql://"))
    {
        return Err(UsageError(format!(
            "{url}: cassbulk reads local paths, hdfs:// URLs and cql://HOST/KS.TABLE"
        ))
        .into());
    }
    Ok(())
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    check_inputs(&args.inputs)?;
    check_source_cluster(&args.source, &args.inputs)?;
    check_schemes(&args.inputs)?;
    let sample = match args.sample {
        None => None,
        Some(f) if f > 0.0 && f <= 1.0 => Some((
            f,
            args.sample_seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            }),
        )),
        Some(f) => {
            return Err(UsageError(format!(
                "--sample {f}: give the share of the ring to compare, above 0 and at most 1 (0.01 is 1%)"
            ))
            .into());
        }
    };
    let job = VerifyJob {
        inputs: args.inputs.clone(),
        table: table_name(&args.table)?,
        open: OpenOptions {
            source_table: args.source.source_table.clone(),
            connection: Some(args.source.cluster.options(&args.connection.options())),
            allow_incomplete: args.source.allow_incomplete,
            sort_always: args.merge == MergeMode::Sort,
            ..OpenOptions::default()
        },
        mapping: mapping(&args.source)?,
        rejects: args.source.rejects.clone(),
        max_errors: args.source.max_errors,
        connection: args.connection.options(),
        quiet: args.no_progress,
        memory_limit: memory_limit(&args.memory_limit)?,
        temp_dir: args.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
        repair: args.repair.then(|| {
            SinkSpec::Cql(CqlSinkOptions {
                rate: args.rate,
                ..CqlSinkOptions::default()
            })
        }),
        sample,
        concurrency: args.concurrency.max(1),
        rate: args.rate,
        checkpoint: args.checkpoint.clone(),
    };
    let report = verify::run(job).map_err(anyhow::Error::from)?;
    // The comparison is the command's result: on stdout, as diff prints its differences.
    print!("{}", verify::report::render(&report));
    if let Some(path) = &args.report {
        verify::report::write_report(&report, path)?;
    }
    Ok(if report.tally.out_of_sync() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn dump(args: DumpArgs) -> Result<ExitCode> {
    check_inputs(&args.inputs)?;
    // A cql:// source names its table and cluster; the schema is read from there.
    let url = match args.inputs.first() {
        Some(first) if first.starts_with("cql://") => {
            Some(crate::source::cql::CqlUrl::parse(first).map_err(|e| UsageError(e.to_string()))?)
        }
        _ => None,
    };
    let mut connection = args.connection.options();
    let table = match (&args.table, &url) {
        (Some(table), _) => table_name(table)?,
        (None, Some(url)) => {
            connection.hosts = url.hosts.clone();
            url.table.clone()
        }
        (None, None) => {
            return Err(UsageError(
                "--table KS.TABLE is needed: it names the table whose schema (read from --hosts) the dump follows".into(),
            )
            .into());
        }
    };
    let job = LoadJob {
        inputs: args.inputs.clone(),
        table,
        open: OpenOptions {
            source_table: None,
            connection: Some(args.connection.options()),
            allow_incomplete: false,
            since: None,
            // One live table, nothing to merge, no times written: read the values alone.
            cql_without_times: url.is_some()
                && args.inputs.len() == 1
                && !args.with_writetime
                && !args.with_ttl,
            cql_concurrency: args.concurrency,
            cql_token_range: match &args.where_token_range {
                None => None,
                Some(text) => {
                    if url.is_none() {
                        return Err(UsageError(
                            "--where-token-range: only a cql:// source is scanned by token ranges"
                                .into(),
                        )
                        .into());
                    }
                    Some(parse_token_range(text)?)
                }
            },
            cql_ranges: None,
            cql_rate: args.rate,
            cql_from_token: None,
            sort_always: args.merge == MergeMode::Sort,
        },
        mapping: MappingOptions::default(),
        sink: SinkSpec::Dump(DumpSinkOptions {
            dir: args.to.clone(),
            format: match args.format {
                DumpFormat::Parquet => dump::DumpFormat::Parquet,
                DumpFormat::Csv => dump::DumpFormat::Csv,
                DumpFormat::PgCopy => dump::DumpFormat::PgCopy,
            },
            columns: (!args.columns.is_empty()).then(|| args.columns.clone()),
            partition_date: match &args.partition_date {
                Some(date) => {
                    if parse_date(date).is_none() || date.len() != 10 {
                        return Err(UsageError(format!(
                            "--partition-date {date}: give a date as YYYY-MM-DD"
                        ))
                        .into());
                    }
                    Some(date.clone())
                }
                None => None,
            },
            with_writetime: args.with_writetime,
            with_ttl: args.with_ttl,
            rows_per_file: args.rows_per_file.max(1),
            overwrite: args.overwrite,
            decimal: match &args.decimal {
                None => None,
                Some(_) if args.format != DumpFormat::Parquet => {
                    return Err(UsageError(
                        "--decimal: only Parquet has a decimal type; CSV and pgcopy write decimals as exact text".into(),
                    )
                    .into());
                }
                Some(text) => Some(parse_decimal(text)?),
            },
        }),
        rejects: None,
        max_errors: 0,
        connection,
        quiet: args.no_progress,
        memory_limit: memory_limit(&args.memory_limit)?,
        temp_dir: args.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
        checkpoint: None,
        purge: Purge::Keep,
        since: None,
        schema_file: args.schema.clone(),
    };
    run_job(job, "dump", args.summary_json.as_deref())
}

/// `START:END`, the tokens `(START, END]` as `token(k) > START AND token(k) <= END` reads them.
fn parse_token_range(text: &str) -> Result<(i64, i64), UsageError> {
    let bad = || {
        UsageError(format!(
            "--where-token-range {text}: give START:END, two Murmur3 tokens with START < END (tokens above START up to END are read)"
        ))
    };
    let (start, end) = text.split_once(':').ok_or_else(bad)?;
    let start: i64 = start.trim().parse().map_err(|_| bad())?;
    let end: i64 = end.trim().parse().map_err(|_| bad())?;
    if start >= end {
        return Err(bad());
    }
    Ok((start, end))
}

/// An error as the exit code wants it: a [`UsageError`] when the user fixes it.
fn classified<E: Classify + std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    if e.is_usage() {
        anyhow::Error::new(UsageError(e.to_string()))
    } else {
        anyhow::Error::new(e)
    }
}

/// Runs a load (or a dump, which is a load into files) and prints its summary.
fn run_job(job: LoadJob, what: &str, summary_json: Option<&Path>) -> Result<ExitCode> {
    let report = load::run(job).map_err(|e| {
        if e.is_usage() {
            anyhow::Error::new(UsageError(e.to_string()))
        } else {
            anyhow::Error::new(e)
        }
    })?;
    report.summary.print(what);
    for note in &report.sink.notes {
        eprintln!("{what}: {note}");
    }
    let build = &report.build;
    eprintln!(
        "{what}: {} partitions; {} duplicate rows reconciled ({} cells collapsed); {} runs spilled ({} MiB){}",
        build.partitions_out,
        build.duplicates_collapsed,
        build.cells_collapsed,
        build.runs_spilled,
        build.bytes_spilled >> 20,
        if report.resumed_past > 0 {
            format!(
                "; resumed after {} partitions written before",
                report.resumed_past
            )
        } else {
            String::new()
        }
    );
    if let Some((left_out, since)) = report.since {
        eprintln!(
            "{what}: --since {since}: {left_out} rows older than it left out (and older cells and deletions of the rows written)"
        );
    }
    if let Some((purged, gc_grace)) = report.purged {
        eprintln!(
            "{what}: {purged} tombstones older than gc_grace_seconds ({gc_grace} s) left out"
        );
    }
    if let Some(path) = summary_json {
        report
            .summary
            .write_json(path)
            .with_context(|| format!("cannot write the summary to {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn block_on<F: Future<Output = Result<ExitCode>>>(f: F) -> Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

/// sstableloader's `-d` hosts (without ports: it takes one `-p`) and port: `--hosts`, or
/// every target of an SRV name, best priority first, with the first record's port.
fn loader_hosts(options: &ConnectOptions) -> Result<(Vec<String>, u16)> {
    let points: Vec<String> = if crate::srv::srv_name(&options.hosts)
        .map_err(classified)?
        .is_some()
    {
        let groups = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(cluster::contact_groups(options))
            .map_err(classified)?;
        groups.into_iter().flat_map(|(_, hosts)| hosts).collect()
    } else {
        cluster::contact_points(&options.hosts, options.port)
    };
    let ports: Vec<u16> = points
        .iter()
        .filter_map(|p| p.rsplit_once(':'))
        .filter_map(|(_, port)| port.parse().ok())
        .collect();
    let port = ports.first().copied().unwrap_or(options.port);
    if let Some(other) = ports.iter().find(|&&p| p != port) {
        return Err(UsageError(format!(
            "--stream sstableloader takes one native port (-p), and the contact points use {port} and {other}; give --hosts with one port, or use --stream import"
        ))
        .into());
    }
    let hosts = points
        .iter()
        .map(|p| {
            let host = p.rsplit_once(':').map_or(p.as_str(), |(host, _)| host);
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        })
        .collect();
    Ok((hosts, port))
}

fn table_name(s: &str) -> Result<TableName, UsageError> {
    TableName::parse(s).map_err(|e| UsageError(format!("--table: {e}")))
}

/// Refuses missing local inputs up front, naming each one.
fn check_inputs(inputs: &[String]) -> Result<(), UsageError> {
    for input in inputs {
        if input.contains("://") {
            continue;
        }
        if !Path::new(input).exists() {
            return Err(UsageError(format!(
                "input {input} does not exist (check the path; give folders and files, or hdfs:// URLs)"
            )));
        }
    }
    Ok(())
}

async fn connect(args: &ConnectOptions) -> Result<scylla::client::session::Session> {
    cluster::connect(args).await.map_err(classified)
}

async fn copy_schema(args: CopySchemaArgs) -> Result<ExitCode> {
    let target = args.connection.options();
    let from = if let Some(dump) = &args.from_pgdump {
        check_inputs(&[dump.display().to_string()])?;
        crate::schema_copy::From::PgDump(dump.clone())
    } else if args.from_schema.is_empty() {
        crate::schema_copy::From::Cluster(Box::new(ConnectOptions {
            hosts: args.from_hosts.clone(),
            ..target.clone()
        }))
    } else {
        check_inputs(&args.from_schema)?;
        crate::schema_copy::From::Files(args.from_schema.clone())
    };
    let job = crate::schema_copy::CopySchema {
        keyspaces: args.keyspaces,
        tables: args.tables,
        from,
        to_keyspace: args.to_keyspace,
        dry_run: args.dry_run,
        target,
    };
    let statements = crate::schema_copy::run(&job).await.map_err(|e| {
        if e.is_usage() {
            anyhow::Error::new(UsageError(e.to_string()))
        } else {
            anyhow::Error::new(e)
        }
    })?;
    for s in &statements {
        println!("{s};");
    }
    if !job.dry_run {
        eprintln!(
            "copy-schema: {} statements run on the target (each IF NOT EXISTS)",
            statements.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn inspect(args: InspectArgs) -> Result<ExitCode> {
    if let Some(dir) = &args.sstables {
        check_inputs(std::slice::from_ref(dir))?;
        print!(
            "{}",
            crate::source::sstable::inspect(dir).map_err(classified)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let name = table_name(args.table.as_deref().unwrap_or_default())?;
    let session = connect(&args.connection.options()).await?;
    let schema = cluster::read_table_schema(&session, &name).await?;
    print!("{}", schema.describe());
    if !args.key.is_empty() {
        println!("token: {}", key_token(&schema, &args.key)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The token of a partition key given as one literal per key column.
pub fn key_token(schema: &TableSchema, literals: &[String]) -> Result<Token, UsageError> {
    let key = schema.partition_key();
    if literals.len() != key.len() {
        return Err(UsageError(format!(
            "--key: {} has {} partition key column(s) ({}), but {} value(s) were given",
            schema.name,
            key.len(),
            key.iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            literals.len()
        )));
    }
    let components = key
        .iter()
        .zip(literals)
        .map(|(c, l)| {
            parse_literal(&c.cql_type, l)
                .map(|v| v.to_bytes())
                .map_err(|e| UsageError(format!("--key for {}: {e}", c.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Token::of_components(&components))
}
