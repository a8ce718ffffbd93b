//! Arrow values to CQL values. Which Arrow type may feed which CQL type is decided once per
//! column ([`Conv::new`]), before any row is read. Binding a conversion to a decoded Arrow array
//! ([`Conv::bind`]) downcasts it once per batch; each row then writes its value, serialized as
//! Cassandra stores it, straight into a buffer, or gives NULL, or the reason the row is rejected
//! (a null inside a collection, a value out of range). [`Conv::bind_column`] writes a whole
//! column of a batch ([`crate::intake::ColumnValues`]), in one tight loop for the common pairs
//! (`fast`), through `bind` row by row otherwise.
//!
//! Pairs, with the checks each value gets:
//!
//! | Arrow | CQL |
//! | --- | --- |
//! | any integer width, signed or not | tinyint, smallint, int, bigint (range-checked), varint, decimal, timestamp (milliseconds) |
//! | float16, float32, float64 | float (a float64 must be exactly representable), double |
//! | bool | boolean |
//! | utf8, large utf8, utf8 view | text, ascii (checked), any other native type through its CQL literal (`parse_literal`) |
//! | binary, large binary, binary view | blob; text and ascii when the bytes are valid UTF-8 / ASCII |
//! | fixed size binary | blob; uuid and timeuuid (version 1 checked) when 16 bytes wide |
//! | timestamp (s, ms, µs, ns; any zone, none = UTC) | timestamp (floored to ms), date (UTC day) |
//! | date32, date64 | date, timestamp |
//! | time32, time64 | time |
//! | decimal32/64/128/256 | decimal (exact); varint when the scale is 0 or negative |
//! | duration, interval | duration (all parts of one sign) |
//! | dictionary of any of these | as its value type |
//! | list, large list, list view, fixed size list | list, set (sorted and deduplicated as Cassandra does), vector (length checked) |
//! | map | map (sorted by key, a later duplicate key wins; null keys and values reject the row) |
//! | struct | user-defined type by field name (missing fields are null), tuple by position |
//! | null | anything (always null) |

use std::cmp::Ordering;
use std::ops::Range;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal32Type, Decimal64Type, Decimal128Type, Decimal256Type,
    DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType, DurationSecondType,
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    IntervalDayTimeType, IntervalMonthDayNanoType, IntervalUnit, IntervalYearMonthType,
    Time32MillisecondType, Time32SecondType, Time64MicrosecondType, Time64NanosecondType, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};

mod fast;

pub(crate) use fast::ColumnWrite;

use crate::model::literal::parse_literal;
use crate::model::order::compare_values;
use crate::model::types::UdtDef;
use crate::model::value::{Decimal, Duration, Varint, hex, write_framed};
use crate::model::vint;
use crate::model::{CqlType, NativeType, Value};

/// Writes row `i` of a bound array, serialized as Cassandra stores it, to the buffer: `Ok(false)`
/// (nothing written) is NULL, `Err` the reason the row is rejected (the buffer may then hold
/// part of the value; the caller truncates it).
pub(crate) type Get<'a> = Box<dyn Fn(usize, &mut Vec<u8>) -> Result<bool, String> + 'a>;

/// Nanoseconds in a day: CQL `time` values lie in `0..NANOS_PER_DAY`.
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// How one Arrow column (or a nested child) becomes values of one CQL type.
#[derive(Clone, Debug)]
pub(crate) enum Conv {
    /// Arrow's null type: every value is null.
    Null,
    /// An integer of any width to tinyint, smallint, int, bigint, varint, decimal or timestamp.
    Int(NativeType),
    /// float16/32/64 to float (`double: false`) or double.
    Float {
        double: bool,
    },
    Bool,
    /// utf8 or binary to text, or to ascii (checked).
    Text {
        ascii: bool,
    },
    /// utf8 to any other native type through its CQL literal form.
    Parse(CqlType),
    Blob,
    Uuid {
        time: bool,
    },
    /// An Arrow timestamp to a CQL timestamp or (`date: true`) a date.
    Timestamp {
        date: bool,
    },
    /// date32/date64 to a CQL date or (`timestamp: true`) a timestamp.
    Date {
        timestamp: bool,
    },
    Time,
    Decimal {
        varint: bool,
    },
    Duration,
    Seq {
        elem: Box<Conv>,
        kind: SeqKind,
        cql: CqlType,
    },
    Map {
        key: Box<Conv>,
        value: Box<Conv>,
        cql: CqlType,
    },
    /// A struct to a UDT: for each UDT field, the struct child that feeds it, if any.
    Udt(Vec<Option<(usize, Conv)>>),
    /// A struct to a tuple, by position.
    Tuple(Vec<Conv>),
}

#[derive(Clone, Debug)]
pub(crate) enum SeqKind {
    List,
    /// Sorted and deduplicated with the element type's Cassandra comparator.
    Set(CqlType),
    /// A multi-cell set, left in input order: its element cells are sorted and deduplicated
    /// when the row is built ([`crate::model::collection::explode`]).
    Cells,
    Vector(usize),
}

/// Why an Arrow type cannot feed a CQL type: empty, or a clause that explains it (` (...)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub String);

impl Refusal {
    fn plain() -> Refusal {
        Refusal(String::new())
    }

    fn hint(text: &str) -> Refusal {
        Refusal(format!(" ({text})"))
    }

    /// A refusal found inside a nested type, with the path to it.
    fn nested(what: &str, arrow: &DataType, cql: &CqlType, inner: Refusal) -> Refusal {
        Refusal(format!(
            " ({what}: Arrow {arrow} cannot feed CQL {cql}{})",
            inner.0
        ))
    }
}

fn is_int(t: &DataType) -> bool {
    t.is_integer()
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_binary(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    )
}

/// The element field of a list-like Arrow type and, for fixed size lists, the length.
fn list_elem(t: &DataType) -> Option<(&DataType, Option<i32>)> {
    match t {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f) => Some((f.data_type(), None)),
        DataType::FixedSizeList(f, n) => Some((f.data_type(), Some(*n))),
        _ => None,
    }
}

impl Conv {
    /// Decides how `arrow` values become `cql` values, or refuses the pair.
    pub(crate) fn new(arrow: &DataType, cql: &CqlType) -> Result<Conv, Refusal> {
        use NativeType as N;
        if *cql == CqlType::Native(N::Counter) {
            return Err(Refusal::hint(
                "counter columns cannot be written with timestamps",
            ));
        }
        // Planned for the values; `bind` looks up a dictionary array's keys.
        if let DataType::Dictionary(_, values) = arrow {
            return Conv::new(values, cql);
        }
        if *arrow == DataType::Null {
            return Ok(Conv::Null);
        }
        if let Some((elem_type, fixed)) = list_elem(arrow) {
            let (elem, kind) = match cql {
                CqlType::List { elem, .. } => (elem, SeqKind::List),
                // A multi-cell set's elements become cells, which sort themselves.
                CqlType::Set {
                    elem,
                    frozen: false,
                } => (elem, SeqKind::Cells),
                CqlType::Set { elem, .. } => (elem, SeqKind::Set((**elem).clone())),
                CqlType::Vector { elem, dimension } => {
                    if let Some(n) = fixed.filter(|&n| n as usize != *dimension) {
                        return Err(Refusal::hint(&format!(
                            "the lists hold {n} elements, the vector {dimension}"
                        )));
                    }
                    (elem, SeqKind::Vector(*dimension))
                }
                _ => {
                    return Err(Refusal::hint(
                        "Arrow lists load into list, set or vector columns",
                    ));
                }
            };
            let elem_conv = Conv::new(elem_type, elem)
                .map_err(|r| Refusal::nested("element", elem_type, elem, r))?;
            return Ok(Conv::Seq {
                elem: Box::new(elem_conv),
                kind,
                cql: cql.clone(),
            });
        }
        if let DataType::Map(entries, _) = arrow {
            let CqlType::Map { key, value, .. } = cql else {
                return Err(Refusal::hint("Arrow maps load into map columns"));
            };
            let DataType::Struct(fields) = entries.data_type() else {
                return Err(Refusal::hint("the map's entries are not a struct"));
            };
            if fields.len() != 2 {
                return Err(Refusal::hint("the map's entries are not key/value pairs"));
            }
            let (kt, vt) = (fields[0].data_type(), fields[1].data_type());
            let key_conv = Conv::new(kt, key).map_err(|r| Refusal::nested("key", kt, key, r))?;
            let value_conv =
                Conv::new(vt, value).map_err(|r| Refusal::nested("value", vt, value, r))?;
            return Ok(Conv::Map {
                key: Box::new(key_conv),
                value: Box::new(value_conv),
                cql: cql.clone(),
            });
        }
        if let DataType::Struct(fields) = arrow {
            return match cql {
                CqlType::Udt { def, .. } => udt(fields, def),
                CqlType::Tuple(types) => {
                    if fields.len() != types.len() {
                        return Err(Refusal::hint(&format!(
                            "the struct has {} fields, the tuple {}",
                            fields.len(),
                            types.len()
                        )));
                    }
                    let convs = fields
                        .iter()
                        .zip(types)
                        .map(|(f, t)| {
                            Conv::new(f.data_type(), t).map_err(|r| {
                                Refusal::nested(&format!("field {}", f.name()), f.data_type(), t, r)
                            })
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(Conv::Tuple(convs))
                }
                _ => Err(Refusal::hint(
                    "Arrow structs load into user-defined types (by field name) or tuples (by position)",
                )),
            };
        }
        let CqlType::Native(n) = cql else {
            let what = match cql {
                CqlType::List { .. } | CqlType::Set { .. } | CqlType::Vector { .. } => {
                    "list, set and vector columns take Arrow lists"
                }
                CqlType::Map { .. } => "map columns take Arrow maps",
                CqlType::Udt { .. } | CqlType::Tuple(_) => {
                    "user-defined types and tuples take Arrow structs"
                }
                _ => "custom types cannot be loaded",
            };
            return Err(Refusal::hint(what));
        };
        let n = *n;
        Ok(match arrow {
            t if is_int(t) => match n {
                N::Tinyint
                | N::Smallint
                | N::Int
                | N::Bigint
                | N::Varint
                | N::Decimal
                | N::Timestamp => Conv::Int(n),
                _ => return Err(Refusal::plain()),
            },
            DataType::Float16 | DataType::Float32 | DataType::Float64 => match n {
                N::Float => Conv::Float { double: false },
                N::Double => Conv::Float { double: true },
                _ => return Err(Refusal::plain()),
            },
            DataType::Boolean if n == N::Boolean => Conv::Bool,
            t if is_string(t) => match n {
                N::Text => Conv::Text { ascii: false },
                N::Ascii => Conv::Text { ascii: true },
                N::Duration => {
                    return Err(Refusal::hint("durations cannot be read from strings"));
                }
                _ => Conv::Parse(cql.clone()),
            },
            t if is_binary(t) => match n {
                N::Blob => Conv::Blob,
                N::Text => Conv::Text { ascii: false },
                N::Ascii => Conv::Text { ascii: true },
                _ => return Err(Refusal::plain()),
            },
            DataType::FixedSizeBinary(width) => match n {
                N::Blob => Conv::Blob,
                N::Uuid | N::Timeuuid if *width == 16 => Conv::Uuid {
                    time: n == N::Timeuuid,
                },
                N::Uuid | N::Timeuuid => {
                    return Err(Refusal::hint(&format!(
                        "a uuid is 16 bytes, the column's values {width}"
                    )));
                }
                _ => return Err(Refusal::plain()),
            },
            DataType::Timestamp(..) => match n {
                N::Timestamp => Conv::Timestamp { date: false },
                N::Date => Conv::Timestamp { date: true },
                _ => return Err(Refusal::plain()),
            },
            DataType::Date32 | DataType::Date64 => match n {
                N::Date => Conv::Date { timestamp: false },
                N::Timestamp => Conv::Date { timestamp: true },
                _ => return Err(Refusal::plain()),
            },
            DataType::Time32(_) | DataType::Time64(_) if n == N::Time => Conv::Time,
            DataType::Decimal32(_, scale)
            | DataType::Decimal64(_, scale)
            | DataType::Decimal128(_, scale)
            | DataType::Decimal256(_, scale) => match n {
                N::Decimal => Conv::Decimal { varint: false },
                N::Varint if *scale <= 0 => Conv::Decimal { varint: true },
                N::Varint => {
                    return Err(Refusal::hint(&format!(
                        "scale {scale} keeps a fraction; load it into a decimal column"
                    )));
                }
                _ => return Err(Refusal::plain()),
            },
            DataType::Duration(_) | DataType::Interval(_) if n == N::Duration => Conv::Duration,
            DataType::RunEndEncoded(..) | DataType::Union(..) => {
                return Err(Refusal::hint(
                    "run-end encoded and union columns are not supported",
                ));
            }
            _ => return Err(Refusal::plain()),
        })
    }

    /// Downcasts `array` once for this conversion. Fails only when the array is not of the type
    /// the conversion was planned for (a file whose schema changed under us).
    /// Binds the conversion to a batch's array as a writer of the whole column: the fast path of
    /// [`fast`] when the pair has one, else [`Conv::bind`] row by row.
    pub(crate) fn bind_column<'a>(
        &'a self,
        array: &'a dyn Array,
    ) -> Result<ColumnWrite<'a>, String> {
        let general = match fast::column(self, array, self.bind(array)?) {
            Ok(write) => return Ok(write),
            Err(general) => general,
        };
        Ok(Box::new(move |column, errors| {
            for i in 0..array.len() {
                if let Err(reason) = column.push_with(|out| general(i, out)) {
                    errors.push((i, reason));
                }
            }
        }))
    }

