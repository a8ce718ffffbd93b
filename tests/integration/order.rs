//! Our sort order against the real node's: for every type a clustering column can have, about 300
//! random values plus the edge cases (extremes, empty values, NaN, -0.0, decimals of different
//! scales, v1 and v4 uuids with equal timestamps, ...) are written with cassbulk's own encoder into
//! one partition, read back with `SELECT c FROM t WHERE k = 0`, and the node's order must be the
//! order our comparators give. Values our comparator calls equal must have merged into one row.

use std::cmp::Ordering;
use std::collections::HashSet;

use cassbulk::cluster::{Bind, read_table_schema};
use cassbulk::model::order::{ClusteringComparator, compare_values};
use cassbulk::model::value::{Decimal, Varint};
use cassbulk::model::{CqlType, NativeType, TableName, Value};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;

use crate::common;

const RANDOM_VALUES: usize = 300;

/// A small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn uuid(&mut self) -> [u8; 16] {
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&self.next().to_be_bytes());
        u[8..].copy_from_slice(&self.next().to_be_bytes());
        u
    }
    /// A version-1 uuid; a third of them share one timestamp, to exercise the low-byte rules.
    fn timeuuid(&mut self) -> [u8; 16] {
        let mut u = self.uuid();
        if self.below(3) == 0 {
            u[..8].copy_from_slice(&[0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x1d, 0xef]);
        }
        u[6] = 0x10 | (u[6] & 0x0f);
        u[8] = 0x80 | (u[8] & 0x3f);
        u
    }
    fn text(&mut self) -> String {
        const ALPHABET: &[char] = &['a', 'b', 'Z', '0', ' ', 'é', 'ß', 'ж', '中', '🎵', '\0'];
        (0..self.below(5)).map(|_| self.pick(ALPHABET)).collect()
    }
}

fn dec(unscaled: i128, scale: i32) -> Value {
    Value::Decimal(Decimal {
        unscaled: Varint::from_i128(unscaled),
        scale,
    })
}

fn uuid(hex: &str) -> [u8; 16] {
    let hex: String = hex.chars().filter(|c| *c != '-').collect();
    let mut u = [0u8; 16];
    for (i, b) in u.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    u
}

