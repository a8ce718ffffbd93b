//! Multi-cell (non-frozen) collections as Cassandra stores them: one cell per element, keyed by a
//! cell path (set: the element; map: the key; list: a timeuuid), plus, when the whole collection
//! was written at once (`INSERT` or `SET c = ...`), a collection deletion one microsecond before
//! the write. Two writes with equal timestamps therefore merge element by element, exactly as
//! Cassandra merges them. [`explode`] turns a whole value into cells, [`assemble`] the reverse.

use thiserror::Error;

use std::cmp::Ordering;

use super::bytes::SmallBytes;
use super::cell::{Cell, ColumnData, Deletion, Liveness, WriteTime};
use super::types::CqlType;
use crate::model::order::{cell_paths_are_bytewise, compare_cell_paths};

/// The gap, in 100 ns intervals, between the Gregorian calendar's start (1582-10-15) and 1970.
const GREGORIAN_OFFSET: u64 = 0x01b2_1dd2_1381_4000;

#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectionError {
    #[error("a {0} value is malformed: {1}")]
    Malformed(String, String),
    #[error("{0} is not a multi-cell collection")]
    NotMultiCell(String),
}

/// A deterministic version-1 timeuuid for element `index` of a list written at `timestamp`, so
/// paths sort in element order and the same input always gives the same paths.
pub fn list_path(timestamp: WriteTime, index: usize) -> [u8; 16] {
    let t = (timestamp as u64)
        .wrapping_mul(10)
        .wrapping_add(GREGORIAN_OFFSET)
        .wrapping_add(index as u64);
    let mut u = [0u8; 16];
    u[0..4].copy_from_slice(&((t & 0xffff_ffff) as u32).to_be_bytes());
    u[4..6].copy_from_slice(&(((t >> 32) & 0xffff) as u16).to_be_bytes());
    u[6..8].copy_from_slice(&((((t >> 48) & 0x0fff) as u16) | 0x1000).to_be_bytes());
    // Variant 10xx, clock sequence and node fixed: cassbulk's own "node".
    u[8..16].copy_from_slice(&[0x80, 0x00, 0xca, 0x55, 0xb0, 0x1c, 0x00, 0x01]);
    u
}

/// Reads `[int n]([int len][bytes])*` framing item by item (maps: keys and values alternate).
struct Frames<'a> {
    cql_type: &'a CqlType,
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    /// The reader and the number of items (`per_entry` per counted element).
    fn new(
        cql_type: &'a CqlType,
        bytes: &'a [u8],
        per_entry: usize,
    ) -> Result<(Frames<'a>, usize), CollectionError> {
        let mut frames = Frames {
            cql_type,
            rest: bytes,
        };
        let n = frames.int("no element count")?;
        let n = usize::try_from(n).map_err(|_| frames.bad("negative element count"))?;
        Ok((frames, n * per_entry))
    }

    fn bad(&self, why: &str) -> CollectionError {
        CollectionError::Malformed(self.cql_type.to_string(), why.to_owned())
    }

    fn int(&mut self, missing: &str) -> Result<i32, CollectionError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| self.bad(missing))?;
        self.rest = rest;
        Ok(i32::from_be_bytes(*head))
    }

    fn item(&mut self) -> Result<&'a [u8], CollectionError> {
        let len = self.int("cut short")?;
        let len = usize::try_from(len).map_err(|_| self.bad("null element"))?;
        if len > self.rest.len() {
            return Err(self.bad("cut short"));
        }
        let (item, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(item)
    }

    fn finish(self) -> Result<(), CollectionError> {
        if !self.rest.is_empty() {
            return Err(self.bad("extra bytes after the last element"));
        }
        Ok(())
    }
}

/// Sorts cells by their path in the collection's path order (what the merge expects, as
/// Cassandra's comparator orders them) and keeps the first of equal paths.
fn sort_paths(cql_type: &CqlType, items: &mut Vec<Cell>) {
    if cell_paths_are_bytewise(cql_type) {
        sort_dedup_by(items, |a, b| a.path.as_slice().cmp(b.path.as_slice()));
    } else {
        sort_dedup_by(items, |a, b| compare_cell_paths(cql_type, &a.path, &b.path));
    }
}

/// A stable sort, then the first of each run of equal items; nothing when already sorted.
fn sort_dedup_by(items: &mut Vec<Cell>, order: impl Fn(&Cell, &Cell) -> Ordering) {
    if !items.is_sorted_by(|a, b| order(a, b) == Ordering::Less) {
        items.sort_by(&order);
        items.dedup_by(|a, b| order(b, a) == Ordering::Equal);
    }
}

