//! Non-frozen lists, the one CQL write that is not idempotent. A list written whole with
//! `INSERT ... USING TIMESTAMP t` becomes a list deletion at `t - 1` and one cell per element
//! at `t`, whose cell path is a timeuuid the *server* makes when it applies the write. Written
//! twice at the same `t` (a reload of the same dump, a retry after a timeout that was in fact
//! applied, a resumed load rewriting what followed its last checkpoint), the second deletion at
//! `t - 1` does not cover the first write's elements at `t`, and the list holds every element
//! twice. Sets and maps have no such problem: their cell paths are the elements and keys
//! themselves, so a second write lands on the same cells.
//!
//! So before writing a list the CQL sink reads what the table holds (on Cassandra 5.0,
//! `writetime()` of a non-frozen collection gives each element's write time) and [`decide`]s:
//! - the table holds elements written after `t` (a live write after the snapshot): leave the
//!   list alone, whatever it holds ([`ListCheck::Newer`]);
//! - the table's elements written at `t` are exactly the list's: it is already there
//!   ([`ListCheck::Present`]);
//! - otherwise (no list, only older elements, or other elements at `t`): write it. In the last
//!   case Cassandra then holds both lists' elements, the table's first, as it would for any two
//!   clients writing different lists with the same timestamp.
//!
//! A read cannot see a write still on its way (a stalled coordinator that applies it after the
//! client gave up). So after an attempt whose outcome is unknown, the writer sends the lists
//! this check says to write one microsecond later instead ([`super::statements::fence`]).
//!
//! On clusters that refuse `writetime()` of a non-frozen collection (before 5.0) only the values
//! are compared: the same elements mean present, anything else is written.
//!
//! Appends (`SET l = l + [...]`, for list elements an SSTable holds with write times of their
//! own) are checked the same way by [`decide_append`], except that newer elements never stop
//! them: an append removes nothing, and a newer whole-list write's deletion already shadows it.

use std::collections::HashMap;

/// What the table holds of one list: its elements, serialized, and (on 5.0) each element's
/// write time, in the same order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetList {
    pub elements: Vec<Vec<u8>>,
    pub write_times: Option<Vec<i64>>,
}

/// The table's lists of one partition, by (clustering, column); a static list has an empty
/// clustering. A list that is NULL or empty in the table is absent.
pub type TargetLists = HashMap<(Vec<Vec<u8>>, usize), TargetList>;

/// What to do with one list write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListCheck {
    Write,
    /// The table already holds this list at this write time: writing it again would append.
    Present,
    /// The table holds elements newer than this write: a live write that must win.
    Newer,
}

/// Decides whether writing `elements` at `timestamp` over what the table holds is right.
pub fn decide(elements: &[&[u8]], timestamp: i64, target: Option<&TargetList>) -> ListCheck {
    let Some(target) = target.filter(|t| !t.elements.is_empty()) else {
        return ListCheck::Write;
    };
    let same = |held: &mut dyn Iterator<Item = &Vec<u8>>| {
        held.map(Vec::as_slice).eq(elements.iter().copied())
    };
    match &target.write_times {
        Some(times) => {
            if times.iter().any(|&w| w > timestamp) {
                return ListCheck::Newer;
            }
            let mut at_timestamp = target
                .elements
                .iter()
                .zip(times)
                .filter(|&(_, &w)| w == timestamp)
                .map(|(e, _)| e);
            if same(&mut at_timestamp) {
                ListCheck::Present
            } else {
                ListCheck::Write
            }
        }
        None if same(&mut target.elements.iter()) => ListCheck::Present,
        None => ListCheck::Write,
    }
}

/// Decides whether appending `elements` at `timestamp` is right: not when the table's elements
/// written at `timestamp` are exactly these (an earlier load appended them); without write
/// times, not when the table's list holds them as one run.
pub fn decide_append(elements: &[&[u8]], timestamp: i64, target: Option<&TargetList>) -> ListCheck {
    let Some(target) = target.filter(|t| !t.elements.is_empty()) else {
        return ListCheck::Write;
    };
    let present = match &target.write_times {
        Some(times) => target
            .elements
            .iter()
            .zip(times)
            .filter(|&(_, &w)| w == timestamp)
            .map(|(e, _)| e.as_slice())
            .eq(elements.iter().copied()),
        None => {
            !elements.is_empty()
                && target
                    .elements
                    .windows(elements.len())
                    .any(|w| w.iter().map(Vec::as_slice).eq(elements.iter().copied()))
        }
    };
    if present {
        ListCheck::Present
    } else {
        ListCheck::Write
    }
}

/// The elements of a serialized list (native protocol v4: an `int` count, then each element as
/// an `int` length and its bytes); `None` when the bytes are not such a list or an element is
/// NULL.
pub fn list_elements(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let int = |b: &[u8]| -> Option<i32> { Some(i32::from_be_bytes(b.get(..4)?.try_into().ok()?)) };
    let count = usize::try_from(int(bytes)?).ok()?;
    let mut rest = &bytes[4..];
    let mut out = Vec::with_capacity(count.min(rest.len() / 4));
    for _ in 0..count {
        let len = usize::try_from(int(rest)?).ok()?;
        let element = rest.get(4..4 + len)?;
        out.push(element);
        rest = &rest[4 + len..];
    }
    rest.is_empty().then_some(out)
}

