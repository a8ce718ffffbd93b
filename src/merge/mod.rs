//! Last-write-wins reconciliation exactly as Cassandra does it (`Cells.reconcile`,
//! `LivenessInfo.supersedes`, `DeletionTime.supersedes`, `Rows.merge`), as pure functions.
//!
//! - Two versions of a cell: the higher timestamp wins. On equal timestamps, an expiring cell or
//!   tombstone beats a live cell; a tombstone beats an expiring cell; then the later local
//!   deletion time wins; then the greater value (unsigned bytes). Cassandra keeps either version
//!   when even the values tie; we then prefer the longer TTL so the result never depends on
//!   input order.
//! - Deletions (partition, row, collection): the higher timestamp wins, then the later local
//!   deletion time. A deletion shadows every cell and row liveness written at or before it.
//! - Multi-cell collections merge element by element (by cell path).
//! - Two versions of a partition merge piece by piece ([`merge_partitions`]): rows with equal
//!   clusterings, the static rows, equal range deletions; [`settle`] then applies the deletions
//!   once every version is in. `streams` merges inputs that are already in token order this way.

use std::cmp::Ordering;

use crate::model::cell::{ColumnData, NO_DELETION_TIME, RowLiveness};
use crate::model::order::{ClusteringComparator, Side, TableOrder};
use crate::model::{Cell, Deletion, Liveness, Partition, RangeDeletion, Row, SliceBound};

pub mod streams;

/// The order of two versions of one cell: `Greater` means `a` wins.
pub fn compare_cells(a: &Cell, b: &Cell) -> Ordering {
    a.timestamp.cmp(&b.timestamp).then_with(|| {
        let (la, lb) = (a.liveness, b.liveness);
        let (da, db) = (la.local_deletion_time(), lb.local_deletion_time());
        let (ea, eb) = (da != NO_DELETION_TIME, db != NO_DELETION_TIME);
        let deletion_order = if ea || eb {
            // An expiring cell or tombstone beats a live one (CASSANDRA-14592); a tombstone beats
            // an expiring cell; then the later local deletion time.
            ea.cmp(&eb)
                .then(la.is_tombstone().cmp(&lb.is_tombstone()))
                .then(da.cmp(&db))
        } else {
            Ordering::Equal
        };
        deletion_order
            .then_with(|| a.value.cmp(&b.value))
            .then_with(|| la.ttl().cmp(&lb.ttl()))
    })
}

/// The winner of two versions of one cell.
pub fn reconcile(a: Cell, b: Cell) -> Cell {
    if compare_cells(&a, &b) == Ordering::Less {
        b
    } else {
        a
    }
}

/// The later of two deletions (`DeletionTime.supersedes`).
pub fn merge_deletions(a: Option<Deletion>, b: Option<Deletion>) -> Option<Deletion> {
    match (a, b) {
        (Some(a), Some(b)) => Some(
            if (b.timestamp, b.local_deletion_time) > (a.timestamp, a.local_deletion_time) {
                b
            } else {
                a
            },
        ),
        (a, b) => a.or(b),
    }
}

/// Whether `deletion` shadows something written at `timestamp`.
pub fn shadows(deletion: Option<Deletion>, timestamp: i64) -> bool {
    deletion.is_some_and(|d| timestamp <= d.timestamp)
}

/// The winning primary-key liveness (`LivenessInfo.supersedes`): the higher timestamp; on a tie
/// an expiring one beats a permanent one, and between two expiring ones the later expiry.
pub fn merge_row_liveness(a: Option<RowLiveness>, b: Option<RowLiveness>) -> Option<RowLiveness> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let key = |l: &RowLiveness| {
                let expires = match l.liveness {
                    Liveness::Expiring {
                        local_deletion_time,
                        ..
                    } => local_deletion_time,
                    _ => NO_DELETION_TIME,
                };
                (
                    l.timestamp,
                    l.liveness.ttl().is_some(),
                    expires,
                    l.liveness.ttl(),
                )
            };
            Some(if key(&b) > key(&a) { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// Merges two versions of a column's data. `cells` must be sorted by path with `path_order`
/// (for simple columns there is one cell with an empty path); the result is too.
pub fn merge_column(
    mut a: ColumnData,
    mut b: ColumnData,
    path_order: &dyn Fn(&[u8], &[u8]) -> Ordering,
) -> ColumnData {
    // A simple column: one cell each, no path, no collection deletion.
    if a.cells.len() == 1
        && b.cells.len() == 1
        && a.complex_deletion.is_none()
        && b.complex_deletion.is_none()
        && a.cells[0].path.is_empty()
        && b.cells[0].path.is_empty()
    {
        let (x, y) = (a.cells.remove(0), b.cells.remove(0));
        a.cells.push(reconcile(x, y));
        return a;
    }
    let complex_deletion = merge_deletions(a.complex_deletion, b.complex_deletion);
    let mut cells = merge_sorted(
        a.cells,
        b.cells,
        |l, r| path_order(&l.path, &r.path),
        reconcile,
    );
    cells.retain(|c| !shadows(complex_deletion, c.timestamp));
    ColumnData {
        column: a.column,
        cells,
        complex_deletion,
    }
}

/// Two sequences sorted by `order` as one, in that order; `both` merges an item of each that
/// the order puts level.
fn merge_sorted<T>(
    a: Vec<T>,
    b: Vec<T>,
    order: impl Fn(&T, &T) -> Ordering,
    mut both: impl FnMut(T, T) -> T,
) -> Vec<T> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut left = a.into_iter().peekable();
    let mut right = b.into_iter().peekable();
    loop {
        let side = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(l), Some(r)) => order(l, r),
        };
        let next = match side {
            Ordering::Less => left.next(),
            Ordering::Greater => right.next(),
            Ordering::Equal => match (left.next(), right.next()) {
                (Some(l), Some(r)) => Some(both(l, r)),
                (l, r) => l.or(r),
            },
        };
        out.extend(next);
    }
    out
}