/// A whole collection written at `timestamp`: its elements after a deletion just before.
fn whole_collection(column: usize, cells: Vec<Cell>, timestamp: WriteTime) -> ColumnData {
    ColumnData {
        column,
        cells,
        complex_deletion: Some(Deletion {
            timestamp: timestamp - 1,
            local_deletion_time: timestamp.div_euclid(1_000_000),
        }),
    }
}

/// The cells of a whole collection value written at `timestamp` with `liveness`, as Cassandra
/// stores an `INSERT` of it: a collection deletion at `timestamp - 1`, then one cell per element.
pub fn explode(
    column: usize,
    cql_type: &CqlType,
    value: &[u8],
    timestamp: WriteTime,
    liveness: Liveness,
) -> Result<ColumnData, CollectionError> {
    let mut cells = ElementCells::new(column, cql_type, timestamp, liveness)?;
    if cells.kind == Kind::Udt {
        // A UDT value is its fields in order, each framed, a null one with length -1; trailing
        // fields may be left out. Each non-null field is a cell whose path is its index.
        let fields = match cql_type {
            CqlType::Udt { def, .. } => def.fields.len(),
            _ => 0,
        };
        let mut frames = Frames {
            cql_type,
            rest: value,
        };
        let mut index = 0usize;
        while !frames.rest.is_empty() {
            if index >= fields {
                return Err(frames.bad("more fields than the type has"));
            }
            let len = frames.int("cut short")?;
            if len >= 0 {
                let len = len as usize;
                if len > frames.rest.len() {
                    return Err(frames.bad("cut short"));
                }
                let (field, rest) = frames.rest.split_at(len);
                frames.rest = rest;
                cells.push_field(index, field);
            }
            index += 1;
        }
        return Ok(cells.finish());
    }
    let per_entry = if cells.kind == Kind::Map { 2 } else { 1 };
    let (mut frames, n) = Frames::new(cql_type, value, per_entry)?;
    cells.reserve((n / per_entry).min(value.len() / 4));
    if cells.kind == Kind::Map {
        for _ in 0..n / 2 {
            let key = frames.item()?;
            cells.push_entry(key, frames.item()?);
        }
    } else {
        for _ in 0..n {
            cells.push_element(frames.item()?);
        }
    }
    frames.finish()?;
    Ok(cells.finish())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Set,
    Map,
    List,
    /// A non-frozen UDT: a cell per non-null field, its path the field's index (a short).
    Udt,
}

/// The cells of a whole collection written at once, made from its elements one by one: what
/// [`explode`] makes of the serialized value, for sources that hold the elements themselves
/// (a Parquet list or map), so the value is never serialized only to be split again.
pub struct ElementCells<'t> {
    column: usize,
    cql_type: &'t CqlType,
    kind: Kind,
    timestamp: WriteTime,
    liveness: Liveness,
    cells: Vec<Cell>,
}

impl<'t> ElementCells<'t> {
    /// Cells for multi-cell collection column `column` of type `cql_type`.
    pub fn new(
        column: usize,
        cql_type: &'t CqlType,
        timestamp: WriteTime,
        liveness: Liveness,
    ) -> Result<ElementCells<'t>, CollectionError> {
        let kind = match cql_type {
            CqlType::Set { frozen: false, .. } => Kind::Set,
            CqlType::Map { frozen: false, .. } => Kind::Map,
            CqlType::List { frozen: false, .. } => Kind::List,
            CqlType::Udt { frozen: false, .. } => Kind::Udt,
            other => return Err(CollectionError::NotMultiCell(other.to_string())),
        };
        Ok(ElementCells {
            column,
            cql_type,
            kind,
            timestamp,
            liveness,
            cells: Vec::new(),
        })
    }

    /// Room for exactly `n` more elements (a collection is rarely added to: no room to spare,
    /// which `Vec::reserve` would leave).
    pub fn reserve(&mut self, n: usize) {
        self.cells.reserve_exact(n);
    }

    /// The next element of a list or set (serialized as the element type).
    #[inline]
    pub fn push_element(&mut self, element: &[u8]) {
        let (path, value) = match self.kind {
            Kind::List => (
                SmallBytes::from_slice(&list_path(self.timestamp, self.cells.len())),
                SmallBytes::from_slice(element),
            ),
            _ => (SmallBytes::from_slice(element), SmallBytes::new()),
        };
        self.cells.push(Cell {
            timestamp: self.timestamp,
            liveness: self.liveness,
            path,
            value,
        });
    }

    /// Field `index` of a non-frozen UDT (fields in order; a null field has no cell).
    pub fn push_field(&mut self, index: usize, value: &[u8]) {
        self.cells.push(Cell {
            timestamp: self.timestamp,
            liveness: self.liveness,
            path: SmallBytes::from_slice(&udt_field_path(index)),
            value: SmallBytes::from_slice(value),
        });
    }

    /// The next entry of a map.
    #[inline]
    pub fn push_entry(&mut self, key: &[u8], value: &[u8]) {
        self.cells.push(Cell {
            timestamp: self.timestamp,
            liveness: self.liveness,
            path: SmallBytes::from_slice(key),
            value: SmallBytes::from_slice(value),
        });
    }

    /// The collection's cells in path order, the first of equal set elements and the last of
    /// equal map keys kept (as in a CQL literal), after a deletion just before the write.
    pub fn finish(mut self) -> ColumnData {
        match self.kind {
            Kind::Set => sort_paths(self.cql_type, &mut self.cells),
            Kind::Map => {
                // Later duplicates of a key win, as they would in a CQL map literal.
                self.cells.reverse();
                sort_paths(self.cql_type, &mut self.cells);
            }
            Kind::List | Kind::Udt => {}
        }
        whole_collection(self.column, self.cells, self.timestamp)
    }
}

