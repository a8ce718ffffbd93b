//! Cassandra's sort order for serialized values: the order the partition builder gives clustering
//! columns and the cell paths of multi-cell collections, so that what cassbulk writes is sorted
//! exactly as Cassandra would sort it.
//!
//! Every rule below is a paraphrase of one `compare`/`compareCustom` method in Cassandra 5.0's
//! `org.apache.cassandra.db.marshal` package, named in the comment above it (and checked against
//! the 5.0.9 jar). Some consequences worth knowing:
//!
//! - Values that Cassandra considers equal are the *same* clustering: `decimal` 1.5 and 1.50, two
//!   `float`/`double` NaNs with different payloads, a non-minimal `varint` and its minimal form,
//!   `boolean` bytes 1 and 2. Such rows merge into one.
//! - `-0.0` sorts before `0.0` and NaN sorts after `+Infinity` (Java's `Float.compare`).
//! - `uuid` compares the version nibble first, then time for version 1, then the low 8 bytes
//!   unsigned; `timeuuid` compares time, then the low 8 bytes as *signed* bytes.
//! - A zero-length value sorts before every other value of its type (`AbstractType`'s comment:
//!   empty buffers stand for "start at the beginning"), even for types that usually refuse it.
//! - Bytes Cassandra would refuse (wrong width, broken framing) never panic: they sort after the
//!   empty value and before every well-formed value, among themselves by unsigned bytes, so the
//!   order stays total.
//!
//! The functions are pure and allocate only for `decimal` values of different scales.

use std::cmp::Ordering;

use num_bigint::{BigInt, BigUint, Sign};

use crate::model::cell::{RangeDeletion, SliceBound};
use crate::model::schema::{ClusteringOrder, ColumnKind, TableSchema};
use crate::model::types::{CqlType, NativeType};
use crate::model::vint;

/// Cassandra's `AbstractType.compare` for serialized values of `t` (what the partition builder
/// sorts clustering columns and collection cell paths by).
pub fn compare_values(t: &CqlType, a: &[u8], b: &[u8]) -> Ordering {
    match t {
        CqlType::Native(n) => compare_native(*n, a, b),
        CqlType::List { elem, .. } | CqlType::Set { elem, .. } => compare_list_or_set(elem, a, b),
        CqlType::Map { key, value, .. } => compare_maps(key, value, a, b),
        CqlType::Tuple(types) => compare_tuples(types.iter(), a, b),
        // UserType extends TupleType and keeps its comparator.
        CqlType::Udt { def, .. } => compare_tuples(def.fields.iter().map(|(_, t)| t), a, b),
        CqlType::Vector { elem, dimension } => compare_vectors(elem, *dimension, a, b),
        // A custom class we cannot run: BytesType's unsigned byte order.
        CqlType::Custom(_) => a.cmp(b),
    }
}

/// The order of cell paths in a multi-cell collection: set -> element comparator, map -> key
/// comparator, list -> TimeUUID comparator (`CollectionType.nameComparator`). A non-frozen UDT's
/// cell paths are field positions compared as `smallint` (`UserType.nameComparator`). Any other
/// type has no cell paths; its paths compare as unsigned bytes.
pub fn compare_cell_paths(collection: &CqlType, a: &[u8], b: &[u8]) -> Ordering {
    match collection {
        CqlType::Set { elem, .. } => compare_values(elem, a, b),
        CqlType::Map { key, .. } => compare_values(key, a, b),
        CqlType::List { .. } => compare_native(NativeType::Timeuuid, a, b),
        CqlType::Udt { .. } => compare_native(NativeType::Smallint, a, b),
        _ => a.cmp(b),
    }
}

/// Whether [`compare_cell_paths`] for this collection is plain unsigned byte order (sets and
/// maps of text, ascii, blob and the other byte-ordered types), so callers may sort without it.
/// The types are those of `compare_native`'s first arm, which must stay exhaustive; a property
/// test keeps the two lists in step.
pub fn cell_paths_are_bytewise(collection: &CqlType) -> bool {
    match collection {
        CqlType::Set { elem: t, .. } | CqlType::Map { key: t, .. } => matches!(
            **t,
            CqlType::Native(
                NativeType::Ascii
                    | NativeType::Text
                    | NativeType::Blob
                    | NativeType::Inet
                    | NativeType::Duration
                    | NativeType::Date
                    | NativeType::Time
            )
        ),
        _ => false,
    }
}

/// The orders within one table's partitions: its clustering, and the cell paths of each
/// multi-cell column (by the column's index in the schema). What merging two versions of a
/// partition or row needs to know about the table.
#[derive(Clone, Debug)]
pub struct TableOrder {
    clustering: ClusteringComparator,
    column_types: Vec<CqlType>,
}

impl TableOrder {
    pub fn new(schema: &TableSchema) -> TableOrder {
        TableOrder {
            clustering: ClusteringComparator::new(schema),
            column_types: schema.columns.iter().map(|c| c.cql_type.clone()).collect(),
        }
    }

    /// The table's clustering order.
    pub fn clustering(&self) -> &ClusteringComparator {
        &self.clustering
    }

    /// The order of cell paths within column `column` (multi-cell collections and UDTs);
    /// unsigned bytes for any other column.
    pub fn path_order(&self, column: usize, a: &[u8], b: &[u8]) -> Ordering {
        match self.column_types.get(column) {
            Some(t) if t.is_multi_cell() => compare_cell_paths(t, a, b),
            _ => a.cmp(b),
        }
    }
}

/// Compares clustering prefixes column by column with each column's type and direction (DESC
/// reverses, as `ReversedType` does, so an empty value sorts *last* in a DESC column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusteringComparator {
    columns: Vec<(CqlType, ClusteringOrder)>,
}

impl ClusteringComparator {
    /// The comparator of a table's clustering columns.
    pub fn new(schema: &TableSchema) -> ClusteringComparator {
        ClusteringComparator::from_columns(schema.clustering().iter().map(|c| {
            let order = match c.kind {
                ColumnKind::Clustering(order) => order,
                _ => ClusteringOrder::Asc,
            };
            (c.cql_type.clone(), order)
        }))
    }

    /// The comparator of the given clustering column types and directions, in key order.
    pub fn from_columns(
        columns: impl IntoIterator<Item = (CqlType, ClusteringOrder)>,
    ) -> ClusteringComparator {
        ClusteringComparator {
            columns: columns.into_iter().collect(),
        }
    }

    /// How many clustering columns the comparator knows.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Compares two clusterings (or prefixes of them) column by column, as
    /// `ClusteringComparator.compare` does; when one is a prefix of the other the shorter sorts
    /// first, like the inclusive start of a slice. Values beyond the known columns compare as
    /// unsigned bytes.
    pub fn compare<A: AsRef<[u8]>, B: AsRef<[u8]>>(&self, a: &[A], b: &[B]) -> Ordering {
        self.compare_shared(a, b).then(a.len().cmp(&b.len()))
    }