    /// The column kept as the source holds it (text in place, a multi-cell list, set or map
    /// as its elements), with the rows refused and why; `None` when the pair is written by
    /// [`Conv::bind_column`] instead.
    pub(crate) fn bind_kept(&self, array: &dyn Array) -> Result<Option<fast::Kept>, String> {
        fast::kept(self, array, || self.bind(array))
    }

    /// Binds this conversion to the values of dictionary `array`, looked up by its keys; `None`
    /// when `array` is not a dictionary.
    fn bind_dictionary<'a>(&'a self, array: &'a dyn Array) -> Option<Result<Get<'a>, String>> {
        let dict = array.as_any_dictionary_opt()?;
        let keys = dict.keys();
        let key = int_getter(keys)?;
        Some(self.bind(dict.values().as_ref()).map(|values| -> Get<'a> {
            Box::new(move |i, out| {
                if keys.is_null(i) {
                    return Ok(false);
                }
                let k = usize::try_from(key(i)).map_err(|_| "a negative dictionary key")?;
                values(k, out)
            })
        }))
    }

    pub(crate) fn bind<'a>(&'a self, array: &'a dyn Array) -> Result<Get<'a>, String> {
        let mismatch = || {
            format!(
                "a column of Arrow type {} cannot be read as planned ({self:?})",
                array.data_type()
            )
        };
        // Dictionaries in the file, or text the source chose to read as one (see
        // `read::dictionary_hints`): the conversion is the values'.
        if let DataType::Dictionary(..) = array.data_type() {
            return self.bind_dictionary(array).ok_or_else(mismatch)?;
        }
        Ok(match self {
            Conv::Null => Box::new(|_, _| Ok(false)),
            Conv::Int(to) => {
                let get = int_getter(array).ok_or_else(mismatch)?;
                let to = *to;
                leaf(array, move |i| int_value(get(i), to))
            }
            Conv::Float { double } => {
                let get = float_getter(array).ok_or_else(mismatch)?;
                let double = *double;
                leaf(array, move |i| {
                    let v = get(i);
                    if double {
                        return Ok(Value::Double(v));
                    }
                    let f = v as f32;
                    if f64::from(f) == v || v.is_nan() {
                        Ok(Value::Float(f))
                    } else {
                        Err(format!(
                            "{v} has no exact CQL float; load it into a double column"
                        ))
                    }
                })
            }
            Conv::Bool => {
                let a = array.as_boolean_opt().ok_or_else(mismatch)?;
                leaf(array, move |i| Ok(Value::Boolean(a.value(i))))
            }
            Conv::Text { ascii } => {
                let ascii = *ascii;
                let write = move |s: &str, out: &mut Vec<u8>| {
                    if ascii && !s.is_ascii() {
                        return Err(not_ascii(s));
                    }
                    out.extend_from_slice(s.as_bytes());
                    Ok(())
                };
                if let Some(get) = str_getter(array) {
                    write_leaf(array, move |i, out| write(get(i), out))
                } else {
                    let get = bytes_getter(array).ok_or_else(mismatch)?;
                    write_leaf(array, move |i, out| {
                        let s = std::str::from_utf8(get(i)).map_err(|_| {
                            "the bytes are not valid UTF-8, which CQL text needs".to_owned()
                        })?;
                        write(s, out)
                    })
                }
            }
            Conv::Parse(cql) => {
                let get = str_getter(array).ok_or_else(mismatch)?;
                leaf(array, move |i| string_value(cql, get(i)))
            }
            Conv::Blob => {
                let get = bytes_getter(array).ok_or_else(mismatch)?;
                write_leaf(array, move |i, out| {
                    out.extend_from_slice(get(i));
                    Ok(())
                })
            }
            Conv::Uuid { time } => {
                let a = array.as_fixed_size_binary_opt().ok_or_else(mismatch)?;
                let time = *time;
                leaf(array, move |i| {
                    let u: [u8; 16] = a.value(i).try_into().map_err(|_| "not 16 bytes")?;
                    if !time {
                        Ok(Value::Uuid(u))
                    } else if u[6] >> 4 == 1 {
                        Ok(Value::Timeuuid(u))
                    } else {
                        Err(format!(
                            "{} is not a version 1 uuid, which a CQL timeuuid needs",
                            Value::Uuid(u)
                        ))
                    }
                })
            }
            Conv::Timestamp { date } => {
                let (get, per_second) = timestamp_getter(array).ok_or_else(mismatch)?;
                let date = *date;
                leaf(array, move |i| {
                    let v = i128::from(get(i));
                    if date {
                        let days = v.div_euclid(per_second * 86_400);
                        Ok(Value::Date(i32::try_from(days).map_err(|_| {
                            format!("{days} days since 1970 is out of range for CQL date")
                        })?))
                    } else {
                        let ms = (v * 1000).div_euclid(per_second);
                        Ok(Value::Timestamp(i64::try_from(ms).map_err(|_| {
                            format!("{ms} ms since 1970 is out of range for CQL timestamp")
                        })?))
                    }
                })
            }
            Conv::Date { timestamp } => {
                let timestamp = *timestamp;
                // Both as milliseconds since the epoch: exact for date32, as stored for date64.
                let get: Getter<'_, i128> = match array.data_type() {
                    DataType::Date32 => {
                        let a = array
                            .as_primitive_opt::<Date32Type>()
                            .ok_or_else(mismatch)?;
                        Box::new(move |i| i128::from(a.value(i)) * 86_400_000)
                    }
                    DataType::Date64 => {
                        let a = array
                            .as_primitive_opt::<Date64Type>()
                            .ok_or_else(mismatch)?;
                        Box::new(move |i| i128::from(a.value(i)))
                    }
                    _ => return Err(mismatch()),
                };
                leaf(array, move |i| {
                    let ms = get(i);
                    if timestamp {
                        Ok(Value::Timestamp(i64::try_from(ms).map_err(|_| {
                            format!("{ms} ms since 1970 is out of range for CQL timestamp")
                        })?))
                    } else {
                        let days = ms.div_euclid(86_400_000);
                        Ok(Value::Date(i32::try_from(days).map_err(|_| {
                            format!("{days} days since 1970 is out of range for CQL date")
                        })?))
                    }
                })
            }
            Conv::Time => {
                let get = time_getter(array).ok_or_else(mismatch)?;
                leaf(array, move |i| {
                    let nanos = get(i);
                    match i64::try_from(nanos) {
                        Ok(n) if (0..NANOS_PER_DAY).contains(&n) => Ok(Value::Time(n)),
                        _ => Err(format!(
                            "{nanos} ns is not a time of day, which CQL time needs"
                        )),
                    }
                })
            }
            Conv::Decimal { varint: false } => {
                let (get, scale) = decimal_getter(array).ok_or_else(mismatch)?;
                write_leaf(array, move |i, out| {
                    // A CQL decimal: the scale as an int, then the unscaled varint.
                    out.extend_from_slice(&i32::from(scale).to_be_bytes());
                    get(i, out);
                    Ok(())
                })
            }
            Conv::Decimal { varint: true } => {
                let (get, scale) = decimal_getter(array).ok_or_else(mismatch)?;
                let factor = num_bigint::BigInt::from(10).pow(u32::from(scale.unsigned_abs()));
                write_leaf(array, move |i, out| {
                    let mut unscaled = Vec::new();
                    get(i, &mut unscaled);
                    let unscaled = num_bigint::BigInt::from_signed_bytes_be(&unscaled);
                    out.extend_from_slice(&(unscaled * &factor).to_signed_bytes_be());
                    Ok(())
                })
            }
            Conv::Duration => {
                let get = duration_getter(array).ok_or_else(mismatch)?;
                leaf(array, move |i| {
                    let d = get(i)?;
                    let signs = [
                        i64::from(d.months).signum(),
                        i64::from(d.days).signum(),
                        d.nanos.signum(),
                    ];
                    if signs.contains(&1) && signs.contains(&-1) {
                        return Err(format!(
                            "{}mo {}d {}ns mixes signs, which a CQL duration cannot",
                            d.months, d.days, d.nanos
                        ));
                    }
                    Ok(Value::Duration(d))
                })
            }
            Conv::Seq { elem, kind, cql } => {
                let (range, values) = list_ranges(array).ok_or_else(mismatch)?;
                let elem = elem.bind(values)?;
                // Vector elements of a variable width carry a vint length, fixed ones none.
                let fixed_width = match cql {
                    CqlType::Vector { elem, .. } => elem.fixed_len().is_some(),
                    _ => true,
                };
                Box::new(move |i, out| {
                    if array.is_null(i) {
                        return Ok(false);
                    }
                    let r = range(i);
                    let len = r.len();
                    let null_element = |n: usize| {
                        format!(
                            "element {} of {len} is null, which a CQL {cql} cannot hold",
                            n + 1
                        )
                    };
                    match kind {
                        SeqKind::List | SeqKind::Cells => {
                            // A multi-cell set's elements become cells, which sort themselves.
                            out.extend_from_slice(&(len as i32).to_be_bytes());
                            for (n, j) in r.enumerate() {
                                if !write_framed(out, |out| elem(j, out))? {
                                    return Err(null_element(n));
                                }
                            }
                        }
                        SeqKind::Set(elem_type) => {
                            let mut items = Encoded::default();
                            for (n, j) in r.enumerate() {
                                if !items.push(|buf| elem(j, buf))? {
                                    return Err(null_element(n));
                                }
                            }
                            items.sort_dedup(elem_type);
                            items.write_framed(out, 1);
                        }
                        SeqKind::Vector(dim) if len != *dim => {
                            return Err(format!(
                                "{len} elements cannot fill a CQL {cql} ({dim} elements)"
                            ));
                        }
                        SeqKind::Vector(_) => {
                            let mut item = Vec::new();
                            for (n, j) in r.enumerate() {
                                if fixed_width {
                                    if !elem(j, out)? {
                                        return Err(null_element(n));
                                    }
                                    continue;
                                }
                                item.clear();
                                if !elem(j, &mut item)? {
                                    return Err(null_element(n));
                                }
                                vint::write_unsigned(item.len() as u64, out);
                                out.extend_from_slice(&item);
                            }
                        }
                    }
                    Ok(true)
                })
            }
            Conv::Map { key, value, cql } => {
                let map = array.as_map_opt().ok_or_else(mismatch)?;
                let key_cql = match cql {
                    CqlType::Map { key, .. } => &**key,
                    _ => return Err(mismatch()),
                };
                // A multi-cell map's entries become cells, which sort themselves.
                let sorted = !cql.is_multi_cell();
                let keys = key.bind(map.keys().as_ref())?;
                let values = value.bind(map.values().as_ref())?;
                Box::new(move |i, out| {
                    if map.is_null(i) {
                        return Ok(false);
                    }
                    let offsets = map.value_offsets();
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let mut entries = Encoded::default();
                    for j in start..end {
                        if !entries.push(|buf| keys(j, buf))? {
                            return Err(format!(
                                "a map key is null, which a CQL {cql} cannot hold"
                            ));
                        }
                        if !entries.push(|buf| values(j, buf))? {
                            let k = entries.get(entries.len() - 1);
                            return Err(format!(
                                "the value of key {} is null, which a CQL {cql} cannot hold",
                                shown(key_cql, k)
                            ));
                        }
                    }
                    if sorted {
                        // Later duplicates of a key win, as in a CQL map literal.
                        entries.sort_dedup_pairs(key_cql);
                    }
                    entries.write_framed(out, 2);
                    Ok(true)
                })
            }
            Conv::Udt(fields) => {
                let s = array.as_struct_opt().ok_or_else(mismatch)?;
                let bound = fields
                    .iter()
                    .map(|f| match f {
                        None => Ok(None),
                        Some((child, conv)) => {
                            let column = s.columns().get(*child).ok_or_else(mismatch)?;
                            conv.bind(column.as_ref()).map(Some)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Box::new(move |i, out| {
                    if s.is_null(i) {
                        return Ok(false);
                    }
                    for g in &bound {
                        // A UDT field the struct lacks is NULL.
                        write_framed(out, |out| g.as_ref().map_or(Ok(false), |g| g(i, out)))?;
                    }
                    Ok(true)
                })
            }
            Conv::Tuple(convs) => {
                let s = array.as_struct_opt().ok_or_else(mismatch)?;
                if s.num_columns() != convs.len() {
                    return Err(mismatch());
                }
                let bound = convs
                    .iter()
                    .zip(s.columns())
                    .map(|(c, column)| c.bind(column.as_ref()))
                    .collect::<Result<Vec<_>, _>>()?;
                Box::new(move |i, out| {
                    if s.is_null(i) {
                        return Ok(false);
                    }
                    for g in &bound {
                        write_framed(out, |out| g(i, out))?;
                    }
                    Ok(true)
                })
            }
        })
    }
}

/// A struct to a UDT by field name (exact, else the one field equal ignoring case); struct fields
/// the UDT does not have are refused, since their values would be dropped.
fn udt(fields: &arrow::datatypes::Fields, def: &UdtDef) -> Result<Conv, Refusal> {
    let find = |name: &str| {
        fields.iter().position(|f| f.name() == name).or_else(|| {
            let mut folded = fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.name().eq_ignore_ascii_case(name));
            match (folded.next(), folded.next()) {
                (Some((i, _)), None) => Some(i),
                _ => None,
            }
        })
    };
    let mut used = vec![false; fields.len()];
    let mut convs = Vec::with_capacity(def.fields.len());
    for (name, t) in &def.fields {
        convs.push(match find(name) {
            None => None,
            Some(child) => {
                used[child] = true;
                let at = fields[child].data_type();
                let conv = Conv::new(at, t)
                    .map_err(|r| Refusal::nested(&format!("field {name}"), at, t, r))?;
                Some((child, conv))
            }
        });
    }
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(Refusal::hint(&format!(
            "the struct field {} has no field of that name in {}, so its values would be lost",
            fields[unused].name(),
            def.name
        )));
    }
    Ok(Conv::Udt(convs))
}