/// The values every table of the type gets besides random ones: extremes, values Cassandra
/// considers equal, and the empty value where the type accepts it.
fn edge_values(ty: &str) -> Vec<Vec<u8>> {
    let empty = vec![Vec::new()];
    let encoded = |values: Vec<Value>| values.iter().map(Value::to_bytes).collect::<Vec<_>>();
    let with_empty = |values: Vec<Value>| [empty.clone(), encoded(values)].concat();
    match ty {
        "int" => with_empty([i32::MIN, -1, 0, 1, i32::MAX].map(Value::Int).to_vec()),
        "bigint" => with_empty([i64::MIN, -1, 0, 1, i64::MAX].map(Value::Bigint).to_vec()),
        "timestamp" => with_empty(
            [i64::MIN, -1, 0, 1, i64::MAX]
                .map(Value::Timestamp)
                .to_vec(),
        ),
        "smallint" => encoded([i16::MIN, -1, 0, 1, i16::MAX].map(Value::Smallint).to_vec()),
        "tinyint" => encoded([i8::MIN, -1, 0, 1, i8::MAX].map(Value::Tinyint).to_vec()),
        "varint" => {
            let mut values = with_empty(
                [
                    i128::MIN,
                    -(1 << 64),
                    -129,
                    -128,
                    -1,
                    0,
                    127,
                    128,
                    1 << 64,
                    i128::MAX,
                ]
                .map(|v| Value::Varint(Varint::from_i128(v)))
                .to_vec(),
            );
            // Non-minimal encodings of 5 and -1: the same numbers, so the same rows.
            values.extend([vec![0, 0, 5], vec![5], vec![0xff, 0xff]]);
            values
        }
        "decimal" => with_empty(vec![
            dec(15, 1),
            dec(150, 2),
            dec(2, 0),
            dec(20, 1),
            dec(0, 0),
            dec(0, 10),
            dec(-15, 1),
            dec(-1, -3),
            dec(1, -3),
            dec(1000, 0),
            dec(1, 30),
            dec(i128::MAX, 5),
            dec(i128::MIN, -5),
        ]),
        "float" => with_empty(
            [
                f32::NEG_INFINITY,
                f32::MIN,
                -1.0,
                -0.0,
                0.0,
                f32::from_bits(1),
                1.0,
                f32::MAX,
                f32::INFINITY,
                f32::NAN,
                f32::from_bits(0xffc0_0001),
                f32::from_bits(0x7f80_0001),
            ]
            .map(Value::Float)
            .to_vec(),
        ),
        "double" => with_empty(
            [
                f64::NEG_INFINITY,
                -1.0,
                -0.0,
                0.0,
                f64::from_bits(1),
                f64::MAX,
                f64::INFINITY,
                f64::NAN,
                f64::from_bits(0xfff0_0000_0000_0001),
            ]
            .map(Value::Double)
            .to_vec(),
        ),
        // Any non-zero byte is true.
        "boolean" => [empty.clone(), vec![vec![0], vec![1], vec![2], vec![0xff]]].concat(),
        "uuid" => with_empty(
            [
                "00000000-0000-0000-0000-000000000000",
                "ffffffff-ffff-ffff-ffff-ffffffffffff",
                "ffffffff-ffff-1000-8000-000000000000",
                "00000000-0000-1001-8000-000000000000",
                "12345678-9abc-1def-8000-000000000000",
                "12345678-9abc-1def-8000-ff0000000000",
                "12345678-9abc-1def-bfff-ffffffffffff",
                "00000000-0000-4000-8000-000000000000",
                "ffffffff-ffff-4fff-bfff-ffffffffffff",
            ]
            .map(|u| Value::Uuid(uuid(u)))
            .to_vec(),
        ),
        "timeuuid" => with_empty(
            [
                "ffffffff-ffff-1000-8000-000000000000",
                "00000000-0000-1001-8000-000000000000",
                "12345678-9abc-1def-8000-000000000000",
                "12345678-9abc-1def-8000-ff0000000000",
                "12345678-9abc-1def-8000-7f0000000000",
                "12345678-9abc-1def-bfff-ffffffffffff",
            ]
            .map(|u| Value::Timeuuid(uuid(u)))
            .to_vec(),
        ),
        "date" => encoded(
            [i32::MIN, -719_162, -1, 0, 1, i32::MAX]
                .map(Value::Date)
                .to_vec(),
        ),
        "time" => encoded([0, 1, 86_399_999_999_999].map(Value::Time).to_vec()),
        "inet" => with_empty(
            [
                "0.0.0.0",
                "255.255.255.255",
                "10.0.0.1",
                "::",
                "::1",
                "a00:1::",
                "ffff::",
            ]
            .map(|a| Value::Inet(a.parse().unwrap()))
            .to_vec(),
        ),
        "text" => with_empty(
            ["a", "A", "ab", "é", "中", "🎵", "\0"]
                .map(|s| Value::Text(s.into()))
                .to_vec(),
        ),
        "ascii" => with_empty(
            ["a", "A", "~", " ", "\0"]
                .map(|s| Value::Ascii(s.into()))
                .to_vec(),
        ),
        "blob" => [
            empty.clone(),
            vec![vec![0], vec![0, 0], vec![0x7f], vec![0x80, 0], vec![0xff]],
        ]
        .concat(),
        "frozen<list<int>>" => encoded(vec![
            Value::List(vec![]),
            Value::List(vec![Value::Int(-1)]),
            Value::List(vec![Value::Int(-1), Value::Int(0)]),
            Value::List(vec![Value::Int(0)]),
        ]),
        "frozen<set<text>>" => encoded(vec![
            Value::Set(vec![]),
            Value::Set(vec![Value::Text(String::new())]),
            Value::Set(vec![Value::Text("a".into())]),
        ]),
        "frozen<map<int, text>>" => encoded(vec![
            Value::Map(vec![]),
            Value::Map(vec![(Value::Int(-1), Value::Text("z".into()))]),
            Value::Map(vec![(Value::Int(1), Value::Text(String::new()))]),
        ]),
        "frozen<tuple<int, text>>" | "frozen<point>" => {
            let values = [
                (None, None),
                (None, Some("")),
                (Some(-1), None),
                (Some(-1), Some("")),
                (Some(i32::MAX), Some("🎵")),
            ];
            let mut out = if ty == "frozen<point>" {
                Vec::new()
            } else {
                empty.clone()
            };
            out.extend(values.map(|(i, s)| tuple_or_udt(ty, i, s).to_bytes()));
            out
        }
        "vector<float, 2>" => encoded(
            [[-0.0, 0.0], [0.0, -0.0], [f32::NAN, 1.0], [-1.0, f32::NAN]]
                .map(|v| Value::Vector(v.map(Value::Float).to_vec()))
                .to_vec(),
        ),
        other => panic!("no edge values for {other}"),
    }
}

