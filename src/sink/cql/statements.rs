//! The pure half of the CQL sink: a partition becomes the statements that write it, grouped
//! into batches. Cells of a row that share a (timestamp, TTL) become one
//! `INSERT ... USING TIMESTAMP ? AND TTL ?` with the other columns unset; a whole non-frozen
//! collection (a collection deletion just before its elements) is one value, which Cassandra
//! stores exactly so. Deletions are `DELETE ... USING TIMESTAMP ?` by partition key, primary
//! key, or (range deletions) equalities on a clustering prefix and a slice of the next column
//! ([`super::slices`]). Statements of one partition are batched under Cassandra's batch-size
//! warning. Nothing here talks to a cluster.

use std::collections::BTreeMap;

use crate::cluster::Bind;
use crate::model::cell::ColumnData;
use crate::model::collection::{assemble, udt_field_index};
use crate::model::schema::ClusteringOrder;
use crate::model::token::split_key;
use crate::model::types::quote_identifier;
use crate::model::{
    Cell, ColumnKind, CqlType, Liveness, Partition, RangeDeletion, Row, TableSchema,
};

use super::error::{CqlError, unsupported};
use super::slices::slices;

/// Cassandra warns about batches over 5 KiB (`batch_size_warn_threshold`); stay under it.
pub const DEFAULT_BATCH_BYTES: usize = 4 * 1024;

/// One statement's values: every column of the table in schema order, then timestamp and TTL.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub values: Vec<Bind>,
    pub bytes: usize,
    /// Whether it writes the row (counts as a row written when acknowledged).
    pub rows: u64,
    /// The non-frozen lists it writes whole, which the writer checks against the table first
    /// (see [`super::lists`]).
    pub lists: Vec<ListWrite>,
}

/// A non-frozen list a statement writes whole. Cassandra gives each element a cell path it
/// makes itself (a timeuuid of the moment it applies the write), so writing the same list
/// twice at the same timestamp keeps both copies: the writer checks the table first and
/// unsets the list where the table already holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListWrite {
    /// Where the list's value is bound in the statement.
    pub at: usize,
    /// The table column.
    pub column: usize,
    /// The row's clustering; empty for a static list.
    pub clustering: Vec<Vec<u8>>,
    /// The write time of its elements.
    pub timestamp: i64,
    /// Whether it appends (`l = l + ?`) rather than writes the list whole.
    pub append: bool,
}

/// Which prepared statement a batch of statements uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `INSERT` of every column.
    Insert,
    /// `INSERT` of the partition key and the static columns.
    InsertStatic,
    /// `UPDATE` of every column outside the primary key: cells written without the row's
    /// primary-key liveness (an `UPDATE` in the source, a compact table's row), which an
    /// `INSERT` would add. Its values are laid out as `Insert`'s; the writer binds them in the
    /// statement's order ([`update_order`]).
    Update,
    /// `UPDATE` of the static columns.
    UpdateStatic,
    /// `DELETE FROM ... USING TIMESTAMP ? WHERE <partition key>`.
    DeletePartition,
    /// `DELETE FROM ... USING TIMESTAMP ? WHERE <primary key>`.
    DeleteRow,
    /// A range deletion's piece: the partition key, equalities on a clustering prefix, a slice.
    DeleteRange(RangeShape),
    /// A change to some elements of one non-frozen collection or UDT (see [`element_text`]).
    Element(ElementOp),
}

/// What an element statement does to column `column` of a row (or of the static row, for a
/// static column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ElementOp {
    pub column: usize,
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `DELETE col FROM ... USING TIMESTAMP ?`: the collection deletion alone.
    DeleteColumn,
    /// `SET col = col + ?` with a timestamp and TTL: elements added (a list's appended).
    Add,
    /// `SET col = col - ?`: element tombstones of a set, or of a map by key.
    Remove,
    /// `SET col.field = ?` of a non-frozen UDT (null: the field's tombstone).
    SetField(usize),
    /// `SET col = ?` with a timestamp and TTL: a non-frozen list written whole again, one
    /// microsecond after an attempt that may still land (see [`fence`]).
    Replace,
}

/// The text of an element statement. Values: the timestamp, the TTL (for `Add` and
/// `SetField`), the value (but for `DeleteColumn`), then the key columns.
pub fn element_text(schema: &TableSchema, e: ElementOp) -> String {
    let column = &schema.columns[e.column];
    let keys = if column.kind == ColumnKind::Static {
        schema.partition_key_len
    } else {
        schema.partition_key_len + schema.clustering_len
    };
    let conditions: Vec<String> = schema.columns[..keys]
        .iter()
        .map(|c| format!("{} = ?", quote_identifier(&c.name)))
        .collect();
    let (table, name, conditions) = (
        &schema.name,
        quote_identifier(&column.name),
        conditions.join(" AND "),
    );
    match e.op {
        Op::DeleteColumn => {
            format!("DELETE {name} FROM {table} USING TIMESTAMP ? WHERE {conditions}")
        }
        Op::Add => format!(
            "UPDATE {table} USING TIMESTAMP ? AND TTL ? SET {name} = {name} + ? WHERE {conditions}"
        ),
        Op::Remove => {
            format!("UPDATE {table} USING TIMESTAMP ? SET {name} = {name} - ? WHERE {conditions}")
        }
        Op::Replace => {
            format!("UPDATE {table} USING TIMESTAMP ? AND TTL ? SET {name} = ? WHERE {conditions}")
        }
        Op::SetField(field) => {
            let field = match &column.cql_type {
                CqlType::Udt { def, .. } => def.fields.get(field).map_or("?", |f| f.0.as_str()),
                _ => "?",
            };
            format!(
                "UPDATE {table} USING TIMESTAMP ? AND TTL ? SET {name}.{} = ? WHERE {conditions}",
                quote_identifier(field)
            )
        }
    }
}

