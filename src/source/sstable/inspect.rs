//! `cassbulk inspect DIR`: what a folder of SSTables holds, read without a cluster. The columns
//! come from the serialization header (the key and clustering columns have no names there);
//! the counts from reading every partition, so they are exact and the read checks every chunk's
//! CRC and every row's size on the way.

use std::fmt::Write;
use std::sync::Arc;

use crate::model::schema::ClusteringOrder;
use crate::model::token::{MURMUR3_PARTITIONER, class_short_name};
use crate::model::{ColumnKind, ColumnSchema, CqlType, Partition, TableName, TableSchema};

use super::data::{Partitions, RowPlan};
use super::{SstableError, SstableInput, column_plans, open_data};
use crate::model::marshal;

/// Exact counts over some partitions.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub partitions: u64,
    pub rows: u64,
    pub cells: u64,
    pub expiring: u64,
    pub partition_deletions: u64,
    pub range_deletions: u64,
    pub row_deletions: u64,
    pub collection_deletions: u64,
    pub cell_tombstones: u64,
    pub min_timestamp: Option<i64>,
    pub max_timestamp: Option<i64>,
    pub min_deletion_time: Option<i64>,
    pub max_deletion_time: Option<i64>,
}

impl Counts {
    fn timestamp(&mut self, t: i64) {
        self.min_timestamp = Some(self.min_timestamp.map_or(t, |m| m.min(t)));
        self.max_timestamp = Some(self.max_timestamp.map_or(t, |m| m.max(t)));
    }

    fn deletion_time(&mut self, t: i64) {
        self.min_deletion_time = Some(self.min_deletion_time.map_or(t, |m| m.min(t)));
        self.max_deletion_time = Some(self.max_deletion_time.map_or(t, |m| m.max(t)));
    }

    pub fn add(&mut self, p: &Partition) {
        self.partitions += 1;
        if let Some(d) = p.deletion {
            self.partition_deletions += 1;
            self.timestamp(d.timestamp);
            self.deletion_time(d.local_deletion_time);
        }
        for r in &p.range_deletions {
            self.range_deletions += 1;
            self.timestamp(r.deletion.timestamp);
            self.deletion_time(r.deletion.local_deletion_time);
        }
        for row in p.static_row.iter().chain(&p.rows) {
            self.rows += 1;
            if let Some(l) = row.liveness {
                self.timestamp(l.timestamp);
            }
            if let Some(d) = row.deletion {
                self.row_deletions += 1;
                self.timestamp(d.timestamp);
                self.deletion_time(d.local_deletion_time);
            }
            for column in &row.columns {
                if let Some(d) = column.complex_deletion {
                    self.collection_deletions += 1;
                    self.timestamp(d.timestamp);
                    self.deletion_time(d.local_deletion_time);
                }
                for cell in &column.cells {
                    self.timestamp(cell.timestamp);
                    match cell.liveness {
                        crate::model::Liveness::Live => self.cells += 1,
                        crate::model::Liveness::Expiring {
                            local_deletion_time,
                            ..
                        } => {
                            self.cells += 1;
                            self.expiring += 1;
                            self.deletion_time(local_deletion_time);
                        }
                        crate::model::Liveness::Tombstone {
                            local_deletion_time,
                        } => {
                            self.cell_tombstones += 1;
                            self.deletion_time(local_deletion_time);
                        }
                    }
                }
            }
        }
    }
}

