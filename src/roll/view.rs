//! From observed objects to the planner's input, pure: what each node runs, what it should run,
//! and how it gets there ([`Update`]). The executor (`controller/roll.rs`) does the I/O around it.
//!
//! Everything the roll remembers lives in the cluster:
//! - a pod whose `kraftwerk.dev/config-hash` differs from the desired one runs an old
//!   configuration; "restart" is deleting it (the pipeline recreates it with the new hash);
//! - each pod records what it runs (`kraftwerk.dev/static-hash`, `kraftwerk.dev/dynamic-config`)
//!   so that a change of dynamic keys only can be applied live;
//! - manual restarts, replaces and the canary are recorded on the node's ConfigMap
//!   (`kraftwerk.dev/restarted-for: <request>@<uid of the pod restarted for it>`, the same for
//!   `kraftwerk.dev/replaced-for`, `kraftwerk.dev/canary: <change id>`), which outlives the pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::dynamic::{self, ConfigChange, Running};
use super::plan::DEFAULT_RESTART_TIMEOUT_SECONDS;
use super::{Controls, NodeView, PodState, Update};
use crate::admin::AlterConfigOp;
use crate::annotations;
use crate::crd::KafkaClusterSpec;
use crate::desired::NodeConfig;
use crate::names::Role;
use crate::status;

/// The rollout controls of a cluster's spec and annotations.
pub fn controls(spec: &KafkaClusterSpec, cr_annotations: &BTreeMap<String, String>) -> Controls {
    let r = spec.rollout.clone().unwrap_or_default();
    Controls {
        paused: r.paused,
        canary: r.canary,
        max_batch_per_rack: r.max_batch_per_rack.unwrap_or(1).max(1) as usize,
        restart_timeout_seconds: r
            .restart_timeout_seconds
            .map(i64::from)
            .unwrap_or(DEFAULT_RESTART_TIMEOUT_SECONDS),
        canary_approved: cr_annotations.get(annotations::CANARY_APPROVED).cloned(),
    }
}

