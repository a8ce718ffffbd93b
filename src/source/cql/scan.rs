//! The pure half of the CQL source: the ring split into token ranges, the `SELECT` that reads
//! one range with every regular and static column's `writetime()` and `ttl()`, and the rows it
//! returns turned into partitions of timestamped cells.
//!
//! What CQL cannot show is not invented: a column's tombstone reads as a null and is left out,
//! and a collection's tombstone is unknown, so its elements are written as elements. CQL does
//! not give a row's primary-key liveness either: a row gets its newest live cell's, or, when its
//! only content is its primary key, the scan's time.

use crate::model::bytes::SmallBytes;
use crate::model::cell::{ColumnData, RowLiveness};
use crate::model::collection::{list_path, udt_field_path};
use crate::model::token::composite_key;
use crate::model::types::quote_identifier;
use crate::model::{Cell, ColumnKind, CqlType, Liveness, Partition, Row, TableSchema, Token};

/// `count` token ranges `(start, end]` that together cover the whole ring, in token order. The
/// first starts at `i64::MIN` (Murmur3's minimum token, which no key has).
pub fn split_ring(count: usize) -> Vec<(i64, i64)> {
    split_range(i64::MIN, i64::MAX, count)
}

/// Up to `count` adjacent ranges that together cover `(start, end]`, in token order.
pub fn split_range(start: i64, end: i64, count: usize) -> Vec<(i64, i64)> {
    if end <= start {
        return Vec::new();
    }
    let span = end as i128 - start as i128;
    let count = (count.max(1) as i128).min(span);
    let mut out = Vec::with_capacity(count as usize);
    let mut from = start;
    for i in 1..=count {
        let to = if i == count {
            end
        } else {
            (start as i128 + span * i / count) as i64
        };
        out.push((from, to));
        from = to;
    }
    out
}

/// The index of the range `(start, end]` of `ranges` (in token order, not overlapping) that
/// holds `token`.
pub fn range_of(ranges: &[(i64, i64)], token: i64) -> Option<usize> {
    let index = ranges.partition_point(|&(_, end)| end < token);
    ranges
        .get(index)
        .is_some_and(|&(start, _)| start < token)
        .then_some(index)
}

/// One column the scan reads: its index in the target schema, and whether `writetime()` and
/// `ttl()` are read after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub column: usize,
    pub timed: bool,
}

/// The `SELECT` for one range of the source table `source` (`KS.TABLE`, quoted), reading the
/// target schema's columns: the primary key, then each other column with its times.
pub fn select(schema: &TableSchema, source: &str, columns: &[Scanned]) -> String {
    let mut fields = Vec::new();
    for c in columns {
        let name = quote_identifier(&schema.columns[c.column].name);
        if c.timed {
            fields.push(format!("{name}, writetime({name}), ttl({name})"));
        } else {
            fields.push(name);
        }
    }
    let key: Vec<String> = schema
        .partition_key()
        .iter()
        .map(|c| quote_identifier(&c.name))
        .collect();
    format!(
        "SELECT {} FROM {source} WHERE token({key}) > ? AND token({key}) <= ?",
        fields.join(", "),
        key = key.join(", ")
    )
}

/// The columns a scan reads, in the order [`select`] names them: the primary key, then the
/// static and regular columns with their times.
pub fn scanned_columns(schema: &TableSchema) -> Vec<Scanned> {
    let keys = schema.partition_key_len + schema.clustering_len;
    (0..schema.columns.len())
        .map(|column| Scanned {
            column,
            timed: column >= keys,
        })
        .collect()
}

/// A column's `writetime()` and `ttl()` fields, as scanned.
type Times<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// What went wrong turning a scanned row into cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError(pub String);

/// Turns the rows of one token range, in the order the cluster returns them (by token, key,
/// clustering), into partitions.
pub struct Assembler<'s> {
    schema: &'s TableSchema,
    columns: &'s [Scanned],
    /// Seconds since the epoch when the scan started: a `ttl()` is counted from here.
    now: i64,
    /// µs: the liveness of rows that hold nothing but their key.
    scan_time: i64,
    current: Option<Partition>,
}

