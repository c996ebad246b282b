//! Combining translated constraints with the pool's native scheduling fields.
//!
//! * `nodeSelector`, `tolerations` and preferred node affinity: the native ones, untouched.
//! * Required node affinity: Kubernetes ORs `nodeSelectorTerms` and ANDs the expressions inside
//!   a term, so the constraint requirements are appended to *every* native term
//!   (`(A or B) and C` = `(A and C) or (B and C)`). A native term with no expression and no field
//!   matches no node; it is left as is. Without native terms there is one term of the
//!   requirements.
//! * Required and preferred pod (anti-)affinity: native terms, then the constraint terms (a list
//!   of required terms must all hold).
//! * Topology spread: native constraints, then the translated ones. Kubernetes refuses two
//!   constraints with the same `topologyKey` and `whenUnsatisfiable`; the native one wins and a
//!   warning says so.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorTerm, PodAffinity, PodAntiAffinity, PodSpec,
    Toleration, TopologySpreadConstraint, WeightedPodAffinityTerm,
};

use super::Scheduling;

/// The scheduling fields of a pod spec (the pool template's native ones, or the merged result).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodScheduling {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
}

impl PodScheduling {
    /// Sets the four fields of `spec` (empty ones as absent).
    pub fn apply_to(self, spec: &mut PodSpec) {
        spec.node_selector = (!self.node_selector.is_empty()).then_some(self.node_selector);
        spec.tolerations = (!self.tolerations.is_empty()).then_some(self.tolerations);
        spec.affinity = self.affinity;
        spec.topology_spread_constraints =
            (!self.topology_spread_constraints.is_empty()).then_some(self.topology_spread_constraints);
    }
}

/// The result of [`merge`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    pub scheduling: PodScheduling,
    /// The translation's warnings followed by the merge's own.
    pub warnings: Vec<String>,
}

/// Combines the pool's native scheduling with the translated constraints (or the default
/// placement). See the module documentation for the rules.
pub fn merge(native: PodScheduling, translated: Scheduling) -> Merged {
    let Scheduling {
        node_requirements,
        pod_affinity,
        pod_anti_affinity,
        preferred_pod_anti_affinity,
        topology_spread,
        mut warnings,
    } = translated;
    let PodScheduling {
        node_selector,
        tolerations,
        affinity,
        mut topology_spread_constraints,
    } = native;
    let Affinity {
        node_affinity,
        pod_affinity: native_pod_affinity,
        pod_anti_affinity: native_anti,
    } = affinity.unwrap_or_default();

    // Node affinity.
    let mut node_affinity = node_affinity.unwrap_or_default();
    if !node_requirements.is_empty() {
        let terms = match node_affinity
            .required_during_scheduling_ignored_during_execution
            .take()
        {
            Some(selector) if !selector.node_selector_terms.is_empty() => selector
                .node_selector_terms
                .into_iter()
                .map(|mut t| {
                    let empty = t.match_expressions.as_ref().is_none_or(Vec::is_empty)
                        && t.match_fields.as_ref().is_none_or(Vec::is_empty);
                    if !empty {
                        t.match_expressions
                            .get_or_insert_with(Vec::new)
                            .extend(node_requirements.iter().cloned());
                    }
                    t
                })
                .collect(),
            _ => vec![NodeSelectorTerm {
                match_expressions: Some(node_requirements),
                match_fields: None,
            }],
        };
        node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
            node_selector_terms: terms,
        });
    }

    // Pod affinity and anti-affinity.
    let mut pod_aff = native_pod_affinity.unwrap_or_default();
    append(
        &mut pod_aff.required_during_scheduling_ignored_during_execution,
        pod_affinity,
    );
    let mut anti = native_anti.unwrap_or_default();
    append(
        &mut anti.required_during_scheduling_ignored_during_execution,
        pod_anti_affinity,
    );
    append::<WeightedPodAffinityTerm>(
        &mut anti.preferred_during_scheduling_ignored_during_execution,
        preferred_pod_anti_affinity,
    );

    let affinity = Affinity {
        node_affinity: (node_affinity != NodeAffinity::default()).then_some(node_affinity),
        pod_affinity: (pod_aff != PodAffinity::default()).then_some(pod_aff),
        pod_anti_affinity: (anti != PodAntiAffinity::default()).then_some(anti),
    };

    // Topology spread.
    for t in topology_spread {
        let clash = topology_spread_constraints
            .iter()
            .any(|n| n.topology_key == t.topology_key && n.when_unsatisfiable == t.when_unsatisfiable);
        if clash {
            warnings.push(format!(
                "the pool's own topologySpreadConstraint on {} ({}) replaces the one from the placement constraints",
                t.topology_key, t.when_unsatisfiable
            ));
        } else {
            topology_spread_constraints.push(t);
        }
    }

    Merged {
        scheduling: PodScheduling {
            node_selector,
            tolerations,
            affinity: (affinity != Affinity::default()).then_some(affinity),
            topology_spread_constraints,
        },
        warnings,
    }
}

