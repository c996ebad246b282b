//! A small model of the kube-scheduler filters the translation relies on (node affinity, required
//! pod affinity and anti-affinity, DoNotSchedule topology spread with minDomains), to check that
//! the translated scheduling places 6 brokers as the DC/OS constraint means, and that
//! [`violations`] agrees with where the pods land. Scoring is either "spread" (fewest pool pods on
//! the node, then in its zone) or, adversarially, "pack" (most pool pods on the node).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, PodAffinityTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use pretty_assertions::assert_eq;

use super::{
    HOSTNAME_LABEL, NODE_ID_LABEL, PlacedPod, PoolContext, Scheduling, ZONE_LABEL, parse, translate,
    violations,
};

type Labels = BTreeMap<String, String>;

struct Placed {
    node: usize,
    labels: Labels,
    scheduling: Scheduling,
}

#[derive(Clone, Copy, PartialEq)]
enum Score {
    Spread,
    Pack,
}

fn selector_matches(sel: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_exprs = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            _ => unreachable!("only In is generated"),
        }
    });
    by_labels && by_exprs
}

fn requirement_holds(r: &NodeSelectorRequirement, node: &Labels) -> bool {
    let values = r.values.clone().unwrap_or_default();
    let v = node.get(&r.key);
    match r.operator.as_str() {
        "In" => v.is_some_and(|v| values.contains(v)),
        "NotIn" => v.is_none_or(|v| !values.contains(v)),
        "Exists" => v.is_some(),
        "DoesNotExist" => v.is_none(),
        other => unreachable!("{other}"),
    }
}

fn same_domain(nodes: &[Labels], a: usize, b: usize, key: &str) -> bool {
    matches!((nodes[a].get(key), nodes[b].get(key)), (Some(x), Some(y)) if x == y)
}

fn anti_ok(nodes: &[Labels], n: usize, t: &PodAffinityTerm, placed: &[Placed]) -> bool {
    !nodes[n].contains_key(&t.topology_key)
        || !placed.iter().any(|p| {
            t.label_selector
                .as_ref()
                .is_some_and(|s| selector_matches(s, &p.labels))
                && same_domain(nodes, p.node, n, &t.topology_key)
        })
}

fn feasible(nodes: &[Labels], n: usize, s: &Scheduling, labels: &Labels, placed: &[Placed]) -> bool {
    let node = &nodes[n];
    if !s.node_requirements.iter().all(|r| requirement_holds(r, node)) {
        return false;
    }
    // Required anti-affinity of the incoming pod, and of the placed pods (symmetry).
    if !s.pod_anti_affinity.iter().all(|t| anti_ok(nodes, n, t, placed)) {
        return false;
    }
    for p in placed {
        for t in &p.scheduling.pod_anti_affinity {
            if t.label_selector
                .as_ref()
                .is_some_and(|s| selector_matches(s, labels))
                && same_domain(nodes, p.node, n, &t.topology_key)
            {
                return false;
            }
        }
    }
    // Required pod affinity, with the first-pod exception.
    for t in &s.pod_affinity {
        if node.get(&t.topology_key).is_none() {
            return false;
        }
        let sel = t.label_selector.as_ref();
        let matching: Vec<&Placed> = placed
            .iter()
            .filter(|p| sel.is_some_and(|s| selector_matches(s, &p.labels)))
            .collect();
        if matching.is_empty() {
            if !sel.is_some_and(|s| selector_matches(s, labels)) {
                return false;
            }
        } else if !matching
            .iter()
            .any(|p| same_domain(nodes, p.node, n, &t.topology_key))
        {
            return false;
        }
    }
    // DoNotSchedule spread; eligible domains are those of nodes passing the node requirements.
    for c in s
        .topology_spread
        .iter()
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
    {
        let key = &c.topology_key;
        let Some(domain) = node.get(key) else { return false };
        let eligible: BTreeSet<&String> = nodes
            .iter()
            .filter(|m| s.node_requirements.iter().all(|r| requirement_holds(r, m)))
            .filter_map(|m| m.get(key))
            .collect();
        let count = |d: &String| {
            placed
                .iter()
                .filter(|p| {
                    c.label_selector
                        .as_ref()
                        .is_some_and(|s| selector_matches(s, &p.labels))
                })
                .filter(|p| nodes[p.node].get(key) == Some(d))
                .count() as i32
        };
        let min = if (eligible.len() as i32) < c.min_domains.unwrap_or(1) {
            0
        } else {
            eligible.iter().map(|d| count(d)).min().unwrap_or(0)
        };
        if count(domain) + 1 - min > c.max_skew {
            return false;
        }
    }
    true
}

