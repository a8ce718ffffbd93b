//! Finding the Parquet files of an input: one file, or every file under a folder except what
//! Hadoop, Spark and Hive leave beside the data (`_SUCCESS`, `_temporary/`, `_metadata`,
//! `.crc` checksums: any name starting with `_` or `.`), and reading Hive-style `key=value`
//! folder names into partition values.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Hive's folder name for a NULL partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// True for names a folder walk skips: hidden files and `_`-prefixed markers and folders.
pub(crate) fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// True when no component of `relative` (a path below the input folder, `/`-separated) is
/// skipped.
pub(crate) fn kept(relative: &str) -> bool {
    relative
        .split('/')
        .filter(|c| !c.is_empty())
        .all(|c| !skipped(c))
}

/// Parquet's magic bytes, at the start and the end of every Parquet file.
pub(crate) const MAGIC: &[u8; 4] = b"PAR1";

/// True for file names that say Parquet: such files in a folder are read (and refused when
/// corrupt); other files are read only when they start with [`MAGIC`] (Hive's `000000_0`), so
/// scripts and notes beside the data are passed over.
pub(crate) fn parquet_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".parquet") || lower.ends_with(".parq")
}

fn starts_with_magic(path: &Path) -> io::Result<bool> {
    let mut head = [0u8; 4];
    let mut file = std::fs::File::open(path)?;
    match file.read_exact(&mut head) {
        Ok(()) => Ok(&head == MAGIC),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// The folders holding Hadoop's commit markers, under an input and just above it (the export
/// folder a partition folder given as the input sits in), as `/`-separated paths like the
/// files'. A job's committer writes `_SUCCESS` once every file is in place; `_temporary/` is
/// where its tasks write until then.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Markers {
    pub success: Vec<String>,
    pub temporary: Vec<String>,
}

impl Markers {
    /// Records `name` in `folder` if it is a marker.
    pub(crate) fn note(&mut self, folder: &str, name: &str, is_dir: bool) {
        let folder = folder.trim_end_matches('/').to_owned();
        match (name, is_dir) {
            ("_SUCCESS", false) => self.success.push(folder),
            ("_temporary", true) => self.temporary.push(folder),
            _ => {}
        }
    }

    /// Whether a `_SUCCESS` sits in `folder` or a folder above it.
    fn covers(&self, folder: &str) -> bool {
        self.success.iter().any(|s| {
            folder == s || (folder.starts_with(s.as_str()) && folder[s.len()..].starts_with('/'))
        })
    }

    /// Why the export looks unfinished, if it does: Parquet files in a folder with no
    /// `_SUCCESS` in it or above it while the export has one elsewhere, or a `_temporary/`
    /// folder that no `_SUCCESS` covers (a job still writing, or one that failed).
    pub(crate) fn unfinished(&self, files: &[&str]) -> Option<String> {
        let folder = |f: &str| {
            f.rsplit_once('/')
                .map_or(String::new(), |(d, _)| d.to_owned())
        };
        if !self.success.is_empty() {
            let mut bare: Vec<String> = files
                .iter()
                .map(|f| folder(f))
                .filter(|d| !self.covers(d))
                .collect();
            bare.dedup();
            if let Some(first) = bare.first() {
                let others = match bare.len() {
                    1 => String::new(),
                    n => format!(" (and {} other folders)", n - 1),
                };
                return Some(format!(
                    "{first}{others} holds Parquet files but no _SUCCESS, while {} has one",
                    self.success[0]
                ));
            }
        }
        self.temporary.iter().find(|t| !self.covers(t)).map(|t| {
            format!(
                "{t}/_temporary/ is there (a job still writing, or one that failed) and no _SUCCESS"
            )
        })
    }
}

/// Markers in the folders above `folder` that are partition folders (`key=value`), and in the
/// first folder above them: an export's `_SUCCESS` when the input is one of its partitions.
fn markers_above(mut folder: &Path, markers: &mut Markers) {
    while folder
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains('='))
    {
        let Some(parent) = folder.parent() else {
            return;
        };
        folder = parent;
        let name = folder.to_string_lossy();
        for marker in ["_SUCCESS", "_temporary"] {
            if let Ok(meta) = std::fs::metadata(folder.join(marker)) {
                markers.note(&name, marker, meta.is_dir());
            }
        }
    }
}