fn append<T>(target: &mut Option<Vec<T>>, extra: Vec<T>) {
    if !extra.is_empty() {
        target.get_or_insert_with(Vec::new).extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{HOSTNAME_LABEL, PoolContext, ZONE_LABEL, default_scheduling, parse, translate};
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSelectorRequirement, PodAffinityTerm, PreferredSchedulingTerm};
    use pretty_assertions::assert_eq;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn term(exprs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: None,
        }
    }

    fn translated(input: &str) -> Scheduling {
        let sel = labels(&[("app", "kafka")]);
        let nodes = vec![
            labels(&[(HOSTNAME_LABEL, "n1"), (ZONE_LABEL, "a"), ("disk", "ssd")]),
            labels(&[(HOSTNAME_LABEL, "n2"), (ZONE_LABEL, "b")]),
        ];
        let pool = PoolContext {
            selector: &sel,
            node_ids: &[0, 1, 2],
            nodes: &nodes,
        };
        translate(&parse(input).unwrap(), &pool, 0)
    }

    fn required_terms(m: &Merged) -> Vec<NodeSelectorTerm> {
        m.scheduling
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .and_then(|n| n.required_during_scheduling_ignored_during_execution.as_ref())
            .map(|s| s.node_selector_terms.clone())
            .unwrap_or_default()
    }

    fn with_required(terms: Vec<NodeSelectorTerm>) -> PodScheduling {
        PodScheduling {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                        node_selector_terms: terms,
                    }),
                    ..NodeAffinity::default()
                }),
                ..Affinity::default()
            }),
            ..PodScheduling::default()
        }
    }

    #[test]
    fn nothing_merged_with_nothing_is_nothing() {
        assert_eq!(
            merge(PodScheduling::default(), Scheduling::default()),
            Merged::default()
        );
    }

    #[test]
    fn native_fields_are_kept_without_constraints() {
        let native = PodScheduling {
            node_selector: labels(&[("pool", "kafka")]),
            tolerations: vec![Toleration {
                key: Some("dedicated".into()),
                operator: Some("Equal".into()),
                value: Some("kafka".into()),
                effect: Some("NoSchedule".into()),
                toleration_seconds: None,
            }],
            ..with_required(vec![term(vec![req("x", "In", &["1"])])])
        };
        let m = merge(native.clone(), Scheduling::default());
        assert_eq!(m.scheduling, native);
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn requirements_alone_make_one_term() {
        let m = merge(PodScheduling::default(), translated("disk:IS:ssd,@zone:IS_NOT:b"));
        assert_eq!(
            required_terms(&m),
            vec![term(vec![
                req("disk", "In", &["ssd"]),
                req(ZONE_LABEL, "NotIn", &["b"])
            ])]
        );
    }

    #[test]
    fn requirements_are_anded_into_every_native_term() {
        let native = with_required(vec![
            term(vec![req("team", "In", &["a"])]),
            NodeSelectorTerm {
                match_expressions: None,
                match_fields: Some(vec![req("metadata.name", "In", &["n9"])]),
            },
            NodeSelectorTerm::default(), // matches nothing; must stay so
        ]);
        let m = merge(native, translated("disk:IS:ssd"));
        let c = req("disk", "In", &["ssd"]);
        assert_eq!(
            required_terms(&m),
            vec![
                term(vec![req("team", "In", &["a"]), c.clone()]),
                NodeSelectorTerm {
                    match_expressions: Some(vec![c]),
                    match_fields: Some(vec![req("metadata.name", "In", &["n9"])]),
                },
                NodeSelectorTerm::default(),
            ]
        );
    }

    #[test]
    fn empty_native_selector_is_replaced() {
        let m = merge(with_required(vec![]), translated("disk:IS:ssd"));
        assert_eq!(required_terms(&m), vec![term(vec![req("disk", "In", &["ssd"])])]);
    }

    #[test]
    fn preferred_node_affinity_is_kept() {
        let pref = PreferredSchedulingTerm {
            weight: 5,
            preference: term(vec![req("gpu", "Exists", &[])]),
        };
        let native = PodScheduling {
            affinity: Some(Affinity {
                node_affinity: Some(NodeAffinity {
                    preferred_during_scheduling_ignored_during_execution: Some(vec![pref.clone()]),
                    ..NodeAffinity::default()
                }),
                ..Affinity::default()
            }),
            ..PodScheduling::default()
        };
        let m = merge(native, translated("disk:IS:ssd"));
        let na = m.scheduling.affinity.unwrap().node_affinity.unwrap();
        assert_eq!(
            na.preferred_during_scheduling_ignored_during_execution,
            Some(vec![pref])
        );
        assert_eq!(
            na.required_during_scheduling_ignored_during_execution
                .unwrap()
                .node_selector_terms,
            vec![term(vec![req("disk", "In", &["ssd"])])]
        );
    }

    #[test]
    fn pod_affinity_terms_are_appended() {
        let native_term = PodAffinityTerm {
            topology_key: "rack".into(),
            ..PodAffinityTerm::default()
        };
        let native = PodScheduling {
            affinity: Some(Affinity {
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![native_term.clone()]),
                    ..PodAntiAffinity::default()
                }),
                pod_affinity: Some(PodAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![native_term.clone()]),
                    ..PodAffinity::default()
                }),
                ..Affinity::default()
            }),
            ..PodScheduling::default()
        };
        let t = translated("hostname:UNIQUE,@zone:CLUSTER");
        let m = merge(native, t.clone());
        let a = m.scheduling.affinity.unwrap();
        assert_eq!(
            a.pod_anti_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution,
            Some(vec![native_term.clone(), t.pod_anti_affinity[0].clone()])
        );
        assert_eq!(
            a.pod_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution,
            Some(vec![native_term, t.pod_affinity[0].clone()])
        );
        assert_eq!(a.node_affinity, None);
    }

    #[test]
    fn spread_constraints_are_appended_and_native_wins_a_clash() {
        let native_spread = TopologySpreadConstraint {
            max_skew: 2,
            topology_key: ZONE_LABEL.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            ..TopologySpreadConstraint::default()
        };
        let native = PodScheduling {
            topology_spread_constraints: vec![native_spread.clone()],
            ..PodScheduling::default()
        };
        let m = merge(native.clone(), translated("@zone:GROUP_BY:2,hostname:GROUP_BY"));
        let keys: Vec<(&str, i32)> = m
            .scheduling
            .topology_spread_constraints
            .iter()
            .map(|t| (t.topology_key.as_str(), t.max_skew))
            .collect();
        assert_eq!(keys, vec![(ZONE_LABEL, 2), (HOSTNAME_LABEL, 1)]);
        assert_eq!(
            m.warnings,
            vec![
                "the pool's own topologySpreadConstraint on topology.kubernetes.io/zone (DoNotSchedule) replaces \
                 the one from the placement constraints"
                    .to_string()
            ]
        );
        // A soft native spread on the same key does not clash with a hard one.
        let mut soft = native_spread;
        soft.when_unsatisfiable = "ScheduleAnyway".into();
        let native = PodScheduling {
            topology_spread_constraints: vec![soft],
            ..PodScheduling::default()
        };
        let m = merge(native, translated("@zone:GROUP_BY:2"));
        assert_eq!(m.scheduling.topology_spread_constraints.len(), 2);
        assert!(m.warnings.is_empty());
    }

    #[test]
    fn translation_warnings_are_carried() {
        let m = merge(PodScheduling::default(), translated("@zone:LIKE:z.*"));
        assert_eq!(m.warnings.len(), 1);
        assert!(m.warnings[0].contains("no current node"));
    }

    #[test]
    fn default_placement_merges() {
        let sel = labels(&[("app", "kafka")]);
        let m = merge(PodScheduling::default(), default_scheduling(&sel));
        let a = m.scheduling.affinity.clone().unwrap();
        assert_eq!(a.node_affinity, None);
        assert_eq!(a.pod_affinity, None);
        let anti = a.pod_anti_affinity.unwrap();
        assert_eq!(anti.required_during_scheduling_ignored_during_execution, None);
        assert_eq!(
            anti.preferred_during_scheduling_ignored_during_execution
                .unwrap()
                .len(),
            1
        );
        assert_eq!(m.scheduling.topology_spread_constraints.len(), 2);

        let mut spec = PodSpec::default();
        m.scheduling.apply_to(&mut spec);
        assert_eq!(spec.node_selector, None);
        assert_eq!(spec.tolerations, None);
        assert!(spec.affinity.is_some());
        assert_eq!(spec.topology_spread_constraints.map(|v| v.len()), Some(2));
    }

    #[test]
    fn apply_to_sets_every_field() {
        let native = PodScheduling {
            node_selector: labels(&[("a", "b")]),
            tolerations: vec![Toleration {
                operator: Some("Exists".into()),
                ..Toleration::default()
            }],
            ..PodScheduling::default()
        };
        let m = merge(native, translated("hostname:UNIQUE"));
        let mut spec = PodSpec::default();
        m.scheduling.clone().apply_to(&mut spec);
        assert_eq!(spec.node_selector, Some(labels(&[("a", "b")])));
        assert_eq!(spec.tolerations.map(|t| t.len()), Some(1));
        assert_eq!(spec.affinity, m.scheduling.affinity);
        assert_eq!(spec.topology_spread_constraints, None);
    }
}