/// The manual restart request that applies to node `id`, if any.
pub fn manual_request(cr_annotations: &BTreeMap<String, String>, id: i32) -> Option<String> {
    let whole = cr_annotations.get(annotations::RESTART).filter(|v| !v.is_empty());
    let nodes = cr_annotations.get(annotations::RESTART_NODES).filter(|v| {
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

/// The change a rollout rolls out, as one short id: a digest of every node's desired
/// configuration hash and the manual restart request that applies to it. A canary records it on
/// its ConfigMap and the user approves it (`kraftwerk.dev/canary-approved`); any new edit or
/// request is a new change, with its own canary and its own approval.
pub fn change_id<'a>(nodes: impl IntoIterator<Item = (i32, &'a str, Option<&'a str>)>) -> String {
    let mut lines: Vec<String> = nodes
        .into_iter()
        .map(|(id, hash, manual)| format!("{id} {hash} {}\n", manual.unwrap_or_default()))
        .collect();
    lines.sort();
    let digest = Sha256::digest(lines.concat().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
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

/// The pod's state as the planner sees it.
pub fn pod_state(pod: Option<&Pod>) -> PodState {
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
    if status::is_stuck_message(&why) {
        PodState::Stuck(why)
    } else {
        PodState::NotReady(why)
    }
}

/// Per node: what the executor needs to act on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub pod: String,
    pub role: Role,
    pub desired_hash: String,
    pub static_hash: String,
    pub dynamic: BTreeMap<String, String>,
    /// The dynamic keys the pod records it runs with.
    pub running_dynamic: Option<BTreeMap<String, String>>,
    pub uid: Option<String>,
    /// The manual restart request that applies to this node.
    pub manual: Option<String>,
    /// The replace request this restart serves ([`crate::recovery::replace`]): the node's
    /// volume goes with its pod.
    pub replace: Option<String>,
    /// Why a restart (for the Event), when the update is one.
    pub restart_reason: String,
}

/// A pod that runs the desired configuration but has not recorded what that is yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub pod: String,
    pub static_hash: String,
    pub dynamic: BTreeMap<String, String>,
}

/// The planner's input and what the executor needs around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Views {
    pub nodes: Vec<NodeView>,
    pub targets: BTreeMap<i32, Target>,
    pub records: Vec<Record>,
    /// The change being rolled out ([`change_id`]).
    pub change: String,
}

/// Views of every desired node, from its observed pod and ConfigMap, with the replace request
/// that applies to each node (`replaces`, by id). `now` is in seconds.
pub fn views(
    desired: &[NodeConfig],
    pods: &[Pod],
    config_maps: &[ConfigMap],
    (cr_annotations, replaces): (&BTreeMap<String, String>, &BTreeMap<i32, String>),
    now: i64,
) -> Views {
    let manual: BTreeMap<i32, Option<String>> = desired
        .iter()
        .map(|n| (n.id, manual_request(cr_annotations, n.id)))
        .collect();
    let change = change_id(desired.iter().map(|n| {
        let request = manual.get(&n.id).and_then(Option::as_deref);
        (n.id, n.config_hash.as_str(), request)
    }));
    let mut out = Views {
        nodes: Vec::new(),
        targets: BTreeMap::new(),
        records: Vec::new(),
        change,
    };
    for want in desired {
        let pod = pods.iter().find(|p| p.name_any() == want.pod);
        let record = config_maps
            .iter()
            .find(|c| c.name_any() == want.pod)
            .map(|c| c.annotations());
        let requests = Requests {
            manual: manual.get(&want.id).cloned().flatten(),
            replace: replaces.get(&want.id).cloned(),
        };
        let (view, target, running_record) = node_view(want, pod, record, requests, &out.change, now);
        out.nodes.push(view);
        out.targets.insert(want.id, target);
        out.records.extend(running_record);
    }
    out
}

/// The user's requests that apply to one node.
struct Requests {
    manual: Option<String>,
    replace: Option<String>,
}

/// One node's view, its target, and the record its pod still lacks.
fn node_view(
    want: &NodeConfig,
    pod: Option<&Pod>,
    record: Option<&BTreeMap<String, String>>,
    Requests { manual, replace }: Requests,
    change: &str,
    now: i64,
) -> (NodeView, Target, Option<Record>) {
    let recorded = |key: &str| record.and_then(|r| r.get(key)).map(String::as_str);
    let pod_annotation = |key: &str| pod.and_then(|p| p.annotations().get(key)).map(String::as_str);
    let uid = pod.and_then(|p| p.metadata.uid.clone());
    let terminating = pod.is_some_and(|p| p.metadata.deletion_timestamp.is_some());
    let up_to_date = pod_annotation(annotations::CONFIG_HASH) == Some(want.config_hash.as_str());
    let running = Running {
        static_hash: pod_annotation(annotations::STATIC_HASH).map(str::to_string),
        dynamic: pod_annotation(annotations::DYNAMIC_CONFIG).and_then(|j| serde_json::from_str(j).ok()),
    };
    // A pod that runs the desired configuration records what that is, once.
    let needs_record = pod.is_some()
        && !terminating
        && up_to_date
        && (running.static_hash.as_deref() != Some(want.static_hash.as_str())
            || running.dynamic.as_ref() != Some(&want.dynamic));
    let update = if pod.is_none() || terminating {
        Update::None
    } else if !up_to_date {
        config_update(want, &running, pod_annotation(annotations::LIVE_UPDATE_FAILED))
    } else {
        Update::None
    };
    let update = match update {
        Update::None | Update::Live(_)
            if !terminating
                && pod.is_some()
                && manual_pending(
                    manual.as_deref(),
                    recorded(annotations::RESTARTED_FOR),
                    uid.as_deref(),
                ) =>
        {
            Update::Restart(format!(
                "manual restart requested ({})",
                manual.as_deref().unwrap_or_default()
            ))
        }
        u => u,
    };
    // A pending replace is a restart that also discards the volume.
    let replace = replace.filter(|r| {
        pod.is_some()
            && !terminating
            && crate::recovery::replace::pending(Some(r), recorded(annotations::REPLACED_FOR), uid.as_deref())
    });
    let update = match &replace {
        Some(r) => Update::Restart(format!("replace requested ({r})")),
        None => update,
    };
    let age_seconds = pod
        .and_then(|p| p.metadata.creation_timestamp.as_ref())
        .map(|t| now - t.0.as_second())
        .unwrap_or(0);
    let restart_reason = match &update {
        Update::Restart(r) => r.clone(),
        Update::Live(_) => "dynamic update without Kafka".into(),
        Update::None => "restart".into(),
    };
    let view = NodeView {
        id: want.id,
        role: want.role,
        pod: want.pod.clone(),
        state: pod_state(pod),
        age_seconds,
        update,
        rack: pod_annotation(annotations::RACK).map(str::to_string),
        canary_of: (recorded(annotations::CANARY) == Some(change) && up_to_date).then(|| change.to_string()),
    };
    let target = Target {
        pod: want.pod.clone(),
        role: want.role,
        desired_hash: want.config_hash.clone(),
        static_hash: want.static_hash.clone(),
        dynamic: want.dynamic.clone(),
        running_dynamic: running.dynamic,
        uid,
        manual,
        replace,
        restart_reason,
    };
    let record = needs_record.then(|| Record {
        pod: want.pod.clone(),
        static_hash: want.static_hash.clone(),
        dynamic: want.dynamic.clone(),
    });
    (view, target, record)
}

/// How a node whose config hash differs gets to the desired configuration.
fn config_update(want: &NodeConfig, running: &Running, live_update_failed: Option<&str>) -> Update {
    match want.role {
        Role::Controller => Update::Restart("configuration changed".into()),
        Role::Broker if live_update_failed == Some(want.config_hash.as_str()) => {
            Update::Restart("live update failed; restarting instead".into())
        }
        Role::Broker => match dynamic::classify(running, &want.static_hash, &want.dynamic) {
            ConfigChange::Restart(r) => Update::Restart(r),
            ConfigChange::Live(set) => Update::Live(set),
            ConfigChange::None => Update::Live(BTreeMap::new()),
        },
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn node(role: Role, id: i32, hash: &str) -> NodeConfig {
        NodeConfig {
            role,
            id,
            pod: format!("c-{role}-{id}"),
            properties: Vec::new(),
            text: String::new(),
            config_hash: hash.into(),
            static_hash: format!("s-{hash}"),
            dynamic: BTreeMap::new(),
        }
    }

    fn pod(name: &str, uid: &str, annotations: &[(&str, &str)]) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(uid.into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        }
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
        let a = BTreeMap::from([(annotations::RESTART.to_string(), "t1".to_string())]);
        assert_eq!(manual_request(&a, 0).as_deref(), Some("t1/"));
        let a = BTreeMap::from([(annotations::RESTART_NODES.to_string(), "1, 2@x".to_string())]);
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
    fn views_decide_restart_record_and_nothing() {
        let desired = vec![
            node(Role::Controller, 9000, "h1"),
            node(Role::Broker, 0, "h1"),
            node(Role::Broker, 1, "h1"),
        ];
        let pods = vec![
            // runs an older configuration: restart
            pod("c-controller-9000", "u0", &[(annotations::CONFIG_HASH, "h0")]),
            // runs the desired one but has not recorded it: record, no update
            pod("c-broker-0", "u1", &[(annotations::CONFIG_HASH, "h1")]),
            // c-broker-1 missing: nothing to do until the pipeline recreates it
        ];
        let v = views(&desired, &pods, &[], (&BTreeMap::new(), &BTreeMap::new()), 0);
        let updates: Vec<(i32, &Update)> = v.nodes.iter().map(|n| (n.id, &n.update)).collect();
        assert_eq!(
            updates,
            vec![
                (9000, &Update::Restart("configuration changed".into())),
                (0, &Update::None),
                (1, &Update::None),
            ]
        );
        assert_eq!(v.nodes[2].state, PodState::Missing);
        assert_eq!(
            v.records,
            vec![Record {
                pod: "c-broker-0".into(),
                static_hash: "s-h1".into(),
                dynamic: BTreeMap::new(),
            }]
        );
        assert_eq!(v.targets[&9000].uid.as_deref(), Some("u0"));
        assert_eq!(v.targets[&9000].restart_reason, "configuration changed");
    }

    #[test]
    fn a_served_manual_request_is_not_repeated() {
        let desired = vec![node(Role::Broker, 0, "h1")];
        let cr = BTreeMap::from([(annotations::RESTART.to_string(), "t1".to_string())]);
        let running = [
            (annotations::CONFIG_HASH, "h1"),
            (annotations::STATIC_HASH, "s-h1"),
            (annotations::DYNAMIC_CONFIG, "{}"),
        ];
        let pods = vec![pod("c-broker-0", "u2", &running)];
        let v = views(&desired, &pods, &[], (&cr, &BTreeMap::new()), 0);
        assert!(matches!(v.nodes[0].update, Update::Restart(_)), "never served");
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("c-broker-0".into());
        cm.metadata.annotations = Some(BTreeMap::from([(
            annotations::RESTARTED_FOR.to_string(),
            "t1/@u1".to_string(),
        )]));
        let v = views(&desired, &pods, &[cm], (&cr, &BTreeMap::new()), 0);
        assert_eq!(v.nodes[0].update, Update::None, "served by restarting u1");
        assert!(v.records.is_empty());
    }

    #[test]
    fn a_replace_is_a_restart_that_names_its_request_and_is_served_once() {
        let desired = vec![node(Role::Broker, 0, "h1"), node(Role::Broker, 1, "h1")];
        let running = [
            (annotations::CONFIG_HASH, "h1"),
            (annotations::STATIC_HASH, "s-h1"),
            (annotations::DYNAMIC_CONFIG, "{}"),
        ];
        let pods = vec![
            pod("c-broker-0", "u1", &running),
            pod("c-broker-1", "u9", &running),
        ];
        let replaces = BTreeMap::from([(0, "0@t1".to_string())]);
        let v = views(&desired, &pods, &[], (&BTreeMap::new(), &replaces), 0);
        assert_eq!(
            v.nodes[0].update,
            Update::Restart("replace requested (0@t1)".into())
        );
        assert_eq!(v.targets[&0].replace.as_deref(), Some("0@t1"));
        assert_eq!(v.nodes[1].update, Update::None, "not named");
        assert_eq!(v.targets[&1].replace, None);
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("c-broker-0".into());
        cm.metadata.annotations = Some(BTreeMap::from([(
            annotations::REPLACED_FOR.to_string(),
            "0@t1@u0".to_string(),
        )]));
        let v = views(&desired, &pods, &[cm], (&BTreeMap::new(), &replaces), 0);
        assert_eq!(v.nodes[0].update, Update::None, "served by replacing u0");
        assert_eq!(v.targets[&0].replace, None);
    }
}