/// The write that stands in for a whole-list write `list` of `statement` (an `Insert` or
/// `InsertStatic`, or an earlier [`Op::Replace`]) after an attempt that failed without saying
/// whether it applied. That attempt may still land at any moment (a coordinator that was
/// stalled, a replica's delayed local write), and a second copy at the same timestamp `t`
/// would keep both copies' elements. Written at `t + 1` instead, the list's deletion at `t`
/// covers the first attempt's elements whenever they land, and its own elements win. A
/// fenced write fenced again moves on to `t + 2`, and so on.
///
/// Returns the `Replace` statement (timestamp, TTL, list, then the key columns), whose list
/// the writer checks like any other, or `None` when `statement` does not hold the list.
pub fn fence(
    schema: &TableSchema,
    kind: Kind,
    statement: &Statement,
    list: &ListWrite,
) -> Option<(ElementOp, Statement)> {
    let column = schema.columns.get(list.column)?;
    let keys = if column.kind == ColumnKind::Static {
        schema.partition_key_len
    } else {
        schema.partition_key_len + schema.clustering_len
    };
    let values = &statement.values;
    let (ttl, value, key) = match kind {
        Kind::Insert | Kind::InsertStatic | Kind::Update | Kind::UpdateStatic => {
            let [.., _, ttl] = values.as_slice() else {
                return None;
            };
            (ttl, values.get(list.at)?, values.get(..keys)?)
        }
        Kind::Element(ElementOp {
            op: Op::Replace, ..
        }) => (values.get(1)?, values.get(2)?, values.get(3..)?),
        _ => return None,
    };
    if list.append || !matches!(value, Bind::Value(_)) {
        return None;
    }
    let timestamp = list.timestamp + 1;
    let mut values = vec![
        Bind::Value(timestamp.to_be_bytes().to_vec()),
        ttl.clone(),
        value.clone(),
    ];
    values.extend(key.iter().cloned());
    let bytes = values.iter().map(Bind::len).sum();
    let op = ElementOp {
        column: list.column,
        op: Op::Replace,
    };
    let lists = vec![ListWrite {
        at: 2,
        timestamp,
        ..list.clone()
    }];
    Some((
        op,
        Statement {
            values,
            bytes,
            rows: 0,
            lists,
        },
    ))
}

/// The WHERE clause of a range deletion's piece: `eq` clustering columns equal, then bounds on
/// the next column, each `Some(inclusive)` when present (in clustering order: for a DESC column
/// the lower bound is the greater value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RangeShape {
    pub eq: usize,
    pub lower: Option<bool>,
    pub upper: Option<bool>,
}

/// `DELETE FROM t USING TIMESTAMP ? WHERE <partition key> AND <clustering prefix> AND <slice>`
/// for a range deletion's piece of `shape`.
pub fn range_delete_text(schema: &TableSchema, shape: RangeShape) -> String {
    let key = schema.partition_key_len;
    let mut conditions: Vec<String> = schema.columns[..key + shape.eq]
        .iter()
        .map(|c| format!("{} = ?", quote_identifier(&c.name)))
        .collect();
    if let Some(column) = schema.columns.get(key + shape.eq) {
        let desc = column.kind == ColumnKind::Clustering(ClusteringOrder::Desc);
        let name = quote_identifier(&column.name);
        // In clustering order, lower comes first: the smaller value unless the column is DESC.
        for (bound, lower) in [(shape.lower, true), (shape.upper, false)] {
            if let Some(inclusive) = bound {
                let op = match (lower != desc, inclusive) {
                    (true, true) => ">=",
                    (true, false) => ">",
                    (false, true) => "<=",
                    (false, false) => "<",
                };
                conditions.push(format!("{name} {op} ?"));
            }
        }
    }
    format!(
        "DELETE FROM {} USING TIMESTAMP ? WHERE {}",
        schema.name,
        conditions.join(" AND ")
    )
}

/// The statements of a range deletion: one per piece CQL can name (see [`slices`]). A range
/// over every row is the partition deletion when no static row would be lost with it.
fn range_statements(
    schema: &TableSchema,
    key: &[&[u8]],
    range: &RangeDeletion,
) -> Result<Vec<(Kind, Statement)>, CqlError> {
    let timestamp = range.deletion.timestamp;
    let mut out = Vec::new();
    for slice in slices(range) {
        let shape = RangeShape {
            eq: slice.eq.len(),
            lower: slice.lower.map(|(_, inclusive)| inclusive),
            upper: slice.upper.map(|(_, inclusive)| inclusive),
        };
        if shape.eq == 0 && shape.lower.is_none() && shape.upper.is_none() {
            if schema.has_static() {
                return Err(unsupported(
                    schema,
                    "a range deletion of every row of a partition with static columns",
                ));
            }
            out.push((Kind::DeletePartition, delete_statement(timestamp, key, &[])));
            continue;
        }
        let bounds: Vec<Vec<u8>> = slice
            .eq
            .iter()
            .cloned()
            .chain(slice.lower.map(|(v, _)| v.to_vec()))
            .chain(slice.upper.map(|(v, _)| v.to_vec()))
            .collect();
        out.push((
            Kind::DeleteRange(shape),
            delete_statement(timestamp, key, &bounds),
        ));
    }
    Ok(out)
}

