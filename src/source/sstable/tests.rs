//! Reading the SSTables a real Cassandra 5.0 node wrote (`fixtures/sstables/`, made by
//! `fixtures/sstables/make-sstables`): headers, and partitions checked against what
//! `sstabledump` shows of the same files.

use super::*;
use crate::model::types::{NoUdts, parse_type};
use crate::model::{Partition, TableName};

fn fixture(format: &str) -> String {
    format!(
        "{}/fixtures/sstables/{format}/everything",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `fx.everything` as `fixtures/sstables/schema.cql` declares it.
pub(crate) fn everything() -> TableSchema {
    use crate::model::schema::{ColumnRow, TypeRow, build_table_schema};
    let columns = [
        ("pk", "partition_key", "int"),
        ("bucket", "partition_key", "text"),
        ("c1", "clustering", "int"),
        ("c2", "clustering desc", "text"),
        ("s", "static", "text"),
        ("a", "regular", "ascii"),
        ("b", "regular", "bigint"),
        ("bl", "regular", "blob"),
        ("bo", "regular", "boolean"),
        ("d", "regular", "date"),
        ("de", "regular", "decimal"),
        ("db", "regular", "double"),
        ("du", "regular", "duration"),
        ("f", "regular", "float"),
        ("i", "regular", "inet"),
        ("n", "regular", "int"),
        ("si", "regular", "smallint"),
        ("t", "regular", "text"),
        ("tm", "regular", "time"),
        ("ts", "regular", "timestamp"),
        ("tu", "regular", "timeuuid"),
        ("ti", "regular", "tinyint"),
        ("u", "regular", "uuid"),
        ("vc", "regular", "text"),
        ("vi", "regular", "varint"),
        ("vec", "regular", "vector<float, 3>"),
        ("l", "regular", "list<int>"),
        ("st", "regular", "set<text>"),
        ("m", "regular", "map<text, int>"),
        ("fl", "regular", "frozen<list<text>>"),
        ("addr", "regular", "address"),
        ("faddr", "regular", "frozen<address>"),
        ("tup", "regular", "frozen<tuple<int, text>>"),
    ];
    let mut positions = std::collections::HashMap::new();
    let rows: Vec<ColumnRow> = columns
        .iter()
        .map(|(name, kind, ty)| {
            let (kind, order) = kind.split_once(' ').unwrap_or((kind, "asc"));
            let position = if kind == "partition_key" || kind == "clustering" {
                let n = positions.entry(kind).or_insert(0);
                *n += 1;
                *n - 1
            } else {
                -1
            };
            ColumnRow {
                column_name: (*name).into(),
                clustering_order: order.into(),
                kind: kind.into(),
                position,
                type_name: (*ty).into(),
            }
        })
        .collect();
    let types = [TypeRow {
        type_name: "address".into(),
        field_names: vec!["street".into(), "zip".into(), "tags".into()],
        field_types: vec!["text".into(), "int".into(), "frozen<set<text>>".into()],
    }];
    build_table_schema(&TableName::parse("fx.everything").unwrap(), &rows, &types).unwrap()
}

/// A reader of `input`'s SSTables with their plans.
fn reader(input: SstableInput, plans: Vec<std::sync::Arc<RowPlan>>) -> Reader {
    let sstables = input.sstables.into_iter().map(|s| s.descriptor).zip(plans);
    Reader::new(sstables.collect(), Default::default())
}

fn read_all(format: &str) -> Vec<Partition> {
    let input = SstableInput::open(&fixture(format)).unwrap();
    let schema = everything();
    let plans = input
        .plan(&schema, &MappingOptions::default(), 1_800_000_000)
        .unwrap();
    let reader = reader(input, plans);
    reader.collect::<Result<Vec<_>, _>>().unwrap()
}

#[test]
fn the_header_of_a_real_nb_sstable_names_every_column_with_its_type() {
    let bytes = std::fs::read(format!("{}/nb-1-big-Statistics.db", fixture("nb"))).unwrap();
    let h = statistics::header(&bytes).unwrap();
    let t = |s: &str| parse_type(s, &NoUdts).unwrap();
    assert_eq!(h.clustering.len(), 2);
    assert_eq!(h.clustering[0].cql, t("int"));
    assert!(!h.clustering[0].reversed);
    assert_eq!(h.clustering[1].cql, t("text"));
    assert!(h.clustering[1].reversed, "c2 is DESC");
    assert_eq!(h.statics.len(), 1);
    assert_eq!(h.statics[0].0, "s");
    let names: Vec<&str> = h.regulars.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"vec") && names.contains(&"addr"),
        "{names:?}"
    );
    assert!(h.key_type.contains("CompositeType"), "{}", h.key_type);
}

#[test]
fn every_partition_of_both_generations_reads_in_every_format() {
    for format in ["nb", "oa", "da"] {
        let partitions = read_all(format);
        // sstabledump shows 200 partitions in the first generation, 76 in the second.
        assert_eq!(partitions.len(), 200 + 76, "{format}");
    }
}

/// The partition `(pk, bucket)` of the second generation.
fn second_generation(format: &str, pk: i32, bucket: &str) -> Partition {
    let pk = pk.to_be_bytes();
    let parts: [&[u8]; 2] = [&pk, bucket.as_bytes()];
    let key = crate::model::token::composite_key(parts.into_iter()).unwrap();
    read_all(format)
        .into_iter()
        .rev()
        .find(|p| p.key == key)
        .unwrap()
}

