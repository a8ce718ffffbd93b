//! From command-line flags to a validated mapping, shared by every source: which source column
//! feeds which CQL column (`--map`), where write times and TTLs come from and what SQL NULL
//! means. Job files will be read here too. How a mapped row becomes cells is [`crate::intake`]'s.

use thiserror::Error;

use crate::intake::NullMode;
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

/// For each CQL column (schema order), the index of the source column that feeds it, if any.
/// Columns map by equal name unless `--map` says otherwise; every primary key column must map.
pub fn map_columns(
    schema: &TableSchema,
    source_name: &str,
    source_columns: &[String],
    map: &[(String, String)],
) -> Result<Vec<Option<usize>>, PlanError> {
    let list = |names: &mut dyn Iterator<Item = &str>| names.collect::<Vec<_>>().join(", ");
    for (cql, _) in map {
        if schema.column(cql).is_none() {
            return Err(PlanError::NoSuchCqlColumn {
                column: cql.clone(),
                table: schema.name.to_string(),
                columns: list(&mut schema.columns.iter().map(|c| c.name.as_str())),
            });
        }
    }
    let find_source = |what: &str, name: &str| {
        source_columns
            .iter()
            .position(|s| s == name)
            .ok_or_else(|| PlanError::NoSuchSourceColumn {
                what: what.to_owned(),
                column: name.to_owned(),
                source_name: source_name.to_owned(),
                columns: list(&mut source_columns.iter().map(String::as_str)),
            })
    };
    schema
        .columns
        .iter()
        .map(|c| {
            let mapped = map.iter().find(|(cql, _)| *cql == c.name);
            let index = match mapped {
                Some((_, src)) => Some(find_source("--map", src)?),
                None => source_columns.iter().position(|s| *s == c.name),
            };
            if index.is_none()
                && matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering(_))
            {
                return Err(PlanError::UnmappedKey {
                    column: c.name.clone(),
                    table: schema.name.to_string(),
                });
            }
            Ok(index)
        })
        .collect()
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

    #[test]
    fn columns_map_by_name_unless_map_says_otherwise() {
        let schema = schema();
        let src = names(&["user", "email", "other"]);
        let map = parse_map(&["username=user".into()]).unwrap();
        assert_eq!(
            map_columns(&schema, "dump", &src, &map).unwrap(),
            [Some(0), Some(1), None]
        );
    }

    #[test]
    fn an_unmapped_key_and_unknown_names_are_refused_with_the_fix() {
        let schema = schema();
        let err = map_columns(&schema, "dump", &names(&["email"]), &[]).unwrap_err();
        assert!(
            err.to_string().contains("--map username=SOURCE_COLUMN"),
            "{err}"
        );
        let err = map_columns(
            &schema,
            "dump",
            &names(&["username"]),
            &[("nope".into(), "x".into())],
        )
        .unwrap_err();
        assert!(err.to_string().contains("CQL column nope"), "{err}");
        let err = map_columns(
            &schema,
            "dump",
            &names(&["username"]),
            &[("email".into(), "mail".into())],
        )
        .unwrap_err();
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