/// The statements for a partition, grouped into batches of one kind each. Deletions are
/// written `USING TIMESTAMP` of their own, so the order of the batches does not matter.
pub fn partition_statements(
    schema: &TableSchema,
    partition: &Partition,
    batch_bytes: usize,
) -> Result<Vec<(Kind, Vec<Statement>)>, CqlError> {
    let key = split_key(&partition.key, schema.partition_key_len).ok_or(CqlError::Key {
        table: schema.name.to_string(),
        components: schema.partition_key_len,
    })?;
    let mut out = Vec::new();
    if let Some(deletion) = partition.deletion {
        out.push((
            Kind::DeletePartition,
            vec![delete_statement(deletion.timestamp, &key, &[])],
        ));
    }
    for range in &partition.range_deletions {
        out.extend(
            range_statements(schema, &key, range)?
                .into_iter()
                .map(|(kind, statement)| (kind, vec![statement])),
        );
    }
    let mut elements: BTreeMap<ElementKey, Vec<Statement>> = BTreeMap::new();
    let mut add_elements = |list: Vec<(ElementOp, Statement)>| {
        for (op, statement) in list {
            elements.entry(ElementKey(op)).or_default().push(statement);
        }
    };
    if let Some(row) = &partition.static_row {
        let (inserts, updates, element) = row_statements(schema, &key, row, true)?;
        add_elements(element);
        out.extend(
            batches(inserts, batch_bytes)
                .into_iter()
                .map(|b| (Kind::InsertStatic, b)),
        );
        out.extend(
            batches(updates, batch_bytes)
                .into_iter()
                .map(|b| (Kind::UpdateStatic, b)),
        );
    }
    let mut deletions = Vec::new();
    let mut statements = Vec::new();
    let mut updates = Vec::new();
    for row in &partition.rows {
        if let Some(deletion) = row.deletion {
            deletions.push(delete_statement(deletion.timestamp, &key, &row.clustering));
        }
        let (inserts, row_updates, element) = row_statements(schema, &key, row, false)?;
        statements.extend(inserts);
        updates.extend(row_updates);
        add_elements(element);
    }
    for (ElementKey(op), list) in elements {
        out.extend(
            batches(list, batch_bytes)
                .into_iter()
                .map(|b| (Kind::Element(op), b)),
        );
    }
    out.extend(
        batches(deletions, batch_bytes)
            .into_iter()
            .map(|b| (Kind::DeleteRow, b)),
    );
    out.extend(
        batches(statements, batch_bytes)
            .into_iter()
            .map(|b| (Kind::Insert, b)),
    );
    out.extend(
        batches(updates, batch_bytes)
            .into_iter()
            .map(|b| (Kind::Update, b)),
    );
    Ok(out)
}

/// Where each value of an `Insert`-laid-out statement (the columns in table order, then the
/// timestamp and TTL) goes in the `UPDATE ... USING TIMESTAMP ? AND TTL ? SET <columns outside
/// the key> WHERE <key>` that [`update_text`] prepares: `order[i]` is the index of the value
/// bound `i`th.
pub fn update_order(schema: &TableSchema, is_static: bool) -> Vec<usize> {
    let layout = insert_layout(schema, is_static);
    let keys = if is_static {
        schema.partition_key_len
    } else {
        schema.partition_key_len + schema.clustering_len
    };
    let n = layout.len();
    let mut order = vec![n, n + 1];
    order.extend(keys..n);
    order.extend(0..keys);
    order
}

/// The `UPDATE` of [`Kind::Update`] (or `UpdateStatic`), bound in [`update_order`].
pub fn update_text(schema: &TableSchema, is_static: bool) -> String {
    let layout = insert_layout(schema, is_static);
    let keys = if is_static {
        schema.partition_key_len
    } else {
        schema.partition_key_len + schema.clustering_len
    };
    let name = |i: usize| quote_identifier(&schema.columns[layout[i]].name);
    let set: Vec<String> = (keys..layout.len())
        .map(|i| format!("{} = ?", name(i)))
        .collect();
    let conditions: Vec<String> = (0..keys).map(|i| format!("{} = ?", name(i))).collect();
    format!(
        "UPDATE {} USING TIMESTAMP ? AND TTL ? SET {} WHERE {}",
        schema.name,
        set.join(", "),
        conditions.join(" AND ")
    )
}

/// The columns an `Insert` (or, static, an `InsertStatic`) statement binds, in order.
fn insert_layout(schema: &TableSchema, is_static: bool) -> Vec<usize> {
    (0..schema.columns.len())
        .filter(|&i| {
            !is_static
                || matches!(
                    schema.columns[i].kind,
                    ColumnKind::PartitionKey | ColumnKind::Static
                )
        })
        .collect()
}

/// `DELETE ... USING TIMESTAMP ? WHERE` the key (and clustering) columns.
fn delete_statement(timestamp: i64, key: &[&[u8]], clustering: &[Vec<u8>]) -> Statement {
    let values: Vec<Bind> = std::iter::once(Bind::Value(timestamp.to_be_bytes().to_vec()))
        .chain(key.iter().map(|k| Bind::Value(k.to_vec())))
        .chain(clustering.iter().map(|c| Bind::Value(c.clone())))
        .collect();
    Statement {
        bytes: values.iter().map(Bind::len).sum(),
        values,
        rows: 0,
        lists: Vec::new(),
    }
}

