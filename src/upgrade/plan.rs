//! The upgrade planner: from what each node runs (its pod, and the `metadata.version` range
//! Kafka reports for it), the desired release, the finalized feature levels and the roll's
//! health, the next step of a version change. Pure: an operator killed at any step decides
//! the same thing again from the same observation.
//!
//! Order: controllers roll to the new image, then brokers (the roll planner does the restarts,
//! gated by Kafka); once every node runs the desired release, the roll is idle and the soak has
//! passed, `metadata.version` is raised to the pin or the release's default, together with the
//! other features the release turns on by default ([`SAFE_FEATURES`]). Nothing is ever lowered:
//! Kafka cannot lower `metadata.version`, so a downgrade is admitted only when the target
//! release can run the finalized level ([`admit`]).

use std::collections::BTreeMap;

use super::releases::{self, Release};
use crate::admin::METADATA_VERSION_FEATURE;
use crate::crd::StepState;
use crate::names::Role;

/// The features finalised with the release's default `metadata.version`, when their level is
/// below the release's default. Not `kraft.version`: it switches the quorum to dynamic
/// membership (KIP-853), which a statically configured quorum does not use.
pub const SAFE_FEATURES: &[&str] = &[
    "eligible.leader.replicas.version",
    "group.version",
    "share.version",
    "streams.version",
    "transaction.version",
];

/// One node's versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeVersion {
    pub id: i32,
    pub role: Role,
    pub pod: String,
    /// The release its pod runs (the pod's version label); `None` while it has no pod.
    pub running: Option<String>,
    /// The highest `metadata.version` the node reports supporting (ApiVersions), when asked.
    pub supported_max: Option<i16>,
    /// Seconds since the pod was created (a restarted node's pod is new).
    pub age_seconds: i64,
}

/// The planner's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input<'a> {
    /// `spec.version`, a supported release (validation refused anything else).
    pub desired: &'a Release,
    /// `spec.metadataVersion` as a level.
    pub pin: Option<i16>,
    /// Seconds every node must have run the new release before finalisation.
    pub finalize_after_seconds: i64,
    pub nodes: &'a [NodeVersion],
    /// Finalized feature levels as Kafka reports them (an unlisted feature is level 0); `None`
    /// when Kafka did not answer or was not asked.
    pub finalized: Option<&'a BTreeMap<String, i16>>,
    /// The roll has nothing left to do and Kafka has every node back.
    pub roll_idle: bool,
}

/// The next step of a version change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Controllers still run another release: the roll restarts them first.
    RollControllers,
    /// Brokers still run another release: the roll restarts them.
    RollBrokers,
    /// Something must settle first (pods starting, the roll, Kafka's answer).
    Wait,
    /// Every node runs the release; finalisation waits this many seconds more.
    Soak { remaining_seconds: i64 },
    /// Raise these features (name, level) with UpdateFeatures.
    Finalize(Vec<(String, i16)>),
    /// Nothing to do: the cluster runs the desired release at the wanted level.
    Done,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeDecision {
    pub step: Step,
    /// The upgrade phase's state in the plan.
    pub state: StepState,
    pub message: String,
    /// The `metadata.version` level the cluster is going to (the pin or the release default).
    pub target_level: i16,
}

/// A version change the operator refuses, nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The spec field refused.
    pub field: &'static str,
    pub message: String,
    /// Whether the answer may change without a spec change (Kafka did not tell its level).
    pub retry: bool,
}

/// Whether the cluster may go to `desired` from what its pods run: always for an upgrade;
/// for a downgrade only when the target release can run the finalized `metadata.version`
/// (`finalized`, from Kafka or as last read from it).
pub fn admit(desired: &Release, running: &[&str], finalized: Option<i16>) -> Result<(), Refusal> {
    let newest = running.iter().copied().max_by(|a, b| releases::compare(a, b));
    let Some(newest) = newest.filter(|n| releases::compare(desired.version, n).is_lt()) else {
        return Ok(());
    };
    let Some(level) = finalized else {
        return Err(Refusal {
            field: "spec.version",
            message: format!(
                "downgrade from {newest} to {} held: Kafka has not reported its finalized metadata.version, \
                 so it is unknown whether {} can run it",
                desired.version, desired.version
            ),
            retry: true,
        });
    };
    if level <= desired.metadata_version {
        return Ok(());
    }
    Err(Refusal {
        field: "spec.version",
        message: format!(
            "downgrade from {newest} to {} refused: the cluster finalized metadata.version {} ({level}) and {} runs at most {} ({}); \
             Kafka cannot lower metadata.version, so keep spec.version at {newest} \
             (set spec.metadataVersion before an upgrade to keep a binary downgrade possible)",
            desired.version,
            releases::metadata_version_name(level),
            desired.version,
            releases::metadata_version_name(desired.metadata_version),
            desired.metadata_version,
        ),
        retry: false,
    })
}

