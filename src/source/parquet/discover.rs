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

/// The files of a local input: the file itself, or every kept Parquet file under the folder
/// (recursively, following symbolic links), in path order; with the files passed over as not
/// Parquet.
pub(crate) fn local_files(root: &Path) -> io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    if !std::fs::metadata(root)?.is_dir() {
        return Ok((vec![root.to_owned()], Vec::new()));
    }
    let mut files = Vec::new();
    let mut folders = vec![root.to_owned()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            if skipped(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            if std::fs::metadata(&path)?.is_dir() {
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
    Ok((parquet, other))
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
        let (parquet, other) = local_files(root).unwrap();
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
        assert_eq!(local_files(&path).unwrap(), (vec![path], vec![]));
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