/// Element statements grouped by what they do, in a stable order.
#[derive(PartialEq, Eq)]
struct ElementKey(ElementOp);

impl PartialOrd for ElementKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ElementKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let rank = |e: &ElementOp| match e.op {
            Op::DeleteColumn => (e.column, 0, 0),
            Op::Remove => (e.column, 1, 0),
            Op::Add => (e.column, 2, 0),
            Op::SetField(f) => (e.column, 3, f),
            Op::Replace => (e.column, 4, 0),
        };
        rank(&self.0).cmp(&rank(&other.0))
    }
}

/// Whether a multi-cell column's data is one whole write: a collection deletion and every
/// element live one microsecond later with one TTL (what an `INSERT` of the value makes).
fn whole_write(cql_type: &CqlType, data: &ColumnData) -> bool {
    let Some(deletion) = data.complex_deletion else {
        return false;
    };
    let ttl = data.cells.first().and_then(|c| c.liveness.ttl());
    !matches!(cql_type, CqlType::Udt { .. })
        && data.cells.iter().all(|c| {
            c.timestamp == deletion.timestamp + 1
                && !c.liveness.is_tombstone()
                && c.liveness.ttl() == ttl
        })
}

/// The statements that write a multi-cell column's data element by element: its collection
/// deletion, its live elements by (timestamp, TTL), its element tombstones by timestamp. A
/// list element's tombstone names a cell path (a timeuuid) CQL cannot address; it is left
/// out: a fresh target never holds that path (its own writes make their own).
fn element_statements(
    schema: &TableSchema,
    keys: &[Bind],
    clustering: &[Vec<u8>],
    data: &ColumnData,
) -> Result<Vec<(ElementOp, Statement)>, CqlError> {
    let column = &schema.columns[data.column];
    let statement = |op: Op, mut values: Vec<Bind>| {
        values.extend(keys.iter().cloned());
        let bytes = values.iter().map(Bind::len).sum();
        (
            ElementOp {
                column: data.column,
                op,
            },
            Statement {
                values,
                bytes,
                rows: 0,
                lists: Vec::new(),
            },
        )
    };
    let ts = |t: i64| Bind::Value(t.to_be_bytes().to_vec());
    let ttl = |c: &Cell| {
        Bind::Value(
            (c.liveness.ttl().unwrap_or(0) as i32)
                .to_be_bytes()
                .to_vec(),
        )
    };
    let mut out = Vec::new();
    if let Some(d) = data.complex_deletion {
        out.push(statement(Op::DeleteColumn, vec![ts(d.timestamp)]));
    }
    if let CqlType::Udt { def, .. } = &column.cql_type {
        for cell in &data.cells {
            let field = udt_field_index(&cell.path).unwrap_or(usize::MAX);
            if field >= def.fields.len() {
                return Err(unsupported(
                    schema,
                    &format!("a field path of {} that is not a field", column.name),
                ));
            }
            let value = if cell.liveness.is_tombstone() {
                Bind::Null
            } else {
                Bind::Value(cell.value.to_vec())
            };
            let cell_ttl = if cell.liveness.is_tombstone() {
                Bind::Value(0i32.to_be_bytes().to_vec())
            } else {
                ttl(cell)
            };
            out.push(statement(
                Op::SetField(field),
                vec![ts(cell.timestamp), cell_ttl, value],
            ));
        }
        return Ok(out);
    }
    // Live elements by (timestamp, TTL), in path order (a list's appends keep their order).
    let mut live: Vec<((i64, u32), Vec<&Cell>)> = Vec::new();
    let mut dead: BTreeMap<i64, Vec<&Cell>> = BTreeMap::new();
    for cell in &data.cells {
        if cell.liveness.is_tombstone() {
            dead.entry(cell.timestamp).or_default().push(cell);
            continue;
        }
        let group = (cell.timestamp, cell.liveness.ttl().unwrap_or(0));
        match live.iter_mut().find(|(g, _)| *g == group) {
            Some((_, cells)) => cells.push(cell),
            None => live.push((group, vec![cell])),
        }
    }
    let collection = |e| CqlError::Collection {
        table: schema.name.to_string(),
        column: column.name.clone(),
        source: e,
    };
    for ((t, seconds), cells) in live {
        let value = assemble(&column.cql_type, &cells).map_err(collection)?;
        let (op, mut add) = statement(
            Op::Add,
            vec![
                ts(t),
                Bind::Value((seconds as i32).to_be_bytes().to_vec()),
                Bind::Value(value),
            ],
        );
        if matches!(column.cql_type, CqlType::List { .. }) {
            // An append is not idempotent: the writer checks the table first.
            add.lists.push(ListWrite {
                at: 2,
                column: data.column,
                clustering: clustering.to_vec(),
                timestamp: t,
                append: true,
            });
        }
        out.push((op, add));
    }
    if !matches!(column.cql_type, CqlType::List { .. }) {
        for (t, cells) in dead {
            // A set of the elements (a set's paths, a map's keys).
            let mut value = (cells.len() as i32).to_be_bytes().to_vec();
            for c in cells {
                value.extend((c.path.len() as i32).to_be_bytes());
                value.extend_from_slice(&c.path);
            }
            out.push(statement(Op::Remove, vec![ts(t), Bind::Value(value)]));
        }
    }
    Ok(out)
}