/// The order of the cell paths of column `usize` (multi-cell collections).
pub type PathOrder<'a> = &'a dyn Fn(usize, &[u8], &[u8]) -> Ordering;

/// Merges two versions of the same row (same clustering). `path_order(column, a, b)` orders the
/// cell paths of a column. What the row's deletions shadow is dropped ([`normalize_row`]).
pub fn merge_rows(a: Row, b: Row, path_order: PathOrder) -> Row {
    let deletion = merge_deletions(a.deletion, b.deletion);
    let liveness =
        merge_row_liveness(a.liveness, b.liveness).filter(|l| !shadows(deletion, l.timestamp));
    let columns = merge_sorted(
        a.columns,
        b.columns,
        |l, r| l.column.cmp(&r.column),
        |l, r| {
            let column = l.column;
            merge_column(l, r, &|x, y| path_order(column, x, y))
        },
    );
    let mut row = Row {
        clustering: a.clustering,
        liveness,
        deletion,
        columns,
    };
    normalize_row(&mut row);
    row
}

/// Drops what a row's own deletions shadow: cells and liveness at or before the row deletion,
/// collection deletions the row deletion covers, elements at or before their collection's
/// deletion. Every row the partition builder emits goes through this, merged or not, so equal
/// content always has one form.
pub fn normalize_row(row: &mut Row) {
    let deletion = row.deletion;
    if row.liveness.is_some_and(|l| shadows(deletion, l.timestamp)) {
        row.liveness = None;
    }
    for column in &mut row.columns {
        if column
            .complex_deletion
            .is_some_and(|d| shadows(deletion, d.timestamp))
        {
            column.complex_deletion = None;
        }
        let complex = column.complex_deletion;
        if deletion.is_some() || complex.is_some() {
            column
                .cells
                .retain(|c| !shadows(deletion, c.timestamp) && !shadows(complex, c.timestamp));
        }
    }
    if row
        .columns
        .iter()
        .any(|c| c.cells.is_empty() && c.complex_deletion.is_none())
    {
        row.columns
            .retain(|c| !c.cells.is_empty() || c.complex_deletion.is_some());
    }
}

/// Applies a partition deletion to a row: drops what it shadows, and the row deletion itself if
/// the partition deletion covers it.
pub fn apply_partition_deletion(row: &mut Row, deletion: Option<Deletion>) {
    if deletion.is_none() {
        return;
    }
    if row.deletion.is_some_and(|d| shadows(deletion, d.timestamp)) {
        row.deletion = None;
    }
    if row.liveness.is_some_and(|l| shadows(deletion, l.timestamp)) {
        row.liveness = None;
    }
    for column in &mut row.columns {
        column.cells.retain(|c| !shadows(deletion, c.timestamp));
        if column
            .complex_deletion
            .is_some_and(|d| shadows(deletion, d.timestamp))
        {
            column.complex_deletion = None;
        }
    }
    row.columns
        .retain(|c| !c.cells.is_empty() || c.complex_deletion.is_some());
}