impl<'s> Assembler<'s> {
    pub fn new(schema: &'s TableSchema, columns: &'s [Scanned], scan_time: i64) -> Assembler<'s> {
        Assembler {
            schema,
            columns,
            now: scan_time.div_euclid(1_000_000),
            scan_time,
            current: None,
        }
    }

    /// Adds a row, given as the raw value of each field of [`select`] (`None` for null);
    /// returns the partition it completes, if it starts a new one.
    pub fn push(&mut self, fields: &[Option<&[u8]>]) -> Result<Option<Partition>, RowError> {
        let schema = self.schema;
        let pk = schema.partition_key_len;
        let mut components = Vec::with_capacity(pk);
        for (i, field) in fields[..pk].iter().enumerate() {
            components.push(field.ok_or_else(|| {
                RowError(format!(
                    "a null partition key column {}",
                    schema.columns[i].name
                ))
            })?);
        }
        let key = composite_key(components.iter().copied()).map_err(|e| RowError(e.to_string()))?;
        let done = match &self.current {
            Some(p) if p.key == key => None,
            _ => self.current.replace(Partition {
                token: Token::of_components(&components),
                key,
                deletion: None,
                range_deletions: Vec::new(),
                static_row: None,
                rows: Vec::new(),
            }),
        };
        let clustering: Option<Vec<Vec<u8>>> = fields[pk..pk + schema.clustering_len]
            .iter()
            .map(|f| f.map(<[u8]>::to_vec))
            .collect();
        // A row with null clustering values is the static row alone (a partition without rows).
        let has_row = clustering.is_some() || schema.clustering_len == 0;
        let mut row = Row {
            clustering: clustering.unwrap_or_default(),
            columns: Vec::with_capacity(self.columns.len() - pk - schema.clustering_len),
            ..Row::default()
        };
        let mut statics = Row::default();
        let mut at = pk + schema.clustering_len;
        for scanned in &self.columns[pk + schema.clustering_len..] {
            let column = &schema.columns[scanned.column];
            let (value, times) = if scanned.timed {
                at += 3;
                (fields[at - 3], Some((fields[at - 2], fields[at - 1])))
            } else {
                at += 1;
                (fields[at - 1], None)
            };
            let Some(value) = value else { continue };
            let data = self
                .cells(scanned.column, &column.cql_type, value, times)
                .map_err(|e| RowError(format!("column {}: {e}", column.name)))?;
            match column.kind {
                ColumnKind::Static => statics.columns.push(data),
                _ => row.columns.push(data),
            }
        }
        let scan_time = self.scan_time;
        let partition = self.current.as_mut().expect("set above");
        if partition.static_row.is_none() && !statics.columns.is_empty() {
            partition.static_row = Some(statics);
        }
        if has_row {
            // CQL does not show a row's primary-key liveness. Rows are nearly always INSERTed,
            // which writes it with the cells: take the newest live cell's time and TTL for it,
            // so a row whose cells are deleted later in the target still shows, as in the
            // source.
            let newest = row
                .columns
                .iter()
                .flat_map(|c| &c.cells)
                .filter(|c| !c.liveness.is_tombstone())
                .max_by_key(|c| c.timestamp);
            row.liveness = Some(match newest {
                Some(cell) => RowLiveness {
                    timestamp: cell.timestamp,
                    liveness: cell.liveness,
                },
                None => RowLiveness {
                    timestamp: scan_time,
                    liveness: Liveness::Live,
                },
            });
            partition.rows.push(row);
        }
        Ok(done)
    }

    /// The partition in progress, at the end of a range.
    pub fn finish(&mut self) -> Option<Partition> {
        self.current.take()
    }

    fn liveness(&self, ttl: Option<i32>) -> Liveness {
        match ttl {
            Some(left) if left >= 0 => Liveness::Expiring {
                ttl: left as u32,
                local_deletion_time: self.now + i64::from(left),
            },
            _ => Liveness::Live,
        }
    }

    fn cells(
        &self,
        column: usize,
        cql_type: &CqlType,
        value: &[u8],
        times: Option<Times<'_>>,
    ) -> Result<ColumnData, String> {
        // Read without times: every cell at the scan's time.
        let untimed = times.is_none();
        let (writetime, ttl) = times.unwrap_or((None, None));
        let simple = |timestamp: i64, ttl: Option<i32>, path: &[u8], value: &[u8]| Cell {
            timestamp,
            liveness: self.liveness(ttl),
            path: SmallBytes::from_slice(path),
            value: SmallBytes::from_slice(value),
        };
        if !cql_type.is_multi_cell() {
            let timestamp = match writetime {
                Some(w) => be_i64(w)?,
                None if untimed => self.scan_time,
                None => return Err("no writetime()".into()),
            };
            let ttl = ttl.map(be_i32).transpose()?;
            return Ok(ColumnData {
                column,
                cells: vec![simple(timestamp, ttl, &[], value)],
                complex_deletion: None,
            });
        }
        // Cassandra 5.0 gives a multi-cell column's times as lists, an entry per element
        // (per field of a UDT, null where it has none).
        let times = match writetime {
            Some(w) => frames(w)?,
            None if untimed => Vec::new(),
            None => return Err("no writetime()".into()),
        };
        let ttls = match ttl {
            Some(t) => frames(t)?,
            None => vec![None; times.len()],
        };
        let time_at = |i: usize| -> Result<(i64, Option<i32>), String> {
            if untimed {
                return Ok((self.scan_time, None));
            }
            let ts = times
                .get(i)
                .copied()
                .flatten()
                .ok_or("fewer writetime() entries than elements")?;
            let ttl = ttls.get(i).copied().flatten().map(be_i32).transpose()?;
            Ok((be_i64(ts)?, ttl))
        };
        let mut cells = Vec::new();
        match cql_type {
            CqlType::Udt { .. } => {
                let fields = tuple_frames(value)?;
                let mut present = 0;
                for (index, field) in fields.iter().enumerate() {
                    let Some(field) = field else { continue };
                    // The times list is positional by field when the type's size is known.
                    let (ts, ttl) = time_at(if times.len() == fields.len() {
                        index
                    } else {
                        present
                    })?;
                    present += 1;
                    cells.push(simple(ts, ttl, &udt_field_path(index), field));
                }
            }
            CqlType::List { .. } => {
                // Paths must follow the elements' order, which their times need not (a
                // prepend, or `l[i] = x`, is newer than what follows it): one base time for
                // the list, the earliest, and the position. The same list always gets the
                // same paths, so a reload changes nothing.
                let elements = frames(value)?;
                let mut base = i64::MAX;
                for i in 0..elements.len() {
                    base = base.min(time_at(i)?.0);
                }
                for (i, element) in elements.into_iter().enumerate() {
                    let element = element.ok_or("a null list element")?;
                    let (ts, ttl) = time_at(i)?;
                    cells.push(simple(ts, ttl, &list_path(base, i), element));
                }
            }
            CqlType::Set { .. } => {
                for (i, element) in frames(value)?.into_iter().enumerate() {
                    let element = element.ok_or("a null set element")?;
                    let (ts, ttl) = time_at(i)?;
                    cells.push(simple(ts, ttl, element, &[]));
                }
            }
            CqlType::Map { .. } => {
                let items = frames_n(value, 2)?;
                for (i, pair) in items.chunks(2).enumerate() {
                    let (k, v) = (pair[0].ok_or("a null map key")?, pair[1]);
                    let (ts, ttl) = time_at(i)?;
                    cells.push(simple(ts, ttl, k, v.unwrap_or_default()));
                }
            }
            other => return Err(format!("{other} is not a multi-cell type")),
        }
        Ok(ColumnData {
            column,
            cells,
            complex_deletion: None,
        })
    }
}

