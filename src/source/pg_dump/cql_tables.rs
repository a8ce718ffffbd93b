//! CQL tables made from a dump's own definitions (`copy-schema --from-pgdump`): each table's
//! columns with the CQL type that holds their values exactly ([`PgType::natural_cql`]: domains
//! as their base types, enums and types CQL lacks as text, arrays as lists), and its primary
//! key, the first column the partition key and the rest clustering columns. A partition's rows
//! belong to its partitioned table, which gets the table; the partitions get none.

use crate::model::types::quote_identifier;

use super::pg_types::PgType;
use super::{Dump, DumpTable};

/// A table of the dump as CQL: its name in CQL, and the `CREATE TABLE IF NOT EXISTS`, or why
/// none can be made from the dump alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CqlTable {
    /// `schema.name` in the dump.
    pub source: String,
    /// The table's name in CQL: the dump's, unquoted (quoted in `cql` when it needs to be).
    pub name: String,
    pub cql: Result<String, String>,
}

/// Every table of `dump` (partitions aside) as a CQL table in `keyspace`.
pub fn cql_tables(dump: &Dump, keyspace: &str) -> Vec<CqlTable> {
    dump.tables()
        .iter()
        .filter(|t| t.partition_of.is_none())
        .map(|t| CqlTable {
            source: t.qualified_name(),
            name: t.name.clone(),
            cql: create_table(t, keyspace),
        })
        .collect()
}

fn create_table(table: &DumpTable, keyspace: &str) -> Result<String, String> {
    if table.columns.is_empty() {
        return Err(
            "the dump has no CREATE TABLE for it (a --data-only dump?): create it by hand".into(),
        );
    }
    if table.primary_key.is_empty() {
        return Err(
            "it has no primary key, and a CQL table needs one: add one in PostgreSQL, or create the table by hand"
                .into(),
        );
    }
    if let Some(missing) = table
        .primary_key
        .iter()
        .find(|k| !table.columns.iter().any(|c| &c.name == *k))
    {
        return Err(format!(
            "its primary key names column {missing}, which its CREATE TABLE does not have"
        ));
    }
    let mut lines: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            format!(
                "    {} {}",
                quote_identifier(&c.name),
                PgType::parse(&c.type_name).natural_cql()
            )
        })
        .collect();
    let key: Vec<String> = table
        .primary_key
        .iter()
        .map(|k| quote_identifier(k))
        .collect();
    let clustering: String = key[1..].iter().map(|k| format!(", {k}")).collect();
    lines.push(format!("    PRIMARY KEY (({}){clustering})", key[0]));
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n)",
        quote_identifier(keyspace),
        quote_identifier(&table.name),
        lines.join(",\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pg_dump::PgColumn;

    fn table(name: &str, columns: &[(&str, &str)], key: &[&str]) -> DumpTable {
        DumpTable {
            schema: "public".into(),
            name: name.into(),
            columns: columns
                .iter()
                .map(|(n, t)| PgColumn {
                    name: (*n).into(),
                    type_name: (*t).into(),
                    not_null: false,
                })
                .collect(),
            data_columns: Vec::new(),
            has_data: true,
            partitions: None,
            primary_key: key.iter().map(|k| (*k).to_owned()).collect(),
            partition_of: None,
        }
    }

    #[test]
    fn a_table_becomes_its_columns_natural_types_and_its_key_first_column_partitioning() {
        let t = table(
            "Rental",
            &[
                ("rental_id", "integer"),
                ("Amount", "numeric(5,2)"),
                ("tags", "text[]"),
                ("mood", "public.mood"),
            ],
            &["rental_id", "Amount"],
        );
        assert_eq!(
            create_table(&t, "ks").unwrap(),
            "CREATE TABLE IF NOT EXISTS ks.\"Rental\" (\n    rental_id int,\n    \"Amount\" decimal,\n    tags list<text>,\n    mood text,\n    PRIMARY KEY ((rental_id), \"Amount\")\n)"
        );
    }

    #[test]
    fn a_table_without_a_key_or_a_definition_is_refused_with_what_to_do() {
        let err = create_table(&table("t", &[("a", "integer")], &[]), "ks").unwrap_err();
        assert!(err.contains("no primary key"), "{err}");
        let err = create_table(&table("t", &[], &["a"]), "ks").unwrap_err();
        assert!(err.contains("no CREATE TABLE"), "{err}");
        let err = create_table(&table("t", &[("a", "integer")], &["b"]), "ks").unwrap_err();
        assert!(err.contains("names column b"), "{err}");
    }
}
