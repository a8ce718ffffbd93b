//! `cassbulk copy-schema`: a keyspace's user types, tables and indexes recreated on another
//! cluster, so a migration can start there. The CQL comes from the source cluster's own
//! `DESCRIBE KEYSPACE` (Cassandra 4.0 and later describe server-side), or from the
//! `schema.cql` files `nodetool snapshot` writes beside the SSTables: a migration can start from
//! snapshots alone. Every `CREATE` becomes `CREATE ... IF NOT EXISTS`, so running it twice
//! changes nothing; `--to-keyspace` renames the keyspace; `--dry-run` prints the statements.
//! The statement rewriting is pure and unit-tested; running them is [`run`].

use thiserror::Error;

use crate::cluster::{self, ClusterError, ConnectOptions};
use crate::exit::Classify;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SchemaCopyError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("keyspace {keyspace} has nothing to copy{hint}")]
    Empty { keyspace: String, hint: String },
    #[error("--to-keyspace renames one keyspace; {0} were given")]
    Rename(usize),
    #[error(
        "keyspace {keyspace} does not exist on the target; create it first with the replication the new cluster needs, e.g. CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'NetworkTopologyStrategy', '<dc>': 3}}"
    )]
    NoKeyspace { keyspace: String },
    #[error("the target refused `{statement}`: {reason}")]
    Apply { statement: String, reason: String },
    #[error(transparent)]
    Dump(#[from] crate::source::pg_dump::DumpError),
    #[error("--from-pgdump makes the tables of one keyspace; {0} were given")]
    DumpKeyspaces(usize),
    #[error(
        "--from-pgdump: no table can be made for {}; leave {} out with --tables, or fix what is said",
        .0.iter().map(|(t, why)| format!("{t} ({why})")).collect::<Vec<_>>().join("; "),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    DumpTables(Vec<(String, String)>),
    #[error(
        "--from-pgdump: tables {0} and {1} of the dump would both be CQL table {2}; name the ones to create with --tables"
    )]
    DumpSameName(String, String, String),
    #[error("--tables: the dump has no table {0}; it has {1}")]
    DumpNoTable(String, String),
}

impl Classify for SchemaCopyError {
    fn is_usage(&self) -> bool {
        matches!(
            self,
            SchemaCopyError::Read { .. }
                | SchemaCopyError::Empty { .. }
                | SchemaCopyError::Rename(_)
                | SchemaCopyError::NoKeyspace { .. }
                | SchemaCopyError::DumpKeyspaces(_)
                | SchemaCopyError::DumpTables(_)
                | SchemaCopyError::DumpSameName(..)
                | SchemaCopyError::DumpNoTable(..)
        ) || matches!(self, SchemaCopyError::Cluster(e) if e.is_usage())
            || matches!(self, SchemaCopyError::Dump(e) if e.is_usage())
    }
}

/// Where the schema comes from.
pub enum From {
    Cluster(Box<ConnectOptions>),
    /// `schema.cql` files (a snapshot's).
    Files(Vec<String>),
    /// A pg_dump's table definitions, made CQL tables in the one keyspace named.
    PgDump(std::path::PathBuf),
}

/// What to copy, and where to.
pub struct CopySchema {
    pub keyspaces: Vec<String>,
    pub tables: Vec<String>,
    pub from: From,
    pub to_keyspace: Option<String>,
    pub dry_run: bool,
    pub target: ConnectOptions,
}

/// One statement of a schema: what it creates, in which keyspace, named what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    /// `KEYSPACE`, `TYPE`, `TABLE`, `INDEX`, ... (upper case).
    pub kind: String,
    pub keyspace: String,
    pub name: String,
    pub cql: String,
}

/// The `CREATE` statements of a CQL script (comments and other statements left out), each
/// with what it creates. Splits on `;` outside quotes.
pub fn parse_script(script: &str) -> Vec<Create> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for line in script.lines() {
        let line = if quote.is_none() {
            line.split("--").next().unwrap_or("")
        } else {
            line
        };
        for ch in line.chars() {
            match quote {
                Some(q) if ch == q => quote = None,
                Some(_) => {}
                None if ch == '\'' || ch == '"' => quote = Some(ch),
                None if ch == ';' => {
                    statements.push(std::mem::take(&mut current));
                    continue;
                }
                None => {}
            }
            current.push(ch);
        }
        current.push('\n');
    }
    statements.push(current);
    let dropped = dropped_columns(&statements);
    statements
        .iter()
        .filter_map(|s| describe_create(s))
        .map(|mut c| {
            if c.kind == "TABLE" {
                for (table, column) in &dropped {
                    if *table == (c.keyspace.clone(), c.name.clone()) {
                        c.cql = without_column(&c.cql, column);
                    }
                }
            }
            c
        })
        .collect()
}