fn be_i64(b: &[u8]) -> Result<i64, String> {
    <[u8; 8]>::try_from(b)
        .map(i64::from_be_bytes)
        .map_err(|_| format!("a writetime() of {} bytes", b.len()))
}

fn be_i32(b: &[u8]) -> Result<i32, String> {
    <[u8; 4]>::try_from(b)
        .map(i32::from_be_bytes)
        .map_err(|_| format!("a ttl() of {} bytes", b.len()))
}

/// The elements of a serialized list or set: a 4-byte count, then framed values.
fn frames(bytes: &[u8]) -> Result<Vec<Option<&[u8]>>, String> {
    frames_n(bytes, 1)
}

/// A collection's frames, `per_item` per counted item (2 for a map's key and value).
fn frames_n(bytes: &[u8], per_item: usize) -> Result<Vec<Option<&[u8]>>, String> {
    let count = bytes
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("a collection cut short")?;
    let total = usize::try_from(count).map_err(|_| "a negative element count")? * per_item;
    let mut rest = &bytes[4..];
    let mut out = Vec::with_capacity(total.min(rest.len() / 4 + 1));
    for _ in 0..total {
        let (frame, next) = frame(rest)?;
        out.push(frame);
        rest = next;
    }
    Ok(out)
}

/// A tuple's or UDT's fields: framed values until the bytes end.
fn tuple_frames(mut bytes: &[u8]) -> Result<Vec<Option<&[u8]>>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (frame, next) = frame(bytes)?;
        out.push(frame);
        bytes = next;
    }
    Ok(out)
}

