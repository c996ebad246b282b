//! Does a running pod satisfy the constraints? For the status list of pods that do not satisfy
//! (new) constraints and that a `replace` would move.
//!
//! The check follows the DC/OS meaning of each constraint, evaluated against where the pool's pods
//! run now. When pods share a domain beyond what a constraint allows, only the excess pods are
//! reported: the pods with the lowest node ids keep their place (so replacing the reported pods is
//! enough, and no pod is reported for a problem another pod causes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{Constraint, Operator};

/// A pod of the pool that has a node, with that node's labels.
#[derive(Clone, Copy, Debug)]
pub struct PlacedPod<'a> {
    pub node_id: i32,
    pub node_labels: &'a BTreeMap<String, String>,
}

/// A constraint a pod does not satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// 1-based number of the constraint.
    pub index: usize,
    /// The constraint as written.
    pub constraint: String,
    /// Why the pod does not satisfy it.
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "constraint {} ({}): {}",
            self.index, self.constraint, self.reason
        )
    }
}

/// The constraints `pod` does not satisfy where it runs now. Empty: it satisfies them all.
///
/// * `pool`: the pool's other placed pods (an entry with `pod`'s node id is ignored);
/// * `nodes`: labels of the cluster's nodes; GROUP_BY counts as its domains the values of the
///   nodes that pass the constraints' node requirements (native node selectors and taints are not
///   considered), plus the domains the pool's pods run in.
pub fn violations(
    constraints: &[Constraint],
    pod: &PlacedPod<'_>,
    pool: &[PlacedPod<'_>],
    nodes: &[BTreeMap<String, String>],
) -> Vec<Violation> {
    let all: Vec<&PlacedPod<'_>> = std::iter::once(pod)
        .chain(pool.iter().filter(|p| p.node_id != pod.node_id))
        .collect();
    let mut out = Vec::new();
    for c in constraints {
        let key = c.label_key();
        let value = pod.node_labels.get(key);
        let reason = match (&c.operator, value) {
            (Operator::Unique, _) | (Operator::MaxPer(_), _) if value.is_none() => {
                (!c.field.is_hostname()).then(|| no_label(key))
            }
            (Operator::GroupBy(_) | Operator::Cluster(None), None) => Some(no_label(key)),
            (Operator::Unique, Some(v)) => cap(key, v, 1, pod, &all),
            (Operator::MaxPer(n), Some(v)) => cap(key, v, *n, pod, &all),
            (Operator::GroupBy(count), Some(v)) => group_by(constraints, key, v, *count, pod, &all, nodes),
            (Operator::Cluster(None), Some(v)) => {
                let first = all
                    .iter()
                    .filter(|p| p.node_labels.contains_key(key))
                    .min_by_key(|p| p.node_id);
                match first.and_then(|p| p.node_labels.get(key).map(|r| (p.node_id, r))) {
                    Some((id, reference)) if reference != v => Some(format!(
                        "the pool's first pod (node id {id}) runs in {key}={reference}, this pod in {key}={v}"
                    )),
                    _ => None,
                }
            }
            _ => node_violation(c, pod.node_labels),
        };
        if let Some(reason) = reason {
            out.push(Violation {
                index: c.index,
                constraint: c.text.clone(),
                reason,
            });
        }
    }
    out
}

fn no_label(key: &str) -> String {
    format!("the node has no {key} label")
}

/// At most `n` pods per value: the pod violates when `n` pods with lower node ids share its value.
fn cap(key: &str, v: &str, n: i32, pod: &PlacedPod<'_>, all: &[&PlacedPod<'_>]) -> Option<String> {
    let before: Vec<String> = sorted_ids(
        all.iter()
            .filter(|p| p.node_id < pod.node_id && p.node_labels.get(key).is_some_and(|x| x == v)),
    );
    let limit = usize::try_from(n).unwrap_or(usize::MAX);
    (before.len() >= limit).then(|| {
        format!(
            "{key}={v} already runs {} pod(s) of the pool with lower node ids ({}); at most {n} allowed",
            before.len(),
            before.join(", ")
        )
    })
}

