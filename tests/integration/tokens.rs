//! Our Murmur3 tokens against the real node's `token()`: for every type a partition key can
//! have, 1,000 random keys are written with cassbulk's own encoder, then read back with
//! `SELECT token(...)`. The test also proves the encoder and decoder agree with Cassandra.

use std::collections::HashMap;

use cassbulk::cluster::Bind;
use cassbulk::model::types::{NoUdts, parse_type};
use cassbulk::model::value::{Decimal, Varint};
use cassbulk::model::{Token, Value};
use futures::{StreamExt, TryStreamExt, stream};
use scylla::client::session::Session;
use scylla::deserialize::row::ColumnIterator;

use crate::common;

const KEYS: usize = 1000;

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
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        (0..1 + self.below(max))
            .map(|_| self.next() as u8)
            .collect()
    }
    fn uuid(&mut self) -> [u8; 16] {
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&self.next().to_be_bytes());
        u[8..].copy_from_slice(&self.next().to_be_bytes());
        u
    }
    fn text(&mut self) -> String {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', ' ', 'é', 'ß', 'ж', 'ش', 'א', '中', '🎵', '\'', '"', '\\', '\t', '\n',
        ];
        (0..1 + self.below(24))
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
}

/// A random value of a native key type.
fn random_value(ty: &str, rng: &mut Rng) -> Value {
    match ty {
        "text" => Value::Text(rng.text()),
        "ascii" => Value::Ascii(
            (0..1 + rng.below(20))
                .map(|_| (32 + rng.below(95)) as u8 as char)
                .collect(),
        ),
        "bigint" => Value::Bigint(rng.next() as i64),
        "int" => Value::Int(rng.next() as i32),
        "smallint" => Value::Smallint(rng.next() as i16),
        "tinyint" => Value::Tinyint(rng.next() as i8),
        "varint" => Value::Varint(Varint::from_i128((rng.next() as i128) << rng.below(60))),
        "decimal" => Value::Decimal(Decimal {
            unscaled: Varint::from_i128(rng.next() as i64 as i128),
            scale: rng.below(20) as i32 - 5,
        }),
        "double" => Value::Double(f64::from_bits(rng.next())),
        "float" => Value::Float(f32::from_bits(rng.next() as u32)),
        "boolean" => Value::Boolean(rng.next() & 1 == 1),
        "uuid" => Value::Uuid(rng.uuid()),
        "timeuuid" => {
            let mut u = rng.uuid();
            u[6] = 0x10 | (u[6] & 0x0f);
            u[8] = 0x80 | (u[8] & 0x3f);
            Value::Timeuuid(u)
        }
        "timestamp" => Value::Timestamp(rng.next() as i64 >> 20),
        "date" => Value::Date(rng.next() as i32),
        "time" => Value::Time(rng.below(86_400_000_000_000) as i64),
        "inet" => {
            if rng.next() & 1 == 0 {
                Value::Inet(std::net::IpAddr::from((rng.next() as u32).to_be_bytes()))
            } else {
                Value::Inet(std::net::IpAddr::from(rng.uuid()))
            }
        }
        "blob" => Value::Blob(rng.bytes(40)),
        "frozen<list<int>>" => Value::List(
            (0..rng.below(4))
                .map(|_| Value::Int(rng.next() as i32))
                .collect(),
        ),
        "frozen<tuple<int, text>>" => Value::Tuple(vec![
            Some(Value::Int(rng.next() as i32)),
            Some(Value::Text(rng.text())),
        ]),
        other => panic!("no generator for {other}"),
    }
}

