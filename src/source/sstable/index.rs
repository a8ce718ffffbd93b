//! Where a token starts in a big-format SSTable's Data.db, from its Index.db: every partition's
//! key and the uncompressed offset of its data, in token order. The entry is the same from `ma`
//! to `oa`: the key with a two-byte length, the offset as an unsigned vint, then the size of
//! the promoted index (its blocks, for wide partitions) as an unsigned vint, and those bytes.
//! BTI SSTables (`da`) have no Index.db and are not sliced.

use std::path::Path;

use crate::model::token::Token;

/// The uncompressed Data.db offset at which each of `starts` (ascending tokens) begins: that of
/// the first partition whose token is at least the start, or the data's length when none is.
/// Reads Index.db once, start to end.
pub(crate) fn offsets_of(
    index: &Path,
    data_length: u64,
    starts: &[i64],
) -> Result<Vec<u64>, String> {
    let bytes = std::fs::read(index).map_err(|e| format!("cannot read it: {e}"))?;
    offsets_in(&bytes, data_length, starts)
}

/// [`offsets_of`] on Index.db's bytes.
pub(crate) fn offsets_in(
    bytes: &[u8],
    data_length: u64,
    starts: &[i64],
) -> Result<Vec<u64>, String> {
    let mut out = Vec::with_capacity(starts.len());
    let mut at = 0usize;
    let mut previous = i64::MIN;
    while out.len() < starts.len() && at < bytes.len() {
        let entry = at;
        let key_len = usize::from(u16::from_be_bytes(
            take(bytes, &mut at, 2, entry)?.try_into().unwrap(),
        ));
        let key = take(bytes, &mut at, key_len, entry)?;
        let position = uvint(bytes, &mut at, entry)?;
        let promoted = uvint(bytes, &mut at, entry)?;
        let promoted = usize::try_from(promoted)
            .ok()
            .filter(|&n| n <= bytes.len() - at)
            .ok_or_else(|| format!("the entry at byte {entry} runs past the end of the file"))?;
        at += promoted;
        if position > data_length {
            return Err(format!(
                "the entry at byte {entry} points at byte {position} of data that is {data_length} bytes long"
            ));
        }
        let token = Token::of_key(key).0;
        if token < previous {
            return Err(format!(
                "the entry at byte {entry} is out of token order: the file is damaged or not Murmur3Partitioner's"
            ));
        }
        previous = token;
        while out.len() < starts.len() && token >= starts[out.len()] {
            out.push(position);
        }
    }
    out.resize(starts.len(), data_length);
    Ok(out)
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize, entry: usize) -> Result<&'a [u8], String> {
    let out = bytes
        .get(*at..*at + n)
        .ok_or_else(|| format!("the entry at byte {entry} runs past the end of the file"))?;
    *at += n;
    Ok(out)
}

fn uvint(bytes: &[u8], at: &mut usize, entry: usize) -> Result<u64, String> {
    let first = *take(bytes, at, 1, entry)?.first().unwrap_or(&0);
    let extra = first.leading_ones() as usize;
    let rest = take(bytes, at, extra, entry)?;
    let mut v = u64::from(first) & (0xffu64 >> extra.min(8));
    for &b in rest {
        v = (v << 8) | u64::from(b);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Index.db: each key with its offset (an unsigned vint), no promoted index.
    fn index(keys: &[(&[u8], u64)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (key, offset) in keys {
            out.extend_from_slice(&(key.len() as u16).to_be_bytes());
            out.extend_from_slice(key);
            match *offset {
                n if n < 0x80 => out.push(n as u8),
                n if n < 0x4000 => out.extend_from_slice(&(0x8000 | n as u16).to_be_bytes()),
                n => {
                    assert!(n < 0x20_0000);
                    out.extend_from_slice(&[0xc0 | (n >> 16) as u8, (n >> 8) as u8, n as u8]);
                }
            }
            out.push(0);
        }
        out
    }

    #[test]
    fn unsigned_vints_of_one_two_and_three_bytes_read_back() {
        for n in [0u64, 127, 128, 0x3fff, 0x4000, 0x1f_ffff] {
            let bytes = index(&[(b"k", n)]);
            let mut at = 3;
            assert_eq!(uvint(&bytes, &mut at, 0).unwrap(), n);
        }
    }

    fn sorted_keys(n: usize) -> Vec<(Vec<u8>, i64)> {
        let mut keys: Vec<(Vec<u8>, i64)> = (0..n as u32)
            .map(|i| {
                let key = i.to_be_bytes().to_vec();
                let token = Token::of_key(&key).0;
                (key, token)
            })
            .collect();
        keys.sort_by_key(|k| k.1);
        keys
    }

    #[test]
    fn each_start_gets_the_offset_of_the_first_partition_at_or_past_its_token() {
        let keys = sorted_keys(100);
        let entries: Vec<(&[u8], u64)> = keys
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.as_slice(), i as u64 * 1000))
            .collect();
        let bytes = index(&entries);
        let starts = [i64::MIN, keys[10].1, keys[10].1 + 1, keys[99].1 + 1];
        let got = offsets_in(&bytes, 100_000, &starts).unwrap();
        assert_eq!(got, vec![0, 10_000, 11_000, 100_000]);
    }

    #[test]
    fn a_promoted_index_is_skipped() {
        let keys = sorted_keys(3);
        let mut bytes = Vec::new();
        for (i, (key, _)) in keys.iter().enumerate() {
            bytes.extend_from_slice(&(key.len() as u16).to_be_bytes());
            bytes.extend_from_slice(key);
            bytes.push(i as u8 * 10); // position
            bytes.push(3); // a promoted index of three bytes
            bytes.extend_from_slice(&[0xff, 0xff, 0xff]);
        }
        let got = offsets_in(&bytes, 100, &[keys[1].1, keys[2].1]).unwrap();
        assert_eq!(got, vec![10, 20]);
    }

    #[test]
    fn a_cut_or_disordered_index_is_refused_not_read_short() {
        let keys = sorted_keys(3);
        let entries: Vec<(&[u8], u64)> = keys.iter().map(|(k, _)| (k.as_slice(), 0)).collect();
        let bytes = index(&entries);
        let cut = &bytes[..bytes.len() - 3];
        assert!(offsets_in(cut, 10, &[i64::MAX]).is_err());
        let mut reversed = entries.clone();
        reversed.reverse();
        let err = offsets_in(&index(&reversed), 10, &[i64::MAX]).unwrap_err();
        assert!(err.contains("out of token order"), "{err}");
        let past = index(&[(keys[0].0.as_slice(), 11)]);
        let err = offsets_in(&past, 10, &[i64::MAX]).unwrap_err();
        assert!(err.contains("points at byte 11"), "{err}");
    }
}
