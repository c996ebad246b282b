//! The KRaft controller quorum, decided from observed state only.
//!
//! New clusters run Kafka's dynamic quorum (KIP-853, `kraft.version` 1): nodes find the quorum
//! through `controller.quorum.bootstrap.servers`, the initial controllers are formatted with
//! `--initial-controllers` (each with a directory id derived from the cluster id and its node id),
//! and later controllers start as observers (`--no-initial-controllers`) and are added as voters
//! once caught up. Clusters created with a static `controller.quorum.voters` list are upgraded
//! to the dynamic quorum where Kafka supports it ([`kraft`]).
//!
//! [`plan`] picks the next voter change: one at a time, never one that leaves the voters without
//! a live majority, a new controller only once it has caught up, and a surplus controller's pod
//! only goes once it is no longer a voter ([`retained`]).

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::admin::QuorumInfo;
use crate::annotations;

/// How the controllers find each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuorumMode {
    /// `controller.quorum.voters`, fixed when the cluster was formatted (`kraft.version` 0).
    Static,
    /// `controller.quorum.bootstrap.servers`; voters change with AddRaftVoter/RemoveRaftVoter.
    Dynamic,
}

impl QuorumMode {
    pub fn as_str(self) -> &'static str {
        match self {
            QuorumMode::Static => "Static",
            QuorumMode::Dynamic => "Dynamic",
        }
    }

    /// The mode of a cluster from the metadata of its existing controller pods and claims: a
    /// cluster with none is new (dynamic); one whose controller objects all carry the
    /// [`annotations::QUORUM`] mark was created dynamic; anything else was formatted with a
    /// static voter list before this operator knew the dynamic quorum.
    pub fn of<'a>(controller_objects: impl IntoIterator<Item = &'a ObjectMeta>) -> QuorumMode {
        let all_dynamic = controller_objects.into_iter().all(|m| {
            m.annotations
                .as_ref()
                .and_then(|a| a.get(annotations::QUORUM))
                .map(String::as_str)
                == Some(QuorumMode::Dynamic.as_str())
        });
        if all_dynamic {
            QuorumMode::Dynamic
        } else {
            QuorumMode::Static
        }
    }
}

/// The directory id an initial controller is formatted with: derived from the cluster id and
/// the node id, so every pass (and every restarted operator) renders the same one. Kafka's
/// form: 16 bytes, URL-safe base64 without padding, never starting with '-'.
pub fn initial_directory_id(cluster_id: &str, node_id: i32) -> String {
    let mut h = Sha256::new();
    h.update(b"kraftwerk-initial-controller/");
    h.update(cluster_id.as_bytes());
    h.update(b"/");
    h.update(node_id.to_string().as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&h.finalize()[..16]);
    // The first character encodes the top six bits; with the top bit clear it is A-Z or a-f.
    bytes[0] &= 0x7f;
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of `kafka-storage format --initial-controllers`: `id@host:port:directory-id,...`.
pub fn initial_controllers(cluster_id: &str, controllers: &[(i32, String)], port: i32) -> String {
    controllers
        .iter()
        .map(|(id, host)| format!("{id}@{host}:{port}:{}", initial_directory_id(cluster_id, *id)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The controller ids of `replicas` controllers (an out-of-range count yields at most 5).
pub fn desired_ids(replicas: i32) -> BTreeSet<i32> {
    (0..replicas.clamp(0, 5))
        .map(|i| crate::names::node_id(crate::names::Role::Controller, i))
        .collect()
}

/// A member of the metadata log's quorum as the leader reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replica {
    pub id: i32,
    pub directory_id: String,
    /// Within [`MAX_CATCH_UP_LAG`] records of the leader's log end.
    pub caught_up: bool,
    /// When it last fetched from the leader (the leader's clock, ms); None when unknown.
    pub last_fetch: Option<i64>,
}

/// A replica is caught up within this many records of the leader's log end. The leader
/// appends a record about every 500 ms even when idle, so a stopped replica falls behind this
/// within a minute, and a fetching one stays a few records behind at most.
pub const MAX_CATCH_UP_LAG: i64 = 100;

/// The quorum as DescribeQuorum reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumView {
    /// None while there is no leader.
    pub leader: Option<i32>,
    pub voters: Vec<Replica>,
    /// Observers: brokers and controllers that are not voters.
    pub observers: Vec<Replica>,
}

impl From<&QuorumInfo> for QuorumView {
    /// Replicas without a directory id (a leader before KIP-853) get an empty one.
    fn from(info: &QuorumInfo) -> Self {
        let replica = |r: &crate::admin::QuorumReplica| Replica {
            id: r.id,
            directory_id: r.directory_id.clone().unwrap_or_default(),
            caught_up: r.lag.is_some_and(|l| l <= MAX_CATCH_UP_LAG),
            last_fetch: r.last_fetch_timestamp,
        };
        QuorumView {
            leader: (info.leader_id >= 0).then_some(info.leader_id),
            voters: info.voters.iter().map(replica).collect(),
            observers: info.observers.iter().map(replica).collect(),
        }
    }
}

/// One voter change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VoterChange {
    /// AddRaftVoter: a caught-up observer becomes a voter.
    Add { id: i32, directory_id: String },
    /// RemoveRaftVoter: a voter leaves the quorum (scale-down, or a lost volume's old identity).
    Remove { id: i32, directory_id: String },
}

/// The next step towards the desired voters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuorumStep {
    /// The voters are exactly the desired controllers.
    Settled,
    /// Make this change now.
    Change(VoterChange),
    /// Nothing may change yet; the reason says why.
    Wait(String),
}

