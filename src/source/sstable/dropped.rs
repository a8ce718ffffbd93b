//! Columns the old cluster dropped, from the `schema.cql` that `nodetool snapshot` writes
//! beside a snapshot's SSTables: Cassandra records each drop there as
//! `ALTER TABLE ks.t DROP col USING TIMESTAMP micros;` (then `ALTER TABLE ks.t ADD col type;`
//! when a column of that name was added again). Cells of that name written up to the drop time
//! belong to the dropped column: Cassandra never shows them, and neither does a migration.

use std::collections::HashMap;

/// When each dropped column was last dropped, in microseconds since the epoch, by name.
pub type Dropped = HashMap<String, i64>;

/// The drops a `schema.cql` records. Statements that are not drops are ignored.
pub fn parse(schema_cql: &str) -> Dropped {
    let mut out = Dropped::new();
    for statement in schema_cql.split(';') {
        let words = tokens(statement);
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let at = |i: usize, w: &str| upper.get(i).is_some_and(|u| u == w);
        // ALTER TABLE name DROP column USING TIMESTAMP micros
        if !(at(0, "ALTER") && at(1, "TABLE") && at(3, "DROP")) {
            continue;
        }
        if !(at(5, "USING") && at(6, "TIMESTAMP")) {
            continue;
        }
        let Some(micros) = words.get(7).and_then(|t| t.parse::<i64>().ok()) else {
            continue;
        };
        let name = unquote(&words[4]);
        let entry = out.entry(name).or_insert(micros);
        *entry = (*entry).max(micros);
    }
    out
}

/// Splits a statement into words, keeping double-quoted identifiers (with `""` escapes) whole.
fn tokens(statement: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = statement.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            let mut word = String::from('"');
            chars.next();
            while let Some(c) = chars.next() {
                word.push(c);
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        word.push(chars.next().unwrap_or('"'));
                    } else {
                        break;
                    }
                }
            }
            out.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '"' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    out
}

/// A column name as the table knows it: quoted names as written, others lower-cased.
fn unquote(word: &str) -> String {
    match word.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => word.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_in_a_snapshots_schema_cql_give_each_columns_last_drop_time() {
        let text = r#"
CREATE TABLE IF NOT EXISTS fx.dropped (
    pk int PRIMARY KEY,
    back text,
    v text
) WITH ID = 5d8f2e70-0000-0000-0000-000000000000
    AND compaction = {'class': 'SizeTieredCompactionStrategy'};
ALTER TABLE fx.dropped DROP gone USING TIMESTAMP 1764000000000000;
ALTER TABLE fx.dropped DROP back USING TIMESTAMP 1764000005000000;
ALTER TABLE fx.dropped ADD back text;
ALTER TABLE fx.dropped DROP "Mixed ""Case""" USING TIMESTAMP 7;
alter table fx.dropped drop back using timestamp 1764000001000000;
"#;
        let dropped = parse(text);
        assert_eq!(dropped.len(), 3, "{dropped:?}");
        assert_eq!(dropped["gone"], 1_764_000_000_000_000);
        assert_eq!(dropped["back"], 1_764_000_005_000_000);
        assert_eq!(dropped["Mixed \"Case\""], 7);
    }

    #[test]
    fn a_schema_without_drops_or_with_other_alters_records_none() {
        assert!(parse("ALTER TABLE fx.t ADD x int; ALTER TABLE fx.t DROP y;").is_empty());
        assert!(parse("").is_empty());
    }
}
