//! `Statistics.db`: a table of contents (component count, then `(type ordinal, file offset)`
//! pairs) and the components it lists. From version `na` on, the count, the table and each
//! component are each followed by a CRC32 (`hasMetadataChecksum`); Cassandra 3.x's `ma` to `me`
//! have none. This reader needs the validation metadata (ordinal 0: the partitioner's class
//! name) and the serialization header (ordinal 3): the minimum timestamp, local deletion time
//! and TTL that every delta-encoded value in Data.db is relative to, the partition key and
//! clustering types, and the static and regular columns with their types.

use super::compression::Bytes;
use crate::model::marshal::{self, HeaderType};

use crate::model::sstable_format::{DELETION_TIME_EPOCH, TIMESTAMP_EPOCH};

const VALIDATION: i32 = 0;
const STATS: i32 = 2;
const HEADER: i32 = 3;

/// The serialization header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub min_timestamp: i64,
    pub min_local_deletion_time: i64,
    pub min_ttl: i64,
    pub key_type: String,
    pub clustering: Vec<HeaderType>,
    pub statics: Vec<(String, HeaderType)>,
    pub regulars: Vec<(String, HeaderType)>,
}

/// What this reader takes from `Statistics.db`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statistics {
    /// The partitioner's class name, as the validation metadata gives it
    /// (`org.apache.cassandra.dht.Murmur3Partitioner`).
    pub partitioner: String,
    pub header: Header,
    /// The newest write timestamp in the SSTable (cells and deletions alike), from the stats
    /// metadata (ordinal 2); `None` when the file has none or it cannot be read.
    pub max_timestamp: Option<i64>,
}

fn crc_of(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Reads a whole `Statistics.db`; `checksummed` for versions `na` and later, whose every part
/// is followed by a CRC32 that is checked on the way.
pub fn read(bytes: &[u8], checksummed: bool) -> Result<Statistics, String> {
    let components = components(bytes, checksummed)?;
    let component = |ordinal: i32, what: &str| {
        components
            .iter()
            .find(|c| c.0 == ordinal)
            .map(|&(_, start, body)| (start, body))
            .ok_or_else(|| format!("there is no {what}"))
    };
    let (_, validation) = component(VALIDATION, "validation metadata")?;
    let partitioner = Bytes::new(validation).utf("the partitioner's class name")?;
    let (start, body) = component(HEADER, "serialization header")?;
    // Only for leaving SSTables unread: one whose stats cannot be read is read.
    let max_timestamp = component(STATS, "stats metadata")
        .ok()
        .and_then(|(_, stats)| max_timestamp(stats).ok());
    Ok(Statistics {
        partitioner,
        header: header(body, start)?,
        max_timestamp,
    })
}

/// The maximum timestamp of the stats metadata, the same place from `ma` to `oa`: after two
/// estimated histograms (`i32 n`, n × (i64, i64)) and the commit log position (i64, i32),
/// the minimum timestamp, then the maximum.
fn max_timestamp(stats: &[u8]) -> Result<i64, String> {
    let mut b = Bytes::new(stats);
    for what in ["the partition size histogram", "the cell count histogram"] {
        let n = b.i32(what)?;
        let n = usize::try_from(n).map_err(|_| format!("{what} has {n} buckets"))?;
        b.take(n.saturating_mul(16), what)?;
    }
    b.take(12, "the commit log position")?;
    b.i64("the minimum timestamp")?;
    b.i64("the maximum timestamp")
}

/// A component the table of contents lists: its ordinal, where it starts and its bytes
/// (without the CRC32 that follows it in checksummed files).
type Component<'a> = (i32, usize, &'a [u8]);

/// Every component the table of contents lists.
fn components(bytes: &[u8], checksummed: bool) -> Result<Vec<Component<'_>>, String> {
    let mut b = Bytes::new(bytes);
    let count = b.i32("the component count")?;
    if !(1..=16).contains(&count) {
        return Err(format!("{count} components is impossible"));
    }
    if checksummed {
        let count_crc = b.i32("the component count's CRC32")? as u32;
        if crc_of(&[&bytes[..4]]) != count_crc {
            return Err("the component count fails its CRC32 check".into());
        }
    }
    let entries_start = b.at;
    let mut entries = Vec::new();
    for _ in 0..count {
        let ordinal = b.i32("a component type")?;
        let offset = b.i32("a component offset")?;
        entries.push((ordinal, offset));
    }
    if checksummed {
        // The CRC runs on from the count over the entries.
        let toc_crc = b.i32("the table of contents' CRC32")? as u32;
        if crc_of(&[&bytes[..4], &bytes[entries_start..b.at - 4]]) != toc_crc {
            return Err("the table of contents fails its CRC32 check".into());
        }
    }
    let crc_len = if checksummed { 4 } else { 0 };
    let mut out = Vec::with_capacity(entries.len());
    for (i, &(ordinal, offset)) in entries.iter().enumerate() {
        let start = offset.max(0) as usize;
        let end = entries
            .get(i + 1)
            .map_or(bytes.len(), |&(_, next)| next.max(0) as usize);
        if offset < 0 || start < b.at || start > end || end > bytes.len() || end - start < crc_len {
            return Err(format!(
                "component {ordinal} (bytes {start}..{end}) lies outside the file ({} bytes) or overlaps another",
                bytes.len()
            ));
        }
        let body = &bytes[start..end - crc_len];
        if checksummed {
            let crc = u32::from_be_bytes(bytes[end - 4..end].try_into().unwrap());
            if crc32fast::hash(body) != crc {
                let what = match ordinal {
                    VALIDATION => "the validation metadata".to_owned(),
                    HEADER => "the serialization header".to_owned(),
                    n => format!("component {n}"),
                };
                return Err(format!(
                    "{what} (bytes {start}..{end}) fails its CRC32 check"
                ));
            }
        }
        out.push((ordinal, start, body));
    }
    Ok(out)
}