/// The serialized collection value of the live element cells given (in path order).
pub fn assemble(cql_type: &CqlType, cells: &[&Cell]) -> Result<Vec<u8>, CollectionError> {
    let mut out = Vec::new();
    if let CqlType::Udt { def, .. } = cql_type {
        // No count: every field in order, the ones without a cell null.
        let mut next = 0usize;
        for cell in cells {
            let index = udt_field_index(&cell.path)
                .filter(|&i| i >= next && i < def.fields.len())
                .ok_or_else(|| {
                    CollectionError::Malformed(
                        cql_type.to_string(),
                        "a cell path that is not a field".to_owned(),
                    )
                })?;
            for _ in next..index {
                out.extend_from_slice(&(-1i32).to_be_bytes());
            }
            out.extend_from_slice(&(cell.value.len() as i32).to_be_bytes());
            out.extend_from_slice(&cell.value);
            next = index + 1;
        }
        for _ in next..def.fields.len() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
        }
        return Ok(out);
    }
    out.extend_from_slice(&(cells.len() as i32).to_be_bytes());
    let mut frame = |bytes: &[u8]| {
        out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
        out.extend_from_slice(bytes);
    };
    match cql_type {
        CqlType::Set { .. } => cells.iter().for_each(|c| frame(&c.path)),
        CqlType::Map { .. } => cells.iter().for_each(|c| {
            frame(&c.path);
            frame(&c.value);
        }),
        CqlType::List { .. } => cells.iter().for_each(|c| frame(&c.value)),
        other => return Err(CollectionError::NotMultiCell(other.to_string())),
    }
    Ok(out)
}

/// The cell path of field `index` of a non-frozen UDT: the index as a big-endian short.
pub fn udt_field_path(index: usize) -> [u8; 2] {
    (index as u16).to_be_bytes()
}

