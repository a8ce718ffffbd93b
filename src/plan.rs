//! From command-line flags to a validated mapping, shared by every source: which source column
//! feeds which CQL column (`--map`), where write times and TTLs come from and what SQL NULL
//! means. Job files will be read here too. How a mapped row becomes cells is [`crate::intake`]'s.

use thiserror::Error;

use crate::intake::{NullMode, TtlOrigin};
use crate::model::literal::parse_timestamp_micros;
use crate::model::{ColumnKind, TableSchema};

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanError {
    #[error("--map {0}: write each pair as cql_column=source_column")]
    MapSyntax(String),
    #[error(
        "--map names the CQL column {column}, which {table} does not have (its columns: {columns})"
    )]
    NoSuchCqlColumn {
        column: String,
        table: String,
        columns: String,
    },
    #[error(
        "{what} names the source column {column}, which {source_name} does not have (its columns: {columns})"
    )]
    NoSuchSourceColumn {
        what: String,
        column: String,
        source_name: String,
        columns: String,
    },
    #[error(
        "primary key column {column} of {table} has no source column; map one with --map {column}=SOURCE_COLUMN"
    )]
    UnmappedKey { column: String, table: String },
    #[error(
        "{source_name}: source column(s) {columns} fill no column of {table}, so their values would be dropped: map each with --map CQL_COLUMN=SOURCE_COLUMN, or say they are meant to be left out with --ignore-columns {columns}"
    )]
    DroppedSourceColumns {
        source_name: String,
        table: String,
        columns: String,
    },
    #[error(
        "--strict: column(s) {columns} of {table} are filled by no column of {source_name}; map them with --map CQL_COLUMN=SOURCE_COLUMN, or leave out --strict to keep what the table holds there"
    )]
    StrictUnfilled {
        source_name: String,
        table: String,
        columns: String,
    },
    #[error(
        "CQL column {column} matches the source columns {candidates} (CQL folds unquoted names to lower case): choose one with --map {column}=SOURCE_COLUMN and leave the others out with --ignore-columns"
    )]
    AmbiguousColumn { column: String, candidates: String },
    #[error(
        "--ignore-columns {source_column}: that source column is used {used}; leave it out of one of the two"
    )]
    IgnoredButMapped { source_column: String, used: String },
    #[error(
        "--writetime {0}: give RFC 3339 (2026-11-18T10:30:00.123456Z) or microseconds since the epoch"
    )]
    WriteTime(String),
    #[error(
        "{source_name} carries no snapshot time to use as the write time: add --writetime TIME (RFC 3339 or microseconds) or --writetime-column COLUMN"
    )]
    NoWriteTime { source_name: String },
}

/// How source columns become CQL columns, with write times and TTLs: the part of `load` and
/// `verify` that every source shares.
#[derive(Debug, Clone, Default)]
pub struct MappingOptions {
    /// `(cql_column, source_column)` pairs from `--map`.
    pub map: Vec<(String, String)>,
    pub writetime_column: Option<String>,
    /// `--writetime`, in microseconds since the epoch.
    pub writetime: Option<i64>,
    pub ttl: Option<u32>,
    pub ttl_column: Option<String>,
    pub nulls: NullMode,
    /// What `--ttl`/`--ttl-column` count from: the load's start for `load`, the write time for
    /// `verify` (see [`TtlOrigin`]).
    pub ttl_origin: TtlOrigin,
    /// Source columns meant to be left out (`--ignore-columns`); any other source column that
    /// fills nothing is refused.
    pub ignore_columns: Vec<String>,
    /// `--strict`: refuse table columns that nothing fills.
    pub strict: bool,
}

impl MappingOptions {
    /// The first flag set that only sources of rows without their own times and with columns
    /// of their own names can use (pg_dump, Parquet): inputs that carry every cell's write
    /// time and the table's own columns (SSTables, a live table) refuse it rather than pass
    /// over it.
    pub fn row_source_flag(&self) -> Option<&'static str> {
        [
            ("--writetime", self.writetime.is_some()),
            ("--writetime-column", self.writetime_column.is_some()),
            ("--ttl", self.ttl.is_some()),
            ("--ttl-column", self.ttl_column.is_some()),
            ("--map", !self.map.is_empty()),
            ("--ignore-columns", !self.ignore_columns.is_empty()),
            ("--strict", self.strict),
        ]
        .into_iter()
        .find_map(|(flag, set)| set.then_some(flag))
    }
}

/// Parses a size such as `1GiB`, `48MiB`, `512MB`, `64k` or plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    let bytes = number * factor;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

