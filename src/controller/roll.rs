//! Rolling restarts: the bridge between the pure roll planner (`crate::roll`) and the cluster.
//! Called once per reconcile after the desired objects are applied. See `docs/rolling.md`.
//!
//! Everything the roll needs to remember lives in the cluster:
//! - a pod whose `kraftwerk.dev/config-hash` differs from the desired one runs an old
//!   configuration; "restart" is deleting it (the pipeline recreates it with the new hash);
//! - each pod records what it runs (`kraftwerk.dev/static-hash`, `kraftwerk.dev/dynamic-config`)
//!   so that a change of dynamic keys only can be applied live;
//! - manual restarts and the canary are recorded on the node's ConfigMap
//!   (`kraftwerk.dev/restarted-for: <request>@<uid of the pod restarted for it>`,
//!   `kraftwerk.dev/canary: <change id>`), which outlives the pod.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, Preconditions};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::Context;
use super::status::{self, DEGRADED, PROGRESSING};
use crate::admin::{AdminClient, AdminConfig, AdminError, AlterConfigOp, ConfigResource};
use crate::crd::{KafkaCluster, KafkaClusterStatus, RolloutPhase, RolloutStatus, RolloutStep};
use crate::error::Result;
use crate::names::Role;
use crate::placement::rack::RACK_ANNOTATION;
use crate::roll::dynamic::{self, ConfigChange, Running};
use crate::roll::gates::{DEFAULT_FETCH_TIMEOUT_MS, KafkaState, Partition, Quorum, Voter};
use crate::roll::plan::DEFAULT_RESTART_TIMEOUT_SECONDS;
use crate::roll::{Action, Controls, Decision, KafkaView, NodeView, PodState, StepState, Update, plan};
use crate::validate::ValidatedCluster;
use crate::{FIELD_MANAGER, labels};

/// On the KafkaCluster: restart every node once per distinct value.
pub const RESTART_ANNOTATION: &str = "kraftwerk.dev/restart";
/// On the KafkaCluster: restart the listed node ids (`"1,2"`, optionally `"1,2@token"`) once per
/// distinct value.
pub const RESTART_NODES_ANNOTATION: &str = "kraftwerk.dev/restart-nodes";
/// On the KafkaCluster, `"true"`: roll on pod readiness only, without Kafka's safety gates. For
/// simulated clusters (kwok) where no Kafka runs; never on a real cluster.
pub const SKIP_KAFKA_GATES: &str = "kraftwerk.dev/skip-kafka-gates";
/// On pods: digest of what only a restart changes.
pub const STATIC_HASH: &str = "kraftwerk.dev/static-hash";
/// On pods: the dynamic broker keys the node runs with (JSON object).
pub const DYNAMIC_CONFIG: &str = "kraftwerk.dev/dynamic-config";
/// On pods: the config hash whose live update failed (falls back to a restart).
pub const LIVE_UPDATE_FAILED: &str = "kraftwerk.dev/live-update-failed";
/// On node ConfigMaps: the manual restart request served, and the uid of the pod it restarted.
pub const RESTARTED_FOR: &str = "kraftwerk.dev/restarted-for";
/// On node ConfigMaps: the change (config hash, and manual request if any) this node was the
/// canary of.
pub const CANARY: &str = "kraftwerk.dev/canary";
/// On the KafkaCluster: the change (as `status.rollout.awaitingApproval` names it) whose canary
/// the user approved, so the rest of that change rolls while `spec.rollout.canary` stays on.
pub const CANARY_APPROVED: &str = "kraftwerk.dev/canary-approved";

const ROLL_MANAGER_SUFFIX: &str = "-roll";

const STUCK_PREFIXES: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "Unschedulable",
];

/// What the roll decided in this pass, for the status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RollOutcome {
    pub decision: Option<Decision>,
}

/// Short timeouts: a reconcile must not hang on an unreachable cluster.
fn admin_config() -> AdminConfig {
    AdminConfig {
        client_id: "kraftwerk-roll".into(),
        connect_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
    }
}

