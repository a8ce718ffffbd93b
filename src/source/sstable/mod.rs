//! SSTables as a source: the folders of an old cluster's tables (`<ks>/<table>-<id>/`, a
//! snapshot or backups folder, or a folder holding several nodes' copies), read without a
//! cluster, every cell with its own write time, TTL and tombstones. Replicas' copies of the
//! same partition are merged by the partition builder like any other inputs, so each cell is
//! written once.
//!
//! Opening reads every SSTable's `Statistics.db` header (the columns and their types as
//! written); planning matches them to the target table (by name; columns since dropped are read
//! and left out, and so are cells older than a drop of their column that a snapshot's
//! `schema.cql` records (`dropped.rs`), when a column of that name was added again; a type that
//! differs is refused); reading decodes `Data.db` (`data.rs`) chunk by
//! chunk (`compression.rs`), checking every chunk's CRC32 and every row's size: a damaged or
//! truncated file stops the load with the file and byte offset.

mod ahead;
mod compression;
mod data;
mod descriptor;
mod dropped;
mod index;
mod inspect;
mod seam;
mod statistics;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use thiserror::Error;

use crate::model::marshal;
use crate::model::{ColumnKind, CqlType, TableSchema};
use crate::plan::MappingOptions;

use crate::model::token::class_short_name;
use data::{ColumnPlan, DataFile, Partitions, RowPlan};
use descriptor::{Descriptor, Layout};
use statistics::Header;

pub use inspect::{Counts, inspect, scan};

/// CompressionInfo.db parsed, for the SSTable writer's tests.
#[cfg(test)]
pub(crate) fn parse_compression_info(
    bytes: &[u8],
    file_length: u64,
) -> Result<compression::CompressionInfo, String> {
    compression::CompressionInfo::parse(bytes, file_length, true)
}
pub use seam::KIND;

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SstableError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{input}: no SSTables found (a table folder, its snapshots/<tag> or backups folder, or a folder of such folders, holding *-Data.db files)"
    )]
    NoSstables { input: String },
    #[error("{path}: {reason}")]
    Unsupported { path: String, reason: String },
    #[error(
        "{path} is damaged: {reason}; the SSTable cannot be read: restore it from another replica or a backup, or leave it out"
    )]
    Component { path: String, reason: String },
    #[error(
        "{path} is damaged at byte {offset} of its data: {reason}; nothing was loaded: restore it from another replica or a backup, or leave it out"
    )]
    Damaged {
        path: String,
        offset: u64,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Schema { path: String, reason: String },
    #[error(
        "{path}, at byte {offset} of its data: {reason}; the load stopped there (what came before it in token order may be written: the same command loads it again, unchanged)"
    )]
    Unfit {
        path: String,
        offset: u64,
        reason: String,
    },
    #[error(
        "{flag} does not apply to SSTables: they carry every cell's own write time and TTL, and the table's own column names"
    )]
    Flag { flag: &'static str },
    #[error(
        "{input} holds SSTables of more than one table: {first} and {other}; give each table's folders as the input of its own load"
    )]
    MixedTables {
        input: String,
        first: String,
        other: String,
    },
    #[error(transparent)]
    OutOfOrder(#[from] crate::merge::streams::OutOfOrder),
    #[error(
        "{table} is a counter table: counters cannot be migrated by writes (a counter only adds); use nodetool import or sstableloader for counter tables"
    )]
    Counter { table: String },
}

impl SstableError {
    /// Reading `path` stopped at `damage`.
    fn at(path: String, damage: data::Damage) -> SstableError {
        let data::Damage {
            offset,
            reason,
            unfit,
        } = damage;
        if unfit {
            SstableError::Unfit {
                path,
                offset,
                reason,
            }
        } else {
            SstableError::Damaged {
                path,
                offset,
                reason,
            }
        }
    }
}

