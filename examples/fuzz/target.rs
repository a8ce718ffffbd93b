//! What the fuzz harness runs on each input, and what `tests/fuzz_regressions.rs` runs on every
//! input the harness kept: a source's whole reading path as `load` runs it (open, plan against the
//! fixture's table, every event), without a cluster.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cassbulk::model::schema::{ColumnRow, TypeRow, build_table_schema};
use cassbulk::model::schema_cql::table_from_cql;
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
    /// Cassandra 3.0 and 3.11's big SSTables, `ma` to `me`.
    Sstable3x,
    /// Cassandra 4.0 and 5.0's: big `nb` and `oa`, BTI `da`.
    Sstable5,
}

pub const READERS: [Reader; 6] = [
    Reader::PgCustom,
    Reader::PgDirectory,
    Reader::PgPlain,
    Reader::Parquet,
    Reader::Sstable3x,
    Reader::Sstable5,
];

impl Reader {
    pub fn name(self) -> &'static str {
        match self {
            Reader::PgCustom => "pg-custom",
            Reader::PgDirectory => "pg-directory",
            Reader::PgPlain => "pg-plain",
            Reader::Sstable3x => "sstable-3x",
            Reader::Sstable5 => "sstable-5",
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
            Reader::Sstable3x | Reader::Sstable5 => "sstables",
            Reader::PgPlain => "input.sql",
            Reader::Parquet => "input.parquet",
        }
    }

    /// Whether an input is a folder of files (a directory archive, an SSTable's components).
    pub fn is_folder(self) -> bool {
        matches!(
            self,
            Reader::PgDirectory | Reader::Sstable3x | Reader::Sstable5
        )
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
            Reader::Sstable3x => {
                let mut seeds = Vec::new();
                for letter in ["ma", "mb", "mc", "md", "me"] {
                    let dir = fixtures.join("sstables-3x").join(letter);
                    let Ok(entries) = std::fs::read_dir(&dir) else {
                        continue;
                    };
                    let mut found: Vec<PathBuf> = entries
                        .map(|e| e.unwrap().path())
                        .filter(|p| {
                            p.is_dir()
                                && p.file_name()
                                    .and_then(|n| n.to_str())
                                    .is_some_and(|n| n.starts_with("every_type"))
                        })
                        .collect();
                    found.sort();
                    seeds.extend(found);
                }
                seeds
            }
            Reader::Sstable5 => ["nb", "oa", "da"]
                .iter()
                .map(|f| fixtures.join("sstables").join(f).join("everything"))
                .collect(),
        }
    }

    /// The fixture's table, built once per run: the files it comes from are read only then.
    fn schema(self) -> Arc<TableSchema> {
        static BUILT: OnceLock<Mutex<HashMap<&'static str, Arc<TableSchema>>>> = OnceLock::new();
        let built = BUILT.get_or_init(Default::default);
        if let Some(schema) = built.lock().unwrap().get(self.name()) {
            return schema.clone();
        }
        let schema = self.build_schema();
        built.lock().unwrap().insert(self.name(), schema.clone());
        schema
    }

    fn build_schema(self) -> Arc<TableSchema> {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let from_cql = |file: PathBuf, table: &str| {
            let script = std::fs::read_to_string(file)
                .unwrap()
                .replace("{{keyspace}}", "fx");
            let name = TableName::parse(table).unwrap();
            Arc::new(table_from_cql(&script, &name).unwrap())
        };
        match self {
            Reader::Sstable3x => {
                return from_cql(
                    fixtures.join("sstables-3x/me/schema-every_type.cql"),
                    "legacy.every_type",
                );
            }
            Reader::Sstable5 => {
                return from_cql(fixtures.join("sstables/schema.cql"), "fx.everything");
            }
            _ => {}
        }
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
            // SSTables carry their own write times and TTLs.
            Reader::Sstable3x | Reader::Sstable5 => MappingOptions::default(),
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