/// What a whole, merged partition reads as: its partition and range deletions applied to the
/// rows and static row they cover (dropping what they shadow), ranges the partition deletion
/// covers left out, each row normalized, and rows left empty dropped. The partition builder
/// emits every partition so; an input that is already whole and in order (one SSTable) is made
/// the same by this alone.
pub fn settle(partition: &mut Partition, clustering: &ClusteringComparator) {
    let deletion = partition.deletion;
    // Ranges the partition deletion covers add nothing.
    partition
        .range_deletions
        .retain(|r| !shadows(deletion, r.deletion.timestamp));
    let ranges = &partition.range_deletions;
    for row in partition.static_row.iter_mut() {
        apply_partition_deletion(row, deletion);
        normalize_row(row);
    }
    for row in partition.rows.iter_mut() {
        let covering = ranges
            .iter()
            .filter(|r| clustering.covers(r, &row.clustering))
            .fold(deletion, |d, r| merge_deletions(d, Some(r.deletion)));
        apply_partition_deletion(row, covering);
        normalize_row(row);
    }
    partition.rows.retain(|r| !row_is_empty(r));
    if partition.static_row.as_ref().is_some_and(row_is_empty) {
        partition.static_row = None;
    }
}

/// True when nothing is left of a row (no liveness, deletion or column data).
pub fn row_is_empty(row: &Row) -> bool {
    row.liveness.is_none() && row.deletion.is_none() && row.columns.is_empty()
}

/// Leaves out the tombstones Cassandra's compaction may purge once a table's `gc_grace_seconds`
/// have passed: every deletion (partition, range, row, collection) and tombstone cell whose
/// local deletion time (seconds) is before `gc_before`. Only for partitions whose deletions
/// have already shadowed what they cover, as the partition builder emits them: what remains
/// reads the same. Rows left empty go. Returns how many tombstones were left out.
pub fn purge_tombstones(partition: &mut Partition, gc_before: i64) -> u64 {
    let old = |d: &Deletion| d.local_deletion_time < gc_before;
    let mut purged = 0;
    if partition.deletion.as_ref().is_some_and(old) {
        partition.deletion = None;
        purged += 1;
    }
    let ranges = partition.range_deletions.len();
    partition.range_deletions.retain(|r| !old(&r.deletion));
    purged += (ranges - partition.range_deletions.len()) as u64;
    for row in partition.static_row.iter_mut().chain(&mut partition.rows) {
        purged += purge_row(row, gc_before);
    }
    partition.rows.retain(|r| !row_is_empty(r));
    if partition.static_row.as_ref().is_some_and(row_is_empty) {
        partition.static_row = None;
    }
    purged
}

/// [`purge_tombstones`] for one row.
fn purge_row(row: &mut Row, gc_before: i64) -> u64 {
    let old = |d: &Deletion| d.local_deletion_time < gc_before;
    let mut purged = 0;
    if row.deletion.as_ref().is_some_and(old) {
        row.deletion = None;
        purged += 1;
    }
    for column in &mut row.columns {
        if column.complex_deletion.as_ref().is_some_and(old) {
            column.complex_deletion = None;
            purged += 1;
        }
        let cells = column.cells.len();
        column.cells.retain(|c| {
            !matches!(c.liveness, Liveness::Tombstone { local_deletion_time } if local_deletion_time < gc_before)
        });
        purged += (cells - column.cells.len()) as u64;
    }
    row.columns
        .retain(|c| !c.cells.is_empty() || c.complex_deletion.is_some());
    purged
}

/// Leaves out every write older than `since` (microseconds, the write timestamps): the
/// partition's, ranges' and rows' deletions, row markers, collection deletions and cells; what
/// is at `since` or newer stays (a delta load's overlap with the last one is rewritten, which
/// changes nothing). For merged partitions, as the builder emits them. Returns the rows
/// (static rows included) left out whole.
pub fn keep_since(partition: &mut Partition, since: i64) -> u64 {
    let old = |d: &Deletion| d.timestamp < since;
    if partition.deletion.as_ref().is_some_and(old) {
        partition.deletion = None;
    }
    partition.range_deletions.retain(|r| !old(&r.deletion));
    let mut dropped = 0;
    for row in partition.static_row.iter_mut().chain(&mut partition.rows) {
        if row.deletion.as_ref().is_some_and(old) {
            row.deletion = None;
        }
        if row.liveness.as_ref().is_some_and(|l| l.timestamp < since) {
            row.liveness = None;
        }
        for column in &mut row.columns {
            if column.complex_deletion.as_ref().is_some_and(old) {
                column.complex_deletion = None;
            }
            column.cells.retain(|c| c.timestamp >= since);
        }
        row.columns
            .retain(|c| !c.cells.is_empty() || c.complex_deletion.is_some());
        dropped += u64::from(row_is_empty(row));
    }
    partition.rows.retain(|r| !row_is_empty(r));
    if partition.static_row.as_ref().is_some_and(row_is_empty) {
        partition.static_row = None;
    }
    dropped
}

