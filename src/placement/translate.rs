//! Translation of constraints to Kubernetes scheduling, and the default placement.
//!
//! | DC/OS | Kubernetes |
//! |---|---|
//! | `F:UNIQUE`, `F:MAX_PER:1` | required pod anti-affinity, topology key F, among the pool's pods |
//! | `F:MAX_PER:n` (n > 1) | required pod anti-affinity, topology key F, among the pool's pods whose node id ≡ this pod's id (mod n) |
//! | `F:GROUP_BY[:c]` | topology spread, maxSkew 1, DoNotSchedule, minDomains c |
//! | `F:CLUSTER:v`, `F:IS:v` | node affinity `F In [v]` |
//! | `F:CLUSTER` | required pod affinity, topology key F, among the pool's pods |
//! | `F:IS_NOT:v` | node affinity `F NotIn [v]` |
//! | `F:LIKE:re` | node affinity `F In [values of current nodes matching re]` (none: unsatisfiable) |
//! | `F:UNLIKE:re` | node affinity `F NotIn [values of current nodes matching re]` (none: nothing) |
//!
//! For UNIQUE and MAX_PER on a field other than the hostname, the node must also have the label
//! (`F Exists`), as in DC/OS; without it Kubernetes would let any number of pods onto unlabelled
//! nodes. `docs/placement.md` explains each choice.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, PodAffinityTerm, TopologySpreadConstraint, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use super::{Constraint, HOSTNAME_LABEL, NODE_ID_LABEL, Operator, ZONE_LABEL};

/// What the translation needs to know about the pool and the cluster.
#[derive(Clone, Copy, Debug)]
pub struct PoolContext<'a> {
    /// Labels that every pod of the pool carries and that select no other pod in the namespace
    /// (e.g. `app.kubernetes.io/instance=<c>`, `app.kubernetes.io/component=broker`).
    pub selector: &'a BTreeMap<String, String>,
    /// Kafka node ids of all the pool's pods, desired ones included. Pods must carry their id in
    /// the label [`NODE_ID_LABEL`] (`MAX_PER n` with n > 1 selects by it).
    pub node_ids: &'a [i32],
    /// Labels of the cluster's current nodes. LIKE and UNLIKE are expanded against them, so they
    /// are evaluated when the pod is created.
    pub nodes: &'a [BTreeMap<String, String>],
}

/// Scheduling derived from constraints, to be [`merge`](super::merge)d with the native fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scheduling {
    /// Node requirements that must all hold; added to every required node selector term.
    pub node_requirements: Vec<NodeSelectorRequirement>,
    /// Required pod affinity terms.
    pub pod_affinity: Vec<PodAffinityTerm>,
    /// Required pod anti-affinity terms.
    pub pod_anti_affinity: Vec<PodAffinityTerm>,
    /// Preferred pod anti-affinity terms (default placement only).
    pub preferred_pod_anti_affinity: Vec<WeightedPodAffinityTerm>,
    /// Topology spread constraints.
    pub topology_spread: Vec<TopologySpreadConstraint>,
    /// Things the user should know (e.g. a LIKE that matches no node); for status and events.
    pub warnings: Vec<String>,
}

impl Scheduling {
    fn require(&mut self, key: &str, operator: &str, values: Option<Vec<String>>) {
        let req = NodeSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values,
        };
        if !self.node_requirements.contains(&req) {
            self.node_requirements.push(req);
        }
    }

    fn anti(&mut self, term: PodAffinityTerm) {
        if !self.pod_anti_affinity.contains(&term) {
            self.pod_anti_affinity.push(term);
        }
    }
}

