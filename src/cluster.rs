//! Talking to a live cluster: connecting with [`ConnectOptions`] (built from the command line's
//! flags, or later a job file; credentials from the environment or a file, never from
//! arguments), reading a table's schema from
//! `system_schema`, and binding values that are already serialized so the hot path never
//! re-encodes them.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::types::quote_identifier;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::cluster::metadata::ColumnType;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::serialize::SerializationError;
use scylla::serialize::value::SerializeValue;
use scylla::serialize::writers::{CellWriter, WrittenCellProof};
use scylla::statement::Consistency;
use thiserror::Error;

use crate::exit::Classify;
use crate::model::TableName;
use crate::model::schema::{ColumnRow, SchemaError, TableSchema, TypeRow, build_table_schema};
use crate::srv::{self, SrvError};
use crate::tls::{TlsError, TlsOptions};

/// The environment variable that holds the password.
pub const PASSWORD_ENV: &str = "CASSBULK_PASSWORD";
/// The one that holds a `cql://` source cluster's password, when it has its own login.
pub const SOURCE_PASSWORD_ENV: &str = "CASSBULK_SOURCE_PASSWORD";

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClusterError {
    #[error("user {user} needs a password: set {env} or pass {flag} FILE")]
    NoPassword {
        user: String,
        env: &'static str,
        flag: &'static str,
    },
    #[error("cannot read the password file {path}: {source}")]
    PasswordFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to {hosts}: {reason} ({hint})")]
    Connect {
        hosts: String,
        reason: String,
        hint: String,
    },
    #[error("query failed: {statement}: {reason}")]
    Query { statement: String, reason: String },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Srv(#[from] SrvError),
    #[error(
        "--dc {dc}: the cluster has no such datacenter (it has {dcs}); check the name, which is case-sensitive"
    )]
    UnknownDc { dc: String, dcs: String },
    #[error(
        "the cluster spans datacenters {dcs} and the contact points are in more than one: give --dc (the local datacenter: coordinators there, LOCAL_* consistency counted there)"
    )]
    NoLocalDc { dcs: String },
}

impl Classify for ClusterError {
    /// A missing password or an unreadable password file is reported as a failure, as before;
    /// so is everything the cluster answers, but that the table named does not exist.
    fn is_usage(&self) -> bool {
        // A TLS flag naming a file that is not a certificate or key is the command's to fix.
        match self {
            ClusterError::Tls(_)
            | ClusterError::NoLocalDc { .. }
            | ClusterError::Schema(SchemaError::NoSuchTable(_)) => true,
            ClusterError::Srv(e) => e.is_usage(),
            _ => false,
        }
    }
}

/// How to reach a cluster: contact points, credentials, data center, consistency.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Contact points: `host[:port]` (`[v6]:port`); `port` is added where none is given.
    pub hosts: Vec<String>,
    pub port: u16,
    /// For PasswordAuthenticator; the password comes from [`PASSWORD_ENV`] or `password_file`.
    pub username: Option<String>,
    /// A file whose first line is the password.
    pub password_file: Option<PathBuf>,
    /// The environment variable the password is read from ([`PASSWORD_ENV`], or
    /// [`SOURCE_PASSWORD_ENV`] for a source cluster's own login).
    pub password_env: &'static str,
    /// Prefer replicas in this data center (the local DC for LOCAL_* consistency levels).
    pub dc: Option<String>,
    /// For reads and writes.
    pub consistency: Consistency,
    /// How long to wait for the first connection.
    pub connect_timeout: Duration,
    /// TLS, when the cluster's native port requires it (`client_encryption_options`).
    pub tls: Option<TlsOptions>,
}

