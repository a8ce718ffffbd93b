//! SSTable file names: `<version>-<id>-<format>-<Component>`, e.g. `nb-1-big-Data.db`,
//! `oa-3gfd_0x9c_1eb3k2vztjlmhhm4bf-big-Data.db` (a time-UUID id) or `da-2-bti-Data.db`, and
//! which versions cassbulk reads: big `ma` to `me` (Cassandra 3.0 and 3.11), `na`/`nb` (4.0 to
//! 5.0's default mode), `nc` (a 5.0 development version 5.0 still reads), `oa` (5.0) and BTI `da`
//! (5.0's trie format; its Data.db rows are `oa`'s). Every big version from `ma` to `nc` lays out
//! Data.db alike (Cassandra's messaging version 3.0); what differs is in the small components
//! (see `docs/research/sstable-3x-formats.md`).

use std::path::{Path, PathBuf};

/// One SSTable: its folder, version, id and format, from its Data.db name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub dir: PathBuf,
    pub version: String,
    pub id: String,
    pub format: String,
}

/// What a version changes in the bytes this reader decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `ma` to `nc`: partition deletions as `i32 ldt, i64 mfda`; local deletion times signed.
    Nb,
    /// `oa`, `da`: partition deletions start with a flag byte; deletion times unsigned 32-bit.
    Oa,
}

impl Descriptor {
    /// The SSTable a `*-Data.db` file belongs to; `None` for any other name.
    pub fn from_data_file(path: &Path) -> Option<Descriptor> {
        let name = path.file_name()?.to_str()?;
        let stem = name.strip_suffix("-Data.db")?;
        let mut parts = stem.splitn(3, '-');
        let version = parts.next()?;
        let id = parts.next()?;
        let format = parts.next()?;
        if version.len() != 2 || id.is_empty() || format.is_empty() {
            return None;
        }
        Some(Descriptor {
            dir: path.parent()?.to_path_buf(),
            version: version.to_owned(),
            id: id.to_owned(),
            format: format.to_owned(),
        })
    }

    /// The path of one of its components (`Data.db`, `Statistics.db`, ...).
    pub fn component(&self, component: &str) -> PathBuf {
        self.dir.join(format!(
            "{}-{}-{}-{component}",
            self.version, self.id, self.format
        ))
    }

    /// How its Data.db is laid out, or why this reader cannot read it.
    pub fn layout(&self) -> Result<Layout, String> {
        match (self.format.as_str(), self.version.as_str()) {
            ("big", "ma" | "mb" | "mc" | "md" | "me" | "na" | "nb" | "nc") => Ok(Layout::Nb),
            ("big", "oa") | ("bti", "da") => Ok(Layout::Oa),
            ("big", v) if v < "ma" => Err(format!(
                "version {v} is Cassandra 2.x's: upgrade the SSTables first (nodetool upgradesstables on a 3.x node)"
            )),
            (f, v) => Err(format!(
                "format {f} version {v} is not one cassbulk reads (big ma to me, na, nb, nc, oa; bti da)"
            )),
        }
    }

    /// Whether every part of Statistics.db is followed by a CRC32 (`hasMetadataChecksum`,
    /// from `na` on; Cassandra 3.x wrote none).
    pub fn has_metadata_checksum(&self) -> bool {
        self.is_4_0_or_later()
    }

    /// Whether CompressionInfo.db records the largest compressed chunk, above which a chunk is
    /// stored uncompressed (`hasMaxCompressedLength`, from `na` on; 3.x compressed every chunk).
    pub fn has_max_compressed_length(&self) -> bool {
        self.is_4_0_or_later()
    }

    /// Big `na` and later, or any BTI version (BTI came with 5.0; its letters start again at `a`).
    fn is_4_0_or_later(&self) -> bool {
        self.format != "big" || self.version.as_str() >= "na"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_names_give_version_id_and_format() {
        let d = Descriptor::from_data_file(Path::new("/s/t-1/nb-12-big-Data.db")).unwrap();
        assert_eq!(
            (d.version.as_str(), d.id.as_str(), d.format.as_str()),
            ("nb", "12", "big")
        );
        assert_eq!(
            d.component("Statistics.db"),
            Path::new("/s/t-1/nb-12-big-Statistics.db")
        );
        assert_eq!(d.layout(), Ok(Layout::Nb));
        let uuid_id = "oa-3gfd_0x9c_1eb3k2vztjlmhhm4bf-big-Data.db";
        let d = Descriptor::from_data_file(Path::new(uuid_id)).unwrap();
        assert_eq!(d.id, "3gfd_0x9c_1eb3k2vztjlmhhm4bf");
        assert_eq!(d.layout(), Ok(Layout::Oa));
        let bti = Descriptor::from_data_file(Path::new("da-2-bti-Data.db")).unwrap();
        assert_eq!(bti.layout(), Ok(Layout::Oa));
        assert!(Descriptor::from_data_file(Path::new("nb-1-big-Index.db")).is_none());
    }

    #[test]
    fn cassandra_3_versions_read_as_nb_without_the_checksums_4_0_added() {
        for v in ["ma", "mb", "mc", "md", "me"] {
            let d = Descriptor::from_data_file(Path::new(&format!("{v}-1-big-Data.db"))).unwrap();
            assert_eq!(d.layout(), Ok(Layout::Nb), "{v}");
            assert!(!d.has_metadata_checksum() && !d.has_max_compressed_length());
        }
        for name in ["na", "nb", "nc", "oa"]
            .map(|v| format!("{v}-1-big-Data.db"))
            .into_iter()
            .chain(["da-1-bti-Data.db".to_owned()])
        {
            let d = Descriptor::from_data_file(Path::new(&name)).unwrap();
            assert!(d.has_metadata_checksum() && d.has_max_compressed_length());
        }
    }

    #[test]
    fn versions_older_or_newer_than_the_reader_knows_are_refused_with_a_reason() {
        let old = Descriptor::from_data_file(Path::new("lb-1-big-Data.db")).unwrap();
        assert!(old.layout().unwrap_err().contains("upgradesstables"));
        let new = Descriptor::from_data_file(Path::new("pa-1-big-Data.db")).unwrap();
        assert!(new.layout().unwrap_err().contains("not one cassbulk reads"));
    }
}