/// The columns a snapshot's `schema.cql` ends with dropped, by (keyspace, table): it records
/// each drop as `ALTER TABLE ks.t DROP col USING TIMESTAMP t` after the `CREATE TABLE` that
/// still lists the column, and a column added again since as `ALTER TABLE ks.t ADD col type`.
fn dropped_columns(statements: &[String]) -> Vec<((String, String), String)> {
    let mut dropped: Vec<((String, String), String)> = Vec::new();
    for statement in statements {
        let words: Vec<&str> = statement.split_whitespace().collect();
        let is = |i: usize, w: &str| words.get(i).is_some_and(|x| x.eq_ignore_ascii_case(w));
        if !(is(0, "ALTER") && is(1, "TABLE")) {
            continue;
        }
        let (Some(table), Some(column)) = (words.get(2), words.get(4)) else {
            continue;
        };
        let Some((ks, name)) = table.split_once('.') else {
            continue;
        };
        let key = ((unquote(ks), unquote(name)), unquote(column));
        if is(3, "DROP") {
            dropped.push(key);
        } else if is(3, "ADD") {
            dropped.retain(|d| *d != key);
        }
    }
    dropped
}

/// A `CREATE TABLE` as DESCRIBE writes it (a column per line) without `column`'s line.
fn without_column(cql: &str, column: &str) -> String {
    let mut lines: Vec<&str> = cql.lines().collect();
    let at = lines.iter().skip(1).position(|l| {
        let first = l.split_whitespace().next().unwrap_or("");
        unquote(first) == column && !l.trim_start().starts_with(')')
    });
    let Some(at) = at.map(|i| i + 1) else {
        return cql.to_owned();
    };
    lines.remove(at);
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    // The last column loses its comma when the one after it went.
    if out.get(at).is_some_and(|l| l.trim_start().starts_with(')'))
        && let Some(prev) = out.get_mut(at - 1)
        && let Some(stripped) = prev.trim_end().strip_suffix(',')
    {
        *prev = stripped.to_owned();
    }
    out.join("\n")
}

/// What a `CREATE ...` statement creates; `None` for anything else.
pub fn describe_create(cql: &str) -> Option<Create> {
    let cql = cql.trim().trim_end_matches(';').trim_end();
    let words: Vec<&str> = cql.split_whitespace().collect();
    if !words.first()?.eq_ignore_ascii_case("CREATE") {
        return None;
    }
    let mut i = 1;
    let mut kind = words.get(i)?.to_ascii_uppercase();
    if kind == "CUSTOM" || kind == "MATERIALIZED" {
        i += 1;
        kind = format!("{kind} {}", words.get(i)?.to_ascii_uppercase());
    }
    i += 1;
    if words.get(i)?.eq_ignore_ascii_case("IF") {
        i += 3;
    }
    let target = words.get(i)?.split('(').next()?;
    let (keyspace, name) = match kind.as_str() {
        "KEYSPACE" => (target.to_owned(), target.to_owned()),
        // CREATE INDEX name ON ks.table (...)
        k if k.ends_with("INDEX") => {
            let on = words.iter().position(|w| w.eq_ignore_ascii_case("ON"))?;
            let table = words.get(on + 1)?.split('(').next()?;
            (table.split('.').next()?.to_owned(), target.to_owned())
        }
        _ => {
            let (ks, name) = target.split_once('.')?;
            (ks.to_owned(), name.to_owned())
        }
    };
    Some(Create {
        kind,
        keyspace: unquote(&keyspace),
        name: unquote(name.rsplit('.').next().unwrap_or(&name)),
        cql: cql.to_owned(),
    })
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_owned()
}