/// Translates the constraints of the pod with Kafka node id `node_id` of `pool`.
///
/// Infallible: everything that can be refused is refused by [`parse`](super::parse). Conditions
/// the user should see (a LIKE or IS that matches no current node) are in
/// [`Scheduling::warnings`].
pub fn translate(constraints: &[Constraint], pool: &PoolContext<'_>, node_id: i32) -> Scheduling {
    let mut out = Scheduling::default();
    for c in constraints {
        let key = c.label_key();
        match &c.operator {
            Operator::Unique | Operator::MaxPer(1) => {
                if !c.field.is_hostname() {
                    out.require(key, "Exists", None);
                }
                out.anti(term(pool.selector, None, key));
            }
            Operator::MaxPer(n) => {
                if !c.field.is_hostname() {
                    out.require(key, "Exists", None);
                }
                let group = max_per_group(pool.node_ids, node_id, *n);
                if group.len() > 1 {
                    out.anti(term(pool.selector, Some(group), key));
                }
            }
            Operator::GroupBy(count) => {
                out.topology_spread
                    .push(spread(pool.selector, key, "DoNotSchedule", *count));
            }
            Operator::Cluster(None) => {
                let t = term(pool.selector, None, key);
                if !out.pod_affinity.contains(&t) {
                    out.pod_affinity.push(t);
                }
            }
            Operator::Cluster(Some(v)) | Operator::Is(v) => {
                out.require(key, "In", Some(vec![v.clone()]));
                if !pool.nodes.iter().any(|n| n.get(key) == Some(v)) {
                    out.warnings.push(format!(
                        "constraint {} ({}): no current node has the label {key}={v}; pods stay Pending until one does",
                        c.index, c.text
                    ));
                }
            }
            Operator::IsNot(v) => out.require(key, "NotIn", Some(vec![v.clone()])),
            Operator::Like(p) => {
                let values = matching_values(pool.nodes, key, |v| p.full_match(v));
                if values.is_empty() {
                    // An explicit contradiction: nothing may match, and nothing does.
                    out.require(key, "Exists", None);
                    out.require(key, "DoesNotExist", None);
                    out.warnings.push(format!(
                        "constraint {} ({}): no current node has a {key} label matching {:?}; pods cannot be \
                         scheduled until one does and the pod is recreated",
                        c.index,
                        c.text,
                        p.source()
                    ));
                } else {
                    out.require(key, "In", Some(values));
                }
            }
            Operator::Unlike(p) => {
                let values = matching_values(pool.nodes, key, |v| p.full_match(v));
                if !values.is_empty() {
                    out.require(key, "NotIn", Some(values));
                }
            }
        }
    }
    out
}

/// The placement of a pool without constraints, for evaluation: it never blocks scheduling
/// (a single-node cluster works) but spreads when it can.
///
/// * preferred pod anti-affinity on `kubernetes.io/hostname` (weight 100) among the pool's pods;
/// * topology spread, maxSkew 1, `ScheduleAnyway`, on `topology.kubernetes.io/zone` and on
///   `kubernetes.io/hostname` (nodes without the label are only scored lower).
pub fn default_scheduling(selector: &BTreeMap<String, String>) -> Scheduling {
    Scheduling {
        preferred_pod_anti_affinity: vec![WeightedPodAffinityTerm {
            weight: 100,
            pod_affinity_term: term(selector, None, HOSTNAME_LABEL),
        }],
        topology_spread: vec![
            spread(selector, ZONE_LABEL, "ScheduleAnyway", None),
            spread(selector, HOSTNAME_LABEL, "ScheduleAnyway", None),
        ],
        ..Scheduling::default()
    }
}

/// The node ids that share `node_id`'s group for `MAX_PER n`: the pool's ids (and `node_id`)
/// congruent to it modulo n, sorted, as label values.
fn max_per_group(node_ids: &[i32], node_id: i32, n: i32) -> Vec<String> {
    let slot = node_id.rem_euclid(n);
    let ids: BTreeSet<i32> = node_ids
        .iter()
        .copied()
        .chain(std::iter::once(node_id))
        .filter(|id| id.rem_euclid(n) == slot)
        .collect();
    ids.into_iter().map(|id| id.to_string()).collect()
}

fn matching_values(
    nodes: &[BTreeMap<String, String>],
    key: &str,
    matches: impl Fn(&str) -> bool,
) -> Vec<String> {
    let values: BTreeSet<&String> = nodes
        .iter()
        .filter_map(|n| n.get(key))
        .filter(|v| matches(v))
        .collect();
    values.into_iter().cloned().collect()
}

fn selector(labels: &BTreeMap<String, String>, node_ids: Option<Vec<String>>) -> LabelSelector {
    LabelSelector {
        match_labels: Some(labels.clone()),
        match_expressions: node_ids.map(|values| {
            vec![LabelSelectorRequirement {
                key: NODE_ID_LABEL.to_string(),
                operator: "In".to_string(),
                values: Some(values),
            }]
        }),
    }
}

fn term(labels: &BTreeMap<String, String>, node_ids: Option<Vec<String>>, key: &str) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(selector(labels, node_ids)),
        topology_key: key.to_string(),
        ..PodAffinityTerm::default()
    }
}

