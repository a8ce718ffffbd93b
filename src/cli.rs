//! The command line, and only that: clap definitions for every subcommand and option, with the
//! help text users read, and the plain options the flags stand for (such as
//! [`ConnectionArgs::options`]). Turning these into a validated job happens in `app.rs`.

use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use scylla::statement::Consistency;

use crate::cluster::{ConnectOptions, SOURCE_PASSWORD_ENV};
use crate::tls::TlsOptions;

use crate::intake::NullMode;

const ABOUT: &str = "Move big tables into, between and out of Apache Cassandra, keeping every cell's \
write timestamp and TTL so that an older write never beats a newer one.";

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 verify found differences, 2 bad usage, 3 failure.
Credentials: the password comes from the CASSBULK_PASSWORD environment variable or from
--password-file, never from the command line.";

#[derive(Debug, Parser)]
#[command(name = "cassbulk", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print more detail (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load rows from pg_dump files, Parquet folders (local or HDFS) or SSTables into a table.
    ///
    /// Every cell is written with USING TIMESTAMP, so anything written live after the source's
    /// snapshot keeps winning; loading the same input twice changes nothing. Non-frozen lists
    /// are the one CQL write Cassandra would apply twice (their element paths are made by the
    /// server), so for tables with list columns each partition's lists are read first: a list
    /// already there (same elements, same write time) or newer in the table is not written;
    /// the summary counts them.
    Load(Box<LoadArgs>),
    /// Dump a table to Parquet, CSV or PostgreSQL COPY files, with write times and TTLs.
    Dump(Box<DumpArgs>),
    /// Compare a source with a table on a cluster, cell by cell with write times and TTLs;
    /// report what differs and optionally repair it, safely while live writes go on.
    ///
    /// Each row is counted once, in the first category that applies: missing (in the source,
    /// not in the table), stale (a cell in the table older than the source's, or absent),
    /// differs (the same write time, another value), newer (a cell written after the
    /// source's: a live write), extra (in the table only). Exits 1 when rows are missing,
    /// stale or differ, else 0. Deletions made in the table are not visible over CQL: a row
    /// deleted live after the source's snapshot reads as missing, and a repair of it stays
    /// shadowed by that deletion. A NULL in a dump says nothing unless the load and the verify
    /// use --nulls delete.
    Verify(Box<VerifyArgs>),
    /// Show a table's schema as the cluster has it and the token of a partition key, or what a
    /// folder of SSTables holds.
    Inspect(InspectArgs),
    /// Copy keyspaces, types and tables from one cluster to another.
    CopySchema(CopySchemaArgs),
}

/// How to reach a cluster. Shared by every subcommand that talks to one.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Contact points: host[:port],... (the port defaults to --port), or srv:NAME for those
    /// of DNS SRV records (best priority first, by weight, each record's port; the next
    /// priority only when no host answers; name servers from /etc/resolv.conf or the file
    /// CASSBULK_RESOLV_CONF names).
    #[arg(
        long,
        env = "CASSBULK_HOSTS",
        value_delimiter = ',',
        default_value = "127.0.0.1"
    )]
    pub hosts: Vec<String>,

    /// CQL native port for contact points given without one.
    #[arg(long, default_value_t = 9042)]
    pub port: u16,

    /// User name for PasswordAuthenticator; the password comes from CASSBULK_PASSWORD or
    /// --password-file.
    #[arg(long, env = "CASSBULK_USERNAME")]
    pub username: Option<String>,

    /// A file whose first line is the password (keeps it out of the process list and logs).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Prefer replicas in this data center (the local DC for LOCAL_* consistency levels).
    #[arg(long)]
    pub dc: Option<String>,

    /// Consistency level for reads and writes.
    #[arg(long, value_enum, ignore_case = true, default_value_t = ConsistencyArg::LocalQuorum)]
    pub consistency: ConsistencyArg,

    /// Seconds to wait for the first connection.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub connect_timeout: u64,

    /// Connect with TLS (clusters with client_encryption_options enabled). Implied by the
    /// other --tls-* flags.
    #[arg(long, env = "CASSBULK_TLS")]
    pub tls: bool,

    /// PEM file of the CA certificates to trust (default: the system's store).
    #[arg(long, env = "CASSBULK_TLS_CA", value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// PEM client certificate (with its chain), for clusters that require client certificates
    /// (require_client_auth); goes with --tls-key.
    #[arg(
        long,
        env = "CASSBULK_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "CASSBULK_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// The name the nodes' certificates carry, when it is not the address each node is reached
    /// at (by default a certificate must name the node's IP address).
    #[arg(long, env = "CASSBULK_TLS_SERVER_NAME", value_name = "NAME")]
    pub tls_server_name: Option<String>,

    /// Accept any server certificate: encrypted, but the nodes are not authenticated, so
    /// anyone in between can read the data and the password. For tests only.
    #[arg(long, env = "CASSBULK_TLS_INSECURE")]
    pub tls_insecure: bool,
}