/// Even spread (what maxSkew 1 converges to): P placed pods over D domains (D at least the
/// GROUP_BY count) give every domain P / D pods and P % D of them one more. The fullest domains
/// (ties by name) keep the extra pod, so the fewest pods are reported; in each domain, the pods
/// beyond its share with the highest node ids are the excess.
fn group_by(
    constraints: &[Constraint],
    key: &str,
    v: &str,
    count: Option<i32>,
    pod: &PlacedPod<'_>,
    all: &[&PlacedPod<'_>],
    nodes: &[BTreeMap<String, String>],
) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = nodes
        .iter()
        .filter(|n| constraints.iter().all(|c| node_violation(c, n).is_none()))
        .filter_map(|n| n.get(key).map(|d| (d.as_str(), 0)))
        .collect();
    for p in all {
        if let Some(d) = p.node_labels.get(key) {
            *counts.entry(d.as_str()).or_default() += 1;
        }
    }
    let placed: usize = counts.values().sum();
    let d = counts
        .len()
        .max(count.and_then(|c| usize::try_from(c).ok()).unwrap_or(0))
        .max(1);
    let (base, extra) = (placed / d, placed % d);
    let mut order: Vec<(&str, usize)> = counts.iter().map(|(k, c)| (*k, *c)).collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let share = if order.iter().take(extra).any(|(k, _)| *k == v) {
        base + 1
    } else {
        base
    };
    let before = all
        .iter()
        .filter(|p| p.node_id < pod.node_id && p.node_labels.get(key).is_some_and(|x| x == v))
        .count();
    (before >= share).then(|| {
        format!(
            "{key}={v} holds {} pods of the pool; an even spread of {placed} pods over {d} domains leaves {share} here",
            counts.get(v).copied().unwrap_or(0)
        )
    })
}

fn sorted_ids<'p, 'a: 'p>(pods: impl Iterator<Item = &'p &'p PlacedPod<'a>>) -> Vec<String> {
    let ids: BTreeSet<i32> = pods.map(|p| p.node_id).collect();
    ids.into_iter().map(|id| id.to_string()).collect()
}