/// The rollout controls of a cluster's spec.
pub fn controls(cr: &KafkaCluster) -> Controls {
    let r = cr.spec.rollout.clone().unwrap_or_default();
    Controls {
        paused: r.paused,
        canary: r.canary,
        max_batch_per_rack: r.max_batch_per_rack.unwrap_or(1).max(1) as usize,
        restart_timeout_seconds: r
            .restart_timeout_seconds
            .map(i64::from)
            .unwrap_or(DEFAULT_RESTART_TIMEOUT_SECONDS),
        canary_approved: cr.annotations().get(CANARY_APPROVED).cloned(),
    }
}

/// The manual restart request that applies to node `id`, if any.
pub fn manual_request(annotations: &BTreeMap<String, String>, id: i32) -> Option<String> {
    let whole = annotations.get(RESTART_ANNOTATION).filter(|v| !v.is_empty());
    let nodes = annotations.get(RESTART_NODES_ANNOTATION).filter(|v| {
        let list = v.split('@').next().unwrap_or_default();
        list.split(',').any(|x| x.trim().parse::<i32>().ok() == Some(id))
    });
    match (whole, nodes) {
        (None, None) => None,
        (w, n) => Some(format!(
            "{}/{}",
            w.map(String::as_str).unwrap_or_default(),
            n.map(String::as_str).unwrap_or_default()
        )),
    }
}

/// Whether the manual request still needs a restart of the pod with `uid`, given the ConfigMap's
/// record `<request>@<uid>`: it does unless the record names this request and a *previous* pod.
pub fn manual_pending(request: Option<&str>, record: Option<&str>, uid: Option<&str>) -> bool {
    let Some(request) = request else {
        return false;
    };
    match record.and_then(|r| r.rsplit_once('@')) {
        Some((served, restarted_uid)) if served == request => Some(restarted_uid) == uid,
        _ => true,
    }
}

/// Snapshot of the Kafka state the gates need, through one admin client.
pub async fn kafka_state(admin: &AdminClient) -> std::result::Result<KafkaState, AdminError> {
    let cluster = admin.describe_cluster().await?;
    let quorum = admin.describe_quorum().await?;
    let metadata = admin.metadata(None).await?;
    let names: Vec<String> = metadata.topics.iter().map(|t| t.name.clone()).collect();
    let min_isrs = admin.topics_min_insync_replicas(&names).await?;
    // Each topic's answer is its effective value (own, else cluster-level, else static). A topic
    // missing from the answer (deleted meanwhile, or refused) gets the cluster's effective value,
    // never a weaker 1.
    let cluster_min_isr = match cluster.brokers.iter().find(|b| !b.fenced) {
        Some(b) => admin.broker_min_insync_replicas(b.id).await?.unwrap_or(1),
        None => 1,
    };
    let mut partitions = Vec::new();
    for topic in &metadata.topics {
        let min_isr = min_isrs
            .get(&topic.name)
            .copied()
            .unwrap_or(cluster_min_isr)
            .max(1) as usize;
        for p in &topic.partitions {
            partitions.push(Partition {
                topic: topic.name.clone(),
                partition: p.partition,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                min_isr,
            });
        }
    }
    Ok(KafkaState {
        brokers: cluster.brokers.iter().map(|b| (b.id, b.fenced)).collect(),
        quorum: Some(Quorum {
            leader: quorum.leader_id,
            voters: quorum
                .voters
                .iter()
                .map(|v| Voter {
                    id: v.id,
                    last_caught_up_ms: v.last_caught_up_timestamp.filter(|t| *t >= 0),
                })
                .collect(),
        }),
        partitions,
        fetch_timeout_ms: DEFAULT_FETCH_TIMEOUT_MS,
    })
}