/// A partition's range deletions as Cassandra stores them (`RangeTombstoneList`): in order,
/// none overlapping, each place covered by the newest deletion of the ranges that cover it;
/// neighbours with the same deletion joined. What any row reads as deleted is unchanged.
pub fn normalize_ranges(
    order: &ClusteringComparator,
    ranges: &[RangeDeletion],
) -> Vec<RangeDeletion> {
    type Point<'a> = (&'a [Vec<u8>], Side);
    fn start(r: &RangeDeletion) -> Point<'_> {
        (&r.start.prefix[..], Side::of(&r.start, true))
    }
    fn end(r: &RangeDeletion) -> Point<'_> {
        (&r.end.prefix[..], Side::of(&r.end, false))
    }
    let cmp = |a: Point, b: Point| order.compare_bounds(a, b);
    // Every place a range starts or ends, in order, once.
    let mut points: Vec<Point> = ranges.iter().flat_map(|r| [start(r), end(r)]).collect();
    points.sort_by(|&a, &b| cmp(a, b));
    points.dedup_by(|a, b| cmp(*a, *b) == Ordering::Equal);
    let mut out: Vec<RangeDeletion> = Vec::new();
    for pair in points.windows(2) {
        let (from, to) = (pair[0], pair[1]);
        let deletion = ranges
            .iter()
            .filter(|r| {
                cmp(start(r), from) != Ordering::Greater && cmp(to, end(r)) != Ordering::Greater
            })
            .fold(None, |d, r| merge_deletions(d, Some(r.deletion)));
        let Some(deletion) = deletion else {
            continue;
        };
        // Joined to the previous piece when it ends here with the same deletion.
        if let Some(last) = out.last_mut()
            && last.deletion == deletion
            && cmp(end(last), from) == Ordering::Equal
        {
            last.end = SliceBound {
                prefix: to.0.to_vec(),
                inclusive: to.1 == Side::After,
            };
            continue;
        }
        out.push(RangeDeletion {
            start: SliceBound {
                prefix: from.0.to_vec(),
                inclusive: from.1 == Side::Before,
            },
            end: SliceBound {
                prefix: to.0.to_vec(),
                inclusive: to.1 == Side::After,
            },
            deletion,
        });
    }
    out
}

/// What merging versions of partitions collapsed: pieces (rows, static rows, range deletions,
/// partition deletions) that were versions of one another, and the cells reconciliation
/// dropped, as the partition builder counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collapsed {
    pub pieces: u64,
    pub cells: u64,
}

fn cells_of(row: &Row) -> usize {
    row.columns.iter().map(|c| c.cells.len()).sum()
}

/// Merges two versions of one row, counting what collapsed.
fn merge_counted(a: Row, b: Row, order: &TableOrder, collapsed: &mut Collapsed) -> Row {
    let before = cells_of(&a) + cells_of(&b);
    let row = merge_rows(a, b, &|column, x, y| order.path_order(column, x, y));
    collapsed.pieces += 1;
    collapsed.cells += (before - cells_of(&row)) as u64;
    row
}

/// Merges two versions of one partition (the same token and key), each with its rows in
/// clustering order, as the partition builder merges their pieces: the later partition
/// deletion, static rows and rows of equal clustering merged ([`merge_rows`]), range deletions
/// in order with equal ranges merged. Deletions are not applied yet: [`settle`] the partition
/// once every version is merged in.
pub fn merge_partitions(
    a: Partition,
    b: Partition,
    order: &TableOrder,
    collapsed: &mut Collapsed,
) -> Partition {
    // Replicas that agree (the common case): the same partition twice merges into itself.
    if a == b {
        collapsed.pieces += (usize::from(a.deletion.is_some())
            + usize::from(a.static_row.is_some())
            + a.range_deletions.len()
            + a.rows.len()) as u64;
        collapsed.cells += (b.static_row.iter().map(cells_of).sum::<usize>()
            + b.rows.iter().map(cells_of).sum::<usize>()) as u64;
        return a;
    }
    if a.deletion.is_some() && b.deletion.is_some() {
        collapsed.pieces += 1;
    }
    let deletion = merge_deletions(a.deletion, b.deletion);
    let static_row = match (a.static_row, b.static_row) {
        (Some(x), Some(y)) => Some(merge_counted(x, y, order, collapsed)),
        (x, y) => x.or(y),
    };
    let clustering = order.clustering();
    let mut range_deletions = a.range_deletions;
    if range_deletions.is_empty() {
        range_deletions = b.range_deletions;
    } else if !b.range_deletions.is_empty() {
        range_deletions.extend(b.range_deletions);
        range_deletions.sort_by(|x, y| clustering.compare_ranges(x, y));
        range_deletions.dedup_by(|later, kept| {
            let equal = clustering.compare_ranges(later, kept) == Ordering::Equal;
            if equal {
                kept.deletion = merge_deletions(Some(kept.deletion), Some(later.deletion))
                    .unwrap_or(kept.deletion);
                collapsed.pieces += 1;
            }
            equal
        });
    }
    let rows = merge_sorted(
        a.rows,
        b.rows,
        |l, r| clustering.compare(&l.clustering, &r.clustering),
        |l, r| merge_counted(l, r, order, collapsed),
    );
    Partition {
        token: a.token,
        key: a.key,
        deletion,
        range_deletions,
        static_row,
        rows,
    }
}