/// One statement per distinct (timestamp, TTL) among the row's cells and liveness: an `INSERT`
/// for the row's own liveness (primary-key liveness is what an `INSERT` writes), `UPDATE`s for
/// the rest; and the element statements of multi-cell columns not written whole.
#[allow(clippy::type_complexity)]
fn row_statements(
    schema: &TableSchema,
    key: &[&[u8]],
    row: &Row,
    is_static: bool,
) -> Result<(Vec<Statement>, Vec<Statement>, Vec<(ElementOp, Statement)>), CqlError> {
    // Statement layout: the prepared statement's columns, then timestamp, then TTL.
    let layout = insert_layout(schema, is_static);
    let mut template = vec![Bind::Unset; layout.len()];
    for (i, k) in key.iter().enumerate() {
        template[i] = Bind::Value(k.to_vec());
    }
    if !is_static {
        for (i, c) in row.clustering.iter().enumerate() {
            template[schema.partition_key_len + i] = Bind::Value(c.clone());
        }
    }
    let mut groups: BTreeMap<(i64, u32), (Vec<Bind>, Vec<ListWrite>)> = BTreeMap::new();
    let mut elements: Vec<(ElementOp, Statement)> = Vec::new();
    let new_group = || (template.clone(), Vec::new());
    if let Some(l) = row.liveness {
        groups
            .entry((l.timestamp, l.liveness.ttl().unwrap_or(0)))
            .or_insert_with(new_group);
    }
    for data in &row.columns {
        let column = &schema.columns[data.column];
        let Some(at) = layout.iter().position(|&c| c == data.column) else {
            return Err(unsupported(
                schema,
                &format!("column {} in a static row", column.name),
            ));
        };
        if column.cql_type.is_multi_cell() && !whole_write(&column.cql_type, data) {
            let keys: Vec<Bind> = key
                .iter()
                .map(|k| Bind::Value(k.to_vec()))
                .chain(
                    (!is_static)
                        .then_some(&row.clustering)
                        .into_iter()
                        .flatten()
                        .map(|c| Bind::Value(c.clone())),
                )
                .collect();
            let clustering = if is_static { &[][..] } else { &row.clustering };
            elements.extend(element_statements(schema, &keys, clustering, data)?);
            continue;
        }
        if column.cql_type.is_multi_cell() {
            let deletion = data
                .complex_deletion
                .expect("a whole write has its deletion");
            let ts = deletion.timestamp + 1;
            let live: Vec<_> = data
                .cells
                .iter()
                .filter(|c| !c.liveness.is_tombstone())
                .collect();
            let ttl = live.first().and_then(|c| c.liveness.ttl()).unwrap_or(0);
            let value = if live.is_empty() {
                Bind::Null
            } else {
                Bind::Value(assemble(&column.cql_type, &live).map_err(|source| {
                    CqlError::Collection {
                        table: schema.name.to_string(),
                        column: column.name.clone(),
                        source,
                    }
                })?)
            };
            let (values, lists) = groups.entry((ts, ttl)).or_insert_with(new_group);
            if matches!(value, Bind::Value(_)) && matches!(column.cql_type, CqlType::List { .. }) {
                lists.push(ListWrite {
                    at,
                    column: data.column,
                    clustering: row.clustering.clone(),
                    timestamp: ts,
                    append: false,
                });
            }
            values[at] = value;
            continue;
        }
        for cell in &data.cells {
            let (ttl, value) = match cell.liveness {
                Liveness::Tombstone { .. } => (0, Bind::Null),
                l => (l.ttl().unwrap_or(0), Bind::Value(cell.value.to_vec())),
            };
            groups
                .entry((cell.timestamp, ttl))
                .or_insert_with(new_group)
                .0[at] = value;
        }
    }
    // A row whose cells carry several (timestamp, TTL) pairs takes several statements; it
    // counts as one row written, with its first statement.
    let rows = |i: usize| u64::from(!is_static && i == 0);
    let marker = row
        .liveness
        .map(|l| (l.timestamp, l.liveness.ttl().unwrap_or(0)));
    let (mut inserts, mut updates) = (Vec::new(), Vec::new());
    for (i, ((ts, ttl), (mut values, lists))) in groups.into_iter().enumerate() {
        values.push(Bind::Value(ts.to_be_bytes().to_vec()));
        values.push(Bind::Value((ttl as i32).to_be_bytes().to_vec()));
        let bytes = values.iter().map(Bind::len).sum();
        let statement = Statement {
            values,
            bytes,
            rows: rows(i),
            lists,
        };
        if marker == Some((ts, ttl)) {
            inserts.push(statement);
        } else {
            updates.push(statement);
        }
    }
    if inserts.is_empty()
        && updates.is_empty()
        && let Some((_, first)) = elements.first_mut()
    {
        first.rows = u64::from(!is_static);
    }
    Ok((inserts, updates, elements))
}

