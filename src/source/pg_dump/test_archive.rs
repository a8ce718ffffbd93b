//! A writer of small custom and directory archives, for tests of what PostgreSQL 15's pg_dump
//! cannot make: archive versions 1.15 and 1.16, LZ4 and zstd compression, archives written
//! as to a pipe (without data offsets), large-object blocks to skip, and damaged archives.
//! It writes the layout `archive.rs` describes, field by field.

use std::io::Write;
use std::path::Path;

use super::archive::Compression;

/// A table to put in an archive.
pub(crate) struct Table {
    pub(crate) schema: &'static str,
    pub(crate) name: &'static str,
    /// The column definitions of its `CREATE TABLE`.
    pub(crate) columns_sql: &'static str,
    /// Its data's column list.
    pub(crate) columns: &'static str,
    /// COPY text (ending with `\.`) or, for `inserts`, INSERT statements.
    pub(crate) data: Vec<u8>,
    pub(crate) inserts: bool,
}

/// How to write the archive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    /// The archive's minor version (1.`minor`).
    pub(crate) minor: u8,
    pub(crate) compression: Compression,
    /// Write data offsets into the TOC (a seekable file) or not (a pipe).
    pub(crate) offsets: bool,
    /// Put a large-object block before the table data.
    pub(crate) blobs: bool,
}

/// The `struct tm` written as creation time: 2026-11-22 00:14:31, no DST.
pub(crate) const CREATED_TM: [i64; 7] = [31, 14, 0, 22, 10, 126, 0];

const BLOBS_ID: i64 = 5;

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    fn int(&mut self, v: i64) {
        self.byte(u8::from(v < 0));
        let magnitude = v.unsigned_abs();
        self.buf.extend_from_slice(&magnitude.to_le_bytes()[..4]);
    }

    fn string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.int(s.len() as i64);
                self.buf.extend_from_slice(s.as_bytes());
            }
            None => self.int(-1),
        }
    }
}

struct Entry {
    dump_id: i64,
    had_dumper: bool,
    tag: String,
    desc: &'static str,
    defn: String,
    copy_stmt: Option<String>,
    namespace: String,
    deps: Vec<i64>,
    data: Option<Vec<u8>>,
}

fn entries(spec: &Spec, tables: &[Table]) -> Vec<Entry> {
    let plain = |dump_id, desc: &'static str, defn: &str| Entry {
        dump_id,
        had_dumper: false,
        tag: desc.to_owned(),
        desc,
        defn: defn.to_owned(),
        copy_stmt: None,
        namespace: String::new(),
        deps: Vec::new(),
        data: None,
    };
    let mut out = vec![
        plain(1, "ENCODING", "SET client_encoding = 'UTF8';\n"),
        plain(2, "STDSTRINGS", "SET standard_conforming_strings = 'on';\n"),
    ];
    if spec.blobs {
        out.push(Entry {
            had_dumper: true,
            data: Some(Vec::new()),
            ..plain(BLOBS_ID, "BLOBS", "")
        });
    }
    for (k, t) in tables.iter().enumerate() {
        let table_id = 10 + 2 * k as i64;
        let qualified = format!("{}.{}", t.schema, t.name);
        out.push(Entry {
            tag: t.name.to_owned(),
            namespace: t.schema.to_owned(),
            ..plain(
                table_id,
                "TABLE",
                &format!("CREATE TABLE {qualified} (\n    {}\n);\n", t.columns_sql),
            )
        });
        out.push(Entry {
            dump_id: table_id + 1,
            had_dumper: true,
            tag: t.name.to_owned(),
            desc: "TABLE DATA",
            defn: String::new(),
            copy_stmt: (!t.inserts)
                .then(|| format!("COPY {qualified} ({}) FROM stdin;\n", t.columns)),
            namespace: t.schema.to_owned(),
            deps: vec![table_id],
            data: Some(t.data.clone()),
        });
    }
    out
}