/// A text value of `cql` (any native type) from a string: text as is, ascii checked, anything
/// else read as its CQL literal. Used for utf8 columns and `key=value` folder names.
pub(crate) fn string_value(cql: &CqlType, s: &str) -> Result<Value, String> {
    match cql {
        CqlType::Native(NativeType::Text) => Ok(Value::Text(s.to_owned())),
        CqlType::Native(NativeType::Ascii) if !s.is_ascii() => Err(not_ascii(s)),
        CqlType::Native(NativeType::Ascii) => Ok(Value::Ascii(s.to_owned())),
        _ => parse_literal(cql, s).map_err(|e| e.to_string()),
    }
}

/// Why text with non-ASCII characters cannot go into an ascii column.
fn not_ascii(s: &str) -> String {
    format!(
        "`{}` has non-ASCII characters, which CQL ascii cannot hold",
        shorten(s)
    )
}

/// The first 80 characters of a value, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Wraps a writer of non-null values with the array's null check.
fn write_leaf<'a>(
    array: &'a dyn Array,
    f: impl Fn(usize, &mut Vec<u8>) -> Result<(), String> + 'a,
) -> Get<'a> {
    Box::new(move |i, out| {
        if array.is_null(i) {
            Ok(false)
        } else {
            f(i, out).map(|()| true)
        }
    })
}

/// [`write_leaf`] for conversions that make a [`Value`]: fixed-width and parsed values, which
/// encode without touching the heap (or rarely, for parsed ones).
fn leaf<'a>(array: &'a dyn Array, f: impl Fn(usize) -> Result<Value, String> + 'a) -> Get<'a> {
    write_leaf(array, move |i, out| {
        f(i)?.encode(out);
        Ok(())
    })
}

/// A collection's serialized elements side by side, to sort a frozen set or map before it is
/// framed (its cells are compared as Cassandra compares them, so the order is part of the value).
#[derive(Default)]
struct Encoded {
    buf: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Encoded {
    /// Adds the value `write` writes, unless it is NULL; whether it was not.
    fn push(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<bool, String>,
    ) -> Result<bool, String> {
        let start = self.buf.len();
        let present = write(&mut self.buf)?;
        if present {
            self.spans.push((start as u32, self.buf.len() as u32));
        } else {
            self.buf.truncate(start);
        }
        Ok(present)
    }

    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, k: usize) -> &[u8] {
        let (s, e) = self.spans[k];
        &self.buf[s as usize..e as usize]
    }