impl Default for ConnectOptions {
    /// 127.0.0.1:9042, no credentials, LOCAL_QUORUM, 10 s to connect.
    fn default() -> ConnectOptions {
        ConnectOptions {
            hosts: vec!["127.0.0.1".to_owned()],
            port: 9042,
            username: None,
            password_file: None,
            password_env: PASSWORD_ENV,
            dc: None,
            consistency: Consistency::LocalQuorum,
            connect_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Contact points with the default port added where none is given (`[v6]:port` also works).
pub fn contact_points(hosts: &[String], default_port: u16) -> Vec<String> {
    hosts
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .map(|h| {
            let has_port = if h.starts_with('[') {
                h.contains("]:")
            } else {
                h.matches(':').count() == 1
            };
            if has_port {
                h.to_owned()
            } else if h.contains(':') {
                format!("[{h}]:{default_port}")
            } else {
                format!("{h}:{default_port}")
            }
        })
        .collect()
}

/// The password for `username`: `CASSBULK_PASSWORD`, else the first line of `--password-file`.
fn password(args: &ConnectOptions, username: &str) -> Result<String, ClusterError> {
    if let Some(path) = &args.password_file {
        let text = std::fs::read_to_string(path).map_err(|source| ClusterError::PasswordFile {
            path: path.clone(),
            source,
        })?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    std::env::var(args.password_env).map_err(|_| ClusterError::NoPassword {
        user: username.to_owned(),
        env: args.password_env,
        flag: if args.password_env == SOURCE_PASSWORD_ENV {
            "--source-password-file"
        } else {
            "--password-file"
        },
    })
}

/// The groups of contact points to try in turn: `--hosts` as one group, or an SRV name's
/// groups, best priority first (each with its priority).
pub async fn contact_groups(
    args: &ConnectOptions,
) -> Result<Vec<(Option<u16>, Vec<String>)>, ClusterError> {
    Ok(match srv::srv_name(&args.hosts)? {
        None => vec![(None, contact_points(&args.hosts, args.port))],
        Some(name) => srv::resolve(&name)
            .await?
            .into_iter()
            .map(|(priority, hosts)| (Some(priority), hosts))
            .collect(),
    })
}

/// Opens a session: token-aware, preferring `--dc`, at `--consistency`. With an SRV name,
/// the best-priority group's hosts are the contact points; the next group is tried only when
/// none of them answers. See [`connect_local`] for the data center.
pub async fn connect(args: &ConnectOptions) -> Result<Session, ClusterError> {
    Ok(connect_local(args).await?.0)
}

/// [`connect`], and the local data center: `--dc` (which the cluster must have), or on a
/// cluster of more than one, the one the contact points are in (said on stderr); `None` on a
/// one-DC cluster without `--dc`. Every route reads and writes through it: coordinators
/// there, `LOCAL_*` consistency counted there.
pub async fn connect_local(
    args: &ConnectOptions,
) -> Result<(Session, Option<String>), ClusterError> {
    let (session, contact) = connect_groups(args).await?;
    let nodes = session.get_cluster_state().get_nodes_info().to_vec();
    let mut dcs: Vec<String> = nodes.iter().filter_map(|n| n.datacenter.clone()).collect();
    dcs.sort();
    dcs.dedup();
    if let Some(dc) = &args.dc {
        if !dcs.contains(dc) {
            return Err(ClusterError::UnknownDc {
                dc: dc.clone(),
                dcs: dcs.join(", "),
            });
        }
        return Ok((session, Some(dc.clone())));
    }
    if dcs.len() < 2 {
        return Ok((session, None));
    }
    // The contact points as addresses (a host name may stand for several).
    let mut addresses = Vec::new();
    for point in &contact {
        if let Ok(found) = tokio::net::lookup_host(point.as_str()).await {
            addresses.extend(found.map(|a| a.to_string()));
        }
    }
    let mut contact_dcs: Vec<String> = nodes
        .iter()
        .filter(|n| addresses.contains(&n.address.to_string()))
        .filter_map(|n| n.datacenter.clone())
        .collect();
    contact_dcs.sort();
    contact_dcs.dedup();
    let [dc] = contact_dcs.as_slice() else {
        return Err(ClusterError::NoLocalDc {
            dcs: dcs.join(", "),
        });
    };
    eprintln!(
        "connect: local datacenter {dc} (the contact points'; the cluster has {}): give --dc to choose another",
        dcs.join(", ")
    );
    let local = ConnectOptions {
        dc: Some(dc.clone()),
        ..args.clone()
    };
    drop(session);
    let (session, _) = connect_groups(&local).await?;
    Ok((session, Some(dc.clone())))
}

/// A session through the first group of contact points that answers, and that group.
async fn connect_groups(args: &ConnectOptions) -> Result<(Session, Vec<String>), ClusterError> {
    let groups = contact_groups(args).await?;
    let mut groups = groups.iter().peekable();
    while let Some((priority, hosts)) = groups.next() {
        match connect_to(args, hosts).await {
            Err(ClusterError::Connect { hosts, reason, .. })
                if is_unreachable(&reason) && groups.peek().is_some() =>
            {
                let next = groups.peek().and_then(|(p, _)| *p).unwrap_or_default();
                tracing::warn!(
                    "SRV priority {} ({hosts}) unreachable: {reason}; trying priority {next}",
                    priority.unwrap_or_default()
                );
            }
            done => return done.map(|session| (session, hosts.clone())),
        }
    }
    Err(ClusterError::Connect {
        hosts: args.hosts.join(","),
        reason: "no contact points".into(),
        hint: "check --hosts".into(),
    })
}

/// Whether a connection failed because nothing answered (rather than a refused login or
/// certificate, which the next group of hosts would refuse too).
fn is_unreachable(reason: &str) -> bool {
    connect_hint(reason, false) == UNREACHABLE
}

/// The hint for a connection nothing answered.
const UNREACHABLE: &str = "is Cassandra running there? check --hosts and --port";

async fn connect_to(args: &ConnectOptions, hosts: &[String]) -> Result<Session, ClusterError> {
    let mut policy = DefaultPolicy::builder().token_aware(true);
    if let Some(dc) = &args.dc {
        policy = policy.prefer_datacenter(dc.clone());
    }
    let profile = ExecutionProfile::builder()
        .consistency(args.consistency)
        .load_balancing_policy(policy.build())
        .request_timeout(Some(Duration::from_secs(30)))
        .build();
    let mut builder = SessionBuilder::new()
        .known_nodes(hosts)
        // Keyspaces and the ring only: routing stays token-aware, and the driver's own column
        // type parser, which refuses quoted UDT names such as "Address" (failing every schema
        // change on such a cluster), is not involved. cassbulk reads tables itself.
        .fetch_full_schema_metadata(false)
        .connection_timeout(args.connect_timeout)
        // A node that hangs (a long GC pause, a frozen process) would otherwise hold up every
        // statement preparation for a minute: the driver prepares on all nodes and only the
        // keepalive notices a connection that never answers. With these, about 20 s at most.
        .keepalive_interval(Duration::from_secs(5))
        .keepalive_timeout(Duration::from_secs(15))
        .default_execution_profile_handle(profile.into_handle());
    if let Some(user) = &args.username {
        builder = builder.user(user.clone(), password(args, user)?);
    }
    if let Some(tls) = &args.tls {
        builder = builder.tls_context(Some(crate::tls::client_config(tls)?));
    }
    builder.build().await.map_err(|e| {
        let reason = e.to_string();
        ClusterError::Connect {
            hosts: hosts.join(","),
            hint: {
                let hint = connect_hint(&reason, args.tls.is_some());
                // A source cluster with its own login and TLS: its flags are --source-*.
                if args.password_env == SOURCE_PASSWORD_ENV {
                    hint.replace("--tls", "--source-tls")
                        .replace("--username", "--source-username")
                        .replace("--password-file", "--source-password-file")
                        .replace(PASSWORD_ENV, SOURCE_PASSWORD_ENV)
                } else {
                    hint.to_owned()
                }
            },
            reason,
        }
    })
}

/// What to check, from why a connection failed.
fn connect_hint(reason: &str, tls: bool) -> &'static str {
    if reason.contains("Authentication") || reason.contains("bad credentials") {
        "check --username and the password (CASSBULK_PASSWORD or --password-file)"
    } else if reason.contains("CertificateRequired") {
        "the cluster requires a client certificate: give --tls-cert and --tls-key"
    } else if tls
        && (reason.contains("Connection reset by peer") || reason.contains("already broken"))
    {
        "the node closed the TLS connection: if it requires a client certificate, give --tls-cert and --tls-key"
    } else if reason.contains("certificate expired") || reason.contains("not valid before") {
        "the node's certificate is outside its validity dates: renew it on the node, or check this machine's clock"
    } else if reason.contains("peer certificate") {
        "the node's certificate is not trusted: check --tls-ca, and --tls-server-name when the certificate names a host rather than the node's address"
    } else if !tls
        && (reason.contains("Connection reset by peer") || reason.contains("already broken"))
    {
        "a node that requires TLS drops plaintext connections: try --tls with --tls-ca"
    } else if tls && (reason.contains("corrupt message") || reason.contains("InvalidContentType")) {
        "the node does not speak TLS on this port: leave out the --tls flags"
    } else if reason.contains("requires authentication") || reason.contains("Authenticator") {
        "the cluster requires a password: give --username (password in CASSBULK_PASSWORD or --password-file)"
    } else {
        UNREACHABLE
    }
}

fn query_error(statement: &str) -> impl Fn(&dyn std::fmt::Display) -> ClusterError + '_ {
    move |e| ClusterError::Query {
        statement: statement.to_owned(),
        reason: e.to_string(),
    }
}

/// The `CREATE` statements of a keyspace, its types, tables, indexes and views, as the
/// cluster describes them (server-side `DESCRIBE KEYSPACE`, Cassandra 4.0 and later), in an
/// order that creates each thing after what it uses.
pub async fn describe_keyspace(
    session: &Session,
    keyspace: &str,
) -> Result<Vec<String>, ClusterError> {
    let statement = format!("DESCRIBE KEYSPACE {}", quote_identifier(keyspace));
    let result = session
        .query_unpaged(statement.as_str(), ())
        .await
        .map_err(|e| query_error(&statement)(&e))?
        .into_rows_result()
        .map_err(|e| query_error(&statement)(&e))?;
    let rows = result
        .rows::<(String, String, String, String)>()
        .map_err(|e| query_error(&statement)(&e))?;
    let mut out = Vec::new();
    for row in rows {
        let (_, _, _, create) = row.map_err(|e| query_error(&statement)(&e))?;
        out.push(create);
    }
    Ok(out)
}

/// Whether `keyspace` exists.
pub async fn keyspace_exists(session: &Session, keyspace: &str) -> Result<bool, ClusterError> {
    let statement = "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?";
    let result = session
        .query_unpaged(statement, (keyspace,))
        .await
        .map_err(|e| query_error(statement)(&e))?
        .into_rows_result()
        .map_err(|e| query_error(statement)(&e))?;
    Ok(result.rows_num() > 0)
}

/// The cluster's partitioner class name, from `system.local`.
pub async fn partitioner(session: &Session) -> Result<String, ClusterError> {
    const QUERY: &str = "SELECT partitioner FROM system.local";
    let err = query_error(QUERY);
    let rows: Vec<(Option<String>,)> = session
        .query_unpaged(QUERY, ())
        .await
        .map_err(|e| err(&e))?
        .into_rows_result()
        .map_err(|e| err(&e))?
        .rows::<(Option<String>,)>()
        .map_err(|e| err(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    Ok(rows
        .into_iter()
        .find_map(|r| r.0)
        .unwrap_or_else(|| "org.apache.cassandra.dht.Murmur3Partitioner".to_owned()))
}

/// A table's `gc_grace_seconds`, from `system_schema.tables`.
pub async fn gc_grace_seconds(session: &Session, name: &TableName) -> Result<i64, ClusterError> {
    const QUERY: &str = "SELECT gc_grace_seconds FROM system_schema.tables \
         WHERE keyspace_name = ? AND table_name = ?";
    let err = query_error(QUERY);
    let rows: Vec<(i32,)> = session
        .query_unpaged(QUERY, (&name.keyspace, &name.table))
        .await
        .map_err(|e| err(&e))?
        .into_rows_result()
        .map_err(|e| err(&e))?
        .rows::<(i32,)>()
        .map_err(|e| err(&e))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    Ok(rows.first().map_or(864_000, |r| i64::from(r.0)))
}

/// Reads a table's schema, with its keyspace's user-defined types, from `system_schema`.
pub async fn read_table_schema(
    session: &Session,
    name: &TableName,
) -> Result<TableSchema, ClusterError> {
    const COLUMNS: &str = "SELECT column_name, clustering_order, kind, position, type \
         FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?";
    const TYPES: &str = "SELECT type_name, field_names, field_types \
         FROM system_schema.types WHERE keyspace_name = ?";
    let err = query_error(COLUMNS);
    let columns: Vec<ColumnRow> = session
        .query_unpaged(COLUMNS, (&name.keyspace, &name.table))
        .await
        .map_err(|e| err(&e))?
        .into_rows_result()
        .map_err(|e| err(&e))?
        .rows::<(String, String, String, i32, String)>()
        .map_err(|e| err(&e))?
        .map(|r| {
            r.map(
                |(column_name, clustering_order, kind, position, type_name)| ColumnRow {
                    column_name,
                    clustering_order,
                    kind,
                    position,
                    type_name,
                },
            )
        })
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    let err = query_error(TYPES);
    let types: Vec<TypeRow> = session
        .query_unpaged(TYPES, (&name.keyspace,))
        .await
        .map_err(|e| err(&e))?
        .into_rows_result()
        .map_err(|e| err(&e))?
        .rows::<(String, Vec<String>, Vec<String>)>()
        .map_err(|e| err(&e))?
        .map(|r| {
            r.map(|(type_name, field_names, field_types)| TypeRow {
                type_name,
                field_names,
                field_types,
            })
        })
        .collect::<Result<_, _>>()
        .map_err(|e| err(&e))?;
    Ok(build_table_schema(name, &columns, &types)?)
}

/// A value bound to a statement: serialized bytes (from [`crate::model::Value::encode`]) bound
/// as they are, NULL (which writes a tombstone), or unset (which leaves the column untouched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bind {
    Unset,
    Null,
    Value(Vec<u8>),
}

impl Bind {
    /// The bytes it puts on the wire, for batch sizing.
    pub fn len(&self) -> usize {
        match self {
            Bind::Value(v) => v.len() + 4,
            _ => 4,
        }
    }

    pub fn is_empty(&self) -> bool {
        !matches!(self, Bind::Value(v) if !v.is_empty())
    }
}

impl SerializeValue for Bind {
    fn serialize<'b>(
        &self,
        _typ: &ColumnType,
        writer: CellWriter<'b>,
    ) -> Result<WrittenCellProof<'b>, SerializationError> {
        match self {
            Bind::Value(bytes) => writer.set_value(bytes).map_err(SerializationError::new),
            Bind::Null => Ok(writer.set_null()),
            Bind::Unset => Ok(writer.set_unset()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_points_get_the_default_port_only_when_they_have_none() {
        let hosts = ["a", "b:9043", "::1", "[::1]:9044", " "].map(String::from);
        assert_eq!(
            contact_points(&hosts, 9042),
            ["a:9042", "b:9043", "[::1]:9042", "[::1]:9044"]
        );
    }
}