/// One SSTable, found and its header read, with the drops its snapshot's `schema.cql` records.
struct Sstable {
    descriptor: Descriptor,
    layout: Layout,
    /// The partitioner's class name, from Statistics.db.
    partitioner: String,
    header: Header,
    /// The newest write in it, from Statistics.db.
    max_timestamp: Option<i64>,
    dropped: Arc<dropped::Dropped>,
}

/// Why SSTables written under `partitioner` cannot be loaded; `None` when they can. Every token
/// is computed again from the partition key for the target, so a table's partitioner does not
/// matter; a `LocalPartitioner` marks a secondary index's or a system table's SSTables.
fn partitioner_refusal(partitioner: &str) -> Option<String> {
    (class_short_name(partitioner) == "LocalPartitioner").then(|| {
        "written under LocalPartitioner: these are a secondary index's or a system table's SSTables, not a table's; load the base table's folder (its index is rebuilt by the target)".to_owned()
    })
}

/// The table an SSTable's folder belongs to, from the data folder's layout
/// (`<keyspace>/<table>-<32 hex id>/`, or a snapshot or backups folder inside it), else from a
/// snapshot's `schema.cql`.
fn table_of(dir: &Path) -> Option<crate::model::TableName> {
    let table_dir = dir.ancestors().find(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.len() > 33 && n.as_bytes()[n.len() - 33] == b'-')
    });
    table_dir
        .and_then(|d| {
            let table = d.file_name()?.to_str()?;
            let keyspace = d.parent()?.file_name()?.to_str()?;
            Some(crate::model::TableName {
                keyspace: keyspace.to_owned(),
                table: table[..table.len() - 33].to_owned(),
            })
        })
        .or_else(|| inspect::snapshot_table_name(dir))
}