/// Schedules pods 0..replicas in order; returns the node index of each (None: Pending).
fn schedule(input: &str, nodes: &[Labels], replicas: i32, score: Score) -> Vec<Option<usize>> {
    let constraints = parse(input).unwrap();
    let selector: Labels = [("app.kubernetes.io/instance".to_string(), "c".to_string())].into();
    let ids: Vec<i32> = (0..replicas).collect();
    let pool = PoolContext {
        selector: &selector,
        node_ids: &ids,
        nodes,
    };
    let mut placed: Vec<Placed> = Vec::new();
    let mut out = Vec::new();
    for id in 0..replicas {
        let scheduling = translate(&constraints, &pool, id);
        let mut labels = selector.clone();
        labels.insert(NODE_ID_LABEL.to_string(), id.to_string());
        let on = |n: usize| placed.iter().filter(|p| p.node == n).count();
        let in_zone = |n: usize| {
            placed
                .iter()
                .filter(|p| same_domain(nodes, p.node, n, ZONE_LABEL))
                .count()
        };
        let best = (0..nodes.len())
            .filter(|n| feasible(nodes, *n, &scheduling, &labels, &placed))
            .min_by_key(|n| match score {
                Score::Spread => (on(*n), in_zone(*n), *n),
                Score::Pack => (usize::MAX - on(*n), 0, *n),
            });
        if let Some(node) = best {
            placed.push(Placed {
                node,
                labels,
                scheduling,
            });
        }
        out.push(best);
    }
    // Whatever the scheduler did, every placed pod satisfies the constraints.
    let pods: Vec<PlacedPod<'_>> = out
        .iter()
        .enumerate()
        .filter_map(|(id, n)| {
            n.map(|n| PlacedPod {
                node_id: id as i32,
                node_labels: &nodes[n],
            })
        })
        .collect();
    for p in &pods {
        let v = violations(&constraints, p, &pods, nodes);
        assert!(
            v.is_empty(),
            "{input}: pod {} violates {v:?} in {out:?}",
            p.node_id
        );
    }
    out
}

/// `zones` zones (a, b, c, ...) with `per_zone` nodes each, named `<zone><i>`.
fn cluster(zones: usize, per_zone: usize) -> Vec<Labels> {
    let mut out = Vec::new();
    for z in 0..zones {
        let zone = format!("us-east-1{}", (b'a' + z as u8) as char);
        for i in 0..per_zone {
            let host = format!("{}{i}", (b'a' + z as u8) as char);
            out.push(
                [
                    (HOSTNAME_LABEL.to_string(), host),
                    (ZONE_LABEL.to_string(), zone.clone()),
                ]
                .into(),
            );
        }
    }
    out
}

/// Placement as host names (`-` for Pending).
fn hosts(nodes: &[Labels], placement: &[Option<usize>]) -> Vec<String> {
    placement
        .iter()
        .map(|n| {
            n.and_then(|n| nodes[n].get(HOSTNAME_LABEL).cloned())
                .unwrap_or_else(|| "-".into())
        })
        .collect()
}

fn per_zone(nodes: &[Labels], placement: &[Option<usize>]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for n in placement.iter().flatten() {
        *out.entry(nodes[*n][ZONE_LABEL].clone()).or_default() += 1;
    }
    out
}

fn zones(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(z, n)| (format!("us-east-1{z}"), *n)).collect()
}

#[test]
fn unique_one_broker_per_host() {
    let nodes = cluster(3, 2);
    let p = schedule("hostname:UNIQUE", &nodes, 6, Score::Pack);
    assert_eq!(hosts(&nodes, &p), ["a0", "a1", "b0", "b1", "c0", "c1"]);
    // Fewer hosts than brokers: the rest stay Pending, as in DC/OS.
    let nodes = cluster(3, 1);
    let p = schedule("hostname:MAX_PER:1", &nodes, 6, Score::Spread);
    assert_eq!(hosts(&nodes, &p), ["a0", "b0", "c0", "-", "-", "-"]);
}

#[test]
fn max_per_2_caps_every_host_even_when_the_scheduler_packs() {
    let nodes = cluster(3, 1);
    for score in [Score::Spread, Score::Pack] {
        let p = schedule("hostname:MAX_PER:2", &nodes, 6, score);
        assert!(p.iter().all(Option::is_some));
        assert_eq!(per_zone(&nodes, &p), zones(&[("a", 2), ("b", 2), ("c", 2)]));
    }
    // Two hosts for six brokers: four run, as DC/OS would place min(6, 2 x 2).
    let nodes = cluster(2, 1);
    let p = schedule("hostname:MAX_PER:2", &nodes, 6, Score::Pack);
    assert_eq!(hosts(&nodes, &p), ["a0", "a0", "b0", "b0", "-", "-"]);
    // Five brokers, MAX_PER 2, two hosts: DC/OS places 4; so do the id groups {0,2,4} and {1,3}.
    let p = schedule("hostname:MAX_PER:2", &nodes, 5, Score::Pack);
    assert_eq!(p.iter().flatten().count(), 4);
}