    /// Set elements in the element type's order, equal ones once.
    fn sort_dedup(&mut self, elem: &CqlType) {
        let buf = &self.buf;
        let at = |(s, e): (u32, u32)| &buf[s as usize..e as usize];
        self.spans
            .sort_by(|a, b| compare_values(elem, at(*a), at(*b)));
        self.spans
            .dedup_by(|a, b| compare_values(elem, at(*a), at(*b)) == Ordering::Equal);
    }

    /// Key/value pairs in the key type's order; of equal keys the later one stays.
    fn sort_dedup_pairs(&mut self, key: &CqlType) {
        let buf = &self.buf;
        let at = |(s, e): (u32, u32)| &buf[s as usize..e as usize];
        let mut pairs: Vec<[(u32, u32); 2]> = self
            .spans
            .chunks_exact(2)
            .map(|kv| [kv[0], kv[1]])
            .collect();
        pairs.reverse();
        pairs.sort_by(|a, b| compare_values(key, at(a[0]), at(b[0])));
        pairs.dedup_by(|a, b| compare_values(key, at(a[0]), at(b[0])) == Ordering::Equal);
        self.spans = pairs.into_iter().flatten().collect();
    }

    /// The collection: its count of entries (`per_entry` values each), then each value framed.
    fn write_framed(&self, out: &mut Vec<u8>, per_entry: usize) {
        out.extend_from_slice(&((self.len() / per_entry) as i32).to_be_bytes());
        for k in 0..self.len() {
            let v = self.get(k);
            out.extend_from_slice(&(v.len() as i32).to_be_bytes());
            out.extend_from_slice(v);
        }
    }
}

/// A serialized value as CQL shows it, for messages.
fn shown(cql: &CqlType, bytes: &[u8]) -> String {
    Value::decode(cql, bytes).map_or_else(|_| format!("0x{}", hex(bytes)), |v| v.to_string())
}

fn int_value(v: i128, to: NativeType) -> Result<Value, String> {
    fn fit<T: TryFrom<i128>>(v: i128, to: NativeType) -> Result<T, String> {
        T::try_from(v).map_err(|_| format!("{v} is out of range for CQL {}", to.name()))
    }
    Ok(match to {
        NativeType::Tinyint => Value::Tinyint(fit(v, to)?),
        NativeType::Smallint => Value::Smallint(fit(v, to)?),
        NativeType::Int => Value::Int(fit(v, to)?),
        NativeType::Bigint => Value::Bigint(fit(v, to)?),
        NativeType::Timestamp => Value::Timestamp(fit(v, to)?),
        NativeType::Varint => Value::Varint(Varint::from_i128(v)),
        NativeType::Decimal => Value::Decimal(Decimal {
            unscaled: Varint::from_i128(v),
            scale: 0,
        }),
        other => return Err(format!("integers do not load into CQL {}", other.name())),
    })
}

type Getter<'a, T> = Box<dyn Fn(usize) -> T + 'a>;

/// Reads any integer array as `i128`.
pub(crate) fn int_getter(array: &dyn Array) -> Option<Getter<'_, i128>> {
    macro_rules! get {
        ($t:ty) => {{
            let a = array.as_primitive_opt::<$t>()?;
            Box::new(move |i| i128::from(a.value(i)))
        }};
    }
    Some(match array.data_type() {
        DataType::Int8 => get!(Int8Type),
        DataType::Int16 => get!(Int16Type),
        DataType::Int32 => get!(Int32Type),
        DataType::Int64 => get!(Int64Type),
        DataType::UInt8 => get!(UInt8Type),
        DataType::UInt16 => get!(UInt16Type),
        DataType::UInt32 => get!(UInt32Type),
        DataType::UInt64 => get!(UInt64Type),
        _ => return None,
    })
}

/// Reads any float array as `f64` (exact for every width).
fn float_getter(array: &dyn Array) -> Option<Getter<'_, f64>> {
    Some(match array.data_type() {
        DataType::Float16 => {
            let a = array.as_primitive_opt::<Float16Type>()?;
            Box::new(move |i| a.value(i).to_f64())
        }
        DataType::Float32 => {
            let a = array.as_primitive_opt::<Float32Type>()?;
            Box::new(move |i| f64::from(a.value(i)))
        }
        DataType::Float64 => {
            let a = array.as_primitive_opt::<Float64Type>()?;
            Box::new(move |i| a.value(i))
        }
        _ => return None,
    })
}

fn str_getter(array: &dyn Array) -> Option<Getter<'_, &str>> {
    Some(match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string_opt::<i32>()?;
            Box::new(move |i| a.value(i))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string_opt::<i64>()?;
            Box::new(move |i| a.value(i))
        }
        DataType::Utf8View => {
            let a = array.as_string_view_opt()?;
            Box::new(move |i| a.value(i))
        }
        _ => return None,
    })
}

fn bytes_getter(array: &dyn Array) -> Option<Getter<'_, &[u8]>> {
    Some(match array.data_type() {
        DataType::Binary => {
            let a = array.as_binary_opt::<i32>()?;
            Box::new(move |i| a.value(i))
        }
        DataType::LargeBinary => {
            let a = array.as_binary_opt::<i64>()?;
            Box::new(move |i| a.value(i))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view_opt()?;
            Box::new(move |i| a.value(i))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary_opt()?;
            Box::new(move |i| a.value(i))
        }
        _ => return None,
    })
}

/// Reads a timestamp array of any unit as its raw count and the count's units per second.
pub(crate) fn timestamp_getter(array: &dyn Array) -> Option<(Getter<'_, i64>, i128)> {
    macro_rules! get {
        ($t:ty, $per_second:expr) => {{
            let a = array.as_primitive_opt::<$t>()?;
            (
                Box::new(move |i| a.value(i)) as Getter<'_, i64>,
                $per_second,
            )
        }};
    }
    Some(match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => get!(TimestampSecondType, 1),
        DataType::Timestamp(TimeUnit::Millisecond, _) => get!(TimestampMillisecondType, 1_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            get!(TimestampMicrosecondType, 1_000_000)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            get!(TimestampNanosecondType, 1_000_000_000)
        }
        _ => return None,
    })
}

/// Reads a time32/time64 array as nanoseconds since midnight.
fn time_getter(array: &dyn Array) -> Option<Getter<'_, i128>> {
    macro_rules! get {
        ($t:ty, $factor:expr) => {{
            let a = array.as_primitive_opt::<$t>()?;
            Box::new(move |i| i128::from(a.value(i)) * $factor)
        }};
    }
    Some(match array.data_type() {
        DataType::Time32(TimeUnit::Second) => get!(Time32SecondType, 1_000_000_000),
        DataType::Time32(TimeUnit::Millisecond) => get!(Time32MillisecondType, 1_000_000),
        DataType::Time64(TimeUnit::Microsecond) => get!(Time64MicrosecondType, 1_000),
        DataType::Time64(TimeUnit::Nanosecond) => get!(Time64NanosecondType, 1),
        _ => return None,
    })
}

/// Writes a value's unscaled integer as a minimal varint.
type UnscaledWriter<'a> = Box<dyn Fn(usize, &mut Vec<u8>) + 'a>;

/// Reads a decimal array of any width: a writer of each value's unscaled integer (as a minimal
/// varint), and the column's scale.
fn decimal_getter(array: &dyn Array) -> Option<(UnscaledWriter<'_>, i8)> {
    macro_rules! get {
        ($t:ty, $scale:expr) => {{
            let a = array.as_primitive_opt::<$t>()?;
            (
                Box::new(move |i, out: &mut Vec<u8>| {
                    Varint::write_i128(i128::from(a.value(i)), out)
                }) as UnscaledWriter<'_>,
                *$scale,
            )
        }};
    }
    Some(match array.data_type() {
        DataType::Decimal32(_, s) => get!(Decimal32Type, s),
        DataType::Decimal64(_, s) => get!(Decimal64Type, s),
        DataType::Decimal128(_, s) => get!(Decimal128Type, s),
        DataType::Decimal256(_, s) => {
            let a = array.as_primitive_opt::<Decimal256Type>()?;
            (
                Box::new(move |i, out: &mut Vec<u8>| {
                    let big = num_bigint::BigInt::from_signed_bytes_be(&a.value(i).to_be_bytes());
                    out.extend_from_slice(&big.to_signed_bytes_be());
                }),
                *s,
            )
        }
        _ => return None,
    })
}

/// Reads a duration or interval array as CQL's months, days and nanoseconds.
fn duration_getter(array: &dyn Array) -> Option<Getter<'_, Result<Duration, String>>> {
    let nanos = |v: i64, factor: i64| {
        v.checked_mul(factor)
            .map(|nanos| Duration {
                months: 0,
                days: 0,
                nanos,
            })
            .ok_or_else(|| format!("{v} is too long for a CQL duration"))
    };
    macro_rules! get {
        ($t:ty, $factor:expr) => {{
            let a = array.as_primitive_opt::<$t>()?;
            Box::new(move |i| nanos(a.value(i), $factor))
        }};
    }
    Some(match array.data_type() {
        DataType::Duration(TimeUnit::Second) => get!(DurationSecondType, 1_000_000_000),
        DataType::Duration(TimeUnit::Millisecond) => get!(DurationMillisecondType, 1_000_000),
        DataType::Duration(TimeUnit::Microsecond) => get!(DurationMicrosecondType, 1_000),
        DataType::Duration(TimeUnit::Nanosecond) => get!(DurationNanosecondType, 1),
        DataType::Interval(IntervalUnit::YearMonth) => {
            let a = array.as_primitive_opt::<IntervalYearMonthType>()?;
            Box::new(move |i| {
                Ok(Duration {
                    months: a.value(i),
                    days: 0,
                    nanos: 0,
                })
            })
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let a = array.as_primitive_opt::<IntervalDayTimeType>()?;
            Box::new(move |i| {
                let v = a.value(i);
                Ok(Duration {
                    months: 0,
                    days: v.days,
                    nanos: i64::from(v.milliseconds) * 1_000_000,
                })
            })
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive_opt::<IntervalMonthDayNanoType>()?;
            Box::new(move |i| {
                let v = a.value(i);
                Ok(Duration {
                    months: v.months,
                    days: v.days,
                    nanos: v.nanoseconds,
                })
            })
        }
        _ => return None,
    })
}