/// The drops recorded in `dir/schema.cql` (none when there is no such file).
fn dropped_in(dir: &Path) -> Result<dropped::Dropped, SstableError> {
    let path = dir.join("schema.cql");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(dropped::parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(dropped::Dropped::new()),
        Err(source) => Err(SstableError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The SSTables of one input.
pub struct SstableInput {
    sstables: Vec<Sstable>,
    /// `--merge sort`: through the partition builder even when the SSTables could be merged
    /// as streams.
    sort_always: bool,
    /// SSTables left unread by `--since`: every write in them is older.
    older_than_since: usize,
}

impl SstableInput {
    /// Leaves out, unread, the SSTables whose newest write (Statistics.db) is older than
    /// `since`: `--since` would leave out all they hold.
    fn skip_older_than(&mut self, since: i64) {
        let before = self.sstables.len();
        self.sstables
            .retain(|s| s.max_timestamp.is_none_or(|newest| newest >= since));
        self.older_than_since += before - self.sstables.len();
    }
}

/// Every `*-Data.db` under `dir`: its own, or else those of its subfolders (a folder of
/// nodes' table folders); a table folder's `snapshots/` and `backups/` are not searched when
/// the folder has SSTables of its own (they hold copies of the same data).
fn find(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut own = Vec::new();
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            folders.push(path);
        } else if Descriptor::from_data_file(&path).is_some() {
            own.push(path);
        }
    }
    own.sort();
    folders.sort();
    let has_own = !own.is_empty();
    out.extend(own);
    if depth < 4 {
        for folder in folders {
            let name = folder.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if has_own && (name == "snapshots" || name == "backups") {
                continue;
            }
            find(&folder, depth + 1, out)?;
        }
    }
    Ok(())
}

/// Refuses SSTables of more than one table in one input, naming two of them: their partitions
/// would be summed or loaded into one table. Tables are told apart by their folders' names
/// (replicas' folders of one table differ only in the table id) and, where a folder does not
/// say, by the partition key and clustering types.
fn refuse_mixed_tables(input: &str, sstables: &[Sstable]) -> Result<(), SstableError> {
    let shape = |s: &Sstable| (s.header.key_type.clone(), s.header.clustering.clone());
    let first = &sstables[0];
    let first_table = table_of(&first.descriptor.dir);
    for s in &sstables[1..] {
        let table = table_of(&s.descriptor.dir);
        let differs = match (&first_table, &table) {
            (Some(a), Some(b)) => a != b,
            _ => shape(first) != shape(s),
        };
        if differs {
            let name = |t: &Option<crate::model::TableName>, s: &Sstable| match t {
                Some(t) => format!("{t} ({})", s.descriptor.dir.display()),
                None => s.descriptor.dir.display().to_string(),
            };
            return Err(SstableError::MixedTables {
                input: input.to_owned(),
                first: name(&first_table, first),
                other: name(&table, s),
            });
        }
    }
    Ok(())
}

/// Whether `input` is an SSTable's Data.db or a folder with SSTables in it.
pub(crate) fn looks_like_sstables(input: &str) -> bool {
    let path = Path::new(input);
    if path.is_file() {
        return Descriptor::from_data_file(path).is_some();
    }
    let mut found = Vec::new();
    path.is_dir() && find(path, 0, &mut found).is_ok() && !found.is_empty()
}

impl SstableInput {
    /// Finds the SSTables of `input` and reads their headers.
    pub fn open(input: &str) -> Result<SstableInput, SstableError> {
        let path = Path::new(input);
        let mut files = Vec::new();
        if path.is_file() {
            files.push(path.to_path_buf());
        } else {
            find(path, 0, &mut files).map_err(|source| SstableError::Io {
                path: input.to_owned(),
                source,
            })?;
        }
        let mut sstables = Vec::new();
        let mut drops: std::collections::HashMap<PathBuf, Arc<dropped::Dropped>> =
            std::collections::HashMap::new();
        for file in files {
            let descriptor =
                Descriptor::from_data_file(&file).ok_or_else(|| SstableError::NoSstables {
                    input: input.to_owned(),
                })?;
            let layout = descriptor
                .layout()
                .map_err(|reason| SstableError::Unsupported {
                    path: file.display().to_string(),
                    reason,
                })?;
            let stats = descriptor.component("Statistics.db");
            let bytes = std::fs::read(&stats).map_err(|source| SstableError::Io {
                path: stats.display().to_string(),
                source,
            })?;
            let statistics::Statistics {
                partitioner,
                header,
                max_timestamp,
            } = statistics::read(&bytes, descriptor.has_metadata_checksum()).map_err(|reason| {
                SstableError::Component {
                    path: stats.display().to_string(),
                    reason,
                }
            })?;
            let dropped = match drops.get(&descriptor.dir) {
                Some(d) => d.clone(),
                None => {
                    let d = Arc::new(dropped_in(&descriptor.dir)?);
                    drops.insert(descriptor.dir.clone(), d.clone());
                    d
                }
            };
            sstables.push(Sstable {
                descriptor,
                layout,
                partitioner,
                header,
                max_timestamp,
                dropped,
            });
        }
        if sstables.is_empty() {
            return Err(SstableError::NoSstables {
                input: input.to_owned(),
            });
        }
        for s in &sstables {
            if let Some(reason) = partitioner_refusal(&s.partitioner) {
                return Err(SstableError::Unsupported {
                    path: s.descriptor.component("Data.db").display().to_string(),
                    reason,
                });
            }
        }
        refuse_mixed_tables(input, &sstables)?;
        Ok(SstableInput {
            sstables,
            sort_always: false,
            older_than_since: 0,
        })
    }

    /// The partitioners the SSTables were written under (class names, each once).
    pub fn partitioners(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .sstables
            .iter()
            .map(|s| s.partitioner.as_str())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    pub fn describe(&self) -> String {
        let mut versions: Vec<&str> = self
            .sstables
            .iter()
            .map(|s| s.descriptor.version.as_str())
            .collect();
        versions.sort();
        versions.dedup();
        let bytes: u64 = self
            .sstables
            .iter()
            .filter_map(|s| std::fs::metadata(s.descriptor.component("Data.db")).ok())
            .map(|m| m.len())
            .sum();
        format!(
            "{} SSTable{} ({}), {:.1} MiB of Data.db",
            self.sstables.len(),
            if self.sstables.len() == 1 { "" } else { "s" },
            versions.join(", "),
            bytes as f64 / (1024.0 * 1024.0)
        )
    }

    /// Matches every SSTable's header to the target table.
    fn plan(
        &self,
        schema: &TableSchema,
        mapping: &MappingOptions,
        now: i64,
    ) -> Result<Vec<Arc<RowPlan>>, SstableError> {
        if let Some(flag) = mapping.row_source_flag() {
            return Err(SstableError::Flag { flag });
        }
        if schema
            .columns
            .iter()
            .any(|c| c.cql_type == CqlType::Native(crate::model::NativeType::Counter))
        {
            return Err(SstableError::Counter {
                table: schema.name.to_string(),
            });
        }
        self.sstables
            .iter()
            .map(|s| plan_sstable(s, schema, now).map(Arc::new))
            .collect()
    }
}

fn plan_sstable(s: &Sstable, schema: &TableSchema, now: i64) -> Result<RowPlan, SstableError> {
    let path = s
        .descriptor
        .component("Statistics.db")
        .display()
        .to_string();
    let mismatch = |reason: String| SstableError::Schema {
        path: path.clone(),
        reason,
    };
    let header = &s.header;
    // The partition key and clustering must be the table's.
    let key = marshal::parse(&header.key_type).map_err(|e| mismatch(e.to_string()))?;
    let key_types: Vec<CqlType> = match key.cql {
        CqlType::Tuple(items) if schema.partition_key_len > 1 => items,
        other => vec![other],
    };
    let table_key: Vec<&CqlType> = schema.partition_key().iter().map(|c| &c.cql_type).collect();
    if key_types.len() != table_key.len()
        || key_types
            .iter()
            .zip(&table_key)
            .any(|(a, b)| !compatible(a, b))
    {
        return Err(mismatch(format!(
            "its partition key ({}) is not {}'s",
            header.key_type, schema.name
        )));
    }
    let clustering = schema.clustering();
    // A static compact table (its CQL columns stored as statics, behind a hidden `column1`
    // clustering column) read into a table with neither clustering nor static columns: the
    // shape CQL gave it before DROP COMPACT STORAGE. Its static rows become the table's rows.
    let static_as_row = header.clustering.len() == 1
        && clustering.is_empty()
        && !header.statics.is_empty()
        && !schema.columns.iter().any(|c| c.kind == ColumnKind::Static);
    if !static_as_row && header.clustering.len() != clustering.len()
        || header
            .clustering
            .iter()
            .zip(clustering)
            .any(|(h, c)| !compatible(&h.cql, &c.cql_type))
    {
        return Err(mismatch(format!(
            "its clustering columns are not {}'s ({} in the SSTable, {} in the table)",
            schema.name,
            header.clustering.len(),
            clustering.len()
        )));
    }
    let columns = |list: &[(String, marshal::HeaderType)], kind: ColumnKind| {
        let list = as_the_schema_has_them(list, schema);
        let target_kind = match kind {
            ColumnKind::Static if static_as_row => ColumnKind::Regular,
            k => k,
        };
        column_plans(&list, &s.dropped, |name, ty| match schema.column(name) {
            Some((i, c)) if c.kind == target_kind => {
                if compatible(&ty.cql, &c.cql_type) {
                    Ok(Some(i))
                } else {
                    Err(mismatch(format!(
                        "column {name} is {} in the SSTable but {} in {}; a column whose type changed cannot be loaded",
                        ty.cql, c.cql_type, schema.name
                    )))
                }
            }
            Some(_) => Err(mismatch(format!(
                "column {name} is static in one of the SSTable and {} but not the other",
                schema.name
            ))),
            // Dropped since: read and left out.
            None => Ok(None),
        })
    };
    let statics = columns(&header.statics, ColumnKind::Static)?;
    let mut regulars = columns(&header.regulars, ColumnKind::Regular)?;
    // A dense compact table without a value column keeps a hidden, always empty `value`: where
    // the target has no such column, its cell is what says the row exists.
    let regular_list = as_the_schema_has_them(&header.regulars, schema);
    for (plan, (_, ty)) in regulars.iter_mut().zip(sorted_columns(&regular_list)) {
        plan.marks_row = plan.target.is_none() && ty.name.ends_with("EmptyType");
    }
    let mut plan = RowPlan::new(header, s.layout, statics, regulars, now);
    plan.static_as_row = static_as_row;
    Ok(plan)
}

/// Header columns with the frozenness the schema gives them. Cassandra 3.0 wrote a frozen UDT
/// as a bare `UserType(...)`, which from 3.6 on names a non-frozen one; Cassandra itself takes
/// simple or complex from the schema, and so does this reader.
fn as_the_schema_has_them(
    list: &[(String, marshal::HeaderType)],
    schema: &TableSchema,
) -> Vec<(String, marshal::HeaderType)> {
    list.iter()
        .map(|(name, ty)| {
            let mut ty = ty.clone();
            if let (CqlType::Udt { def, frozen: false }, Some((_, column))) =
                (&ty.cql, schema.column(name))
                && let CqlType::Udt { frozen: true, .. } = &column.cql_type
            {
                ty.cql = CqlType::Udt {
                    def: def.clone(),
                    frozen: true,
                };
            }
            (name.clone(), ty)
        })
        .collect()
}

/// Header columns in Cassandra's serialization order (see [`column_plans`]).
fn sorted_columns(list: &[(String, marshal::HeaderType)]) -> Vec<&(String, marshal::HeaderType)> {
    let mut sorted: Vec<_> = list.iter().collect();
    sorted.sort_by(|a, b| {
        (a.1.cql.is_multi_cell(), a.0.as_bytes()).cmp(&(b.1.cql.is_multi_cell(), b.0.as_bytes()))
    });
    sorted
}

/// Whether values written as type `a` read correctly as type `b`: the same type, except that
/// user types may live in another keyspace (a migration may rename it).
fn compatible(a: &CqlType, b: &CqlType) -> bool {
    match (a, b) {
        (CqlType::Udt { def: x, frozen: f }, CqlType::Udt { def: y, frozen: g }) => {
            f == g
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(&y.fields)
                    .all(|((n, s), (m, t))| n == m && compatible(s, t))
        }
        (CqlType::List { elem: x, frozen: f }, CqlType::List { elem: y, frozen: g })
        | (CqlType::Set { elem: x, frozen: f }, CqlType::Set { elem: y, frozen: g }) => {
            f == g && compatible(x, y)
        }
        (
            CqlType::Map {
                key: k1,
                value: v1,
                frozen: f,
            },
            CqlType::Map {
                key: k2,
                value: v2,
                frozen: g,
            },
        ) => f == g && compatible(k1, k2) && compatible(v1, v2),
        (CqlType::Tuple(x), CqlType::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(s, t)| compatible(s, t))
        }
        _ => a == b,
    }
}

/// An SSTable's Data.db, mapped, with its CompressionInfo.db if it has one; and its path.
fn open_data(descriptor: &Descriptor) -> Result<(String, DataFile), SstableError> {
    let path = descriptor.component("Data.db");
    let name = path.display().to_string();
    let io = |source| SstableError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    // SAFETY: the file is only read; SSTables are immutable once written (a snapshot's are
    // hard links Cassandra never rewrites).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    let info_path = descriptor.component("CompressionInfo.db");
    let compression = match std::fs::read(&info_path) {
        Ok(bytes) => Some(
            compression::CompressionInfo::parse(
                &bytes,
                map.len() as u64,
                descriptor.has_max_compressed_length(),
            )
            .map_err(|reason| SstableError::Component {
                path: info_path.display().to_string(),
                reason,
            })?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(SstableError::Io {
                path: info_path.display().to_string(),
                source,
            });
        }
    };
    Ok((name, DataFile { map, compression }))
}

/// Header columns as the reader plans them, in Cassandra's serialization order: simple
/// before complex, then by name's bytes. `target` says where each goes in the table;
/// `dropped`, when a column of its name was last dropped.
fn column_plans<E>(
    list: &[(String, marshal::HeaderType)],
    dropped: &dropped::Dropped,
    mut target: impl FnMut(&str, &marshal::HeaderType) -> Result<Option<usize>, E>,
) -> Result<Vec<ColumnPlan>, E> {
    let mut plans = Vec::with_capacity(list.len());
    for (name, ty) in list {
        let plan = ColumnPlan::new(&ty.cql, target(name, ty)?, dropped.get(name).copied());
        plans.push((ty.cql.is_multi_cell(), name.as_bytes(), plan));
    }
    plans.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    Ok(plans.into_iter().map(|(_, _, p)| p).collect())
}

/// An SSTable with the plan to read it by.
type PlannedSstable = (Descriptor, Arc<RowPlan>);

/// Reads every partition of every SSTable of a planned input, in turn (or, for a token slice,
/// those that start within each SSTable's byte range of it).
struct Reader {
    sstables: Vec<(Descriptor, Arc<RowPlan>)>,
    /// Each SSTable's `[start, end)` of uncompressed data, when reading a token slice.
    ranges: Option<Vec<(u64, u64)>>,
    next: usize,
    /// The current SSTable's partitions, and where in its data they began.
    current: Option<(String, Partitions, u64)>,
    read: Arc<std::sync::atomic::AtomicU64>,
    done_bytes: u64,
    failed: bool,
}

impl Reader {
    fn new(
        sstables: Vec<(Descriptor, Arc<RowPlan>)>,
        read: Arc<std::sync::atomic::AtomicU64>,
    ) -> Reader {
        Reader {
            sstables,
            ranges: None,
            next: 0,
            current: None,
            read,
            done_bytes: 0,
            failed: false,
        }
    }

    /// One SSTable's partitions that start in `[start, end)` of its uncompressed data.
    fn between(
        sstable: PlannedSstable,
        (start, end): (u64, u64),
        read: Arc<std::sync::atomic::AtomicU64>,
    ) -> Reader {
        Reader {
            ranges: Some(vec![(start, end)]),
            ..Reader::new(vec![sstable], read)
        }
    }

    fn open_next(&mut self) -> Result<bool, SstableError> {
        let Some((descriptor, plan)) = self.sstables.get(self.next) else {
            return Ok(false);
        };
        let range = self.ranges.as_ref().and_then(|r| r.get(self.next).copied());
        self.next += 1;
        let (name, file) = open_data(descriptor)?;
        let file = Arc::new(file);
        let (partitions, start) = match range {
            None => (Partitions::new(file, plan.clone()), 0),
            Some((start, end)) => (
                Partitions::between(file, plan.clone(), start, end)
                    .map_err(|damage| SstableError::at(name.clone(), damage))?,
                start,
            ),
        };
        self.current = Some((name, partitions, start));
        Ok(true)
    }
}

impl Iterator for Reader {
    type Item = Result<crate::model::Partition, SstableError>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::sync::atomic::Ordering;
        if self.failed {
            return None;
        }
        loop {
            if let Some((name, partitions, start)) = &mut self.current {
                match partitions.next_partition() {
                    Ok(Some(p)) => {
                        let read = self.done_bytes + (partitions.offset() - *start);
                        self.read.store(read, Ordering::Relaxed);
                        return Some(Ok(p));
                    }
                    Ok(None) => {
                        self.done_bytes += partitions.offset() - *start;
                        self.current = None;
                    }
                    Err(damage) => {
                        self.failed = true;
                        return Some(Err(SstableError::at(name.clone(), damage)));
                    }
                }
            }
            match self.open_next() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads the SSTables of an input on up to `workers` threads, each its share of the files
/// (the largest first, each to the least loaded), partitions handed over in batches; the
/// partition builder does not mind their order. `read` gets each worker's progress counter.
fn read_parallel(
    sstables: Vec<PlannedSstable>,
    workers: usize,
    sizes: &[u64],
) -> (
    impl Iterator<Item = Result<crate::model::Partition, SstableError>> + Send + 'static,
    Vec<Arc<std::sync::atomic::AtomicU64>>,
) {
    const BATCH: usize = 256;
    let workers = workers.clamp(1, sstables.len().max(1));
    let mut order: Vec<usize> = (0..sstables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes.get(i).copied().unwrap_or(0)));
    let mut shares: Vec<(u64, Vec<PlannedSstable>)> =
        (0..workers).map(|_| (0, Vec::new())).collect();
    for i in order {
        let least = (0..workers).min_by_key(|&w| shares[w].0).unwrap_or(0);
        shares[least].0 += sizes.get(i).copied().unwrap_or(0);
        shares[least].1.push(sstables[i].clone());
    }
    let (tx, rx) = crossbeam_channel::bounded::<Result<Vec<_>, SstableError>>(workers * 2);
    let mut counters = Vec::with_capacity(workers);
    for (n, (_, share)) in shares.into_iter().enumerate() {
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        counters.push(read.clone());
        let worker = tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("sstable-read-{n}"))
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                for partition in Reader::new(share, read) {
                    match partition {
                        Ok(p) => {
                            batch.push(p);
                            if batch.len() == BATCH {
                                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                                if worker.send(Ok(full)).is_err() {
                                    return; // the load stopped reading
                                }
                            }
                        }
                        Err(e) => {
                            let _ = worker.send(Ok(batch));
                            let _ = worker.send(Err(e));
                            return;
                        }
                    }
                }
                let _ = worker.send(Ok(batch));
            });
        if let Err(e) = spawned {
            let _ = tx.send(Err(SstableError::Io {
                path: "a reader thread".into(),
                source: e,
            }));
        }
    }
    drop(tx);
    let mut failed = false;
    let events = rx
        .into_iter()
        .take_while(move |r| {
            let go = !failed;
            failed |= r.is_err();
            go
        })
        .flat_map(|r| match r {
            Ok(batch) => batch.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        });
    (events, counters)
}

