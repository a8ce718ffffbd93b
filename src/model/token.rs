//! Murmur3 tokens of partition keys, as Cassandra's `Murmur3Partitioner` computes them (including
//! its sign-extension quirk and the `Long.MIN_VALUE` normalisation), using the scylla driver's
//! partitioner. Composite keys hash their composite encoding: for each component a 16-bit
//! big-endian length, the bytes, then a 0x00 end-of-component byte.

use std::fmt;

use scylla::routing::partitioner::{Murmur3Partitioner, Partitioner, PartitionerHasher};

/// Cassandra's default partitioner, the one whose tokens cassbulk computes for every target.
pub const MURMUR3_PARTITIONER: &str = "org.apache.cassandra.dht.Murmur3Partitioner";

/// A Java class name without its package: `RandomPartitioner`, `UTF8Type`.
pub fn class_short_name(class: &str) -> &str {
    class.rsplit('.').next().unwrap_or(class)
}

/// A Murmur3 token. Ordered as a signed 64-bit integer, which is the ring's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub i64);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Token {
    /// The token of a partition key given as its serialized component values.
    pub fn of_components<C: AsRef<[u8]>>(components: &[C]) -> Token {
        let mut hasher = Murmur3Partitioner.build_hasher();
        match components {
            [single] => hasher.write(single.as_ref()),
            many => {
                // Streaming the composite encoding gives the same hash as building it first.
                for c in many {
                    let c = c.as_ref();
                    hasher.write(&(c.len() as u16).to_be_bytes());
                    hasher.write(c);
                    hasher.write(&[0]);
                }
            }
        }
        Token(hasher.finish().value())
    }

    /// The token of a partition key already in its stored form (see [`composite_key`]).
    pub fn of_key(key: &[u8]) -> Token {
        Token(Murmur3Partitioner.hash_one(key).value())
    }
}

/// The Murmur3 ring cut into `n` slices of equal width, in ring order: each slice's first and
/// last token, both included; together they cover every token once. Murmur3 spreads keys
/// evenly, so each slice holds about as much of any table.
pub fn slices(n: usize) -> Vec<(i64, i64)> {
    let n = n.max(1) as i128;
    let (min, span) = (i128::from(i64::MIN), 1i128 << 64);
    (0..n)
        .map(|i| {
            let first = min + span * i / n;
            let last = min + span * (i + 1) / n - 1;
            (first as i64, last as i64)
        })
        .collect()
}

/// A composite key component longer than the 16-bit length can say.
#[derive(Debug, thiserror::Error)]
#[error("partition key component {index} is {len} bytes; Cassandra allows at most 65535")]
pub struct KeyTooLong {
    pub index: usize,
    pub len: usize,
}

/// The stored form of a partition key from its components' serialized values: the value itself
/// for one component, else each component as its 16-bit length, its bytes and an
/// end-of-component byte.
pub fn composite_key<'a>(
    components: impl ExactSizeIterator<Item = &'a [u8]> + Clone,
) -> Result<Vec<u8>, KeyTooLong> {
    if components.len() == 1 {
        return Ok(components.clone().next().unwrap_or_default().to_vec());
    }
    let mut out = Vec::with_capacity(components.clone().map(|c| c.len() + 3).sum());
    for (index, c) in components.enumerate() {
        let len = u16::try_from(c.len()).map_err(|_| KeyTooLong {
            index,
            len: c.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(c);
        out.push(0);
    }
    Ok(out)
}

/// The components of a stored partition key (the inverse of [`composite_key`]); `None` if the
/// bytes are not a well-formed key of `n` components.
pub fn split_key(key: &[u8], n: usize) -> Option<Vec<&[u8]>> {
    if n == 1 {
        return Some(vec![key]);
    }
    let mut parts = Vec::with_capacity(n);
    let mut rest = key;
    for _ in 0..n {
        let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        parts.push(rest.get(2..2 + len)?);
        if *rest.get(2 + len)? != 0 {
            return None;
        }
        rest = &rest[3 + len..];
    }
    rest.is_empty().then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::value::Value;

    #[test]
    fn slices_cover_the_ring_once_in_order_and_evenly() {
        assert_eq!(slices(1), vec![(i64::MIN, i64::MAX)]);
        assert_eq!(slices(2), vec![(i64::MIN, -1), (0, i64::MAX)]);
        for n in [3, 7, 64] {
            let s = slices(n);
            assert_eq!(s.len(), n);
            assert_eq!(s[0].0, i64::MIN);
            assert_eq!(s[n - 1].1, i64::MAX);
            for w in s.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
            let widths: Vec<i128> = s
                .iter()
                .map(|(a, b)| i128::from(*b) - i128::from(*a))
                .collect();
            let (lo, hi) = (widths.iter().min().unwrap(), widths.iter().max().unwrap());
            assert!(hi - lo <= 1, "{n}: {widths:?}");
        }
    }

    // Golden values from Cassandra (`SELECT token(k) FROM t`) for the keys shown.
    #[test]
    fn tokens_match_cassandra_golden_values() {
        assert_eq!(
            Token::of_components(&[Value::Int(1).to_bytes()]).0,
            -4_069_959_284_402_364_209
        );
        assert_eq!(
            Token::of_components(&[Value::Text("hello".into()).to_bytes()]).0,
            -3_758_069_500_696_749_310
        );
        assert_eq!(
            Token::of_components(&[Value::Bigint(0).to_bytes()]).0,
            2_945_182_322_382_062_539
        );
    }

    #[test]
    fn composite_tokens_equal_the_token_of_the_composite_encoding() {
        let parts = [Value::Int(1).to_bytes(), Value::Text("a".into()).to_bytes()];
        let key = composite_key(parts.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(key, [0, 4, 0, 0, 0, 1, 0, 0, 1, b'a', 0]);
        assert_eq!(Token::of_components(&parts), Token::of_key(&key));
    }

    #[test]
    fn split_key_inverts_composite_key() {
        let parts: [&[u8]; 3] = [b"ab", b"", b"\x00\x01"];
        let key = composite_key(parts.into_iter()).unwrap();
        assert_eq!(split_key(&key, 3).unwrap(), parts);
        assert_eq!(split_key(&key, 2), None);
        assert_eq!(split_key(&key[..key.len() - 1], 3), None);
        assert_eq!(split_key(b"x", 1).unwrap(), [b"x"]);
    }

    #[test]
    fn a_single_component_key_is_stored_as_the_value_itself() {
        assert_eq!(
            composite_key([b"abc".as_slice()].into_iter()).unwrap(),
            b"abc"
        );
    }

    #[test]
    fn a_composite_component_over_64_kib_is_an_error() {
        let big = vec![0u8; 70_000];
        let err = composite_key([big.as_slice(), b"x".as_slice()].into_iter()).unwrap_err();
        assert_eq!(err.index, 0);
    }
}