/// A table made from an SSTable's header: key and clustering columns named by position.
fn header_table(input: &SstableInput, name: TableName) -> Result<TableSchema, SstableError> {
    let first = &input.sstables[0];
    let h = &first.header;
    let path = first
        .descriptor
        .component("Statistics.db")
        .display()
        .to_string();
    let key = marshal::parse(&h.key_type).map_err(|reason| SstableError::Component {
        path: path.clone(),
        reason,
    })?;
    let key_types = match key.cql {
        CqlType::Tuple(items) if h.key_type.contains("CompositeType") => items,
        other => vec![other],
    };
    let mut columns: Vec<ColumnSchema> = key_types
        .into_iter()
        .enumerate()
        .map(|(i, cql_type)| ColumnSchema {
            name: format!("(partition key {})", i + 1),
            cql_type,
            kind: ColumnKind::PartitionKey,
        })
        .collect();
    let partition_key_len = columns.len();
    for (i, t) in h.clustering.iter().enumerate() {
        columns.push(ColumnSchema {
            name: format!("(clustering {})", i + 1),
            cql_type: t.cql.clone(),
            kind: ColumnKind::Clustering(if t.reversed {
                ClusteringOrder::Desc
            } else {
                ClusteringOrder::Asc
            }),
        });
    }
    for (list, kind) in [
        (&h.statics, ColumnKind::Static),
        (&h.regulars, ColumnKind::Regular),
    ] {
        for (name, t) in list {
            columns.push(ColumnSchema {
                name: name.clone(),
                cql_type: t.cql.clone(),
                kind,
            });
        }
    }
    Ok(TableSchema {
        name,
        columns,
        partition_key_len,
        clustering_len: h.clustering.len(),
    })
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

/// Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (proleptic Gregorian).
fn utc(micros: i64) -> String {
    let (secs, frac) = (micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn time(micros: Option<i64>) -> String {
    micros.map_or("-".into(), utc)
}

fn seconds(s: Option<i64>) -> String {
    s.map_or("-".into(), |s| utc(s.saturating_mul(1_000_000)))
}

fn counts_lines(out: &mut String, indent: &str, c: &Counts) {
    let _ = writeln!(
        out,
        "{indent}partitions {}, rows {} (static included), live cells {} ({} expiring)",
        c.partitions, c.rows, c.cells, c.expiring
    );
    let _ = writeln!(
        out,
        "{indent}tombstones: partition {}, range {}, row {}, collection {}, cell {} (expired cells included)",
        c.partition_deletions,
        c.range_deletions,
        c.row_deletions,
        c.collection_deletions,
        c.cell_tombstones
    );
    let _ = writeln!(
        out,
        "{indent}write times {} .. {}",
        time(c.min_timestamp),
        time(c.max_timestamp)
    );
    let _ = writeln!(
        out,
        "{indent}local deletion times {} .. {}",
        seconds(c.min_deletion_time),
        seconds(c.max_deletion_time)
    );
}

/// Reads every partition of one SSTable: its counts, and a line on its compression and sizes.
fn scan_one(
    s: &super::Sstable,
    schema: &TableSchema,
    now: i64,
) -> Result<(Counts, String), SstableError> {
    let columns = |list: &[(String, marshal::HeaderType)], kind| {
        column_plans::<std::convert::Infallible>(list, &Default::default(), |name, _| {
            Ok(schema
                .column(name)
                .filter(|(_, c)| c.kind == kind)
                .map(|(i, _)| i))
        })
        .unwrap_or_else(|never| match never {})
    };
    let plan = Arc::new(RowPlan::new(
        &s.header,
        s.layout,
        columns(&s.header.statics, ColumnKind::Static),
        columns(&s.header.regulars, ColumnKind::Regular),
        now,
    ));
    let (name, file) = open_data(&s.descriptor)?;
    let on_disk = file.map.len() as u64;
    let described = match &file.compression {
        Some(c) => format!(
            "{}, {} KiB chunks, Data.db {} ({} uncompressed)",
            c.class.rsplit('.').next().unwrap_or(&c.class),
            c.chunk_length / 1024,
            size(on_disk),
            size(c.data_length)
        ),
        None => format!("uncompressed, Data.db {}", size(on_disk)),
    };
    let mut partitions = Partitions::new(Arc::new(file), plan);
    let mut counts = Counts::default();
    loop {
        match partitions.next_partition() {
            Ok(Some(p)) => counts.add(&p),
            Ok(None) => return Ok((counts, described)),
            Err(damage) => {
                return Err(SstableError::at(name, damage));
            }
        }
    }
}

/// Reads every partition of every SSTable of `input` on this thread (nothing else runs), and
/// counts what they hold: what the reader benchmark measures.
pub fn scan(input: &str) -> Result<Counts, SstableError> {
    let sstables = SstableInput::open(input)?;
    let schema = header_table(&sstables, TableName::parse("bench.scan").unwrap())?;
    let mut total = Counts::default();
    for s in &sstables.sstables {
        merge_counts(&mut total, &scan_one(s, &schema, 0)?.0);
    }
    Ok(total)
}

/// The report `cassbulk inspect DIR` prints.
pub fn inspect(input: &str) -> Result<String, SstableError> {
    // One table's SSTables (refused otherwise), named by their folder or schema.cql.
    let sstables = SstableInput::open(input)?;
    let named = super::table_of(&sstables.sstables[0].descriptor.dir);
    let name = named.clone().unwrap_or(TableName {
        keyspace: "?".into(),
        table: "?".into(),
    });
    let schema = header_table(&sstables, name)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut out = format!("{input}: {}\n", sstables.describe());
    if named.is_none() {
        out.push_str("(no <table>-<id> folder or schema.cql names the table)\n");
    }
    let partitioners: Vec<&str> = sstables
        .partitioners()
        .into_iter()
        .map(class_short_name)
        .collect();
    let _ = writeln!(
        out,
        "partitioner: {}{}",
        partitioners.join(", "),
        if partitioners
            .iter()
            .any(|p| *p != class_short_name(MURMUR3_PARTITIONER))
        {
            " (a load computes every token again with Murmur3Partitioner, the target's)"
        } else {
            ""
        }
    );
    out.push_str(&schema.describe());
    let mut total = Counts::default();
    for s in &sstables.sstables {
        let (counts, described) = scan_one(s, &schema, now)?;
        let _ = writeln!(
            out,
            "{} ({} {}, {}): {described}",
            s.descriptor.component("Data.db").display(),
            s.descriptor.format,
            s.descriptor.version,
            class_short_name(&s.partitioner),
        );
        counts_lines(&mut out, "  ", &counts);
        merge_counts(&mut total, &counts);
    }
    if sstables.sstables.len() > 1 {
        let _ = writeln!(
            out,
            "all {} SSTables (replicas and generations not merged):",
            sstables.sstables.len()
        );
        counts_lines(&mut out, "  ", &total);
    }
    Ok(out)
}

/// The table a snapshot's `schema.cql` creates (`CREATE TABLE [IF NOT EXISTS] ks.table (`).
pub(super) fn snapshot_table_name(dir: &std::path::Path) -> Option<TableName> {
    let cql = std::fs::read_to_string(dir.join("schema.cql")).ok()?;
    let rest = &cql[cql.find("CREATE TABLE ")? + "CREATE TABLE ".len()..];
    let rest = rest.strip_prefix("IF NOT EXISTS ").unwrap_or(rest);
    let name = rest.split(['(', ' ']).next()?;
    TableName::parse(name).ok()
}

fn merge_counts(total: &mut Counts, c: &Counts) {
    total.partitions += c.partitions;
    total.rows += c.rows;
    total.cells += c.cells;
    total.expiring += c.expiring;
    total.partition_deletions += c.partition_deletions;
    total.range_deletions += c.range_deletions;
    total.row_deletions += c.row_deletions;
    total.collection_deletions += c.collection_deletions;
    total.cell_tombstones += c.cell_tombstones;
    for t in [c.min_timestamp, c.max_timestamp].into_iter().flatten() {
        total.timestamp(t);
    }
    for t in [c.min_deletion_time, c.max_deletion_time]
        .into_iter()
        .flatten()
    {
        total.deletion_time(t);
    }
}
