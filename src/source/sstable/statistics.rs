//! `Statistics.db` (version `na` and later): a table of contents (component count, then
//! `(type ordinal, file offset)` pairs), each part followed by a CRC32; this reader needs the
//! serialization header (ordinal 3): the minimum timestamp, local deletion time and TTL that
//! every delta-encoded value in Data.db is relative to, the partition key and clustering types,
//! and the static and regular columns with their types.

use super::compression::Bytes;
use crate::model::marshal::{self, HeaderType};

use crate::model::sstable_format::{DELETION_TIME_EPOCH, TIMESTAMP_EPOCH};

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

fn crc_of(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// Reads the serialization header out of a whole `Statistics.db`, checking every CRC on the way.
pub fn header(bytes: &[u8]) -> Result<Header, String> {
    let mut b = Bytes::new(bytes);
    let count = b.i32("the component count")?;
    if !(1..=16).contains(&count) {
        return Err(format!("{count} components is impossible"));
    }
    let toc_start = 0;
    let count_crc = b.i32("the component count's CRC32")? as u32;
    if crc_of(&[&bytes[toc_start..4]]) != count_crc {
        return Err("the component count fails its CRC32 check".into());
    }
    let entries_start = b.at;
    let mut entries = Vec::new();
    for _ in 0..count {
        let ordinal = b.i32("a component type")?;
        let offset = b.i32("a component offset")?;
        entries.push((ordinal, offset));
    }
    // The CRC runs on from the count over the entries.
    let toc_crc = b.i32("the table of contents' CRC32")? as u32;
    if crc_of(&[&bytes[..4], &bytes[entries_start..b.at - 4]]) != toc_crc {
        return Err("the table of contents fails its CRC32 check".into());
    }
    let at = entries
        .iter()
        .position(|&(ordinal, _)| ordinal == HEADER)
        .ok_or("there is no serialization header")?;
    let start = entries[at].1 as usize;
    let end = entries
        .get(at + 1)
        .map_or(bytes.len(), |&(_, offset)| offset as usize);
    if start > end || end > bytes.len() || end - start < 4 {
        return Err(format!(
            "the serialization header (bytes {start}..{end}) lies outside the file ({} bytes)",
            bytes.len()
        ));
    }
    let body = &bytes[start..end - 4];
    let crc = u32::from_be_bytes(bytes[end - 4..end].try_into().unwrap());
    if crc32fast::hash(body) != crc {
        return Err(format!(
            "the serialization header (bytes {start}..{end}) fails its CRC32 check"
        ));
    }
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