/// The files of a local input: the file itself, or every kept Parquet file under the folder
/// (recursively, following symbolic links), in path order; with the files passed over as not
/// Parquet, and the commit markers found.
pub(crate) fn local_files(root: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>, Markers)> {
    let mut markers = Markers::default();
    if !std::fs::metadata(root)?.is_dir() {
        if let Some(folder) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            let name = folder.to_string_lossy();
            for marker in ["_SUCCESS", "_temporary"] {
                if let Ok(meta) = std::fs::metadata(folder.join(marker)) {
                    markers.note(&name, marker, meta.is_dir());
                }
            }
            markers_above(folder, &mut markers);
        }
        return Ok((vec![root.to_owned()], Vec::new(), markers));
    }
    markers_above(root, &mut markers);
    let mut files = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            let is_dir = std::fs::metadata(&path)?.is_dir();
            if skipped(&name) {
                markers.note(&folder.to_string_lossy(), &name, is_dir);
                continue;
            }
            if is_dir {
                folders.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut parquet = Vec::with_capacity(files.len());
    let mut other = Vec::new();
    for file in files {
        let named = file
            .file_name()
            .is_some_and(|n| parquet_name(&n.to_string_lossy()));
        if named || starts_with_magic(&file)? {
            parquet.push(file);
        } else {
            other.push(file);
        }
    }
    Ok((parquet, other, markers))
}

/// The `key=value` folder names in a `/`-separated path (the last component, the file name, is
/// not a folder), in order. Values are %-decoded as Hive writes them;
/// `__HIVE_DEFAULT_PARTITION__` is NULL.
pub(crate) fn hive_segments(path: &str) -> Vec<(String, Option<String>)> {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts
        .into_iter()
        .filter_map(|segment| {
            let (key, value) = segment.split_once('=')?;
            if key.is_empty() {
                return None;
            }
            let value = percent_decode(value);
            Some((percent_decode(key), (value != HIVE_NULL).then_some(value)))
        })
        .collect()
}