    /// Compares the columns both clusterings have; `Equal` when one begins the other.
    pub fn compare_shared<A: AsRef<[u8]>, B: AsRef<[u8]>>(&self, a: &[A], b: &[B]) -> Ordering {
        a.iter()
            .zip(b)
            .enumerate()
            .map(|(i, (x, y))| self.compare_column(i, x.as_ref(), y.as_ref()))
            .find(|ord| ord.is_ne())
            .unwrap_or(Ordering::Equal)
    }

    /// Compares two values of clustering column `i` in that column's direction.
    pub fn compare_column(&self, i: usize, a: &[u8], b: &[u8]) -> Ordering {
        match self.columns.get(i) {
            Some((t, ClusteringOrder::Asc)) => compare_values(t, a, b),
            Some((t, ClusteringOrder::Desc)) => compare_values(t, b, a),
            None => a.cmp(b),
        }
    }
}

/// Where a slice bound lies relative to the rows that begin with its prefix: an inclusive start
/// or an exclusive end lies before them, an exclusive start or an inclusive end after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    Before,
    After,
}

impl Side {
    /// The side of `bound` used as the start (`is_start`) or the end of a range.
    pub fn of(bound: &SliceBound, is_start: bool) -> Side {
        if bound.inclusive == is_start {
            Side::Before
        } else {
            Side::After
        }
    }
}

impl ClusteringComparator {
    /// Compares two slice bounds, each a prefix and the side of it they lie on.
    pub fn compare_bounds(&self, a: (&[Vec<u8>], Side), b: (&[Vec<u8>], Side)) -> Ordering {
        // When one prefix begins the other, the shorter one's side decides, else the sides.
        self.compare_shared(a.0, b.0)
            .then(match a.0.len().cmp(&b.0.len()) {
                Ordering::Less if a.1 == Side::Before => Ordering::Less,
                Ordering::Less => Ordering::Greater,
                Ordering::Greater if b.1 == Side::Before => Ordering::Greater,
                Ordering::Greater => Ordering::Less,
                Ordering::Equal => a.1.cmp(&b.1),
            })
    }

    /// Compares a bound with a row's clustering (as long as the table's clustering key).
    fn compare_bound_to_row<C: AsRef<[u8]>>(
        &self,
        prefix: &[Vec<u8>],
        side: Side,
        row: &[C],
    ) -> Ordering {
        self.compare_shared(prefix, row).then(match side {
            Side::Before => Ordering::Less,
            Side::After => Ordering::Greater,
        })
    }

    /// Orders range deletions by start, then end.
    pub fn compare_ranges(&self, a: &RangeDeletion, b: &RangeDeletion) -> Ordering {
        fn start(r: &RangeDeletion) -> (&[Vec<u8>], Side) {
            (&r.start.prefix, Side::of(&r.start, true))
        }
        fn end(r: &RangeDeletion) -> (&[Vec<u8>], Side) {
            (&r.end.prefix, Side::of(&r.end, false))
        }
        self.compare_bounds(start(a), start(b))
            .then_with(|| self.compare_bounds(end(a), end(b)))
    }

    /// Whether the row with clustering `row` lies inside the range.
    pub fn covers<C: AsRef<[u8]>>(&self, range: &RangeDeletion, row: &[C]) -> bool {
        self.compare_bound_to_row(&range.start.prefix, Side::of(&range.start, true), row)
            == Ordering::Less
            && self.compare_bound_to_row(&range.end.prefix, Side::of(&range.end, false), row)
                == Ordering::Greater
    }
}

// ---------------------------------------------------------------------------------------------
// Shared rules

/// `Boolean.compare(rightEmpty, leftEmpty)`, which most `compareCustom`s start with: a zero-length
/// value sorts before any other. `None` when neither side is empty.
fn empty_first(a: &[u8], b: &[u8]) -> Option<Ordering> {
    match (a.is_empty(), b.is_empty()) {
        (false, false) => None,
        (a_empty, b_empty) => Some(b_empty.cmp(&a_empty)),
    }
}

/// Where Cassandra would refuse a value instead of comparing it: malformed values sort before
/// well-formed ones (and after the empty value, which is byte-order least), by unsigned bytes.
/// `None` when both are well-formed.
fn malformed_first(a_ok: bool, b_ok: bool, a: &[u8], b: &[u8]) -> Option<Ordering> {
    match (a_ok, b_ok) {
        (true, true) => None,
        (false, false) => Some(a.cmp(b)),
        (a_ok, b_ok) => Some(a_ok.cmp(&b_ok)),
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(word)
}

// ---------------------------------------------------------------------------------------------
// Native types

fn compare_native(t: NativeType, a: &[u8], b: &[u8]) -> Ordering {
    match t {
        // ComparisonType.BYTE_ORDER (ValueAccessor.compare: unsigned lexicographic, a proper
        // prefix first): AsciiType, UTF8Type, BytesType, InetAddressType (so every IPv4 address
        // sorts by its 4 bytes against the 16 of IPv6), DurationType, SimpleDateType (the
        // 2^31-offset form makes unsigned order chronological) and TimeType.
        NativeType::Ascii
        | NativeType::Text
        | NativeType::Blob
        | NativeType::Inet
        | NativeType::Duration
        | NativeType::Date
        | NativeType::Time => a.cmp(b),
        // Int32Type and LongType (compareLongs, which TimestampType also uses): empty first, then
        // the first byte signed, then all bytes unsigned, which is signed order for the fixed
        // width. CounterColumnType is NOT_COMPARABLE; counter values are bigints, so they get
        // LongType's order. ShortType uses the same rule without the empty check.
        NativeType::Int
        | NativeType::Bigint
        | NativeType::Timestamp
        | NativeType::Counter
        | NativeType::Smallint => {
            empty_first(a, b).unwrap_or_else(|| signed_first_byte_then_unsigned(a, b))
        }
        // ByteType: the first byte, signed; nothing else.
        NativeType::Tinyint => empty_first(a, b).unwrap_or_else(|| (a[0] as i8).cmp(&(b[0] as i8))),
        // BooleanType: empty first, then 0 is false and any other first byte is true.
        NativeType::Boolean => empty_first(a, b).unwrap_or_else(|| (a[0] != 0).cmp(&(b[0] != 0))),
        NativeType::Float => compare_float(a, b),
        NativeType::Double => compare_double(a, b),
        NativeType::Decimal => compare_decimal(a, b),
        NativeType::Varint => compare_varint(a, b),
        NativeType::Uuid => compare_uuid(a, b),
        NativeType::Timeuuid => compare_timeuuid(a, b),
    }
}

fn signed_first_byte_then_unsigned(a: &[u8], b: &[u8]) -> Ordering {
    (a[0] as i8).cmp(&(b[0] as i8)).then_with(|| a.cmp(b))
}

/// FloatType: `compareComposed`, i.e. empty first, then `Float.compareTo`.
fn compare_float(a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) =
        empty_first(a, b).or_else(|| malformed_first(a.len() == 4, b.len() == 4, a, b))
    {
        return ord;
    }
    let x = f32::from_be_bytes([a[0], a[1], a[2], a[3]]);
    let y = f32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    // Float.compare: numeric order, then floatToIntBits (every NaN is 0x7fc00000) as signed ints,
    // which puts -0.0 before 0.0 and NaN after +Infinity, and makes all NaNs equal.
    let bits = |v: f32| {
        if v.is_nan() {
            0x7fc0_0000
        } else {
            v.to_bits() as i32
        }
    };
    x.partial_cmp(&y)
        .filter(|o| o.is_ne())
        .unwrap_or_else(|| bits(x).cmp(&bits(y)))
}