fn tuple_or_udt(ty: &str, i: Option<i32>, s: Option<&str>) -> Value {
    let fields = vec![i.map(Value::Int), s.map(|s| Value::Text(s.into()))];
    if ty == "frozen<point>" {
        Value::Udt(fields)
    } else {
        Value::Tuple(fields)
    }
}

/// A random value of the type, encoded; sets and maps in their canonical (sorted, deduplicated)
/// form, as the node stores them.
fn random_value(ty: &str, rng: &mut Rng) -> Vec<u8> {
    let value = match ty {
        "int" => Value::Int(rng.next() as i32 >> rng.below(32)),
        "bigint" => Value::Bigint(rng.next() as i64 >> rng.below(64)),
        "timestamp" => Value::Timestamp(rng.next() as i64 >> rng.below(64)),
        "smallint" => Value::Smallint(rng.next() as i16),
        "tinyint" => Value::Tinyint(rng.next() as i8),
        "varint" => Value::Varint(Varint::from_i128(
            (rng.next() as i64 as i128) << rng.below(60) >> rng.below(60),
        )),
        "decimal" => dec(
            i128::from(rng.next() as i64 >> rng.below(64)),
            rng.below(12) as i32 - 4,
        ),
        "float" => Value::Float(f32::from_bits(rng.next() as u32)),
        "double" => Value::Double(f64::from_bits(rng.next())),
        "boolean" => Value::Boolean(rng.next() & 1 == 1),
        "uuid" => {
            let mut u = if rng.below(2) == 0 {
                rng.timeuuid()
            } else {
                rng.uuid()
            };
            if rng.below(3) == 0 {
                u[6] = (rng.pick(&[0u8, 1, 2, 3, 4, 5, 7, 0xf]) << 4) | (u[6] & 0x0f);
            }
            Value::Uuid(u)
        }
        "timeuuid" => Value::Timeuuid(rng.timeuuid()),
        "date" => Value::Date(rng.next() as i32),
        "time" => Value::Time(rng.below(86_400_000_000_000) as i64),
        "inet" => {
            if rng.next() & 1 == 0 {
                Value::Inet(std::net::IpAddr::from((rng.next() as u32).to_be_bytes()))
            } else {
                Value::Inet(std::net::IpAddr::from(rng.uuid()))
            }
        }
        "text" => Value::Text(rng.text()),
        "ascii" => Value::Ascii(
            (0..rng.below(6))
                .map(|_| (32 + rng.below(95)) as u8 as char)
                .collect(),
        ),
        "blob" => Value::Blob(
            (0..rng.below(6))
                .map(|_| rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff]))
                .collect(),
        ),
        "frozen<list<int>>" => Value::List(
            (0..rng.below(4))
                .map(|_| Value::Int(rng.below(7) as i32 - 3))
                .collect(),
        ),
        "frozen<set<text>>" => {
            let elem = CqlType::Native(NativeType::Text);
            let mut items: Vec<Vec<u8>> = (0..rng.below(4))
                .map(|_| Value::Text(rng.text()).to_bytes())
                .collect();
            items.sort_by(|a, b| compare_values(&elem, a, b));
            items.dedup();
            Value::Set(
                items
                    .into_iter()
                    .map(|b| Value::Text(String::from_utf8(b).unwrap()))
                    .collect(),
            )
        }
        "frozen<map<int, text>>" => {
            let mut keys: Vec<i32> = (0..rng.below(4)).map(|_| rng.below(5) as i32 - 2).collect();
            keys.sort();
            keys.dedup();
            Value::Map(
                keys.into_iter()
                    .map(|k| (Value::Int(k), Value::Text(rng.text())))
                    .collect(),
            )
        }
        "frozen<tuple<int, text>>" | "frozen<point>" => {
            let i = (rng.below(5) != 0).then(|| rng.below(5) as i32 - 2);
            let s = (rng.below(5) != 0).then(|| rng.text());
            tuple_or_udt(ty, i, s.as_deref())
        }
        "vector<float, 2>" => Value::Vector(
            (0..2)
                .map(|_| Value::Float(rng.pick(&[-1.0, -0.0, 0.0, 0.5, f32::NAN, f32::INFINITY])))
                .collect(),
        ),
        other => panic!("no generator for {other}"),
    };
    value.to_bytes()
}