/// The write times `writetime()` gives for a non-frozen list: a serialized `list<bigint>`.
pub fn write_times(bytes: &[u8]) -> Option<Vec<i64>> {
    list_elements(bytes)?
        .into_iter()
        .map(|b| Some(i64::from_be_bytes(b.try_into().ok()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Value;

    fn target(elements: &[&str], times: &[i64]) -> TargetList {
        TargetList {
            elements: elements.iter().map(|e| e.as_bytes().to_vec()).collect(),
            write_times: Some(times.to_vec()),
        }
    }

    fn list<'a>(elements: &[&'a str]) -> Vec<&'a [u8]> {
        elements.iter().map(|e| e.as_bytes()).collect()
    }

    #[test]
    fn the_same_list_at_the_same_time_is_present_and_not_written_again() {
        let held = target(&["a", "b", "a"], &[10, 10, 10]);
        assert_eq!(
            decide(&list(&["a", "b", "a"]), 10, Some(&held)),
            ListCheck::Present
        );
    }

    #[test]
    fn an_older_source_list_is_not_written_over_a_newer_one() {
        let held = target(&["x"], &[20]);
        assert_eq!(decide(&list(&["a"]), 10, Some(&held)), ListCheck::Newer);
        // Also when only an element appended later is newer.
        let appended = target(&["a", "z"], &[10, 20]);
        assert_eq!(decide(&list(&["a"]), 10, Some(&appended)), ListCheck::Newer);
    }

    #[test]
    fn a_newer_source_list_replaces_an_older_one() {
        let held = target(&["a", "b"], &[5, 5]);
        assert_eq!(
            decide(&list(&["a", "b"]), 10, Some(&held)),
            ListCheck::Write
        );
        assert_eq!(decide(&list(&["a"]), 10, None), ListCheck::Write);
        assert_eq!(
            decide(&list(&["a"]), 10, Some(&target(&[], &[]))),
            ListCheck::Write
        );
    }

    #[test]
    fn different_elements_at_the_same_time_are_written_and_cassandra_keeps_both() {
        let held = target(&["a", "b"], &[10, 10]);
        assert_eq!(
            decide(&list(&["a", "c"]), 10, Some(&held)),
            ListCheck::Write
        );
        assert_eq!(decide(&list(&["a"]), 10, Some(&held)), ListCheck::Write);
    }

    #[test]
    fn without_write_times_equal_values_are_present_and_anything_else_is_written() {
        let held = TargetList {
            elements: vec![b"a".to_vec()],
            write_times: None,
        };
        assert_eq!(decide(&list(&["a"]), 10, Some(&held)), ListCheck::Present);
        assert_eq!(decide(&list(&["b"]), 10, Some(&held)), ListCheck::Write);
    }

    #[test]
    fn an_append_already_in_the_table_at_its_time_is_present_and_newer_elements_do_not_stop_one() {
        let held = target(&["a", "b", "z"], &[10, 10, 20]);
        assert_eq!(
            decide_append(&list(&["a", "b"]), 10, Some(&held)),
            ListCheck::Present
        );
        assert_eq!(
            decide_append(&list(&["c"]), 15, Some(&held)),
            ListCheck::Write
        );
        assert_eq!(
            decide_append(&list(&["a"]), 10, Some(&held)),
            ListCheck::Write
        );
        assert_eq!(decide_append(&list(&["a"]), 10, None), ListCheck::Write);
        let untimed = TargetList {
            elements: vec![b"x".to_vec(), b"a".to_vec(), b"b".to_vec()],
            write_times: None,
        };
        assert_eq!(
            decide_append(&list(&["a", "b"]), 10, Some(&untimed)),
            ListCheck::Present
        );
        assert_eq!(
            decide_append(&list(&["b", "a"]), 10, Some(&untimed)),
            ListCheck::Write
        );
    }

    #[test]
    fn list_bytes_split_into_elements_and_write_times() {
        let value = Value::List(vec![Value::Text("ab".into()), Value::Text(String::new())]);
        assert_eq!(
            list_elements(&value.to_bytes()),
            Some(vec![&b"ab"[..], &b""[..]])
        );
        let times = Value::List(vec![Value::Bigint(7), Value::Bigint(-1)]);
        assert_eq!(write_times(&times.to_bytes()), Some(vec![7, -1]));
        assert_eq!(
            list_elements(&[0, 0, 0, 1, 0, 0, 0, 5, 1]),
            None,
            "cut short"
        );
        assert_eq!(list_elements(&[0, 0, 0, 0, 9]), None, "trailing bytes");
        assert_eq!(
            write_times(&Value::List(vec![Value::Int(1)]).to_bytes()),
            None
        );
    }
}