/// DoubleType: `compareComposed`, i.e. empty first, then `Double.compareTo`.
fn compare_double(a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) =
        empty_first(a, b).or_else(|| malformed_first(a.len() == 8, b.len() == 8, a, b))
    {
        return ord;
    }
    let x = f64::from_bits(be_u64(a));
    let y = f64::from_bits(be_u64(b));
    // Double.compare: as Float.compare, with doubleToLongBits' NaN 0x7ff8000000000000.
    let bits = |v: f64| {
        if v.is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            v.to_bits() as i64
        }
    };
    x.partial_cmp(&y)
        .filter(|o| o.is_ne())
        .unwrap_or_else(|| bits(x).cmp(&bits(y)))
}

/// DecimalType: `compareComposed`, i.e. empty first, then `BigDecimal.compareTo`, which compares
/// numeric values: 1.5, 1.50 and 15E-1 are equal.
fn compare_decimal(a: &[u8], b: &[u8]) -> Ordering {
    // A decimal is a 4-byte scale and at least one byte of unscaled varint.
    if let Some(ord) = empty_first(a, b).or_else(|| malformed_first(a.len() > 4, b.len() > 4, a, b))
    {
        return ord;
    }
    let scale = |v: &[u8]| i64::from(i32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    let (sa, sb) = (scale(a), scale(b));
    let (ua, ub) = (
        BigInt::from_signed_bytes_be(&a[4..]),
        BigInt::from_signed_bytes_be(&b[4..]),
    );
    let sign = |v: &BigInt| match v.sign() {
        Sign::Minus => -1,
        Sign::NoSign => 0,
        Sign::Plus => 1,
    };
    let by_sign = sign(&ua).cmp(&sign(&ub));
    if by_sign.is_ne() || sign(&ua) == 0 {
        return by_sign;
    }
    if sa == sb {
        return ua.cmp(&ub);
    }
    let magnitude = compare_magnitudes(ua.magnitude(), sa, ub.magnitude(), sb);
    if sign(&ua) < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// Compares `ua × 10^-sa` with `ub × 10^-sb` for non-zero magnitudes without ever building a power
/// of ten larger than the numbers themselves: first by decimal exponent, then digit by digit.
fn compare_magnitudes(ua: &BigUint, sa: i64, ub: &BigUint, sb: i64) -> Ordering {
    let digits = |u: &BigUint| u.to_str_radix(10).len() as i64;
    // A value with d digits and scale s lies in [10^(d-1-s), 10^(d-s)).
    let by_exponent = (digits(ua) - sa).cmp(&(digits(ub) - sb));
    if by_exponent.is_ne() {
        return by_exponent;
    }
    // Equal exponents: the scales differ by the digit counts, so the power is small.
    let shift = |u: &BigUint, by: i64| u * BigUint::from(10u32).pow(by as u32);
    if sa > sb {
        ua.cmp(&shift(ub, sa - sb))
    } else {
        shift(ua, sb - sa).cmp(ub)
    }
}

/// IntegerType.compareIntegers: empty first; then, ignoring redundant sign-extension bytes, a
/// negative number with more significant bytes is smaller, a positive one larger; equal lengths
/// compare the most significant byte signed and the rest unsigned.
fn compare_varint(a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) = empty_first(a, b) {
        return ord;
    }
    let (ia, ib) = (most_significant_byte(a), most_significant_byte(b));
    let (la, lb) = (a.len() - ia, b.len() - ib);
    let (ma, mb) = (a[ia] as i8, b[ib] as i8);
    if la != lb {
        return match (ma < 0, mb < 0) {
            (true, true) => lb.cmp(&la),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => la.cmp(&lb),
        };
    }
    ma.cmp(&mb).then_with(|| a[ia + 1..].cmp(&b[ib + 1..]))
}

/// IntegerType.findMostSignificantByte: the index of the first byte that is not a redundant copy
/// of the sign (a leading 0x00 before a byte < 0x80, or 0xff before a byte >= 0x80).
fn most_significant_byte(v: &[u8]) -> usize {
    let mut i = 0;
    while i + 1 < v.len() {
        let (b0, b1) = (v[i] as i8, v[i + 1] as i8);
        if b0 != 0 && b0 != -1 {
            break;
        }
        if b0 == 0 && b1 != 0 {
            if b1 > 0 {
                i += 1;
            }
            break;
        }
        if b0 == -1 && b1 != -1 {
            if b1 < 0 {
                i += 1;
            }
            break;
        }
        i += 1;
    }
    i
}

/// TimeUUIDType.reorderTimestampBytes: moves time_hi (with the version nibble) and time_mid in
/// front of time_low, so the 60-bit timestamp reads most significant first.
fn reorder_timestamp(msb: u64) -> u64 {
    (msb << 48) | ((msb << 16) & 0xffff_0000_0000) | (msb >> 32)
}

/// UUIDType: a 16-byte value sorts after any other length (the empty value); then the version
/// nibble; then, for version 1, the timestamp (reordered high bits), for other versions the high
/// 8 bytes unsigned; then the low 8 bytes unsigned.
fn compare_uuid(a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) = uuid_lengths(a, b) {
        return ord;
    }
    let (ma, mb) = (be_u64(a), be_u64(b));
    let version = |msb: u64| (msb >> 12) & 0xf;
    version(ma)
        .cmp(&version(mb))
        .then_with(|| {
            if version(ma) == 1 {
                (reorder_timestamp(ma) as i64).cmp(&(reorder_timestamp(mb) as i64))
            } else {
                ma.cmp(&mb)
            }
        })
        .then_with(|| a[8..].cmp(&b[8..]))
}

/// TimeUUIDType: the timestamp (reordered high bits, compared as a signed long), then the low 8
/// bytes compared as *signed* bytes (kept for compatibility, CASSANDRA-8730). Cassandra refuses to
/// compare a version other than 1; such values get the same rule here instead of an error.
fn compare_timeuuid(a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) = uuid_lengths(a, b) {
        return ord;
    }
    let signed_bytes = |v: &[u8]| (be_u64(&v[8..]) ^ 0x0080_8080_8080_8080) as i64;
    (reorder_timestamp(be_u64(a)) as i64)
        .cmp(&(reorder_timestamp(be_u64(b)) as i64))
        .then_with(|| signed_bytes(a).cmp(&signed_bytes(b)))
}

/// UUIDType and TimeUUIDType's length rule: a value that is not 16 bytes (Cassandra expects only
/// the empty one) sorts first. Cassandra calls two such values equal; they are ordered by bytes
/// here so that different bytes never merge.
fn uuid_lengths(a: &[u8], b: &[u8]) -> Option<Ordering> {
    match (a.len() == 16, b.len() == 16) {
        (true, true) => None,
        (false, false) => Some(a.cmp(b)),
        (a16, b16) => Some(a16.cmp(&b16)),
    }
}

// ---------------------------------------------------------------------------------------------
// Collections, tuples, UDTs, vectors