/// Every value the test writes for a type: the edge values and `RANDOM_VALUES` random ones.
fn values_of(ty: &str, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut values = edge_values(ty);
    values.extend((0..RANDOM_VALUES).map(|_| random_value(ty, &mut rng)));
    values
}

/// Creates `table (k int, c TYPE, PRIMARY KEY (k, c))` (with `c DESC` when asked), writes every
/// value into partition 0, and returns the table's clustering comparator, read back from the
/// node's schema, and the values in the node's order.
async fn write_and_read(
    session: &Session,
    ks: &str,
    table: &str,
    ty: &str,
    desc: bool,
    values: &[Vec<u8>],
) -> (ClusteringComparator, Vec<Vec<u8>>) {
    let order = if desc {
        " WITH CLUSTERING ORDER BY (c DESC)"
    } else {
        ""
    };
    common::run(
        session,
        &format!("CREATE TABLE {ks}.{table} (k int, c {ty}, PRIMARY KEY (k, c)){order}"),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.{table} (k, c) VALUES (0, ?)"))
        .await
        .unwrap();
    stream::iter(values)
        .map(|value| {
            let insert = &insert;
            async move {
                session
                    .execute_unpaged(insert, (Bind::Value(value.clone()),))
                    .await
                    .map_err(|e| format!("{value:02x?}: {e}"))
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_else(|e| panic!("{table} ({ty}): insert failed: {e}"));
    let name = TableName::parse(&format!("{ks}.{table}")).unwrap();
    let schema = read_table_schema(session, &name).await.unwrap();
    let read = common::rows(session, &format!("SELECT c FROM {ks}.{table} WHERE k = 0"))
        .await
        .into_iter()
        .map(|row| row.into_iter().next().flatten().unwrap_or_default())
        .collect();
    (ClusteringComparator::new(&schema), read)
}

/// The node's order must be `cmp`'s: strictly increasing, every row a value we wrote, and exactly
/// one row per class of values `cmp` calls equal.
fn assert_same_order(
    label: &str,
    cmp: impl Fn(&[u8], &[u8]) -> Ordering,
    written: &[Vec<u8>],
    read: &[Vec<u8>],
) {
    let written_set: HashSet<&Vec<u8>> = written.iter().collect();
    for value in read {
        assert!(
            written_set.contains(value),
            "{label}: the node returned {value:02x?}, which was never written"
        );
    }
    for pair in read.windows(2) {
        assert_eq!(
            cmp(&pair[0], &pair[1]),
            Ordering::Less,
            "{label}: the node puts {:02x?} before {:02x?}",
            pair[0],
            pair[1]
        );
    }
    let mut ours = written.to_vec();
    ours.sort_by(|a, b| cmp(a, b));
    ours.dedup_by(|a, b| cmp(a, b) == Ordering::Equal);
    assert_eq!(
        ours.len(),
        read.len(),
        "{label}: values our comparator calls distinct must be distinct rows, equal ones one row"
    );
}

/// Checks one clustering type in one direction.
async fn check(session: &Session, ks: &str, ty: &str, desc: bool, seed: u64) {
    let table = format!(
        "t_{}{}",
        ty.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        if desc { "_desc" } else { "" }
    );
    let values = values_of(ty, seed);
    let (comparator, read) = write_and_read(session, ks, &table, ty, desc, &values).await;
    let label = format!("{ty}{}", if desc { " DESC" } else { "" });
    assert_same_order(
        &label,
        |a, b| comparator.compare(&[a], &[b]),
        &values,
        &read,
    );
}

/// The types of the ASC tables: every native type a clustering column can have, and composites.
const NATIVE_TYPES: [&str; 18] = [
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "date",
    "decimal",
    "double",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varint",
];

#[tokio::test]
async fn every_native_clustering_type_comes_back_from_the_node_in_our_order() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "order_native").await;
    for (i, ty) in NATIVE_TYPES.iter().enumerate() {
        let seed = 0x9e37_79b9_7f4a_7c15 ^ ((i as u64) << 8);
        let values = values_of(ty, seed);
        let table = format!("t_{ty}");
        let (_, read) = write_and_read(&session, &ks, &table, ty, false, &values).await;
        // For ASC tables the clustering order is the type's own comparator.
        let cql_type = CqlType::Native(
            NativeType::ALL
                .into_iter()
                .find(|n| n.name() == *ty)
                .unwrap(),
        );
        assert_same_order(ty, |a, b| compare_values(&cql_type, a, b), &values, &read);
    }
}

#[tokio::test]
async fn frozen_collections_tuples_udts_and_vectors_come_back_from_the_node_in_our_order() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "order_composite").await;
    common::run(
        &session,
        &format!("CREATE TYPE {ks}.point (x int, label text)"),
    )
    .await;
    for (i, ty) in [
        "frozen<list<int>>",
        "frozen<set<text>>",
        "frozen<map<int, text>>",
        "frozen<tuple<int, text>>",
        "frozen<point>",
        "vector<float, 2>",
    ]
    .iter()
    .enumerate()
    {
        check(&session, &ks, ty, false, 0x5151_0000 + i as u64).await;
    }
}

