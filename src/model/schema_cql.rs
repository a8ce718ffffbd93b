//! A table's schema from CQL text: the `CREATE TYPE` and `CREATE TABLE` statements of a
//! snapshot's `schema.cql` (or of `DESCRIBE`), so SSTables can be read with no cluster at all.
//! The statements become the rows `system_schema` would hold ([`ColumnRow`], [`TypeRow`]) and
//! go through the same [`build_table_schema`] as a cluster's schema.

use std::fmt;

use super::schema::{ColumnRow, SchemaError, TableName, TableSchema, TypeRow, build_table_schema};

/// Why CQL text gives no schema for a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaCqlError {
    NoTable(String),
    Syntax { statement: String, reason: String },
    Schema(String),
}

impl fmt::Display for SchemaCqlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaCqlError::NoTable(t) => write!(f, "it has no CREATE TABLE for {t}"),
            SchemaCqlError::Syntax { statement, reason } => {
                write!(f, "cannot read `{statement}`: {reason}")
            }
            SchemaCqlError::Schema(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for SchemaCqlError {}

impl From<SchemaError> for SchemaCqlError {
    fn from(e: SchemaError) -> Self {
        SchemaCqlError::Schema(e.to_string())
    }
}

/// The schema of the table named `table.table` in `script` (or of its only table; its keyspace
/// in the script may differ: a snapshot keeps the old names), named `table`, with the types the
/// script creates.
pub fn table_from_cql(script: &str, table: &TableName) -> Result<TableSchema, SchemaCqlError> {
    let mut types = Vec::new();
    let mut tables: Vec<(String, Vec<ColumnRow>)> = Vec::new();
    for statement in statements(script) {
        let tokens = tokenize(&statement);
        let words: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
        let at = |i: usize| words.get(i).map(String::as_str);
        if at(0) != Some("CREATE") {
            continue;
        }
        let kind = at(1);
        let mut i = 2;
        if at(i) == Some("IF") && at(i + 1) == Some("NOT") && at(i + 2) == Some("EXISTS") {
            i += 3;
        }
        let Some(name) = tokens.get(i) else { continue };
        let bare = unquote(name.rsplit('.').next().unwrap_or(name));
        let syntax = |reason: &str| SchemaCqlError::Syntax {
            statement: statement.chars().take(80).collect(),
            reason: reason.to_owned(),
        };
        let body = || -> Result<Vec<Vec<String>>, SchemaCqlError> {
            if tokens.get(i + 1).map(String::as_str) != Some("(") {
                return Err(syntax("expected `(` after the name"));
            }
            let (parts, _) = split_parenthesized(&tokens[i + 1..])
                .ok_or_else(|| syntax("unbalanced parentheses"))?;
            Ok(parts)
        };
        match kind {
            Some("TYPE") => {
                let mut type_row = TypeRow {
                    type_name: bare,
                    field_names: Vec::new(),
                    field_types: Vec::new(),
                };
                for part in body()? {
                    let (field, ty) = part.split_first().ok_or_else(|| syntax("an empty field"))?;
                    type_row.field_names.push(unquote(field));
                    type_row.field_types.push(join_type(ty));
                }
                types.push(type_row);
            }
            Some("TABLE") => {
                let parts = body()?;
                let (_, end) = split_parenthesized(&tokens[i + 1..])
                    .ok_or_else(|| syntax("unbalanced parentheses"))?;
                let rest: Vec<String> = tokens[i + 1 + end..].to_vec();
                tables.push((bare, table_columns(&parts, &rest).map_err(|r| syntax(&r))?));
            }
            _ => {}
        }
    }
    // The table of that name; else the only one (a snapshot's, loaded under a new name).
    let columns = match tables.iter().position(|(name, _)| *name == table.table) {
        Some(i) => tables.swap_remove(i).1,
        None if tables.len() == 1 => tables.remove(0).1,
        None => return Err(SchemaCqlError::NoTable(table.table.clone())),
    };
    // Types are named by the snapshot's keyspace there; the table's own keyspace here.
    Ok(build_table_schema(table, &columns, &types)?)
}

/// The columns of a `CREATE TABLE` body (`parts`, split on top-level commas) and the tokens
/// after it (`WITH CLUSTERING ORDER BY (...)`).
fn table_columns(parts: &[Vec<String>], rest: &[String]) -> Result<Vec<ColumnRow>, String> {
    let mut defs: Vec<(String, String, bool)> = Vec::new();
    let mut partition: Vec<String> = Vec::new();
    let mut clustering: Vec<String> = Vec::new();
    for part in parts {
        let upper: Vec<String> = part.iter().map(|t| t.to_ascii_uppercase()).collect();
        if upper.first().map(String::as_str) == Some("PRIMARY") {
            // PRIMARY KEY ((a, b), c, d) or PRIMARY KEY (a, c)
            let (keys, _) = split_parenthesized(&part[2..]).ok_or("an unbalanced PRIMARY KEY")?;
            for (n, key) in keys.iter().enumerate() {
                if n == 0 && key.first().map(String::as_str) == Some("(") {
                    let (inner, _) =
                        split_parenthesized(key).ok_or("an unbalanced partition key")?;
                    partition.extend(inner.iter().map(|k| unquote(&k.join(""))));
                } else if n == 0 {
                    partition.push(unquote(&key.join("")));
                } else {
                    clustering.push(unquote(&key.join("")));
                }
            }
            continue;
        }
        let (name, rest) = part.split_first().ok_or("an empty column definition")?;
        let mut ty = Vec::new();
        let mut is_static = false;
        let mut k = 0;
        while k < rest.len() {
            match upper[k + 1].as_str() {
                "STATIC" => is_static = true,
                "PRIMARY" => {
                    partition.push(unquote(name));
                    k += 1;
                }
                _ => ty.push(rest[k].clone()),
            }
            k += 1;
        }
        defs.push((unquote(name), join_type(&ty), is_static));
    }
    if partition.is_empty() {
        return Err("no PRIMARY KEY".into());
    }
    let mut order: Vec<(String, String)> = Vec::new();
    let upper: Vec<String> = rest.iter().map(|t| t.to_ascii_uppercase()).collect();
    if let Some(at) = upper
        .windows(3)
        .position(|w| w == ["CLUSTERING", "ORDER", "BY"])
    {
        let (items, _) =
            split_parenthesized(&rest[at + 3..]).ok_or("an unbalanced CLUSTERING ORDER")?;
        for item in items {
            if let [name, dir] = item.as_slice() {
                order.push((unquote(name), dir.to_ascii_lowercase()));
            }
        }
    }
    let mut rows = Vec::new();
    for (name, type_name, is_static) in defs {
        let (kind, position, clustering_order) =
            if let Some(p) = partition.iter().position(|k| *k == name) {
                ("partition_key", p as i32, "none".to_owned())
            } else if let Some(p) = clustering.iter().position(|k| *k == name) {
                let dir = order
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or("asc".to_owned(), |(_, d)| d.clone());
                ("clustering", p as i32, dir)
            } else if is_static {
                ("static", -1, "none".to_owned())
            } else {
                ("regular", -1, "none".to_owned())
            };
        rows.push(ColumnRow {
            column_name: name,
            clustering_order,
            kind: kind.to_owned(),
            position,
            type_name,
        });
    }
    for key in partition.iter().chain(&clustering) {
        if !rows.iter().any(|r| r.column_name == *key) {
            return Err(format!("the key column {key} is not defined"));
        }
    }
    Ok(rows)
}

/// A type's tokens joined back into the form `system_schema` uses (`map<text, int>`).
fn join_type(tokens: &[String]) -> String {
    let mut out = String::new();
    for t in tokens {
        match t.as_str() {
            "<" | ">" => out.push_str(t),
            "," => out.push_str(", "),
            _ => {
                if !out.is_empty() && !out.ends_with('<') && !out.ends_with(' ') {
                    out.push(' ');
                }
                out.push_str(t);
            }
        }
    }
    out
}

/// `"Name"` -> `Name`; `name` -> `name` (unquoted identifiers are lower case in CQL).
fn unquote(token: &str) -> String {
    match token.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => token.to_ascii_lowercase(),
    }
}

