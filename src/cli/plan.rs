//! `kraftwerk plan`: the rollout plan of a KafkaCluster as text.

use kraftwerk::crd::{ControllerQuorumStatus, RebalanceStatus, RolloutStatus};

/// The plan as text, DC/OS `plan show` style:
/// ```text
/// rollout (IN_PROGRESS): restarting c-broker-1
/// ├─ controllers (COMPLETE)
/// │  ├─ 9000 c-controller-9000 (COMPLETE) runs the desired configuration
/// ...
/// ```
pub fn format_plan(plan: &RolloutStatus) -> String {
    let mut out = format!("rollout ({}): {}\n", plan.state, plan.message);
    for (i, phase) in plan.phases.iter().enumerate() {
        let last_phase = i + 1 == plan.phases.len();
        let branch = if last_phase { "└─" } else { "├─" };
        let message = if phase.message.is_empty() {
            String::new()
        } else {
            format!(" {}", phase.message)
        };
        out.push_str(&format!("{branch} {} ({}){message}\n", phase.name, phase.state));
        let indent = if last_phase { " " } else { "│" };
        for (j, step) in phase.steps.iter().enumerate() {
            let twig = if j + 1 == phase.steps.len() && phase.steps_omitted == 0 {
                "└─"
            } else {
                "├─"
            };
            let reason = if step.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", step.reason)
            };
            out.push_str(&format!(
                "{indent}  {twig} {} {} ({}){reason}\n",
                step.id, step.pod, step.state
            ));
        }
        if phase.steps_omitted > 0 {
            out.push_str(&format!(
                "{indent}  └─ … {} more, COMPLETE\n",
                phase.steps_omitted
            ));
        }
    }
    out
}

/// A rebalance or drain as a phase, in the style of the rollout:
/// ```text
/// rebalance (IN_PROGRESS): rebalancing: 4/12 partitions moved, 4 in flight
/// └─ brokers 0, 1, 2, 3, 4: 12 to move, 4 moved, 4 in flight
/// ```
pub fn format_rebalance(r: &RebalanceStatus) -> String {
    let brokers: Vec<String> = r.brokers.iter().map(ToString::to_string).collect();
    let bytes = r
        .bytes_to_move
        .map(|b| format!(", {b} bytes to copy"))
        .unwrap_or_default();
    format!(
        "{} ({}): {}\n└─ brokers {}: {} to move, {} moved, {} in flight{bytes}\n",
        r.operation,
        r.state,
        r.message,
        brokers.join(", "),
        r.partitions_to_move,
        r.partitions_moved,
        r.in_flight
    )
}

/// The controller quorum as a phase while it has something under way or to say (a voter change,
/// the static quorum's `kraft.version` upgrade, or why it stays static):
/// ```text
/// quorum (Static): the upgrade of the static quorum to kraft.version 1 waits: ...
/// └─ voters 9000, 9001, 9002
/// ```
pub fn format_quorum(q: &ControllerQuorumStatus) -> Option<String> {
    let message = q.message.as_deref()?;
    let mut out = format!("quorum ({}): {message}\n", q.mode);
    if !q.voters.is_empty() {
        let voters: Vec<String> = q.voters.iter().map(|v| v.id.to_string()).collect();
        out.push_str(&format!("└─ voters {}\n", voters.join(", ")));
    }
    Some(out)
}