/// The statement made idempotent (`IF NOT EXISTS`) and, with `rename`, moved to another
/// keyspace (its own name and qualified names in it).
/// The dump's tables (those `--tables` names, by name or `schema.name`) as CQL tables in the
/// job's one keyspace; refuses, before anything is created, tables no CQL table can be made
/// for and two tables that would share a name.
fn dump_tables(path: &std::path::Path, job: &CopySchema) -> Result<Vec<Create>, SchemaCopyError> {
    use crate::source::pg_dump::{Dump, cql_tables::cql_tables};
    let [keyspace] = job.keyspaces.as_slice() else {
        return Err(SchemaCopyError::DumpKeyspaces(job.keyspaces.len()));
    };
    let dump = Dump::open(path)?;
    let tables = cql_tables(&dump, keyspace);
    for wanted in &job.tables {
        if !tables
            .iter()
            .any(|t| &t.name == wanted || &t.source == wanted)
        {
            let names: Vec<&str> = tables.iter().map(|t| t.source.as_str()).collect();
            return Err(SchemaCopyError::DumpNoTable(
                wanted.clone(),
                names.join(", "),
            ));
        }
    }
    let chosen: Vec<_> = tables
        .into_iter()
        .filter(|t| {
            job.tables.is_empty() || job.tables.iter().any(|w| *w == t.name || *w == t.source)
        })
        .collect();
    let refused: Vec<(String, String)> = chosen
        .iter()
        .filter_map(|t| {
            t.cql
                .as_ref()
                .err()
                .map(|why| (t.source.clone(), why.clone()))
        })
        .collect();
    if !refused.is_empty() {
        return Err(SchemaCopyError::DumpTables(refused));
    }
    for (i, a) in chosen.iter().enumerate() {
        if let Some(b) = chosen[i + 1..].iter().find(|b| b.name == a.name) {
            return Err(SchemaCopyError::DumpSameName(
                a.source.clone(),
                b.source.clone(),
                a.name.clone(),
            ));
        }
    }
    if chosen.is_empty() {
        return Err(SchemaCopyError::Empty {
            keyspace: keyspace.clone(),
            hint: " in the dump: it defines no table".into(),
        });
    }
    Ok(chosen
        .into_iter()
        .map(|t| Create {
            kind: "TABLE".into(),
            keyspace: keyspace.clone(),
            name: t.name,
            cql: t.cql.unwrap_or_default(),
        })
        .collect())
}

pub fn rewrite(create: &Create, rename: Option<&str>) -> String {
    let mut cql = create.cql.clone();
    let upper = cql.to_ascii_uppercase();
    if !upper.contains(" IF NOT EXISTS ") {
        let at = upper
            .find(&format!(" {} ", create.kind))
            .map(|i| i + create.kind.len() + 2);
        if let Some(at) = at {
            cql.insert_str(at, "IF NOT EXISTS ");
        }
    }
    if let Some(to) = rename {
        let from = &create.keyspace;
        for (old, new) in [
            (format!("{from}."), format!("{to}.")),
            (format!("\"{from}\"."), format!("{to}.")),
        ] {
            cql = cql.replace(&old, &new);
        }
        if create.kind == "KEYSPACE" {
            cql = cql.replacen(&format!("EXISTS {from}"), &format!("EXISTS {to}"), 1);
        }
    }
    cql
}

/// The statements to run on the target, in order, for `job`.
pub async fn statements(job: &CopySchema) -> Result<Vec<Create>, SchemaCopyError> {
    let mut creates = Vec::new();
    match &job.from {
        From::Cluster(options) => {
            let session = cluster::connect(options).await?;
            for ks in &job.keyspaces {
                let described = cluster::describe_keyspace(&session, ks).await?;
                creates.extend(described.iter().filter_map(|cql| describe_create(cql)));
            }
        }
        From::Files(files) => {
            for file in files {
                let script =
                    std::fs::read_to_string(file).map_err(|source| SchemaCopyError::Read {
                        path: file.clone(),
                        source,
                    })?;
                creates.extend(parse_script(&script));
            }
        }
        From::PgDump(path) => return dump_tables(path, job),
    }
    // With --tables: every type (tables may use them), the tables named, their indexes.
    let wanted = |c: &Create| {
        let named = |t: &String| {
            c.name == *t || c.cql.contains(&format!(".{t} ")) || c.cql.contains(&format!(".{t}("))
        };
        job.keyspaces.contains(&c.keyspace)
            && match c.kind.as_str() {
                "TABLE" | "MATERIALIZED VIEW" => {
                    job.tables.is_empty() || job.tables.contains(&c.name)
                }
                k if k.ends_with("INDEX") => job.tables.is_empty() || job.tables.iter().any(named),
                _ => true,
            }
    };
    creates.retain(wanted);
    for ks in &job.keyspaces {
        if !creates
            .iter()
            .any(|c| c.keyspace == *ks && c.kind != "KEYSPACE")
        {
            return Err(SchemaCopyError::Empty {
                keyspace: ks.clone(),
                hint: match &job.from {
                    From::Files(_) => " in the files given".into(),
                    From::Cluster(_) => " on the source cluster (check the name)".into(),
                    From::PgDump(_) => " in the dump".into(),
                },
            });
        }
    }
    Ok(creates)
}