/// The parts of a parenthesized list starting at `tokens[0] == "("`, split on its top-level
/// commas, and the index just past its closing parenthesis.
fn split_parenthesized(tokens: &[String]) -> Option<(Vec<Vec<String>>, usize)> {
    if tokens.first().map(String::as_str) != Some("(") {
        return None;
    }
    let mut parts = vec![Vec::new()];
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(1) {
        match t.as_str() {
            "(" | "<" => depth += 1,
            ")" if depth == 0 => {
                parts.retain(|p: &Vec<String>| !p.is_empty());
                return Some((parts, i + 1));
            }
            ")" | ">" => depth -= 1,
            "," if depth == 0 => {
                parts.push(Vec::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut()?.push(t.clone());
    }
    None
}

/// Words, quoted identifiers, string literals and single punctuation characters.
fn tokenize(statement: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = statement.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' || c == '\'' {
            let start = i;
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i = (i + 1).min(chars.len());
            out.push(chars[start..i].iter().collect());
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-'))
            {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// The script's statements, split on `;` outside strings, quoted names and comments.
fn statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                current.push(c);
                for d in chars.by_ref() {
                    current.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            '/' if chars.peek() == Some(&'/') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for d in chars.by_ref() {
                    if last == '*' && d == '/' {
                        break;
                    }
                    last = d;
                }
                current.push(' ');
            }
            ';' => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{ClusteringOrder, ColumnKind};

    #[test]
    fn a_snapshots_schema_gives_the_tables_columns_keys_order_and_types() {
        let script = "-- snapshot\nCREATE TYPE IF NOT EXISTS old.address (street text, \"Zip\" int);\n\
            CREATE TABLE IF NOT EXISTS old.everything (\n    pk int, bucket text,\n    c1 int, c2 text,\n    \
            s text static,\n    m map<text, frozen<list<int>>>, addr address, \"Mixed\" tuple<int, text>,\n    \
            PRIMARY KEY ((pk, bucket), c1, c2)\n) WITH CLUSTERING ORDER BY (c1 ASC, c2 DESC)\n    AND comment = 'a;b';\n\
            CREATE TABLE old.other (k int PRIMARY KEY);";
        let schema = table_from_cql(script, &TableName::parse("new.everything").unwrap()).unwrap();
        let got: Vec<(String, String, ColumnKind)> = schema
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.cql_type.to_string(), c.kind))
            .collect();
        let desc = ColumnKind::Clustering(ClusteringOrder::Desc);
        let asc = ColumnKind::Clustering(ClusteringOrder::Asc);
        assert_eq!(schema.partition_key_len, 2);
        assert_eq!(schema.clustering_len, 2);
        assert_eq!(
            got[0],
            ("pk".into(), "int".into(), ColumnKind::PartitionKey)
        );
        assert_eq!(
            got[1],
            ("bucket".into(), "text".into(), ColumnKind::PartitionKey)
        );
        assert_eq!(got[2], ("c1".into(), "int".into(), asc));
        assert_eq!(got[3], ("c2".into(), "text".into(), desc));
        let by_name = |n: &str| got.iter().find(|c| c.0 == n).unwrap().clone();
        assert_eq!(by_name("s").2, ColumnKind::Static);
        assert_eq!(by_name("m").1, "map<text, frozen<list<int>>>");
        assert_eq!(by_name("Mixed").1, "frozen<tuple<int, text>>");
        let addr = schema.column("addr").unwrap().1;
        assert!(addr.cql_type.is_multi_cell(), "a non-frozen UDT");
        let other = table_from_cql(script, &TableName::parse("ks.other").unwrap()).unwrap();
        assert_eq!(other.partition_key_len, 1);
        assert!(matches!(
            table_from_cql(script, &TableName::parse("ks.missing").unwrap()),
            Err(SchemaCqlError::NoTable(_))
        ));
    }
}