/// Parses `--map cql=source,...` pairs.
pub fn parse_map(pairs: &[String]) -> Result<Vec<(String, String)>, PlanError> {
    pairs
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (cql, src) = p
                .split_once('=')
                .ok_or_else(|| PlanError::MapSyntax(p.clone()))?;
            let (cql, src) = (cql.trim(), src.trim());
            if cql.is_empty() || src.is_empty() {
                return Err(PlanError::MapSyntax(p.clone()));
            }
            Ok((cql.to_owned(), src.to_owned()))
        })
        .collect()
}

/// Parses `--writetime`: microseconds since the epoch, or an RFC 3339 timestamp (µs exact).
pub fn parse_writetime(s: &str) -> Result<i64, PlanError> {
    s.trim()
        .parse::<i64>()
        .ok()
        .or_else(|| parse_timestamp_micros(s))
        .ok_or_else(|| PlanError::WriteTime(s.to_owned()))
}

/// How a source column was matched to the table column it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The same name.
    Name,
    /// The same name once folded to lower case, as CQL folds an unquoted name
    /// (`eventCount` fills `eventcount`).
    FoldedCase,
    /// `--map` pairs them.
    Map,
}

/// One table column and the source column that fills it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub column: String,
    pub source: String,
    pub how: Matched,
}

/// Which source columns fill which table columns, and what is left on either side: the
/// statement a run makes before its first write, and the columns its summary lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnPlan {
    pub source_name: String,
    pub table: String,
    /// In table order.
    pub filled: Vec<Filled>,
    /// Table columns no source column fills: the table keeps what it holds there.
    pub unfilled: Vec<String>,
    /// Source columns that give each row's write time or TTL: (column, what).
    pub times: Vec<(String, &'static str)>,
    /// Source columns `--ignore-columns` leaves out.
    pub ignored: Vec<String>,
}

impl ColumnPlan {
    /// The statement, a few lines: what fills what, what is left out on either side.
    pub fn lines(&self) -> Vec<String> {
        let filled: Vec<String> = self
            .filled
            .iter()
            .map(|f| match f.how {
                Matched::Name => f.column.clone(),
                Matched::FoldedCase => format!("{} <- {} (case folded)", f.column, f.source),
                Matched::Map => format!("{} <- {} (--map)", f.column, f.source),
            })
            .collect();
        let mut lines = vec![format!(
            "{} -> {}: {} of {} table columns filled: {}",
            self.source_name,
            self.table,
            self.filled.len(),
            self.filled.len() + self.unfilled.len(),
            filled.join(", ")
        )];
        for (column, what) in &self.times {
            lines.push(format!("  {what} from source column {column}"));
        }
        if !self.unfilled.is_empty() {
            lines.push(format!(
                "  not filled, left as the table holds them: {}",
                self.unfilled.join(", ")
            ));
        }
        if !self.ignored.is_empty() {
            lines.push(format!(
                "  source columns left out (--ignore-columns): {}",
                self.ignored.join(", ")
            ));
        }
        lines
    }
}

/// The source column feeding each CQL column (schema order), and the statement of it.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub sources: Vec<Option<usize>>,
    pub plan: ColumnPlan,
}

/// The table column a name given on the command line means: the same name, else the name as
/// CQL folds an unquoted one (lower case).
fn find_cql<'s>(schema: &'s TableSchema, name: &str) -> Option<&'s str> {
    schema
        .column(name)
        .or_else(|| schema.column(&name.to_lowercase()))
        .map(|(_, c)| c.name.as_str())
}

