//! Column-at-a-time writers for the pairs nightly exports are made of: utf8 to text, int32 to
//! int, int64 to bigint, float64 to double, bool, µs timestamps to timestamp, decimal128 to
//! decimal, and lists, multi-cell maps and tuples of those. Each writes a whole batch's column in
//! one loop over Arrow's buffers, dispatching on the pair once per element instead of through
//! boxed closures.
//!
//! They only take the happy path: a row with anything to refuse (a null element, key or map
//! value) is written again by the general conversion ([`super::Conv::bind`]), which gives the
//! reason, so both paths agree on every byte and message (a test checks it).
//!
//! Some columns are not written at all ([`kept`]): text is read in place from its string array
//! (a [`SharedValues`]), and a multi-cell list, set or map of the leaves above keeps its arrays
//! as an [`ElementColumn`], from which the builder makes each row's element cells.
//! The arrays are cheap clones (shared buffers), so writers and element columns own them.

use arrow::array::{
    Array, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use std::sync::Arc;

use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};

use super::{Conv, Get, SeqKind};
use crate::intake::{BatchColumn, ColumnValues, ElementColumn, SharedValues};
use crate::model::NativeType;
use crate::model::collection::ElementCells;
use crate::model::value::Varint;

/// Writes every row of a bound array into a column; rows refused are NULL there and listed with
/// their reasons.
pub(crate) type ColumnWrite<'a> = Box<dyn Fn(&mut ColumnValues, &mut Vec<(usize, String)>) + 'a>;

/// A column kept as the source holds it and the rows it refuses, with why.
pub(crate) type Kept = (BatchColumn, Vec<(usize, String)>);

/// Appends `bytes` with its 4-byte length.
#[inline]
fn frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A leaf array with a conversion that cannot fail.
enum Leaf {
    Text(StringArray),
    /// Text read as a dictionary: keys (each checked to be in range) into the values.
    DictText(ScalarBuffer<i32>, StringArray),
    Int(Int32Array),
    BigInt(Int64Array),
    Double(Float64Array),
    Bool(BooleanArray),
    /// µs since the epoch to a CQL timestamp (ms, floored).
    TimestampMicros(TimestampMicrosecondArray),
    /// With the CQL decimal's scale prefix.
    Decimal(Decimal128Array, [u8; 4]),
}

struct LeafColumn {
    leaf: Leaf,
    nulls: Option<NullBuffer>,
}

impl LeafColumn {
    fn of(conv: &Conv, array: &dyn Array) -> Option<LeafColumn> {
        let leaf = match (conv, array.data_type()) {
            (Conv::Text { ascii: false }, DataType::Utf8) => {
                Leaf::Text(array.as_string_opt()?.clone())
            }
            (Conv::Text { ascii: false }, DataType::Dictionary(key, value))
                if **key == DataType::Int32 && **value == DataType::Utf8 =>
            {
                let dict = array.as_dictionary_opt::<Int32Type>()?;
                let values = dict.values().as_string_opt()?;
                let keys = dict.keys().values();
                // Keys under NULLs may be anything: then the general conversion does it all.
                // (Negative keys become large as u32; a max over all keys vectorizes.)
                if keys
                    .iter()
                    .map(|&k| k as u32)
                    .max()
                    .is_some_and(|max| max as usize >= values.len())
                {
                    return None;
                }
                Leaf::DictText(keys.clone(), values.clone())
            }
            (Conv::Int(NativeType::Int), DataType::Int32) => {
                Leaf::Int(array.as_primitive_opt::<Int32Type>()?.clone())
            }
            (Conv::Int(NativeType::Bigint), DataType::Int64) => {
                Leaf::BigInt(array.as_primitive_opt::<Int64Type>()?.clone())
            }
            (Conv::Float { double: true }, DataType::Float64) => {
                Leaf::Double(array.as_primitive_opt::<Float64Type>()?.clone())
            }
            (Conv::Bool, DataType::Boolean) => Leaf::Bool(array.as_boolean_opt()?.clone()),
            (Conv::Timestamp { date: false }, DataType::Timestamp(TimeUnit::Microsecond, _)) => {
                Leaf::TimestampMicros(
                    array
                        .as_primitive_opt::<TimestampMicrosecondType>()?
                        .clone(),
                )
            }
            (Conv::Decimal { varint: false }, DataType::Decimal128(_, scale)) => Leaf::Decimal(
                array.as_primitive_opt::<Decimal128Type>()?.clone(),
                i32::from(*scale).to_be_bytes(),
            ),
            _ => return None,
        };
        Some(LeafColumn {
            leaf,
            // Logical: a dictionary's NULL values are NULL elements, like its NULL keys.
            nulls: array.logical_nulls(),
        })
    }