/// Compresses a custom archive's data block.
fn compress_block(compression: Compression, data: &[u8]) -> Vec<u8> {
    match compression {
        Compression::None => data.to_vec(),
        Compression::Gzip => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Compression::Lz4 => lz4(data),
        Compression::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

fn lz4(data: &[u8]) -> Vec<u8> {
    use lz4_flex::frame::{BlockMode, FrameEncoder, FrameInfo};
    let info = FrameInfo::new().block_mode(BlockMode::Linked);
    let mut e = FrameEncoder::with_frame_info(info, Vec::new());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn header(w: &mut Writer, spec: &Spec, format: u8) {
    w.buf.extend_from_slice(b"PGDMP");
    w.byte(1);
    w.byte(spec.minor);
    w.byte(0);
    w.byte(4);
    w.byte(8);
    w.byte(format);
    if spec.minor >= 15 {
        w.byte(match spec.compression {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Lz4 => 2,
            Compression::Zstd => 3,
        });
    } else {
        assert!(matches!(
            spec.compression,
            Compression::None | Compression::Gzip
        ));
        w.int(if spec.compression == Compression::Gzip {
            -1
        } else {
            0
        });
    }
    for v in CREATED_TM {
        w.int(v);
    }
    w.string(Some("testdb"));
    w.string(Some("17.2"));
    w.string(Some("17.2"));
}

/// Writes one TOC entry up to its format-specific part.
fn toc_entry(w: &mut Writer, spec: &Spec, e: &Entry) {
    w.int(e.dump_id);
    w.int(i64::from(e.had_dumper));
    w.string(Some("0"));
    w.string(Some("0"));
    w.string(Some(&e.tag));
    w.string(Some(e.desc));
    w.int(if e.data.is_some() { 3 } else { 2 });
    w.string(Some(&e.defn));
    w.string(Some(""));
    w.string(e.copy_stmt.as_deref());
    w.string(Some(&e.namespace));
    w.string(Some(""));
    if spec.minor >= 14 {
        w.string(Some(if e.desc == "TABLE" { "heap" } else { "" }));
    }
    if spec.minor >= 16 {
        w.int(if e.desc == "TABLE" { 114 } else { 0 });
    }
    w.string(Some("postgres"));
    w.string(Some("false"));
    for dep in &e.deps {
        w.string(Some(&dep.to_string()));
    }
    w.string(None);
}

/// The bytes of a custom archive holding `tables`.
pub(crate) fn custom(spec: &Spec, tables: &[Table]) -> Vec<u8> {
    let entries = entries(spec, tables);
    let mut w = Writer { buf: Vec::new() };
    header(&mut w, spec, 1);
    w.int(entries.len() as i64);
    let mut patches = Vec::new();
    for e in &entries {
        toc_entry(&mut w, spec, e);
        patches.push(w.buf.len());
        w.byte(if e.data.is_some() { 1 } else { 3 });
        w.buf.extend_from_slice(&[0; 8]);
    }
    for (e, patch) in entries.iter().zip(patches) {
        let Some(data) = &e.data else { continue };
        let start = w.buf.len() as u64;
        if spec.offsets {
            w.buf[patch] = 2;
            w.buf[patch + 1..patch + 9].copy_from_slice(&start.to_le_bytes());
        }
        if e.desc == "BLOBS" {
            w.byte(3);
            w.int(e.dump_id);
            for (oid, content) in [(16500, &b"first large object"[..]), (16501, b"")] {
                w.int(oid);
                chunks(&mut w, &compress_block(spec.compression, content));
            }
            w.int(0);
        } else {
            w.byte(1);
            w.int(e.dump_id);
            chunks(&mut w, &compress_block(spec.compression, data));
        }
    }
    w.buf
}

/// Writes data as chunks of at most 1000 bytes and the zero-length end chunk.
fn chunks(w: &mut Writer, data: &[u8]) {
    for chunk in data.chunks(1000) {
        w.int(chunk.len() as i64);
        w.buf.extend_from_slice(chunk);
    }
    w.int(0);
}

/// Writes a directory archive holding `tables` into `dir`.
pub(crate) fn directory(dir: &Path, spec: &Spec, tables: &[Table]) {
    let entries = entries(spec, tables);
    let mut w = Writer { buf: Vec::new() };
    // pg_dump marks a directory archive's toc.dat as tar (3), whose layout it shares.
    header(&mut w, spec, 3);
    w.int(entries.len() as i64);
    for e in &entries {
        toc_entry(&mut w, spec, e);
        match &e.data {
            Some(data) if e.desc == "TABLE DATA" => {
                let name = format!("{}.dat", e.dump_id);
                let (suffix, bytes) = match spec.compression {
                    Compression::None => ("", data.clone()),
                    Compression::Gzip => {
                        let mut g = flate2::write::GzEncoder::new(
                            Vec::new(),
                            flate2::Compression::default(),
                        );
                        g.write_all(data).unwrap();
                        (".gz", g.finish().unwrap())
                    }
                    Compression::Lz4 => (".lz4", lz4(data)),
                    Compression::Zstd => (".zst", zstd::encode_all(&data[..], 3).unwrap()),
                };
                std::fs::write(dir.join(format!("{name}{suffix}")), bytes).unwrap();
                w.string(Some(&name));
            }
            _ => w.string(Some("")),
        }
    }
    std::fs::write(dir.join("toc.dat"), w.buf).unwrap();
}

/// `n` rows of `public.items (id integer NOT NULL, name text, price numeric(10,2))` as COPY
/// text, with NULLs, escapes and non-ASCII text, ending with `\.`.
pub(crate) fn items_copy(n: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 1..=n {
        let name = match i % 4 {
            0 => "\\N".to_owned(),
            1 => format!("item {i}"),
            2 => format!("tab\\there, line\\nbreak {i}"),
            _ => format!("café ☕ {i}"),
        };
        out.push_str(&format!("{i}\t{name}\t{}.{:02}\n", i * 3, i % 100));
    }
    out.push_str("\\.\n\n\n");
    out.into_bytes()
}

/// The fields [`items_copy`] holds for row `i`.
pub(crate) fn items_row(i: usize) -> Vec<Option<String>> {
    let name = match i % 4 {
        0 => None,
        1 => Some(format!("item {i}")),
        2 => Some(format!("tab\there, line\nbreak {i}")),
        _ => Some(format!("café ☕ {i}")),
    };
    vec![
        Some(i.to_string()),
        name,
        Some(format!("{}.{:02}", i * 3, i % 100)),
    ]
}

/// The table of [`items_copy`] rows.
pub(crate) fn items(n: usize) -> Table {
    Table {
        schema: "public",
        name: "items",
        columns_sql: "id integer NOT NULL,\n    name text,\n    price numeric(10,2)",
        columns: "id, name, price",
        data: items_copy(n),
        inserts: false,
    }
}

/// A second table, `sales.orders`, with two rows.
pub(crate) fn orders() -> Table {
    Table {
        schema: "sales",
        name: "orders",
        columns_sql: "id bigint NOT NULL,\n    note text",
        columns: "id, note",
        data: b"7\tfirst order\n8\t\\N\n\\.\n\n\n".to_vec(),
        inserts: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::pg_dump::{Dump, DumpError, DumpFormat, DumpTable, RowEvent};

    fn read_all(dump: &Dump, table: &DumpTable) -> Result<Vec<Vec<Option<String>>>, DumpError> {
        let mut rows = Vec::new();
        for event in dump.rows(table)? {
            match event? {
                RowEvent::Row(row) => rows.push(row.fields.to_vec()),
                RowEvent::Reject(reject) => panic!("unexpected reject: {reject:?}"),
            }
        }
        Ok(rows)
    }

    fn expected_items(n: usize) -> Vec<Vec<Option<String>>> {
        (1..=n).map(items_row).collect()
    }

    const COMBINATIONS: &[(u8, Compression)] = &[
        (12, Compression::Gzip),
        (13, Compression::None),
        (14, Compression::None),
        (14, Compression::Gzip),
        (15, Compression::None),
        (15, Compression::Gzip),
        (15, Compression::Lz4),
        (15, Compression::Zstd),
        (16, Compression::Gzip),
        (16, Compression::Lz4),
        (16, Compression::Zstd),
    ];

    #[test]
    fn custom_archives_of_every_version_and_compression_read_back_with_and_without_offsets() {
        let dir = tempfile::tempdir().unwrap();
        for &(minor, compression) in COMBINATIONS {
            for offsets in [true, false] {
                let spec = Spec {
                    minor,
                    compression,
                    offsets,
                    blobs: true,
                };
                let bytes = custom(&spec, &[items(3000), orders()]);
                let path = dir
                    .path()
                    .join(format!("a-{minor}-{compression:?}-{offsets}.dump"));
                std::fs::write(&path, bytes).unwrap();
                let dump = Dump::open(&path).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
                assert_eq!(dump.format(), DumpFormat::Custom);
                let names: Vec<String> = dump
                    .tables()
                    .iter()
                    .map(DumpTable::qualified_name)
                    .collect();
                assert_eq!(names, ["public.items", "sales.orders"], "{spec:?}");
                let items = dump.table("items").unwrap();
                assert_eq!(items.data_columns, ["id", "name", "price"]);
                assert_eq!(items.columns[2].type_name, "numeric(10,2)");
                // Read the second table first: without offsets it is found by skipping.
                let orders = read_all(&dump, dump.table("sales.orders").unwrap()).unwrap();
                assert_eq!(
                    orders,
                    vec![
                        vec![Some("7".into()), Some("first order".into())],
                        vec![Some("8".into()), None]
                    ],
                    "{spec:?}"
                );
                assert_eq!(
                    read_all(&dump, items).unwrap(),
                    expected_items(3000),
                    "{spec:?}"
                );
            }
        }
    }

    #[test]
    fn a_list_of_tables_is_refused_never_read_as_its_first_name() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            minor: COMBINATIONS[0].0,
            compression: COMBINATIONS[0].1,
            offsets: false,
            blobs: false,
        };
        directory(dir.path(), &spec, &[items(5), orders()]);
        let dump = Dump::open(dir.path()).unwrap();
        for list in [
            "public.items,sales.orders",
            "public.items, sales.orders",
            "public.items,public.nosuch",
            "items,orders",
        ] {
            let refusal = dump.table(list).unwrap_err();
            assert!(
                matches!(refusal, DumpError::TableList { .. }),
                "{list}: {refusal}"
            );
            assert!(refusal.to_string().contains("is a list"), "{refusal}");
        }
        assert!(dump.table("sales.orders").is_ok());
        assert!(matches!(
            dump.table("public.nosuch").unwrap_err(),
            DumpError::NoSuchTable { .. }
        ));
    }

    #[test]
    fn directory_archives_with_each_compression_read_back() {
        for &(minor, compression) in COMBINATIONS {
            let dir = tempfile::tempdir().unwrap();
            let spec = Spec {
                minor,
                compression,
                offsets: false,
                blobs: false,
            };
            directory(dir.path(), &spec, &[items(500), orders()]);
            let dump = Dump::open(dir.path()).unwrap_or_else(|e| panic!("{spec:?}: {e}"));
            assert_eq!(dump.format(), DumpFormat::Directory);
            let items = dump.table("public.items").unwrap();
            let mut rows = dump.rows(items).unwrap();
            let Some(Ok(RowEvent::Row(first))) = rows.next() else {
                panic!("{spec:?}: no first row");
            };
            let suffix = match compression {
                Compression::None => "",
                Compression::Gzip => ".gz",
                Compression::Lz4 => ".lz4",
                Compression::Zstd => ".zst",
            };
            assert_eq!(
                first.location.file,
                dir.path().join(format!("11.dat{suffix}"))
            );
            assert_eq!(first.location.line, 1);
            assert_eq!(read_all(&dump, items).unwrap(), expected_items(500));
            // toc.dat itself opens the directory too.
            let again = Dump::open(&dir.path().join("toc.dat")).unwrap();
            assert_eq!(again.tables(), dump.tables());
        }
    }

    #[test]
    fn column_inserts_in_an_archive_give_their_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table {
            schema: "public",
            name: "t",
            columns_sql: "a integer,\n    b text",
            columns: "",
            data: b"INSERT INTO public.t (b, a) VALUES ('x', 1);\n\
                    INSERT INTO public.t (b, a) VALUES ('it''s\n two lines', NULL);\n"
                .to_vec(),
            inserts: true,
        };
        let spec = Spec {
            minor: 16,
            compression: Compression::Zstd,
            offsets: true,
            blobs: false,
        };
        let path = dir.path().join("inserts.dump");
        std::fs::write(&path, custom(&spec, &[table])).unwrap();
        let dump = Dump::open(&path).unwrap();
        let t = dump.table("t").unwrap();
        assert_eq!(t.data_columns, ["b", "a"]);
        let lines: Vec<u64> = dump
            .rows(t)
            .unwrap()
            .map(|e| match e.unwrap() {
                RowEvent::Row(row) => row.location.line,
                RowEvent::Reject(r) => panic!("{r:?}"),
            })
            .collect();
        assert_eq!(lines, [1, 2]);
        assert_eq!(
            read_all(&dump, t).unwrap(),
            vec![
                vec![Some("x".into()), Some("1".into())],
                vec![Some("it's\n two lines".into()), None]
            ]
        );
    }

    fn archive_with_version(minor: u8) -> Vec<u8> {
        let spec = Spec {
            minor: 14,
            compression: Compression::None,
            offsets: true,
            blobs: false,
        };
        let mut bytes = custom(&spec, &[orders()]);
        bytes[6] = minor;
        bytes
    }

    #[test]
    fn archive_versions_outside_1_12_to_1_16_are_refused_as_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        for minor in [11, 17] {
            let path = dir.path().join(format!("v{minor}.dump"));
            std::fs::write(&path, archive_with_version(minor)).unwrap();
            let error = Dump::open(&path).unwrap_err();
            assert!(
                matches!(&error, DumpError::Unsupported { reason, .. }
                    if reason.contains(&format!("archive version 1.{minor}.0"))),
                "{error}"
            );
        }
    }

    #[test]
    fn a_tar_format_byte_is_refused_as_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = archive_with_version(14);
        bytes[10] = 3;
        let path = dir.path().join("tar.dump");
        std::fs::write(&path, bytes).unwrap();
        let error = Dump::open(&path).unwrap_err();
        assert!(error.to_string().contains("tar archives"), "{error}");
    }

    #[test]
    fn a_chunk_length_past_the_end_of_the_file_is_truncation_at_its_byte_offset() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            minor: 15,
            compression: Compression::None,
            offsets: false,
            blobs: false,
        };
        let mut bytes = custom(&spec, &[orders()]);
        // The data block is the last thing: type, dump ID, then the first chunk length.
        let data = b"7\tfirst order\n8\t\\N\n\\.\n\n\n";
        let length_at = bytes.len() - 5 - data.len() - 5;
        bytes[length_at + 2] = 0x7f;
        let path = dir.path().join("long.dump");
        std::fs::write(&path, &bytes).unwrap();
        let dump = Dump::open(&path).unwrap();
        let error = read_all(&dump, dump.table("orders").unwrap()).unwrap_err();
        let DumpError::Truncated {
            offset, expected, ..
        } = &error
        else {
            panic!("{error}");
        };
        assert_eq!(*offset, length_at as u64);
        assert!(expected.contains("the file ends at byte"), "{error}");
    }

    #[test]
    fn a_pipe_archive_missing_its_data_block_is_an_error_not_an_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        let spec = Spec {
            minor: 16,
            compression: Compression::Zstd,
            offsets: false,
            blobs: true,
        };
        let full = custom(&spec, &[orders()]);
        let path = dir.path().join("pipe.dump");
        // Cut the file right after the large-object block: the table's block is missing.
        // That block is its type, dump ID, one chunk (length and data) and the end chunk.
        let compressed = compress_block(Compression::Zstd, &orders().data);
        let blobs_end = full.len() - (1 + 5 + 5 + compressed.len() + 5);
        std::fs::write(&path, &full[..blobs_end]).unwrap();
        let dump = Dump::open(&path).unwrap();
        let error = read_all(&dump, dump.table("orders").unwrap()).unwrap_err();
        assert!(
            matches!(&error, DumpError::Truncated { offset, .. } if *offset == blobs_end as u64),
            "{error}"
        );
    }
}