fn pod_state(pod: Option<&Pod>) -> PodState {
    let Some(pod) = pod else {
        return PodState::Missing;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return PodState::Terminating;
    }
    if status::is_ready(pod) {
        return PodState::Ready;
    }
    let why = status::not_ready_reason(pod);
    if STUCK_PREFIXES.iter().any(|p| why.starts_with(p)) {
        PodState::Stuck(why)
    } else {
        PodState::NotReady(why)
    }
}

/// The change a rollout rolls out, as one short id: a digest of every node's desired
/// configuration hash and the manual restart request that applies to it. A canary records it on
/// its ConfigMap and the user approves it (`kraftwerk.dev/canary-approved`); any new edit or
/// request is a new change, with its own canary and its own approval.
fn change_id<'a>(nodes: impl IntoIterator<Item = (i32, &'a str, Option<&'a str>)>) -> String {
    let mut lines: Vec<String> = nodes
        .into_iter()
        .map(|(id, hash, manual)| format!("{id} {hash} {}\n", manual.unwrap_or_default()))
        .collect();
    lines.sort();
    let digest = Sha256::digest(lines.concat().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn dynamic_json(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_default()
}

/// Per node: what is desired, for the I/O of an action.
struct Target {
    pod: String,
    role: Role,
    desired_hash: String,
    static_hash: String,
    dynamic: BTreeMap<String, String>,
    running_dynamic: Option<BTreeMap<String, String>>,
    uid: Option<String>,
    manual: Option<String>,
}

/// Advances the rollout by at most one step. `desired` are the pods as built now (their
/// `kraftwerk.dev/config-hash` annotation is the target), `observed` the pods as they are.
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    desired: &[&Pod],
    observed: &[Pod],
) -> Result<RollOutcome> {
    let ns = cr.namespace().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ns);
    let selector = labels::selector_string(&labels::cluster_selector(&cluster.names.cluster));
    let config_maps: BTreeMap<String, ConfigMap> = cms
        .list(&ListParams::default().labels(&selector))
        .await?
        .items
        .into_iter()
        .map(|c| (c.name_any(), c))
        .collect();
    let manager = format!("{FIELD_MANAGER}{ROLL_MANAGER_SUFFIX}");
    let merge = PatchParams {
        field_manager: Some(manager),
        ..Default::default()
    };
    let now = Timestamp::now();

    let node_of = |pod: &Pod| -> Option<(Role, i32, String)> {
        Some((
            pod.labels().get(labels::ROLE).and_then(|r| Role::from_label(r))?,
            pod.labels().get(labels::NODE_ID)?.parse::<i32>().ok()?,
            pod.annotations().get(labels::CONFIG_HASH)?.clone(),
        ))
    };
    let desired_nodes: Vec<(i32, String, Option<String>)> = desired
        .iter()
        .filter_map(|p| node_of(p))
        .map(|(_, id, hash)| (id, hash, manual_request(cr.annotations(), id)))
        .collect();
    let change = change_id(
        desired_nodes
            .iter()
            .map(|(id, hash, manual)| (*id, hash.as_str(), manual.as_deref())),
    );

    let mut views = Vec::new();
    let mut targets: BTreeMap<i32, Target> = BTreeMap::new();
    for want in desired {
        let name = want.name_any();
        let Some((role, id, desired_hash)) = node_of(want) else {
            continue;
        };
        let props = dynamic::parse(&crate::build::properties::render(cluster, role, id));
        let static_hash = dynamic::static_hash(&props, want.spec.as_ref());
        let dyn_desired = match role {
            Role::Broker => dynamic::dynamic_part(&props),
            Role::Controller => BTreeMap::new(),
        };
        let pod = observed.iter().find(|p| p.name_any() == name);
        let cm = config_maps.get(&name);
        let cm_annotation = |key: &str| cm.and_then(|c| c.annotations().get(key)).map(String::as_str);
        let uid = pod.and_then(|p| p.metadata.uid.clone());
        let manual = manual_request(cr.annotations(), id);
        let pod_hash = pod.and_then(|p| p.annotations().get(labels::CONFIG_HASH));
        let running = Running {
            static_hash: pod.and_then(|p| p.annotations().get(STATIC_HASH).cloned()),
            dynamic: pod
                .and_then(|p| p.annotations().get(DYNAMIC_CONFIG))
                .and_then(|j| serde_json::from_str(j).ok()),
        };
        let terminating = pod.is_some_and(|p| p.metadata.deletion_timestamp.is_some());

        // A pod that runs the desired configuration records what that is, once.
        if let Some(p) = pod
            && !terminating
            && pod_hash == Some(&desired_hash)
            && (running.static_hash.as_deref() != Some(&static_hash)
                || running.dynamic.as_ref() != Some(&dyn_desired))
        {
            let patch = json!({"metadata": {"annotations": {
                STATIC_HASH: static_hash,
                DYNAMIC_CONFIG: dynamic_json(&dyn_desired),
            }}});
            pods.patch(&p.name_any(), &merge, &Patch::Merge(&patch)).await?;
        }

        let update = if pod.is_none() || terminating {
            Update::None
        } else if pod_hash != Some(&desired_hash) {
            let failed = pod.and_then(|p| p.annotations().get(LIVE_UPDATE_FAILED)) == Some(&desired_hash);
            match role {
                Role::Controller => Update::Restart("configuration changed".into()),
                Role::Broker if failed => Update::Restart("live update failed; restarting instead".into()),
                Role::Broker => match dynamic::classify(&running, &static_hash, &dyn_desired) {
                    ConfigChange::Restart(r) => Update::Restart(r),
                    ConfigChange::Live(set) => Update::Live(set),
                    ConfigChange::None => Update::Live(BTreeMap::new()),
                },
            }
        } else {
            Update::None
        };
        let update = match update {
            Update::None | Update::Live(_)
                if !terminating
                    && pod.is_some()
                    && manual_pending(manual.as_deref(), cm_annotation(RESTARTED_FOR), uid.as_deref()) =>
            {
                Update::Restart(format!(
                    "manual restart requested ({})",
                    manual.as_deref().unwrap_or_default()
                ))
            }
            u => u,
        };
        let age_seconds = pod
            .and_then(|p| p.metadata.creation_timestamp.as_ref())
            .map(|t| now.as_second() - t.0.as_second())
            .unwrap_or(0);
        views.push(NodeView {
            id,
            role,
            pod: name.clone(),
            state: pod_state(pod),
            age_seconds,
            update,
            rack: pod.and_then(|p| p.annotations().get(RACK_ANNOTATION).cloned()),
            canary_of: Some(change.clone())
                .filter(|c| cm_annotation(CANARY) == Some(c.as_str()) && pod_hash == Some(&desired_hash)),
        });
        targets.insert(
            id,
            Target {
                pod: name,
                role,
                desired_hash,
                static_hash,
                dynamic: dyn_desired,
                running_dynamic: running.dynamic,
                uid,
                manual,
            },
        );
    }

    let any_pending = views.iter().any(|v| v.update != Update::None);
    let skip = cr.annotations().get(SKIP_KAFKA_GATES).map(String::as_str) == Some("true");
    let listener = cluster.inter_broker();
    let bootstrap = format!("{}:{}", cluster.names.bootstrap_fqdn(), listener.port);
    let mut admin = None;
    // After the last restart of a roll nothing is pending, but the roll is only done once
    // Kafka has that node back in every ISR: keep asking Kafka while the previous pass had not
    // reported the rollout COMPLETE.
    let roll_unfinished = cr
        .status
        .as_ref()
        .and_then(|s| s.rollout.as_ref())
        .is_some_and(|r| r.state != StepState::Complete.as_str());
    let kafka = if !(any_pending || roll_unfinished) || skip {
        KafkaView::Skipped
    } else {
        match AdminClient::new(&bootstrap, admin_config()) {
            Err(e) => KafkaView::Unreachable(format!("bad bootstrap address {bootstrap}: {e}")),
            Ok(client) => {
                let state = kafka_state(&client).await;
                admin = Some(client);
                match state {
                    Ok(s) => KafkaView::Known(s),
                    Err(e) => KafkaView::Unreachable(format!("Kafka at {bootstrap}: {}", e.kind())),
                }
            }
        }
    };
    let decision = plan(&views, &kafka, &controls(cr));
    for note in &decision.notes {
        warn!(%note, "roll");
    }

    match &decision.action {
        Action::Restart { ids, canary } => {
            for id in ids {
                let Some(t) = targets.get(id) else { continue };
                let reason = views
                    .iter()
                    .find(|v| v.id == *id)
                    .map(|v| match &v.update {
                        Update::Restart(r) => r.clone(),
                        Update::Live(_) => "dynamic update without Kafka".into(),
                        Update::None => "restart".into(),
                    })
                    .unwrap_or_default();
                // Dynamic overrides a live update left on this broker must match the new file.
                if let (Some(client), KafkaView::Known(_), Role::Broker) = (&admin, &kafka, t.role) {
                    let ops = override_sync(t.running_dynamic.as_ref(), &t.dynamic);
                    if !ops.is_empty()
                        && let Err(e) = client
                            .incremental_alter_configs(&ConfigResource::Broker(*id), &ops)
                            .await
                    {
                        warn!(broker = id, error = %e, "could not align dynamic overrides before the restart");
                    }
                }
                let mut notes = serde_json::Map::new();
                if let (Some(request), Some(uid)) = (&t.manual, &t.uid) {
                    notes.insert(RESTARTED_FOR.into(), json!(format!("{request}@{uid}")));
                }
                if *canary {
                    notes.insert(CANARY.into(), json!(change));
                }
                if !notes.is_empty() {
                    let patch = json!({"metadata": {"annotations": notes}});
                    cms.patch(&t.pod, &merge, &Patch::Merge(&patch)).await?;
                }
                let params = DeleteParams {
                    preconditions: t.uid.clone().map(|uid| Preconditions {
                        uid: Some(uid),
                        resource_version: None,
                    }),
                    ..Default::default()
                };
                match pods.delete(&t.pod, &params).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                    Err(e) => return Err(e.into()),
                }
                info!(pod = %t.pod, %reason, "restarting node");
                ctx.metrics.roll_action("restart", t.role.as_str());
                ctx.roll_event(
                    cr,
                    EventType::Normal,
                    "Restarting",
                    &format!("restarting {} ({reason})", t.pod),
                    super::pod_ref(&ns, &t.pod, t.uid.clone()),
                )
                .await;
            }
        }
        Action::Reconfigure { id, set, canary } => {
            if let (Some(client), Some(t)) = (&admin, targets.get(id)) {
                let ops: Vec<AlterConfigOp> = set
                    .iter()
                    .map(|(k, v)| AlterConfigOp::Set(k.clone(), dynamic::unescape(v)))
                    .collect();
                let result = if ops.is_empty() {
                    Ok(())
                } else {
                    client
                        .incremental_alter_configs(&ConfigResource::Broker(*id), &ops)
                        .await
                };
                let keys: Vec<&str> = set.keys().map(String::as_str).collect();
                match result {
                    Ok(()) => {
                        let patch = json!({"metadata": {"annotations": {
                            labels::CONFIG_HASH: t.desired_hash,
                            STATIC_HASH: t.static_hash,
                            DYNAMIC_CONFIG: dynamic_json(&t.dynamic),
                        }}});
                        pods.patch(&t.pod, &merge, &Patch::Merge(&patch)).await?;
                        if *canary {
                            let patch = json!({"metadata": {"annotations": {CANARY: change}}});
                            cms.patch(&t.pod, &merge, &Patch::Merge(&patch)).await?;
                        }
                        info!(pod = %t.pod, ?keys, "applied dynamic configuration");
                        ctx.metrics.roll_action("reconfigure", t.role.as_str());
                        ctx.roll_event(
                            cr,
                            EventType::Normal,
                            "Reconfigured",
                            &format!("applied {} to broker {id} without a restart", keys.join(", ")),
                            super::pod_ref(&ns, &t.pod, t.uid.clone()),
                        )
                        .await;
                    }
                    Err(e) => {
                        ctx.metrics.roll_action("reconfigure_failed", t.role.as_str());
                        let patch =
                            json!({"metadata": {"annotations": {LIVE_UPDATE_FAILED: t.desired_hash}}});
                        pods.patch(&t.pod, &merge, &Patch::Merge(&patch)).await?;
                        ctx.roll_event(
                            cr,
                            EventType::Warning,
                            "ReconfigureFailed",
                            &format!("live update of broker {id} failed ({e}); it will be restarted instead"),
                            super::pod_ref(&ns, &t.pod, t.uid.clone()),
                        )
                        .await;
                    }
                }
            }
        }
        Action::Idle | Action::Wait | Action::Hold => {}
    }
    Ok(RollOutcome {
        decision: Some(decision),
    })
}