const LATER: i64 = 1_764_000_001_000_000;

#[test]
fn deletions_of_every_kind_read_as_sstabledump_shows_them() {
    let schema = everything();
    let column = |name: &str| schema.column(name).unwrap().0;
    for format in ["nb", "oa", "da"] {
        // DELETE ... WHERE pk = 11 AND bucket = 'b2' AND c1 >= 1 AND c1 < 2
        let p = second_generation(format, 11, "b2");
        assert_eq!(p.range_deletions.len(), 1, "{format}");
        let r = &p.range_deletions[0];
        assert_eq!(r.start.prefix, [1i32.to_be_bytes().to_vec()]);
        assert!(r.start.inclusive);
        assert_eq!(r.end.prefix, [2i32.to_be_bytes().to_vec()]);
        assert!(!r.end.inclusive);
        assert_eq!(r.deletion.timestamp, LATER);
        // A row deletion.
        let p = second_generation(format, 12, "b0");
        assert_eq!(p.rows.len(), 1);
        assert_eq!(
            p.rows[0].clustering,
            [2i32.to_be_bytes().to_vec(), b"row-4".to_vec()]
        );
        assert_eq!(p.rows[0].deletion.unwrap().timestamp, LATER);
        // A partition deletion, and two rows written after it.
        let p = second_generation(format, 10, "b1");
        assert_eq!(p.deletion.unwrap().timestamp, LATER);
        assert_eq!(p.rows.len(), 2);
        // A map element deleted, a whole map and set overwritten (a collection deletion one
        // microsecond before their new elements), a UDT field set.
        let p = second_generation(format, 14, "b2");
        let row = |c2: &str| {
            p.rows
                .iter()
                .find(|r| r.clustering[1] == c2.as_bytes())
                .unwrap()
        };
        let m = &row("row-0").columns[0];
        assert_eq!(m.column, column("m"));
        assert_eq!(m.cells[0].path.as_ref(), b"k0");
        assert!(m.cells[0].liveness.is_tombstone());
        let overwritten = row("row-2");
        let m = overwritten
            .columns
            .iter()
            .find(|c| c.column == column("m"))
            .unwrap();
        assert_eq!(m.complex_deletion.unwrap().timestamp, LATER - 1);
        assert_eq!(m.cells.len(), 1);
        assert_eq!(m.cells[0].timestamp, LATER);
        let zip = &row("").columns[0];
        assert_eq!(zip.column, column("addr"));
        assert_eq!(zip.cells[0].value.as_ref(), 12345i32.to_be_bytes());
        // A static cell deleted.
        let p = second_generation(format, 16, "b1");
        let s = p.static_row.unwrap();
        assert!(s.columns[0].cells[0].liveness.is_tombstone());
        // A cell written with a one-second TTL long ago: a tombstone from its write time.
        let p = second_generation(format, 17, "b2");
        let t = &p.rows[0].columns[0];
        assert_eq!(t.column, column("t"));
        assert_eq!(t.cells[0].timestamp, LATER);
        assert!(
            t.cells[0].liveness.is_tombstone(),
            "{format}: {:?}",
            t.cells[0]
        );
    }
}

/// `everything()` with one column's type or presence changed.
fn altered(column: &str, new_type: Option<&str>) -> TableSchema {
    let mut schema = everything();
    let at = schema.column(column).unwrap().0;
    match new_type {
        Some(t) => {
            schema.columns[at].cql_type = parse_type(t, &NoUdts).unwrap();
        }
        None => {
            schema.columns.remove(at);
        }
    }
    schema
}

#[test]
fn a_header_that_disagrees_with_the_table_is_refused_naming_the_column_and_both_types() {
    let input = SstableInput::open(&fixture("nb")).unwrap();
    let err = input
        .plan(&altered("b", Some("int")), &MappingOptions::default(), 0)
        .err()
        .unwrap();
    let message = err.to_string();
    assert!(
        message.contains("column b is bigint in the SSTable but int in fx.everything"),
        "{message}"
    );
    assert!(matches!(err, SstableError::Schema { .. }));
    let counter = altered("n", Some("counter"));
    assert!(matches!(
        input.plan(&counter, &MappingOptions::default(), 0),
        Err(SstableError::Counter { .. })
    ));
    let flags = MappingOptions {
        ttl: Some(5),
        ..MappingOptions::default()
    };
    assert!(matches!(
        input.plan(&everything(), &flags, 0),
        Err(SstableError::Flag { flag: "--ttl" })
    ));
}

#[test]
fn a_column_the_table_no_longer_has_is_read_and_left_out() {
    let input = SstableInput::open(&fixture("nb")).unwrap();
    let schema = altered("t", None);
    let plans = input.plan(&schema, &MappingOptions::default(), 0).unwrap();
    let reader = reader(input, plans);
    let partitions = reader.collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(partitions.len(), 276);
    let columns = schema.columns.len();
    assert!(
        partitions
            .iter()
            .flat_map(|p| &p.rows)
            .flat_map(|r| &r.columns)
            .all(|c| c.column < columns),
        "every column read is one of the table's"
    );
    let a = schema.column("a").unwrap().0;
    assert!(
        partitions
            .iter()
            .flat_map(|p| &p.rows)
            .any(|r| r.columns.iter().any(|c| c.column == a)),
        "the other columns are still read"
    );
}
