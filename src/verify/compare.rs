//! The comparison at the heart of `verify`, as pure functions: one partition as the source has
//! it (every cell with its write time and TTL, and the deletions) against the same partition as
//! the target cluster shows it over CQL (the visible cells, with `writetime()` and `ttl()`).
//!
//! Each cell position (a column, or an element of a set, map or non-frozen UDT) is judged:
//! - the source's cell is live and the target has none: the target **misses** it;
//! - both live, values differ: the target's is **stale** (older write time), **differs** (the same
//!   write time) or **newer** (a write after the source's, normal under dual writes); equal
//!   values with a newer target write time are newer too, with an older one they match (the
//!   source only re-states what the target holds);
//! - the source deleted it (a tombstone, an expiry, or a row, range, partition or collection
//!   deletion) and the target shows a value written at or before that deletion: stale; after
//!   it: newer;
//! - the source knows nothing of it and the target has a value: **extra**.
//!
//! A non-frozen list is judged whole, by its values in order (the target's element paths are
//! the server's own), and a target list that is the source's repeated is counted as duplicated
//! elements: what a non-idempotent reload leaves.
//!
//! A row takes the first category that applies: `missing` (visible in the source, absent in the
//! target), `stale` (a missed or stale cell), `differs`, `newer`, `extra` (present in the target
//! only, and no source deletion covers it). A row in neither, or in both with nothing that
//! differs, matches. For rows that are missing, stale or differ, the repair is the source's own
//! row (with the partition's deletions), written with the source's timestamps, so a newer live
//! write always keeps winning.

use std::cmp::Ordering;

use crate::merge::{merge_deletions, shadows};
use crate::model::order::ClusteringComparator;
use crate::model::token::split_key;
use crate::model::{
    Cell, ColumnKind, CqlType, Deletion, Liveness, Partition, Row, TableSchema, Value,
};

/// How many example keys each category keeps.
pub const EXAMPLES: usize = 5;

/// Expiry times closer than this many seconds are taken to be the same.
const EXPIRY_TOLERANCE: i64 = 60;

/// A row's category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    Missing,
    Stale,
    Differs,
    Newer,
    Extra,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Missing,
        Category::Stale,
        Category::Differs,
        Category::Newer,
        Category::Extra,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Missing => "missing",
            Category::Stale => "stale",
            Category::Differs => "differs",
            Category::Newer => "newer",
            Category::Extra => "extra",
        }
    }

    /// Whether `--repair` writes the source's version of such a row.
    pub fn is_repaired(self) -> bool {
        matches!(
            self,
            Category::Missing | Category::Stale | Category::Differs
        )
    }
}

/// What was found in one column, over the rows both sides hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ColumnCounts {
    /// Rows where the source has a value and the target, holding the row, has none.
    pub missing: u64,
    pub stale: u64,
    pub differs: u64,
    pub newer: u64,
    /// Rows where the target has a value the source knows nothing of.
    pub extra: u64,
    /// Rows where both have the value but one expires and the other does not, or their expiry
    /// times differ by more than a minute.
    pub ttl: u64,
    /// Rows whose list repeats the source's list (each element written more than once).
    pub duplicated_list_elements: u64,
}

impl ColumnCounts {
    pub fn is_empty(&self) -> bool {
        *self == ColumnCounts::default()
    }

    pub fn add(&mut self, other: &ColumnCounts) {
        self.missing += other.missing;
        self.stale += other.stale;
        self.differs += other.differs;
        self.newer += other.newer;
        self.extra += other.extra;
        self.ttl += other.ttl;
        self.duplicated_list_elements += other.duplicated_list_elements;
    }
}

/// Everything a comparison found, added up over partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    /// Rows visible in the source (static rows included).
    pub source_rows: u64,
    /// Rows the target showed.
    pub target_rows: u64,
    /// Rows in both with nothing that differs.
    pub matching: u64,
    /// By [`Category`], in the order of [`Category::ALL`].
    pub counts: [u64; 5],
    /// By column name, in the table's order.
    pub columns: Vec<(String, ColumnCounts)>,
    /// Up to [`EXAMPLES`] keys per category, as CQL literals.
    pub examples: [Vec<String>; 5],
    /// Rows the repair writes.
    pub rows_to_repair: u64,
}

impl Tally {
    pub fn count(&self, category: Category) -> u64 {
        self.counts[category as usize]
    }

    /// Missing, stale and differing rows: what makes `verify` exit 1.
    pub fn out_of_sync(&self) -> u64 {
        self.count(Category::Missing) + self.count(Category::Stale) + self.count(Category::Differs)
    }