/// The node-level part of a constraint: what a node must be for the pod to run there.
fn node_violation(c: &Constraint, labels: &BTreeMap<String, String>) -> Option<String> {
    let key = c.label_key();
    let value = labels.get(key);
    match (&c.operator, value) {
        (Operator::Unique | Operator::MaxPer(_), None) if !c.field.is_hostname() => Some(no_label(key)),
        (Operator::Cluster(Some(want)) | Operator::Is(want), Some(v)) if v != want => {
            Some(format!("the node has {key}={v}, not {want}"))
        }
        (Operator::Cluster(Some(want)) | Operator::Is(want), None) => {
            Some(format!("the node has no {key} label (wanted {want})"))
        }
        (Operator::IsNot(avoid), Some(v)) if v == avoid => Some(format!("the node has {key}={v}")),
        (Operator::Like(p), Some(v)) if !p.full_match(v) => {
            Some(format!("the node's {key}={v} does not match {:?}", p.source()))
        }
        (Operator::Like(p), None) => Some(format!(
            "the node has no {key} label (wanted one matching {:?})",
            p.source()
        )),
        (Operator::Unlike(p), Some(v)) if p.full_match(v) => {
            Some(format!("the node's {key}={v} matches {:?}", p.source()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HOSTNAME_LABEL, ZONE_LABEL, parse};
    use super::*;
    use pretty_assertions::assert_eq;

    fn node(host: &str, zone: &str) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        m.insert(HOSTNAME_LABEL.to_string(), host.to_string());
        if !zone.is_empty() {
            m.insert(ZONE_LABEL.to_string(), zone.to_string());
        }
        m
    }

    /// Node labels of pods 0..n, given as (host, zone) pairs.
    fn nodes_of(placement: &[(&str, &str)]) -> Vec<BTreeMap<String, String>> {
        placement.iter().map(|(h, z)| node(h, z)).collect()
    }

    /// Violations of every pod, as (node id, reasons) for the pods that have any.
    fn check(input: &str, placement: &[(&str, &str)], cluster: &[(&str, &str)]) -> Vec<(i32, Vec<String>)> {
        let constraints = parse(input).unwrap();
        let labels = nodes_of(placement);
        let cluster = nodes_of(cluster);
        let pods: Vec<PlacedPod<'_>> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| PlacedPod {
                node_id: i as i32,
                node_labels: l,
            })
            .collect();
        pods.iter()
            .filter_map(|p| {
                let v = violations(&constraints, p, &pods, &cluster);
                (!v.is_empty()).then(|| (p.node_id, v.iter().map(|v| v.reason.clone()).collect()))
            })
            .collect()
    }

    fn ids(result: &[(i32, Vec<String>)]) -> Vec<i32> {
        result.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn unique_reports_only_the_excess_pods() {
        let placement = [("n1", "a"), ("n2", "a"), ("n1", "b"), ("n1", "a")];
        let r = check("hostname:UNIQUE", &placement, &[]);
        assert_eq!(ids(&r), vec![2, 3]);
        assert_eq!(
            r[0].1,
            vec![
                "kubernetes.io/hostname=n1 already runs 1 pod(s) of the pool with lower node ids (0); at most 1 allowed"
            ]
        );
        assert_eq!(
            r[1].1,
            vec![
                "kubernetes.io/hostname=n1 already runs 2 pod(s) of the pool with lower node ids (0, 2); at most 1 allowed"
            ]
        );
        assert!(check("hostname:UNIQUE", &[("n1", "a"), ("n2", "a")], &[]).is_empty());
        assert_eq!(check("hostname:MAX_PER:1", &placement, &[]), r);
    }

    #[test]
    fn unique_on_a_label_needs_the_label() {
        let r = check("@zone:UNIQUE", &[("n1", "a"), ("n2", ""), ("n3", "a")], &[]);
        assert_eq!(ids(&r), vec![1, 2]);
        assert_eq!(r[0].1, vec!["the node has no topology.kubernetes.io/zone label"]);
        // The hostname label cannot be checked when missing; that is not a violation.
        let constraints = parse("hostname:UNIQUE").unwrap();
        let empty = BTreeMap::new();
        let pod = PlacedPod {
            node_id: 0,
            node_labels: &empty,
        };
        assert!(violations(&constraints, &pod, &[pod], &[]).is_empty());
    }

    #[test]
    fn max_per_counts_per_domain() {
        let placement = [
            ("n1", "a"),
            ("n1", "a"),
            ("n2", "a"),
            ("n1", "b"),
            ("n2", "b"),
            ("n3", "c"),
        ];
        assert_eq!(ids(&check("hostname:MAX_PER:2", &placement, &[])), vec![3]);
        assert_eq!(ids(&check("@zone:MAX_PER:2", &placement, &[])), vec![2]);
        assert_eq!(ids(&check("@zone:MAX_PER:3", &placement, &[])), Vec::<i32>::new());
    }

    #[test]
    fn group_by_reports_pods_beyond_an_even_spread() {
        let cluster = [("n1", "a"), ("n2", "b"), ("n3", "c")];
        // 5 pods, 3 zones: at most 2 per zone; pods 2 and 3 are the excess in zone a.
        let placement = [("n1", "a"), ("n1", "a"), ("n1", "a"), ("n1", "a"), ("n2", "b")];
        let r = check("@zone:GROUP_BY", &placement, &cluster);
        assert_eq!(ids(&r), vec![2, 3]);
        assert_eq!(
            r[0].1,
            vec![
                "topology.kubernetes.io/zone=a holds 4 pods of the pool; an even spread of 5 pods over 3 domains leaves 2 here"
            ]
        );
        // Balanced: nothing to report.
        let placement = [
            ("n1", "a"),
            ("n2", "b"),
            ("n3", "c"),
            ("n1", "a"),
            ("n2", "b"),
            ("n3", "c"),
        ];
        assert!(check("@zone:GROUP_BY:3", &placement, &cluster).is_empty());
        // The count raises the number of domains: 3 pods over at least 4 domains, one each.
        let placement = [("n1", "a"), ("n1", "a"), ("n2", "b")];
        assert_eq!(ids(&check("@zone:GROUP_BY:4", &placement, &cluster)), vec![1]);
        // Without a cluster node list, the pods' own domains count.
        assert_eq!(
            ids(&check(
                "@zone:GROUP_BY",
                &[("n1", "a"), ("n1", "a"), ("n2", "b")],
                &[]
            )),
            Vec::<i32>::new()
        );
        // A zone the node constraints exclude is no domain.
        let placement = [("n1", "a"), ("n1", "a"), ("n2", "b"), ("n2", "b")];
        assert!(check("@zone:GROUP_BY,@zone:IS_NOT:c", &placement, &cluster).is_empty());
        // 2, 2, 0 over three zones: one pod must move; zone a (first by name) keeps its two.
        assert_eq!(ids(&check("@zone:GROUP_BY", &placement, &cluster)), vec![3]);
        // 3, 1, 1 over three zones with 5 pods: the third pod of zone a is the excess.
        let placement = [("n1", "a"), ("n2", "b"), ("n1", "a"), ("n3", "c"), ("n1", "a")];
        assert_eq!(ids(&check("@zone:GROUP_BY", &placement, &cluster)), vec![4]);
        // A node without the label.
        let r = check("@zone:GROUP_BY", &[("n1", "")], &cluster);
        assert_eq!(r[0].1, vec!["the node has no topology.kubernetes.io/zone label"]);
    }

    #[test]
    fn cluster_without_value_follows_the_first_pod() {
        let r = check("@zone:CLUSTER", &[("n1", "b"), ("n2", "a"), ("n3", "b")], &[]);
        assert_eq!(ids(&r), vec![1]);
        assert_eq!(
            r[0].1,
            vec![
                "the pool's first pod (node id 0) runs in topology.kubernetes.io/zone=b, this pod in topology.kubernetes.io/zone=a"
            ]
        );
        let r = check("@zone:CLUSTER", &[("n1", ""), ("n2", "a"), ("n3", "b")], &[]);
        assert_eq!(ids(&r), vec![0, 2]);
        assert_eq!(r[0].1, vec!["the node has no topology.kubernetes.io/zone label"]);
    }

    #[test]
    fn node_level_operators() {
        let placement = [
            ("n1", "us-east-1a"),
            ("n2", "us-east-1b"),
            ("n3", "us-east-1c"),
            ("n4", ""),
        ];
        let r = check("@zone:IS:us-east-1a", &placement, &[]);
        assert_eq!(ids(&r), vec![1, 2, 3]);
        assert_eq!(
            r[0].1,
            vec!["the node has topology.kubernetes.io/zone=us-east-1b, not us-east-1a"]
        );
        assert_eq!(
            r[2].1,
            vec!["the node has no topology.kubernetes.io/zone label (wanted us-east-1a)"]
        );
        assert_eq!(check("@zone:CLUSTER:us-east-1a", &placement, &[]), r);

        let r = check("@zone:IS_NOT:us-east-1a", &placement, &[]);
        assert_eq!(ids(&r), vec![0]);
        assert_eq!(
            r[0].1,
            vec!["the node has topology.kubernetes.io/zone=us-east-1a"]
        );

        let r = check("@zone:LIKE:us-east-1[ab]", &placement, &[]);
        assert_eq!(ids(&r), vec![2, 3]);
        assert_eq!(
            r[0].1,
            vec!["the node's topology.kubernetes.io/zone=us-east-1c does not match \"us-east-1[ab]\""]
        );
        assert_eq!(
            r[1].1,
            vec!["the node has no topology.kubernetes.io/zone label (wanted one matching \"us-east-1[ab]\")"]
        );

        let r = check("@zone:UNLIKE:us-east-1[ab]", &placement, &[]);
        assert_eq!(ids(&r), vec![0, 1]);
        assert_eq!(
            r[0].1,
            vec!["the node's topology.kubernetes.io/zone=us-east-1a matches \"us-east-1[ab]\""]
        );

        // LIKE is a full match, as in Marathon.
        assert_eq!(
            ids(&check("@zone:LIKE:us-east-1", &placement, &[])),
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn several_violations_and_display() {
        let constraints = parse("hostname:UNIQUE,@zone:IS:a").unwrap();
        let n1 = node("n1", "b");
        let pods = [
            PlacedPod {
                node_id: 0,
                node_labels: &n1,
            },
            PlacedPod {
                node_id: 1,
                node_labels: &n1,
            },
        ];
        let v = violations(&constraints, &pods[1], &pods, &[]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].index, 1);
        assert_eq!(
            v[1].to_string(),
            "constraint 2 (@zone:IS:a): the node has topology.kubernetes.io/zone=b, not a"
        );
        // The pod itself in the pool list is not counted twice.
        assert_eq!(violations(&constraints[..1], &pods[0], &pods, &[]), vec![]);
        assert_eq!(
            violations(&constraints[..1], &pods[0], &[pods[0], pods[0]], &[]),
            vec![]
        );
    }

    #[test]
    fn no_constraints_no_violations() {
        let n = node("n1", "a");
        let pod = PlacedPod {
            node_id: 0,
            node_labels: &n,
        };
        assert!(violations(&[], &pod, &[pod, pod], &[]).is_empty());
    }
}