#[test]
fn max_per_2_on_zones() {
    let nodes = cluster(3, 2);
    let p = schedule("@zone:MAX_PER:2", &nodes, 6, Score::Pack);
    assert_eq!(per_zone(&nodes, &p), zones(&[("a", 2), ("b", 2), ("c", 2)]));
    let p = schedule("@zone:MAX_PER:3", &nodes, 6, Score::Pack);
    assert_eq!(per_zone(&nodes, &p), zones(&[("a", 3), ("b", 3)]));
}

#[test]
fn group_by_zone_is_balanced() {
    let nodes = cluster(3, 2);
    for score in [Score::Spread, Score::Pack] {
        let p = schedule("@zone:GROUP_BY:3", &nodes, 6, score);
        assert_eq!(per_zone(&nodes, &p), zones(&[("a", 2), ("b", 2), ("c", 2)]));
        let p = schedule("@zone:GROUP_BY", &nodes, 5, score);
        assert_eq!(per_zone(&nodes, &p), zones(&[("a", 2), ("b", 2), ("c", 1)]));
    }
    // Fewer zones than the count: one broker per zone until more zones exist.
    let nodes = cluster(2, 2);
    let p = schedule("@zone:GROUP_BY:3", &nodes, 6, Score::Pack);
    assert_eq!(per_zone(&nodes, &p), zones(&[("a", 1), ("b", 1)]));
}

#[test]
fn like_and_is_use_only_matching_nodes() {
    let nodes = cluster(3, 2);
    let p = schedule("@zone:LIKE:us-east-1[ab]", &nodes, 6, Score::Spread);
    assert_eq!(per_zone(&nodes, &p), zones(&[("a", 3), ("b", 3)]));
    let p = schedule("@zone:IS:us-east-1c", &nodes, 6, Score::Spread);
    assert_eq!(hosts(&nodes, &p), ["c0", "c1", "c0", "c1", "c0", "c1"]);
    let p = schedule(
        "@zone:UNLIKE:us-east-1[ab],hostname:UNIQUE",
        &nodes,
        6,
        Score::Spread,
    );
    assert_eq!(hosts(&nodes, &p), ["c0", "c1", "-", "-", "-", "-"]);
    let p = schedule(
        "@zone:IS_NOT:us-east-1a,hostname:MAX_PER:1",
        &nodes,
        6,
        Score::Spread,
    );
    assert_eq!(p.iter().flatten().count(), 4);
    // The reference example: node hostnames are no IP addresses here, so nothing matches.
    let p = schedule(
        r#"[["hostname","LIKE","10.0.0.159|10.0.1.202"]]"#,
        &nodes,
        6,
        Score::Spread,
    );
    assert!(p.iter().all(Option::is_none));
}

#[test]
fn infeasible_constraints_leave_pods_pending() {
    let nodes = cluster(3, 2);
    assert!(
        schedule("@zone:IS:eu-west-1a", &nodes, 6, Score::Spread)
            .iter()
            .all(Option::is_none)
    );
    assert!(
        schedule("rack:UNIQUE", &nodes, 6, Score::Spread)
            .iter()
            .all(Option::is_none)
    );
}

#[test]
fn cluster_without_value_follows_the_first_broker() {
    let nodes = cluster(3, 2);
    let p = schedule("@zone:CLUSTER", &nodes, 6, Score::Spread);
    assert_eq!(per_zone(&nodes, &p), zones(&[("a", 6)]));
    let p = schedule("@zone:CLUSTER,hostname:UNIQUE", &nodes, 6, Score::Spread);
    assert_eq!(hosts(&nodes, &p), ["a0", "a1", "-", "-", "-", "-"]);
}

#[test]
fn combined_unique_and_group_by() {
    let nodes = cluster(3, 2);
    let p = schedule("hostname:UNIQUE,@zone:GROUP_BY:3", &nodes, 6, Score::Pack);
    assert_eq!(per_zone(&nodes, &p), zones(&[("a", 2), ("b", 2), ("c", 2)]));
    assert_eq!(p.iter().flatten().collect::<BTreeSet<_>>().len(), 6);
}