impl QuorumView {
    fn live_voters(&self, without: Option<i32>) -> usize {
        self.voters
            .iter()
            .filter(|v| Some(v.id) != without && (v.caught_up || Some(v.id) == self.leader))
            .count()
    }

    /// The caught-up observer of node `id`, if any. A node whose volume was replaced may be
    /// listed twice (its old identity, just removed from the voters, still counts as caught up
    /// for a while): the one that fetched last is the live one.
    fn caught_up_observer(&self, id: i32) -> Option<&Replica> {
        self.observers
            .iter()
            .filter(|o| o.id == id && o.caught_up)
            .max_by_key(|o| o.last_fetch)
    }

    /// The observer that replaced voter `v`: the same node under another directory id (its
    /// volume was replaced), fetching since the old identity stopped. A node runs one process,
    /// so the identity that fetched last is the live one; the old identity may still count as
    /// caught up for a while (its lag grows by about two records a second). Without fetch
    /// times (a leader that does not report them), only an old identity that fell behind counts.
    fn replacement_of(&self, v: &Replica) -> Option<&Replica> {
        self.observers.iter().find(|o| {
            let newer = match (o.last_fetch, v.last_fetch) {
                (Some(o), Some(v)) => o > v,
                (Some(_), None) => true,
                (None, _) => false,
            };
            o.id == v.id && o.directory_id != v.directory_id && (newer || (o.caught_up && !v.caught_up))
        })
    }

    /// Whether some voter's node came back with a new volume and its old identity is still a
    /// voter: a swap is under way (remove the old identity, add the new one).
    pub fn replacing(&self) -> bool {
        self.voters
            .iter()
            .any(|v| Some(v.id) != self.leader && self.replacement_of(v).is_some())
    }

    pub fn voter_ids(&self) -> BTreeSet<i32> {
        self.voters.iter().map(|v| v.id).collect()
    }
}

fn majority(voters: usize) -> usize {
    voters / 2 + 1
}