/// Writes `KEYS` random keys of the given component types, reads `token(...)` back, and checks
/// every key's token and bytes against ours.
async fn check(session: &Session, ks: &str, table: &str, types: &[&str], seed: u64) {
    let cols: Vec<String> = (0..types.len()).map(|i| format!("k{i}")).collect();
    let defs: Vec<String> = cols
        .iter()
        .zip(types)
        .map(|(c, t)| format!("{c} {t}"))
        .collect();
    common::run(
        session,
        &format!(
            "CREATE TABLE {ks}.{table} ({}, v int, PRIMARY KEY (({})))",
            defs.join(", "),
            cols.join(", ")
        ),
    )
    .await;
    let insert = session
        .prepare(format!(
            "INSERT INTO {ks}.{table} ({}, v) VALUES ({}, 0)",
            cols.join(", "),
            vec!["?"; cols.len()].join(", ")
        ))
        .await
        .unwrap();

    let mut rng = Rng(seed);
    let mut ours: HashMap<Vec<Vec<u8>>, i64> = HashMap::new();
    for _ in 0..KEYS {
        let key: Vec<Vec<u8>> = types
            .iter()
            .map(|t| random_value(t, &mut rng).to_bytes())
            .collect();
        let token = Token::of_components(&key).0;
        ours.insert(key, token);
    }
    stream::iter(ours.keys())
        .map(|key| {
            let insert = &insert;
            async move {
                let values: Vec<Bind> = key.iter().map(|c| Bind::Value(c.clone())).collect();
                session.execute_unpaged(insert, values).await
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_or_else(|e| panic!("{table}: insert failed: {e}"));

    let select = format!(
        "SELECT token({}), {} FROM {ks}.{table}",
        cols.join(", "),
        cols.join(", ")
    );
    let result = session
        .query_unpaged(select.as_str(), ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let parsed_types: Vec<_> = types
        .iter()
        .map(|t| parse_type(t, &NoUdts).unwrap())
        .collect();
    let mut theirs: HashMap<Vec<Vec<u8>>, i64> = HashMap::new();
    for row in result.rows::<ColumnIterator>().unwrap() {
        let mut columns = row.unwrap();
        let token = columns.next().unwrap().unwrap().slice.unwrap().as_slice();
        let token = i64::from_be_bytes(token.try_into().unwrap());
        let key: Vec<Vec<u8>> = columns
            .map(|c| c.unwrap().slice.unwrap().as_slice().to_vec())
            .collect();
        for (bytes, ty) in key.iter().zip(&parsed_types) {
            let decoded = Value::decode(ty, bytes).unwrap_or_else(|e| panic!("{table}: {e}"));
            assert_eq!(
                &decoded.to_bytes(),
                bytes,
                "{table}: {ty} decodes and re-encodes to the same bytes"
            );
        }
        theirs.insert(key, token);
    }
    assert_eq!(
        theirs.len(),
        ours.len(),
        "{table}: every key written was read back"
    );
    for (key, token) in &ours {
        assert_eq!(
            theirs.get(key),
            Some(token),
            "{table}: token of key {key:02x?}"
        );
    }
}

#[tokio::test]
async fn tokens_of_1000_random_keys_of_every_key_type_match_the_real_nodes_token_function() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "tokens").await;
    let single = [
        "text",
        "ascii",
        "bigint",
        "int",
        "smallint",
        "tinyint",
        "varint",
        "decimal",
        "double",
        "float",
        "boolean",
        "uuid",
        "timeuuid",
        "timestamp",
        "date",
        "time",
        "inet",
        "blob",
        "frozen<list<int>>",
        "frozen<tuple<int, text>>",
    ];
    for (i, ty) in single.iter().enumerate() {
        let table = format!(
            "t_{}",
            ty.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        check(
            &session,
            &ks,
            &table,
            &[ty],
            0x9e37_79b9_7f4a_7c15 ^ i as u64,
        )
        .await;
    }
    check(&session, &ks, "composite_3", &["bigint", "text", "uuid"], 7).await;
    check(
        &session,
        &ks,
        "composite_4",
        &["timestamp", "blob", "int", "text"],
        11,
    )
    .await;
}

#[tokio::test]
async fn golden_tokens_in_unit_tests_are_what_the_node_computes() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "golden").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.i (k int PRIMARY KEY)"),
    )
    .await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.b (k bigint PRIMARY KEY)"),
    )
    .await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.t (k text PRIMARY KEY)"),
    )
    .await;
    common::run(&session, &format!("INSERT INTO {ks}.i (k) VALUES (1)")).await;
    common::run(&session, &format!("INSERT INTO {ks}.b (k) VALUES (0)")).await;
    common::run(
        &session,
        &format!("INSERT INTO {ks}.t (k) VALUES ('hello')"),
    )
    .await;
    for (table, key) in [
        ("i", Value::Int(1)),
        ("b", Value::Bigint(0)),
        ("t", Value::Text("hello".into())),
    ] {
        let (token,): (i64,) = session
            .query_unpaged(format!("SELECT token(k) FROM {ks}.{table}"), ())
            .await
            .unwrap()
            .into_rows_result()
            .unwrap()
            .single_row()
            .unwrap();
        assert_eq!(
            Token::of_components(&[key.to_bytes()]).0,
            token,
            "{table}: {key}"
        );
    }
}