/// The `[int n]([int len][bytes])*` framing of a frozen list, set or map (maps: keys and values
/// alternate). A negative length is a null item. `None` when the framing is broken.
fn collection_items(bytes: &[u8], per_entry: usize) -> Option<(usize, Vec<Option<&[u8]>>)> {
    let count = usize::try_from(read_i32(bytes)?).ok()?;
    let mut rest = &bytes[4..];
    let mut items = Vec::with_capacity(count.saturating_mul(per_entry).min(rest.len() / 4));
    for _ in 0..count.saturating_mul(per_entry) {
        let (item, after) = framed_item(rest)?;
        items.push(item);
        rest = after;
    }
    rest.is_empty().then_some((count, items))
}

fn read_i32(bytes: &[u8]) -> Option<i32> {
    let b = bytes.get(..4)?;
    Some(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// One `[int len][bytes]` item: `None` inside for a null (negative length).
fn framed_item(bytes: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let len = read_i32(bytes)?;
    let rest = &bytes[4..];
    match usize::try_from(len) {
        Err(_) => Some((None, rest)),
        Ok(len) => (len <= rest.len()).then(|| (Some(&rest[..len]), &rest[len..])),
    }
}

/// A null item sorts before any value (Cassandra has no nulls inside collections; this is
/// TupleType's rule).
fn compare_items(t: &CqlType, a: Option<&[u8]>, b: Option<&[u8]>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => compare_values(t, a, b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

/// CollectionType.compareListOrSet (frozen lists and sets): empty first, then element by element
/// with the element comparator, then the shorter collection first.
fn compare_list_or_set(elem: &CqlType, a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) = empty_first(a, b) {
        return ord;
    }
    let (xa, xb) = (collection_items(a, 1), collection_items(b, 1));
    if let Some(ord) = malformed_first(xa.is_some(), xb.is_some(), a, b) {
        return ord;
    }
    let ((na, ia), (nb, ib)) = (xa.unwrap_or_default(), xb.unwrap_or_default());
    ia.iter()
        .zip(&ib)
        .map(|(x, y)| compare_items(elem, *x, *y))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| na.cmp(&nb))
}

/// MapType.compareMaps (frozen maps): empty first, then entry by entry, key then value, then the
/// map with fewer entries first.
fn compare_maps(key: &CqlType, value: &CqlType, a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) = empty_first(a, b) {
        return ord;
    }
    let (xa, xb) = (collection_items(a, 2), collection_items(b, 2));
    if let Some(ord) = malformed_first(xa.is_some(), xb.is_some(), a, b) {
        return ord;
    }
    let ((na, ia), (nb, ib)) = (xa.unwrap_or_default(), xb.unwrap_or_default());
    ia.chunks(2)
        .zip(ib.chunks(2))
        .flat_map(|(x, y)| {
            [
                compare_items(key, x[0], y[0]),
                compare_items(value, x[1], y[1]),
            ]
        })
        .find(|o| o.is_ne())
        .unwrap_or_else(|| na.cmp(&nb))
}

/// The fields of a tuple or UDT value: at most `arity`, fewer when the value ends early (a UDT
/// written before fields were added). `None` when a field is cut short or bytes remain.
fn tuple_fields(bytes: &[u8], arity: usize) -> Option<Vec<Option<&[u8]>>> {
    let mut rest = bytes;
    let mut fields = Vec::with_capacity(arity.min(bytes.len() / 4));
    while !rest.is_empty() && fields.len() < arity {
        let (field, after) = framed_item(rest)?;
        fields.push(field);
        rest = after;
    }
    rest.is_empty().then_some(fields)
}

/// TupleType.compareCustom (and UserType's, inherited): empty first; then field by field with each
/// field's comparator, a null field before any value; when one value has fewer fields, the two are
/// equal if all the other's remaining fields are null, else the shorter sorts first.
fn compare_tuples<'t>(types: impl Iterator<Item = &'t CqlType>, a: &[u8], b: &[u8]) -> Ordering {
    if let Some(ord) = empty_first(a, b) {
        return ord;
    }
    let types: Vec<&CqlType> = types.collect();
    let (fa, fb) = (tuple_fields(a, types.len()), tuple_fields(b, types.len()));
    if let Some(ord) = malformed_first(fa.is_some(), fb.is_some(), a, b) {
        return ord;
    }
    let (fa, fb) = (fa.unwrap_or_default(), fb.unwrap_or_default());
    let common = fa.len().min(fb.len());
    for ((ty, x), y) in types.iter().zip(&fa).zip(&fb) {
        let ord = compare_items(ty, *x, *y);
        if ord.is_ne() {
            return ord;
        }
    }
    let all_null = |rest: &[Option<&[u8]>]| rest.iter().all(Option::is_none);
    if all_null(&fa[common..]) && all_null(&fb[common..]) {
        Ordering::Equal
    } else {
        fa.len().cmp(&fb.len())
    }
}

/// The serialized width of a type when Cassandra fixes it (`AbstractType.valueLengthIfFixed`,
/// checked against the 5.0.9 jar): vector elements of such types carry no length prefix. Note that
/// `date`, `time`, `smallint`, `tinyint` and `counter` are variable-length there.
fn cassandra_fixed_len(t: &CqlType) -> Option<usize> {
    match t {
        CqlType::Native(n) => match n {
            NativeType::Boolean => Some(1),
            NativeType::Int | NativeType::Float => Some(4),
            NativeType::Bigint | NativeType::Double | NativeType::Timestamp => Some(8),
            NativeType::Uuid | NativeType::Timeuuid => Some(16),
            _ => None,
        },
        CqlType::Vector { elem, dimension } => {
            cassandra_fixed_len(elem).and_then(|w| w.checked_mul(*dimension))
        }
        _ => None,
    }
}

/// The elements of a vector value; `None` unless exactly `dimension` elements fill the bytes.
fn vector_elements<'a>(elem: &CqlType, dimension: usize, bytes: &'a [u8]) -> Option<Vec<&'a [u8]>> {
    if let Some(width) = cassandra_fixed_len(elem) {
        if width == 0 || width.checked_mul(dimension)? != bytes.len() {
            return None;
        }
        return Some(bytes.chunks(width).collect());
    }
    let mut rest = bytes;
    let mut elements = Vec::with_capacity(dimension.min(bytes.len()));
    for _ in 0..dimension {
        let (len, n) = vint::read_unsigned(rest).ok()?;
        let len = usize::try_from(len).ok()?;
        let end = n.checked_add(len).filter(|&end| end <= rest.len())?;
        elements.push(&rest[n..end]);
        rest = &rest[end..];
    }
    rest.is_empty().then_some(elements)
}