    #[inline]
    fn is_null(&self, j: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(j))
    }

    /// Calls `f` with element `j` (not null) serialized: the one place a leaf's CQL bytes are
    /// made; the writers below frame or append them.
    #[inline]
    fn with_bytes<R>(&self, j: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.leaf {
            Leaf::Text(a) => f(a.value(j).as_bytes()),
            Leaf::DictText(keys, a) => f(a.value(keys[j] as usize).as_bytes()),
            Leaf::Int(a) => f(&a.value(j).to_be_bytes()),
            Leaf::BigInt(a) => f(&a.value(j).to_be_bytes()),
            Leaf::Double(a) => f(&a.value(j).to_be_bytes()),
            Leaf::Bool(a) => f(&[u8::from(a.value(j))]),
            Leaf::TimestampMicros(a) => f(&a.value(j).div_euclid(1000).to_be_bytes()),
            Leaf::Decimal(a, scale) => {
                // The scale goes just before the unscaled value's minimal bytes.
                let (unscaled, start) = Varint::minimal_i128(a.value(j));
                let mut buf = [0u8; 20];
                buf[4..].copy_from_slice(&unscaled);
                buf[start..start + 4].copy_from_slice(scale);
                f(&buf[start..])
            }
        }
    }

    /// Calls `f` with each of elements `range` (none null) serialized, dispatching on the type
    /// once for the common leaves.
    #[inline]
    fn each_bytes(&self, range: std::ops::Range<usize>, mut f: impl FnMut(&[u8])) {
        match &self.leaf {
            Leaf::Text(a) => {
                let (offsets, data) = (a.value_offsets(), a.value_data());
                for j in range {
                    f(&data[offsets[j] as usize..offsets[j + 1] as usize]);
                }
            }
            Leaf::DictText(keys, a) => {
                let (offsets, data) = (a.value_offsets(), a.value_data());
                for j in range {
                    let k = keys[j] as usize;
                    f(&data[offsets[k] as usize..offsets[k + 1] as usize]);
                }
            }
            Leaf::Int(a) => range.for_each(|j| f(&a.value(j).to_be_bytes())),
            Leaf::BigInt(a) => range.for_each(|j| f(&a.value(j).to_be_bytes())),
            Leaf::Double(a) => range.for_each(|j| f(&a.value(j).to_be_bytes())),
            _ => range.for_each(|j| self.with_bytes(j, &mut f)),
        }
    }

    /// Writes element `j`, which is not null.
    #[inline]
    fn write(&self, j: usize, out: &mut Vec<u8>) {
        self.with_bytes(j, |bytes| out.extend_from_slice(bytes));
    }

    /// Whether one of elements `range` is null.
    #[inline]
    fn any_null(&self, range: std::ops::Range<usize>) -> bool {
        self.nulls
            .as_ref()
            .is_some_and(|n| range.into_iter().any(|j| n.is_null(j)))
    }

    /// Writes element `j` with its 4-byte length; false (nothing written) when it is null.
    #[inline]
    fn write_framed(&self, j: usize, out: &mut Vec<u8>) -> bool {
        if self.is_null(j) {
            return false;
        }
        self.write_framed_present(j, out);
        true
    }

    /// Writes element `j`, which is not null, with its 4-byte length.
    #[inline]
    fn write_framed_present(&self, j: usize, out: &mut Vec<u8>) {
        self.with_bytes(j, |bytes| frame(out, bytes));
    }

    /// Writes elements `range`, each with its 4-byte length; false (nothing written) when one
    /// of them is null.
    #[inline]
    fn write_all_framed(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) -> bool {
        if self.any_null(range.clone()) {
            return false;
        }
        self.each_bytes(range, |bytes| frame(out, bytes));
        true
    }

    /// About how many bytes elements `range` take serialized, framing included.
    fn bytes_hint(&self, range: std::ops::Range<usize>) -> usize {
        let n = range.len();
        let per = match &self.leaf {
            Leaf::Text(a) => {
                let offsets = a.value_offsets();
                return (offsets[range.end] - offsets[range.start]) as usize + 4 * n;
            }
            Leaf::DictText(_, a) => {
                let offsets = a.value_offsets();
                let average = (offsets[a.len()] - offsets[0]) as usize / a.len().max(1);
                average + 1
            }
            Leaf::Bool(_) => 1,
            Leaf::Int(_) => 4,
            Leaf::BigInt(_) | Leaf::Double(_) | Leaf::TimestampMicros(_) => 8,
            Leaf::Decimal(..) => 12,
        };
        (per + 4) * n
    }
}

