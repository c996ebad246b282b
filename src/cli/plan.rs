//! `kraftwerk plan`: the rollout plan of a KafkaCluster as text.

use kraftwerk::crd::RolloutStatus;

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

#[cfg(test)]
mod tests {
    use kraftwerk::crd::{RolloutPhase, RolloutStep, StepState};

    use super::*;

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
