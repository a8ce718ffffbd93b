//! The Spark fixture (`fixtures/spark/`, see its README) as the tests compare it: the rows
//! Spark itself read back from each export (`<export>.expected.jsonl`), put in the shape a CQL
//! table of `spark_events.cql` holds them (CQL's folded column names, timestamps in
//! milliseconds, sets sorted and deduplicated, empty collections and all-null non-frozen UDTs
//! null), and CQL values of that table decoded into the same shape. Shared by the source test
//! (no server) and the integration test (values read back from Cassandra).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json, json};

/// The exports `fixtures/spark/generate.py` writes.
pub const EXPORTS: [&str; 7] = [
    "default",
    "micros",
    "millis",
    "zstd",
    "legacy_format",
    "legacy_rebase",
    "legacy_rebase_micros",
];

/// The columns of `spark_events`, with their CQL types, in the order the tests select them.
pub const COLUMNS: [(&str, &str); 24] = [
    ("user_id", "text"),
    ("seq", "int"),
    ("eventcount", "bigint"),
    ("flag", "boolean"),
    ("tiny", "tinyint"),
    ("small", "smallint"),
    ("big", "bigint"),
    ("ratio", "float"),
    ("score", "double"),
    ("amount", "decimal"),
    ("price", "decimal"),
    ("payload", "blob"),
    ("note", "text"),
    ("born", "date"),
    ("seen", "timestamp"),
    ("updated_at", "timestamp"),
    ("tags", "list<text>"),
    ("labels", "set<text>"),
    ("counts", "map<text, int>"),
    ("prefs", "prefs_t"),
    ("frozen_prefs", "frozen<prefs_t>"),
    ("history", "list<frozen<event_t>>"),
    ("pair", "frozen<tuple<int, text>>"),
    ("dt", "date"),
];

pub const PREFS_T: [(&str, &str); 4] = [
    ("theme", "text"),
    ("volume", "int"),
    ("since", "timestamp"),
    ("born", "date"),
];
pub const EVENT_T: [(&str, &str); 3] = [("at", "timestamp"), ("day", "date"), ("kind", "text")];

pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/spark")
        .join(relative)
}

/// `spark_events.cql` for keyspace `ks`, its table renamed `table`, as statements.
pub fn schema_statements(ks: &str, table: &str) -> Vec<String> {
    std::fs::read_to_string(fixture("spark_events.cql"))
        .unwrap()
        .lines()
        .map(|l| l.split("--").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
        .replace("{{keyspace}}", ks)
        .replace(".spark_events", &format!(".{table}"))
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A row key: (user_id, seq).
pub type Key = (String, i64);

/// Spark's reading of `export`, keyed by (user_id, seq), in the table's shape; with each row's
/// `updated_at` in microseconds (its write time).
pub fn expected(export: &str) -> BTreeMap<Key, (Json, i64)> {
    let text = std::fs::read_to_string(fixture(&format!("{export}.expected.jsonl"))).unwrap();
    // Lines end at \n only: a note holds U+2028.
    text.split('\n')
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut row: Map<String, Json> = serde_json::from_str(line).unwrap();
            let count = row.remove("eventCount").unwrap();
            row.insert("eventcount".into(), count);
            let updated = row["updated_at"].as_i64().unwrap();
            let mut out = Map::new();
            for (name, cql) in COLUMNS {
                let value = row.remove(name).unwrap_or(Json::Null);
                out.insert(name.to_owned(), shape(cql, value));
            }
            let key = (
                out["user_id"].as_str().unwrap().to_owned(),
                out["seq"].as_i64().unwrap(),
            );
            (key, (Json::Object(out), updated))
        })
        .collect()
}

/// Spark's JSON value as a CQL column of type `cql` holds it.
fn shape(cql: &str, value: Json) -> Json {
    if value.is_null() {
        return value;
    }
    let fields = |value: Json, fields: &[(&str, &str)]| -> Json {
        let mut object = value.as_object().unwrap().clone();
        for (name, t) in fields {
            let v = object.remove(*name).unwrap_or(Json::Null);
            object.insert((*name).to_owned(), shape(t, v));
        }
        Json::Object(object)
    };
    match cql {
        "timestamp" => json!(value.as_i64().unwrap().div_euclid(1000)),
        "date" => match value {
            Json::String(s) => {
                json!(i64::from(cassbulk::model::literal::parse_date(&s).unwrap()))
            }
            v => v,
        },
        "list<text>" | "map<text, int>" | "list<frozen<event_t>>"
            if value.as_array().is_some_and(Vec::is_empty)
                || value.as_object().is_some_and(Map::is_empty) =>
        {
            Json::Null
        }
        "list<frozen<event_t>>" => Json::Array(
            value
                .as_array()
                .unwrap()
                .iter()
                .map(|e| fields(e.clone(), &EVENT_T))
                .collect(),
        ),
        "set<text>" => {
            let mut items: Vec<String> = value
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            items.sort();
            items.dedup();
            if items.is_empty() {
                Json::Null
            } else {
                json!(items)
            }
        }
        "prefs_t" => {
            let object = fields(value, &PREFS_T);
            // A non-frozen UDT without a non-null field has no cell: CQL reads it as null.
            if object.as_object().unwrap().values().all(Json::is_null) {
                Json::Null
            } else {
                object
            }
        }
        "frozen<prefs_t>" => fields(value, &PREFS_T),
        _ => value,
    }
}

