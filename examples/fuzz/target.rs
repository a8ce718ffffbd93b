//! What the fuzz harness runs on each input, and what `tests/fuzz_regressions.rs` runs on every
//! input the harness kept: a source's whole reading path as `load` runs it (open, plan against the
//! fixture's table, every event), without a cluster.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cassbulk::model::schema::{ColumnRow, TypeRow, build_table_schema};
use cassbulk::model::{TableName, TableSchema};
use cassbulk::plan::MappingOptions;
use cassbulk::source::{OpenOptions, Source, SourceError};

/// A reader of input, with the fixtures it starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    PgCustom,
    PgDirectory,
    PgPlain,
    Parquet,
}

pub const READERS: [Reader; 4] = [
    Reader::PgCustom,
    Reader::PgDirectory,
    Reader::PgPlain,
    Reader::Parquet,
];

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Reader::PgCustom => "pg-custom",
            Reader::PgDirectory => "pg-directory",
            Reader::PgPlain => "pg-plain",
            Reader::Parquet => "parquet",
        }
    }

    pub fn parse(name: &str) -> Option<Reader> {
        READERS.into_iter().find(|r| r.name() == name)
    }

    /// How an input of this reader is named on disk (a directory archive is a folder).
    pub fn file_name(self) -> &'static str {
        match self {
            Reader::PgCustom => "input.dump",
            Reader::PgDirectory => "input.dir",
            Reader::PgPlain => "input.sql",
            Reader::Parquet => "input.parquet",
        }
    }

    /// The fixtures a run starts from.
    pub fn seeds(self) -> Vec<PathBuf> {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        match self {
            Reader::PgCustom => vec![fixtures.join("accounts/accounts.dump")],
            Reader::PgDirectory => vec![fixtures.join("accounts/accounts.dir")],
            Reader::PgPlain => vec![
                fixtures.join("accounts/accounts.sql"),
                fixtures.join("accounts/accounts.inserts.sql"),
            ],
            Reader::Parquet => ["18", "19", "20"]
                .iter()
                .map(|d| {
                    fixtures.join(format!(
                        "profile_features/dt=2026-11-{d}/part-00000.parquet"
                    ))
                })
                .collect(),
        }
    }

    fn schema(self) -> Arc<TableSchema> {
        let col = |name: &str, kind: &str, ty: &str| ColumnRow {
            column_name: name.into(),
            clustering_order: "none".into(),
            kind: kind.into(),
            position: if kind == "partition_key" { 0 } else { -1 },
            type_name: ty.into(),
        };
        let (table, columns, types) = match self {
            Reader::Parquet => (
                "ks.profile_features",
                vec![
                    col("user_id", "partition_key", "text"),
                    col("top_genres", "regular", "list<text>"),
                    col("genre_affinity", "regular", "map<text, int>"),
                    col("followed_artists", "regular", "set<text>"),
                    col("location", "regular", "frozen<geo_location>"),
                    col("score", "regular", "decimal"),
                    col("updated_at", "regular", "timestamp"),
                ],
                vec![TypeRow {
                    type_name: "geo_location".into(),
                    field_names: vec!["country".into(), "city".into()],
                    field_types: vec!["text".into(), "text".into()],
                }],
            ),
            _ => (
                "ks.accounts",
                vec![
                    col("username", "partition_key", "text"),
                    col("email", "regular", "text"),
                    col("country", "regular", "text"),
                    col("created", "regular", "timestamp"),
                    col("last_updated", "regular", "timestamp"),
                    col("premium", "regular", "boolean"),
                    col("accepted_licences", "regular", "set<text>"),
                    col("bio", "regular", "text"),
                    col("user_id", "regular", "uuid"),
                    col("birth_year", "regular", "smallint"),
                    col("balance", "regular", "decimal"),
                    col("login_count", "regular", "bigint"),
                ],
                vec![],
            ),
        };
        let name = TableName::parse(table).unwrap();
        Arc::new(build_table_schema(&name, &columns, &types).unwrap())
    }

    fn mapping(self) -> MappingOptions {
        match self {
            Reader::Parquet => MappingOptions {
                writetime_column: Some("updated_at".into()),
                ttl_column: Some("ttl_seconds".into()),
                ..MappingOptions::default()
            },
            _ => MappingOptions {
                writetime_column: Some("last_updated".into()),
                ..MappingOptions::default()
            },
        }
    }
}

/// How reading an input ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Read to the end: this many events (rows, batches, rejects).
    Read(usize),
    /// Refused with an error of the reader's own.
    Refused(String),
    /// A decoder panicked, and cassbulk turned it into a "damaged" error.
    Damaged(String),
}

impl Outcome {
    /// The kind of outcome and the error without its numbers: inputs with a new signature
    /// join the harness's corpus.
    pub fn signature(&self) -> String {
        let strip =
            |s: &str| -> String { s.chars().filter(|c| !c.is_ascii_digit()).take(70).collect() };
        match self {
            Outcome::Read(_) => "read".into(),
            Outcome::Refused(e) => format!("refused: {}", strip(e)),
            Outcome::Damaged(e) => format!("damaged: {}", strip(e)),
        }
    }
}

fn outcome(e: SourceError) -> Outcome {
    let text = e.to_string();
    if text.contains("on data the decoder cannot handle") {
        Outcome::Damaged(text)
    } else {
        Outcome::Refused(text)
    }
}

/// Reads `path` as `reader`'s input from start to end. It panics only if cassbulk lets a panic
/// escape.
pub fn read(reader: Reader, path: &Path) -> Outcome {
    let name = path.to_str().unwrap();
    let source = match Source::open(name, &OpenOptions::default()) {
        Ok(s) => s,
        Err(e) => return outcome(e),
    };
    let planned = match source.plan(reader.schema(), &reader.mapping()) {
        Ok(p) => p,
        Err(e) => return outcome(e),
    };
    let started = match planned.start() {
        Ok(s) => s,
        Err(e) => return outcome(e),
    };
    let mut events = 0;
    for event in started.events {
        match event {
            Ok(_) => events += 1,
            Err(e) => return outcome(e),
        }
    }
    Outcome::Read(events)
}