/// IncrementalAlterConfigs operations that make a broker's per-broker dynamic overrides match
/// the configuration it restarts with: set the desired dynamic keys that differ from what it
/// runs, delete the ones that are gone.
pub fn override_sync(
    running: Option<&BTreeMap<String, String>>,
    desired: &BTreeMap<String, String>,
) -> Vec<AlterConfigOp> {
    let Some(running) = running else {
        return Vec::new();
    };
    let mut ops: Vec<AlterConfigOp> = desired
        .iter()
        .filter(|(k, v)| running.get(*k) != Some(v))
        .map(|(k, v)| AlterConfigOp::Set(k.clone(), dynamic::unescape(v)))
        .collect();
    ops.extend(
        running
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .map(|k| AlterConfigOp::Delete(k.clone())),
    );
    ops
}

/// The plan as it appears in status.
pub fn plan_status(decision: &Decision) -> RolloutStatus {
    let phase = |role: Role, name: &str| {
        let steps: Vec<RolloutStep> = decision
            .steps
            .iter()
            .filter(|s| s.role == role)
            .map(|s| RolloutStep {
                id: s.id,
                pod: s.pod.clone(),
                state: s.state.as_str().into(),
                reason: s.reason.clone(),
            })
            .collect();
        let states: Vec<StepState> = decision
            .steps
            .iter()
            .filter(|s| s.role == role)
            .map(|s| s.state)
            .collect();
        RolloutPhase {
            name: name.into(),
            state: summary(&states).as_str().into(),
            steps,
        }
    };
    let all: Vec<StepState> = decision.steps.iter().map(|s| s.state).collect();
    RolloutStatus {
        state: summary(&all).as_str().into(),
        message: decision.message.clone(),
        awaiting_approval: decision.awaiting_approval.clone(),
        phases: vec![
            phase(Role::Controller, "controllers"),
            phase(Role::Broker, "brokers"),
        ],
    }
}

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
        out.push_str(&format!(
            "{} {} ({})\n",
            if last_phase { "└─" } else { "├─" },
            phase.name,
            phase.state
        ));
        for (j, step) in phase.steps.iter().enumerate() {
            let last_step = j + 1 == phase.steps.len();
            out.push_str(&format!(
                "{}  {} {} {} ({}){}\n",
                if last_phase { " " } else { "│" },
                if last_step { "└─" } else { "├─" },
                step.id,
                step.pod,
                step.state,
                if step.reason.is_empty() {
                    String::new()
                } else {
                    format!(" {}", step.reason)
                }
            ));
        }
    }
    out
}