/// The next step of the version change.
pub fn plan(input: &Input) -> UpgradeDecision {
    let target = input.pin.unwrap_or(input.desired.metadata_version);
    let decide = |step: Step, state: StepState, message: String| UpgradeDecision {
        step,
        state,
        message,
        target_level: target,
    };
    if let Some(d) = rolling(input, target) {
        return d;
    }
    if !input.roll_idle {
        return decide(
            Step::Wait,
            StepState::Waiting,
            format!(
                "every node runs {}; waiting for the roll to settle before metadata.version",
                input.desired.version
            ),
        );
    }
    let Some(finalized) = input.finalized else {
        return decide(
            Step::Wait,
            StepState::Waiting,
            "waiting for Kafka to report its finalized features".into(),
        );
    };
    let current = finalized.get(METADATA_VERSION_FEATURE).copied().unwrap_or(0);
    let raise = raises(input, finalized, current.max(target));
    if current > target {
        return decide(
            Step::Done,
            StepState::Error,
            format!(
                "metadata.version {} is finalized, above spec.metadataVersion {}: Kafka cannot lower it",
                releases::metadata_version_name(current),
                releases::metadata_version_name(target)
            ),
        );
    }
    if current == target && raise.is_empty() {
        return decide(
            Step::Done,
            StepState::Complete,
            format!(
                "{} runs metadata.version {}",
                input.desired.version,
                releases::metadata_version_name(current)
            ),
        );
    }
    finalize(input, target, current, raise)
}

/// While some node runs another release: the roll's next role, or a wait for pods to appear.
fn rolling(input: &Input, target: i16) -> Option<UpgradeDecision> {
    let want = input.desired.version;
    let stale = |role: Role| {
        input
            .nodes
            .iter()
            .filter(|n| n.role == role)
            .filter(|n| n.running.as_deref().is_some_and(|v| v != want))
            .count()
    };
    let done = input
        .nodes
        .iter()
        .filter(|n| n.running.as_deref() == Some(want))
        .count();
    let total = input.nodes.len();
    let (step, what) = if stale(Role::Controller) > 0 {
        (Step::RollControllers, "controllers")
    } else if stale(Role::Broker) > 0 {
        (Step::RollBrokers, "brokers")
    } else if done < total {
        let message = format!("{done} of {total} nodes run {want}; waiting for the other pods");
        return Some(decision(Step::Wait, StepState::Waiting, message, target));
    } else {
        return None;
    };
    let message = format!("rolling {what} to {want} ({done} of {total} nodes run it)");
    Some(decision(step, StepState::InProgress, message, target))
}

fn decision(step: Step, state: StepState, message: String, target: i16) -> UpgradeDecision {
    UpgradeDecision {
        step,
        state,
        message,
        target_level: target,
    }
}

/// The other features the release turns on by default and the cluster has below that level.
/// Only with the release's own `metadata.version`: a pinned lower level keeps them too.
fn raises(input: &Input, finalized: &BTreeMap<String, i16>, level: i16) -> Vec<(String, i16)> {
    if level != input.desired.metadata_version {
        return Vec::new();
    }
    input
        .desired
        .features
        .iter()
        .filter(|(name, _)| SAFE_FEATURES.contains(name))
        .filter(|(name, default)| finalized.get(*name).copied().unwrap_or(0) < *default)
        .map(|(name, default)| (name.to_string(), *default))
        .collect()
}