/// A list (or multi-cell set) column: each row's elements are `elem[offsets[i]..offsets[i + 1]]`.
struct Seq {
    offsets: OffsetBuffer<i32>,
    elem: LeafColumn,
}

/// A map column: each row's entries are `offsets[i]..offsets[i + 1]` of the keys and values.
struct Entries {
    offsets: OffsetBuffer<i32>,
    keys: LeafColumn,
    values: LeafColumn,
}

/// Row `i`'s elements in a list or map's child arrays.
#[inline]
fn row_range(offsets: &OffsetBuffer<i32>, i: usize) -> std::ops::Range<usize> {
    offsets[i] as usize..offsets[i + 1] as usize
}

impl Seq {
    fn of(conv: &Conv, array: &dyn Array) -> Option<Seq> {
        match conv {
            Conv::Seq {
                elem,
                kind: SeqKind::List | SeqKind::Cells,
                ..
            } if matches!(array.data_type(), DataType::List(_)) => {
                let list = array.as_list_opt::<i32>()?;
                Some(Seq {
                    offsets: list.offsets().clone(),
                    elem: LeafColumn::of(elem, list.values().as_ref())?,
                })
            }
            _ => None,
        }
    }

    #[inline]
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        row_range(&self.offsets, i)
    }

    /// About how many bytes rows `0..rows` take serialized.
    fn bytes_hint(&self, rows: usize) -> usize {
        4 * rows
            + self
                .elem
                .bytes_hint(self.offsets[0] as usize..self.offsets[rows] as usize)
    }
}

impl Entries {
    fn of(conv: &Conv, array: &dyn Array) -> Option<Entries> {
        match conv {
            Conv::Map { key, value, cql } if cql.is_multi_cell() => {
                let map = array.as_map_opt()?;
                Some(Entries {
                    offsets: map.offsets().clone(),
                    keys: LeafColumn::of(key, map.keys().as_ref())?,
                    values: LeafColumn::of(value, map.values().as_ref())?,
                })
            }
            _ => None,
        }
    }

    #[inline]
    fn range(&self, i: usize) -> std::ops::Range<usize> {
        row_range(&self.offsets, i)
    }

    /// About how many bytes rows `0..rows` take serialized.
    fn bytes_hint(&self, rows: usize) -> usize {
        let range = self.offsets[0] as usize..self.offsets[rows] as usize;
        4 * rows + self.keys.bytes_hint(range.clone()) + self.values.bytes_hint(range)
    }

    /// Whether a key or value of row `i` is null (the general conversion refuses the row).
    #[inline]
    fn any_null(&self, i: usize) -> bool {
        let range = self.range(i);
        self.keys.any_null(range.clone()) || self.values.any_null(range)
    }
}

/// The shapes with a column writer.
enum Shape {
    Leaf(LeafColumn),
    /// A list, or a multi-cell set (its cells sort themselves).
    List(Seq),
    /// A multi-cell map (its cells sort themselves).
    Map(Entries),
    Tuple(Vec<LeafColumn>),
}

