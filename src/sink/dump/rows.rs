//! A partition turned into the rows `SELECT` would return, as a dump writes them: the cells
//! visible now (not deleted, shadowed or expired), each row's partition key and clustering
//! values, the static columns on every row of their partition (or on a row of their own, with
//! null clustering, when the partition has no other row), multi-cell collections and UDTs
//! assembled from their live elements (an empty collection is a null, as CQL reads it).
//!
//! With write times, a column `c` gets `c_writetime` (µs, `writetime(c)`; for a multi-cell
//! collection the latest of its elements', as `maxwritetime(c)` gives it), with TTLs `c_ttl`
//! (seconds left, `ttl(c)`; for a collection the fewest any element has left).

use std::sync::Arc;

use super::format::{DumpColumn, DumpError};
use crate::merge::shadows;
use crate::model::cell::Liveness;
use crate::model::collection::{assemble, udt_field_index};
use crate::model::order::ClusteringComparator;
use crate::model::token::split_key;
use crate::model::types::NativeType;
use crate::model::{Cell, ColumnKind, CqlType, Deletion, Partition, Row, TableSchema, Value};

/// A dump row: a field per dump column.
pub type Fields = Vec<Option<Value>>;

/// What a dump column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Value(usize),
    WriteTime(usize),
    Ttl(usize),
}

/// Which of a table's columns a dump writes, and how to read them from partitions.
pub struct RowShape {
    schema: Arc<TableSchema>,
    fields: Vec<Field>,
    columns: Vec<DumpColumn>,
    comparator: ClusteringComparator,
    /// Seconds since the epoch at which expiring cells are judged.
    now: i64,
}