/// Decodes `%XX` escapes (Hive escapes `/`, `=`, `:`, `%` and other characters in folder
/// names); anything that is not a valid escape stays as it is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An `hdfs://` (or `viewfs://`) URL split into the file system (`hdfs://namenode:8020`) and the
/// absolute path on it; `None` for anything else.
pub(crate) fn split_hdfs_url(input: &str) -> Option<(String, String)> {
    let scheme_end = input.find("://")?;
    let scheme = &input[..scheme_end];
    if !scheme.eq_ignore_ascii_case("hdfs") && !scheme.eq_ignore_ascii_case("viewfs") {
        return None;
    }
    let rest = &input[scheme_end + 3..];
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((format!("{scheme}://{authority}"), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hadoop_markers_hidden_files_temporary_folders_and_files_that_are_not_parquet_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (file, content) in [
            ("dt=1/part-0.parquet", &b"x"[..]),
            ("dt=1/_SUCCESS", b""),
            ("dt=1/.part-0.parquet.crc", b"crc"),
            ("dt=2/000000_0", b"PAR1..."),
            ("dt=2/notes.txt", b"not parquet"),
            ("dt=2/empty", b""),
            (
                "dt=2/_temporary/0/_temporary/attempt_1/part-1.parquet",
                b"PAR1",
            ),
            ("_metadata", b"PAR1"),
            (".hidden/part-9.parquet", b"PAR1"),
            ("dt=3/sub/PART-2.PARQ", b"x"),
            ("generate.py", b"print()"),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, content).unwrap();
        }
        let relative = |paths: Vec<PathBuf>| -> Vec<String> {
            paths
                .iter()
                .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        let (parquet, other, markers) = local_files(root).unwrap();
        let root_name = root.to_string_lossy();
        assert_eq!(markers.success, [format!("{root_name}/dt=1")]);
        assert_eq!(markers.temporary, [format!("{root_name}/dt=2")]);
        assert_eq!(
            relative(parquet),
            [
                "dt=1/part-0.parquet",
                "dt=2/000000_0",
                "dt=3/sub/PART-2.PARQ"
            ]
        );
        assert_eq!(
            relative(other),
            ["dt=2/empty", "dt=2/notes.txt", "generate.py"]
        );
    }

    #[test]
    fn a_file_given_by_name_is_read_whatever_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("_odd.parquet");
        std::fs::write(&path, b"x").unwrap();
        let (files, other, markers) = local_files(&path).unwrap();
        assert_eq!((files, other), (vec![path], vec![]));
        assert_eq!(markers, Markers::default());
    }

    #[test]
    fn an_export_is_unfinished_where_files_have_no_success_marker_while_others_do() {
        let markers = |success: &[&str], temporary: &[&str]| Markers {
            success: success.iter().map(|s| s.to_string()).collect(),
            temporary: temporary.iter().map(|s| s.to_string()).collect(),
        };
        let files = [
            "/x/day1/dt=1/a.parquet",
            "/x/day2/dt=1/b.parquet",
            "/x/day2/dt=2/c.parquet",
        ];
        // No marker anywhere: a pyarrow export, nothing to say.
        assert_eq!(markers(&[], &[]).unfinished(&files), None);
        // Each day an export of its own: day2 has not finished.
        assert_eq!(
            markers(&["/x/day1"], &[]).unfinished(&files).unwrap(),
            "/x/day2/dt=1 (and 1 other folders) holds Parquet files but no _SUCCESS, while /x/day1 has one"
        );
        assert_eq!(
            markers(&["/x/day1", "/x/day2"], &[]).unfinished(&files),
            None
        );
        // The marker must be the folder's or an ancestor's, not a name's prefix.
        assert!(markers(&["/x/day"], &[]).unfinished(&files).is_some());
        // A _temporary/ beside a _SUCCESS is a committed job's leftover; alone it is not.
        assert_eq!(markers(&["/x"], &["/x/day1"]).unfinished(&files), None);
        assert_eq!(
            markers(&[], &["/x/day2/dt=2"]).unfinished(&files).unwrap(),
            "/x/day2/dt=2/_temporary/ is there (a job still writing, or one that failed) and no _SUCCESS"
        );
    }

    #[test]
    fn a_partition_folder_given_as_the_input_finds_its_export_s_success_above_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in ["export/dt=1/part-0.parquet", "export/_SUCCESS"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
        }
        let (_, _, markers) = local_files(&root.join("export/dt=1")).unwrap();
        assert_eq!(
            markers.success,
            [root.join("export").to_string_lossy().into_owned()]
        );
        let (_, _, markers) = local_files(&root.join("export/dt=1/part-0.parquet")).unwrap();
        assert_eq!(markers.success.len(), 1);
    }

    #[test]
    fn relative_paths_under_markers_are_not_kept() {
        assert!(kept("dt=1/part-0.parquet"));
        assert!(!kept("dt=1/_temporary/0/part-0.parquet"));
        assert!(!kept("dt=1/.part-0.parquet.crc"));
        assert!(!kept("_SUCCESS"));
    }

    #[test]
    fn hive_folder_names_become_keys_and_values_and_the_file_name_does_not() {
        assert_eq!(
            hive_segments("/data/features/dt=2026-11-18/country=SE/part=1.parquet"),
            [
                ("dt".to_owned(), Some("2026-11-18".to_owned())),
                ("country".to_owned(), Some("SE".to_owned())),
            ]
        );
        assert_eq!(hive_segments("plain/folder/file.parquet"), []);
    }

    #[test]
    fn hive_values_are_percent_decoded_and_the_default_partition_is_null() {
        assert_eq!(
            hive_segments("ts=2026-11-18 10%3A30%3A00/k=__HIVE_DEFAULT_PARTITION__/f"),
            [
                ("ts".to_owned(), Some("2026-11-18 10:30:00".to_owned())),
                ("k".to_owned(), None),
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(
            hive_segments("=x/a=/f"),
            [("a".to_owned(), Some(String::new()))]
        );
    }

    #[test]
    fn hdfs_urls_split_into_file_system_and_path() {
        assert_eq!(
            split_hdfs_url("hdfs://nn:8020/warehouse/t/dt=1"),
            Some(("hdfs://nn:8020".to_owned(), "/warehouse/t/dt=1".to_owned()))
        );
        assert_eq!(
            split_hdfs_url("hdfs://ns1"),
            Some(("hdfs://ns1".to_owned(), "/".to_owned()))
        );
        assert_eq!(
            split_hdfs_url("viewfs://cluster/a"),
            Some(("viewfs://cluster".to_owned(), "/a".to_owned()))
        );
        assert_eq!(split_hdfs_url("s3://bucket/a"), None);
        assert_eq!(split_hdfs_url("/local/path"), None);
    }
}