/// The partition deletion of two versions of a partition.
pub fn merge_partition_deletion(a: &Partition, b: &Partition) -> Option<Deletion> {
    merge_deletions(a.deletion, b.deletion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SmallBytes;
    use proptest::prelude::*;

    fn bytes_order(a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn by_bytes(_column: usize, a: &[u8], b: &[u8]) -> Ordering {
        a.cmp(b)
    }

    fn live(ts: i64, v: &[u8]) -> Cell {
        Cell::live(ts, v.to_vec())
    }

    fn expiring(ts: i64, ttl: u32, ldt: i64, v: &[u8]) -> Cell {
        Cell {
            timestamp: ts,
            liveness: Liveness::Expiring {
                ttl,
                local_deletion_time: ldt,
            },
            path: SmallBytes::new(),
            value: v.to_vec().into(),
        }
    }

    #[test]
    fn the_higher_timestamp_wins_whatever_the_values() {
        assert_eq!(reconcile(live(2, b"a"), live(1, b"z")), live(2, b"a"));
        assert_eq!(
            reconcile(live(1, b"z"), Cell::tombstone(2, 0)),
            Cell::tombstone(2, 0)
        );
    }

    #[test]
    fn on_a_tie_a_tombstone_beats_a_live_cell_and_an_expiring_cell() {
        assert_eq!(
            reconcile(live(5, b"z"), Cell::tombstone(5, 0)),
            Cell::tombstone(5, 0)
        );
        let exp = expiring(5, 10, 9_999_999_999, b"z");
        assert_eq!(
            reconcile(exp.clone(), Cell::tombstone(5, 0)),
            Cell::tombstone(5, 0)
        );
    }

    #[test]
    fn on_a_tie_an_expiring_cell_beats_a_permanent_one_even_with_a_smaller_value() {
        let exp = expiring(5, 10, 100, b"a");
        assert_eq!(reconcile(live(5, b"z"), exp.clone()), exp);
    }

    #[test]
    fn between_two_expiring_cells_the_later_expiry_wins_before_the_value() {
        let early = expiring(5, 10, 100, b"z");
        let late = expiring(5, 10, 200, b"a");
        assert_eq!(reconcile(early, late.clone()), late);
    }

    #[test]
    fn between_two_live_cells_with_equal_timestamps_the_greater_value_bytes_win() {
        assert_eq!(reconcile(live(5, b"abc"), live(5, b"abd")), live(5, b"abd"));
        assert_eq!(reconcile(live(5, b"ab"), live(5, b"abc")), live(5, b"abc"));
        assert_eq!(
            reconcile(live(5, &[0x80]), live(5, &[0x7f])),
            live(5, &[0x80]),
            "unsigned bytes"
        );
    }

    #[test]
    fn a_row_deletion_shadows_cells_and_liveness_at_or_before_it() {
        let row = |ts: i64, deletion: Option<i64>| Row {
            clustering: vec![],
            liveness: Some(RowLiveness {
                timestamp: ts,
                liveness: Liveness::Live,
            }),
            deletion: deletion.map(|t| Deletion {
                timestamp: t,
                local_deletion_time: 0,
            }),
            columns: vec![ColumnData {
                column: 1,
                cells: vec![live(ts, b"v")],
                complex_deletion: None,
            }],
        };
        let merged = merge_rows(row(10, None), row(3, Some(10)), &by_bytes);
        assert!(merged.liveness.is_none());
        assert!(merged.columns.is_empty());
        let merged = merge_rows(row(11, None), row(3, Some(10)), &by_bytes);
        assert_eq!(merged.liveness.unwrap().timestamp, 11);
        assert_eq!(merged.columns[0].cells, [live(11, b"v")]);
    }

    #[test]
    fn two_whole_collection_writes_with_equal_timestamps_union_their_elements() {
        let set = |ts: i64, elems: &[&[u8]]| ColumnData {
            column: 0,
            cells: elems
                .iter()
                .map(|e| Cell {
                    path: e.to_vec().into(),
                    ..live(ts, b"")
                })
                .collect(),
            complex_deletion: Some(Deletion {
                timestamp: ts - 1,
                local_deletion_time: 0,
            }),
        };
        let merged = merge_column(set(5, &[b"a", b"c"]), set(5, &[b"b"]), &bytes_order);
        let paths: Vec<_> = merged.cells.iter().map(|c| c.path.clone()).collect();
        assert_eq!(paths, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        let newer = merge_column(set(5, &[b"a", b"c"]), set(6, &[b"b"]), &bytes_order);
        let paths: Vec<_> = newer.cells.iter().map(|c| c.path.clone()).collect();
        assert_eq!(
            paths,
            [b"b".to_vec()],
            "the newer write's deletion shadows the older elements"
        );
    }

    #[test]
    fn row_liveness_prefers_the_higher_timestamp_then_expiring_then_later_expiry() {
        let l = |ts, liveness| {
            Some(RowLiveness {
                timestamp: ts,
                liveness,
            })
        };
        assert_eq!(
            merge_row_liveness(l(1, Liveness::Live), l(2, Liveness::Live)),
            l(2, Liveness::Live)
        );
        let exp = Liveness::Expiring {
            ttl: 5,
            local_deletion_time: 50,
        };
        assert_eq!(
            merge_row_liveness(l(1, Liveness::Live), l(1, exp)),
            l(1, exp)
        );
    }

    fn arb_liveness() -> impl Strategy<Value = Liveness> {
        prop_oneof![
            Just(Liveness::Live),
            (1u32..4, 0i64..4).prop_map(|(ttl, ldt)| Liveness::Expiring {
                ttl,
                local_deletion_time: ldt
            }),
            (0i64..4).prop_map(|ldt| Liveness::Tombstone {
                local_deletion_time: ldt
            }),
        ]
    }

    /// Cells with few distinct timestamps, deletion times, values and paths, so ties are common.
    fn arb_cell() -> impl Strategy<Value = Cell> {
        (
            0i64..4,
            arb_liveness(),
            prop::collection::vec(0u8..3, 0..2),
            0u8..3,
        )
            .prop_map(|(timestamp, liveness, value, path)| Cell {
                timestamp,
                liveness,
                path: vec![path].into(),
                value: if liveness.is_tombstone() {
                    SmallBytes::new()
                } else {
                    value.into()
                },
            })
    }

    fn arb_deletion() -> impl Strategy<Value = Option<Deletion>> {
        prop::option::of((0i64..4, 0i64..3).prop_map(|(timestamp, ldt)| Deletion {
            timestamp,
            local_deletion_time: ldt,
        }))
    }

    /// A version of row: a row deletion, liveness, and a collection column (column 0).
    fn arb_version() -> impl Strategy<Value = Row> {
        (
            arb_deletion(),
            prop::option::of(0i64..4),
            arb_deletion(),
            prop::collection::vec(arb_cell(), 0..4),
        )
            .prop_map(|(deletion, live_ts, complex_deletion, cells)| {
                let mut cells = cells;
                cells.sort_by(|a, b| a.path.cmp(&b.path));
                cells.dedup_by(|a, b| a.path == b.path);
                Row {
                    clustering: vec![],
                    liveness: live_ts.map(|timestamp| RowLiveness {
                        timestamp,
                        liveness: Liveness::Live,
                    }),
                    deletion,
                    columns: if cells.is_empty() && complex_deletion.is_none() {
                        vec![]
                    } else {
                        vec![ColumnData {
                            column: 0,
                            cells,
                            complex_deletion,
                        }]
                    },
                }
            })
    }

    /// The reference: collect everything, take maxima, then drop what the deletions shadow.
    fn naive(versions: &[Row]) -> Row {
        let deletion = versions
            .iter()
            .filter_map(|v| v.deletion)
            .max_by_key(|d| (d.timestamp, d.local_deletion_time));
        let complex = versions
            .iter()
            .flat_map(|v| &v.columns)
            .filter_map(|c| c.complex_deletion)
            .max_by_key(|d| (d.timestamp, d.local_deletion_time))
            .filter(|d| !shadows(deletion, d.timestamp));
        let mut cells: Vec<Cell> = Vec::new();
        for cell in versions
            .iter()
            .flat_map(|v| &v.columns)
            .flat_map(|c| &c.cells)
        {
            match cells.iter_mut().find(|c| c.path == cell.path) {
                Some(existing) if compare_cells(cell, existing) == Ordering::Greater => {
                    *existing = cell.clone()
                }
                Some(_) => {}
                None => cells.push(cell.clone()),
            }
        }
        cells.retain(|c| !shadows(deletion, c.timestamp) && !shadows(complex, c.timestamp));
        cells.sort_by(|a, b| a.path.cmp(&b.path));
        let liveness = versions
            .iter()
            .filter_map(|v| v.liveness)
            .max_by_key(|l| l.timestamp)
            .filter(|l| !shadows(deletion, l.timestamp));
        Row {
            clustering: vec![],
            liveness,
            deletion,
            columns: if cells.is_empty() && complex.is_none() {
                vec![]
            } else {
                vec![ColumnData {
                    column: 0,
                    cells,
                    complex_deletion: complex,
                }]
            },
        }
    }

    fn fold(versions: Vec<Row>) -> Option<Row> {
        let mut row = versions
            .into_iter()
            .reduce(|a, b| merge_rows(a, b, &by_bytes))?;
        normalize_row(&mut row);
        Some(row)
    }

    proptest! {
        #[test]
        fn reconciling_cells_is_commutative_and_associative(a in arb_cell(), b in arb_cell(), c in arb_cell()) {
            // Versions of one cell share its path.
            let (b, c) = (Cell { path: a.path.clone(), ..b }, Cell { path: a.path.clone(), ..c });
            prop_assert_eq!(reconcile(a.clone(), b.clone()), reconcile(b.clone(), a.clone()));
            prop_assert_eq!(
                reconcile(reconcile(a.clone(), b.clone()), c.clone()),
                reconcile(a, reconcile(b, c))
            );
        }

        #[test]
        fn merging_row_versions_equals_the_naive_reference(versions in prop::collection::vec(arb_version(), 1..6)) {
            prop_assert_eq!(fold(versions.clone()).unwrap(), naive(&versions));
        }

        #[test]
        fn the_merge_does_not_depend_on_input_order_or_on_how_it_is_split_into_runs(
            versions in prop::collection::vec(arb_version(), 1..7),
            split in 0usize..7,
            seed in any::<u64>(),
        ) {
            let whole = fold(versions.clone()).unwrap();
            let mut shuffled = versions.clone();
            let n = shuffled.len();
            for i in 0..n {
                shuffled.swap(i, (seed as usize).wrapping_add(i * 7919) % n);
            }
            prop_assert_eq!(fold(shuffled).unwrap(), whole.clone());
            let split = split.min(versions.len());
            let (first, second) = versions.split_at(split);
            let runs: Vec<Row> = [first.to_vec(), second.to_vec()].into_iter().filter_map(fold).collect();
            prop_assert_eq!(fold(runs).unwrap(), whole);
        }

        #[test]
        fn purging_old_tombstones_from_a_merged_row_keeps_what_it_reads_and_every_newer_tombstone(
            versions in prop::collection::vec(arb_version(), 1..6),
            gc_before in 0i64..4,
        ) {
            let merged = fold(versions).unwrap();
            let mut partition = Partition {
                token: crate::model::Token(0),
                key: vec![1],
                deletion: None,
                range_deletions: vec![],
                static_row: None,
                rows: vec![merged.clone()],
            };
            let purged = purge_tombstones(&mut partition, gc_before);
            let after = partition.rows.first().cloned().unwrap_or_default();
            // What a read shows: the live row marker and live cells.
            let live = |row: &Row| {
                let cells: Vec<Cell> = row.columns.iter().flat_map(|c| &c.cells)
                    .filter(|c| !c.liveness.is_tombstone()).cloned().collect();
                (row.liveness, cells)
            };
            prop_assert_eq!(live(&after), live(&merged));
            let tombstones = |row: &Row| {
                let mut out: Vec<i64> = row.deletion.iter().map(|d| d.local_deletion_time).collect();
                for c in &row.columns {
                    out.extend(c.complex_deletion.iter().map(|d| d.local_deletion_time));
                    out.extend(c.cells.iter().filter(|c| c.liveness.is_tombstone())
                        .map(|c| c.liveness.local_deletion_time()));
                }
                out
            };
            prop_assert!(tombstones(&after).iter().all(|&t| t >= gc_before));
            let newer = tombstones(&merged).iter().filter(|&&t| t >= gc_before).count();
            prop_assert_eq!(tombstones(&after).len(), newer);
            prop_assert_eq!(purged as usize, tombstones(&merged).len() - newer);
        }
    }

    fn int_clustering() -> ClusteringComparator {
        use crate::model::schema::{ColumnRow, build_table_schema};
        let column = |name: &str, kind: &str, position: i32| ColumnRow {
            column_name: name.into(),
            clustering_order: "asc".into(),
            kind: kind.into(),
            position,
            type_name: "int".into(),
        };
        let schema = build_table_schema(
            &crate::model::TableName::parse("ks.t").unwrap(),
            &[
                column("k", "partition_key", 0),
                column("c", "clustering", 0),
            ],
            &[],
        )
        .unwrap();
        ClusteringComparator::new(&schema)
    }

    fn arb_range() -> impl Strategy<Value = RangeDeletion> {
        (0i32..8, 0i32..8, any::<bool>(), any::<bool>(), 1i64..5).prop_map(
            |(a, b, x, y, timestamp)| RangeDeletion {
                start: SliceBound {
                    prefix: vec![a.min(b).to_be_bytes().to_vec()],
                    inclusive: x,
                },
                end: SliceBound {
                    prefix: vec![a.max(b).to_be_bytes().to_vec()],
                    inclusive: y,
                },
                deletion: Deletion {
                    timestamp,
                    local_deletion_time: 100,
                },
            },
        )
    }

    proptest! {
        #[test]
        fn normalized_ranges_delete_every_row_as_the_overlapping_ones_and_never_overlap(
            ranges in prop::collection::vec(arb_range(), 0..6),
        ) {
            let order = int_clustering();
            let normal = normalize_ranges(&order, &ranges);
            let covering = |list: &[RangeDeletion], c: i32| {
                let row = [c.to_be_bytes().to_vec()];
                list.iter()
                    .filter(|r| order.covers(r, &row))
                    .fold(None, |d, r| merge_deletions(d, Some(r.deletion)))
            };
            for c in -1..10 {
                prop_assert_eq!(covering(&normal, c), covering(&ranges, c), "row {}", c);
            }
            for pair in normal.windows(2) {
                let end = (&pair[0].end.prefix[..], Side::of(&pair[0].end, false));
                let start = (&pair[1].start.prefix[..], Side::of(&pair[1].start, true));
                prop_assert!(order.compare_bounds(end, start) != Ordering::Greater);
            }
        }
    }

    #[test]
    fn partition_and_range_deletions_older_than_gc_before_are_purged_and_newer_ones_kept() {
        use crate::model::{RangeDeletion, SliceBound};
        let deletion = |ldt| Deletion {
            timestamp: 5,
            local_deletion_time: ldt,
        };
        let range = |ldt| RangeDeletion {
            start: SliceBound {
                prefix: vec![],
                inclusive: true,
            },
            end: SliceBound {
                prefix: vec![],
                inclusive: true,
            },
            deletion: deletion(ldt),
        };
        let mut partition = Partition {
            token: crate::model::Token(0),
            key: vec![1],
            deletion: Some(deletion(100)),
            range_deletions: vec![range(50), range(200)],
            static_row: Some(Row {
                deletion: Some(deletion(10)),
                ..Row::default()
            }),
            rows: vec![],
        };
        assert_eq!(purge_tombstones(&mut partition, 150), 3);
        assert_eq!(partition.deletion, None);
        assert_eq!(partition.range_deletions, vec![range(200)]);
        assert_eq!(partition.static_row, None);
        assert_eq!(purge_tombstones(&mut partition, 150), 0);
    }

    #[test]
    fn a_delta_keeps_the_writes_at_or_after_since_and_counts_the_rows_left_out_whole() {
        use crate::model::cell::{ColumnData, RowLiveness};
        let deletion = |timestamp| Deletion {
            timestamp,
            local_deletion_time: 0,
        };
        let row = |c: u8, marker: i64, cells: &[(usize, i64)]| Row {
            clustering: vec![vec![c]],
            liveness: Some(RowLiveness {
                timestamp: marker,
                liveness: Liveness::Live,
            }),
            deletion: None,
            columns: cells
                .iter()
                .map(|&(column, ts)| ColumnData {
                    column,
                    cells: vec![live(ts, b"v")],
                    complex_deletion: None,
                })
                .collect(),
        };
        let mut partition = Partition {
            token: crate::model::Token(0),
            key: vec![1],
            deletion: Some(deletion(5)),
            range_deletions: vec![],
            static_row: Some(row(0, 7, &[(1, 7)])),
            rows: vec![
                row(1, 5, &[(2, 5), (3, 20)]),
                row(2, 9, &[(2, 9)]),
                row(3, 10, &[(2, 10)]),
            ],
        };
        assert_eq!(
            keep_since(&mut partition, 10),
            2,
            "the static row and row 2"
        );
        assert_eq!(partition.deletion, None);
        assert_eq!(partition.static_row, None);
        let mut first = row(1, 5, &[(3, 20)]);
        first.liveness = None;
        assert_eq!(partition.rows, vec![first, row(3, 10, &[(2, 10)])]);
        let before = partition.clone();
        assert_eq!(keep_since(&mut partition, 10), 0);
        assert_eq!(partition, before, "a second pass changes nothing");
    }
}