impl ConnectionArgs {
    /// The connection settings these flags give.
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            hosts: self.hosts.clone(),
            port: self.port,
            username: self.username.clone(),
            password_file: self.password_file.clone(),
            password_env: crate::cluster::PASSWORD_ENV,
            dc: self.dc.clone(),
            consistency: self.consistency.into(),
            connect_timeout: Duration::from_secs(self.connect_timeout),
            tls: self.tls_options(),
        }
    }

    /// TLS settings, when any --tls flag asks for TLS.
    fn tls_options(&self) -> Option<TlsOptions> {
        let settings = tls_settings(
            self.tls || self.tls_insecure,
            &self.tls_ca,
            &self.tls_cert,
            &self.tls_key,
            &self.tls_server_name,
        );
        static WARNED: std::sync::Once = std::sync::Once::new();
        if self.tls_insecure {
            WARNED.call_once(|| {
                tracing::warn!(
                "--tls-insecure: the nodes' certificates are not checked; anyone between here and the cluster can read the data and the password"
            );
            });
        }
        settings.map(|tls| TlsOptions {
            insecure: self.tls_insecure,
            ..tls
        })
    }
}

/// TLS settings when `on` or any of the files or the name is given (each implies TLS).
fn tls_settings(
    on: bool,
    ca: &Option<PathBuf>,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    server_name: &Option<String>,
) -> Option<TlsOptions> {
    let wanted = on || ca.is_some() || cert.is_some() || server_name.is_some();
    wanted.then(|| TlsOptions {
        ca: ca.clone(),
        cert: cert.clone(),
        key: key.clone(),
        server_name: server_name.clone(),
        insecure: false,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConsistencyArg {
    Any,
    One,
    Two,
    Three,
    Quorum,
    All,
    LocalQuorum,
    EachQuorum,
    LocalOne,
}

impl From<ConsistencyArg> for Consistency {
    fn from(c: ConsistencyArg) -> Consistency {
        match c {
            ConsistencyArg::Any => Consistency::Any,
            ConsistencyArg::One => Consistency::One,
            ConsistencyArg::Two => Consistency::Two,
            ConsistencyArg::Three => Consistency::Three,
            ConsistencyArg::Quorum => Consistency::Quorum,
            ConsistencyArg::All => Consistency::All,
            ConsistencyArg::LocalQuorum => Consistency::LocalQuorum,
            ConsistencyArg::EachQuorum => Consistency::EachQuorum,
            ConsistencyArg::LocalOne => Consistency::LocalOne,
        }
    }
}

/// How a source's rows become the table's cells: shared by `load` and `verify`, so a verify
/// reads its source exactly as the load did.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The table to read from a dump that holds several (SCHEMA.TABLE).
    #[arg(long, value_name = "SCHEMA.TABLE")]
    pub source_table: Option<String>,

    /// Source column whose timestamp becomes each row's write time (microsecond exact).
    #[arg(long, value_name = "COL", conflicts_with = "writetime")]
    pub writetime_column: Option<String>,

    /// One write time for every cell: RFC 3339 or microseconds since the epoch. Defaults to
    /// the dump's creation time where the archive has one.
    #[arg(long, value_name = "TIME")]
    pub writetime: Option<String>,

    /// TTL in seconds for every cell, counted from the load as Cassandra counts `USING TTL`
    /// (not from the write time), on every route.
    #[arg(long, value_name = "SECONDS", conflicts_with = "ttl_column")]
    pub ttl: Option<u32>,

    /// Source column holding each row's TTL in seconds (NULL or 0: none), counted like --ttl.
    #[arg(long, value_name = "COL")]
    pub ttl_column: Option<String>,

    /// Column mapping where names differ: cql_col=source_col,...
    #[arg(long, value_delimiter = ',', value_name = "CQL=SRC")]
    pub map: Vec<String>,

    /// Source columns meant to be left out. A source column that fills no table column (by
    /// name, CQL's case folding of unquoted names, or --map) and gives no write time or TTL is
    /// otherwise refused, so nothing is dropped without a word.
    #[arg(long, value_delimiter = ',', value_name = "COL,...")]
    pub ignore_columns: Vec<String>,

    /// Refuse table columns that no source column fills (by default they are listed before
    /// the first write and in the summary, and keep what the table holds).
    #[arg(long)]
    pub strict: bool,

    /// Read a Spark or Hadoop export that looks unfinished: a folder of Parquet files without
    /// `_SUCCESS` where the export has one elsewhere, or a `_temporary/` folder a job left.
    #[arg(long)]
    pub allow_incomplete: bool,

    /// What SQL NULL does: leave the column as it is in Cassandra, or delete it (a tombstone at
    /// the row's write time).
    #[arg(long, value_enum, default_value_t = NullMode::Unset)]
    pub nulls: NullMode,

    /// Write rows that cannot be loaded here (JSON lines: file, line, column, reason, raw row).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,

    /// Stop (exit 3) after this many rejected rows.
    #[arg(long, default_value_t = 100)]
    pub max_errors: u64,

    #[command(flatten)]
    pub cluster: SourceClusterArgs,
}

/// How to reach the cluster of a `cql://` source when it is not the target's: its own
/// login, TLS and local datacenter. When none is given the source shares the target's; when
/// any is, the source's login and TLS come from these alone.
#[derive(Debug, Clone, Args)]
pub struct SourceClusterArgs {
    /// The cql:// source cluster's user; the password comes from CASSBULK_SOURCE_PASSWORD or
    /// --source-password-file.
    #[arg(long, env = "CASSBULK_SOURCE_USERNAME", value_name = "NAME")]
    pub source_username: Option<String>,

    /// A file whose first line is the source cluster's password.
    #[arg(long, value_name = "FILE")]
    pub source_password_file: Option<PathBuf>,

    /// TLS to the source cluster (implied by the other --source-tls-* flags).
    #[arg(long, env = "CASSBULK_SOURCE_TLS")]
    pub source_tls: bool,

    /// PEM CAs the source cluster's certificates are checked against.
    #[arg(long, env = "CASSBULK_SOURCE_TLS_CA", value_name = "FILE")]
    pub source_tls_ca: Option<PathBuf>,

    /// PEM client certificate for the source cluster; goes with --source-tls-key.
    #[arg(
        long,
        env = "CASSBULK_SOURCE_TLS_CERT",
        value_name = "FILE",
        requires = "source_tls_key"
    )]
    pub source_tls_cert: Option<PathBuf>,

    /// PEM private key of --source-tls-cert.
    #[arg(
        long,
        env = "CASSBULK_SOURCE_TLS_KEY",
        value_name = "FILE",
        requires = "source_tls_cert"
    )]
    pub source_tls_key: Option<PathBuf>,

    /// The name the source nodes' certificates carry, when not their addresses.
    #[arg(long, env = "CASSBULK_SOURCE_TLS_SERVER_NAME", value_name = "NAME")]
    pub source_tls_server_name: Option<String>,

    /// The source cluster's local datacenter (by default the source's contact points').
    #[arg(long, value_name = "NAME")]
    pub source_dc: Option<String>,
}

