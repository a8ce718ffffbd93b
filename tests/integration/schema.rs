//! Reading schemas from the real node's `system_schema`: a table with every CQL type, nested
//! and frozen collections, tuples, user-defined types (nested, frozen and not), a vector, a
//! composite partition key, DESC clustering and a static column.

use std::sync::Arc;

use cassbulk::cluster::{ClusterError, read_table_schema};
use cassbulk::model::schema::{ClusteringOrder, SchemaError};
use cassbulk::model::types::UdtDef;
use cassbulk::model::{ColumnKind, CqlType, NativeType, TableName};

use crate::common;

#[tokio::test]
async fn a_table_with_every_cql_type_reads_back_as_the_right_model() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "schema").await;
    common::run(
        &session,
        &format!("CREATE TYPE {ks}.point (lat double, lon double)"),
    )
    .await;
    common::run(
        &session,
        &format!(
            "CREATE TYPE {ks}.\"Address\" (city text, tags frozen<set<text>>, geo frozen<point>)"
        ),
    )
    .await;
    common::run(
        &session,
        &format!(
            "CREATE TABLE {ks}.everything (
                tenant text, bucket int,
                at timestamp, seq timeuuid,
                s_note text STATIC,
                c_ascii ascii, c_bigint bigint, c_blob blob, c_boolean boolean, c_date date,
                c_decimal decimal, c_double double, c_duration duration, c_float float,
                c_inet inet, c_int int, c_smallint smallint, c_text text, c_time time,
                c_timestamp timestamp, c_timeuuid timeuuid, c_tinyint tinyint, c_uuid uuid,
                c_varchar varchar, c_varint varint,
                l_int list<int>, s_text set<text>, m_text_int map<text, int>,
                f_nested frozen<list<frozen<map<int, text>>>>,
                t_mixed tuple<int, text, frozen<list<int>>>,
                u_address \"Address\", u_frozen frozen<\"Address\">,
                l_points list<frozen<point>>,
                v_embedding vector<float, 3>,
                PRIMARY KEY ((tenant, bucket), at, seq)
            ) WITH CLUSTERING ORDER BY (at DESC, seq ASC)"
        ),
    )
    .await;

    let name = TableName::parse(&format!("{ks}.everything")).unwrap();
    let schema = read_table_schema(&session, &name).await.unwrap();

    let expected = [
        ("tenant", "text", ColumnKind::PartitionKey),
        ("bucket", "int", ColumnKind::PartitionKey),
        (
            "at",
            "timestamp",
            ColumnKind::Clustering(ClusteringOrder::Desc),
        ),
        (
            "seq",
            "timeuuid",
            ColumnKind::Clustering(ClusteringOrder::Asc),
        ),
        ("c_ascii", "ascii", ColumnKind::Regular),
        ("c_bigint", "bigint", ColumnKind::Regular),
        ("c_blob", "blob", ColumnKind::Regular),
        ("c_boolean", "boolean", ColumnKind::Regular),
        ("c_date", "date", ColumnKind::Regular),
        ("c_decimal", "decimal", ColumnKind::Regular),
        ("c_double", "double", ColumnKind::Regular),
        ("c_duration", "duration", ColumnKind::Regular),
        ("c_float", "float", ColumnKind::Regular),
        ("c_inet", "inet", ColumnKind::Regular),
        ("c_int", "int", ColumnKind::Regular),
        ("c_smallint", "smallint", ColumnKind::Regular),
        ("c_text", "text", ColumnKind::Regular),
        ("c_time", "time", ColumnKind::Regular),
        ("c_timestamp", "timestamp", ColumnKind::Regular),
        ("c_timeuuid", "timeuuid", ColumnKind::Regular),
        ("c_tinyint", "tinyint", ColumnKind::Regular),
        ("c_uuid", "uuid", ColumnKind::Regular),
        ("c_varchar", "text", ColumnKind::Regular),
        ("c_varint", "varint", ColumnKind::Regular),
        (
            "f_nested",
            "frozen<list<frozen<map<int, text>>>>",
            ColumnKind::Regular,
        ),
        ("l_int", "list<int>", ColumnKind::Regular),
        ("l_points", "list<frozen<point>>", ColumnKind::Regular),
        ("m_text_int", "map<text, int>", ColumnKind::Regular),
        ("s_note", "text", ColumnKind::Static),
        ("s_text", "set<text>", ColumnKind::Regular),
        (
            "t_mixed",
            "frozen<tuple<int, text, frozen<list<int>>>>",
            ColumnKind::Regular,
        ),
        ("u_address", "\"Address\"", ColumnKind::Regular),
        ("u_frozen", "frozen<\"Address\">", ColumnKind::Regular),
        ("v_embedding", "vector<float, 3>", ColumnKind::Regular),
    ];
    let actual: Vec<_> = schema
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.cql_type.to_string(), c.kind))
        .collect();
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, t, k)| (*n, t.to_string(), *k))
        .collect();
    assert_eq!(actual, expected);
    assert_eq!(schema.partition_key_len, 2);
    assert_eq!(schema.clustering_len, 2);

    // Structure behind the strings: UDTs resolved with their fields, multi-cell flags right.
    let point = Arc::new(UdtDef {
        keyspace: ks.clone(),
        name: "point".into(),
        fields: vec![
            ("lat".into(), CqlType::Native(NativeType::Double)),
            ("lon".into(), CqlType::Native(NativeType::Double)),
        ],
    });
    let address = Arc::new(UdtDef {
        keyspace: ks.clone(),
        name: "Address".into(),
        fields: vec![
            ("city".into(), CqlType::Native(NativeType::Text)),
            (
                "tags".into(),
                CqlType::Set {
                    elem: Box::new(CqlType::Native(NativeType::Text)),
                    frozen: true,
                },
            ),
            (
                "geo".into(),
                CqlType::Udt {
                    def: point,
                    frozen: true,
                },
            ),
        ],
    });
    let column = |n: &str| schema.column(n).unwrap().1.cql_type.clone();
    assert_eq!(
        column("u_address"),
        CqlType::Udt {
            def: address.clone(),
            frozen: false
        }
    );
    assert_eq!(
        column("u_frozen"),
        CqlType::Udt {
            def: address,
            frozen: true
        }
    );
    assert!(column("u_address").is_multi_cell());
    assert!(column("l_int").is_multi_cell());
    assert!(!column("f_nested").is_multi_cell());
    assert!(!column("v_embedding").is_multi_cell());
}

#[tokio::test]
async fn a_counter_table_reads_back_with_counter_columns() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "counters").await;
    common::run(
        &session,
        &format!("CREATE TABLE {ks}.plays (track uuid PRIMARY KEY, n counter)"),
    )
    .await;
    let schema = read_table_schema(&session, &TableName::parse(&format!("{ks}.plays")).unwrap())
        .await
        .unwrap();
    assert_eq!(
        schema.column("n").unwrap().1.cql_type,
        CqlType::Native(NativeType::Counter)
    );
}

#[tokio::test]
async fn reading_a_table_that_does_not_exist_names_it_in_the_error() {
    let session = common::session().await;
    let ks = common::keyspace(&session, "missing").await;
    let name = TableName::parse(&format!("{ks}.nope")).unwrap();
    let err = read_table_schema(&session, &name).await.unwrap_err();
    assert!(
        matches!(err, ClusterError::Schema(SchemaError::NoSuchTable(_))),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("{ks}.nope does not exist")),
        "{err}"
    );
    // A load into it is refused as a usage error (exit 2), before anything is read.
    let out = crate::common::cassbulk()
        .args(["load", "--table", &format!("{ks}.nope"), "--no-progress"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/accounts/accounts.dump"
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
}