/// The serialization header, `body` at byte `start` of the file.
fn header(body: &[u8], start: usize) -> Result<Header, String> {
    let mut b = Bytes::new(body);
    let min_timestamp = b.uvint("the minimum timestamp")? as i64 + TIMESTAMP_EPOCH;
    let min_local_deletion_time =
        b.uvint("the minimum local deletion time")? as u32 as i32 as i64 + DELETION_TIME_EPOCH;
    let min_ttl = b.uvint("the minimum TTL")? as u32 as i32 as i64;
    let string = |b: &mut Bytes, what: &str| -> Result<String, String> {
        let len = b.uvint(what)? as usize;
        let at = b.at;
        String::from_utf8(b.take(len, what)?.to_vec())
            .map_err(|_| format!("{what} at byte {} is not UTF-8", start + at))
    };
    let key_type = string(&mut b, "the partition key type")?;
    let n = b.uvint("the clustering column count")?;
    let mut clustering = Vec::new();
    for _ in 0..n {
        clustering.push(marshal::parse(&string(&mut b, "a clustering type")?)?);
    }
    let columns = |b: &mut Bytes| -> Result<Vec<(String, HeaderType)>, String> {
        let n = b.uvint("a column count")?;
        let mut out = Vec::new();
        for _ in 0..n {
            let name = string(b, "a column name")?;
            let ty = marshal::parse(&string(b, "a column type")?)?;
            out.push((name, ty));
        }
        Ok(out)
    };
    let statics = columns(&mut b)?;
    let regulars = columns(&mut b)?;
    Ok(Header {
        min_timestamp,
        min_local_deletion_time,
        min_ttl,
        key_type,
        clustering,
        statics,
        regulars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Statistics.db as Cassandra 3.x lays it out: the count, the table of contents and the
    /// components back to back, with no CRC anywhere. Only validation and header matter here.
    fn statistics_3x(partitioner: &str, header: &[u8]) -> Vec<u8> {
        let mut validation = (partitioner.len() as u16).to_be_bytes().to_vec();
        validation.extend(partitioner.as_bytes());
        validation.extend(0.01f64.to_be_bytes());
        let components: [(i32, &[u8]); 4] = [
            (0, &validation),
            (1, &[0, 0, 0, 0]),
            (2, &[0; 8]),
            (3, header),
        ];
        let mut out = (components.len() as i32).to_be_bytes().to_vec();
        let mut offset = 4 + 8 * components.len() as i32;
        for (ordinal, bytes) in &components {
            out.extend(ordinal.to_be_bytes());
            out.extend(offset.to_be_bytes());
            offset += bytes.len() as i32;
        }
        for (_, bytes) in components {
            out.extend(bytes);
        }
        out
    }

    #[test]
    fn a_3x_statistics_file_without_checksums_gives_its_partitioner_and_header() {
        let utf8 = "org.apache.cassandra.db.marshal.UTF8Type";
        let mut header = vec![0, 0, 0]; // minimum timestamp, deletion time and TTL deltas
        header.push(utf8.len() as u8);
        header.extend(utf8.as_bytes());
        header.extend([0, 0]); // no clustering, no statics
        header.push(1);
        header.push(1);
        header.push(b'v');
        header.push(utf8.len() as u8);
        header.extend(utf8.as_bytes());
        let random = "org.apache.cassandra.dht.RandomPartitioner";
        let bytes = statistics_3x(random, &header);
        let stats = read(&bytes, false).unwrap();
        assert_eq!(stats.partitioner, random);
        assert_eq!(stats.header.regulars.len(), 1);
        assert_eq!(stats.header.regulars[0].0, "v");
        // The same bytes read as 4.0's checksummed layout fail rather than misread.
        assert!(read(&bytes, true).is_err());
        // Cut inside the header: refused, naming what ran out.
        let cut = &bytes[..bytes.len() - 5];
        assert!(read(cut, false).unwrap_err().contains("past the end"));
    }
}