#[tokio::test]
async fn desc_clustering_columns_come_back_from_the_node_in_reverse_order_with_empty_values_last() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "order_desc").await;
    for (i, ty) in [
        "int",
        "text",
        "decimal",
        "double",
        "uuid",
        "timeuuid",
        "varint",
        "frozen<list<int>>",
        "frozen<tuple<int, text>>",
    ]
    .iter()
    .enumerate()
    {
        check(&session, &ks, ty, true, 0xdec0_0000 + i as u64).await;
    }
}

#[tokio::test]
async fn two_clustering_columns_asc_then_desc_come_back_in_our_order() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "order_pair").await;
    common::run(
        &session,
        &format!(
            "CREATE TABLE {ks}.t (k int, a int, b text, PRIMARY KEY (k, a, b)) \
             WITH CLUSTERING ORDER BY (a ASC, b DESC)"
        ),
    )
    .await;
    let insert = session
        .prepare(format!("INSERT INTO {ks}.t (k, a, b) VALUES (0, ?, ?)"))
        .await
        .unwrap();
    let mut rng = Rng(42);
    let rows: Vec<[Vec<u8>; 2]> = (0..RANDOM_VALUES)
        .map(|_| {
            [
                Value::Int(rng.below(5) as i32 - 2).to_bytes(),
                Value::Text(rng.text()).to_bytes(),
            ]
        })
        .collect();
    for [a, b] in &rows {
        session
            .execute_unpaged(&insert, (Bind::Value(a.clone()), Bind::Value(b.clone())))
            .await
            .unwrap();
    }
    let name = TableName::parse(&format!("{ks}.t")).unwrap();
    let comparator = ClusteringComparator::new(&read_table_schema(&session, &name).await.unwrap());
    let read: Vec<Vec<Vec<u8>>> =
        common::rows(&session, &format!("SELECT a, b FROM {ks}.t WHERE k = 0"))
            .await
            .into_iter()
            .map(|row| row.into_iter().map(Option::unwrap_or_default).collect())
            .collect();
    for pair in read.windows(2) {
        assert_eq!(
            comparator.compare(&pair[0], &pair[1]),
            Ordering::Less,
            "the node puts {:02x?} before {:02x?}",
            pair[0],
            pair[1]
        );
    }
    let mut ours: Vec<Vec<Vec<u8>>> = rows.iter().map(|r| r.to_vec()).collect();
    ours.sort_by(|x, y| comparator.compare(x, y));
    ours.dedup();
    assert_eq!(
        ours, read,
        "the node's rows are our sorted, deduplicated rows"
    );
}