#[cfg(test)]
pub(crate) mod tests;

/// What the SSTable writer's tests (`sink/sstable/tests.rs`) read SSTables with.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::model::Partition;

    /// One SSTable read as written: expiring cells keep their own TTL and never expire.
    pub struct AsWritten {
        pub version: String,
        /// oa's layout (oa, and BTI da whose Data.db is oa's).
        pub oa: bool,
        pub min_timestamp: i64,
        pub min_local_deletion_time: i64,
        pub min_ttl: i64,
        pub partitions: Vec<Partition>,
        /// Data.db uncompressed.
        pub data: Vec<u8>,
        pub compressed: bool,
    }

    /// Every SSTable under `dir`, in file order.
    pub fn read_as_written(dir: &str, schema: &TableSchema) -> Vec<AsWritten> {
        let input = SstableInput::open(dir).unwrap();
        input
            .sstables
            .iter()
            .map(|s| {
                let mut plan = plan_sstable(s, schema, 0).unwrap();
                plan.as_written = true;
                let file = Arc::new(open_data(&s.descriptor).unwrap().1);
                let compressed = file.compression.is_some();
                let data = match &file.compression {
                    None => file.map.to_vec(),
                    Some(info) => {
                        let mut out = Vec::new();
                        let mut chunk = Vec::new();
                        for i in 0..info.offsets.len() {
                            info.chunk(&file.map, i, &mut chunk).unwrap();
                            out.extend_from_slice(&chunk);
                        }
                        out
                    }
                };
                let mut reader = data::Partitions::new(file, Arc::new(plan));
                let mut partitions = Vec::new();
                while let Some(p) = reader.next_partition().unwrap() {
                    partitions.push(p);
                }
                AsWritten {
                    version: s.descriptor.version.clone(),
                    oa: s.layout == Layout::Oa,
                    min_timestamp: s.header.min_timestamp,
                    min_local_deletion_time: s.header.min_local_deletion_time,
                    min_ttl: s.header.min_ttl,
                    partitions,
                    data,
                    compressed,
                }
            })
            .collect()
    }
}