impl Shape {
    fn of(conv: &Conv, array: &dyn Array) -> Option<Shape> {
        Some(match conv {
            Conv::Seq { .. } if matches!(array.data_type(), DataType::List(_)) => {
                Shape::List(Seq::of(conv, array)?)
            }
            Conv::Map { cql, .. } if cql.is_multi_cell() => Shape::Map(Entries::of(conv, array)?),
            Conv::Tuple(convs) => {
                let s = array.as_struct_opt()?;
                if s.num_columns() != convs.len() {
                    return None;
                }
                Shape::Tuple(
                    convs
                        .iter()
                        .zip(s.columns())
                        .map(|(c, column)| LeafColumn::of(c, column.as_ref()))
                        .collect::<Option<_>>()?,
                )
            }
            _ => Shape::Leaf(LeafColumn::of(conv, array)?),
        })
    }

    /// About how many bytes rows `0..rows` take serialized.
    fn bytes_hint(&self, rows: usize) -> usize {
        match self {
            Shape::Leaf(leaf) => leaf.bytes_hint(0..rows),
            Shape::List(seq) => seq.bytes_hint(rows),
            Shape::Map(entries) => entries.bytes_hint(rows),
            Shape::Tuple(fields) => fields.iter().map(|f| f.bytes_hint(0..rows)).sum(),
        }
    }

    /// Writes row `i` (not null); false when the row needs the general conversion.
    #[inline]
    fn write(&self, i: usize, out: &mut Vec<u8>) -> bool {
        match self {
            Shape::Leaf(leaf) => {
                leaf.write(i, out);
                true
            }
            Shape::List(seq) => {
                let range = seq.range(i);
                out.extend_from_slice(&(range.len() as i32).to_be_bytes());
                seq.elem.write_all_framed(range, out)
            }
            Shape::Map(entries) => {
                if entries.any_null(i) {
                    return false;
                }
                let range = entries.range(i);
                out.extend_from_slice(&(range.len() as i32).to_be_bytes());
                for j in range {
                    entries.keys.write_framed_present(j, out);
                    entries.values.write_framed_present(j, out);
                }
                true
            }
            Shape::Tuple(fields) => {
                for field in fields {
                    if !field.write_framed(i, out) {
                        out.extend_from_slice(&(-1i32).to_be_bytes());
                    }
                }
                true
            }
        }
    }
}

/// A multi-cell list, set or map column kept as its arrays (see the module doc).
enum Elements {
    Seq(Seq),
    Entries(Entries),
}

pub(crate) struct ElementsColumn {
    elements: Elements,
    nulls: Option<NullBuffer>,
    heap_size: usize,
}

impl std::fmt::Debug for ElementsColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, offsets) = match &self.elements {
            Elements::Seq(seq) => ("list", &seq.offsets),
            Elements::Entries(entries) => ("map", &entries.offsets),
        };
        write!(f, "ElementsColumn({kind}, {} rows)", offsets.len() - 1)
    }
}

impl ElementColumn for ElementsColumn {
    #[inline]
    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|n| n.is_null(row))
    }

    fn add_elements(&self, row: usize, cells: &mut ElementCells<'_>) {
        match &self.elements {
            Elements::Seq(seq) => {
                let range = seq.range(row);
                cells.reserve(range.len());
                seq.elem
                    .each_bytes(range, |bytes| cells.push_element(bytes));
            }
            Elements::Entries(entries) => {
                let range = entries.range(row);
                cells.reserve(range.len());
                for j in range {
                    entries.keys.with_bytes(j, |key| {
                        entries
                            .values
                            .with_bytes(j, |value| cells.push_entry(key, value))
                    });
                }
            }
        }
    }

    fn heap_size(&self) -> usize {
        self.heap_size
    }
}

/// Text read in place from a string array or a dictionary of strings.
pub(crate) struct TextColumn {
    text: LeafColumn,
    /// What the rows would take serialized, about (a dictionary is shared by many batches).
    heap_size: usize,
}

impl std::fmt::Debug for TextColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextColumn({} bytes)", self.heap_size)
    }
}

impl SharedValues for TextColumn {
    #[inline]
    fn get(&self, row: usize) -> Option<&[u8]> {
        if self.text.is_null(row) {
            return None;
        }
        match &self.text.leaf {
            Leaf::Text(a) => Some(a.value(row).as_bytes()),
            Leaf::DictText(keys, a) => Some(a.value(keys[row] as usize).as_bytes()),
            _ => None,
        }
    }