/// A CQL value of type `cql` (one of [`COLUMNS`]' types or their parts) decoded into the shape
/// [`expected`] gives.
pub fn decode(cql: &str, bytes: Option<&[u8]>) -> Json {
    let Some(b) = bytes else {
        return Json::Null;
    };
    let be = |n: usize| -> i64 {
        let mut v: i64 = if b.first().is_some_and(|&x| x & 0x80 != 0) {
            -1
        } else {
            0
        };
        for &x in &b[..n] {
            v = (v << 8) | i64::from(x);
        }
        v
    };
    match cql {
        "text" => json!(std::str::from_utf8(b).unwrap()),
        "int" | "bigint" | "smallint" | "tinyint" => json!(be(b.len())),
        "boolean" => json!(b[0] != 0),
        "float" => json!(f64::from(f32::from_be_bytes(b.try_into().unwrap()))),
        "double" => json!(f64::from_be_bytes(b.try_into().unwrap())),
        "blob" => json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        "date" => json!(i64::from(u32::from_be_bytes(b.try_into().unwrap())) - (1 << 31)),
        "timestamp" => json!(be(8)),
        "decimal" => {
            let scale = i32::from_be_bytes(b[..4].try_into().unwrap());
            let mut unscaled: i128 = if b.get(4).is_some_and(|&x| x & 0x80 != 0) {
                -1
            } else {
                0
            };
            for &x in &b[4..] {
                unscaled = (unscaled << 8) | i128::from(x);
            }
            let digits = unscaled.unsigned_abs().to_string();
            let scale = scale as usize;
            let padded = format!("{digits:0>width$}", width = scale + 1);
            let (int, frac) = padded.split_at(padded.len() - scale);
            let sign = if unscaled < 0 { "-" } else { "" };
            json!(if scale == 0 {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            })
        }
        "list<text>" | "set<text>" | "list<frozen<event_t>>" => {
            let elem = match cql {
                "list<frozen<event_t>>" => "frozen<event_t>",
                _ => "text",
            };
            let (items, _) = framed(b, true);
            Json::Array(items.into_iter().map(|i| decode(elem, i)).collect())
        }
        "map<text, int>" => {
            let (items, _) = framed(b, true);
            let mut map = Map::new();
            for pair in items.chunks(2) {
                map.insert(
                    decode("text", pair[0]).as_str().unwrap().to_owned(),
                    decode("int", pair[1]),
                );
            }
            Json::Object(map)
        }
        "prefs_t" | "frozen<prefs_t>" => udt(b, &PREFS_T),
        "frozen<event_t>" => udt(b, &EVENT_T),
        "frozen<tuple<int, text>>" => udt(b, &[("_1", "int"), ("_2", "text")]),
        other => panic!("no decoder for {other}"),
    }
}

fn udt(b: &[u8], fields: &[(&str, &str)]) -> Json {
    let (items, _) = framed(b, false);
    let mut object = Map::new();
    for (i, (name, t)) in fields.iter().enumerate() {
        object.insert(
            (*name).to_owned(),
            decode(t, items.get(i).copied().flatten()),
        );
    }
    Json::Object(object)
}

/// `[int n]` (when `counted`) then `[int len][bytes]` items, a length of -1 a null.
fn framed(mut b: &[u8], counted: bool) -> (Vec<Option<&[u8]>>, usize) {
    let take_int = |b: &mut &[u8]| {
        let (head, rest) = b.split_at(4);
        *b = rest;
        i32::from_be_bytes(head.try_into().unwrap())
    };
    let n = if counted {
        let n = take_int(&mut b) as usize;
        let per = 1;
        Some(n * per)
    } else {
        None
    };
    let mut items = Vec::new();
    while !b.is_empty() && n.is_none_or(|n| items.len() < n * 2) {
        let len = take_int(&mut b);
        if len < 0 {
            items.push(None);
        } else {
            let (item, rest) = b.split_at(len as usize);
            items.push(Some(item));
            b = rest;
        }
    }
    let count = items.len();
    (items, count)
}