fn spread(
    labels: &BTreeMap<String, String>,
    key: &str,
    when_unsatisfiable: &str,
    min_domains: Option<i32>,
) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        label_selector: Some(selector(labels, None)),
        max_skew: 1,
        min_domains,
        // Count only nodes the pod tolerates: a tainted node (e.g. a control plane) would otherwise
        // be an empty domain that caps every other domain.
        node_taints_policy: Some("Honor".to_string()),
        topology_key: key.to_string(),
        when_unsatisfiable: when_unsatisfiable.to_string(),
        ..TopologySpreadConstraint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use pretty_assertions::assert_eq;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn pool_selector() -> BTreeMap<String, String> {
        labels(&[
            ("app.kubernetes.io/instance", "c"),
            ("app.kubernetes.io/component", "broker"),
        ])
    }

    fn nodes() -> Vec<BTreeMap<String, String>> {
        let mut out = Vec::new();
        for (i, zone) in ["us-east-1a", "us-east-1b", "us-east-1c"].iter().enumerate() {
            for j in 0..2 {
                out.push(labels(&[
                    (HOSTNAME_LABEL, &format!("node-{i}{j}")),
                    (ZONE_LABEL, zone),
                    ("topology.kubernetes.io/region", "us-east-1"),
                    ("disk", if j == 0 { "ssd" } else { "hdd" }),
                ]));
            }
        }
        out
    }

    fn run(input: &str, node_id: i32) -> Scheduling {
        let sel = pool_selector();
        let ids: Vec<i32> = (0..6).collect();
        let nodes = nodes();
        let pool = PoolContext {
            selector: &sel,
            node_ids: &ids,
            nodes: &nodes,
        };
        translate(&parse(input).unwrap(), &pool, node_id)
    }

    fn req(key: &str, op: &str, values: Option<&[&str]>) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn pool_term(key: &str) -> PodAffinityTerm {
        term(&pool_selector(), None, key)
    }

    #[test]
    fn no_constraints_no_scheduling() {
        assert_eq!(run("", 0), Scheduling::default());
    }

    #[test]
    fn unique_on_hostname_is_required_anti_affinity() {
        let s = run("hostname:UNIQUE", 0);
        assert_eq!(
            s,
            Scheduling {
                pod_anti_affinity: vec![pool_term(HOSTNAME_LABEL)],
                ..Scheduling::default()
            }
        );
        let t = &s.pod_anti_affinity[0];
        let sel = t.label_selector.as_ref().unwrap();
        assert_eq!(sel.match_labels.as_ref(), Some(&pool_selector()));
        assert_eq!(sel.match_expressions, None);
        assert_eq!(t.namespaces, None); // the pod's own namespace
    }

    #[test]
    fn unique_on_a_label_also_requires_the_label() {
        let s = run("rack_id:UNIQUE", 0);
        assert_eq!(s.node_requirements, vec![req("rack_id", "Exists", None)]);
        assert_eq!(s.pod_anti_affinity, vec![pool_term("rack_id")]);
        let s = run("@zone:UNIQUE", 0);
        assert_eq!(s.node_requirements, vec![req(ZONE_LABEL, "Exists", None)]);
        assert_eq!(s.pod_anti_affinity, vec![pool_term(ZONE_LABEL)]);
    }

    #[test]
    fn max_per_1_equals_unique_and_duplicates_collapse() {
        assert_eq!(run("hostname:MAX_PER:1", 3), run("hostname:UNIQUE", 3));
        assert_eq!(
            run("hostname:MAX_PER:1,hostname:UNIQUE", 3),
            run("hostname:UNIQUE", 3)
        );
        assert_eq!(run("@zone:MAX_PER:1,zone:UNIQUE", 0), run("@zone:UNIQUE", 0));
    }

    #[test]
    fn max_per_n_uses_anti_affinity_within_id_groups() {
        let group = |ids: &[&str]| {
            let mut t = pool_term(HOSTNAME_LABEL);
            t.label_selector = Some(selector(
                &pool_selector(),
                Some(ids.iter().map(|s| s.to_string()).collect()),
            ));
            t
        };
        assert_eq!(
            run("hostname:MAX_PER:2", 0).pod_anti_affinity,
            vec![group(&["0", "2", "4"])]
        );
        assert_eq!(
            run("hostname:MAX_PER:2", 3).pod_anti_affinity,
            vec![group(&["1", "3", "5"])]
        );
        assert_eq!(
            run("hostname:MAX_PER:3", 4).pod_anti_affinity,
            vec![group(&["1", "4"])]
        );
        // Ids are compared numerically, not as strings.
        let sel = pool_selector();
        let ids: Vec<i32> = (0..12).collect();
        let pool = PoolContext {
            selector: &sel,
            node_ids: &ids,
            nodes: &[],
        };
        let s = translate(&parse("hostname:MAX_PER:5").unwrap(), &pool, 2);
        assert_eq!(s.pod_anti_affinity, vec![group(&["2", "7"])]);
        // No label requirement for the hostname; one for other fields.
        assert!(run("hostname:MAX_PER:2", 0).node_requirements.is_empty());
        assert_eq!(
            run("@zone:MAX_PER:2", 0).node_requirements,
            vec![req(ZONE_LABEL, "Exists", None)]
        );
    }

    #[test]
    fn max_per_n_at_least_the_pool_size_constrains_nothing() {
        assert!(run("hostname:MAX_PER:6", 0).pod_anti_affinity.is_empty());
        assert!(run("hostname:MAX_PER:100", 5).pod_anti_affinity.is_empty());
        // But the label must still exist.
        assert_eq!(
            run("rack:MAX_PER:6", 0).node_requirements,
            vec![req("rack", "Exists", None)]
        );
    }

    #[test]
    fn max_per_groups_include_the_pod_and_work_for_controllers() {
        let sel = pool_selector();
        let ids = [9000, 9001, 9002, 9003, 9004];
        let pool = PoolContext {
            selector: &sel,
            node_ids: &ids,
            nodes: &[],
        };
        let s = translate(&parse("hostname:MAX_PER:2").unwrap(), &pool, 9002);
        let values = s.pod_anti_affinity[0]
            .label_selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0]
            .values
            .clone();
        assert_eq!(values, Some(vec!["9000".into(), "9002".into(), "9004".into()]));
        // A node id outside the list (e.g. during a scale-out) is part of its own group.
        let s = translate(&parse("hostname:MAX_PER:2").unwrap(), &pool, 9006);
        let values = s.pod_anti_affinity[0]
            .label_selector
            .as_ref()
            .unwrap()
            .match_expressions
            .as_ref()
            .unwrap()[0]
            .values
            .clone();
        assert_eq!(
            values,
            Some(vec!["9000".into(), "9002".into(), "9004".into(), "9006".into()])
        );
    }

    #[test]
    fn group_by_is_a_hard_spread() {
        let s = run("@zone:GROUP_BY:3", 0);
        assert_eq!(
            s.topology_spread,
            vec![TopologySpreadConstraint {
                label_selector: Some(selector(&pool_selector(), None)),
                max_skew: 1,
                min_domains: Some(3),
                node_taints_policy: Some("Honor".into()),
                node_affinity_policy: None,
                match_label_keys: None,
                topology_key: ZONE_LABEL.into(),
                when_unsatisfiable: "DoNotSchedule".into(),
            }]
        );
        assert!(s.node_requirements.is_empty() && s.pod_anti_affinity.is_empty());
        let s = run("hostname:GROUP_BY", 0);
        assert_eq!(s.topology_spread[0].min_domains, None);
        assert_eq!(s.topology_spread[0].topology_key, HOSTNAME_LABEL);
    }

    #[test]
    fn cluster_and_is_are_node_affinity_in() {
        let s = run("@zone:CLUSTER:us-east-1a", 0);
        assert_eq!(
            s.node_requirements,
            vec![req(ZONE_LABEL, "In", Some(&["us-east-1a"]))]
        );
        assert!(s.warnings.is_empty());
        assert_eq!(run("@zone:IS:us-east-1a", 0), s);
        let s = run("hostname:IS:node-00", 0);
        assert_eq!(
            s.node_requirements,
            vec![req(HOSTNAME_LABEL, "In", Some(&["node-00"]))]
        );
    }

    #[test]
    fn is_of_an_absent_value_warns() {
        let s = run("@zone:IS:eu-west-1a", 0);
        assert_eq!(
            s.node_requirements,
            vec![req(ZONE_LABEL, "In", Some(&["eu-west-1a"]))]
        );
        assert_eq!(
            s.warnings,
            vec![
                "constraint 1 (@zone:IS:eu-west-1a): no current node has the label \
                 topology.kubernetes.io/zone=eu-west-1a; pods stay Pending until one does"
                    .to_string()
            ]
        );
    }

    #[test]
    fn cluster_without_value_is_pod_affinity() {
        let s = run("@zone:CLUSTER", 0);
        assert_eq!(s.pod_affinity, vec![pool_term(ZONE_LABEL)]);
        assert!(s.node_requirements.is_empty());
        assert_eq!(run("@zone:CLUSTER,zone:CLUSTER", 0), s);
    }

    #[test]
    fn is_not_is_node_affinity_not_in() {
        let s = run("disk:IS_NOT:hdd", 0);
        assert_eq!(s.node_requirements, vec![req("disk", "NotIn", Some(&["hdd"]))]);
    }

    #[test]
    fn like_expands_to_matching_values() {
        let s = run("@zone:LIKE:us-east-1[ab]", 0);
        assert_eq!(
            s.node_requirements,
            vec![req(ZONE_LABEL, "In", Some(&["us-east-1a", "us-east-1b"]))]
        );
        assert!(s.warnings.is_empty());
        // Full match: "node-0" matches no hostname.
        let s = run("hostname:LIKE:node-0|node-1.", 0);
        assert_eq!(
            s.node_requirements,
            vec![req(HOSTNAME_LABEL, "In", Some(&["node-10", "node-11"]))]
        );
    }

    #[test]
    fn like_matching_nothing_is_unsatisfiable() {
        let s = run("hostname:LIKE:10.0.0.159|10.0.1.202", 0);
        assert_eq!(
            s.node_requirements,
            vec![
                req(HOSTNAME_LABEL, "Exists", None),
                req(HOSTNAME_LABEL, "DoesNotExist", None)
            ]
        );
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].starts_with("constraint 1 (hostname:LIKE:10.0.0.159|10.0.1.202): no current node")
        );
        // Also with no nodes known at all.
        let sel = pool_selector();
        let pool = PoolContext {
            selector: &sel,
            node_ids: &[0],
            nodes: &[],
        };
        let s = translate(&parse("@zone:LIKE:.*").unwrap(), &pool, 0);
        assert_eq!(
            s.node_requirements,
            vec![
                req(ZONE_LABEL, "Exists", None),
                req(ZONE_LABEL, "DoesNotExist", None)
            ]
        );
    }

    #[test]
    fn unlike_excludes_matching_values() {
        let s = run("@zone:UNLIKE:.*c", 0);
        assert_eq!(
            s.node_requirements,
            vec![req(ZONE_LABEL, "NotIn", Some(&["us-east-1c"]))]
        );
        // Nothing to exclude: no requirement at all.
        let s = run("@zone:UNLIKE:eu-.*", 0);
        assert_eq!(s, Scheduling::default());
    }

    #[test]
    fn combined_constraints() {
        let s = run(
            "hostname:UNIQUE,@zone:GROUP_BY:3,disk:IS:ssd,@region:LIKE:us-.*",
            2,
        );
        assert_eq!(
            s.node_requirements,
            vec![
                req("disk", "In", Some(&["ssd"])),
                req("topology.kubernetes.io/region", "In", Some(&["us-east-1"]))
            ]
        );
        assert_eq!(s.pod_anti_affinity, vec![pool_term(HOSTNAME_LABEL)]);
        assert_eq!(s.topology_spread.len(), 1);
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn default_placement_is_soft() {
        let s = default_scheduling(&pool_selector());
        assert!(
            s.node_requirements.is_empty() && s.pod_anti_affinity.is_empty() && s.pod_affinity.is_empty()
        );
        assert_eq!(
            s.preferred_pod_anti_affinity,
            vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: pool_term(HOSTNAME_LABEL)
            }]
        );
        let keys: Vec<(&str, &str, i32)> = s
            .topology_spread
            .iter()
            .map(|t| (t.topology_key.as_str(), t.when_unsatisfiable.as_str(), t.max_skew))
            .collect();
        assert_eq!(
            keys,
            vec![
                (ZONE_LABEL, "ScheduleAnyway", 1),
                (HOSTNAME_LABEL, "ScheduleAnyway", 1)
            ]
        );
        assert!(
            s.topology_spread
                .iter()
                .all(|t| t.node_taints_policy.as_deref() == Some("Honor"))
        );
    }
}