fn summary(states: &[StepState]) -> StepState {
    if states.contains(&StepState::Error) {
        StepState::Error
    } else if states.contains(&StepState::InProgress) {
        StepState::InProgress
    } else if states.contains(&StepState::Waiting) {
        StepState::Waiting
    } else if states.contains(&StepState::Pending) {
        StepState::Pending
    } else {
        StepState::Complete
    }
}

/// Puts the roll's plan into the computed status: `status.rollout`, the Progressing condition
/// while a roll is under way, and Degraded (`RollTimeout`) when a restarted node did not recover
/// in time.
pub fn into_status(
    outcome: &RollOutcome,
    next: &mut KafkaClusterStatus,
    previous: Option<&KafkaClusterStatus>,
    now: Timestamp,
) {
    let Some(decision) = &outcome.decision else {
        return;
    };
    next.rollout = Some(plan_status(decision));
    let prev = previous.map(|p| p.conditions.as_slice()).unwrap_or_default();
    if decision.action != Action::Idle {
        set_condition(
            &mut next.conditions,
            prev,
            PROGRESSING,
            true,
            decision.reason,
            &decision.message,
            now,
        );
    }
    if let Some(msg) = &decision.timed_out {
        let already = next
            .conditions
            .iter()
            .any(|c| c.type_ == DEGRADED && c.status == "True");
        if !already {
            set_condition(
                &mut next.conditions,
                prev,
                DEGRADED,
                true,
                "RollTimeout",
                msg,
                now,
            );
        }
    }
}

