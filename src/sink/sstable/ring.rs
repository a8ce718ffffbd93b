//! The token ring as the SSTable sink cuts along it: the ring's ranges `(previous token, token]`
//! merged into regions, each a run of adjacent ranges one replica set owns. An SSTable never
//! crosses a region's edge, so all of it lies inside ranges every one of its replicas owns and
//! Cassandra can stream it as a whole file (`CassandraOutgoingFile`'s entire-SSTable streaming
//! wants the SSTable's first and last token inside one range the receiving node owns).
//!
//! The range that wraps, from the last token around to the first, is two regions in token
//! order: the tokens after the last ring token and those up to the first. A ring one replica set
//! owns whole is one region.

/// Regions of the ring, in token order, and the replica set of each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ring {
    /// The last token of each region but the wrap's tail (which ends at the top of the ring).
    ends: Vec<i64>,
    /// The replica set of each region, an index into `sets`; one more than `ends`: the tail.
    owner: Vec<usize>,
    /// Each replica set: its nodes' addresses, sorted.
    sets: Vec<Vec<String>>,
}

impl Ring {
    /// One region, owned by one set (a one-node cluster, or no ring known).
    pub fn whole(nodes: Vec<String>) -> Ring {
        Ring {
            ends: Vec::new(),
            owner: vec![0],
            sets: vec![nodes],
        }
    }

    /// The ring from its tokens, each with the replicas of the range ending at it (in any
    /// order; tokens need not be sorted or distinct).
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i64, Vec<String>)>) -> Ring {
        let mut ranges: Vec<(i64, Vec<String>)> = ranges
            .into_iter()
            .map(|(t, mut nodes)| {
                nodes.sort();
                nodes.dedup();
                (t, nodes)
            })
            .collect();
        ranges.sort_by_key(|(t, _)| *t);
        ranges.dedup_by_key(|(t, _)| *t);
        let mut sets: Vec<Vec<String>> = Vec::new();
        let mut set_of = |nodes: Vec<String>| match sets.iter().position(|s| *s == nodes) {
            Some(i) => i,
            None => {
                sets.push(nodes);
                sets.len() - 1
            }
        };
        let owners: Vec<(i64, usize)> = ranges.into_iter().map(|(t, n)| (t, set_of(n))).collect();
        if owners.is_empty() {
            return Ring::whole(Vec::new());
        }
        if sets.len() == 1 {
            return Ring::whole(sets.pop().unwrap_or_default());
        }
        let mut ends = Vec::new();
        let mut owner = Vec::new();
        for (i, &(token, set)) in owners.iter().enumerate() {
            // A region ends where the next range has another owner.
            if owners.get(i + 1).is_none_or(|&(_, next)| next != set) {
                ends.push(token);
                owner.push(set);
            }
        }
        // The tail, after the last ring token, belongs to the first range's replicas.
        owner.push(owners[0].1);
        Ring { ends, owner, sets }
    }

    /// The region holding `token`: 0 up to the first region's end, `ends.len()` for the tail.
    pub fn region(&self, token: i64) -> usize {
        self.ends.partition_point(|&end| end < token)
    }

    /// The replica set of a region, as an index into [`Ring::sets`].
    pub fn owner(&self, region: usize) -> usize {
        self.owner[region.min(self.owner.len() - 1)]
    }

    pub fn sets(&self) -> &[Vec<String>] {
        &self.sets
    }

    pub fn regions(&self) -> usize {
        self.owner.len()
    }

    /// The token range of a region, as text: `(start, end]`.
    pub fn describe(&self, region: usize) -> String {
        let start = match region.checked_sub(1).and_then(|i| self.ends.get(i)) {
            Some(t) => format!("({t}"),
            None => format!("[{}", i64::MIN),
        };
        match self.ends.get(region) {
            Some(end) => format!("{start}, {end}]"),
            None => format!("{start}, {}]", i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    /// Three nodes, RF 1: a, b, a, c around the ring.
    fn rf1() -> Ring {
        Ring::from_ranges([
            (100, nodes(&["b"])),
            (-50, nodes(&["a"])),
            (0, nodes(&["a"])),
            (200, nodes(&["c"])),
        ])
    }

    #[test]
    fn adjacent_ranges_of_one_owner_make_one_region_and_the_wrap_is_two() {
        let ring = rf1();
        // (-inf, 0] a; (0, 100] b; (100, 200] c; (200, +inf) a again.
        assert_eq!(ring.regions(), 4);
        let region = |t| ring.region(t);
        assert_eq!(
            [i64::MIN, -50, -49, 0, 1, 100, 101, 200, 201, i64::MAX].map(region),
            [0, 0, 0, 0, 1, 1, 2, 2, 3, 3]
        );
        let owner = |t: i64| ring.sets()[ring.owner(ring.region(t))].clone();
        assert_eq!(owner(-60), nodes(&["a"]));
        assert_eq!(owner(50), nodes(&["b"]));
        assert_eq!(owner(150), nodes(&["c"]));
        assert_eq!(owner(i64::MAX), nodes(&["a"]));
        assert_eq!(ring.describe(1), "(0, 100]");
        assert_eq!(ring.describe(3), format!("(200, {}]", i64::MAX));
        assert_eq!(ring.describe(0), format!("[{}, 0]", i64::MIN));
    }

    #[test]
    fn a_ring_one_replica_set_owns_whole_is_one_region() {
        let all = || nodes(&["c", "a", "b"]);
        let ring = Ring::from_ranges([(5, all()), (-7, all()), (90, all())]);
        assert_eq!(ring.regions(), 1);
        assert_eq!(ring.region(i64::MIN), ring.region(i64::MAX));
        assert_eq!(ring.sets(), [nodes(&["a", "b", "c"])]);
    }
}