/// Matches source columns to the table's: `--map` pairs first, then the same name, then the
/// name CQL would fold an unquoted one to (`eventCount` fills `eventcount`). Refuses, before
/// anything is read: a primary key column nothing fills; a source column that would be dropped
/// (filling no column, giving no write time or TTL) unless `--ignore-columns` names it;
/// table columns nothing fills under `--strict`; and names that match ambiguously.
pub fn map_columns(
    schema: &TableSchema,
    source_name: &str,
    source_columns: &[String],
    options: &MappingOptions,
) -> Result<ColumnMap, PlanError> {
    let list = |names: &mut dyn Iterator<Item = &str>| names.collect::<Vec<_>>().join(", ");
    let all_sources = || list(&mut source_columns.iter().map(String::as_str));
    let mut mapped: Vec<(&str, &str)> = Vec::with_capacity(options.map.len());
    for (cql, src) in &options.map {
        let Some(column) = find_cql(schema, cql) else {
            return Err(PlanError::NoSuchCqlColumn {
                column: cql.clone(),
                table: schema.name.to_string(),
                columns: list(&mut schema.columns.iter().map(|c| c.name.as_str())),
            });
        };
        mapped.push((column, src));
    }
    let find_source = |what: &str, name: &str| {
        source_columns
            .iter()
            .position(|s| s == name)
            .ok_or_else(|| PlanError::NoSuchSourceColumn {
                what: what.to_owned(),
                column: name.to_owned(),
                source_name: source_name.to_owned(),
                columns: all_sources(),
            })
    };
    for name in &options.ignore_columns {
        find_source("--ignore-columns", name)?;
    }
    let ignored = |index: usize| options.ignore_columns.contains(&source_columns[index]);
    let mut sources = Vec::with_capacity(schema.columns.len());
    let mut plan = ColumnPlan {
        source_name: source_name.to_owned(),
        table: schema.name.to_string(),
        ..ColumnPlan::default()
    };
    for c in &schema.columns {
        let found = match mapped.iter().rev().find(|(cql, _)| *cql == c.name) {
            Some((_, src)) => Some((find_source("--map", src)?, Matched::Map)),
            None => match source_columns.iter().position(|s| *s == c.name) {
                Some(i) if !ignored(i) => Some((i, Matched::Name)),
                _ => {
                    let folded: Vec<usize> = (0..source_columns.len())
                        .filter(|&i| {
                            !ignored(i)
                                && source_columns[i] != c.name
                                && source_columns[i].to_lowercase() == c.name
                        })
                        .collect();
                    match folded[..] {
                        [] => None,
                        [i] => Some((i, Matched::FoldedCase)),
                        _ => {
                            return Err(PlanError::AmbiguousColumn {
                                column: c.name.clone(),
                                candidates: list(
                                    &mut folded.iter().map(|&i| source_columns[i].as_str()),
                                ),
                            });
                        }
                    }
                }
            },
        };
        if let Some((i, how)) = found {
            if ignored(i) {
                return Err(PlanError::IgnoredButMapped {
                    source_column: source_columns[i].clone(),
                    used: format!("to fill the CQL column {} (by name or --map)", c.name),
                });
            }
            plan.filled.push(Filled {
                column: c.name.clone(),
                source: source_columns[i].clone(),
                how,
            });
        } else if matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering(_)) {
            return Err(PlanError::UnmappedKey {
                column: c.name.clone(),
                table: schema.name.to_string(),
            });
        } else {
            plan.unfilled.push(c.name.clone());
        }
        sources.push(found.map(|(i, _)| i));
    }
    for (flag, what, name) in [
        (
            "--writetime-column",
            "write time",
            &options.writetime_column,
        ),
        ("--ttl-column", "TTL", &options.ttl_column),
    ] {
        if let Some(name) = name {
            let i = find_source(flag, name)?;
            if ignored(i) {
                return Err(PlanError::IgnoredButMapped {
                    source_column: name.clone(),
                    used: format!("as the {what} ({flag})"),
                });
            }
            plan.times.push((source_columns[i].clone(), what));
        }
    }
    let dropped: Vec<&str> = source_columns
        .iter()
        .enumerate()
        .filter(|&(i, name)| {
            !sources.contains(&Some(i)) && !plan.times.iter().any(|(t, _)| t == name) && !ignored(i)
        })
        .map(|(_, name)| name.as_str())
        .collect();
    if !dropped.is_empty() {
        return Err(PlanError::DroppedSourceColumns {
            source_name: source_name.to_owned(),
            table: schema.name.to_string(),
            columns: dropped.join(","),
        });
    }
    if options.strict && !plan.unfilled.is_empty() {
        return Err(PlanError::StrictUnfilled {
            source_name: source_name.to_owned(),
            table: schema.name.to_string(),
            columns: plan.unfilled.join(", "),
        });
    }
    plan.ignored = options.ignore_columns.clone();
    Ok(ColumnMap { sources, plan })
}