/// Copies the schema; returns the statements run (or, with `dry_run`, to run).
pub async fn run(job: &CopySchema) -> Result<Vec<String>, SchemaCopyError> {
    if job.to_keyspace.is_some() && job.keyspaces.len() != 1 {
        return Err(SchemaCopyError::Rename(job.keyspaces.len()));
    }
    let creates = statements(job).await?;
    let cql: Vec<(bool, String)> = creates
        .iter()
        .map(|c| (c.kind == "KEYSPACE", rewrite(c, job.to_keyspace.as_deref())))
        .collect();
    if job.dry_run {
        return Ok(cql.into_iter().map(|(_, s)| s).collect());
    }
    let session = cluster::connect(&job.target).await?;
    let has_keyspace = cql.iter().any(|(k, _)| *k);
    if !has_keyspace {
        let ks = job
            .to_keyspace
            .clone()
            .unwrap_or_else(|| job.keyspaces[0].clone());
        if !cluster::keyspace_exists(&session, &ks).await? {
            return Err(SchemaCopyError::NoKeyspace { keyspace: ks });
        }
    }
    let mut run = Vec::new();
    for (_, statement) in cql {
        session
            .query_unpaged(statement.as_str(), ())
            .await
            .map_err(|e| SchemaCopyError::Apply {
                statement: statement.clone(),
                reason: e.to_string(),
            })?;
        run.push(statement);
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshots_schema_cql_gives_its_type_and_table_made_idempotent_and_renamed() {
        let script = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sstables/nb/everything/schema.cql"
        ))
        .unwrap();
        let creates = parse_script(&script);
        let kinds: Vec<(&str, &str, &str)> = creates
            .iter()
            .map(|c| (c.kind.as_str(), c.keyspace.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [("TYPE", "fx", "address"), ("TABLE", "fx", "everything")]
        );
        let table = rewrite(&creates[1], Some("fx2"));
        assert!(
            table.starts_with("CREATE TABLE IF NOT EXISTS fx2.everything ("),
            "{table}"
        );
        assert!(
            table.contains("CLUSTERING ORDER BY (c1 ASC, c2 DESC)"),
            "{table}"
        );
        assert!(!table.contains("fx."), "{table}");
    }

    #[test]
    fn columns_a_snapshot_dropped_are_left_out_of_its_table_and_those_added_again_kept() {
        let script = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/sstables/more/dropped/schema.cql"
        ))
        .unwrap();
        let creates = parse_script(&script);
        assert_eq!(creates.len(), 1);
        let table = &creates[0].cql;
        assert!(!table.contains("gone"), "{table}");
        assert!(table.contains("    back text\n) WITH"), "{table}");
        assert!(table.contains("    v text,\n"), "{table}");
    }

    #[test]
    fn create_statements_of_every_kind_are_recognised_and_others_left_out() {
        let c = describe_create("CREATE KEYSPACE ks WITH replication = {'class': 'x'}").unwrap();
        assert_eq!((c.kind.as_str(), c.keyspace.as_str()), ("KEYSPACE", "ks"));
        assert_eq!(
            rewrite(&c, Some("other")),
            "CREATE KEYSPACE IF NOT EXISTS other WITH replication = {'class': 'x'}"
        );
        let i = describe_create("CREATE INDEX by_name ON ks.users (name)").unwrap();
        assert_eq!(
            (i.kind.as_str(), i.keyspace.as_str(), i.name.as_str()),
            ("INDEX", "ks", "by_name")
        );
        let t = describe_create("CREATE TABLE IF NOT EXISTS \"Ks\".t (k int PRIMARY KEY)").unwrap();
        assert_eq!((t.keyspace.as_str(), t.name.as_str()), ("Ks", "t"));
        assert_eq!(rewrite(&t, None), t.cql);
        assert!(describe_create("INSERT INTO ks.t (k) VALUES (1)").is_none());
        let script = "-- a comment; with a semicolon\nCREATE TABLE ks.a (k text PRIMARY KEY) WITH comment = 'x;y';\nCREATE TABLE ks.b (k int PRIMARY KEY);";
        let names: Vec<String> = parse_script(script).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["a", "b"]);
    }
}