impl SourceClusterArgs {
    /// The first --source-* flag given (from the command line or the environment), if any.
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (self.source_username.is_some(), "--source-username"),
            (
                self.source_password_file.is_some(),
                "--source-password-file",
            ),
            (self.source_tls, "--source-tls"),
            (self.source_tls_ca.is_some(), "--source-tls-ca"),
            (self.source_tls_cert.is_some(), "--source-tls-cert"),
            (
                self.source_tls_server_name.is_some(),
                "--source-tls-server-name",
            ),
            (self.source_dc.is_some(), "--source-dc"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    /// The connection of a `cql://` source: the target's `target`, with this login, TLS and
    /// datacenter when any is given.
    pub fn options(&self, target: &ConnectOptions) -> ConnectOptions {
        let tls = tls_settings(
            self.source_tls,
            &self.source_tls_ca,
            &self.source_tls_cert,
            &self.source_tls_key,
            &self.source_tls_server_name,
        );
        let mut options = target.clone();
        if tls.is_some() || self.source_username.is_some() || self.source_password_file.is_some() {
            options.username = self.source_username.clone();
            options.password_file = self.source_password_file.clone();
            options.password_env = SOURCE_PASSWORD_ENV;
            options.tls = tls;
        }
        // The target's datacenter may name nothing in the source's cluster: the source's is
        // --source-dc, or its contact points'.
        options.dc = self.source_dc.clone();
        options
    }
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Inputs: pg_dump files (plain, custom or directory format), Parquet files or folders,
    /// hdfs:// URLs, SSTable folders (a table's folder, its snapshot or backups, one per old
    /// node: replicas' copies are merged and each cell written once). Several inputs reconcile
    /// last-write-wins into one stream.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Target table as KEYSPACE.TABLE.
    #[arg(long, value_name = "KS.TABLE")]
    pub table: String,

    #[command(flatten)]
    pub source: SourceArgs,

    /// Requests in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,

    /// Rows per second at most (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// Memory the run may use (e.g. 512MiB, 2GiB); sorting spills to --temp-dir past it.
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    pub memory_limit: String,

    /// How inputs already in token order (SSTables written under Murmur3Partitioner, a live
    /// table's scan) are merged: as streams, each partition's copies met as they are read, with
    /// no sort and in little memory (auto); or through the partition builder like any other
    /// input (sort: to compare the two).
    #[arg(long, value_enum, default_value_t = MergeMode::Auto)]
    pub merge: MergeMode,

    /// Folder for spill files (removed on success, error and Ctrl-C).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Resume file: records the token below which every partition is written.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// How rows reach the cluster: `cql` (timestamped INSERTs through the driver) or
    /// `sstable` (nb SSTables written here, then --stream).
    #[arg(long, value_enum, default_value_t = Via::Cql)]
    pub via: Via,

    /// With --via sstable: `sstableloader` streams the SSTables to every replica (Cassandra's
    /// BulkLoader, to --hosts); `import` runs `nodetool import` on the folder (the node must
    /// see it: the same machine, or a folder shipped there); both remove the SSTables after.
    /// `none` leaves them in --sstable-dir and prints the command that loads them.
    #[arg(long, value_enum, default_value_t = StreamMode::None)]
    pub stream: StreamMode,

    /// With --via sstable: where the <keyspace>/<table>/ folder of SSTables is written.
    #[arg(long, value_name = "DIR", default_value = "cassbulk-sstables")]
    pub sstable_dir: PathBuf,

    /// With --via sstable: the SSTable format; by default what the cluster reads (`oa` when
    /// its nodes run storage_compatibility_mode NONE, else `nb`).
    #[arg(long, value_enum, value_name = "nb|oa")]
    pub format: Option<SstableFormat>,

    /// With --via sstable: MiB of data per SSTable (uncompressed) before the next starts.
    #[arg(long, value_name = "MiB", default_value_t = 256)]
    pub sstable_size: u64,

    /// With --stream import: the command that runs nodetool (e.g. /opt/cassandra/bin/nodetool
    /// -h 10.0.0.1); split on spaces.
    #[arg(long, value_name = "COMMAND", default_value = "nodetool")]
    pub nodetool: String,

    /// With --stream import: how the node checks the files before it takes them. `quick`
    /// (nodetool import's own default): the Digest.crc32 of each Data.db and that the node
    /// owns its tokens. `extended`: also reads back every partition (about 3 s more for a
    /// million rows, 330 MiB, on a 2-core node).
    #[arg(long, value_enum, value_name = "quick|extended", default_value_t = ImportVerify::Quick)]
    pub import_verify: ImportVerify,

    /// With --stream import, for nodes whose JMX requires a login: the JMX user. The password
    /// comes from CASSBULK_JMX_PASSWORD or --jmx-password-file; nodetool reads it from a
    /// private temporary file (-pwf), never from its command line.
    #[arg(long, env = "CASSBULK_JMX_USERNAME", value_name = "NAME")]
    pub jmx_username: Option<String>,

    /// With --stream sstableloader on a cluster of several datacenters: stream to the local
    /// datacenter's replicas only (--dc, or the contact points'), as Cassandra Analytics'
    /// writeToLocalDcOnly does; the summary names the other replicas and the repair to run.
    #[arg(long)]
    pub local_dc_only: bool,

    /// A file whose first line is the JMX password (with --jmx-username).
    #[arg(long, value_name = "FILE", requires = "jmx_username")]
    pub jmx_password_file: Option<PathBuf>,

    /// With --stream sstableloader: the command that runs it (e.g.
    /// /opt/cassandra/bin/sstableloader); split on spaces. With --tls it gets the CA and
    /// client certificate through a configuration file (-f; PKCS#8 keys, --tls-ca needed).
    /// It is refused with --username: sstableloader takes a password only on its command
    /// line; use --stream import or --via cql there.
    #[arg(long, value_name = "COMMAND", default_value = "sstableloader")]
    pub sstableloader: String,

    /// Leave out tombstones older than the target table's gc_grace_seconds once the inputs
    /// (replicas' SSTables, say) are merged, as the old cluster's compaction would have.
    /// Default: every tombstone is written, so it shadows older copies the target may hold.
    #[arg(long)]
    pub purge_tombstones: bool,

    /// With --purge-tombstones: the grace period in seconds instead of the table's own.
    #[arg(long, value_name = "SECONDS", requires = "purge_tombstones")]
    pub gc_grace: Option<u32>,

    /// A delta load: write only what was written at TIME or later (RFC 3339 or microseconds
    /// since the epoch), by the write times the load gives each cell (--writetime-column, a
    /// snapshot's own); older rows, cells and deletions are left out and counted. Use the
    /// newest write time of the last full load, or a little before it: rewriting what is
    /// already there changes nothing.
    #[arg(long, value_name = "TIME", value_parser = crate::plan::parse_writetime)]
    pub since: Option<i64>,

    /// Also write the final summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// No progress bar or periodic progress lines (the summary is still printed).
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// What to dump: a live table as cql://HOST[:PORT][,HOST...]/KS.TABLE (scanned by token
    /// ranges at --consistency), SSTable folders (offline: the cluster at --hosts only gives
    /// the schema), or anything else `load` reads. Several inputs reconcile last-write-wins,
    /// replicas' copies included, so each row is written once.
    #[arg(required = true, value_name = "SOURCE")]
    pub inputs: Vec<String>,

    /// The table as KEYSPACE.TABLE, whose schema (read from --hosts) decides the columns and
    /// their types. Default: the table of a cql:// source.
    #[arg(long, value_name = "KS.TABLE")]
    pub table: Option<String>,

    /// Read the table's schema from this CQL file (a snapshot's schema.cql: its CREATE TYPE
    /// and CREATE TABLE statements) instead of a cluster: with SSTable folders, a dump that
    /// connects to nothing.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,

    /// Output folder: part-00000.<ext>, part-00001.<ext>, ... and _SUCCESS, written last.
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,

    /// File format. `pgcopy` is PostgreSQL's COPY text format, for `COPY table FROM`.
    #[arg(long, value_enum)]
    pub format: DumpFormat,

    /// Only these columns, in this order (default: every column in the table's order).
    #[arg(long, value_delimiter = ',', value_name = "COL,...")]
    pub columns: Vec<String>,

    /// Write into DIR/dt=YYYY-MM-DD/, as daily partitioned tables expect.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub partition_date: Option<String>,

    /// Add COL_writetime (microseconds, as writetime() gives it) for every column outside the
    /// primary key.
    #[arg(long)]
    pub with_writetime: bool,

    /// Add COL_ttl (seconds left, as ttl() gives it; null for cells that do not expire).
    #[arg(long)]
    pub with_ttl: bool,

    /// With a cql:// source: only the tokens from START (exclusive) to END (inclusive), e.g.
    /// to split a dump between machines: -9223372036854775808:0 and 0:9223372036854775807.
    #[arg(long, value_name = "START:END", allow_hyphen_values = true)]
    pub where_token_range: Option<String>,

    /// With a cql:// source: token ranges scanned at once (each paged).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,

    /// With a cql:// source: rows per second read at most (0: no limit), to spare a live
    /// cluster.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// Rows per file before the next file starts.
    #[arg(long, value_name = "N", default_value_t = 10_000_000)]
    pub rows_per_file: u64,

    /// With --format parquet: decimal columns as Parquet decimal128(P, S) and varint columns as
    /// decimal128(P, 0), instead of exact text. A value that does not fit exactly (more
    /// fractional digits than S, more digits than P) stops the dump naming the column and the
    /// value. P is at most 38.
    #[arg(long, value_name = "P,S")]
    pub decimal: Option<String>,

    /// Replace a finished dump (one with _SUCCESS) already in the output folder.
    #[arg(long)]
    pub overwrite: bool,

    /// Memory the run may use (e.g. 512MiB, 2GiB); sorting spills to --temp-dir past it.
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    pub memory_limit: String,

    /// How inputs already in token order (SSTables written under Murmur3Partitioner, a live
    /// table's scan) are merged: as streams, each partition's copies met as they are read, with
    /// no sort and in little memory (auto); or through the partition builder like any other
    /// input (sort: to compare the two).
    #[arg(long, value_enum, default_value_t = MergeMode::Auto)]
    pub merge: MergeMode,

    /// Folder for spill files (removed on success, error and Ctrl-C).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// Also write the final summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,

    /// No progress bar or periodic progress lines (the summary is still printed).
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    Cql,
    Sstable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeMode {
    Auto,
    Sort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SstableFormat {
    Nb,
    Oa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StreamMode {
    Sstableloader,
    Import,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportVerify {
    Quick,
    Extended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    Parquet,
    Csv,
    #[value(name = "pgcopy")]
    PgCopy,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The source to compare with the table: anything `load` reads (pg_dump files, Parquet
    /// files or folders, hdfs:// URLs, SSTable folders, cql://HOST/KS.TABLE of another
    /// cluster). Several inputs reconcile last-write-wins into one, as for `load`.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Table to compare with, as KEYSPACE.TABLE (in the cluster at --hosts).
    #[arg(long, value_name = "KS.TABLE")]
    pub table: String,

    #[command(flatten)]
    pub source: SourceArgs,

    /// Also write what was found as JSON: {"counts": {"missing": N, "stale": N, "differs": N,
    /// "newer": N, "extra": N}, "rows": ..., "columns": {COL: {...}}, "examples": ...}.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,

    /// Write the source's version of every missing, stale or differing row, with the source's
    /// own write times (a newer write in the table still wins), through the same writes as
    /// `load`; then report what was written.
    #[arg(long)]
    pub repair: bool,

    /// Compare only this share (0 to 1) of the ring's 1024 token ranges, picked at random:
    /// a quick confidence figure.
    #[arg(long, value_name = "FRACTION")]
    pub sample: Option<f64>,

    /// With --sample: the seed that picks the ranges (the report gives the one used).
    #[arg(long, value_name = "N", requires = "sample")]
    pub sample_seed: Option<u64>,

    /// Resume file: the token ranges compared so far, with their counts (with --repair, saved
    /// once what they needed is written). A stopped verify run again with it carries on after
    /// them; a completed one removes it.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Token ranges of the table scanned at once (each paged).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub concurrency: usize,

    /// Rows per second read from the table at most, and written with --repair (0: no
    /// limit), to spare a live cluster.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,

    /// Memory the run may use (e.g. 512MiB, 2GiB); sorting the source spills to --temp-dir
    /// past it.
    #[arg(long, default_value = "1GiB", value_name = "SIZE")]
    pub memory_limit: String,

    /// How inputs already in token order (SSTables written under Murmur3Partitioner, a live
    /// table's scan) are merged: as streams, each partition's copies met as they are read, with
    /// no sort and in little memory (auto); or through the partition builder like any other
    /// input (sort: to compare the two).
    #[arg(long, value_enum, default_value_t = MergeMode::Auto)]
    pub merge: MergeMode,

    /// Folder for spill files (removed on success, error and Ctrl-C).
    #[arg(long, value_name = "DIR")]
    pub temp_dir: Option<PathBuf>,

    /// No progress bar or periodic progress lines (the summary is still printed).
    #[arg(long)]
    pub no_progress: bool,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// A folder of SSTables (a table's folder, a snapshot, backups, or a folder of these) to
    /// describe without a cluster: format, compression, sizes, the columns of the header, and
    /// exact counts of partitions, rows, cells and tombstones of every kind, with the range of
    /// write times and local deletion times. Every chunk is read and checked.
    #[arg(value_name = "DIR", conflicts_with_all = ["table", "key"])]
    pub sstables: Option<String>,

    /// Table to describe as KEYSPACE.TABLE, as the cluster has it.
    #[arg(long, value_name = "KS.TABLE", required_unless_present = "sstables")]
    pub table: Option<String>,

    /// Print the token of this partition key: its values as CQL literals, one per key column
    /// (repeat the option for a composite key), e.g. --key 42 --key "'abc'".
    #[arg(long, value_name = "VALUE")]
    pub key: Vec<String>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct CopySchemaArgs {
    /// Keyspaces to copy (their types, tables and indexes).
    #[arg(
        long,
        alias = "keyspace",
        value_delimiter = ',',
        required = true,
        value_name = "KS,..."
    )]
    pub keyspaces: Vec<String>,

    /// Only these tables (and every type, which tables may use, and the tables' indexes).
    #[arg(long, alias = "table", value_delimiter = ',', value_name = "TABLE,...")]
    pub tables: Vec<String>,

    /// Contact points of the cluster to copy from (it describes its keyspaces itself).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "HOST[:PORT],...",
        required_unless_present_any = ["from_schema", "from_pgdump"],
        conflicts_with_all = ["from_schema", "from_pgdump"]
    )]
    pub from_hosts: Vec<String>,

    /// Instead of a cluster: a pg_dump (plain, -Fc or -Fd), whose tables become CQL tables in
    /// the one --keyspace (which must exist): each column the CQL type that holds its values
    /// exactly (domains as their base types; enums, json, interval, tsvector ... as text;
    /// arrays as lists), the primary key's first column the partition key and the rest
    /// clustering columns, a partitioned table one table (its partitions none). Review them
    /// with --dry-run first.
    #[arg(long, value_name = "DUMP", conflicts_with = "from_schema")]
    pub from_pgdump: Option<PathBuf>,

    /// Instead of a cluster: `schema.cql` files, such as the one `nodetool snapshot` writes
    /// beside the SSTables (the keyspace must then exist on the target: its replication is
    /// the new cluster's to choose).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub from_schema: Vec<String>,

    /// Create the keyspace's contents under this name instead (one keyspace only).
    #[arg(long, value_name = "KS", conflicts_with = "from_pgdump")]
    pub to_keyspace: Option<String>,

    /// Print the statements instead of running them on the target.
    #[arg(long)]
    pub dry_run: bool,

    /// The target cluster.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn hosts_split_on_commas_and_default_to_localhost() {
        let cli = Cli::parse_from([
            "cassbulk", "inspect", "--table", "ks.t", "--hosts", "a,b:9043",
        ]);
        let Command::Inspect(args) = cli.command else {
            panic!("not inspect")
        };
        assert_eq!(args.connection.hosts, ["a", "b:9043"]);
        assert_eq!(args.connection.consistency, ConsistencyArg::LocalQuorum);
    }

    #[test]
    fn writetime_and_writetime_column_exclude_each_other() {
        let err = Cli::try_parse_from([
            "cassbulk",
            "load",
            "x.dump",
            "--table",
            "ks.t",
            "--writetime",
            "0",
            "--writetime-column",
            "c",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