impl RowShape {
    /// The dump of `names` (every column, in the table's order, when `None`), then a write
    /// time and a TTL column for each that is not part of the primary key, when asked.
    pub fn new(
        schema: Arc<TableSchema>,
        names: Option<&[String]>,
        with_writetime: bool,
        with_ttl: bool,
        now: i64,
    ) -> Result<RowShape, DumpError> {
        let chosen: Vec<usize> = match names {
            None => (0..schema.columns.len()).collect(),
            Some(names) => names
                .iter()
                .map(|name| {
                    schema
                        .column(name)
                        .map(|(i, _)| i)
                        .ok_or_else(|| DumpError::NoColumn {
                            column: name.clone(),
                            columns: schema
                                .columns
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let mut fields: Vec<Field> = chosen.iter().map(|&i| Field::Value(i)).collect();
        let keys = schema.partition_key_len + schema.clustering_len;
        for &i in chosen.iter().filter(|&&i| i >= keys) {
            if with_writetime {
                fields.push(Field::WriteTime(i));
            }
            if with_ttl {
                fields.push(Field::Ttl(i));
            }
        }
        let columns = fields
            .iter()
            .map(|field| match *field {
                Field::Value(i) => DumpColumn {
                    name: schema.columns[i].name.clone(),
                    cql_type: schema.columns[i].cql_type.clone(),
                },
                Field::WriteTime(i) => DumpColumn {
                    name: format!("{}_writetime", schema.columns[i].name),
                    cql_type: CqlType::Native(NativeType::Bigint),
                },
                Field::Ttl(i) => DumpColumn {
                    name: format!("{}_ttl", schema.columns[i].name),
                    cql_type: CqlType::Native(NativeType::Int),
                },
            })
            .collect();
        Ok(RowShape {
            comparator: ClusteringComparator::new(&schema),
            schema,
            fields,
            columns,
            now,
        })
    }

    /// The dump's columns, in the order of each row's fields.
    pub fn columns(&self) -> &[DumpColumn] {
        &self.columns
    }

    /// Appends the rows `SELECT` would return from `partition` to `out`.
    #[cfg(test)]
    pub fn rows(&self, partition: &Partition, out: &mut Vec<Fields>) -> Result<(), DumpError> {
        let mut buf = RowBuf::default();
        self.fill(partition, &mut buf)?;
        out.extend(buf.iter().map(<[Option<Value>]>::to_vec));
        Ok(())
    }

    /// Puts the rows `SELECT` would return from `partition` into `out`, in place of what it
    /// held. The rows' buffers (and the text of their values) are reused from call to call: a
    /// dump of millions of rows allocates for a few.
    pub fn fill(&self, partition: &Partition, out: &mut RowBuf) -> Result<(), DumpError> {
        out.len = 0;
        let schema = &*self.schema;
        let key = split_key(&partition.key, schema.partition_key_len).ok_or_else(|| {
            DumpError::Value {
                column: schema.partition_key()[0].name.clone(),
                message: "a partition key that is not a well-formed key of the table".into(),
            }
        })?;
        let mut statics = Vec::new();
        if let Some(row) = &partition.static_row {
            self.visible(row, partition.deletion, &mut statics);
        }
        let mut cells = Vec::new();
        for row in &partition.rows {
            let mut deletion = merge_deletion(partition.deletion, row.deletion);
            for range in &partition.range_deletions {
                if self.comparator.covers(range, &row.clustering) {
                    deletion = merge_deletion(deletion, Some(range.deletion));
                }
            }
            self.visible(row, deletion, &mut cells);
            let alive = row
                .liveness
                .is_some_and(|l| !shadows(deletion, l.timestamp) && self.is_live(l.liveness))
                || cells.iter().any(Option::is_some);
            if alive {
                let fields = out.next(self.fields.len());
                self.fields(&key, Some(&row.clustering), &cells, &statics, fields)?;
            }
        }
        if out.len == 0 && statics.iter().any(Option::is_some) {
            let fields = out.next(self.fields.len());
            self.fields(&key, None, &[], &statics, fields)?;
        }
        Ok(())
    }

    fn is_live(&self, liveness: Liveness) -> bool {
        live_at(liveness, self.now)
    }

    /// The visible cells of each of `row`'s columns under `deletion`, by column index, into
    /// `out`.
    fn visible<'p>(
        &self,
        row: &'p Row,
        deletion: Option<Deletion>,
        out: &mut Vec<Option<Visible<'p>>>,
    ) {
        out.clear();
        out.resize(self.schema.columns.len(), None);
        for data in &row.columns {
            let Some(slot) = out.get_mut(data.column) else {
                continue;
            };
            let visible = Visible {
                cells: &data.cells,
                deletion: match data.complex_deletion {
                    Some(d) => merge_deletion(deletion, Some(d)),
                    None => deletion,
                },
                now: self.now,
            };
            if visible.iter().next().is_some() {
                *slot = Some(visible);
            }
        }
    }

    fn fields(
        &self,
        key: &[&[u8]],
        clustering: Option<&[Vec<u8>]>,
        cells: &[Option<Visible<'_>>],
        statics: &[Option<Visible<'_>>],
        out: &mut [Option<Value>],
    ) -> Result<(), DumpError> {
        let schema = &*self.schema;
        let cell_of = |i: usize| match schema.columns[i].kind {
            ColumnKind::Static => statics.get(i).and_then(Option::as_ref),
            _ => cells.get(i).and_then(Option::as_ref),
        };
        for (field, slot) in self.fields.iter().zip(out) {
            match *field {
                Field::Value(i) => {
                    let column = &schema.columns[i];
                    let bytes = match column.kind {
                        ColumnKind::PartitionKey => Some(key[i]),
                        ColumnKind::Clustering(_) => clustering
                            .and_then(|c| c.get(i - schema.partition_key_len))
                            .map(Vec::as_slice),
                        _ => None,
                    };
                    match bytes {
                        Some(bytes) => decode(&column.name, &column.cql_type, bytes, slot)?,
                        None => match cell_of(i) {
                            Some(visible) => visible.value(&column.name, &column.cql_type, slot)?,
                            None => *slot = None,
                        },
                    }
                }
                Field::WriteTime(i) => {
                    *slot = cell_of(i)
                        .and_then(|v| v.iter().map(|c| c.timestamp).max())
                        .map(Value::Bigint);
                }
                Field::Ttl(i) => {
                    *slot = cell_of(i)
                        .and_then(|v| {
                            v.iter()
                                .filter_map(|c| match c.liveness {
                                    Liveness::Expiring {
                                        local_deletion_time,
                                        ..
                                    } => Some(local_deletion_time - self.now),
                                    _ => None,
                                })
                                .min()
                        })
                        .map(|left| Value::Int(left.clamp(0, i64::from(i32::MAX)) as i32));
                }
            }
        }
        Ok(())
    }
}

/// The rows of one partition as a dump writes them, in buffers kept from partition to
/// partition.
#[derive(Default)]
pub struct RowBuf {
    rows: Vec<Fields>,
    len: usize,
}

impl RowBuf {
    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[Option<Value>]> {
        self.rows[..self.len].iter().map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A row of `width` fields to fill, with what an earlier row left in it.
    fn next(&mut self, width: usize) -> &mut [Option<Value>] {
        if self.len == self.rows.len() {
            self.rows.push(vec![None; width]);
        }
        self.len += 1;
        &mut self.rows[self.len - 1]
    }
}

/// Whether a cell or row marker of `liveness` is live at `now` (seconds since the epoch).
fn live_at(liveness: Liveness, now: i64) -> bool {
    match liveness {
        Liveness::Live => true,
        Liveness::Expiring {
            local_deletion_time,
            ..
        } => local_deletion_time > now,
        Liveness::Tombstone { .. } => false,
    }
}

/// A column's visible cells in one row: those of `cells` that `deletion` does not shadow and
/// that have not expired.
#[derive(Clone, Copy)]
struct Visible<'p> {
    cells: &'p [Cell],
    deletion: Option<Deletion>,
    now: i64,
}

impl<'p> Visible<'p> {
    fn iter(&self) -> impl Iterator<Item = &'p Cell> + 'p {
        let (deletion, now) = (self.deletion, self.now);
        self.cells
            .iter()
            .filter(move |c| !shadows(deletion, c.timestamp) && live_at(c.liveness, now))
    }

    /// The column's value as `SELECT` gives it, into `slot`.
    fn value(
        &self,
        name: &str,
        cql_type: &CqlType,
        slot: &mut Option<Value>,
    ) -> Result<(), DumpError> {
        if !cql_type.is_multi_cell() {
            return match self.iter().next() {
                // A simple column has one cell. Empty bytes are a value only for the types
                // whose values can be empty (text, blobs); for others CQL reads them as null.
                Some(cell) if cell.value.is_empty() && !can_be_empty(cql_type) => {
                    *slot = None;
                    Ok(())
                }
                Some(cell) => decode(name, cql_type, &cell.value, slot),
                None => {
                    *slot = None;
                    Ok(())
                }
            };
        }
        if let CqlType::Udt { def, .. } = cql_type {
            let mut fields = vec![None; def.fields.len()];
            for cell in self.iter() {
                let index = udt_field_index(&cell.path).unwrap_or(usize::MAX);
                let Some((_, field_type)) = def.fields.get(index) else {
                    return Err(DumpError::Value {
                        column: name.to_owned(),
                        message: format!("a cell of field {index}, which the type does not have"),
                    });
                };
                decode(name, field_type, &cell.value, &mut fields[index])?;
            }
            *slot = Some(Value::Udt(fields));
            return Ok(());
        }
        let cells: Vec<&Cell> = self.iter().collect();
        let bytes = assemble(cql_type, &cells).map_err(|e| DumpError::Value {
            column: name.to_owned(),
            message: e.to_string(),
        })?;
        decode(name, cql_type, &bytes, slot)
    }
}

/// Decodes `bytes` into `slot`, reusing the text or bytes it held.
fn decode(
    name: &str,
    cql_type: &CqlType,
    bytes: &[u8],
    slot: &mut Option<Value>,
) -> Result<(), DumpError> {
    Value::decode_into(cql_type, bytes, slot).map_err(|e| DumpError::Value {
        column: name.to_owned(),
        message: e.to_string(),
    })
}

/// Whether an empty byte string is a value of `cql_type` (text, ASCII, blobs) rather than the
/// "empty" CQL shows as null.
fn can_be_empty(cql_type: &CqlType) -> bool {
    matches!(
        cql_type,
        CqlType::Native(NativeType::Text | NativeType::Ascii | NativeType::Blob)
    )
}

fn merge_deletion(a: Option<Deletion>, b: Option<Deletion>) -> Option<Deletion> {
    crate::merge::merge_deletions(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cell::{ColumnData, RowLiveness};
    use crate::model::{RangeDeletion, SliceBound, Token};

    const NOW: i64 = 1_700_000_000;

    fn schema() -> Arc<TableSchema> {
        Arc::new(
            TableSchema::from_columns(
                "ks.t",
                &[
                    ("k", "partition_key", "int"),
                    ("c", "clustering", "int"),
                    ("s", "static", "text"),
                    ("v", "regular", "text"),
                    ("tags", "regular", "set<text>"),
                ],
            )
            .unwrap(),
        )
    }

    fn int(v: i32) -> Vec<u8> {
        Value::Int(v).to_bytes()
    }

    fn cell(ts: i64, v: &str) -> Cell {
        Cell::live(ts, v.as_bytes().to_vec())
    }

    fn row(c: i32, columns: Vec<ColumnData>) -> Row {
        Row {
            clustering: vec![int(c)],
            liveness: None,
            deletion: None,
            columns,
        }
    }

    fn column(index: usize, cells: Vec<Cell>) -> ColumnData {
        ColumnData {
            column: index,
            cells,
            complex_deletion: None,
        }
    }

    fn partition(rows: Vec<Row>) -> Partition {
        Partition {
            token: Token(0),
            key: int(1),
            deletion: None,
            range_deletions: vec![],
            static_row: None,
            rows,
        }
    }

    fn dump(shape: &RowShape, p: &Partition) -> Vec<Fields> {
        let mut out = Vec::new();
        shape.rows(p, &mut out).unwrap();
        out
    }

    fn text(s: &str) -> Option<Value> {
        Some(Value::Text(s.into()))
    }

    #[test]
    fn rows_carry_key_clustering_static_and_visible_cells_only() {
        let shape = RowShape::new(schema(), None, true, true, NOW).unwrap();
        let names: Vec<_> = shape.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "k",
                "c",
                "s",
                "tags",
                "v",
                "s_writetime",
                "s_ttl",
                "tags_writetime",
                "tags_ttl",
                "v_writetime",
                "v_ttl"
            ]
        );
        let mut expiring = cell(20, "soon");
        expiring.liveness = Liveness::Expiring {
            ttl: 100,
            local_deletion_time: NOW + 40,
        };
        let mut expired = cell(20, "gone");
        expired.liveness = Liveness::Expiring {
            ttl: 100,
            local_deletion_time: NOW - 1,
        };
        let mut tags = column(3, vec![cell(5, ""), cell(9, "")]);
        tags.cells[0].path = b"a".to_vec().into();
        tags.cells[1].path = b"b".to_vec().into();
        let mut p = partition(vec![
            row(1, vec![column(4, vec![expiring]), tags]),
            row(2, vec![column(4, vec![expired])]),
        ]);
        p.static_row = Some(Row {
            columns: vec![column(2, vec![cell(7, "st")])],
            ..Row::default()
        });
        let rows = dump(&shape, &p);
        assert_eq!(rows.len(), 1, "the row whose only cell expired is gone");
        assert_eq!(
            rows[0],
            vec![
                Some(Value::Int(1)),
                Some(Value::Int(1)),
                text("st"),
                Some(Value::Set(vec![
                    Value::Text("a".into()),
                    Value::Text("b".into())
                ])),
                text("soon"),
                Some(Value::Bigint(7)),
                None,
                Some(Value::Bigint(9)),
                None,
                Some(Value::Bigint(20)),
                Some(Value::Int(40)),
            ]
        );
    }

    #[test]
    fn deletions_shadow_what_they_cover_and_a_lone_static_row_is_a_row() {
        let shape = RowShape::new(
            schema(),
            Some(&["c".into(), "v".into(), "s".into()]),
            false,
            false,
            NOW,
        )
        .unwrap();
        let mut live_pk = row(3, vec![]);
        live_pk.liveness = Some(RowLiveness {
            timestamp: 50,
            liveness: Liveness::Live,
        });
        let mut p = partition(vec![
            row(1, vec![column(4, vec![cell(10, "old")])]),
            row(2, vec![column(4, vec![cell(30, "new")])]),
            live_pk,
        ]);
        p.range_deletions = vec![RangeDeletion {
            start: SliceBound::open(),
            end: SliceBound {
                prefix: vec![int(2)],
                inclusive: true,
            },
            deletion: Deletion {
                timestamp: 20,
                local_deletion_time: NOW,
            },
        }];
        assert_eq!(
            dump(&shape, &p),
            vec![
                vec![Some(Value::Int(2)), text("new"), None],
                vec![Some(Value::Int(3)), None, None],
            ]
        );
        p.deletion = Some(Deletion {
            timestamp: 60,
            local_deletion_time: NOW,
        });
        p.static_row = Some(Row {
            columns: vec![column(2, vec![cell(70, "after")])],
            ..Row::default()
        });
        assert_eq!(dump(&shape, &p), vec![vec![None, None, text("after")]]);
    }

    #[test]
    fn an_unknown_column_is_refused_naming_the_table_columns() {
        let err = RowShape::new(schema(), Some(&["nope".into()]), false, false, NOW)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "--columns: the table has no column `nope`; its columns are k, c, s, tags, v"
        );
    }
}
