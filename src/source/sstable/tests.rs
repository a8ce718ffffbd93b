//! Reading the SSTables a real Cassandra 5.0 node wrote (`fixtures/sstables/`, made by
//! `fixtures/sstables/make-sstables`): headers, and partitions checked against what
//! `sstabledump` shows of the same files.

use super::*;
use crate::model::types::{NoUdts, parse_type};
use crate::model::{Partition, TableName};

pub(crate) fn fixture(format: &str) -> String {
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
    let stats = statistics::read(&bytes, true).unwrap();
    assert_eq!(
        stats.partitioner,
        "org.apache.cassandra.dht.Murmur3Partitioner"
    );
    let h = stats.header;
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

pub(crate) fn more(table: &str) -> String {
    format!(
        "{}/fixtures/sstables/more/{table}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// `fy.t` of `fixtures/sstables/more.py`, whose copies the node wrote with each compression
/// (`more/{plain,zstd,snappy,deflate}`).
pub(crate) fn plain_table() -> TableSchema {
    table(
        "fy.t",
        &[
            ("pk", "partition_key", "int"),
            ("c", "clustering", "int"),
            ("v", "regular", "text"),
            ("n", "regular", "bigint"),
            ("l", "regular", "list<int>"),
            ("m", "regular", "map<text, int>"),
        ],
    )
}

/// A table of `fixtures/sstables/more.py`: `(name, kind, type)` per column.
pub(crate) fn table(name: &str, columns: &[(&str, &str, &str)]) -> TableSchema {
    use crate::model::schema::{ColumnRow, build_table_schema};
    let rows: Vec<ColumnRow> = columns
        .iter()
        .map(|(column, kind, ty)| ColumnRow {
            column_name: (*column).into(),
            clustering_order: "asc".into(),
            kind: (*kind).into(),
            position: if *kind == "regular" { -1 } else { 0 },
            type_name: (*ty).into(),
        })
        .collect();
    build_table_schema(&TableName::parse(name).unwrap(), &rows, &[]).unwrap()
}

fn read_planned(input: &str, schema: &TableSchema) -> Vec<Partition> {
    let input = SstableInput::open(input).unwrap();
    let plans = input
        .plan(schema, &MappingOptions::default(), 1_800_000_000)
        .unwrap();
    let mut partitions = reader(input, plans).collect::<Result<Vec<_>, _>>().unwrap();
    partitions.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
    partitions
}

#[test]
fn zstd_snappy_deflate_and_uncompressed_sstables_read_the_same_partitions() {
    let schema = plain_table();
    // List cell paths (timeuuids), local deletion times and so what is left of TTLs (seconds)
    // come from the moments each table's writes were applied: compare without them.
    use crate::model::{Deletion, Liveness};
    let l = schema.column("l").unwrap().0;
    let zero = |d: &mut Option<Deletion>| {
        if let Some(d) = d {
            d.local_deletion_time = 0;
        }
    };
    let liveness = |l: &mut Liveness| match l {
        Liveness::Live => {}
        Liveness::Expiring {
            local_deletion_time,
            ttl,
        } => {
            // What is left of a TTL: the writes were a second or so apart.
            *ttl /= 100;
            *local_deletion_time = 0;
        }
        Liveness::Tombstone {
            local_deletion_time,
        } => *local_deletion_time = 0,
    };
    let read = |table: &str| {
        let mut partitions = read_planned(&more(table), &schema);
        for p in &mut partitions {
            zero(&mut p.deletion);
            for row in &mut p.rows {
                zero(&mut row.deletion);
                if let Some(l) = &mut row.liveness {
                    liveness(&mut l.liveness);
                }
                for column in &mut row.columns {
                    zero(&mut column.complex_deletion);
                    for cell in &mut column.cells {
                        liveness(&mut cell.liveness);
                        if column.column == l {
                            cell.path = Default::default();
                        }
                    }
                }
            }
        }
        partitions
    };
    let plain = read("plain");
    // Compacted: 40 partitions, one of them deleted whole, and a cell of another.
    assert_eq!(plain.len(), 40);
    for compression in ["zstd", "snappy", "deflate"] {
        let info =
            std::fs::read(format!("{}/nb-3-big-CompressionInfo.db", more(compression))).unwrap();
        let name = String::from_utf8_lossy(&info[..40]).to_lowercase();
        assert!(name.contains(compression), "{compression}: {name}");
        assert_eq!(read(compression), plain, "{compression}");
    }
}

#[test]
fn cells_older_than_a_drop_in_the_snapshots_schema_are_left_out_and_newer_ones_kept() {
    let schema = table(
        "fy.dropped",
        &[
            ("pk", "partition_key", "int"),
            ("v", "regular", "text"),
            ("back", "regular", "text"),
        ],
    );
    let back = schema.column("back").unwrap().0;
    let partitions = read_planned(&more("dropped"), &schema);
    let cells: Vec<i64> = partitions
        .iter()
        .flat_map(|p| &p.rows)
        .flat_map(|r| &r.columns)
        .filter(|c| c.column == back)
        .flat_map(|c| &c.cells)
        .map(|c| c.timestamp)
        .collect();
    // 50 written before the drop at 1764000001000000 (left out), 50 after the re-add.
    assert_eq!(cells.len(), 50, "{cells:?}");
    assert!(cells.iter().all(|&t| t > 1_764_000_001_000_000));
    // Without the snapshot's schema.cql they would all be read.
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(more("dropped")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "schema.cql" {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let all = read_planned(dir.path().to_str().unwrap(), &schema);
    let count = all
        .iter()
        .flat_map(|p| &p.rows)
        .flat_map(|r| &r.columns)
        .filter(|c| c.column == back)
        .count();
    assert_eq!(count, 100);
}

#[test]
fn reading_an_inputs_sstables_on_several_threads_gives_the_same_partitions() {
    let input = SstableInput::open(&fixture("oa")).unwrap();
    let plans = input
        .plan(&everything(), &MappingOptions::default(), 1_800_000_000)
        .unwrap();
    let sstables: Vec<_> = input
        .sstables
        .into_iter()
        .map(|s| s.descriptor)
        .zip(plans)
        .collect();
    let sequential: Vec<Partition> = Reader::new(sstables.clone(), Default::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let sizes = vec![1; sstables.len()];
    let (events, counters) = read_parallel(sstables, 2, &sizes);
    let mut parallel: Vec<Partition> = events.collect::<Result<_, _>>().unwrap();
    assert_eq!(counters.len(), 2);
    let key = |p: &Partition| (p.token, p.key.clone(), p.rows.len());
    let mut sorted = sequential.clone();
    sorted.sort_by_key(key);
    parallel.sort_by_key(key);
    assert_eq!(parallel.len(), 276);
    assert_eq!(parallel, sorted);
}

#[test]
fn every_type_name_a_node_wrote_is_what_cassbulk_writes_for_the_same_type() {
    use crate::model::marshal::{key_type_name, type_name};
    for format in ["nb", "oa", "da"] {
        let input = SstableInput::open(&fixture(format)).unwrap();
        let header = &input.sstables[0].header;
        let names = header
            .clustering
            .iter()
            .chain(header.statics.iter().map(|(_, t)| t))
            .chain(header.regulars.iter().map(|(_, t)| t));
        let mut n = 0;
        for t in names {
            assert_eq!(type_name(&t.cql, t.reversed), t.name, "{format}");
            n += 1;
        }
        assert_eq!(n, 2 + 1 + 28, "{format}");
        let schema = everything();
        let key: Vec<&CqlType> = schema.partition_key().iter().map(|c| &c.cql_type).collect();
        assert_eq!(key_type_name(&key), header.key_type, "{format}");
    }
    for table in ["zstd", "dropped"] {
        let input = SstableInput::open(&more(table)).unwrap();
        for (_, t) in &input.sstables[0].header.regulars {
            assert_eq!(type_name(&t.cql, t.reversed), t.name, "{table}");
        }
    }
}

/// The partitions an input gives through the source seam, and whether it said they are in
/// order (so a job skips the partition builder).
fn started(input: &str, schema: &TableSchema) -> (bool, Vec<Partition>) {
    started_with(input, schema, false)
}

/// [`started`], with `--merge sort` or not.
fn started_with(input: &str, schema: &TableSchema, sort_always: bool) -> (bool, Vec<Partition>) {
    use crate::source::{Input, SourceEvent};
    let mut input = SstableInput::open(input).unwrap();
    input.sort_always = sort_always;
    let input: Box<dyn Input> = Box::new(input);
    let planned = input
        .plan(
            std::sync::Arc::new(schema.clone()),
            &MappingOptions::default(),
        )
        .unwrap();
    let started = planned.start().unwrap();
    let partitions = started
        .events
        .map(|e| match e.unwrap() {
            SourceEvent::Partition(p) => p,
            _ => panic!("an SSTable gives partitions"),
        })
        .collect();
    (started.ordered, partitions)
}

/// The same partitions through the partition builder, as a job with several inputs reads them.
fn built(partitions: Vec<Partition>, schema: &TableSchema) -> Vec<Partition> {
    use crate::sort::builder::{BuilderOptions, PartitionBuilder};
    let temp = tempfile::tempdir().unwrap();
    let mut builder = PartitionBuilder::new(
        schema,
        BuilderOptions {
            memory_budget: 64 << 20,
            temp_dir: temp.path().to_path_buf(),
        },
    );
    for p in partitions {
        builder.push(p, 0).unwrap();
    }
    builder.finish().unwrap().map(Result::unwrap).collect()
}

#[test]
fn one_sstable_is_handed_on_in_order_exactly_as_the_partition_builder_would_emit_it() {
    let mut inputs: Vec<(String, TableSchema)> = vec![(more("plain"), plain_table())];
    for format in ["nb", "oa", "da"] {
        for entry in std::fs::read_dir(fixture(format)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with("-Data.db") {
                inputs.push((path.display().to_string(), everything()));
            }
        }
    }
    assert_eq!(
        inputs.len(),
        7,
        "more/plain and two generations in each format"
    );
    for (input, schema) in &inputs {
        let (ordered, partitions) = started(input, schema);
        assert!(ordered, "{input}: one SSTable with its digest is in order");
        assert!(!partitions.is_empty(), "{input}");
        let expected = built(partitions.clone(), schema);
        assert_eq!(partitions, expected, "{input}");
    }
}

/// The partitions with every TTL set to 0 and each expiry kept: two reads of an SSTable a
/// second apart give each live expiring cell the TTL left at the time, one second less.
fn expiries_only(mut partitions: Vec<Partition>) -> Vec<Partition> {
    use crate::model::Liveness;
    let clear = |liveness: &mut Liveness| {
        if let Liveness::Expiring { ttl, .. } = liveness {
            *ttl = 0;
        }
    };
    for p in &mut partitions {
        for row in p.static_row.iter_mut().chain(p.rows.iter_mut()) {
            if let Some(l) = &mut row.liveness {
                clear(&mut l.liveness);
            }
            for column in &mut row.columns {
                for cell in &mut column.cells {
                    clear(&mut cell.liveness);
                }
            }
        }
    }
    partitions
}

#[test]
fn several_sstables_are_merged_as_streams_exactly_as_the_partition_builder_merges_them() {
    for format in ["nb", "oa", "da"] {
        let (ordered, streamed) = started(&fixture(format), &everything());
        assert!(
            ordered,
            "{format}: two generations in one folder, merged as streams"
        );
        let (ordered, read) = started_with(&fixture(format), &everything(), true);
        assert!(!ordered, "{format}: --merge sort");
        let expected = built(read, &everything());
        assert!(!expected.is_empty());
        assert_eq!(expiries_only(streamed), expiries_only(expected), "{format}");
    }
}

#[test]
fn a_digest_that_does_not_match_or_none_goes_through_the_partition_builder() {
    // A copy of a one-SSTable folder whose Digest.crc32 does not match its Data.db.
    let mismatched = |table: &str| {
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(more(table)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
        }
        let digest = copy.path().join("nb-3-big-Digest.crc32");
        let value: u32 = std::fs::read_to_string(&digest)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::fs::write(&digest, (value ^ 1).to_string()).unwrap();
        (copy, digest)
    };
    // Compressed, every chunk still has its own CRC32: the builder's path reads it.
    let (copy, digest) = mismatched("snappy");
    let (ordered, partitions) = started(&copy.path().display().to_string(), &plain_table());
    assert!(!ordered, "a Data.db that is not what its digest says");
    assert_eq!(
        expiries_only(partitions),
        expiries_only(started(&more("snappy"), &plain_table()).1)
    );

    std::fs::remove_file(&digest).unwrap();
    let (ordered, _) = started(&copy.path().display().to_string(), &plain_table());
    assert!(!ordered, "no digest");
}

#[test]
fn an_uncompressed_sstable_that_does_not_match_its_digest_is_refused_before_a_partition() {
    use crate::source::Input;
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(more("plain")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    let data = copy.path().join("nb-3-big-Data.db");
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&data, &bytes).unwrap();
    let input: Box<dyn Input> =
        Box::new(SstableInput::open(&copy.path().display().to_string()).unwrap());
    let planned = input
        .plan(
            std::sync::Arc::new(plain_table()),
            &MappingOptions::default(),
        )
        .unwrap();
    let refusal = planned.start().err().unwrap().to_string();
    assert!(
        refusal.contains("nb-3-big-Data.db is damaged at byte 0"),
        "{refusal}"
    );
    assert!(refusal.contains("Digest.crc32"), "{refusal}");
}

/// An input's partitions read in `n` token slices, each slice's in turn; None when the input
/// says it cannot be sliced.
fn sliced(input: &str, schema: &TableSchema, n: usize) -> Option<Vec<Vec<Partition>>> {
    use crate::source::{Input, SourceEvent};
    let input: Box<dyn Input> = Box::new(SstableInput::open(input).unwrap());
    let mut planned = input
        .plan(
            std::sync::Arc::new(schema.clone()),
            &MappingOptions::default(),
        )
        .unwrap();
    if !planned.sliceable().unwrap() {
        return None;
    }
    let slices = planned
        .start_slices(&crate::model::token::slices(n))
        .unwrap();
    assert_eq!(slices.len(), n);
    Some(
        slices
            .into_iter()
            .map(|s| {
                assert!(s.ordered);
                s.events
                    .map(|e| match e.unwrap() {
                        SourceEvent::Partition(p) => p,
                        _ => panic!("an SSTable gives partitions"),
                    })
                    .collect()
            })
            .collect(),
    )
}

/// A 3.x fixture folder's table, from its schema file.
fn fixture_3x(letter: &str, table: &str) -> (String, TableSchema) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sstables-3x/");
    let script = std::fs::read_to_string(format!("{root}{letter}/schema-{table}.cql")).unwrap();
    let schema = crate::model::schema_cql::table_from_cql(
        &script,
        &TableName::parse(&format!("legacy.{table}")).unwrap(),
    )
    .unwrap();
    let dir = std::fs::read_dir(format!("{root}{letter}"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{table}-"))
        })
        .unwrap();
    (dir.display().to_string(), schema)
}

#[test]
fn token_slices_read_one_after_another_give_exactly_the_whole_inputs_partitions() {
    let mut inputs = vec![
        (fixture("nb"), everything()),
        (fixture("oa"), everything()),
        (more("plain"), plain_table()),
    ];
    // A promoted index (IndexInfo blocks) in Index.db, and 3.x's every kind of cell.
    inputs.push(fixture_3x("ma", "wide_partition"));
    inputs.push(fixture_3x("me", "every_type"));
    inputs.push(fixture_3x("nc", "every_type"));
    inputs.push(fixture_3x("ma", "every_type_uncompressed"));
    inputs.push((more("zstd"), plain_table()));
    for (input, schema) in &inputs {
        let (_, whole) = started(input, schema);
        assert!(!whole.is_empty(), "{input}");
        for n in [1, 2, 3, 7, 64] {
            let slices = sliced(input, schema, n).unwrap_or_else(|| panic!("{input}"));
            let bounds = crate::model::token::slices(n);
            for (slice, (first, last)) in slices.iter().zip(&bounds) {
                for p in slice {
                    assert!(
                        (*first..=*last).contains(&p.token.0),
                        "{input}: {n} slices: a partition outside its slice"
                    );
                }
            }
            let joined: Vec<Partition> = slices.into_iter().flatten().collect();
            assert_eq!(
                expiries_only(joined),
                expiries_only(whole.clone()),
                "{input}: {n} slices"
            );
        }
    }
}

#[test]
fn bti_sstables_and_sstables_in_another_order_are_not_sliced() {
    assert!(sliced(&fixture("da"), &everything(), 2).is_none(), "da");
    let (dir, schema) = fixture_3x("ma", "random_partitioner");
    assert!(sliced(&dir, &schema, 2).is_none(), "RandomPartitioner");
}

/// The newest write timestamp in partitions: cells, row markers and every kind of deletion.
fn newest_write(partitions: &[Partition]) -> i64 {
    let mut newest = i64::MIN;
    for p in partitions {
        let mut see = |t: i64| newest = newest.max(t);
        p.deletion.iter().for_each(|d| see(d.timestamp));
        p.range_deletions
            .iter()
            .for_each(|r| see(r.deletion.timestamp));
        for row in p.static_row.iter().chain(&p.rows) {
            row.liveness.iter().for_each(|l| see(l.timestamp));
            row.deletion.iter().for_each(|d| see(d.timestamp));
            for column in &row.columns {
                column
                    .complex_deletion
                    .iter()
                    .for_each(|d| see(d.timestamp));
                column.cells.iter().for_each(|c| see(c.timestamp));
            }
        }
    }
    newest
}

#[test]
fn statistics_give_each_sstables_newest_write_and_since_leaves_older_ones_unread() {
    let mut inputs: Vec<(String, TableSchema)> = Vec::new();
    for format in ["nb", "oa", "da"] {
        for entry in std::fs::read_dir(fixture(format)).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with("-Data.db") {
                inputs.push((path.display().to_string(), everything()));
            }
        }
    }
    inputs.push(fixture_3x("ma", "every_type"));
    inputs.push(fixture_3x("me", "every_type"));
    for (input, schema) in &inputs {
        let opened = SstableInput::open(input).unwrap();
        let stated = opened.sstables[0].max_timestamp.expect(input);
        let (_, partitions) = started(input, schema);
        assert_eq!(stated, newest_write(&partitions), "{input}");
        let mut kept = SstableInput::open(input).unwrap();
        kept.skip_older_than(stated);
        assert_eq!(
            kept.sstables.len(),
            1,
            "{input}: its newest write is at --since"
        );
        let mut skipped = SstableInput::open(input).unwrap();
        skipped.skip_older_than(stated + 1);
        assert!(skipped.sstables.is_empty(), "{input}");
        assert_eq!(skipped.older_than_since, 1);
    }
}
