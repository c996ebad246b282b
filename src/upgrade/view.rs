//! From observed objects to the upgrade planner's input and back to status, pure: what each
//! node runs, whether Kafka needs asking at all, and the `upgrade` phase of the plan.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::plan::{NodeVersion, Step, UpgradeDecision};
use super::releases;
use crate::crd::{KafkaClusterStatus, RolloutPhase, RolloutStatus, StepState};
use crate::desired::NodeConfig;
use crate::labels;

/// The name of the plan's phase for a version change.
pub const PHASE: &str = "upgrade";

/// The release a pod runs (its version label).
pub fn pod_version(pod: &Pod) -> Option<&str> {
    pod.labels().get(labels::VERSION).map(String::as_str)
}

/// Every desired node with the release its pod runs, the highest `metadata.version` Kafka
/// reported for it (`supported`, by node id) and its pod's age. `now` is in seconds.
pub fn node_versions(
    desired: &[NodeConfig],
    pods: &[Pod],
    supported: &BTreeMap<i32, i16>,
    now: i64,
) -> Vec<NodeVersion> {
    desired
        .iter()
        .map(|n| {
            let pod = pods
                .iter()
                .find(|p| p.name_any() == n.pod && p.metadata.deletion_timestamp.is_none());
            NodeVersion {
                id: n.id,
                role: n.role,
                pod: n.pod.clone(),
                running: pod.and_then(pod_version).map(str::to_string),
                supported_max: supported.get(&n.id).copied(),
                age_seconds: pod
                    .and_then(|p| p.metadata.creation_timestamp.as_ref())
                    .map_or(0, |t| now - t.0.as_second()),
            }
        })
        .collect()
}

/// Whether there is nothing to ask Kafka: every pod runs `version`, the last status says the
/// cluster runs it at `target` and no version change was under way.
pub fn steady(version: &str, target: i16, pods: &[Pod], previous: Option<&KafkaClusterStatus>) -> bool {
    let Some(previous) = previous else {
        return false;
    };
    pods.iter().all(|p| pod_version(p) == Some(version))
        && previous.kafka_version.as_deref() == Some(version)
        && previous.metadata_version.as_deref() == Some(releases::metadata_version_name(target).as_str())
        && !in_plan(previous.rollout.as_ref())
}

/// Whether the plan shows a version change.
pub fn in_plan(rollout: Option<&RolloutStatus>) -> bool {
    rollout.is_some_and(|r| r.phases.iter().any(|p| p.name == PHASE))
}

/// The release line Kafka reports per pod: this pass's readings (`supported`, by node id), else
/// the previous status's for a pod that still runs the same release.
pub fn kafka_versions(
    nodes: &[NodeVersion],
    supported: &BTreeMap<i32, i16>,
    previous: Option<&KafkaClusterStatus>,
) -> BTreeMap<String, String> {
    let before: BTreeMap<&str, (&Option<String>, &Option<String>)> = previous
        .map(|p| {
            p.nodes
                .iter()
                .map(|n| (n.pod.as_str(), (&n.version, &n.kafka_version)))
                .collect()
        })
        .unwrap_or_default();
    nodes
        .iter()
        .filter_map(|n| {
            let fresh = supported.get(&n.id).map(|max| {
                releases::line_of_metadata_version(*max).map_or_else(|| format!("mv {max}"), str::to_string)
            });
            let kept = || match before.get(n.pod.as_str()) {
                Some((version, Some(line))) if **version == n.running => Some(line.clone()),
                _ => None,
            };
            fresh.or_else(kept).map(|line| (n.pod.clone(), line))
        })
        .collect()
}

/// Whether the decision belongs in the plan: while nodes roll, soak or await finalisation, on
/// an error, and while a change already shown in the plan settles.
pub fn shown(decision: &UpgradeDecision, previous: Option<&KafkaClusterStatus>) -> bool {
    match decision.step {
        Step::RollControllers | Step::RollBrokers | Step::Soak { .. } | Step::Finalize(_) => true,
        Step::Done => decision.state == StepState::Error,
        Step::Wait => in_plan(previous.and_then(|p| p.rollout.as_ref())),
    }
}

