//! Contact points from DNS SRV records (`--hosts srv:_cql._tcp.cluster.example.com`), as
//! RFC 2782 orders them: the group with the best (lowest) priority first, its hosts in an
//! order drawn at random by weight, then the other groups, each used only when every group
//! before it is unreachable ([`crate::cluster::connect`] does that). The port comes from each
//! record, each target's addresses from the same name servers: the system's
//! (`/etc/resolv.conf`) or the file [`RESOLV_CONF_ENV`] names.

use std::net::IpAddr;
use std::path::PathBuf;

use hickory_resolver::Resolver;
use hickory_resolver::config::ResolverConfig;
use hickory_resolver::name_server::TokioConnectionProvider;
use rand::Rng;
use thiserror::Error;

use crate::exit::Classify;

/// The prefix of a contact point that names SRV records.
pub const PREFIX: &str = "srv:";

/// The environment variable naming a resolv.conf to use instead of `/etc/resolv.conf`.
pub const RESOLV_CONF_ENV: &str = "CASSBULK_RESOLV_CONF";

#[derive(Debug, Error)]
pub enum SrvError {
    #[error("--hosts {name}: mixes SRV names and hosts; give one srv:NAME, or hosts without srv:")]
    Mixed { name: String },
    #[error("cannot read the resolver configuration {path}: {reason}; check {RESOLV_CONF_ENV}")]
    Config { path: String, reason: String },
    #[error(
        "--hosts srv:{name}: {reason}; check the name (it usually starts with _cql._tcp.) and the name servers in {conf}"
    )]
    Lookup {
        name: String,
        reason: String,
        conf: String,
    },
    #[error(
        "--hosts srv:{name}: the records name no host (\".\": the service is not offered there); check the DNS zone"
    )]
    NotOffered { name: String },
    #[error(
        "--hosts srv:{name}: target {target} has no address: {reason}; check the DNS zone's A/AAAA records"
    )]
    Target {
        name: String,
        target: String,
        reason: String,
    },
}

impl Classify for SrvError {
    /// The command's to fix: a mix of names, an unreadable resolver file. What DNS answers
    /// (or does not) is a failure, exit 3.
    fn is_usage(&self) -> bool {
        matches!(self, SrvError::Mixed { .. } | SrvError::Config { .. })
    }
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// A group of records of one priority, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub priority: u16,
    pub records: Vec<Record>,
}

/// The SRV name of `hosts` when they name one (`srv:NAME`); refuses a mix.
pub fn srv_name(hosts: &[String]) -> Result<Option<String>, SrvError> {
    let names: Vec<&str> = hosts
        .iter()
        .filter_map(|h| h.trim().strip_prefix(PREFIX))
        .collect();
    match names.as_slice() {
        [] => Ok(None),
        [name] if hosts.len() == 1 => Ok(Some((*name).to_owned())),
        _ => Err(SrvError::Mixed {
            name: hosts.join(","),
        }),
    }
}

/// RFC 2782's order: groups by ascending priority; in each, records drawn one at a time
/// with chances in proportion to weight (zero-weight records first in the running sums, so
/// they are rarely drawn while others remain). `draw(n)` gives a number in `0..=n`.
pub fn order(mut records: Vec<Record>, mut draw: impl FnMut(u32) -> u32) -> Vec<Group> {
    records.sort_by_key(|r| (r.priority, r.weight != 0));
    let mut groups: Vec<Group> = Vec::new();
    for record in records {
        match groups.last_mut() {
            Some(g) if g.priority == record.priority => g.records.push(record),
            _ => groups.push(Group {
                priority: record.priority,
                records: vec![record],
            }),
        }
    }
    for group in &mut groups {
        let mut left = std::mem::take(&mut group.records);
        while !left.is_empty() {
            let total: u32 = left.iter().map(|r| u32::from(r.weight)).sum();
            let pick = draw(total);
            let mut running = 0;
            let i = left
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= pick
                })
                .unwrap_or(0);
            group.records.push(left.remove(i));
        }
    }
    groups
}

