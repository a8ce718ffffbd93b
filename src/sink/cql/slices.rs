//! Range deletions as CQL can say them: a `DELETE` names rows by equalities on a clustering
//! prefix and at most one slice of the next column, so a range that begins and ends at
//! different depths becomes several pieces. Only the CQL statements need this; the order rules
//! it relies on are the model's ([`crate::model::order`]).

use std::cmp::Ordering;

use crate::model::RangeDeletion;
use crate::model::order::ClusteringComparator;

/// A piece of a range that one CQL `DELETE` can name: clustering columns `0..eq.len()` equal to
/// `eq`, and column `eq.len()` between `lower` and `upper` (each a value and whether it is
/// included), in clustering order: for a DESC column `lower` is the greater value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slice<'a> {
    pub eq: &'a [Vec<u8>],
    pub lower: Option<(&'a [u8], bool)>,
    pub upper: Option<(&'a [u8], bool)>,
}

impl Slice<'_> {
    /// Whether the row with clustering `row` lies in this piece.
    pub fn contains<C: AsRef<[u8]>>(&self, order: &ClusteringComparator, row: &[C]) -> bool {
        let j = self.eq.len();
        let prefix_equal = row.len() >= j && order.compare_shared(self.eq, row).is_eq();
        let within = |bound: Option<(&[u8], bool)>, below: Ordering| match bound {
            None => true,
            Some((v, inclusive)) => row.get(j).is_some_and(|c| {
                let ord = order.compare_column(j, v, c.as_ref());
                ord == below || (inclusive && ord == Ordering::Equal)
            }),
        };
        prefix_equal && within(self.lower, Ordering::Less) && within(self.upper, Ordering::Greater)
    }
}

/// Splits a range (start not after end) into the pieces CQL can delete with equalities on a
/// prefix and a slice on the next column, in clustering order. A range of one prefix's rows is
/// one piece without bounds; a range that begins and ends in different places of a deeper
/// clustering needs a piece per level: `(a, b) > (1, 2) AND a < 5` is `a = 1 AND b > 2` plus
/// `a > 1 AND a < 5`. Empty ranges give no pieces.
pub fn slices(range: &RangeDeletion) -> Vec<Slice<'_>> {
    let (s, e) = (&range.start.prefix, &range.end.prefix);
    let (m, n) = (s.len(), e.len());
    let k = s.iter().zip(e).take_while(|(a, b)| a == b).count();
    let lower = if m > k {
        Some((s[k].as_slice(), m == k + 1 && range.start.inclusive))
    } else if range.start.inclusive {
        None
    } else {
        return Vec::new();
    };
    let upper = if n > k {
        Some((e[k].as_slice(), n == k + 1 && range.end.inclusive))
    } else if range.end.inclusive {
        None
    } else {
        return Vec::new();
    };
    let mut out: Vec<Slice<'_>> = (k + 1..m)
        .rev()
        .map(|j| Slice {
            eq: &s[..j],
            lower: Some((&s[j], j == m - 1 && range.start.inclusive)),
            upper: None,
        })
        .collect();
    out.push(Slice {
        eq: &s[..k],
        lower,
        upper,
    });
    out.extend((k + 1..n).map(|j| Slice {
        eq: &e[..j],
        lower: None,
        upper: Some((&e[j], j == n - 1 && range.end.inclusive)),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;
    use crate::model::order::Side;
    use crate::model::order::tests::{int_prefix, range, t};
    use crate::model::schema::ClusteringOrder;
    use Ordering::Greater;
    use proptest::prelude::*;

    #[test]
    fn a_range_splits_into_one_piece_per_clustering_level_it_crosses() {
        let r = range(&[1, 2, 3], false, &[4], false);
        let pieces = slices(&r);
        let v = |x: i32| Value::Int(x).to_bytes();
        let (one, two, three, four) = (v(1), v(2), v(3), v(4));
        assert_eq!(
            pieces,
            [
                Slice {
                    eq: &int_prefix(&[1, 2])[..],
                    lower: Some((&three[..], false)),
                    upper: None
                },
                Slice {
                    eq: &int_prefix(&[1])[..],
                    lower: Some((&two[..], false)),
                    upper: None
                },
                Slice {
                    eq: &[][..],
                    lower: Some((&one[..], false)),
                    upper: Some((&four[..], false))
                },
            ]
        );
        let single = range(&[7], true, &[7], true);
        assert_eq!(
            slices(&single),
            [Slice {
                eq: &int_prefix(&[7])[..],
                lower: None,
                upper: None
            }]
        );
        assert!(slices(&range(&[7], false, &[7], true)).is_empty());
    }

    fn arb_bound() -> impl Strategy<Value = (Vec<i32>, bool)> {
        (prop::collection::vec(0i32..3, 0..=3), any::<bool>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_pieces_of_a_range_cover_exactly_its_rows(
            start in arb_bound(),
            end in arb_bound(),
            desc in prop::collection::vec(any::<bool>(), 3),
        ) {
            let cmp = ClusteringComparator::from_columns(desc.iter().map(|&d| {
                (t("int"), if d { ClusteringOrder::Desc } else { ClusteringOrder::Asc })
            }));
            let order = |r: &RangeDeletion| {
                cmp.compare_bounds(
                    (&r.start.prefix, Side::of(&r.start, true)),
                    (&r.end.prefix, Side::of(&r.end, false)),
                )
            };
            let mut r = range(&start.0, start.1, &end.0, end.1);
            if order(&r) == Greater {
                r = range(&end.0, end.1, &start.0, start.1);
            }
            prop_assume!(order(&r) != Greater);
            let pieces = slices(&r);
            for a in 0..3 {
                for b in 0..3 {
                    for c in 0..3 {
                        let row = int_prefix(&[a, b, c]);
                        let in_pieces = pieces.iter().filter(|p| p.contains(&cmp, &row)).count();
                        prop_assert!(in_pieces <= 1, "pieces overlap at {:?}", (a, b, c));
                        prop_assert_eq!(in_pieces == 1, cmp.covers(&r, &row), "row {:?}", (a, b, c));
                    }
                }
            }
        }
    }
}