/// Groups one partition's statements into batches of at most `batch_bytes` and 100 statements.
fn batches(statements: Vec<Statement>, batch_bytes: usize) -> Vec<Vec<Statement>> {
    let mut out: Vec<Vec<Statement>> = Vec::new();
    let mut size = 0;
    for s in statements {
        match out.last_mut() {
            Some(batch) if size + s.bytes <= batch_bytes && batch.len() < 100 => {
                size += s.bytes;
                batch.push(s);
            }
            _ => {
                size = s.bytes;
                out.push(vec![s]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cell::{ColumnData, RowLiveness};
    use crate::model::collection::explode;
    use crate::model::{Cell, Token, Value};

    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.t",
            &[
                ("k", "partition_key", "text"),
                ("c", "clustering", "int"),
                ("a", "regular", "text"),
                ("b", "regular", "int"),
                ("s", "static", "text"),
                ("tags", "regular", "set<text>"),
            ],
        )
        .unwrap()
    }

    fn v(value: Value) -> Bind {
        Bind::Value(value.to_bytes())
    }

    fn partition(rows: Vec<Row>) -> Partition {
        Partition {
            token: Token::of_key(b"key"),
            key: b"key".to_vec(),
            deletion: None,
            range_deletions: Vec::new(),
            static_row: None,
            rows,
        }
    }

    fn row(c: i32, columns: Vec<ColumnData>) -> Row {
        Row {
            clustering: vec![Value::Int(c).to_bytes()],
            liveness: Some(RowLiveness {
                timestamp: 10,
                liveness: Liveness::Live,
            }),
            deletion: None,
            columns,
        }
    }

    fn simple(column: usize, cell: Cell) -> ColumnData {
        ColumnData {
            column,
            cells: vec![cell],
            complex_deletion: None,
        }
    }

    #[test]
    fn cells_sharing_a_timestamp_and_ttl_become_one_insert_with_the_rest_unset() {
        let schema = schema();
        let p = partition(vec![row(
            1,
            vec![simple(
                2,
                Cell::live(10, Value::Text("x".into()).to_bytes()),
            )],
        )]);
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        assert_eq!(planned.len(), 1);
        let (kind, batch) = &planned[0];
        assert_eq!(*kind, Kind::Insert);
        assert_eq!(
            batch[0].values,
            [
                Bind::Value(b"key".to_vec()),
                v(Value::Int(1)),
                v(Value::Text("x".into())),
                Bind::Unset,
                Bind::Unset,
                Bind::Unset,
                v(Value::Bigint(10)),
                v(Value::Int(0)),
            ]
        );
    }

    #[test]
    fn cells_with_different_timestamps_or_ttls_get_statements_of_their_own() {
        let schema = schema();
        let expiring = Cell {
            liveness: Liveness::expiring_from(20, 60),
            ..Cell::live(20, Value::Int(5).to_bytes())
        };
        let p = partition(vec![row(
            1,
            vec![simple(2, Cell::tombstone(10, 0)), simple(3, expiring)],
        )]);
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        let kinds: Vec<Kind> = planned.iter().map(|(k, _)| *k).collect();
        // The row's liveness (at 10) is an INSERT's; the cells at 20 are not the row's own.
        assert_eq!(kinds, [Kind::Insert, Kind::Update]);
        let (insert, update) = (&planned[0].1[0], &planned[1].1[0]);
        assert_eq!(insert.values[2], Bind::Null, "a tombstone binds NULL");
        assert_eq!(insert.values[3], Bind::Unset);
        assert_eq!(insert.values[6..], [v(Value::Bigint(10)), v(Value::Int(0))]);
        assert_eq!(update.values[2], Bind::Unset);
        assert_eq!(update.values[3], v(Value::Int(5)));
        assert_eq!(
            update.values[6..],
            [v(Value::Bigint(20)), v(Value::Int(60))]
        );
        assert_eq!(insert.rows + update.rows, 1, "the row counts once");
    }

    #[test]
    fn partition_and_row_deletions_become_deletes_at_their_own_timestamps() {
        let schema = schema();
        let mut p = partition(vec![
            Row {
                deletion: Some(crate::model::Deletion {
                    timestamp: 30,
                    local_deletion_time: 0,
                }),
                liveness: None,
                ..row(1, vec![])
            },
            row(2, vec![simple(2, Cell::live(40, b"x".to_vec()))]),
        ]);
        p.deletion = Some(crate::model::Deletion {
            timestamp: 20,
            local_deletion_time: 0,
        });
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        let kinds: Vec<Kind> = planned.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            [
                Kind::DeletePartition,
                Kind::DeleteRow,
                Kind::Insert,
                Kind::Update
            ]
        );
        assert_eq!(
            planned[0].1[0].values,
            [v(Value::Bigint(20)), Bind::Value(b"key".to_vec())],
            "timestamp, then the partition key"
        );
        assert_eq!(
            planned[1].1[0].values,
            [
                v(Value::Bigint(30)),
                Bind::Value(b"key".to_vec()),
                v(Value::Int(1))
            ],
            "timestamp, then the primary key"
        );
        assert_eq!(
            (planned[2].1.len(), planned[3].1.len()),
            (1, 1),
            "row 2's liveness at 10 (an insert) and its cell at 40 (an update); nothing for the deleted row"
        );
        assert_eq!(
            planned
                .iter()
                .flat_map(|(_, b)| b)
                .map(|s| s.rows)
                .sum::<u64>(),
            1
        );
    }

    #[test]
    fn range_deletions_become_deletes_on_a_clustering_prefix_and_a_slice_in_value_order() {
        let schema = TableSchema::from_columns(
            "ks.r",
            &[
                ("k", "partition_key", "text"),
                ("a", "clustering", "int"),
                ("b", "clustering desc", "int"),
                ("v", "regular", "text"),
            ],
        )
        .unwrap();
        let bound = |values: &[i32], inclusive: bool| crate::model::SliceBound {
            prefix: values.iter().map(|&x| Value::Int(x).to_bytes()).collect(),
            inclusive,
        };
        let mut p = partition(vec![]);
        // From (1, 5) exclusive to a = 3 inclusive: `a = 1 AND b < 5` (b is DESC), then
        // `a > 1 AND a <= 3`.
        p.range_deletions.push(RangeDeletion {
            start: bound(&[1, 5], false),
            end: bound(&[3], true),
            deletion: crate::model::Deletion {
                timestamp: 50,
                local_deletion_time: 0,
            },
        });
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        let shapes: Vec<RangeShape> = planned
            .iter()
            .map(|(k, _)| match k {
                Kind::DeleteRange(shape) => *shape,
                other => panic!("{other:?}"),
            })
            .collect();
        let texts: Vec<String> = shapes
            .iter()
            .map(|s| range_delete_text(&schema, *s))
            .collect();
        assert_eq!(
            texts,
            [
                "DELETE FROM ks.r USING TIMESTAMP ? WHERE k = ? AND a = ? AND b < ?",
                "DELETE FROM ks.r USING TIMESTAMP ? WHERE k = ? AND a > ? AND a <= ?",
            ]
        );
        let key = Bind::Value(b"key".to_vec());
        assert_eq!(
            planned[0].1[0].values,
            [
                v(Value::Bigint(50)),
                key.clone(),
                v(Value::Int(1)),
                v(Value::Int(5))
            ]
        );
        assert_eq!(
            planned[1].1[0].values,
            [
                v(Value::Bigint(50)),
                key,
                v(Value::Int(1)),
                v(Value::Int(3))
            ]
        );
        assert!(planned.iter().all(|(_, b)| b.iter().all(|s| s.rows == 0)));

        // Every row of a partition: the partition deletion, unless a static row would go too.
        p.range_deletions[0].start = crate::model::SliceBound::open();
        p.range_deletions[0].end = crate::model::SliceBound::open();
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        assert_eq!(planned[0].0, Kind::DeletePartition);
        assert!(matches!(
            partition_statements(&self::schema(), &p, DEFAULT_BATCH_BYTES),
            Err(CqlError::Unsupported { .. })
        ));
    }

    #[test]
    fn elements_with_write_times_of_their_own_become_element_statements() {
        // As an SSTable holds them: a set written whole at 10 (its deletion at 9), an element
        // added at 20 with a TTL, an element removed at 30.
        let schema = schema();
        let text = |s: &str| Value::Text(s.into()).to_bytes();
        let cell = |ts: i64, path: &str, liveness: Liveness| Cell {
            timestamp: ts,
            liveness,
            path: text(path).into(),
            value: Vec::new().into(),
        };
        let expiring = Liveness::Expiring {
            ttl: 60,
            local_deletion_time: 1000,
        };
        let tags = ColumnData {
            column: 5,
            cells: vec![
                cell(10, "a", Liveness::Live),
                cell(20, "b", expiring),
                cell(
                    30,
                    "c",
                    Liveness::Tombstone {
                        local_deletion_time: 5,
                    },
                ),
            ],
            complex_deletion: Some(crate::model::Deletion {
                timestamp: 9,
                local_deletion_time: 5,
            }),
        };
        let mut r = row(1, vec![tags]);
        r.liveness = None;
        let planned =
            partition_statements(&schema, &partition(vec![r]), DEFAULT_BATCH_BYTES).unwrap();
        let op = |op| Kind::Element(ElementOp { column: 5, op });
        let kinds: Vec<Kind> = planned.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, [op(Op::DeleteColumn), op(Op::Remove), op(Op::Add)]);
        let key = Bind::Value(b"key".to_vec());
        let one = v(Value::Int(1));
        let set = |items: &[&str]| {
            v(Value::Set(
                items.iter().map(|s| Value::Text((*s).into())).collect(),
            ))
        };
        let ttl = |s: i32| Bind::Value(s.to_be_bytes().to_vec());
        assert_eq!(
            planned[0].1[0].values,
            [v(Value::Bigint(9)), key.clone(), one.clone()]
        );
        assert_eq!(
            planned[1].1[0].values,
            [v(Value::Bigint(30)), set(&["c"]), key.clone(), one.clone()]
        );
        let adds: Vec<&Vec<Bind>> = planned[2].1.iter().map(|s| &s.values).collect();
        assert_eq!(
            adds,
            [
                &vec![
                    v(Value::Bigint(10)),
                    ttl(0),
                    set(&["a"]),
                    key.clone(),
                    one.clone()
                ],
                &vec![v(Value::Bigint(20)), ttl(60), set(&["b"]), key, one],
            ]
        );
        assert_eq!(planned[2].1[0].rows, 0);
        assert_eq!(
            planned[0].1[0].rows, 1,
            "the row counts once, with its first statement"
        );
        assert_eq!(
            element_text(
                &schema,
                ElementOp {
                    column: 5,
                    op: Op::Add
                }
            ),
            "UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET tags = tags + ? WHERE k = ? AND c = ?"
        );
        assert_eq!(
            element_text(
                &schema,
                ElementOp {
                    column: 5,
                    op: Op::DeleteColumn
                }
            ),
            "DELETE tags FROM ks.t USING TIMESTAMP ? WHERE k = ? AND c = ?"
        );
    }

    #[test]
    fn a_list_written_again_after_an_unknown_outcome_moves_one_microsecond_later_each_time() {
        let schema = TableSchema::from_columns(
            "ks.l",
            &[
                ("k", "partition_key", "text"),
                ("c", "clustering", "int"),
                ("names", "regular", "list<text>"),
                ("tags", "static", "list<text>"),
            ],
        )
        .unwrap();
        let list =
            |items: &[&str]| Value::List(items.iter().map(|s| Value::Text((*s).into())).collect());
        let whole = |column: usize, items: &[&str], ts: i64| {
            explode(
                column,
                &schema.columns[column].cql_type,
                &list(items).to_bytes(),
                ts,
                Liveness::Live,
            )
            .unwrap()
        };
        let mut p = partition(vec![row(1, vec![whole(2, &["a", "b"], 10)])]);
        p.static_row = Some(Row {
            columns: vec![whole(3, &["x"], 20)],
            ..Row::default()
        });
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        let schema = &schema;
        let fenced: Vec<(ElementOp, Statement)> = planned
            .iter()
            .flat_map(|(kind, batch)| batch.iter().map(move |s| (*kind, s)))
            .flat_map(|(kind, s)| s.lists.iter().map(move |l| fence(schema, kind, s, l)))
            .map(Option::unwrap)
            .collect();
        let key = Bind::Value(b"key".to_vec());
        let ttl = v(Value::Int(0));
        let (ops, values): (Vec<_>, Vec<_>) = fenced.iter().map(|(o, s)| (*o, &s.values)).unzip();
        assert_eq!(
            ops,
            [
                ElementOp {
                    column: 3,
                    op: Op::Replace
                },
                ElementOp {
                    column: 2,
                    op: Op::Replace
                },
            ]
        );
        assert_eq!(
            values,
            [
                &vec![
                    v(Value::Bigint(21)),
                    ttl.clone(),
                    v(list(&["x"])),
                    key.clone()
                ],
                &vec![
                    v(Value::Bigint(11)),
                    ttl.clone(),
                    v(list(&["a", "b"])),
                    key.clone(),
                    v(Value::Int(1))
                ],
            ]
        );
        let (op, again) = &fenced[1];
        assert_eq!(again.lists[0].timestamp, 11);
        assert_eq!(again.lists[0].at, 2);
        let (_, third) = fence(schema, Kind::Element(*op), again, &again.lists[0]).unwrap();
        assert_eq!(third.values[0], v(Value::Bigint(12)));
        assert_eq!(third.values[1..], again.values[1..]);
        assert_eq!(third.lists[0].timestamp, 12);
        assert_eq!(
            element_text(schema, *op),
            "UPDATE ks.l USING TIMESTAMP ? AND TTL ? SET names = ? WHERE k = ? AND c = ?"
        );
        assert_eq!(
            element_text(schema, fenced[0].0),
            "UPDATE ks.l USING TIMESTAMP ? AND TTL ? SET tags = ? WHERE k = ?"
        );
    }

    #[test]
    fn a_whole_collection_is_written_as_one_value_at_its_write_time() {
        let schema = schema();
        let set = Value::Set(vec![Value::Text("b".into()), Value::Text("a".into())]);
        let data = explode(
            5,
            &schema.columns[5].cql_type,
            &set.to_bytes(),
            10,
            Liveness::Live,
        )
        .unwrap();
        let p = partition(vec![row(1, vec![data])]);
        let batch = &partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap()[0].1;
        assert_eq!(batch.len(), 1);
        let sorted = Value::Set(vec![Value::Text("a".into()), Value::Text("b".into())]);
        assert_eq!(batch[0].values[5], v(sorted));
    }

    #[test]
    fn a_partitions_rows_are_batched_under_the_size_limit() {
        let schema = schema();
        let rows = (0..50)
            .map(|i| row(i, vec![simple(2, Cell::live(10, vec![b'x'; 100]))]))
            .collect();
        let planned = partition_statements(&schema, &partition(rows), 1024).unwrap();
        assert!(planned.len() > 1);
        assert!(
            planned
                .iter()
                .all(|(_, b)| b.iter().map(|s| s.bytes).sum::<usize>() <= 1024)
        );
        assert_eq!(planned.iter().map(|(_, b)| b.len()).sum::<usize>(), 50);
    }

    #[test]
    fn a_static_row_binds_only_the_key_and_static_columns() {
        let schema = schema();
        let mut p = partition(vec![]);
        p.static_row = Some(Row {
            columns: vec![simple(4, Cell::live(10, b"s".to_vec()))],
            ..Row::default()
        });
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        let (kind, batch) = &planned[0];
        assert_eq!(*kind, Kind::UpdateStatic, "a static row without liveness");
        assert_eq!(batch[0].values.len(), 4, "k, s, timestamp, ttl");
        assert_eq!(batch[0].rows, 0);
    }

    #[test]
    fn a_row_without_liveness_is_an_update_so_no_primary_key_liveness_is_added() {
        // An UPDATE in the source (or a compact table's row): once its cells are gone, the row
        // is gone; an INSERT would keep it alive with NULLs.
        let schema = schema();
        let p = partition(vec![Row {
            liveness: None,
            ..row(1, vec![simple(2, Cell::live(40, b"x".to_vec()))])
        }]);
        let planned = partition_statements(&schema, &p, DEFAULT_BATCH_BYTES).unwrap();
        assert_eq!(planned.len(), 1);
        let (kind, batch) = &planned[0];
        assert_eq!(*kind, Kind::Update);
        assert_eq!(batch[0].rows, 1);
        assert_eq!(
            update_text(&schema, false),
            "UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET a = ?, b = ?, s = ?, tags = ? WHERE k = ? AND c = ?"
        );
        // Bound in that order: timestamp, TTL, the columns outside the key, then the key.
        assert_eq!(update_order(&schema, false), [6, 7, 2, 3, 4, 5, 0, 1]);
        assert_eq!(update_order(&schema, true), [2, 3, 1, 0]);
        assert_eq!(
            update_text(&schema, true),
            "UPDATE ks.t USING TIMESTAMP ? AND TTL ? SET s = ? WHERE k = ?"
        );
    }
}