    /// Adds `other`'s counts (a checkpoint's) to these.
    pub fn absorb(&mut self, other: Tally) {
        self.source_rows += other.source_rows;
        self.target_rows += other.target_rows;
        self.matching += other.matching;
        self.rows_to_repair += other.rows_to_repair;
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for (name, counts) in other.columns {
            let Some((_, mine)) = self.columns.iter_mut().find(|(n, _)| *n == name) else {
                self.columns.push((name, counts));
                continue;
            };
            mine.add(&counts);
        }
        for (mine, theirs) in self.examples.iter_mut().zip(other.examples) {
            for key in theirs {
                if mine.len() < EXAMPLES {
                    mine.push(key);
                }
            }
        }
    }
}

/// One cell position's verdict, in the order a row's worst verdict is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Match,
    Extra,
    Newer,
    Differs,
    Stale,
    /// The source has a value, the target (holding the row) none: the row is stale.
    MissingCell,
}

/// What the source says of one cell position.
#[derive(Debug, Clone, Copy)]
enum Said<'c> {
    Live(&'c Cell),
    /// Deleted at this write time (or expired, or shadowed by a deletion).
    Deleted(i64),
    Unknown,
}

/// Compares partitions of one table.
pub struct Comparer<'s> {
    schema: &'s TableSchema,
    comparator: ClusteringComparator,
    /// Seconds since the epoch at which expiry is judged.
    now: i64,
    /// Columns outside the primary key: (index, is static).
    values: Vec<(usize, bool)>,
}

impl<'s> Comparer<'s> {
    pub fn new(schema: &'s TableSchema, now: i64) -> Comparer<'s> {
        let values = schema
            .columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.kind {
                ColumnKind::Static => Some((i, true)),
                ColumnKind::Regular => Some((i, false)),
                _ => None,
            })
            .collect();
        Comparer {
            schema,
            comparator: ClusteringComparator::new(schema),
            now,
            values,
        }
    }

    /// An empty tally with a line for every column outside the primary key.
    pub fn tally(&self) -> Tally {
        Tally {
            columns: self
                .values
                .iter()
                .map(|&(i, _)| (self.schema.columns[i].name.clone(), ColumnCounts::default()))
                .collect(),
            ..Tally::default()
        }
    }