/// Adds the `upgrade` phase to the plan; while the roll itself has nothing left, the plan's
/// state and message are the upgrade's.
pub fn with_phase(decision: &UpgradeDecision, rollout: &mut RolloutStatus) {
    rollout.phases.push(RolloutPhase {
        name: PHASE.into(),
        state: decision.state,
        message: decision.message.clone(),
        steps_omitted: 0,
        steps: Vec::new(),
    });
    if rollout.state == StepState::Complete {
        rollout.state = decision.state;
        rollout.message = decision.message.clone();
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;
    use crate::crd::NodeStatus;
    use crate::names::Role;

    fn pod(name: &str, version: &str, created: i64) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([(
                    labels::VERSION.to_string(),
                    version.to_string(),
                )])),
                creation_timestamp: Some(Time(k8s_openapi::jiff::Timestamp::from_second(created).unwrap())),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn node(role: Role, id: i32, pod: &str) -> NodeConfig {
        NodeConfig {
            role,
            id,
            pod: pod.into(),
            properties: Vec::new(),
            text: String::new(),
            config_hash: String::new(),
            static_hash: String::new(),
            dynamic: BTreeMap::new(),
        }
    }

    fn status(version: &str, mv: &str, phases: &[&str]) -> KafkaClusterStatus {
        KafkaClusterStatus {
            kafka_version: Some(version.into()),
            metadata_version: Some(mv.into()),
            rollout: Some(RolloutStatus {
                phases: phases
                    .iter()
                    .map(|n| RolloutPhase {
                        name: n.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn node_versions_from_pods_and_kafka() {
        let desired = vec![
            node(Role::Controller, 9000, "c-9000"),
            node(Role::Broker, 0, "b-0"),
        ];
        let pods = vec![pod("c-9000", "4.3.1", 100)];
        let v = node_versions(&desired, &pods, &BTreeMap::from([(9000, 30)]), 160);
        assert_eq!(v[0].running.as_deref(), Some("4.3.1"));
        assert_eq!((v[0].supported_max, v[0].age_seconds), (Some(30), 60));
        assert_eq!((v[1].running.as_deref(), v[1].supported_max), (None, None));
    }

    #[test]
    fn steady_needs_every_pod_and_the_last_status_at_the_target() {
        let pods = vec![pod("c-9000", "4.3.1", 0), pod("b-0", "4.3.1", 0)];
        let done = status("4.3.1", "4.3-IV0", &["controllers", "brokers"]);
        assert!(steady("4.3.1", 30, &pods, Some(&done)));
        assert!(!steady("4.3.1", 30, &pods, None), "never read");
        assert!(!steady("4.3.1", 29, &pods, Some(&done)), "another target");
        let mixed = vec![pod("c-9000", "4.3.1", 0), pod("b-0", "4.2.2", 0)];
        assert!(!steady("4.3.1", 30, &mixed, Some(&done)));
        let shown = status("4.3.1", "4.3-IV0", &["controllers", "brokers", PHASE]);
        assert!(
            !steady("4.3.1", 30, &pods, Some(&shown)),
            "the phase is still shown"
        );
    }

    #[test]
    fn kafka_versions_fresh_else_kept_while_the_pod_runs_the_same_release() {
        let desired = vec![
            node(Role::Controller, 9000, "c-9000"),
            node(Role::Broker, 0, "b-0"),
        ];
        let pods = vec![pod("c-9000", "4.3.1", 0), pod("b-0", "4.2.2", 0)];
        let nodes = node_versions(&desired, &pods, &BTreeMap::new(), 0);
        let mut previous = status("4.2.2", "4.2-IV1", &[]);
        previous.nodes = [("c-9000", "4.2.2", "4.2"), ("b-0", "4.2.2", "4.2")]
            .iter()
            .map(|(pod, v, line)| NodeStatus {
                id: 0,
                role: Role::Broker,
                pod: pod.to_string(),
                node: None,
                ready: true,
                up_to_date: true,
                version: Some(v.to_string()),
                kafka_version: Some(line.to_string()),
                placement: None,
                message: None,
            })
            .collect();
        let got = kafka_versions(&nodes, &BTreeMap::new(), Some(&previous));
        assert_eq!(
            got,
            BTreeMap::from([("b-0".to_string(), "4.2".to_string())]),
            "c-9000 was restarted with 4.3.1: its old reading is dropped"
        );
        let got = kafka_versions(&nodes, &BTreeMap::from([(9000, 30)]), Some(&previous));
        assert_eq!(got.get("c-9000").map(String::as_str), Some("4.3"));
    }

    #[test]
    fn the_phase_is_shown_while_something_happens_and_takes_over_a_finished_roll() {
        let d = |step, state| UpgradeDecision {
            step,
            state,
            message: "m".into(),
            target_level: 30,
        };
        assert!(shown(&d(Step::RollBrokers, StepState::InProgress), None));
        assert!(!shown(&d(Step::Done, StepState::Complete), None));
        assert!(shown(&d(Step::Done, StepState::Error), None));
        assert!(!shown(&d(Step::Wait, StepState::Waiting), None));
        let before = status("4.2.2", "4.2-IV1", &[PHASE]);
        assert!(shown(&d(Step::Wait, StepState::Waiting), Some(&before)));
        let mut rollout = RolloutStatus {
            state: StepState::Complete,
            message: "all done".into(),
            ..Default::default()
        };
        with_phase(
            &d(Step::Soak { remaining_seconds: 5 }, StepState::Waiting),
            &mut rollout,
        );
        assert_eq!(
            (rollout.state, rollout.message.as_str()),
            (StepState::Waiting, "m")
        );
        assert_eq!(rollout.phases.last().map(|p| p.name.as_str()), Some(PHASE));
    }
}