/// Every node runs the release and the roll is idle: finalise once every node reports support
/// for the target level and the soak has passed.
fn finalize(input: &Input, target: i16, current: i16, mut raise: Vec<(String, i16)>) -> UpgradeDecision {
    let name = releases::metadata_version_name(target);
    if current < target
        && let Some(n) = input
            .nodes
            .iter()
            .find(|n| n.supported_max.is_none_or(|max| max < target))
    {
        let why = n
            .supported_max
            .map_or("has not reported its supported features".into(), |max| {
                format!(
                    "supports metadata.version up to {}",
                    releases::metadata_version_name(max)
                )
            });
        let message = format!("metadata.version {name} waits: {} {why}", n.pod);
        return decision(Step::Wait, StepState::Waiting, message, target);
    }
    let youngest = input.nodes.iter().map(|n| n.age_seconds).min().unwrap_or(0);
    let remaining = input.finalize_after_seconds - youngest;
    if remaining > 0 {
        let message = format!(
            "every node runs {}; metadata.version {name} is finalised in {remaining}s",
            input.desired.version
        );
        return decision(
            Step::Soak {
                remaining_seconds: remaining,
            },
            StepState::Waiting,
            message,
            target,
        );
    }
    if current < target {
        raise.insert(0, (METADATA_VERSION_FEATURE.to_string(), target));
    }
    let list: Vec<String> = raise.iter().map(|(f, l)| format!("{f}={l}")).collect();
    let message = format!("finalising {} ({name})", list.join(", "));
    decision(Step::Finalize(raise), StepState::InProgress, message, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upgrade::releases::find;

    fn node(role: Role, id: i32, running: Option<&str>, max: Option<i16>, age: i64) -> NodeVersion {
        NodeVersion {
            id,
            role,
            pod: format!("c-{role}-{id}"),
            running: running.map(str::to_string),
            supported_max: max,
            age_seconds: age,
        }
    }

    /// 3 controllers + 3 brokers, each running `versions[i]` (supported max from the release).
    fn cluster(versions: [&str; 6], age: i64) -> Vec<NodeVersion> {
        versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let (role, id) = if i < 3 {
                    (Role::Controller, 9000 + i as i32)
                } else {
                    (Role::Broker, i as i32 - 3)
                };
                node(role, id, Some(v), find(v).map(|r| r.metadata_version), age)
            })
            .collect()
    }

    fn levels(mv: i16, rest: &[(&str, i16)]) -> BTreeMap<String, i16> {
        let mut m: BTreeMap<String, i16> = rest.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        m.insert(METADATA_VERSION_FEATURE.into(), mv);
        m
    }

    /// The 4.2 line's defaults: what a cluster formatted by 4.2.2 finalized.
    fn formatted_by_4_2() -> BTreeMap<String, i16> {
        let r = find("4.2.2").unwrap();
        let mut m: BTreeMap<String, i16> = r.features.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        m.insert(METADATA_VERSION_FEATURE.into(), r.metadata_version);
        m.insert("kraft.version".into(), 0);
        m
    }

    fn input<'a>(
        desired: &'a str,
        nodes: &'a [NodeVersion],
        finalized: Option<&'a BTreeMap<String, i16>>,
        roll_idle: bool,
    ) -> Input<'a> {
        Input {
            desired: find(desired).unwrap(),
            pin: None,
            finalize_after_seconds: 0,
            nodes,
            finalized,
            roll_idle,
        }
    }

    #[test]
    fn controllers_roll_before_brokers_then_finalise() {
        let f = formatted_by_4_2();
        let old = "4.2.2";
        let new = "4.3.1";
        let steps: Vec<Step> = [
            [old, old, old, old, old, old],
            [new, new, old, old, old, old],
            [new, new, new, old, old, old],
            [new, new, new, new, new, old],
        ]
        .iter()
        .map(|v| {
            let nodes = cluster(*v, 100);
            plan(&input(new, &nodes, Some(&f), false)).step
        })
        .collect();
        assert_eq!(
            steps,
            vec![
                Step::RollControllers,
                Step::RollControllers,
                Step::RollBrokers,
                Step::RollBrokers
            ]
        );
        let nodes = cluster([new; 6], 100);
        let d = plan(&input(new, &nodes, Some(&f), false));
        assert_eq!(d.step, Step::Wait, "the roll has not settled: {}", d.message);
        let d = plan(&input(new, &nodes, Some(&f), true));
        assert_eq!(
            d.step,
            Step::Finalize(vec![(METADATA_VERSION_FEATURE.into(), 30)]),
            "4.3 has 4.2's other defaults, kraft.version is never touched"
        );
        assert_eq!(d.target_level, 30);
        assert!(d.message.contains("4.3-IV0"), "{}", d.message);
        let done = levels(30, &[]);
        let f43: BTreeMap<String, i16> = f.into_iter().chain(done).collect();
        let d = plan(&input(new, &nodes, Some(&f43), true));
        assert_eq!((d.step, d.state), (Step::Done, StepState::Complete));
    }

    #[test]
    fn finalisation_waits_for_every_node_to_report_support() {
        let f = formatted_by_4_2();
        let mut nodes = cluster(["4.3.1"; 6], 100);
        nodes[4].supported_max = None;
        let d = plan(&input("4.3.1", &nodes, Some(&f), true));
        assert_eq!(d.step, Step::Wait);
        assert!(d.message.contains("c-broker-1 has not reported"), "{}", d.message);
        nodes[4].supported_max = Some(29);
        let d = plan(&input("4.3.1", &nodes, Some(&f), true));
        assert_eq!(d.step, Step::Wait);
        assert!(d.message.contains("up to 4.2-IV1"), "{}", d.message);
        let d = plan(&input("4.3.1", &nodes, None, true));
        assert_eq!(d.step, Step::Wait, "Kafka did not answer");
    }

    #[test]
    fn missing_pods_are_waited_for() {
        let mut nodes = cluster(["4.3.1"; 6], 100);
        nodes[5].running = None;
        let d = plan(&input("4.3.1", &nodes, None, true));
        assert_eq!(d.step, Step::Wait);
        assert!(d.message.contains("5 of 6"), "{}", d.message);
    }

    #[test]
    fn soak_counts_from_the_youngest_pod() {
        let f = formatted_by_4_2();
        let mut nodes = cluster(["4.3.1"; 6], 1000);
        nodes[5].age_seconds = 250;
        let mut i = input("4.3.1", &nodes, Some(&f), true);
        i.finalize_after_seconds = 300;
        let d = plan(&i);
        assert_eq!(
            d.step,
            Step::Soak {
                remaining_seconds: 50
            }
        );
        assert_eq!(d.state, StepState::Waiting);
        i.finalize_after_seconds = 250;
        assert!(matches!(plan(&i).step, Step::Finalize(_)));
    }

    #[test]
    fn a_pin_holds_the_level_and_the_other_features() {
        // 4.0 formatted, upgraded to 4.3.1 with the pin at 4.0: nothing to finalise.
        let f = levels(25, &[("group.version", 1), ("transaction.version", 2)]);
        let nodes = cluster(["4.3.1"; 6], 100);
        let mut i = input("4.3.1", &nodes, Some(&f), true);
        i.pin = Some(25);
        let d = plan(&i);
        assert_eq!((d.step, d.state), (Step::Done, StepState::Complete), "pinned");
        // The pin raised to 4.2-IV0: metadata.version only.
        i.pin = Some(28);
        assert_eq!(
            plan(&i).step,
            Step::Finalize(vec![(METADATA_VERSION_FEATURE.into(), 28)])
        );
        // Unpinned: the release's level and its default features, ELR included.
        i.pin = None;
        assert_eq!(
            plan(&i).step,
            Step::Finalize(vec![
                (METADATA_VERSION_FEATURE.into(), 30),
                ("eligible.leader.replicas.version".into(), 1),
                ("share.version".into(), 1),
                ("streams.version".into(), 1),
            ])
        );
    }

    #[test]
    fn a_pin_below_the_finalized_level_is_an_error_not_an_action() {
        let f = levels(30, &[]);
        let nodes = cluster(["4.3.1"; 6], 100);
        let mut i = input("4.3.1", &nodes, Some(&f), true);
        i.pin = Some(29);
        let d = plan(&i);
        assert_eq!((d.step, d.state), (Step::Done, StepState::Error));
        assert!(d.message.contains("cannot lower"), "{}", d.message);
    }

    #[test]
    fn downgrades_are_admitted_only_when_the_target_runs_the_finalized_level() {
        let old = find("4.2.2").unwrap();
        let new = find("4.3.1").unwrap();
        // Upgrades and same-version passes need no level.
        assert_eq!(admit(new, &["4.2.2", "4.3.1"], None), Ok(()));
        assert_eq!(admit(new, &[], None), Ok(()));
        // A downgrade with the level still at 4.2-IV1 (pinned, or not finalised yet).
        assert_eq!(admit(old, &["4.3.1", "4.2.2"], Some(29)), Ok(()));
        let refused = admit(old, &["4.3.1"], Some(30)).unwrap_err();
        assert_eq!(refused.field, "spec.version");
        assert!(!refused.retry);
        assert!(
            refused.message.contains("4.3-IV0") && refused.message.contains("keep spec.version at 4.3.1"),
            "{}",
            refused.message
        );
        let unknown = admit(old, &["4.3.1"], None).unwrap_err();
        assert!(unknown.retry, "Kafka may answer later");
    }
}