/// The resolver configuration: [`RESOLV_CONF_ENV`]'s file, else the system's.
fn resolver() -> Result<(Resolver<TokioConnectionProvider>, String), SrvError> {
    let path = std::env::var_os(RESOLV_CONF_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/resolv.conf"));
    let shown = path.display().to_string();
    let failed = |reason: String| SrvError::Config {
        path: shown.clone(),
        reason,
    };
    let text = std::fs::read(&path).map_err(|e| failed(e.to_string()))?;
    let (config, options): (ResolverConfig, _) =
        hickory_resolver::system_conf::parse_resolv_conf(text)
            .map_err(|e| failed(e.to_string()))?;
    let resolver = Resolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(options)
        .build();
    Ok((resolver, shown))
}

/// Looks up `name`'s SRV records and their targets' addresses: the groups of contact points
/// (`address:port`) to try in turn, each with its priority.
pub async fn resolve(name: &str) -> Result<Vec<(u16, Vec<String>)>, SrvError> {
    let (resolver, conf) = resolver()?;
    let lookup = resolver
        .srv_lookup(name)
        .await
        .map_err(|e| SrvError::Lookup {
            name: name.to_owned(),
            reason: if e.is_no_records_found() {
                "no SRV records".to_owned()
            } else {
                e.to_string()
            },
            conf: conf.clone(),
        })?;
    let records: Vec<Record> = lookup
        .iter()
        .map(|srv| Record {
            priority: srv.priority(),
            weight: srv.weight(),
            port: srv.port(),
            target: srv.target().to_utf8(),
        })
        .collect();
    if records
        .iter()
        .all(|r| r.target == "." || r.target.is_empty())
    {
        return Err(SrvError::NotOffered {
            name: name.to_owned(),
        });
    }
    let mut rng = rand::rng();
    let mut groups = Vec::new();
    for group in order(records, |n| rng.random_range(0..=n)) {
        let mut points = Vec::new();
        for record in &group.records {
            let addresses = resolver
                .lookup_ip(record.target.as_str())
                .await
                .map_err(|e| SrvError::Target {
                    name: name.to_owned(),
                    target: record.target.clone(),
                    reason: e.to_string(),
                })?;
            for ip in addresses.iter() {
                points.push(match ip {
                    IpAddr::V4(v4) => format!("{v4}:{}", record.port),
                    IpAddr::V6(v6) => format!("[{v6}]:{}", record.port),
                });
            }
        }
        groups.push((group.priority, points));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(priority: u16, weight: u16, target: &str) -> Record {
        Record {
            priority,
            weight,
            port: 9042,
            target: target.into(),
        }
    }

    #[test]
    fn groups_come_best_priority_first_whatever_the_records_order() {
        let groups = order(
            vec![
                record(20, 1, "c"),
                record(10, 1, "a"),
                record(30, 1, "d"),
                record(10, 1, "b"),
            ],
            |n| n,
        );
        let priorities: Vec<u16> = groups.iter().map(|g| g.priority).collect();
        assert_eq!(priorities, [10, 20, 30]);
        assert_eq!(groups[0].records.len(), 2);
    }

    #[test]
    fn within_a_group_the_draw_picks_by_running_sum_of_weights() {
        // Zero weight first, then as given: running sums 0, 30, 40. A draw of 0 picks the
        // zero-weight record, 1..=30 the heavy one, 31..=40 the light one.
        let records = vec![
            record(1, 30, "heavy"),
            record(1, 0, "zero"),
            record(1, 10, "light"),
        ];
        let first = |pick: u32| {
            order(records.clone(), |_| pick)[0].records[0]
                .target
                .clone()
        };
        assert_eq!(first(0), "zero");
        assert_eq!(first(1), "heavy");
        assert_eq!(first(30), "heavy");
        assert_eq!(first(31), "light");
        assert_eq!(first(40), "light");
    }

    #[test]
    fn a_heavier_record_comes_first_in_proportion_to_its_weight() {
        let records = vec![record(1, 90, "heavy"), record(1, 10, "light")];
        let mut seed = 7u64;
        let mut heavy = 0;
        for _ in 0..1000 {
            let groups = order(records.clone(), |n| {
                // A small linear congruential generator: the test is deterministic.
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((seed >> 33) % (u64::from(n) + 1)) as u32
            });
            heavy += usize::from(groups[0].records[0].target == "heavy");
        }
        assert!((850..=950).contains(&heavy), "{heavy}");
    }

    #[test]
    fn a_srv_name_is_alone_in_hosts() {
        let hosts = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(srv_name(&hosts(&["10.0.0.1"])).unwrap(), None);
        assert_eq!(
            srv_name(&hosts(&["srv:_cql._tcp.db.example"])).unwrap(),
            Some("_cql._tcp.db.example".into())
        );
        assert!(srv_name(&hosts(&["srv:_cql._tcp.a", "10.0.0.1"])).is_err());
    }

    proptest! {
        #[test]
        fn every_record_is_tried_once_in_priority_order(
            records in proptest::collection::vec((0u16..4, 0u16..5), 0..12),
            draws in proptest::collection::vec(any::<u32>(), 64),
        ) {
            let records: Vec<Record> = records
                .iter()
                .enumerate()
                .map(|(i, (p, w))| record(*p, *w, &i.to_string()))
                .collect();
            let mut next = draws.into_iter().cycle();
            let groups = order(records.clone(), |n| next.next().unwrap() % (n + 1));
            let flat: Vec<&Record> = groups.iter().flat_map(|g| &g.records).collect();
            prop_assert_eq!(flat.len(), records.len());
            let mut names: Vec<&str> = flat.iter().map(|r| r.target.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            prop_assert_eq!(names.len(), records.len());
            prop_assert!(flat.windows(2).all(|w| w[0].priority <= w[1].priority));
            prop_assert!(groups.iter().all(|g| g.records.iter().all(|r| r.priority == g.priority)));
        }
    }
}