/// The field index a non-frozen UDT's cell path names, if it is one (two bytes).
pub fn udt_field_index(path: &[u8]) -> Option<usize> {
    match path {
        [a, b] => Some(usize::from(u16::from_be_bytes([*a, *b]))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::model::types::{NoUdts, parse_type};

    fn t(s: &str) -> CqlType {
        parse_type(s, &NoUdts).unwrap()
    }

    #[test]
    fn a_non_frozen_udt_becomes_a_deletion_just_before_it_and_a_cell_per_non_null_field() {
        let def = std::sync::Arc::new(crate::model::types::UdtDef {
            keyspace: "ks".into(),
            name: "prefs_t".into(),
            fields: vec![
                ("theme".into(), t("text")),
                ("volume".into(), t("int")),
                ("born".into(), t("date")),
            ],
        });
        let udt = CqlType::Udt {
            def: def.clone(),
            frozen: false,
        };
        // ("dark", null, 2026-12-07) as CQL serializes it: each field framed, null as -1.
        let value = Value::Udt(vec![
            Some(Value::Text("dark".into())),
            None,
            Some(Value::Date(20_429)),
        ])
        .to_bytes();
        let data = explode(4, &udt, &value, 1000, Liveness::Live).unwrap();
        assert_eq!(data.complex_deletion.unwrap().timestamp, 999);
        let cells: Vec<_> = data
            .cells
            .iter()
            .map(|c| (c.path.to_vec(), c.value.to_vec(), c.timestamp))
            .collect();
        assert_eq!(
            cells,
            [
                (vec![0, 0], b"dark".to_vec(), 1000),
                (vec![0, 2], Value::Date(20_429).to_bytes(), 1000)
            ]
        );
        // Back to the value, the missing field null again; trailing fields left out are null.
        let live: Vec<&Cell> = data.cells.iter().collect();
        assert_eq!(assemble(&udt, &live).unwrap(), value);
        let short = [0u8, 0, 0, 1, b'x'];
        let data = explode(4, &udt, &short, 7, Liveness::Live).unwrap();
        assert_eq!(data.cells.len(), 1);
        let mut long = value.clone();
        long.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(explode(4, &udt, &long, 7, Liveness::Live).is_err());
        assert!(explode(4, &udt, &[0, 0, 0, 9, 1], 7, Liveness::Live).is_err());
        let frozen = CqlType::Udt { def, frozen: true };
        assert!(explode(4, &frozen, &value, 7, Liveness::Live).is_err());
    }

    #[test]
    fn element_cells_follow_the_element_types_order_not_the_bytes() {
        // -1 is ff ff ff ff: last by bytes, first as an int. The merge walks cells in this order.
        let ints = |v: &[i32]| v.iter().map(|&i| Value::Int(i)).collect::<Vec<_>>();
        let set = t("set<int>");
        let value = Value::Set(ints(&[1, -1, 1]));
        let from_bytes = explode(0, &set, &value.to_bytes(), 5, Liveness::Live).unwrap();
        let paths: Vec<_> = from_bytes.cells.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, [Value::Int(-1).to_bytes(), Value::Int(1).to_bytes()]);

        let map = t("map<int, text>");
        let entries = Value::Map(vec![
            (Value::Int(2), Value::Text("a".into())),
            (Value::Int(-2), Value::Text("b".into())),
            (Value::Int(2), Value::Text("later".into())),
        ]);
        let cells = explode(0, &map, &entries.to_bytes(), 5, Liveness::Live)
            .unwrap()
            .cells;
        let pairs: Vec<_> = cells
            .iter()
            .map(|c| (c.path.to_vec(), c.value.to_vec()))
            .collect();
        assert_eq!(
            pairs,
            [
                (Value::Int(-2).to_bytes(), b"b".to_vec()),
                (Value::Int(2).to_bytes(), b"later".to_vec())
            ]
        );
    }

    #[test]
    fn an_inserted_set_becomes_a_deletion_just_before_it_and_sorted_unique_elements() {
        let value = Value::Set(vec![
            Value::Text("b".into()),
            Value::Text("a".into()),
            Value::Text("b".into()),
        ]);
        let data = explode(3, &t("set<text>"), &value.to_bytes(), 1000, Liveness::Live).unwrap();
        assert_eq!(data.column, 3);
        assert_eq!(data.complex_deletion.unwrap().timestamp, 999);
        let paths: Vec<_> = data.cells.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, [b"a".to_vec(), b"b".to_vec()]);
        assert!(
            data.cells
                .iter()
                .all(|c| c.value.is_empty() && c.timestamp == 1000)
        );
    }

    #[test]
    fn exploding_then_assembling_gives_the_value_back() {
        for (ty, v) in [
            ("set<int>", Value::Set(vec![Value::Int(1), Value::Int(2)])),
            (
                "map<text, int>",
                Value::Map(vec![(Value::Text("k".into()), Value::Int(7))]),
            ),
            (
                "list<text>",
                Value::List(vec![Value::Text("z".into()), Value::Text("a".into())]),
            ),
        ] {
            let ty = t(ty);
            let data = explode(0, &ty, &v.to_bytes(), 5, Liveness::Live).unwrap();
            let cells: Vec<_> = data.cells.iter().collect();
            assert_eq!(assemble(&ty, &cells).unwrap(), v.to_bytes(), "{ty}");
        }
    }

    #[test]
    fn list_paths_are_version_1_timeuuids_in_element_order() {
        let a = list_path(1_700_000_000_000_000, 0);
        let b = list_path(1_700_000_000_000_000, 1);
        assert_eq!(a[6] >> 4, 1, "version 1");
        assert_eq!(a[8] >> 6, 0b10, "RFC 4122 variant");
        // Same high bits; the low time word orders them.
        assert_eq!(a[4..8], b[4..8]);
        assert!(a[0..4] < b[0..4]);
    }

    #[test]
    fn malformed_collection_bytes_are_errors() {
        assert!(
            explode(
                0,
                &t("set<int>"),
                &[0, 0, 0, 2, 0, 0, 0, 4, 1, 2, 3, 4],
                1,
                Liveness::Live
            )
            .is_err()
        );
        assert!(explode(0, &t("frozen<set<int>>"), &[0, 0, 0, 0], 1, Liveness::Live).is_err());
    }
}
