//! Cassandra's variable-length integers (`VIntCoding`): the count of leading one bits in the first
//! byte says how many bytes follow, big-endian. Signed values are zig-zag encoded first. Used by
//! the `duration` and `vector` wire formats and throughout the SSTable format.

use thiserror::Error;

/// A vint that ended before its announced length.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("truncated variable-length integer: needs {needed} bytes, {available} left")]
pub struct VintError {
    pub needed: usize,
    pub available: usize,
}

/// How many bytes `write_unsigned` uses for `value` (1 to 9).
pub fn unsigned_size(value: u64) -> usize {
    let magnitude = (value | 1).leading_zeros() as usize;
    (639 - magnitude * 9) >> 6
}

/// Appends `value` in Cassandra's unsigned vint format.
pub fn write_unsigned(value: u64, out: &mut Vec<u8>) {
    let size = unsigned_size(value);
    if size == 1 {
        out.push(value as u8);
        return;
    }
    let extra = size - 1;
    let start = out.len();
    // The low `size` bytes of the value, big-endian (9 bytes: a marker byte then all 8).
    out.extend_from_slice(&[0u8; 9][..size]);
    let mut v = value;
    for i in (0..size).rev() {
        out[start + i] = v as u8;
        v = v.checked_shr(8).unwrap_or(0);
    }
    out[start] |= !(0xffu32 >> extra) as u8;
}

/// Appends `value` zig-zag encoded in the vint format.
pub fn write_signed(value: i64, out: &mut Vec<u8>) {
    write_unsigned(((value << 1) ^ (value >> 63)) as u64, out);
}

/// Reads an unsigned vint from the start of `bytes`; returns it and the bytes it took.
pub fn read_unsigned(bytes: &[u8]) -> Result<(u64, usize), VintError> {
    let first = *bytes.first().ok_or(VintError {
        needed: 1,
        available: 0,
    })?;
    let extra = first.leading_ones() as usize;
    if bytes.len() < 1 + extra {
        return Err(VintError {
            needed: 1 + extra,
            available: bytes.len(),
        });
    }
    let mut value = u64::from(first) & (0xff >> extra);
    for &b in &bytes[1..=extra] {
        value = (value << 8) | u64::from(b);
    }
    Ok((value, 1 + extra))
}

/// Reads a zig-zag encoded signed vint from the start of `bytes`.
pub fn read_signed(bytes: &[u8]) -> Result<(i64, usize), VintError> {
    let (v, n) = read_unsigned(bytes)?;
    Ok((((v >> 1) as i64) ^ -((v & 1) as i64), n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unsigned(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_unsigned(v, &mut out);
        out
    }

    fn signed(v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_signed(v, &mut out);
        out
    }

    // Golden values: the bytes Cassandra's VIntCoding.writeUnsignedVInt produces.
    #[test]
    fn unsigned_vints_match_cassandra_golden_bytes() {
        assert_eq!(unsigned(0), [0x00]);
        assert_eq!(unsigned(127), [0x7f]);
        assert_eq!(unsigned(128), [0x80, 0x80]);
        assert_eq!(unsigned(300), [0x81, 0x2c]);
        assert_eq!(unsigned(16383), [0xbf, 0xff]);
        assert_eq!(unsigned(16384), [0xc0, 0x40, 0x00]);
        assert_eq!(unsigned(u32::MAX as u64), [0xf0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(unsigned(1 << 56), [0xff, 1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(unsigned(u64::MAX), [0xff; 9]);
    }

    #[test]
    fn signed_vints_are_zigzag_encoded() {
        assert_eq!(signed(0), [0x00]);
        assert_eq!(signed(-1), [0x01]);
        assert_eq!(signed(1), [0x02]);
        assert_eq!(signed(-64), [0x7f]);
        assert_eq!(signed(64), [0x80, 0x80]);
        assert_eq!(signed(i64::MIN), [0xff; 9]);
    }

    #[test]
    fn a_truncated_vint_is_an_error_not_a_panic() {
        assert_eq!(
            read_unsigned(&[0xc0, 0x40]),
            Err(VintError {
                needed: 3,
                available: 2
            })
        );
        assert!(read_unsigned(&[]).is_err());
    }

    proptest! {
        #[test]
        fn every_unsigned_value_round_trips_with_its_computed_size(v: u64) {
            let bytes = unsigned(v);
            prop_assert_eq!(bytes.len(), unsigned_size(v));
            prop_assert_eq!(read_unsigned(&bytes), Ok((v, bytes.len())));
        }

        #[test]
        fn every_signed_value_round_trips(v: i64) {
            let bytes = signed(v);
            prop_assert_eq!(read_signed(&bytes), Ok((v, bytes.len())));
        }
    }
}