/// The plan for `-o json|yaml`: one document, the rollout's fields (none before the first plan)
/// plus `rebalance` when a rebalance or drain is recorded and `controllerQuorum` when
/// [`format_quorum`] has something to say.
pub fn plan_document(
    rollout: Option<&RolloutStatus>,
    rebalance: Option<&RebalanceStatus>,
    quorum: Option<&ControllerQuorumStatus>,
) -> Result<serde_json::Value, String> {
    let mut doc = match rollout {
        Some(r) => serde_json::to_value(r).map_err(|e| e.to_string())?,
        None => serde_json::json!({}),
    };
    if let (Some(r), Some(map)) = (rebalance, doc.as_object_mut()) {
        map.insert(
            "rebalance".into(),
            serde_json::to_value(r).map_err(|e| e.to_string())?,
        );
    }
    let quorum = quorum.filter(|q| q.message.is_some());
    if let (Some(q), Some(map)) = (quorum, doc.as_object_mut()) {
        map.insert(
            "controllerQuorum".into(),
            serde_json::to_value(q).map_err(|e| e.to_string())?,
        );
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use kraftwerk::crd::{RolloutPhase, RolloutStep, StepState};

    use super::*;

    #[test]
    fn the_structured_plan_is_one_document_with_the_rebalance_inside() {
        let rollout = RolloutStatus {
            state: StepState::Complete,
            message: "done".into(),
            ..Default::default()
        };
        let rebalance = RebalanceStatus {
            operation: "rebalance".into(),
            state: StepState::Complete,
            partitions_moved: 3,
            ..Default::default()
        };
        let doc = plan_document(Some(&rollout), Some(&rebalance), None).unwrap();
        assert_eq!(doc["state"], "COMPLETE");
        assert_eq!(doc["rebalance"]["operation"], "rebalance");
        assert_eq!(doc["rebalance"]["partitionsMoved"], 3);
        let only_rebalance = plan_document(None, Some(&rebalance), None).unwrap();
        assert_eq!(only_rebalance["rebalance"]["state"], "COMPLETE");
        assert_eq!(plan_document(None, None, None).unwrap(), serde_json::json!({}));
        // A settled quorum adds nothing; one with a message is in the document.
        let mut q = quorum(None);
        assert_eq!(
            plan_document(None, None, Some(&q)).unwrap(),
            serde_json::json!({})
        );
        q.message = Some("upgrading".into());
        let doc = plan_document(None, None, Some(&q)).unwrap();
        assert_eq!(doc["controllerQuorum"]["mode"], "Static");
        assert_eq!(doc["controllerQuorum"]["message"], "upgrading");
    }

    fn quorum(message: Option<&str>) -> ControllerQuorumStatus {
        ControllerQuorumStatus {
            mode: "Static".into(),
            voters: [9000, 9001]
                .map(|id| kraftwerk::crd::QuorumVoterStatus {
                    id,
                    directory_id: String::new(),
                })
                .into(),
            message: message.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn format_quorum_shows_the_step_only_while_there_is_one() {
        assert_eq!(format_quorum(&quorum(None)), None);
        let q = quorum(Some(
            "the upgrade of the static quorum to kraft.version 1 waits: x",
        ));
        assert_eq!(
            format_quorum(&q).unwrap(),
            "quorum (Static): the upgrade of the static quorum to kraft.version 1 waits: x\n\
             └─ voters 9000, 9001\n"
        );
    }

    #[test]
    fn format_rebalance_shows_progress() {
        let r = RebalanceStatus {
            operation: "drain".into(),
            state: StepState::InProgress,
            message: "draining brokers 1, 3: 2/6 partitions moved, 4 in flight".into(),
            brokers: vec![0, 2, 4],
            partitions_to_move: 6,
            partitions_moved: 2,
            in_flight: 4,
            ..Default::default()
        };
        assert_eq!(
            format_rebalance(&r),
            "drain (IN_PROGRESS): draining brokers 1, 3: 2/6 partitions moved, 4 in flight\n\
             └─ brokers 0, 2, 4: 6 to move, 2 moved, 4 in flight\n"
        );
    }

    #[test]
    fn format_plan_lists_phases_and_steps() {
        let plan = RolloutStatus {
            state: StepState::InProgress,
            message: "restarting c-broker-1".into(),
            awaiting_approval: None,
            phases: vec![
                RolloutPhase {
                    message: String::new(),
                    name: "controllers".into(),
                    state: StepState::Complete,
                    steps_omitted: 0,
                    steps: vec![RolloutStep {
                        id: 9000,
                        pod: "c-controller-9000".into(),
                        state: StepState::Complete,
                        reason: String::new(),
                    }],
                },
                RolloutPhase {
                    message: String::new(),
                    name: "brokers".into(),
                    state: StepState::InProgress,
                    steps_omitted: 0,
                    steps: vec![RolloutStep {
                        id: 1,
                        pod: "c-broker-1".into(),
                        state: StepState::InProgress,
                        reason: "restarting".into(),
                    }],
                },
                RolloutPhase {
                    message: "rolling brokers to 4.3.1 (4 of 6 nodes run it)".into(),
                    name: "upgrade".into(),
                    state: StepState::InProgress,
                    steps_omitted: 0,
                    steps: Vec::new(),
                },
            ],
        };
        let text = format_plan(&plan);
        assert_eq!(
            text,
            "rollout (IN_PROGRESS): restarting c-broker-1\n\
             ├─ controllers (COMPLETE)\n\
             │  └─ 9000 c-controller-9000 (COMPLETE)\n\
             ├─ brokers (IN_PROGRESS)\n\
             │  └─ 1 c-broker-1 (IN_PROGRESS) restarting\n\
             └─ upgrade (IN_PROGRESS) rolling brokers to 4.3.1 (4 of 6 nodes run it)\n"
        );
    }
}