/// The next voter change towards `desired` (controller node ids), in this order:
/// 1. a voter whose node came back with a new directory id (its volume was lost) is removed
///    once the new identity has caught up (until then the plan waits), so the node can rejoin
///    under its new id: the new identity fetched after the old one last did
///    ([`QuorumView::replacing`]), even while the old one still counts as caught up;
/// 2. a desired controller that is not a voter is added once it is a caught-up observer;
/// 3. a voter that is not desired is removed, highest id first.
///
/// A change is only made if the voters keep a live majority afterwards.
pub fn plan(desired: &BTreeSet<i32>, view: &QuorumView) -> QuorumStep {
    let Some(_) = view.leader else {
        return QuorumStep::Wait("the controller quorum has no leader".into());
    };
    let voters = view.voter_ids();
    // 1. Replaced volumes: the old identity leaves first, once the new one has caught up.
    for v in view.voters.iter().filter(|v| Some(v.id) != view.leader) {
        let Some(new) = view.replacement_of(v) else {
            continue;
        };
        if !new.caught_up {
            return QuorumStep::Wait(format!(
                "controller {} is back with a new volume (directory {}); it catches up before its old identity {} leaves the voters",
                v.id, new.directory_id, v.directory_id
            ));
        }
        return remove_keeping_majority(view, v, "its volume was replaced");
    }
    // 2. Missing voters are added, lowest id first.
    if let Some(&id) = desired.iter().find(|id| !voters.contains(id)) {
        let Some(observer) = view.caught_up_observer(id) else {
            return QuorumStep::Wait(format!(
                "controller {id} is not a caught-up observer of the metadata log yet"
            ));
        };
        let live_after = view.live_voters(None) + 1;
        if live_after < majority(view.voters.len() + 1) {
            return QuorumStep::Wait(format!(
                "adding controller {id} would leave {live_after} of {} voters live",
                view.voters.len() + 1
            ));
        }
        return QuorumStep::Change(VoterChange::Add {
            id,
            directory_id: observer.directory_id.clone(),
        });
    }
    // 3. Surplus voters are removed, highest id first.
    if let Some(v) = view
        .voters
        .iter()
        .filter(|v| !desired.contains(&v.id))
        .max_by_key(|v| v.id)
    {
        return remove_keeping_majority(view, v, "it is above spec.controllers.replicas");
    }
    QuorumStep::Settled
}

fn remove_keeping_majority(view: &QuorumView, voter: &Replica, why: &str) -> QuorumStep {
    let remaining = view.voters.len() - 1;
    let live = view.live_voters(Some(voter.id));
    if remaining == 0 || live < majority(remaining) {
        return QuorumStep::Wait(format!(
            "controller {} ({why}) cannot leave the quorum yet: {live} of the remaining {remaining} voters are live",
            voter.id
        ));
    }
    QuorumStep::Change(VoterChange::Remove {
        id: voter.id,
        directory_id: voter.directory_id.clone(),
    })
}

/// How soon to read the quorum again (seconds): right after a change, its next step (the add
/// that follows a replaced volume's removal, the next controller of a scale) is due as soon as
/// Kafka commits it; while a replaced controller catches up, shortly. Kafka's progress raises
/// no Kubernetes event.
pub fn requeue_seconds(step: &QuorumStep, view: &QuorumView) -> Option<u64> {
    match step {
        QuorumStep::Change(_) => Some(2),
        _ if view.replacing() => Some(5),
        _ => None,
    }
}

/// Whether the quorum counts as settled when it cannot be read: the controllers running and
/// the voters last read (else the initial voters) are the desired ones.
pub fn settled_unread(
    desired: &BTreeSet<i32>,
    running: &BTreeSet<i32>,
    last_voters: &BTreeSet<i32>,
    initial_voters: &BTreeSet<i32>,
) -> bool {
    let known = if last_voters.is_empty() {
        initial_voters
    } else {
        last_voters
    };
    running == desired && known == desired
}

/// Controller ids above the desired ones whose pods must stay: those still voters, or all of
/// them when the quorum could not be read (`view` None).
pub fn retained(
    existing: &BTreeSet<i32>,
    desired: &BTreeSet<i32>,
    view: Option<&QuorumView>,
) -> BTreeSet<i32> {
    let surplus = existing.difference(desired).copied();
    match view {
        None => surplus.collect(),
        Some(v) => {
            let voters = v.voter_ids();
            surplus.filter(|id| voters.contains(id)).collect()
        }
    }
}

pub mod kraft;

#[cfg(test)]
mod tests;
