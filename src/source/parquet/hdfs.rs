//! Parquet files on HDFS, through the pure-Rust `hdfs-native` client (no JVM): listing a folder
//! and reading byte ranges of a file, so the Parquet reader fetches only the footer and the
//! column chunks it decodes. The client reads `HADOOP_CONF_DIR` (or `$HADOOP_HOME/etc/hadoop`)
//! for name services, HA and Kerberos, as Hadoop's own tools do.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use hdfs_native::HdfsError;
use hdfs_native::sync::{Client, ClientBuilder, FileReader};
use parquet::file::reader::{ChunkReader, Length};

use super::discover::{MAGIC, Markers, kept, parquet_name};

/// How much a sequential reader fetches at a time.
const READ_AHEAD: usize = 1 << 20;

/// Runs `f` on a thread outside any Tokio runtime: the blocking HDFS client runs a runtime of its
/// own, which Tokio refuses to start (or drop) from inside another one.
pub(crate) fn outside_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// A connection to one HDFS file system.
pub(crate) struct Hdfs {
    client: Client,
    /// `hdfs://namenode:8020`, to name files in messages.
    file_system: String,
}

/// One listed file: its absolute path on the file system and its length.
pub(crate) struct Listed {
    pub path: String,
    pub length: u64,
}

impl Hdfs {
    pub(crate) fn connect(file_system: &str) -> Result<Hdfs, HdfsError> {
        let client = ClientBuilder::new().with_url(file_system).build()?;
        Ok(Hdfs {
            client,
            file_system: file_system.to_owned(),
        })
    }

    /// The URL of a path on this file system.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.file_system)
    }

    /// The file at `path`, or every kept Parquet file below the folder at `path`, in path
    /// order; with the files passed over as not Parquet.
    pub(crate) fn list(
        &self,
        path: &str,
    ) -> Result<(Vec<Listed>, Vec<Listed>, Markers), HdfsError> {
        let status = self.client.get_file_info(path)?;
        let mut markers = Markers::default();
        if !status.isdir {
            let folder = status
                .path
                .rsplit_once('/')
                .map_or("/", |(d, _)| d)
                .to_owned();
            self.markers_in(&folder, &mut markers);
            self.markers_above(&folder, &mut markers);
            let file = Listed {
                path: status.path,
                length: status.length as u64,
            };
            return Ok((vec![file], Vec::new(), markers));
        }
        let root = status.path.trim_end_matches('/').to_owned();
        self.markers_above(&root, &mut markers);
        let listed = self.client.list_status(path, true)?;
        for s in &listed {
            if let Some((folder, name)) = s.path.rsplit_once('/')
                && kept(folder.strip_prefix(&root).unwrap_or(folder))
            {
                markers.note(folder, name, s.isdir);
            }
        }
        let mut files: Vec<Listed> = listed
            .into_iter()
            .filter(|s| !s.isdir)
            .filter(|s| kept(s.path.strip_prefix(&root).unwrap_or(&s.path)))
            .map(|s| Listed {
                path: s.path,
                length: s.length as u64,
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let mut parquet = Vec::with_capacity(files.len());
        let mut other = Vec::new();
        for file in files {
            let name = file.path.rsplit('/').next().unwrap_or_default();
            if parquet_name(name) || self.starts_with_magic(&file)? {
                parquet.push(file);
            } else {
                other.push(file);
            }
        }
        Ok((parquet, other, markers))
    }

    /// Records the markers in `folder` itself.
    fn markers_in(&self, folder: &str, markers: &mut Markers) {
        for marker in ["_SUCCESS", "_temporary"] {
            if let Ok(status) = self.client.get_file_info(&format!("{folder}/{marker}")) {
                markers.note(folder, marker, status.isdir);
            }
        }
    }

    /// Records the markers above `folder` while it is a partition folder (`key=value`).
    fn markers_above(&self, folder: &str, markers: &mut Markers) {
        let mut folder = folder.trim_end_matches('/');
        while let Some((parent, name)) = folder.rsplit_once('/') {
            if !name.contains('=') || parent.is_empty() {
                return;
            }
            self.markers_in(parent, markers);
            folder = parent;
        }
    }

    fn starts_with_magic(&self, file: &Listed) -> Result<bool, HdfsError> {
        if file.length < MAGIC.len() as u64 {
            return Ok(false);
        }
        let head = self.client.read(&file.path)?.read_range(0, MAGIC.len())?;
        Ok(head.as_ref() == MAGIC)
    }

    pub(crate) fn open(&self, listed: &Listed) -> Result<HdfsFile, HdfsError> {
        Ok(HdfsFile {
            reader: Arc::new(self.client.read(&listed.path)?),
            len: listed.length,
        })
    }
}

/// An open HDFS file that the Parquet reader reads by ranges; cheap to clone and share between
/// decoding threads.
#[derive(Clone)]
pub(crate) struct HdfsFile {
    reader: Arc<FileReader>,
    len: u64,
}

fn parquet_error(e: HdfsError) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}

impl Length for HdfsFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for HdfsFile {
    type T = RangeReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RangeReader> {
        Ok(RangeReader {
            file: self.clone(),
            pos: start,
            buf: Bytes::new(),
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.reader
            .read_range(start as usize, length)
            .map_err(parquet_error)
    }
}

/// Reads an HDFS file sequentially from an offset, a megabyte at a time.
pub(crate) struct RangeReader {
    file: HdfsFile,
    pos: u64,
    buf: Bytes,
}

impl Read for RangeReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            let left = self.file.len.saturating_sub(self.pos);
            if left == 0 || out.is_empty() {
                return Ok(0);
            }
            let want = READ_AHEAD.min(usize::try_from(left).unwrap_or(usize::MAX));
            self.buf = self
                .file
                .reader
                .read_range(self.pos as usize, want)
                .map_err(std::io::Error::other)?;
            self.pos += self.buf.len() as u64;
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}