/// For a list-like array: each row's range of positions in the values array, and that array.
fn list_ranges(array: &dyn Array) -> Option<(Getter<'_, Range<usize>>, &dyn Array)> {
    Some(match array.data_type() {
        DataType::List(_) => {
            let a = array.as_list_opt::<i32>()?;
            let offsets = a.value_offsets();
            (
                Box::new(move |i| offsets[i] as usize..offsets[i + 1] as usize),
                a.values().as_ref(),
            )
        }
        DataType::LargeList(_) => {
            let a = array.as_list_opt::<i64>()?;
            let offsets = a.value_offsets();
            (
                Box::new(move |i| offsets[i] as usize..offsets[i + 1] as usize),
                a.values().as_ref(),
            )
        }
        DataType::ListView(_) => {
            let a = array.as_list_view_opt::<i32>()?;
            (
                Box::new(move |i| {
                    let start = a.value_offsets()[i] as usize;
                    start..start + a.value_sizes()[i] as usize
                }),
                a.values().as_ref(),
            )
        }
        DataType::LargeListView(_) => {
            let a = array.as_list_view_opt::<i64>()?;
            (
                Box::new(move |i| {
                    let start = a.value_offsets()[i] as usize;
                    start..start + a.value_sizes()[i] as usize
                }),
                a.values().as_ref(),
            )
        }
        DataType::FixedSizeList(_, _) => {
            let a = array.as_fixed_size_list_opt()?;
            (
                Box::new(move |i| {
                    let start = a.value_offset_at(i);
                    start..start + a.value_length() as usize
                }),
                a.values().as_ref(),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Date64Array, Decimal128Array,
        Decimal256Array, DictionaryArray, DurationMillisecondArray, FixedSizeBinaryArray,
        FixedSizeListArray, Float32Array, Float64Array, Int8Array, Int32Array, Int64Array,
        IntervalMonthDayNanoArray, LargeStringArray, ListArray, MapBuilder, NullArray, StringArray,
        StringBuilder, StringViewArray, StructArray, Time32MillisecondArray, Time64NanosecondArray,
        TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
    };
    use arrow::datatypes::{Field, Fields, IntervalMonthDayNano, i256};

    use super::*;
    use crate::model::types::parse_type;

    fn t(cql: &str) -> CqlType {
        let geo = Arc::new(UdtDef {
            keyspace: "ks".into(),
            name: "geo".into(),
            fields: vec![
                ("country".into(), CqlType::Native(NativeType::Text)),
                ("city".into(), CqlType::Native(NativeType::Text)),
            ],
        });
        let resolve = move |name: &str| (name == "geo").then(|| geo.clone());
        parse_type(cql, &resolve).unwrap()
    }

    /// Every row of `array` converted to `cql`.
    fn rows(array: &dyn Array, cql: &str) -> Vec<Result<Option<Value>, String>> {
        let conv = Conv::new(array.data_type(), &t(cql))
            .unwrap_or_else(|r| panic!("{} -> {cql} refused{}", array.data_type(), r.0));
        let get = conv.bind(array).unwrap();
        let cql_type = t(cql);
        (0..array.len())
            .map(|i| {
                let mut out = Vec::new();
                if !get(i, &mut out)? {
                    assert!(out.is_empty(), "{cql}: row {i} is NULL but wrote {out:?}");
                    return Ok(None);
                }
                let value = Value::decode(&cql_type, &out)
                    .unwrap_or_else(|e| panic!("{cql}: row {i} was written as bad bytes: {e}"));
                Ok(Some(value))
            })
            .collect()
    }

    fn ok(array: &dyn Array, cql: &str) -> Vec<Option<Value>> {
        rows(array, cql)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{cql}: {e}")))
            .collect()
    }

    fn refusal(arrow: &DataType, cql: &str) -> String {
        match Conv::new(arrow, &t(cql)) {
            Ok(conv) => panic!("{arrow} -> {cql} was accepted as {conv:?}"),
            Err(r) => r.0,
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn integers_of_every_width_load_into_every_integer_type_range_checked() {
        let a = Int64Array::from(vec![Some(127), Some(128), None, Some(-129)]);
        let got = rows(&a, "tinyint");
        assert_eq!(got[0], Ok(Some(Value::Tinyint(127))));
        assert_eq!(
            got[1],
            Err("128 is out of range for CQL tinyint".to_owned())
        );
        assert_eq!(got[2], Ok(None));
        assert!(got[3].is_err());
        assert_eq!(
            ok(&a, "smallint")[3],
            Some(Value::Smallint(-129)),
            "smallint"
        );
        let big = UInt64Array::from(vec![u64::MAX]);
        assert!(rows(&big, "bigint")[0].is_err());
        assert_eq!(
            ok(&big, "varint"),
            [Some(Value::Varint(Varint::from_i128(i128::from(u64::MAX))))]
        );
        assert_eq!(
            ok(&Int8Array::from(vec![-1]), "int"),
            [Some(Value::Int(-1))]
        );
        assert_eq!(
            ok(&Int32Array::from(vec![1_700_000_000]), "timestamp"),
            [Some(Value::Timestamp(1_700_000_000))]
        );
        assert_eq!(
            ok(&Int32Array::from(vec![5]), "decimal"),
            [Some(Value::Decimal(Decimal {
                unscaled: Varint::from_i128(5),
                scale: 0
            }))]
        );
        assert_eq!(refusal(&DataType::Int32, "text"), "");
        assert!(refusal(&DataType::Int64, "counter").contains("counter"));
    }

    #[test]
    fn floats_widen_exactly_and_narrow_only_when_exact() {
        let f32s = Float32Array::from(vec![Some(0.1f32), None]);
        assert_eq!(
            ok(&f32s, "double"),
            [Some(Value::Double(f64::from(0.1f32))), None]
        );
        assert_eq!(ok(&f32s, "float"), [Some(Value::Float(0.1)), None]);
        let f64s = Float64Array::from(vec![0.5, 0.1, f64::NAN, f64::INFINITY]);
        let got = rows(&f64s, "float");
        assert_eq!(got[0], Ok(Some(Value::Float(0.5))));
        assert!(got[1].as_ref().unwrap_err().contains("double"), "{got:?}");
        assert!(matches!(got[2], Ok(Some(Value::Float(v))) if v.is_nan()));
        assert_eq!(got[3], Ok(Some(Value::Float(f32::INFINITY))));
        let halves =
            arrow::compute::cast(&Float32Array::from(vec![1.5f32]), &DataType::Float16).unwrap();
        assert_eq!(ok(halves.as_ref(), "float"), [Some(Value::Float(1.5))]);
        assert_eq!(refusal(&DataType::Float64, "int"), "");
    }

    #[test]
    fn strings_load_into_text_ascii_and_through_literals_into_other_types() {
        let s = StringArray::from(vec![Some("héllo"), None, Some("plain")]);
        assert_eq!(
            ok(&s, "text"),
            [Some(text("héllo")), None, Some(text("plain"))]
        );
        let ascii = rows(&s, "ascii");
        assert!(ascii[0].as_ref().unwrap_err().contains("non-ASCII"));
        assert_eq!(ascii[2], Ok(Some(Value::Ascii("plain".into()))));
        let large = LargeStringArray::from(vec!["a"]);
        assert_eq!(ok(&large, "text"), [Some(text("a"))]);
        let view = StringViewArray::from(vec!["a view longer than twelve bytes"]);
        assert_eq!(
            ok(&view, "text"),
            [Some(text("a view longer than twelve bytes"))]
        );
        let uuids = StringArray::from(vec!["123e4567-e89b-12d3-a456-426614174000", "nope"]);
        let got = rows(&uuids, "uuid");
        assert!(matches!(got[0], Ok(Some(Value::Uuid(_)))));
        assert!(got[1].as_ref().unwrap_err().contains("not a uuid"));
        assert_eq!(
            ok(&StringArray::from(vec!["2026-11-18"]), "date"),
            [Some(Value::Date(20_775))]
        );
        assert!(refusal(&DataType::Utf8, "duration").contains("durations"));
        assert!(refusal(&DataType::Utf8, "list<text>").contains("take Arrow lists"));
    }

    #[test]
    fn binaries_load_into_blobs_and_valid_utf8_into_text() {
        let b = BinaryArray::from(vec![Some(&b"\x00\xff"[..]), None, Some(&b"ok"[..])]);
        assert_eq!(
            ok(&b, "blob"),
            [
                Some(Value::Blob(vec![0, 255])),
                None,
                Some(Value::Blob(b"ok".to_vec()))
            ]
        );
        let as_text = rows(&b, "text");
        assert!(as_text[0].as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(as_text[2], Ok(Some(text("ok"))));
        assert_eq!(
            ok(&BooleanArray::from(vec![Some(true), None]), "boolean"),
            [Some(Value::Boolean(true)), None]
        );
    }

    #[test]
    fn sixteen_byte_fixed_binaries_are_uuids_and_timeuuids_must_be_version_1() {
        let v4 = [
            0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x42, 0xd3, 0xa4, 0x56, 0, 0, 0, 0, 0, 1,
        ];
        let mut v1 = v4;
        v1[6] = 0x11;
        let a = FixedSizeBinaryArray::try_from_iter([v4, v1].into_iter()).unwrap();
        assert_eq!(
            ok(&a, "uuid"),
            [Some(Value::Uuid(v4)), Some(Value::Uuid(v1))]
        );
        let got = rows(&a, "timeuuid");
        assert!(got[0].as_ref().unwrap_err().contains("version 1"));
        assert_eq!(got[1], Ok(Some(Value::Timeuuid(v1))));
        assert_eq!(ok(&a, "blob")[0], Some(Value::Blob(v4.to_vec())));
        assert!(refusal(&DataType::FixedSizeBinary(8), "uuid").contains("16 bytes"));
    }

    #[test]
    fn timestamps_of_every_unit_floor_to_milliseconds_and_to_utc_days() {
        let ns = TimestampNanosecondArray::from(vec![Some(-1), Some(1_500_999), None])
            .with_timezone("+05:30");
        assert_eq!(
            ok(&ns, "timestamp"),
            [Some(Value::Timestamp(-1)), Some(Value::Timestamp(1)), None]
        );
        assert_eq!(
            ok(&ns, "date"),
            [Some(Value::Date(-1)), Some(Value::Date(0)), None]
        );
        let secs = TimestampSecondArray::from(vec![86_400]);
        assert_eq!(ok(&secs, "timestamp"), [Some(Value::Timestamp(86_400_000))]);
        assert_eq!(ok(&secs, "date"), [Some(Value::Date(1))]);
        let ms = TimestampMillisecondArray::from(vec![i64::MAX]);
        assert_eq!(ok(&ms, "timestamp"), [Some(Value::Timestamp(i64::MAX))]);
        let too_far = TimestampSecondArray::from(vec![i64::MAX]);
        assert!(rows(&too_far, "timestamp")[0].is_err());
    }

    #[test]
    fn dates_and_times_convert_exactly() {
        assert_eq!(
            ok(&Date32Array::from(vec![Some(-719_162), None]), "date"),
            [Some(Value::Date(-719_162)), None]
        );
        assert_eq!(
            ok(&Date32Array::from(vec![1]), "timestamp"),
            [Some(Value::Timestamp(86_400_000))]
        );
        assert_eq!(
            ok(&Date64Array::from(vec![86_400_000 * 3]), "date"),
            [Some(Value::Date(3))]
        );
        assert_eq!(
            ok(&Time32MillisecondArray::from(vec![1_500]), "time"),
            [Some(Value::Time(1_500_000_000))]
        );
        let t = Time64NanosecondArray::from(vec![NANOS_PER_DAY - 1, NANOS_PER_DAY]);
        let got = rows(&t, "time");
        assert_eq!(got[0], Ok(Some(Value::Time(NANOS_PER_DAY - 1))));
        assert!(got[1].is_err());
    }

    #[test]
    fn decimals_keep_their_scale_and_become_varints_only_without_a_fraction() {
        let d = Decimal128Array::from(vec![Some(-12_345), None])
            .with_precision_and_scale(10, 4)
            .unwrap();
        let got = ok(&d, "decimal");
        assert_eq!(got[0].as_ref().unwrap().to_string(), "-1.2345");
        assert_eq!(got[1], None);
        assert!(refusal(d.data_type(), "varint").contains("scale 4"));
        let whole = Decimal128Array::from(vec![7])
            .with_precision_and_scale(10, -2)
            .unwrap();
        assert_eq!(
            ok(&whole, "varint"),
            [Some(Value::Varint(Varint::from_i128(700)))]
        );
        let wide = Decimal256Array::from(vec![i256::from_i128(i128::MIN) * i256::from_i128(10)])
            .with_precision_and_scale(76, 0)
            .unwrap();
        let expected = num_bigint::BigInt::from(i128::MIN) * 10;
        assert_eq!(
            ok(&wide, "varint"),
            [Some(Value::Varint(Varint::from_bigint(&expected)))]
        );
    }

    #[test]
    fn durations_and_intervals_load_when_their_parts_share_a_sign() {
        let d = DurationMillisecondArray::from(vec![-1_500]);
        assert_eq!(
            ok(&d, "duration"),
            [Some(Value::Duration(Duration {
                months: 0,
                days: 0,
                nanos: -1_500_000_000
            }))]
        );
        let i = IntervalMonthDayNanoArray::from(vec![
            IntervalMonthDayNano::new(1, 2, 3),
            IntervalMonthDayNano::new(1, -2, 0),
        ]);
        let got = rows(&i, "duration");
        assert_eq!(
            got[0],
            Ok(Some(Value::Duration(Duration {
                months: 1,
                days: 2,
                nanos: 3
            })))
        );
        assert!(got[1].as_ref().unwrap_err().contains("mixes signs"));
    }

    #[test]
    fn dictionary_columns_decode_through_their_dictionary() {
        let dict: DictionaryArray<arrow::datatypes::Int8Type> =
            vec![Some("pop"), None, Some("rock"), Some("pop")]
                .into_iter()
                .collect();
        assert_eq!(
            ok(&dict, "text"),
            [
                Some(text("pop")),
                None,
                Some(text("rock")),
                Some(text("pop"))
            ]
        );
    }

    fn list_of_strings(rows: Vec<Option<Vec<Option<&str>>>>) -> ListArray {
        let mut b = arrow::array::ListBuilder::new(StringBuilder::new());
        for row in rows {
            match row {
                None => b.append_null(),
                Some(items) => {
                    for item in items {
                        b.values().append_option(item);
                    }
                    b.append(true);
                }
            }
        }
        b.finish()
    }

    #[test]
    fn lists_become_lists_and_sets_sorted_and_deduplicated() {
        let a = list_of_strings(vec![
            Some(vec![Some("b"), Some("a"), Some("b")]),
            None,
            Some(vec![]),
        ]);
        assert_eq!(
            ok(&a, "list<text>"),
            [
                Some(Value::List(vec![text("b"), text("a"), text("b")])),
                None,
                Some(Value::List(vec![]))
            ]
        );
        assert_eq!(
            ok(&a, "frozen<set<text>>")[0],
            Some(Value::Set(vec![text("a"), text("b")]))
        );
        // A multi-cell set's element cells are sorted when the row is built.
        assert_eq!(
            ok(&a, "set<text>")[0],
            Some(Value::Set(vec![text("b"), text("a"), text("b")]))
        );
        // Sets follow Cassandra's comparator for the element type, not the bytes.
        let ints = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![
            Some(1),
            Some(-1),
            Some(1),
        ])]);
        assert_eq!(
            ok(&ints, "frozen<set<int>>"),
            [Some(Value::Set(vec![Value::Int(-1), Value::Int(1)]))]
        );
        let bools = DataType::List(Arc::new(Field::new("item", DataType::Boolean, true)));
        assert!(refusal(&bools, "list<int>").contains("element: Arrow Boolean"));
        assert!(refusal(a.data_type(), "int").contains("list, set or vector"));
    }

    #[test]
    fn a_null_inside_a_list_rejects_the_row_with_its_position() {
        let a = list_of_strings(vec![Some(vec![Some("pop"), None, Some("indie")])]);
        let err = rows(&a, "list<text>").remove(0).unwrap_err();
        assert_eq!(
            err,
            "element 2 of 3 is null, which a CQL list<text> cannot hold"
        );
    }

    #[test]
    fn fixed_size_lists_fill_vectors_of_their_dimension() {
        let a = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            vec![Some(vec![Some(1.0), Some(2.0)])],
            2,
        );
        assert_eq!(
            ok(&a, "vector<float, 2>"),
            [Some(Value::Vector(vec![
                Value::Float(1.0),
                Value::Float(2.0)
            ]))]
        );
        assert!(refusal(a.data_type(), "vector<float, 3>").contains("2 elements"));
        let lists =
            ListArray::from_iter_primitive::<Float32Type, _, _>(vec![Some(vec![Some(1.0)])]);
        assert!(rows(&lists, "vector<float, 2>")[0].is_err());
    }

    #[test]
    fn maps_become_maps_sorted_by_key_and_null_values_reject_the_row_and_later_keys_win() {
        let mut b = MapBuilder::new(
            None,
            StringBuilder::new(),
            arrow::array::Int32Builder::new(),
        );
        for (k, v) in [("rock", Some(3)), ("pop", Some(1))] {
            b.keys().append_value(k);
            b.values().append_option(v);
        }
        b.append(true).unwrap();
        b.append(false).unwrap();
        b.keys().append_value("jazz");
        b.values().append_null();
        b.append(true).unwrap();
        b.keys().append_value("a");
        b.values().append_value(1);
        b.keys().append_value("a");
        b.values().append_value(2);
        b.append(true).unwrap();
        let m = b.finish();
        let got = rows(&m, "frozen<map<text, int>>");
        assert_eq!(
            got[0],
            Ok(Some(Value::Map(vec![
                (text("pop"), Value::Int(1)),
                (text("rock"), Value::Int(3))
            ])))
        );
        assert_eq!(got[1], Ok(None));
        assert!(got[2].as_ref().unwrap_err().contains("key 'jazz' is null"));
        assert_eq!(
            got[3],
            Ok(Some(Value::Map(vec![(text("a"), Value::Int(2))]))),
            "a later duplicate key wins"
        );
        // A multi-cell map's entry cells are sorted (later keys winning) when the row is built.
        assert_eq!(
            rows(&m, "map<text, int>")[3],
            Ok(Some(Value::Map(vec![
                (text("a"), Value::Int(1)),
                (text("a"), Value::Int(2))
            ])))
        );
        assert!(refusal(m.data_type(), "map<text, text>").contains("value"));
    }

    fn geo_struct() -> StructArray {
        let country: ArrayRef = Arc::new(StringArray::from(vec![Some("SE"), None, Some("JP")]));
        let city: ArrayRef = Arc::new(StringArray::from(vec![Some("Göteborg"), None, None]));
        let nulls = arrow::buffer::NullBuffer::from(vec![true, false, true]);
        StructArray::new(
            Fields::from(vec![
                Field::new("country", DataType::Utf8, true),
                Field::new("city", DataType::Utf8, true),
            ]),
            vec![country, city],
            Some(nulls),
        )
    }

    #[test]
    fn structs_fill_udts_by_field_name_and_tuples_by_position() {
        let s = geo_struct();
        assert_eq!(
            ok(&s, "frozen<geo>"),
            [
                Some(Value::Udt(vec![Some(text("SE")), Some(text("Göteborg"))])),
                None,
                Some(Value::Udt(vec![Some(text("JP")), None])),
            ]
        );
        assert_eq!(
            ok(&s, "tuple<text, text>")[0],
            Some(Value::Tuple(vec![Some(text("SE")), Some(text("Göteborg"))]))
        );
        assert!(refusal(s.data_type(), "tuple<text>").contains("2 fields"));
    }

    #[test]
    fn udt_fields_missing_from_the_struct_are_null_and_extra_struct_fields_are_refused() {
        let only_city =
            DataType::Struct(Fields::from(vec![Field::new("City", DataType::Utf8, true)]));
        assert!(Conv::new(&only_city, &t("frozen<geo>")).is_ok());
        let a = StructArray::new(
            Fields::from(vec![Field::new("City", DataType::Utf8, true)]),
            vec![Arc::new(StringArray::from(vec!["Lagos"])) as ArrayRef],
            None,
        );
        assert_eq!(
            ok(&a, "frozen<geo>"),
            [Some(Value::Udt(vec![None, Some(text("Lagos"))]))]
        );
        let extra = DataType::Struct(Fields::from(vec![
            Field::new("city", DataType::Utf8, true),
            Field::new("zip", DataType::Utf8, true),
        ]));
        assert!(refusal(&extra, "frozen<geo>").contains("zip"));
    }

    #[test]
    fn null_typed_columns_load_as_nulls_into_anything() {
        let n = NullArray::new(2);
        assert_eq!(ok(&n, "map<text, int>"), [None, None]);
    }
    #[test]
    fn text_read_as_dictionaries_writes_the_same_bytes_nulls_and_reasons_as_text_read_as_strings() {
        let lists = list_of_strings(vec![
            Some(vec![Some("b"), Some("a"), Some("b")]),
            None,
            Some(vec![]),
            Some(vec![Some("x"), None, Some("y")]),
        ]);
        let mut b = MapBuilder::new(
            None,
            StringBuilder::new(),
            arrow::array::Int32Builder::new(),
        );
        for (k, v) in [("rock", Some(3)), ("pop", Some(1)), ("rock", None)] {
            b.keys().append_value(k);
            b.values().append_option(v);
            b.append(k == "pop").unwrap();
        }
        let maps = b.finish();
        let texts = StringArray::from(vec![Some("a"), None, Some(""), Some("Göteborg"), Some("a")]);
        let cases: [(&dyn Array, &str); 5] = [
            (&texts, "text"),
            (&lists, "list<text>"),
            (&lists, "set<text>"),
            (&maps, "map<text, int>"),
            (&geo_struct(), "frozen<tuple<text, text>>"),
        ];
        let dictionary = |t: &DataType| -> DataType {
            match t {
                DataType::Utf8 => {
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
                }
                DataType::List(f) => DataType::List(Arc::new(f.as_ref().clone().with_data_type(
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                ))),
                other => other.clone(),
            }
        };
        for (plain, cql) in cases {
            // As the source reads dictionary pages: dictionary arrays under a conversion
            // planned for the file's string type.
            let as_dictionaries: ArrayRef = match plain.data_type() {
                DataType::Map(..) => {
                    let m = plain.as_map();
                    let keys =
                        arrow::compute::cast(m.keys(), &dictionary(&DataType::Utf8)).unwrap();
                    let entries = StructArray::new(
                        Fields::from(vec![
                            Field::new("keys", keys.data_type().clone(), false),
                            Field::new("values", DataType::Int32, true),
                        ]),
                        vec![keys, m.values().clone()],
                        None,
                    );
                    Arc::new(arrow::array::MapArray::new(
                        Arc::new(Field::new("entries", entries.data_type().clone(), false)),
                        m.offsets().clone(),
                        entries,
                        m.nulls().cloned(),
                        false,
                    ))
                }
                DataType::Struct(fields) => {
                    let s = plain.as_struct();
                    let columns: Vec<ArrayRef> = s
                        .columns()
                        .iter()
                        .map(|c| arrow::compute::cast(c, &dictionary(&DataType::Utf8)).unwrap())
                        .collect();
                    let fields: Fields = fields
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| f.as_ref().clone().with_data_type(c.data_type().clone()))
                        .collect();
                    Arc::new(StructArray::new(fields, columns, s.nulls().cloned()))
                }
                t => arrow::compute::cast(plain, &dictionary(t)).unwrap(),
            };
            let conv = Conv::new(plain.data_type(), &t(cql)).unwrap();
            assert!(
                fast::has_fast_path(&conv, as_dictionaries.as_ref()),
                "{} -> {cql} has no column writer",
                as_dictionaries.data_type()
            );
            let write = |array: &dyn Array| {
                let mut column = crate::intake::ColumnValues::default();
                let mut errors = Vec::new();
                conv.bind_column(array).unwrap()(&mut column, &mut errors);
                let get = conv.bind(array).unwrap();
                let rows: Vec<_> = (0..array.len())
                    .map(|i| {
                        let mut out = Vec::new();
                        get(i, &mut out).map(|present| present.then_some(out))
                    })
                    .collect();
                (column, errors, rows)
            };
            let (column, errors, rows) = write(as_dictionaries.as_ref());
            let (plain_column, plain_errors, plain_rows) = write(plain);
            assert_eq!(column, plain_column, "{cql}");
            assert_eq!(errors, plain_errors, "{cql}");
            assert_eq!(rows, plain_rows, "{cql}");
            // A file whose schema says dictionary has the same column writer.
            let planned = Conv::new(as_dictionaries.data_type(), &t(cql)).unwrap();
            assert!(
                fast::has_fast_path(&planned, as_dictionaries.as_ref()),
                "{cql}"
            );
        }
    }

    #[test]
    fn strings_read_as_dictionaries_parse_into_any_cql_type_as_plain_strings_do() {
        let as_dictionary = |a: &StringArray| {
            arrow::compute::cast(
                a,
                &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            )
            .unwrap()
        };
        for (values, cql) in [
            (
                vec![Some("plain"), None, Some("Göteborg"), Some("plain")],
                "ascii",
            ),
            (
                vec![
                    Some("5f1e2c3a-9a34-4c1e-8b6a-2f4f4f2b9d10"),
                    Some("not a uuid"),
                    None,
                ],
                "uuid",
            ),
            (vec![Some("42"), Some("x"), Some("42"), None], "int"),
            (vec![Some("2026-11-26"), Some("yesterday")], "date"),
        ] {
            let plain = StringArray::from(values);
            let dictionary = as_dictionary(&plain);
            let conv = Conv::new(&DataType::Utf8, &t(cql)).unwrap();
            let rows = |array: &dyn Array| {
                let get = conv.bind(array).unwrap();
                (0..array.len())
                    .map(|i| {
                        let mut out = Vec::new();
                        get(i, &mut out).map(|present| present.then_some(out))
                    })
                    .collect::<Vec<_>>()
            };
            let expected = rows(&plain);
            assert!(expected.iter().any(Result::is_err), "{cql}: a bad value");
            assert_eq!(rows(dictionary.as_ref()), expected, "{cql}");
        }
    }

    /// Writes `array` through its column writer and checks every row's bytes, NULLs and reasons
    /// against the general per-row conversion.
    fn column_agrees_with_rows(array: &dyn Array, cql: &str) {
        let conv = Conv::new(array.data_type(), &t(cql)).unwrap();
        assert!(
            fast::has_fast_path(&conv, array),
            "{} -> {cql} has no column writer",
            array.data_type()
        );
        let mut column = crate::intake::ColumnValues::default();
        let mut errors = Vec::new();
        conv.bind_column(array).unwrap()(&mut column, &mut errors);
        assert_eq!(column.len(), array.len(), "{cql}");
        let get = conv.bind(array).unwrap();
        let mut expected_errors = Vec::new();
        for i in 0..array.len() {
            let mut out = Vec::new();
            match get(i, &mut out) {
                Ok(true) => assert_eq!(column.get(i), Some(&out[..]), "{cql}: row {i}"),
                Ok(false) => assert_eq!(column.get(i), None, "{cql}: row {i}"),
                Err(reason) => {
                    assert_eq!(column.get(i), None, "{cql}: row {i}");
                    expected_errors.push((i, reason));
                }
            }
        }
        assert_eq!(errors, expected_errors, "{cql}");
    }

    #[test]
    fn column_writers_write_the_same_bytes_nulls_and_reasons_as_the_row_conversion() {
        let texts = StringArray::from(vec![Some("a"), None, Some(""), Some("Göteborg")]);
        column_agrees_with_rows(&texts, "text");
        column_agrees_with_rows(
            &Int32Array::from(vec![Some(-1), None, Some(i32::MAX)]),
            "int",
        );
        column_agrees_with_rows(
            &Int64Array::from(vec![Some(i64::MIN), None, Some(7)]),
            "bigint",
        );
        column_agrees_with_rows(
            &Float64Array::from(vec![Some(-0.5), None, Some(f64::NAN)]),
            "double",
        );
        column_agrees_with_rows(
            &BooleanArray::from(vec![Some(true), None, Some(false)]),
            "boolean",
        );
        let micros = arrow::array::TimestampMicrosecondArray::from(vec![
            Some(-1),
            Some(-1_001),
            None,
            Some(1_763_769_600_123_456),
        ]);
        column_agrees_with_rows(&micros, "timestamp");
        column_agrees_with_rows(
            &micros.clone().with_timezone("Europe/Stockholm"),
            "timestamp",
        );
        let decimals = Decimal128Array::from(vec![Some(-12_345), None, Some(0), Some(i128::MAX)])
            .with_precision_and_scale(38, 4)
            .unwrap();
        column_agrees_with_rows(&decimals, "decimal");

        let lists = list_of_strings(vec![
            Some(vec![Some("b"), Some("a"), Some("b")]),
            None,
            Some(vec![]),
            Some(vec![Some("x"), None, Some("y")]),
            Some(vec![Some("z")]),
        ]);
        column_agrees_with_rows(&lists, "list<text>");
        column_agrees_with_rows(&lists, "set<text>");

        let mut b = MapBuilder::new(
            None,
            StringBuilder::new(),
            arrow::array::Int32Builder::new(),
        );
        for (k, v) in [("rock", Some(3)), ("pop", Some(1))] {
            b.keys().append_value(k);
            b.values().append_option(v);
        }
        b.append(true).unwrap();
        b.append(false).unwrap();
        b.keys().append_value("jazz");
        b.values().append_null();
        b.append(true).unwrap();
        b.append(true).unwrap();
        b.keys().append_value("a");
        b.values().append_value(1);
        b.append(true).unwrap();
        column_agrees_with_rows(&b.finish(), "map<text, int>");

        column_agrees_with_rows(&geo_struct(), "frozen<tuple<text, text>>");
    }

    /// Keeps `array` as an element column and checks every row's cells, NULLs and reasons
    /// against the general conversion's value exploded into cells.
    fn elements_agree_with_rows(array: &dyn Array, cql: &str) {
        use crate::model::Liveness;
        use crate::model::collection::{ElementCells, explode};
        let cql_type = t(cql);
        let conv = Conv::new(array.data_type(), &cql_type).unwrap();
        let Some((crate::intake::BatchColumn::Elements(column), refused)) =
            conv.bind_kept(array).unwrap()
        else {
            panic!("{} -> {cql} is not kept as elements", array.data_type())
        };
        let get = conv.bind(array).unwrap();
        let (timestamp, liveness) = (1_763_769_600_123_456, Liveness::expiring_from(5, 60));
        let mut expected_refused = Vec::new();
        for i in 0..array.len() {
            let mut out = Vec::new();
            match get(i, &mut out) {
                Ok(true) => {
                    assert!(!column.is_null(i), "{cql}: row {i}");
                    let mut cells = ElementCells::new(3, &cql_type, timestamp, liveness).unwrap();
                    column.add_elements(i, &mut cells);
                    assert_eq!(
                        cells.finish(),
                        explode(3, &cql_type, &out, timestamp, liveness).unwrap(),
                        "{cql}: row {i}"
                    );
                }
                Ok(false) => assert!(column.is_null(i), "{cql}: row {i}"),
                Err(reason) => expected_refused.push((i, reason)),
            }
        }
        assert_eq!(refused, expected_refused, "{cql}");
    }

    #[test]
    fn collections_kept_as_elements_make_the_cells_of_their_serialized_values_and_refuse_the_same_rows()
     {
        let lists = list_of_strings(vec![
            Some(vec![Some("b"), Some("a"), Some("b")]),
            None,
            Some(vec![]),
            Some(vec![Some("x"), None, Some("y")]),
            Some(vec![
                Some("z"),
                Some("a string longer than twenty-two bytes"),
            ]),
        ]);
        elements_agree_with_rows(&lists, "list<text>");
        elements_agree_with_rows(&lists, "set<text>");
        let dictionary_lists = arrow::compute::cast(
            &lists,
            &DataType::List(Arc::new(Field::new(
                "item",
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                true,
            ))),
        )
        .unwrap();
        elements_agree_with_rows(dictionary_lists.as_ref(), "list<text>");
        elements_agree_with_rows(dictionary_lists.as_ref(), "set<text>");
        // A dictionary's NULL value is a NULL element too, like a NULL key.
        let with_null_value = arrow::array::DictionaryArray::<Int32Type>::try_new(
            arrow::array::Int32Array::from(vec![Some(0), Some(1), None, Some(0)]),
            Arc::new(StringArray::from(vec![Some("x"), None])),
        )
        .unwrap();
        let lists_of_null_values = arrow::array::ListArray::new(
            Arc::new(Field::new(
                "item",
                with_null_value.data_type().clone(),
                true,
            )),
            arrow::buffer::OffsetBuffer::new(vec![0, 1, 2, 3, 4].into()),
            Arc::new(with_null_value),
            None,
        );
        elements_agree_with_rows(&lists_of_null_values, "list<text>");
        elements_agree_with_rows(&lists_of_null_values, "set<text>");

        // Elements sort in the element type's order (-1 before 1), not as bytes.
        let mut ints = arrow::array::ListBuilder::new(arrow::array::Int32Builder::new());
        for row in [
            vec![Some(1), Some(-1), Some(1)],
            vec![],
            vec![Some(7), None],
        ] {
            for v in row {
                ints.values().append_option(v);
            }
            ints.append(true);
        }
        ints.append_null();
        let ints = ints.finish();
        elements_agree_with_rows(&ints, "set<int>");
        elements_agree_with_rows(&ints, "list<int>");

        let mut decimals = arrow::array::ListBuilder::new(
            arrow::array::Decimal128Builder::new()
                .with_precision_and_scale(10, 2)
                .unwrap(),
        );
        decimals.values().append_value(-12_345);
        decimals.values().append_value(0);
        decimals.append(true);
        let decimals = decimals.finish();
        elements_agree_with_rows(&decimals, "list<decimal>");
        elements_agree_with_rows(&decimals, "set<decimal>");

        let mut b = MapBuilder::new(
            None,
            StringBuilder::new(),
            arrow::array::Int32Builder::new(),
        );
        // A repeated key: the later value wins, as in a CQL map literal.
        for (k, v) in [("rock", Some(3)), ("pop", Some(1)), ("rock", Some(9))] {
            b.keys().append_value(k);
            b.values().append_option(v);
        }
        b.append(true).unwrap();
        b.append(false).unwrap();
        b.keys().append_value("jazz");
        b.values().append_null();
        b.append(true).unwrap();
        b.append(true).unwrap();
        elements_agree_with_rows(&b.finish(), "map<text, int>");

        // Frozen collections are one cell: serialized by their column writers.
        let frozen = Conv::new(lists.data_type(), &t("frozen<list<text>>")).unwrap();
        assert!(frozen.bind_kept(&lists).unwrap().is_none());
    }

    #[test]
    fn text_read_in_place_gives_the_bytes_and_nulls_of_the_row_conversion() {
        let texts = StringArray::from(vec![Some("a"), None, Some(""), Some("Göteborg")]);
        let with_null_value = arrow::array::DictionaryArray::<Int32Type>::try_new(
            arrow::array::Int32Array::from(vec![Some(1), None, Some(0), Some(2), Some(1)]),
            Arc::new(StringArray::from(vec![Some("x"), Some("y"), None])),
        )
        .unwrap();
        let as_dictionary = arrow::compute::cast(
            &texts,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .unwrap();
        for array in [
            &texts as &dyn Array,
            as_dictionary.as_ref(),
            &with_null_value,
        ] {
            let conv = Conv::new(array.data_type(), &t("text")).unwrap();
            let Some((crate::intake::BatchColumn::Shared(column), refused)) =
                conv.bind_kept(array).unwrap()
            else {
                panic!("{} -> text is not read in place", array.data_type())
            };
            assert!(refused.is_empty());
            let get = conv.bind(array).unwrap();
            for i in 0..array.len() {
                let mut out = Vec::new();
                let expected = get(i, &mut out).unwrap().then_some(&out[..]);
                assert_eq!(column.get(i), expected, "{}: row {i}", array.data_type());
            }
        }
        // A batch counts its rows, not the dictionary every batch of its row group shares.
        let big = StringArray::from_iter_values((0..10_000).map(|i| format!("artist-{i}")));
        let few = arrow::array::DictionaryArray::<Int32Type>::try_new(
            arrow::array::Int32Array::from(vec![7, 9_999, 7]),
            Arc::new(big),
        )
        .unwrap();
        let conv = Conv::new(few.data_type(), &t("text")).unwrap();
        let Some((crate::intake::BatchColumn::Shared(column), _)) = conv.bind_kept(&few).unwrap()
        else {
            panic!("a dictionary -> text is not read in place")
        };
        assert!(column.heap_size() < 1_000, "{}", column.heap_size());
        // ascii is checked, so it is written, not read in place.
        let ascii = Conv::new(texts.data_type(), &t("ascii")).unwrap();
        assert!(ascii.bind_kept(&texts).unwrap().is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn any_lists_and_maps_kept_as_elements_make_the_cells_of_their_serialized_values(
            rows in proptest::collection::vec(
                proptest::option::weighted(
                    0.9,
                    proptest::collection::vec(
                        (proptest::option::weighted(0.95, -3i32..3), "[a-c]{0,3}"),
                        0..6,
                    ),
                ),
                0..12,
            )
        ) {
            let mut ints = arrow::array::ListBuilder::new(arrow::array::Int32Builder::new());
            let mut texts = arrow::array::ListBuilder::new(StringBuilder::new());
            let mut maps = MapBuilder::new(None, StringBuilder::new(), arrow::array::Int32Builder::new());
            for row in &rows {
                match row {
                    None => {
                        ints.append_null();
                        texts.append_null();
                        maps.append(false).unwrap();
                    }
                    Some(items) => {
                        for (int, text) in items {
                            ints.values().append_option(*int);
                            texts.values().append_value(text);
                            maps.keys().append_value(text);
                            maps.values().append_option(*int);
                        }
                        ints.append(true);
                        texts.append(true);
                        maps.append(true).unwrap();
                    }
                }
            }
            let (ints, texts, maps) = (ints.finish(), texts.finish(), maps.finish());
            for cql in ["list<int>", "set<int>"] {
                elements_agree_with_rows(&ints, cql);
            }
            for cql in ["list<text>", "set<text>"] {
                elements_agree_with_rows(&texts, cql);
            }
            elements_agree_with_rows(&maps, "map<text, int>");
        }
    }
}
