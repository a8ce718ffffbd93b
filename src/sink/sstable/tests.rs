//! The SSTable writer against what a real Cassandra 5.0 node wrote (`fixtures/sstables/`): the
//! node's partitions, read as written and written again, are the node's Data.db bytes; and a
//! whole SSTable cassbulk writes reads back partition for partition.

use crate::model::{Partition, TableSchema};
use crate::source::sstable::testing::read_as_written;
use crate::source::sstable::tests::{everything, fixture, more, plain_table};

use super::data::{DataWriter, Encoding, Format};
use super::writer::SstableWriter;

/// Writes every partition of every SSTable under `dir` again; each must be the node's bytes.
fn rewrite_and_compare(dir: &str, schema: &TableSchema) -> usize {
    let mut partitions_seen = 0;
    for s in read_as_written(dir, schema) {
        let encoding = Encoding {
            min_timestamp: s.min_timestamp,
            min_local_deletion_time: s.min_local_deletion_time,
            min_ttl: s.min_ttl,
        };
        let format = if s.oa { Format::Oa } else { Format::Nb };
        let mut writer = DataWriter::new(schema, encoding, format);
        let want = &s.data;
        let mut got = Vec::new();
        for p in &s.partitions {
            let at = got.len();
            writer
                .write(p, &mut got)
                .unwrap_or_else(|e| panic!("{dir}: {e:?}"));
            assert_eq!(
                got[at..],
                want[at..got.len().min(want.len())],
                "{dir}: partition {partitions_seen} at byte {at}"
            );
            partitions_seen += 1;
        }
        assert_eq!(got.len(), want.len(), "{dir}: the whole file");
    }
    partitions_seen
}

#[test]
fn partitions_a_node_wrote_are_written_again_byte_for_byte_by_the_data_writer() {
    let plain = plain_table();
    assert!(rewrite_and_compare(&more("plain"), &plain) >= 40);
    // The same table compressed with Zstd: the same rows, compacted by the node.
    assert!(rewrite_and_compare(&more("zstd"), &plain) >= 40);
    // Every type, statics, DESC clustering, every kind of deletion, range deletions included
    // (the second generation); oa lays out partition deletions its own way, and BTI's da
    // keeps oa's Data.db.
    for format in ["nb", "oa", "da"] {
        let n = rewrite_and_compare(&fixture(format), &everything());
        assert_eq!(n, 200 + 76, "{format}: partitions compared");
    }
}

#[test]
fn an_sstable_cassbulk_writes_reads_back_partition_for_partition() {
    let schema = everything();
    // Both generations of the node's SSTables, each partition once, in token order.
    let mut partitions: Vec<Partition> = read_as_written(&fixture("nb"), &schema)
        .into_iter()
        .flat_map(|s| s.partitions)
        .collect();
    partitions.sort_by(|a, b| (a.token, &a.key).cmp(&(b.token, &b.key)));
    partitions.dedup_by(|a, b| a.token == b.token && a.key == b.key);
    assert!(partitions.len() >= 200);

    for format in [Format::Nb, Format::Oa] {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SstableWriter::create(dir.path(), 1, &schema, format).unwrap();
        for p in &partitions {
            writer.append(p).unwrap();
        }
        // Out of order is refused.
        assert!(writer.append(&partitions[0]).is_err());
        writer.finish().unwrap();

        let written = read_as_written(dir.path().to_str().unwrap(), &schema);
        assert_eq!(written.len(), 1);
        let s = &written[0];
        assert_eq!(s.version, format.version());
        assert!(s.compressed);
        assert_eq!(s.partitions.len(), partitions.len());
        for (b, p) in s.partitions.iter().zip(&partitions) {
            assert_eq!(b, p, "{format:?}");
        }
        let v = format.version();
        let toc = std::fs::read_to_string(dir.path().join(format!("{v}-1-big-TOC.txt"))).unwrap();
        for component in [
            "Data.db",
            "Index.db",
            "Filter.db",
            "Summary.db",
            "Statistics.db",
        ] {
            assert!(toc.contains(component), "{toc}");
            assert!(dir.path().join(format!("{v}-1-big-{component}")).exists());
        }
    }
}
