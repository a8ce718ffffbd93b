//! One SSTable (`nb` or `oa`) in a folder: partitions in token order go to Data.db (LZ4-compressed as they
//! come) and Index.db; at the end the rest is written in Cassandra's order (CompressionInfo,
//! Digest, Filter, Summary, Statistics, then TOC last, so a folder with a TOC.txt is whole).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::components::{BloomFilter, Lz4Chunks, Summary, index_entry, murmur3_128, toc};
use super::data::{DataWriter, Encoding, Format, WriteError};
use super::statistics::{Collector, statistics};
use crate::model::{Partition, TableSchema};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SstableWriteError {
    #[error("cannot write {path}: {source} (check the folder's free space and permissions)")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write a partition to {path}: {reason}")]
    Partition { path: String, reason: String },
    #[error(
        "partitions reached the SSTable writer out of token order at {path}; this is a bug in cassbulk, please report it"
    )]
    Order { path: String },
}

/// A big-format SSTable being written.
pub struct SstableWriter {
    format: Format,
    dir: PathBuf,
    prefix: String,
    schema: TableSchema,
    encoding: Encoding,
    data: BufWriter<File>,
    index: BufWriter<File>,
    rows: DataWriter,
    chunks: Lz4Chunks,
    collector: Collector,
    summary: Summary,
    hashes: Vec<(i64, i64)>,
    data_offset: u64,
    index_offset: u64,
    last: Option<(i64, Vec<u8>)>,
    partition: Vec<u8>,
    compressed: Vec<u8>,
    entry: Vec<u8>,
}

impl SstableWriter {
    /// Starts `<version>-<generation>-big-*` in `dir` (which must exist).
    pub fn create(
        dir: &Path,
        generation: u64,
        schema: &TableSchema,
        format: Format,
    ) -> Result<SstableWriter, SstableWriteError> {
        let prefix = format!("{}-{generation}-big-", format.version());
        let open = |component: &str| -> Result<BufWriter<File>, SstableWriteError> {
            let path = dir.join(format!("{prefix}{component}"));
            File::create(&path)
                .map(|f| BufWriter::with_capacity(256 * 1024, f))
                .map_err(|source| SstableWriteError::Io {
                    path: path.display().to_string(),
                    source,
                })
        };
        let encoding = Encoding::NO_STATS;
        Ok(SstableWriter {
            format,
            data: open("Data.db")?,
            index: open("Index.db")?,
            dir: dir.to_path_buf(),
            prefix,
            schema: schema.clone(),
            encoding,
            rows: DataWriter::new(schema, encoding, format),
            chunks: Lz4Chunks::default(),
            collector: Collector::default(),
            summary: Summary::default(),
            hashes: Vec::new(),
            data_offset: 0,
            index_offset: 0,
            last: None,
            partition: Vec::new(),
            compressed: Vec::new(),
            entry: Vec::new(),
        })
    }

    fn path(&self, component: &str) -> PathBuf {
        self.dir.join(format!("{}{component}", self.prefix))
    }

    /// The error for `component`; its path is formatted only when there is an error.
    fn io<'a>(&'a self, component: &'a str) -> impl Fn(std::io::Error) -> SstableWriteError + 'a {
        move |source| SstableWriteError::Io {
            path: self.path(component).display().to_string(),
            source,
        }
    }

    /// Bytes of Data.db written so far, uncompressed.
    pub fn data_length(&self) -> u64 {
        self.data_offset
    }

    /// Partitions written so far.
    pub fn partitions(&self) -> usize {
        self.hashes.len()
    }

    /// Appends a partition; partitions must come in token order, then key bytes.
    pub fn append(&mut self, partition: &Partition) -> Result<(), SstableWriteError> {
        let here = (partition.token.0, partition.key.as_slice());
        if let Some((token, key)) = &self.last
            && (*token, key.as_slice()) >= here
        {
            return Err(SstableWriteError::Order {
                path: self.path("Data.db").display().to_string(),
            });
        }
        self.partition.clear();
        self.rows
            .write(partition, &mut self.partition)
            .map_err(|WriteError(reason)| SstableWriteError::Partition {
                path: self.path("Data.db").display().to_string(),
                reason,
            })?;
        self.entry.clear();
        index_entry(&partition.key, self.data_offset, &mut self.entry);
        self.index
            .write_all(&self.entry)
            .map_err(self.io("Index.db"))?;
        self.summary.add(&partition.key, self.index_offset);
        self.index_offset += self.entry.len() as u64;
        self.collector
            .partition(partition, self.partition.len() as u64);
        self.hashes.push(murmur3_128(&partition.key));
        self.compressed.clear();
        self.chunks.push(&self.partition, &mut self.compressed);
        self.data
            .write_all(&self.compressed)
            .map_err(self.io("Data.db"))?;
        self.data_offset += self.partition.len() as u64;
        self.last = Some((partition.token.0, partition.key.clone()));
        Ok(())
    }

    /// Writes the remaining components; returns the Data.db path.
    pub fn finish(mut self) -> Result<PathBuf, SstableWriteError> {
        self.compressed.clear();
        let chunks = std::mem::take(&mut self.chunks);
        let (info, digest, ratio) = chunks.finish(&mut self.compressed);
        self.data
            .write_all(&self.compressed)
            .map_err(self.io("Data.db"))?;
        self.data.flush().map_err(self.io("Data.db"))?;
        self.index.flush().map_err(self.io("Index.db"))?;
        let mut filter = BloomFilter::new(self.hashes.len() as u64);
        for &(h1, h2) in &self.hashes {
            filter.add_hashes(h1, h2);
        }
        let stats = statistics(
            &self.schema,
            self.encoding,
            &self.collector,
            ratio,
            self.format,
            self.summary.bounds(),
        );
        let files: [(&str, Vec<u8>); 6] = [
            ("CompressionInfo.db", info),
            ("Digest.crc32", digest.to_string().into_bytes()),
            ("Filter.db", filter.to_bytes()),
            ("Summary.db", self.summary.to_bytes()),
            ("Statistics.db", stats),
            ("TOC.txt", toc(true).into_bytes()),
        ];
        for (component, bytes) in files {
            std::fs::write(self.path(component), bytes).map_err(self.io(component))?;
        }
        Ok(self.path("Data.db"))
    }
}