    /// Compares one partition (absent on a side: `None`), adds what it found to `tally`, and
    /// returns what a repair writes: the source's rows that are missing, stale or differ, with
    /// the partition's deletions; `None` when nothing needs writing.
    pub fn partition(
        &self,
        source: Option<&Partition>,
        target: Option<&Partition>,
        tally: &mut Tally,
    ) -> Option<Partition> {
        let any = source.or(target)?;
        let partition_deletion = source.and_then(|p| p.deletion);
        let mut repair_static = None;
        let mut repair_rows = Vec::new();
        // A target row that only the source's partition or range deletion says is gone.
        let mut deletions_needed = false;

        let source_static = source.and_then(|p| p.static_row.as_ref());
        let target_static = target.and_then(|p| p.static_row.as_ref());
        if source_static.is_some() || target_static.is_some() {
            let category = self.row(
                source_static,
                target_static,
                partition_deletion,
                true,
                tally,
            );
            if let Some(category) = category {
                self.note(category, any, None, tally);
                if category.is_repaired() {
                    tally.rows_to_repair += 1;
                    repair_static = source_static.map(|row| self.whole(row));
                    deletions_needed |= source_static.is_none();
                }
            }
        }

        let no_rows = Vec::new();
        let source_rows = source.map_or(&no_rows, |p| &p.rows);
        let target_rows = target.map_or(&no_rows, |p| &p.rows);
        let (mut i, mut j) = (0, 0);
        while i < source_rows.len() || j < target_rows.len() {
            let order = match (source_rows.get(i), target_rows.get(j)) {
                (Some(s), Some(t)) => self.comparator.compare(&s.clustering, &t.clustering),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            let (s, t) = match order {
                Ordering::Less => {
                    i += 1;
                    (Some(&source_rows[i - 1]), None)
                }
                Ordering::Greater => {
                    j += 1;
                    (None, Some(&target_rows[j - 1]))
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (Some(&source_rows[i - 1]), Some(&target_rows[j - 1]))
                }
            };
            let clustering = &s.or(t).expect("a row on one side").clustering;
            let mut deletion = partition_deletion;
            if let Some(source) = source {
                for range in &source.range_deletions {
                    if self.comparator.covers(range, clustering) {
                        deletion = merge_deletions(deletion, Some(range.deletion));
                    }
                }
            }
            if let Some(category) = self.row(s, t, deletion, false, tally) {
                self.note(category, any, Some(clustering), tally);
                if category.is_repaired() {
                    tally.rows_to_repair += 1;
                    match s {
                        Some(s) => repair_rows.push(self.whole(s)),
                        None => deletions_needed = true,
                    }
                }
            }
        }

        let source = source?;
        let repairs = !repair_rows.is_empty() || repair_static.is_some();
        (repairs || deletions_needed).then(|| Partition {
            token: source.token,
            key: source.key.clone(),
            deletion: source.deletion,
            range_deletions: source.range_deletions.clone(),
            static_row: repair_static,
            rows: repair_rows,
        })
    }

    /// A source row as its repair writes it: a multi-cell collection without a deletion of
    /// its own (what a scan over CQL gives) is written whole, with the deletion a whole-value
    /// write makes (just before its oldest element), so the table's older elements that the
    /// source does not have go, and a list is not appended to what the table holds. Newer
    /// elements in the table, live writes, stay.
    fn whole(&self, row: &Row) -> Row {
        let mut row = row.clone();
        for data in &mut row.columns {
            let multi_cell = self
                .schema
                .columns
                .get(data.column)
                .is_some_and(|c| c.cql_type.is_multi_cell());
            if !multi_cell || data.complex_deletion.is_some() {
                continue;
            }
            if let Some(oldest) = data.cells.iter().map(|c| c.timestamp).min() {
                data.complex_deletion = Some(Deletion {
                    timestamp: oldest - 1,
                    local_deletion_time: self.now,
                });
            }
        }
        row
    }

    /// Counts a row's category and keeps its key as an example.
    fn note(
        &self,
        category: Category,
        partition: &Partition,
        clustering: Option<&[Vec<u8>]>,
        tally: &mut Tally,
    ) {
        tally.counts[category as usize] += 1;
        let examples = &mut tally.examples[category as usize];
        if examples.len() < EXAMPLES {
            examples.push(self.describe_key(partition, clustering));
        }
    }

    /// `id=42, ts='2026-01-01 ...'` for a row; the partition key alone and "(static)" for a
    /// static row.
    pub fn describe_key(&self, partition: &Partition, clustering: Option<&[Vec<u8>]>) -> String {
        let schema = self.schema;
        let mut parts = Vec::new();
        let literal = |i: usize, bytes: &[u8]| {
            let column = &schema.columns[i];
            let value = Value::decode(&column.cql_type, bytes)
                .map(|v| v.to_cql_literal())
                .unwrap_or_else(|_| format!("0x{}", hex(bytes)));
            format!("{}={value}", column.name)
        };
        match split_key(&partition.key, schema.partition_key_len) {
            Some(components) => {
                for (i, bytes) in components.iter().enumerate() {
                    parts.push(literal(i, bytes));
                }
            }
            None => parts.push(format!("key=0x{}", hex(&partition.key))),
        }
        match clustering {
            Some(values) => {
                for (k, bytes) in values.iter().enumerate() {
                    parts.push(literal(schema.partition_key_len + k, bytes));
                }
            }
            None => parts.push("(static)".to_owned()),
        }
        parts.join(", ")
    }

    /// Judges one row (`deletion`: the partition's and covering ranges' deletions in the
    /// source); `None` when it matches or is in neither.
    fn row(
        &self,
        source: Option<&Row>,
        target: Option<&Row>,
        deletion: Option<Deletion>,
        is_static: bool,
        tally: &mut Tally,
    ) -> Option<Category> {
        let deletion = merge_deletions(deletion, source.and_then(|r| r.deletion));
        let mut worst = Verdict::Match;
        // Per-column counts, kept for rows both sides hold.
        let mut columns = vec![ColumnCounts::default(); self.values.len()];
        let mut source_visible = source.is_some_and(|row| {
            row.liveness
                .is_some_and(|l| !shadows(deletion, l.timestamp) && self.is_live(l.liveness))
        });
        for (c, &(index, column_is_static)) in self.values.iter().enumerate() {
            if column_is_static != is_static {
                continue;
            }
            let column = &self.schema.columns[index];
            let source_data = source.and_then(|r| r.columns.iter().find(|d| d.column == index));
            let target_data = target.and_then(|r| r.columns.iter().find(|d| d.column == index));
            let column_deletion =
                merge_deletions(deletion, source_data.and_then(|d| d.complex_deletion));
            let source_cells = source_data.map_or(&[][..], |d| &d.cells);
            let target_cells = target_data.map_or(&[][..], |d| &d.cells);
            let counts = &mut columns[c];
            let verdict = match &column.cql_type {
                CqlType::List { frozen: false, .. } => {
                    let (verdict, visible) =
                        self.list(source_cells, target_cells, column_deletion, counts);
                    source_visible |= visible;
                    verdict
                }
                t if t.is_multi_cell() => {
                    let mut verdict = Verdict::Match;
                    let mut ttl = false;
                    // Both sides' cells are in path order.
                    let (mut a, mut b) = (0, 0);
                    while a < source_cells.len() || b < target_cells.len() {
                        let order = match (source_cells.get(a), target_cells.get(b)) {
                            (Some(x), Some(y)) => x.path.cmp(&y.path),
                            (Some(_), None) => Ordering::Less,
                            _ => Ordering::Greater,
                        };
                        let (s, t) = match order {
                            Ordering::Less => {
                                a += 1;
                                (Some(&source_cells[a - 1]), None)
                            }
                            Ordering::Greater => {
                                b += 1;
                                (None, Some(&target_cells[b - 1]))
                            }
                            Ordering::Equal => {
                                a += 1;
                                b += 1;
                                (Some(&source_cells[a - 1]), Some(&target_cells[b - 1]))
                            }
                        };
                        let said = self.said(s, column_deletion);
                        source_visible |= matches!(said, Said::Live(_));
                        let (v, t_ttl) = self.judge(said, t);
                        verdict = verdict.max(v);
                        ttl |= t_ttl;
                    }
                    counts.ttl += u64::from(ttl);
                    verdict
                }
                _ => {
                    let said = self.said(source_cells.first(), column_deletion);
                    source_visible |= matches!(said, Said::Live(_));
                    let (verdict, ttl) = self.judge(said, target_cells.first());
                    counts.ttl += u64::from(ttl);
                    verdict
                }
            };
            match verdict {
                Verdict::Match => {}
                Verdict::Extra => counts.extra += 1,
                Verdict::Newer => counts.newer += 1,
                Verdict::Differs => counts.differs += 1,
                Verdict::Stale => counts.stale += 1,
                Verdict::MissingCell => counts.missing += 1,
            }
            worst = worst.max(verdict);
        }
        let target_present = target.is_some();
        if target_present && source_visible {
            for ((_, total), row) in tally.columns.iter_mut().zip(columns) {
                total.add(&row);
            }
        }
        tally.source_rows += u64::from(source_visible);
        tally.target_rows += u64::from(target_present);
        match (source_visible, target_present) {
            (false, false) => None,
            (true, false) => Some(Category::Missing),
            (_, true) => match worst {
                Verdict::Stale | Verdict::MissingCell => Some(Category::Stale),
                Verdict::Differs => Some(Category::Differs),
                Verdict::Newer => Some(Category::Newer),
                // The target's row, which the source holds nothing visible of: a key-only row
                // the source deleted is stale; one the source never had is extra.
                _ if !source_visible && deletion.is_some() => Some(Category::Stale),
                _ if !source_visible => Some(Category::Extra),
                _ => {
                    tally.matching += 1;
                    None
                }
            },
        }
    }

    /// A non-frozen list, judged whole by its values in order; also whether the source's is
    /// visible.
    fn list(
        &self,
        source: &[Cell],
        target: &[Cell],
        deletion: Option<Deletion>,
        counts: &mut ColumnCounts,
    ) -> (Verdict, bool) {
        let visible: Vec<&Cell> = source
            .iter()
            .filter(|c| matches!(self.said(Some(c), deletion), Said::Live(_)))
            .collect();
        let newest = |cells: &mut dyn Iterator<Item = &Cell>| cells.map(|c| c.timestamp).max();
        let target_newest = newest(&mut target.iter());
        let same_values = visible.len() == target.len()
            && visible.iter().zip(target).all(|(s, t)| s.value == t.value);
        let verdict = match (newest(&mut visible.iter().copied()), target_newest) {
            (None, None) => Verdict::Match,
            (Some(_), None) => Verdict::MissingCell,
            (None, Some(t)) => {
                // What deleted the source's elements, if anything did.
                let deleted = source
                    .iter()
                    .map(|c| match self.said(Some(c), deletion) {
                        Said::Deleted(ts) => ts,
                        _ => i64::MIN,
                    })
                    .chain(deletion.map(|d| d.timestamp))
                    .max();
                match deleted {
                    Some(ts) if t <= ts => Verdict::Stale,
                    Some(_) => Verdict::Newer,
                    None => Verdict::Extra,
                }
            }
            (Some(s), Some(t)) if same_values => {
                if t > s {
                    Verdict::Newer
                } else {
                    Verdict::Match
                }
            }
            (Some(s), Some(t)) => {
                if !visible.is_empty()
                    && target.len() > visible.len()
                    && target.len().is_multiple_of(visible.len())
                    && target
                        .chunks(visible.len())
                        .all(|chunk| chunk.iter().zip(&visible).all(|(t, s)| t.value == s.value))
                {
                    counts.duplicated_list_elements += 1;
                }
                match t.cmp(&s) {
                    Ordering::Less => Verdict::Stale,
                    Ordering::Equal => Verdict::Differs,
                    Ordering::Greater => Verdict::Newer,
                }
            }
        };
        (verdict, !visible.is_empty())
    }

    /// What the source says of one cell position under `deletion`.
    fn said<'c>(&self, cell: Option<&'c Cell>, deletion: Option<Deletion>) -> Said<'c> {
        match cell {
            Some(cell) if shadows(deletion, cell.timestamp) => {
                Said::Deleted(deletion.map_or(cell.timestamp, |d| d.timestamp))
            }
            Some(cell) if self.is_live(cell.liveness) => Said::Live(cell),
            Some(cell) => Said::Deleted(cell.timestamp),
            None => deletion.map_or(Said::Unknown, |d| Said::Deleted(d.timestamp)),
        }
    }

    /// The verdict on one cell position, and whether the TTLs differ.
    fn judge(&self, said: Said<'_>, target: Option<&Cell>) -> (Verdict, bool) {
        match (said, target) {
            (Said::Live(_), None) => (Verdict::MissingCell, false),
            (Said::Live(s), Some(t)) => {
                let verdict = if s.value == t.value {
                    if t.timestamp > s.timestamp {
                        Verdict::Newer
                    } else {
                        Verdict::Match
                    }
                } else {
                    match t.timestamp.cmp(&s.timestamp) {
                        Ordering::Less => Verdict::Stale,
                        Ordering::Equal => Verdict::Differs,
                        Ordering::Greater => Verdict::Newer,
                    }
                };
                let ttl = verdict == Verdict::Match && self.ttl_differs(s, t);
                (verdict, ttl)
            }
            (Said::Deleted(ts), Some(t)) if t.timestamp <= ts => (Verdict::Stale, false),
            (Said::Deleted(_), Some(_)) => (Verdict::Newer, false),
            (Said::Unknown, Some(_)) => (Verdict::Extra, false),
            (_, None) => (Verdict::Match, false),
        }
    }

    /// Whether one cell expires and the other does not, or the target's expires more than
    /// [`EXPIRY_TOLERANCE`] before the source's, or lives longer than the source's whole TTL.
    /// (A load over CQL sets the expiry from when the write is applied, after the source's write
    /// time, so a later expiry within the TTL is what a correct load leaves.)
    fn ttl_differs(&self, source: &Cell, target: &Cell) -> bool {
        match (source.liveness, target.liveness) {
            (Liveness::Live, Liveness::Live) => false,
            (
                Liveness::Expiring {
                    ttl,
                    local_deletion_time: s,
                },
                Liveness::Expiring {
                    local_deletion_time: t,
                    ..
                },
            ) => t < s - EXPIRY_TOLERANCE || t - self.now > i64::from(ttl) + EXPIRY_TOLERANCE,
            _ => true,
        }
    }

    fn is_live(&self, liveness: Liveness) -> bool {
        match liveness {
            Liveness::Live => true,
            Liveness::Expiring {
                local_deletion_time,
                ..
            } => local_deletion_time > self.now,
            Liveness::Tombstone { .. } => false,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cell::ColumnData;
    use crate::model::collection::list_path;
    use crate::model::{RangeDeletion, SliceBound, Token};

    const NOW: i64 = 1_800_000_000;

    /// k int, c int, s int static, v text, n int, tags set<text>, l list<text>.
    fn schema() -> TableSchema {
        TableSchema::from_columns(
            "ks.t",
            &[
                ("k", "partition_key", "int"),
                ("c", "clustering", "int"),
                ("s", "static", "int"),
                ("v", "regular", "text"),
                ("n", "regular", "int"),
                ("tags", "regular", "set<text>"),
                ("l", "regular", "list<text>"),
            ],
        )
        .unwrap()
    }

    fn index(schema: &TableSchema, name: &str) -> usize {
        schema.column(name).unwrap().0
    }

    fn simple(column: usize, cell: Cell) -> ColumnData {
        ColumnData {
            column,
            cells: vec![cell],
            complex_deletion: None,
        }
    }

    fn row(c: i32, columns: Vec<ColumnData>) -> Row {
        Row {
            clustering: vec![Value::Int(c).to_bytes()],
            liveness: None,
            deletion: None,
            columns,
        }
    }

    fn partition(k: i32, rows: Vec<Row>) -> Partition {
        let key = Value::Int(k).to_bytes();
        Partition {
            token: Token::of_key(&key),
            key,
            deletion: None,
            range_deletions: Vec::new(),
            static_row: None,
            rows,
        }
    }

    fn v(schema: &TableSchema, ts: i64, text: &str) -> ColumnData {
        simple(index(schema, "v"), Cell::live(ts, text.as_bytes().to_vec()))
    }

    /// Compares and returns the tally and the repair.
    fn compare(
        source: Option<&Partition>,
        target: Option<&Partition>,
    ) -> (Tally, Option<Partition>) {
        let schema = schema();
        let comparer = Comparer::new(&schema, NOW);
        let mut tally = comparer.tally();
        let repair = comparer.partition(source, target, &mut tally);
        (tally, repair)
    }

    fn counts(tally: &Tally) -> [u64; 5] {
        tally.counts
    }

    #[test]
    fn equal_rows_match_and_need_no_repair() {
        let s = schema();
        let p = partition(1, vec![row(1, vec![v(&s, 10, "a")])]);
        let (tally, repair) = compare(Some(&p), Some(&p));
        assert_eq!(counts(&tally), [0; 5]);
        assert_eq!(
            (tally.matching, tally.source_rows, tally.target_rows),
            (1, 1, 1)
        );
        assert!(repair.is_none());
    }

    #[test]
    fn a_row_only_in_the_source_is_missing_and_repaired_with_its_own_cells() {
        let s = schema();
        let source = partition(
            1,
            vec![row(1, vec![v(&s, 10, "a")]), row(2, vec![v(&s, 10, "b")])],
        );
        let target = partition(1, vec![row(2, vec![v(&s, 10, "b")])]);
        let (tally, repair) = compare(Some(&source), Some(&target));
        assert_eq!(counts(&tally), [1, 0, 0, 0, 0]);
        assert_eq!(tally.examples[0], ["k=1, c=1"]);
        let repair = repair.unwrap();
        assert_eq!(repair.rows, vec![source.rows[0].clone()]);
        assert_eq!(tally.rows_to_repair, 1);
        // A whole partition missing.
        let (tally, repair) = compare(Some(&source), None);
        assert_eq!(counts(&tally), [2, 0, 0, 0, 0]);
        assert_eq!(repair.unwrap().rows.len(), 2);
    }

    #[test]
    fn an_older_different_value_is_stale_an_equal_time_differs_a_later_one_is_newer() {
        let s = schema();
        let source = partition(1, vec![row(1, vec![v(&s, 10, "new")])]);
        for (target_ts, text, expected) in [
            (5, "old", [0, 1, 0, 0, 0]),
            (10, "other", [0, 0, 1, 0, 0]),
            (20, "live", [0, 0, 0, 1, 0]),
            // The same value written later is a live rewrite; earlier, it matches.
            (20, "new", [0, 0, 0, 1, 0]),
            (5, "new", [0, 0, 0, 0, 0]),
        ] {
            let target = partition(1, vec![row(1, vec![v(&s, target_ts, text)])]);
            let (tally, repair) = compare(Some(&source), Some(&target));
            assert_eq!(counts(&tally), expected, "{target_ts} {text}");
            assert_eq!(repair.is_some(), expected[1] + expected[2] > 0);
            let column = &tally.columns.iter().find(|(n, _)| n == "v").unwrap().1;
            assert_eq!(
                column.stale + column.differs + column.newer,
                expected[1..4].iter().sum::<u64>()
            );
        }
    }

    #[test]
    fn a_cell_the_target_row_lacks_makes_the_row_stale() {
        let s = schema();
        let n = simple(index(&s, "n"), Cell::live(10, Value::Int(3).to_bytes()));
        let source = partition(1, vec![row(1, vec![v(&s, 10, "a"), n])]);
        let target = partition(1, vec![row(1, vec![v(&s, 10, "a")])]);
        let (tally, _) = compare(Some(&source), Some(&target));
        assert_eq!(counts(&tally), [0, 1, 0, 0, 0]);
        let column = &tally.columns.iter().find(|(n, _)| n == "n").unwrap().1;
        assert_eq!(column.missing, 1);
    }

    #[test]
    fn a_row_only_in_the_target_is_extra_unless_a_source_deletion_covers_it() {
        let s = schema();
        let source = partition(1, vec![row(1, vec![v(&s, 10, "a")])]);
        let target = partition(
            1,
            vec![row(1, vec![v(&s, 10, "a")]), row(2, vec![v(&s, 10, "b")])],
        );
        let (tally, repair) = compare(Some(&source), Some(&target));
        assert_eq!(counts(&tally), [0, 0, 0, 0, 1]);
        assert!(repair.is_none());
        assert_eq!(compare(None, Some(&target)).0.counts, [0, 0, 0, 0, 2]);

        // The source deleted rows 2 and up at 15: the target's row 2, written at 10, is stale,
        // and the repair carries the deletion.
        let mut deleting = source.clone();
        deleting.range_deletions.push(RangeDeletion {
            start: SliceBound {
                prefix: vec![Value::Int(2).to_bytes()],
                inclusive: true,
            },
            end: SliceBound::open(),
            deletion: Deletion {
                timestamp: 15,
                local_deletion_time: 100,
            },
        });
        let (tally, repair) = compare(Some(&deleting), Some(&target));
        assert_eq!(counts(&tally), [0, 1, 0, 0, 0]);
        assert_eq!(repair.unwrap().range_deletions, deleting.range_deletions);
        // Written after the deletion: a live write, newer.
        let later = partition(
            1,
            vec![row(1, vec![v(&s, 10, "a")]), row(2, vec![v(&s, 20, "b")])],
        );
        assert_eq!(
            compare(Some(&deleting), Some(&later)).0.counts,
            [0, 0, 0, 1, 0]
        );
    }

    #[test]
    fn a_row_the_source_deleted_and_the_target_lacks_matches_nothing() {
        let s = schema();
        let mut deleted = row(1, vec![v(&s, 10, "a")]);
        deleted.deletion = Some(Deletion {
            timestamp: 12,
            local_deletion_time: 100,
        });
        let source = partition(1, vec![deleted]);
        let (tally, repair) = compare(Some(&source), None);
        assert_eq!(counts(&tally), [0; 5]);
        assert_eq!(tally.source_rows, 0);
        assert!(repair.is_none());
    }

    #[test]
    fn expired_source_cells_count_as_deleted() {
        let s = schema();
        let mut cell = Cell::live(10, b"a".to_vec());
        cell.liveness = Liveness::Expiring {
            ttl: 60,
            local_deletion_time: NOW - 1,
        };
        let source = partition(1, vec![row(1, vec![simple(index(&s, "v"), cell)])]);
        let target = partition(1, vec![row(1, vec![v(&s, 10, "a")])]);
        assert_eq!(
            compare(Some(&source), Some(&target)).0.counts,
            [0, 1, 0, 0, 0]
        );
    }

    #[test]
    fn ttls_that_differ_are_counted_without_changing_the_category() {
        let s = schema();
        let expiring = |ttl: u32, expires: i64| {
            let mut cell = Cell::live(10, b"a".to_vec());
            cell.liveness = Liveness::Expiring {
                ttl,
                local_deletion_time: expires,
            };
            partition(1, vec![row(1, vec![simple(index(&s, "v"), cell)])])
        };
        let source = expiring(3600, NOW + 3000);
        let plain = partition(1, vec![row(1, vec![v(&s, 10, "a")])]);
        let ttl_count = |t: &Tally| t.columns.iter().find(|(n, _)| n == "v").unwrap().1.ttl;
        let (tally, _) = compare(Some(&source), Some(&plain));
        assert_eq!((tally.matching, ttl_count(&tally)), (1, 1));
        // Expiring a little later (a load applied after the source's write time): the same.
        let (tally, _) = compare(Some(&source), Some(&expiring(3020, NOW + 3020)));
        assert_eq!(ttl_count(&tally), 0);
        // Expiring well before the source's.
        let (tally, _) = compare(Some(&source), Some(&expiring(100, NOW + 100)));
        assert_eq!(ttl_count(&tally), 1);
    }

    fn set(schema: &TableSchema, ts: i64, elements: &[&str], deleted: Option<i64>) -> ColumnData {
        ColumnData {
            column: index(schema, "tags"),
            cells: elements
                .iter()
                .map(|e| Cell {
                    timestamp: ts,
                    liveness: Liveness::Live,
                    path: e.as_bytes().to_vec().into(),
                    value: Vec::new().into(),
                })
                .collect(),
            complex_deletion: deleted.map(|timestamp| Deletion {
                timestamp,
                local_deletion_time: 100,
            }),
        }
    }

    #[test]
    fn set_elements_are_compared_one_by_one_under_the_collections_deletion() {
        let s = schema();
        let source = partition(1, vec![row(1, vec![set(&s, 10, &["a", "b"], Some(9))])]);
        let same = partition(1, vec![row(1, vec![set(&s, 10, &["a", "b"], None)])]);
        assert_eq!(compare(Some(&source), Some(&same)).0.matching, 1);
        // An element the whole-set write deleted is still there: stale.
        let old = partition(1, vec![row(1, vec![set(&s, 5, &["a", "b", "c"], None)])]);
        assert_eq!(compare(Some(&source), Some(&old)).0.counts, [0, 1, 0, 0, 0]);
        // An element added live later: newer.
        let mut added = same.clone();
        added.rows[0].columns[0].cells.push(Cell {
            timestamp: 20,
            liveness: Liveness::Live,
            path: b"z".to_vec().into(),
            value: Vec::new().into(),
        });
        assert_eq!(
            compare(Some(&source), Some(&added)).0.counts,
            [0, 0, 0, 1, 0]
        );
    }

    fn list(schema: &TableSchema, base: i64, ts: i64, elements: &[&str]) -> ColumnData {
        ColumnData {
            column: index(schema, "l"),
            cells: elements
                .iter()
                .enumerate()
                .map(|(i, e)| Cell {
                    timestamp: ts,
                    liveness: Liveness::Live,
                    path: list_path(base, i).to_vec().into(),
                    value: e.as_bytes().to_vec().into(),
                })
                .collect(),
            complex_deletion: None,
        }
    }

    #[test]
    fn lists_are_compared_by_their_values_in_order_whatever_their_paths() {
        let s = schema();
        let source = partition(1, vec![row(1, vec![list(&s, 1, 10, &["x", "y"])])]);
        let same = partition(1, vec![row(1, vec![list(&s, 777, 10, &["x", "y"])])]);
        assert_eq!(compare(Some(&source), Some(&same)).0.matching, 1);
        let reordered = partition(1, vec![row(1, vec![list(&s, 777, 5, &["y", "x"])])]);
        assert_eq!(
            compare(Some(&source), Some(&reordered)).0.counts,
            [0, 1, 0, 0, 0]
        );
    }

    #[test]
    fn a_list_written_twice_at_one_time_is_counted_as_duplicated_elements() {
        let s = schema();
        let source = partition(1, vec![row(1, vec![list(&s, 1, 10, &["x", "y"])])]);
        let twice = partition(
            1,
            vec![row(1, vec![list(&s, 9, 10, &["x", "y", "x", "y"])])],
        );
        let (tally, repair) = compare(Some(&source), Some(&twice));
        assert_eq!(counts(&tally), [0, 0, 1, 0, 0]);
        let column = &tally.columns.iter().find(|(n, _)| n == "l").unwrap().1;
        assert_eq!(column.duplicated_list_elements, 1);
        assert!(repair.is_some());
    }

    #[test]
    fn a_repaired_collection_without_a_deletion_of_its_own_is_written_whole() {
        let s = schema();
        let mut scanned = list(&s, 1, 10, &["x", "y"]);
        scanned.cells[1].timestamp = 12;
        let source = partition(1, vec![row(1, vec![scanned, set(&s, 10, &["a"], Some(4))])]);
        let target = partition(1, vec![row(1, vec![list(&s, 9, 5, &["old"])])]);
        let repair = compare(Some(&source), Some(&target)).1.unwrap();
        let columns = &repair.rows[0].columns;
        assert_eq!(columns[0].complex_deletion.map(|d| d.timestamp), Some(9));
        assert_eq!(columns[0].cells, source.rows[0].columns[0].cells);
        // A deletion of its own is kept as it is.
        assert_eq!(columns[1].complex_deletion.map(|d| d.timestamp), Some(4));
    }

    #[test]
    fn static_rows_are_compared_as_rows_of_their_own() {
        let s = schema();
        let statics = |ts: i64, n: i32| Row {
            columns: vec![simple(
                index(&s, "s"),
                Cell::live(ts, Value::Int(n).to_bytes()),
            )],
            ..Row::default()
        };
        let mut source = partition(1, vec![row(1, vec![v(&s, 10, "a")])]);
        source.static_row = Some(statics(10, 1));
        let mut target = source.clone();
        target.static_row = Some(statics(5, 2));
        let (tally, repair) = compare(Some(&source), Some(&target));
        assert_eq!(counts(&tally), [0, 1, 0, 0, 0]);
        assert_eq!(tally.examples[1], ["k=1, (static)"]);
        let repair = repair.unwrap();
        assert_eq!(repair.static_row, source.static_row);
        assert!(repair.rows.is_empty());
    }

    #[test]
    fn tallies_add_up_with_examples_capped() {
        let mut a = Tally {
            counts: [1, 2, 3, 4, 5],
            columns: vec![(
                "v".into(),
                ColumnCounts {
                    stale: 1,
                    ..Default::default()
                },
            )],
            examples: [vec!["a".into(); 4], vec![], vec![], vec![], vec![]],
            ..Tally::default()
        };
        let b = a.clone();
        a.absorb(b);
        assert_eq!(a.counts, [2, 4, 6, 8, 10]);
        assert_eq!(a.columns[0].1.stale, 2);
        assert_eq!(a.examples[0].len(), EXAMPLES);
        assert_eq!(a.out_of_sync(), 12);
    }
}