    fn heap_size(&self) -> usize {
        self.heap_size
    }
}

/// The column of a pair kept as the source holds it (see the module doc), and the rows refused
/// with the general conversion's reasons (`general` binds that conversion, when a row needs it);
/// `None` when the pair is written by a column writer instead.
pub(super) fn kept<'a>(
    conv: &Conv,
    array: &dyn Array,
    general: impl FnOnce() -> Result<Get<'a>, String>,
) -> Result<Option<Kept>, String> {
    let elements = match conv {
        Conv::Text { ascii: false } => {
            let Some(text) = LeafColumn::of(conv, array) else {
                return Ok(None);
            };
            let heap_size = text.bytes_hint(0..array.len());
            let column = TextColumn { text, heap_size };
            return Ok(Some((BatchColumn::Shared(Arc::new(column)), Vec::new())));
        }
        Conv::Seq { cql, .. } if cql.is_multi_cell() => Seq::of(conv, array).map(Elements::Seq),
        Conv::Map { cql, .. } if cql.is_multi_cell() => {
            Entries::of(conv, array).map(Elements::Entries)
        }
        _ => None,
    };
    let Some(elements) = elements else {
        return Ok(None);
    };
    // Rows with a NULL element, key or value are refused, with the general conversion's reason.
    let inner_null = |i: usize| match &elements {
        Elements::Seq(seq) => seq.elem.any_null(seq.range(i)),
        Elements::Entries(entries) => entries.any_null(i),
    };
    let nulls = array.logical_nulls();
    let mut refused = Vec::new();
    let no_inner_nulls = match &elements {
        Elements::Seq(seq) => seq.elem.nulls.is_none(),
        Elements::Entries(e) => e.keys.nulls.is_none() && e.values.nulls.is_none(),
    };
    let rows = if no_inner_nulls { 0 } else { array.len() };
    let mut rows = (0..rows)
        .filter(|&i| !nulls.as_ref().is_some_and(|n| n.is_null(i)) && inner_null(i))
        .peekable();
    if rows.peek().is_some() {
        let general = general()?;
        let mut scratch = Vec::new();
        for i in rows {
            scratch.clear();
            match general(i, &mut scratch) {
                Err(reason) => refused.push((i, reason)),
                // The general conversion takes what an element column cannot hold.
                Ok(_) => return Ok(None),
            }
        }
    }
    // What the rows would take serialized, about: a dictionary's strings, shared by every batch
    // of a row group, are not counted again for each.
    let heap_size = match &elements {
        Elements::Seq(seq) => seq.bytes_hint(array.len()),
        Elements::Entries(entries) => entries.bytes_hint(array.len()),
    };
    let column = ElementsColumn {
        elements,
        nulls,
        heap_size,
    };
    Ok(Some((BatchColumn::Elements(Arc::new(column)), refused)))
}

/// The column writer of a pair with a fast path; `general` is the same conversion's per-row
/// writer, for the rows the fast path leaves to it, given back when the pair has none.
pub(super) fn column<'a>(
    conv: &Conv,
    array: &'a dyn Array,
    general: Get<'a>,
) -> Result<ColumnWrite<'a>, Get<'a>> {
    let Some(shape) = Shape::of(conv, array) else {
        return Err(general);
    };
    let nulls = array.logical_nulls();
    Ok(Box::new(move |column, errors| {
        let rows = array.len();
        column.data.reserve(shape.bytes_hint(rows));
        column.ends.reserve(rows);
        column.present.reserve(rows);
        for i in 0..rows {
            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                column.push_null();
                continue;
            }
            let start = column.data.len();
            if shape.write(i, &mut column.data) {
                column.end_value();
                continue;
            }
            column.data.truncate(start);
            if let Err(reason) = column.push_with(|out| general(i, out)) {
                errors.push((i, reason));
            }
        }
    }))
}

/// Whether a pair has a column writer here (for tests).
#[cfg(test)]
pub(super) fn has_fast_path(conv: &Conv, array: &dyn Array) -> bool {
    Shape::of(conv, array).is_some()
}