/// VectorType.compareCustom: element by element with the element comparator (the whole value as
/// unsigned bytes when the elements are fixed-width and byte-ordered).
fn compare_vectors(elem: &CqlType, dimension: usize, a: &[u8], b: &[u8]) -> Ordering {
    let (ea, eb) = (
        vector_elements(elem, dimension, a),
        vector_elements(elem, dimension, b),
    );
    if let Some(ord) = malformed_first(ea.is_some(), eb.is_some(), a, b) {
        return ord;
    }
    let (ea, eb) = (ea.unwrap_or_default(), eb.unwrap_or_default());
    ea.iter()
        .zip(&eb)
        .map(|(x, y)| compare_values(elem, x, y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::types::{NoUdts, UdtDef, parse_type};
    use crate::model::value::{Decimal, Value, Varint};
    use Ordering::{Equal, Greater, Less};
    use proptest::prelude::*;
    use std::sync::Arc;

    pub(crate) fn t(s: &str) -> CqlType {
        parse_type(s, &NoUdts).unwrap()
    }

    fn cmp(ty: &str, a: &Value, b: &Value) -> Ordering {
        compare_values(&t(ty), &a.to_bytes(), &b.to_bytes())
    }

    /// Asserts that `values` are strictly increasing under the type's comparator, pairwise.
    fn assert_increasing(ty: &str, values: &[Vec<u8>]) {
        let ty = t(ty);
        for (i, a) in values.iter().enumerate() {
            for (j, b) in values.iter().enumerate() {
                assert_eq!(
                    compare_values(&ty, a, b),
                    i.cmp(&j),
                    "{ty}: {a:02x?} vs {b:02x?}"
                );
            }
        }
    }

    fn bytes(values: impl IntoIterator<Item = Value>) -> Vec<Vec<u8>> {
        values.into_iter().map(|v| v.to_bytes()).collect()
    }

    fn dec(unscaled: i128, scale: i32) -> Value {
        Value::Decimal(Decimal {
            unscaled: Varint::from_i128(unscaled),
            scale,
        })
    }

    fn uuid(hex: &str) -> [u8; 16] {
        let hex: String = hex.chars().filter(|c| *c != '-').collect();
        let mut u = [0u8; 16];
        for (i, b) in u.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        u
    }

    #[test]
    fn signed_integers_sort_negative_before_positive_and_empty_first() {
        let mut ints = vec![Vec::new()];
        ints.extend(bytes(
            [i32::MIN, -256, -1, 0, 1, 255, i32::MAX].map(Value::Int),
        ));
        assert_increasing("int", &ints);
        let mut longs = vec![Vec::new()];
        longs.extend(bytes(
            [i64::MIN, -1, 0, 1 << 40, i64::MAX].map(Value::Bigint),
        ));
        assert_increasing("bigint", &longs);
        assert_increasing("timestamp", &longs);
        assert_increasing("counter", &longs);
        assert_increasing(
            "smallint",
            &bytes([i16::MIN, -1, 0, 1, i16::MAX].map(Value::Smallint)),
        );
        assert_increasing(
            "tinyint",
            &bytes([i8::MIN, -1, 0, 1, i8::MAX].map(Value::Tinyint)),
        );
    }

    #[test]
    fn varints_compare_by_value_whatever_their_length_or_padding() {
        let values = [
            -(1i128 << 100),
            -65_536,
            -129,
            -128,
            -1,
            0,
            1,
            127,
            128,
            255,
            256,
            1 << 70,
        ];
        let mut all = vec![Vec::new()];
        all.extend(bytes(values.map(|v| Value::Varint(Varint::from_i128(v)))));
        assert_increasing("varint", &all);
        // Redundant sign bytes do not change the value.
        let varint = t("varint");
        assert_eq!(compare_values(&varint, &[0, 0, 5], &[5]), Equal);
        assert_eq!(compare_values(&varint, &[0xff, 0xff, 0x80], &[0x80]), Equal);
        assert_eq!(compare_values(&varint, &[0, 0x80], &[0x7f]), Greater);
    }

    #[test]
    fn decimals_compare_numerically_so_trailing_zeros_do_not_matter() {
        assert_eq!(cmp("decimal", &dec(15, 1), &dec(150, 2)), Equal);
        assert_eq!(cmp("decimal", &dec(15, 1), &dec(2, 0)), Less);
        assert_eq!(cmp("decimal", &dec(150, 2), &dec(2, 0)), Less);
        assert_eq!(cmp("decimal", &dec(1, -3), &dec(1000, 0)), Equal);
        assert_eq!(cmp("decimal", &dec(-15, 1), &dec(-2, 0)), Greater);
        assert_eq!(cmp("decimal", &dec(0, 5), &dec(0, -5)), Equal);
        assert_eq!(cmp("decimal", &dec(1, i32::MAX), &dec(0, 0)), Greater);
        assert_eq!(
            cmp("decimal", &dec(1, i32::MIN), &dec(i128::MAX, 0)),
            Greater
        );
        assert_eq!(cmp("decimal", &dec(-1, i32::MIN), &dec(-1, i32::MAX)), Less);
        let mut all = vec![Vec::new()];
        all.extend(bytes([
            dec(-1, -10),
            dec(-15, 1),
            dec(-1, 0),
            dec(0, 0),
            dec(1, 400),
            dec(1, 0),
            dec(15, 1),
            dec(2, 0),
            dec(123_456_789, 0),
            dec(1, -100),
        ]));
        assert_increasing("decimal", &all);
    }

    #[test]
    fn floats_follow_java_compare_with_negative_zero_first_and_nan_last() {
        let floats = [
            f32::NEG_INFINITY,
            -1.5,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            f32::from_bits(1),
            1.0,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        let mut all = vec![Vec::new()];
        all.extend(bytes(floats.map(Value::Float)));
        assert_increasing("float", &all);
        let doubles = [f64::NEG_INFINITY, -0.0, 0.0, 2.5, f64::INFINITY, f64::NAN];
        assert_increasing("double", &bytes(doubles.map(Value::Double)));
        // Every NaN is the same value, whatever its payload or sign bit.
        let other_nan = Value::Float(f32::from_bits(0xffc0_0001));
        assert_eq!(cmp("float", &Value::Float(f32::NAN), &other_nan), Equal);
        let other_nan = Value::Double(f64::from_bits(0xfff0_0000_0000_0001));
        assert_eq!(cmp("double", &Value::Double(f64::NAN), &other_nan), Equal);
    }

    #[test]
    fn booleans_sort_false_first_and_any_nonzero_byte_is_true() {
        assert_increasing("boolean", &[vec![], vec![0], vec![1]]);
        assert_eq!(compare_values(&t("boolean"), &[1], &[7]), Equal);
    }

    #[test]
    fn dates_before_the_epoch_sort_first_and_times_by_nanosecond() {
        assert_increasing(
            "date",
            &bytes([i32::MIN, -719_162, -1, 0, 1, i32::MAX].map(Value::Date)),
        );
        assert_increasing(
            "time",
            &bytes([0, 1, 1_000_000_000, 86_399_999_999_999].map(Value::Time)),
        );
    }

    #[test]
    fn text_and_blobs_compare_as_unsigned_bytes_so_multibyte_characters_sort_after_ascii() {
        let texts = ["", "A", "Z", "a", "ab", "b", "é", "中", "🎵"];
        assert_increasing("text", &bytes(texts.map(|s| Value::Text(s.to_owned()))));
        assert_increasing(
            "blob",
            &[vec![], vec![0], vec![0, 0], vec![0x7f], vec![0x80]],
        );
    }

    #[test]
    fn inet_addresses_compare_as_bytes_so_ipv4_and_ipv6_interleave() {
        let addrs = [
            "::",
            "::1",
            "1.2.3.4",
            "10.0.0.1",
            "a00:1::",
            "255.255.255.255",
        ];
        let values = addrs.map(|a| {
            let a: std::net::IpAddr = a.parse().unwrap();
            Value::Inet(a)
        });
        assert_increasing("inet", &bytes(values));
    }

    #[test]
    fn uuids_compare_version_first_then_time_for_version_1_then_unsigned_low_bytes() {
        let values = [
            // Version 0 (the nil UUID) first, whatever the other bits.
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-0fff-ffff-ffffffffffff",
            // Version 1 by timestamp: time_hi, then time_mid, then time_low.
            "ffffffff-ffff-1000-8000-000000000000",
            "00000000-0000-1001-8000-000000000000",
            "00000000-0000-1001-8000-000000000001",
            "00000000-0000-1001-ff00-000000000000",
            // Version 4 by the raw high bytes, unsigned.
            "00000000-0000-4000-8000-000000000000",
            "7fffffff-0000-4000-8000-000000000000",
            "80000000-0000-4000-8000-000000000000",
        ];
        let mut all = vec![Vec::new()];
        all.extend(values.map(|u| uuid(u).to_vec()));
        assert_increasing("uuid", &all);
    }

    #[test]
    fn timeuuids_with_equal_times_compare_clock_and_node_as_signed_bytes() {
        let values = [
            "ffffffff-ffff-1000-8000-000000000000",
            "00000000-0000-1001-8000-000000000000",
            // Same time: byte 8 onwards signed, so 0x80.. < 0xbf.. and 0xff < 0x00.
            "01020304-0506-1708-8000-ff0000000000",
            "01020304-0506-1708-8000-000000000000",
            "01020304-0506-1708-8000-7f0000000000",
            "01020304-0506-1708-bfff-000000000000",
            "01020304-0506-1708-c000-000000000000",
        ];
        let mut all = vec![Vec::new()];
        all.extend(values.map(|u| uuid(u).to_vec()));
        assert_increasing("timeuuid", &all);
        // UUIDType orders the same low bytes unsigned instead.
        let (a, b) = (
            uuid("01020304-0506-1708-8000-ff0000000000"),
            uuid("01020304-0506-1708-8000-000000000000"),
        );
        assert_eq!(compare_values(&t("uuid"), &a, &b), Greater);
        assert_eq!(compare_values(&t("timeuuid"), &a, &b), Less);
    }

    #[test]
    fn frozen_lists_and_sets_compare_element_wise_then_shorter_first() {
        let list = |items: &[i32]| Value::List(items.iter().map(|i| Value::Int(*i)).collect());
        let values = [
            list(&[]),
            list(&[-5]),
            list(&[-5, 0]),
            list(&[-5, 0, 0]),
            list(&[-1]),
            list(&[1, -100]),
            list(&[1, 2]),
        ];
        let mut all = vec![Vec::new()];
        all.extend(bytes(values));
        assert_increasing("frozen<list<int>>", &all);
        let set =
            |items: &[&str]| Value::Set(items.iter().map(|s| Value::Text(s.to_string())).collect());
        assert_increasing(
            "frozen<set<text>>",
            &bytes([set(&[]), set(&["a"]), set(&["a", "b"]), set(&["b"])]),
        );
    }

    #[test]
    fn frozen_maps_compare_key_then_value_entry_by_entry() {
        let map = |items: &[(i32, &str)]| {
            Value::Map(
                items
                    .iter()
                    .map(|(k, v)| (Value::Int(*k), Value::Text(v.to_string())))
                    .collect(),
            )
        };
        assert_increasing(
            "frozen<map<int, text>>",
            &bytes([
                map(&[]),
                map(&[(-1, "z")]),
                map(&[(1, "a")]),
                map(&[(1, "a"), (2, "")]),
                map(&[(1, "b")]),
                map(&[(2, "a")]),
            ]),
        );
    }

    #[test]
    fn tuples_sort_null_fields_first_and_ignore_missing_trailing_nulls() {
        let tuple = |a: Option<i32>, b: Option<&str>| {
            Value::Tuple(vec![a.map(Value::Int), b.map(|s| Value::Text(s.into()))])
        };
        assert_increasing(
            "tuple<int, text>",
            &[
                vec![],
                tuple(None, None).to_bytes(),
                tuple(None, Some("")).to_bytes(),
                tuple(Some(-1), Some("z")).to_bytes(),
                tuple(Some(1), None).to_bytes(),
                tuple(Some(1), Some("")).to_bytes(),
                tuple(Some(1), Some("a")).to_bytes(),
            ],
        );
        let ty = t("tuple<int, text>");
        let short = Value::Tuple(vec![Some(Value::Int(1))]).to_bytes();
        assert_eq!(
            compare_values(&ty, &short, &tuple(Some(1), None).to_bytes()),
            Equal
        );
        assert_eq!(
            compare_values(&ty, &short, &tuple(Some(1), Some("")).to_bytes()),
            Less
        );
    }

    #[test]
    fn user_defined_types_compare_like_tuples_of_their_fields() {
        let def = Arc::new(UdtDef {
            keyspace: "ks".into(),
            name: "p".into(),
            fields: vec![
                ("x".into(), CqlType::Native(NativeType::Bigint)),
                ("y".into(), CqlType::Native(NativeType::Double)),
            ],
        });
        let ty = CqlType::Udt { def, frozen: true };
        let udt = |x: i64, y: f64| Value::Udt(vec![Some(Value::Bigint(x)), Some(Value::Double(y))]);
        let (a, b, c) = (udt(-1, 9.0), udt(0, -0.0), udt(0, 0.0));
        assert_eq!(compare_values(&ty, &a.to_bytes(), &b.to_bytes()), Less);
        assert_eq!(compare_values(&ty, &b.to_bytes(), &c.to_bytes()), Less);
    }

    #[test]
    fn vectors_compare_element_wise_with_the_element_comparator() {
        let v = |items: &[f32]| Value::Vector(items.iter().map(|f| Value::Float(*f)).collect());
        assert_increasing(
            "vector<float, 2>",
            &bytes([
                v(&[-1.0, 5.0]),
                v(&[-0.0, 0.0]),
                v(&[0.0, -1.0]),
                v(&[0.0, f32::NAN]),
            ]),
        );
        let texts = |items: &[&str]| {
            Value::Vector(items.iter().map(|s| Value::Text(s.to_string())).collect())
        };
        assert_increasing(
            "vector<text, 2>",
            &bytes([
                texts(&["", "z"]),
                texts(&["a", ""]),
                texts(&["a", "b"]),
                texts(&["ab", ""]),
            ]),
        );
    }

    #[test]
    fn desc_columns_reverse_the_order_including_the_empty_value() {
        let cmp = ClusteringComparator::from_columns([
            (t("int"), ClusteringOrder::Asc),
            (t("text"), ClusteringOrder::Desc),
        ]);
        let row =
            |i: i32, s: &str| vec![Value::Int(i).to_bytes(), Value::Text(s.into()).to_bytes()];
        assert_eq!(cmp.compare(&row(-1, "a"), &row(1, "b")), Less);
        assert_eq!(cmp.compare(&row(1, "b"), &row(1, "a")), Less);
        assert_eq!(cmp.compare(&row(1, "a"), &row(1, "")), Less);
        assert_eq!(cmp.compare(&row(1, "a"), &row(1, "a")), Equal);
        // A prefix sorts before the clusterings it starts.
        let prefix = vec![Value::Int(1).to_bytes()];
        assert_eq!(cmp.compare(&prefix, &row(1, "")), Less);
        // Borrowed slices work too, and extra values compare as bytes.
        let a: [&[u8]; 3] = [&[0, 0, 0, 1], b"a", &[1]];
        let b: [&[u8]; 3] = [&[0, 0, 0, 1], b"a", &[2]];
        assert_eq!(cmp.compare(&a, &b), Less);
    }

    #[test]
    fn cell_paths_sort_by_element_key_timeuuid_or_field_position() {
        let set = t("set<int>");
        assert_eq!(
            compare_cell_paths(&set, &Value::Int(-1).to_bytes(), &Value::Int(1).to_bytes()),
            Less
        );
        let map = t("map<varint, text>");
        assert_eq!(compare_cell_paths(&map, &[0xff], &[0x00]), Less);
        let list = t("list<text>");
        let (early, late) = (
            uuid("ffffffff-ffff-1000-8000-000000000000"),
            uuid("00000000-0000-1001-8000-000000000000"),
        );
        assert_eq!(compare_cell_paths(&list, &early, &late), Less);
        let paths: Vec<_> = (0..5)
            .map(|i| crate::model::collection::list_path(1_700_000_000_000_000, i))
            .collect();
        assert!(
            paths
                .windows(2)
                .all(|w| compare_cell_paths(&list, &w[0], &w[1]) == Less)
        );
    }

    #[test]
    fn malformed_bytes_never_panic_and_sort_between_empty_and_well_formed_values() {
        let junk: [&[u8]; 6] = [
            &[],
            &[0x80],
            &[0, 0, 0],
            &[0xff; 5],
            &[0, 0, 0, 2, 0, 0, 0, 9],
            &[0xff; 17],
        ];
        for ty in [
            "int",
            "bigint",
            "smallint",
            "tinyint",
            "boolean",
            "float",
            "double",
            "decimal",
            "varint",
            "uuid",
            "timeuuid",
            "date",
            "frozen<list<int>>",
            "frozen<map<int, int>>",
            "tuple<int, text>",
            "vector<float, 2>",
            "vector<text, 2>",
        ] {
            let ty = t(ty);
            for a in junk {
                for b in junk {
                    let ord = compare_values(&ty, a, b);
                    assert_eq!(ord, compare_values(&ty, b, a).reverse(), "{ty} {a:?} {b:?}");
                }
            }
        }
        let int = t("frozen<list<int>>");
        let good = Value::List(vec![]).to_bytes();
        assert_eq!(compare_values(&int, &[0, 0, 0, 9], &good), Less);
        assert_eq!(compare_values(&int, &[], &[0, 0, 0, 9]), Less);
    }

    /// A random valid value of a native type, as `Value` encodes it.
    fn native_value(ty: NativeType) -> BoxedStrategy<Value> {
        let uuid = any::<[u8; 16]>();
        match ty {
            NativeType::Ascii => "[ -~]{0,8}".prop_map(Value::Ascii).boxed(),
            NativeType::Text => "\\PC{0,6}".prop_map(Value::Text).boxed(),
            NativeType::Blob => proptest::collection::vec(any::<u8>(), 0..6)
                .prop_map(Value::Blob)
                .boxed(),
            NativeType::Bigint => any::<i64>().prop_map(Value::Bigint).boxed(),
            NativeType::Counter => any::<i64>().prop_map(Value::Counter).boxed(),
            NativeType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
            NativeType::Time => (0..86_400_000_000_000i64).prop_map(Value::Time).boxed(),
            NativeType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
            NativeType::Date => any::<i32>().prop_map(Value::Date).boxed(),
            NativeType::Decimal => (any::<i64>(), -6..6i32)
                .prop_map(|(u, s)| dec(i128::from(u % 1000), s))
                .boxed(),
            NativeType::Double => any::<u64>()
                .prop_map(|b| Value::Double(f64::from_bits(b)))
                .boxed(),
            NativeType::Float => any::<u32>()
                .prop_map(|b| Value::Float(f32::from_bits(b)))
                .boxed(),
            NativeType::Duration => (any::<i32>(), any::<i32>(), any::<i64>())
                .prop_map(|(months, days, nanos)| {
                    Value::Duration(crate::model::value::Duration {
                        months,
                        days,
                        nanos,
                    })
                })
                .boxed(),
            NativeType::Inet => prop_oneof![
                any::<[u8; 4]>().prop_map(|a| Value::Inet(a.into())),
                any::<[u8; 16]>().prop_map(|a| Value::Inet(a.into())),
            ]
            .boxed(),
            NativeType::Int => any::<i32>().prop_map(Value::Int).boxed(),
            NativeType::Smallint => any::<i16>().prop_map(Value::Smallint).boxed(),
            NativeType::Tinyint => any::<i8>().prop_map(Value::Tinyint).boxed(),
            NativeType::Uuid => (uuid, 0..16u8)
                .prop_map(|(mut u, version)| {
                    u[6] = (version << 4) | (u[6] & 0x0f);
                    Value::Uuid(u)
                })
                .boxed(),
            NativeType::Timeuuid => uuid
                .prop_map(|mut u| {
                    u[6] = 0x10 | (u[6] & 0x0f);
                    Value::Timeuuid(u)
                })
                .boxed(),
            NativeType::Varint => any::<i128>()
                .prop_map(|v| Value::Varint(Varint::from_i128(v >> (v as u8 % 120))))
                .boxed(),
        }
    }

    /// A native type and three of its values (the same value now and then, to test equality).
    fn typed_triple() -> impl Strategy<Value = (NativeType, Vec<u8>, Vec<u8>, Vec<u8>)> {
        proptest::sample::select(NativeType::ALL.to_vec()).prop_flat_map(|ty| {
            let v = native_value(ty);
            (Just(ty), v.clone(), v.clone(), v, any::<u8>()).prop_map(|(ty, a, b, c, dup)| {
                let (a, b, c) = (a.to_bytes(), b.to_bytes(), c.to_bytes());
                let b = if dup % 5 == 0 { a.clone() } else { b };
                (ty, a, b, c)
            })
        })
    }

    #[test]
    fn text_sets_and_maps_sort_their_paths_as_bytes_and_int_sets_and_lists_do_not() {
        assert!(cell_paths_are_bytewise(&t("set<text>")));
        assert!(cell_paths_are_bytewise(&t("map<blob, int>")));
        assert!(!cell_paths_are_bytewise(&t("set<int>")));
        assert!(!cell_paths_are_bytewise(&t("list<text>")));
        assert!(!cell_paths_are_bytewise(&t("frozen<list<text>>")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn collections_whose_paths_are_called_bytewise_compare_them_as_bytes((ty, a, b, _c) in typed_triple()) {
            for collection in [
                CqlType::Set { elem: Box::new(CqlType::Native(ty)), frozen: false },
                CqlType::Map {
                    key: Box::new(CqlType::Native(ty)),
                    value: Box::new(CqlType::Native(NativeType::Int)),
                    frozen: false,
                },
            ] {
                if cell_paths_are_bytewise(&collection) {
                    prop_assert_eq!(compare_cell_paths(&collection, &a, &b), a.cmp(&b));
                }
            }
        }

        #[test]
        fn every_native_comparator_is_a_total_order((ty, a, b, c) in typed_triple()) {
            let ty = CqlType::Native(ty);
            let ord = |x: &[u8], y: &[u8]| compare_values(&ty, x, y);
            prop_assert_eq!(ord(&a, &a), Equal);
            prop_assert_eq!(ord(&a, &b), ord(&b, &a).reverse());
            if a == b {
                prop_assert_eq!(ord(&a, &b), Equal);
            }
            // Transitivity of <= on every ordering of the triple.
            for (x, y, z) in [(&a, &b, &c), (&a, &c, &b), (&b, &a, &c), (&b, &c, &a), (&c, &a, &b), (&c, &b, &a)] {
                if ord(x, y).is_le() && ord(y, z).is_le() {
                    prop_assert!(ord(x, z).is_le(), "{x:02x?} <= {y:02x?} <= {z:02x?}");
                }
            }
        }

        #[test]
        fn integer_types_order_as_their_numbers(x in any::<i64>(), y in any::<i64>()) {
            let expected = x.cmp(&y);
            prop_assert_eq!(cmp("bigint", &Value::Bigint(x), &Value::Bigint(y)), expected);
            prop_assert_eq!(cmp("varint", &Value::Varint(Varint::from_i128(x.into())), &Value::Varint(Varint::from_i128(y.into()))), expected);
            prop_assert_eq!(cmp("int", &Value::Int(x as i32), &Value::Int(y as i32)), (x as i32).cmp(&(y as i32)));
            prop_assert_eq!(cmp("date", &Value::Date(x as i32), &Value::Date(y as i32)), (x as i32).cmp(&(y as i32)));
        }

        #[test]
        fn decimals_order_as_exact_rationals(ua in -10_000i64..10_000, sa in -4i32..4, ub in -10_000i64..10_000, sb in -4i32..4) {
            // Scale both to 10^-8 units: exact for these ranges.
            let units = |u: i64, s: i32| i128::from(u) * 10i128.pow((8 - s) as u32);
            prop_assert_eq!(
                cmp("decimal", &dec(ua.into(), sa), &dec(ub.into(), sb)),
                units(ua, sa).cmp(&units(ub, sb))
            );
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_compare_antisymmetrically(
            a in proptest::collection::vec(any::<u8>(), 0..24),
            b in proptest::collection::vec(any::<u8>(), 0..24),
            ty in proptest::sample::select(vec![
                "int", "smallint", "tinyint", "boolean", "float", "double", "decimal", "varint",
                "uuid", "timeuuid", "frozen<list<int>>", "frozen<set<text>>",
                "frozen<map<int, text>>", "tuple<int, text>", "vector<float, 2>",
                "vector<text, 3>", "duration",
            ]),
        ) {
            let ty = t(ty);
            prop_assert_eq!(compare_values(&ty, &a, &b), compare_values(&ty, &b, &a).reverse());
            prop_assert_eq!(compare_values(&ty, &a, &a), Equal);
        }
    }

    pub(crate) fn int_prefix(values: &[i32]) -> Vec<Vec<u8>> {
        values.iter().map(|&v| Value::Int(v).to_bytes()).collect()
    }

    pub(crate) fn range(
        start: &[i32],
        start_inclusive: bool,
        end: &[i32],
        end_inclusive: bool,
    ) -> RangeDeletion {
        RangeDeletion {
            start: SliceBound {
                prefix: int_prefix(start),
                inclusive: start_inclusive,
            },
            end: SliceBound {
                prefix: int_prefix(end),
                inclusive: end_inclusive,
            },
            deletion: crate::model::Deletion {
                timestamp: 1,
                local_deletion_time: 1,
            },
        }
    }

    #[test]
    fn a_range_covers_the_rows_between_its_bounds_in_clustering_order() {
        let asc = ClusteringComparator::from_columns([
            (t("int"), ClusteringOrder::Asc),
            (t("int"), ClusteringOrder::Asc),
        ]);
        let row = |a: i32, b: i32| int_prefix(&[a, b]);
        // a = 1 (both bounds inclusive on the same prefix)
        let eq = range(&[1], true, &[1], true);
        assert!(asc.covers(&eq, &row(1, i32::MIN)) && asc.covers(&eq, &row(1, 9)));
        assert!(!asc.covers(&eq, &row(0, 9)) && !asc.covers(&eq, &row(2, 0)));
        // (a, b) > (1, 2) AND a <= 3
        let r = range(&[1, 2], false, &[3], true);
        assert!(!asc.covers(&r, &row(1, 2)) && asc.covers(&r, &row(1, 3)));
        assert!(asc.covers(&r, &row(3, 100)) && !asc.covers(&r, &row(4, 0)));
        // a > 5, to the end of the partition
        let open = range(&[5], false, &[], true);
        assert!(!asc.covers(&open, &row(5, 99)) && asc.covers(&open, &row(6, -1)));
        // In a DESC column the start is the greater value: a <= 3 AND a > 1.
        let desc = ClusteringComparator::from_columns([
            (t("int"), ClusteringOrder::Desc),
            (t("int"), ClusteringOrder::Asc),
        ]);
        let d = range(&[3], true, &[1], false);
        assert!(desc.covers(&d, &row(3, 0)) && desc.covers(&d, &row(2, 0)));
        assert!(!desc.covers(&d, &row(1, 0)) && !desc.covers(&d, &row(4, 0)));
        assert!(!asc.covers(&d, &row(2, 0)), "start after end in ASC: empty");
    }

    #[test]
    fn ranges_order_by_start_then_end_and_a_prefix_start_before_its_rows() {
        let cmp = ClusteringComparator::from_columns([
            (t("int"), ClusteringOrder::Asc),
            (t("int"), ClusteringOrder::Asc),
        ]);
        let p = |v: &[i32]| int_prefix(v);
        let (a1, a12) = (p(&[1]), p(&[1, 2]));
        assert_eq!(
            cmp.compare_bounds((&a1, Side::Before), (&a12, Side::Before)),
            Less
        );
        assert_eq!(
            cmp.compare_bounds((&a1, Side::After), (&a12, Side::After)),
            Greater
        );
        assert_eq!(
            cmp.compare_bounds((&a12, Side::Before), (&a12, Side::After)),
            Less
        );
        assert_eq!(
            cmp.compare_bounds((&[], Side::Before), (&a1, Side::Before)),
            Less
        );
        assert_eq!(
            cmp.compare_ranges(
                &range(&[1], true, &[2], true),
                &range(&[1], true, &[3], false)
            ),
            Less
        );
        assert_eq!(
            cmp.compare_ranges(
                &range(&[1], false, &[], true),
                &range(&[1], true, &[9], true)
            ),
            Greater
        );
    }
}