fn frame(bytes: &[u8]) -> Result<(Option<&[u8]>, &[u8]), String> {
    let len = bytes
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or("a value cut short")?;
    let rest = &bytes[4..];
    if len < 0 {
        return Ok((None, rest));
    }
    let len = len as usize;
    if rest.len() < len {
        return Err("a value cut short".into());
    }
    Ok((Some(&rest[..len]), &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    #[test]
    fn the_ring_splits_into_adjacent_ranges_covering_every_token() {
        let ranges = split_ring(4);
        assert_eq!(ranges.len(), 4);
        assert_eq!(ranges[0].0, i64::MIN);
        assert_eq!(ranges[3].1, i64::MAX);
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
            assert!(pair[0].0 < pair[0].1);
        }
        assert_eq!(split_ring(1), [(i64::MIN, i64::MAX)]);
        assert_eq!(split_range(0, 10, 4), [(0, 2), (2, 5), (5, 7), (7, 10)]);
        assert_eq!(split_range(5, 7, 1024), [(5, 6), (6, 7)]);
        assert!(split_range(7, 7, 4).is_empty());
    }

    #[test]
    fn a_token_is_found_in_the_range_that_holds_it() {
        let ranges = [(-10, 0), (0, 10), (20, 30)];
        assert_eq!(range_of(&ranges, -10), None);
        assert_eq!(range_of(&ranges, -9), Some(0));
        assert_eq!(range_of(&ranges, 0), Some(0));
        assert_eq!(range_of(&ranges, 1), Some(1));
        assert_eq!(range_of(&ranges, 15), None);
        assert_eq!(range_of(&ranges, 30), Some(2));
        assert_eq!(range_of(&ranges, 31), None);
    }

    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.t",
            &[
                ("k", "partition_key", "int"),
                ("c", "clustering", "int"),
                ("s", "static", "int"),
                ("l", "regular", "list<text>"),
                ("v", "regular", "text"),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_select_reads_the_key_then_each_column_with_its_times() {
        let schema = schema();
        assert_eq!(
            select(&schema, "ks.t", &scanned_columns(&schema)),
            "SELECT k, c, l, writetime(l), ttl(l), s, writetime(s), ttl(s), v, writetime(v), ttl(v) \
             FROM ks.t WHERE token(k) > ? AND token(k) <= ?"
        );
    }

    fn list(items: &[&[u8]]) -> Vec<u8> {
        let mut out = (items.len() as i32).to_be_bytes().to_vec();
        for i in items {
            out.extend_from_slice(&(i.len() as i32).to_be_bytes());
            out.extend_from_slice(i);
        }
        out
    }

    #[test]
    fn rows_become_partitions_with_each_cells_time_and_ttl() {
        let schema = schema();
        let columns = scanned_columns(&schema);
        let scan_time = 1_700_000_000_000_000;
        let mut asm = Assembler::new(&schema, &columns, scan_time);
        let k = Value::Int(7).to_bytes();
        let (c1, c2) = (Value::Int(1).to_bytes(), Value::Int(2).to_bytes());
        let s = Value::Int(9).to_bytes();
        let ts = |t: i64| t.to_be_bytes().to_vec();
        let ttl = |t: i32| t.to_be_bytes().to_vec();
        let (ts3, ts8, ttl50) = (ts(3), ts(8), ttl(50));
        let l = list(&[b"a", b"b"]);
        let lt = list(&[&ts(5), &ts(6)]);
        let lttl = {
            let mut out = 2i32.to_be_bytes().to_vec();
            out.extend_from_slice(&(-1i32).to_be_bytes());
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&100i32.to_be_bytes());
            out
        };
        let row1: Vec<Option<&[u8]>> = vec![
            Some(&k),
            Some(&c1),
            Some(&l),
            Some(&lt),
            Some(&lttl),
            Some(&s),
            Some(&ts3),
            None,
            Some(b"x"),
            Some(&ts8),
            Some(&ttl50),
        ];
        assert_eq!(asm.push(&row1).unwrap(), None);
        let row2: Vec<Option<&[u8]>> = vec![
            Some(&k),
            Some(&c2),
            None,
            None,
            None,
            Some(&s),
            Some(&ts3),
            None,
            None,
            None,
            None,
        ];
        assert_eq!(asm.push(&row2).unwrap(), None);
        let p = asm.finish().unwrap();
        assert_eq!(p.key, k);
        assert_eq!(p.token, Token::of_key(&k));
        assert_eq!(
            p.static_row.as_ref().unwrap().columns[0].cells[0].timestamp,
            3
        );
        let r1 = &p.rows[0];
        // The newest live cell's time and TTL stand for the liveness CQL does not show.
        assert_eq!(r1.liveness.unwrap().timestamp, 8);
        assert_eq!(r1.liveness.unwrap().liveness.ttl(), Some(50));
        let list_cells = &r1.columns[0].cells;
        assert_eq!(list_cells[0].path.to_vec(), list_path(5, 0));
        assert_eq!(
            list_cells[1].path.to_vec(),
            list_path(5, 1),
            "one base time"
        );
        assert_eq!(list_cells[1].timestamp, 6);
        assert_eq!(list_cells[1].liveness.ttl(), Some(100));
        assert_eq!(list_cells[0].liveness, Liveness::Live);
        let v = &r1.columns[1].cells[0];
        assert_eq!(
            (v.timestamp, v.liveness.local_deletion_time()),
            (8, 1_700_000_050)
        );
        let r2 = &p.rows[1];
        assert_eq!(r2.clustering, [c2]);
        assert_eq!(r2.liveness.unwrap().timestamp, scan_time);
    }
}
