//! Column-at-a-time writers for the pairs nightly exports are made of: utf8 to text, int32 to
//! int, int64 to bigint, float64 to double, bool, µs timestamps to timestamp, decimal128 to
//! decimal, and lists, multi-cell maps and tuples of those. Each writes a whole batch's column in
//! one loop over Arrow's buffers, dispatching on the pair once per element instead of through
//! boxed closures.
//!
//! They only take the happy path: a row with anything to refuse (a null element, key or map
//! value) is written again by the general conversion ([`super::Conv::bind`]), which gives the
//! reason, so both paths agree on every byte and message (a test checks it).

use arrow::array::{
    Array, AsArray, BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Decimal128Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};

use super::{Conv, Get, SeqKind};
use crate::batch::ColumnValues;
use crate::model::NativeType;
use crate::model::value::Varint;

/// Writes every row of a bound array into a column; rows refused are NULL there and listed with
/// their reasons.
pub(crate) type ColumnWrite<'a> = Box<dyn Fn(&mut ColumnValues, &mut Vec<(usize, String)>) + 'a>;

/// A leaf array with a conversion that cannot fail.
#[derive(Clone, Copy)]
enum Leaf<'a> {
    Text(&'a StringArray),
    /// Text read as a dictionary: keys (each checked to be in range) into the values.
    DictText(&'a [i32], &'a StringArray),
    Int(&'a Int32Array),
    BigInt(&'a Int64Array),
    Double(&'a Float64Array),
    Bool(&'a BooleanArray),
    /// µs since the epoch to a CQL timestamp (ms, floored).
    TimestampMicros(&'a TimestampMicrosecondArray),
    /// With the CQL decimal's scale prefix.
    Decimal(&'a Decimal128Array, [u8; 4]),
}

#[derive(Clone, Copy)]
struct LeafColumn<'a> {
    leaf: Leaf<'a>,
    nulls: Option<&'a NullBuffer>,
}

impl<'a> LeafColumn<'a> {
    fn of(conv: &Conv, array: &'a dyn Array) -> Option<LeafColumn<'a>> {
        let leaf = match (conv, array.data_type()) {
            (Conv::Text { ascii: false }, DataType::Utf8) => Leaf::Text(array.as_string_opt()?),
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
                Leaf::DictText(keys, values)
            }
            (Conv::Int(NativeType::Int), DataType::Int32) => {
                Leaf::Int(array.as_primitive_opt::<Int32Type>()?)
            }
            (Conv::Int(NativeType::Bigint), DataType::Int64) => {
                Leaf::BigInt(array.as_primitive_opt::<Int64Type>()?)
            }
            (Conv::Float { double: true }, DataType::Float64) => {
                Leaf::Double(array.as_primitive_opt::<Float64Type>()?)
            }
            (Conv::Bool, DataType::Boolean) => Leaf::Bool(array.as_boolean_opt()?),
            (Conv::Timestamp { date: false }, DataType::Timestamp(TimeUnit::Microsecond, _)) => {
                Leaf::TimestampMicros(array.as_primitive_opt::<TimestampMicrosecondType>()?)
            }
            (Conv::Decimal { varint: false }, DataType::Decimal128(_, scale)) => Leaf::Decimal(
                array.as_primitive_opt::<Decimal128Type>()?,
                i32::from(*scale).to_be_bytes(),
            ),
            _ => return None,
        };
        Some(LeafColumn {
            leaf,
            nulls: array.nulls(),
        })
    }

    #[inline]
    fn is_null(&self, j: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(j))
    }

    /// Writes element `j`, which is not null.
    #[inline]
    fn write(&self, j: usize, out: &mut Vec<u8>) {
        match self.leaf {
            Leaf::Text(a) => out.extend_from_slice(a.value(j).as_bytes()),
            Leaf::DictText(keys, a) => out.extend_from_slice(a.value(keys[j] as usize).as_bytes()),
            Leaf::Int(a) => out.extend_from_slice(&a.value(j).to_be_bytes()),
            Leaf::BigInt(a) => out.extend_from_slice(&a.value(j).to_be_bytes()),
            Leaf::Double(a) => out.extend_from_slice(&a.value(j).to_be_bytes()),
            Leaf::Bool(a) => out.push(u8::from(a.value(j))),
            Leaf::TimestampMicros(a) => {
                out.extend_from_slice(&a.value(j).div_euclid(1000).to_be_bytes())
            }
            Leaf::Decimal(a, scale) => {
                out.extend_from_slice(&scale);
                Varint::write_i128(a.value(j), out);
            }
        }
    }

    /// Whether one of elements `range` is null.
    #[inline]
    fn any_null(&self, range: std::ops::Range<usize>) -> bool {
        self.nulls
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
        let fixed = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        match self.leaf {
            Leaf::Text(a) => fixed(out, a.value(j).as_bytes()),
            Leaf::DictText(keys, a) => fixed(out, a.value(keys[j] as usize).as_bytes()),
            Leaf::Int(a) => fixed(out, &a.value(j).to_be_bytes()),
            Leaf::BigInt(a) => fixed(out, &a.value(j).to_be_bytes()),
            Leaf::Double(a) => fixed(out, &a.value(j).to_be_bytes()),
            Leaf::Bool(a) => fixed(out, &[u8::from(a.value(j))]),
            Leaf::TimestampMicros(a) => fixed(out, &a.value(j).div_euclid(1000).to_be_bytes()),
            Leaf::Decimal(..) => {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                self.write(j, out);
                let len = (out.len() - at - 4) as i32;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    /// Writes elements `range`, each with its 4-byte length, dispatching on the type once;
    /// false (nothing written) when one of them is null.
    #[inline]
    fn write_all_framed(&self, range: std::ops::Range<usize>, out: &mut Vec<u8>) -> bool {
        if self.any_null(range.clone()) {
            return false;
        }
        fn each(
            range: std::ops::Range<usize>,
            out: &mut Vec<u8>,
            bytes: impl Fn(usize, &mut Vec<u8>),
        ) {
            for j in range {
                bytes(j, out);
            }
        }
        let framed = |out: &mut Vec<u8>, bytes: &[u8]| {
            out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            out.extend_from_slice(bytes);
        };
        match self.leaf {
            Leaf::Text(a) => {
                let (offsets, data) = (a.value_offsets(), a.value_data());
                each(range, out, |j, out| {
                    framed(out, &data[offsets[j] as usize..offsets[j + 1] as usize])
                })
            }
            Leaf::DictText(keys, a) => {
                let (offsets, data) = (a.value_offsets(), a.value_data());
                each(range, out, |j, out| {
                    let k = keys[j] as usize;
                    framed(out, &data[offsets[k] as usize..offsets[k + 1] as usize])
                })
            }
            Leaf::Int(a) => each(range, out, |j, out| framed(out, &a.value(j).to_be_bytes())),
            Leaf::BigInt(a) => each(range, out, |j, out| framed(out, &a.value(j).to_be_bytes())),
            Leaf::Double(a) => each(range, out, |j, out| framed(out, &a.value(j).to_be_bytes())),
            _ => {
                for j in range {
                    self.write_framed_present(j, out);
                }
            }
        }
        true
    }

    /// About how many bytes elements `range` take serialized, framing included.
    fn bytes_hint(&self, range: std::ops::Range<usize>) -> usize {
        let n = range.len();
        let per = match self.leaf {
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

/// The shapes with a column writer.
enum Shape<'a> {
    Leaf(LeafColumn<'a>),
    /// A list, or a multi-cell set (its cells sort themselves).
    List {
        offsets: &'a [i32],
        elem: LeafColumn<'a>,
    },
    /// A multi-cell map (its cells sort themselves).
    Map {
        offsets: &'a [i32],
        keys: LeafColumn<'a>,
        values: LeafColumn<'a>,
    },
    Tuple(Vec<LeafColumn<'a>>),
}

impl<'a> Shape<'a> {
    fn of(conv: &Conv, array: &'a dyn Array) -> Option<Shape<'a>> {
        Some(match conv {
            Conv::Seq {
                elem,
                kind: SeqKind::List | SeqKind::Cells,
                ..
            } if matches!(array.data_type(), DataType::List(_)) => {
                let list = array.as_list_opt::<i32>()?;
                Shape::List {
                    offsets: list.value_offsets(),
                    elem: LeafColumn::of(elem, list.values().as_ref())?,
                }
            }
            Conv::Map { key, value, cql } if cql.is_multi_cell() => {
                let map = array.as_map_opt()?;
                Shape::Map {
                    offsets: map.value_offsets(),
                    keys: LeafColumn::of(key, map.keys().as_ref())?,
                    values: LeafColumn::of(value, map.values().as_ref())?,
                }
            }
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
            Shape::List { offsets, elem } => {
                4 * rows + elem.bytes_hint(offsets[0] as usize..offsets[rows] as usize)
            }
            Shape::Map {
                offsets,
                keys,
                values,
            } => {
                let range = offsets[0] as usize..offsets[rows] as usize;
                4 * rows + keys.bytes_hint(range.clone()) + values.bytes_hint(range)
            }
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
            Shape::List { offsets, elem } => {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                out.extend_from_slice(&((end - start) as i32).to_be_bytes());
                elem.write_all_framed(start..end, out)
            }
            Shape::Map {
                offsets,
                keys,
                values,
            } => {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                if keys.any_null(start..end) || values.any_null(start..end) {
                    return false;
                }
                out.extend_from_slice(&((end - start) as i32).to_be_bytes());
                for j in start..end {
                    keys.write_framed_present(j, out);
                    values.write_framed_present(j, out);
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