fn set_condition(
    conditions: &mut [Condition],
    previous: &[Condition],
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let status = if value { "True" } else { "False" };
    let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) else {
        return;
    };
    if c.status != status {
        c.status = status.into();
        c.last_transition_time = previous
            .iter()
            .find(|p| p.type_ == type_ && p.status == status)
            .map(|p| p.last_transition_time.clone())
            .unwrap_or(Time(Timestamp::from_second(now.as_second()).unwrap_or(now)));
    }
    c.reason = reason.into();
    c.message = message.chars().take(1024).collect();
}

impl Context {
    async fn roll_event(
        &self,
        cr: &KafkaCluster,
        type_: EventType,
        reason: &str,
        note: &str,
        pod: ObjectReference,
    ) {
        let event = kube::runtime::events::Event {
            type_,
            reason: reason.into(),
            note: Some(note.chars().take(1000).collect()),
            action: "Roll".into(),
            secondary: Some(pod),
        };
        if let Err(e) = self.recorder.publish(&event, &cr.object_ref(&())).await {
            warn!(error = %e, reason, "could not publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_plan_lists_phases_and_steps() {
        let plan = RolloutStatus {
            state: "IN_PROGRESS".into(),
            message: "restarting c-broker-1".into(),
            awaiting_approval: None,
            phases: vec![
                RolloutPhase {
                    name: "controllers".into(),
                    state: "COMPLETE".into(),
                    steps: vec![RolloutStep {
                        id: 9000,
                        pod: "c-controller-9000".into(),
                        state: "COMPLETE".into(),
                        reason: String::new(),
                    }],
                },
                RolloutPhase {
                    name: "brokers".into(),
                    state: "IN_PROGRESS".into(),
                    steps: vec![RolloutStep {
                        id: 1,
                        pod: "c-broker-1".into(),
                        state: "IN_PROGRESS".into(),
                        reason: "restarting".into(),
                    }],
                },
            ],
        };
        let text = format_plan(&plan);
        assert_eq!(
            text,
            "rollout (IN_PROGRESS): restarting c-broker-1\n\
             ├─ controllers (COMPLETE)\n\
             │  └─ 9000 c-controller-9000 (COMPLETE)\n\
             └─ brokers (IN_PROGRESS)\n   \
             └─ 1 c-broker-1 (IN_PROGRESS) restarting\n"
        );
    }

    #[test]
    fn change_id_names_every_node_hash_and_manual_request() {
        let base = change_id([(0, "a", None), (1, "b", None)]);
        assert_eq!(base.len(), 12);
        assert_eq!(base, change_id([(1, "b", None), (0, "a", None)]), "order-free");
        assert_ne!(
            base,
            change_id([(0, "a", None), (1, "c", None)]),
            "a node's config"
        );
        assert_ne!(
            base,
            change_id([(0, "a", None), (1, "b", Some("t1/"))]),
            "a manual request"
        );
        assert_ne!(
            change_id([(0, "a", Some("t1/"))]),
            change_id([(0, "a", Some("t2/"))]),
            "another request"
        );
    }

    #[test]
    fn manual_request_whole_cluster_and_nodes() {
        let a = BTreeMap::from([(RESTART_ANNOTATION.to_string(), "t1".to_string())]);
        assert_eq!(manual_request(&a, 0).as_deref(), Some("t1/"));
        let a = BTreeMap::from([(RESTART_NODES_ANNOTATION.to_string(), "1, 2@x".to_string())]);
        assert_eq!(manual_request(&a, 0), None);
        assert_eq!(manual_request(&a, 2).as_deref(), Some("/1, 2@x"));
        assert_eq!(manual_request(&BTreeMap::new(), 2), None);
    }

    #[test]
    fn manual_restart_happens_once_per_request() {
        // never served: pending
        assert!(manual_pending(Some("t1/"), None, Some("u1")));
        // served by restarting pod u1, which is still there (deletion not done yet): pending
        assert!(manual_pending(Some("t1/"), Some("t1/@u1"), Some("u1")));
        // the new pod u2: done
        assert!(!manual_pending(Some("t1/"), Some("t1/@u1"), Some("u2")));
        // a new request: pending again
        assert!(manual_pending(Some("t2/"), Some("t1/@u1"), Some("u2")));
        assert!(!manual_pending(None, Some("t1/@u1"), Some("u2")));
    }

    #[test]
    fn override_sync_sets_changed_and_deletes_removed() {
        let running = BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        let desired = BTreeMap::from([("a".to_string(), "3".to_string())]);
        let ops = override_sync(Some(&running), &desired);
        assert_eq!(
            ops,
            vec![
                AlterConfigOp::Set("a".into(), "3".into()),
                AlterConfigOp::Delete("b".into())
            ]
        );
        assert!(override_sync(None, &desired).is_empty());
    }

    #[test]
    fn into_status_sets_progressing_and_degraded_on_timeout() {
        use crate::roll::{NodeView, PodState};
        let nodes = vec![
            NodeView {
                id: 0,
                role: Role::Broker,
                pod: "c-broker-0".into(),
                state: PodState::NotReady("starting".into()),
                age_seconds: 10_000,
                update: Update::None,
                rack: None,
                canary_of: None,
            },
            NodeView {
                id: 1,
                role: Role::Broker,
                pod: "c-broker-1".into(),
                state: PodState::Ready,
                age_seconds: 10_000,
                update: Update::Restart("x".into()),
                rack: None,
                canary_of: None,
            },
        ];
        let decision = plan(&nodes, &KafkaView::Skipped, &Controls::default());
        let cond = |t: &str, s: &str| Condition {
            type_: t.into(),
            status: s.into(),
            reason: "r".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
        };
        let mut next = KafkaClusterStatus {
            conditions: vec![cond(PROGRESSING, "False"), cond(DEGRADED, "False")],
            ..Default::default()
        };
        into_status(
            &RollOutcome {
                decision: Some(decision),
            },
            &mut next,
            None,
            Timestamp::UNIX_EPOCH,
        );
        let rollout = next.rollout.expect("plan");
        assert_eq!(rollout.state, "ERROR");
        assert_eq!(rollout.phases[1].steps[0].state, "ERROR");
        assert_eq!(rollout.phases[1].steps[1].state, "PENDING");
        let degraded = next
            .conditions
            .iter()
            .find(|c| c.type_ == DEGRADED)
            .expect("degraded");
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", "RollTimeout")
        );
        let progressing = next
            .conditions
            .iter()
            .find(|c| c.type_ == PROGRESSING)
            .expect("progressing");
        assert_eq!(progressing.status, "True");
    }
}