/// Finds a source column named by a flag such as `--writetime-column`.
pub fn source_column(
    what: &str,
    name: &str,
    source_name: &str,
    source_columns: &[String],
) -> Result<usize, PlanError> {
    source_columns
        .iter()
        .position(|s| s == name)
        .ok_or_else(|| PlanError::NoSuchSourceColumn {
            what: what.to_owned(),
            column: name.to_owned(),
            source_name: source_name.to_owned(),
            columns: source_columns.join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::row::tests::schema;

    fn names(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    fn options(map: &[&str]) -> MappingOptions {
        MappingOptions {
            map: parse_map(&names(map)).unwrap(),
            ..MappingOptions::default()
        }
    }

    fn sources(src: &[&str], options: &MappingOptions) -> Result<Vec<Option<usize>>, PlanError> {
        map_columns(&schema(), "dump", &names(src), options).map(|m| m.sources)
    }

    #[test]
    fn columns_map_by_name_unless_map_says_otherwise() {
        let mut options = options(&["username=user"]);
        options.ignore_columns = names(&["other"]);
        assert_eq!(
            sources(&["user", "email", "other"], &options).unwrap(),
            [Some(0), Some(1), None]
        );
    }

    #[test]
    fn source_names_match_as_cql_folds_unquoted_names_and_the_exact_name_wins() {
        let mapped = map_columns(
            &schema(),
            "dump",
            &names(&["UserName", "eMail"]),
            &options(&[]),
        )
        .unwrap();
        assert_eq!(mapped.sources, [Some(0), Some(1), None]);
        assert_eq!(mapped.plan.filled[0].how, Matched::FoldedCase);
        assert_eq!(mapped.plan.unfilled, ["tags"]);
        let lines = mapped.plan.lines().join("\n");
        assert!(
            lines.contains("2 of 3 table columns filled: username <- UserName (case folded)"),
            "{lines}"
        );
        assert!(
            lines.contains("not filled, left as the table holds them: tags"),
            "{lines}"
        );
        // The exact name wins; the other spelling would be dropped, so it is refused.
        let err = sources(&["username", "Email", "email"], &options(&[])).unwrap_err();
        assert_eq!(
            err,
            PlanError::DroppedSourceColumns {
                source_name: "dump".into(),
                table: "ks.accounts".into(),
                columns: "Email".into()
            }
        );
        // Two spellings and no exact one: ambiguous.
        let err = sources(&["username", "Email", "EMAIL"], &options(&[])).unwrap_err();
        assert!(
            matches!(&err, PlanError::AmbiguousColumn { column, candidates } if column == "email" && candidates == "Email, EMAIL"),
            "{err}"
        );
        // --map names CQL columns the same way.
        assert_eq!(
            sources(&["username", "mail"], &options(&["EMAIL=mail"])).unwrap(),
            [Some(0), Some(1), None]
        );
    }

    #[test]
    fn a_source_column_that_fills_nothing_is_refused_unless_ignored_or_a_time() {
        let err = sources(&["username", "email", "dt", "score"], &options(&[])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("source column(s) dt,score fill no column of ks.accounts"),
            "{text}"
        );
        assert!(text.contains("--ignore-columns dt,score"), "{text}");
        let mut o = options(&[]);
        o.ignore_columns = names(&["dt", "score"]);
        assert!(sources(&["username", "email", "dt", "score"], &o).is_ok());
        o.ignore_columns = names(&["dt"]);
        o.writetime_column = Some("score".into());
        let mapped =
            map_columns(&schema(), "dump", &names(&["username", "dt", "score"]), &o).unwrap();
        assert_eq!(mapped.plan.times, [("score".to_owned(), "write time")]);
        assert_eq!(mapped.plan.ignored, ["dt"]);
        // Ignoring what does not exist, or what fills a column, is a mistake.
        o.ignore_columns = names(&["nope"]);
        assert!(matches!(
            sources(&["username", "score"], &o),
            Err(PlanError::NoSuchSourceColumn { .. })
        ));
        let mut o = options(&[]);
        o.writetime_column = Some("score".into());
        o.ignore_columns = names(&["score"]);
        assert!(matches!(
            sources(&["username", "score"], &o),
            Err(PlanError::IgnoredButMapped { .. })
        ));
        let mut o = options(&["email=mail"]);
        o.ignore_columns = names(&["mail"]);
        assert!(matches!(
            sources(&["username", "mail"], &o),
            Err(PlanError::IgnoredButMapped { .. })
        ));
    }

    #[test]
    fn strict_refuses_table_columns_nothing_fills() {
        let mut o = options(&[]);
        o.strict = true;
        let err = sources(&["username", "email"], &o).unwrap_err();
        assert!(
            err.to_string()
                .contains("--strict: column(s) tags of ks.accounts"),
            "{err}"
        );
        assert!(sources(&["username", "email", "tags"], &o).is_ok());
    }

    #[test]
    fn an_unmapped_key_and_unknown_names_are_refused_with_the_fix() {
        let err = sources(&["email"], &options(&[])).unwrap_err();
        assert!(
            err.to_string().contains("--map username=SOURCE_COLUMN"),
            "{err}"
        );
        let err = sources(&["username"], &options(&["nope=x"])).unwrap_err();
        assert!(err.to_string().contains("CQL column nope"), "{err}");
        let err = sources(&["username"], &options(&["email=mail"])).unwrap_err();
        assert!(err.to_string().contains("source column mail"), "{err}");
        assert_eq!(
            parse_map(&["a:b".into()]),
            Err(PlanError::MapSyntax("a:b".into()))
        );
    }

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_size("48MiB"), Some(48 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("512MB"), Some(512_000_000));
        assert_eq!(parse_size("1.5k"), Some(1500));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }

    #[test]
    fn writetimes_parse_from_microseconds_or_rfc_3339() {
        assert_eq!(
            parse_writetime("1700000000000001"),
            Ok(1_700_000_000_000_001)
        );
        assert_eq!(parse_writetime("1970-01-01T00:00:00.000002Z"), Ok(2));
        assert!(parse_writetime("yesterday").is_err());
    }
}
