//! The controller quorum's executor: reads the quorum from Kafka, and makes the one voter change
//! [`crate::quorum::plan`] decides. Kafka's voter set is the only record of progress, so an
//! operator killed mid-change reads it again and never makes a change twice.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::Context;
use super::events::EventReason;
use super::kafka::Access;
use crate::admin::{AdminClient, AdminError, VoterEndpoint};
use crate::crd::{ControllerQuorumStatus, KafkaCluster, KafkaClusterStatus, QuorumVoterStatus};
use crate::desired::properties::CONTROLLER_LISTENER;
use crate::names::Role;
use crate::quorum::kraft::{self, KraftStep, StaticRead};
use crate::quorum::{self, QuorumMode, QuorumStep, QuorumView, VoterChange};
use crate::validate::ValidatedCluster;
use crate::{annotations, labels};

/// The quorum as read at the start of a pass.
#[derive(Clone, Debug)]
pub enum Read {
    /// A static quorum (not upgraded): what Kafka reports of it.
    Static(StaticRead),
    Known(QuorumView),
    Unreachable(String),
}

impl Read {
    pub fn view(&self) -> Option<&QuorumView> {
        match self {
            Read::Known(v) => Some(v),
            _ => None,
        }
    }
}

/// DescribeQuorum through the bootstrap Service (a broker forwards it to the leader). A cluster
/// whose controller objects were formatted static (`mode`) also has its finalized
/// `kraft.version` read; if Kafka runs that quorum dynamically already
/// ([`kraft::upgraded`]), the cluster is dynamic from now on. Returns the mode to render.
pub async fn read(mode: QuorumMode, access: &Access) -> (QuorumMode, Read) {
    let bootstrap = &access.bootstrap;
    match access.client() {
        Ok(client) => read_from(mode, &client, bootstrap).await,
        Err(e) => {
            let why = format!("bad bootstrap address {bootstrap}: {e}");
            (mode, unread(mode, why))
        }
    }
}

/// [`read`] through `client` (reaching Kafka at `bootstrap`).
pub async fn read_from(mode: QuorumMode, client: &AdminClient, bootstrap: &str) -> (QuorumMode, Read) {
    let view = match client.describe_quorum().await {
        Ok(info) => QuorumView::from(&info),
        Err(e) => {
            let why = format!("Kafka at {bootstrap} did not describe the quorum: {e}");
            return (mode, unread(mode, why));
        }
    };
    if mode == QuorumMode::Dynamic {
        return (mode, Read::Known(view));
    }
    let kraft_version = match client.finalized_features().await {
        Ok(f) => f.level(kraft::KRAFT_VERSION_FEATURE).or(Some(0)),
        Err(e) => {
            warn!(error = %e, "the finalized features could not be read");
            None
        }
    };
    if kraft::upgraded(&view, kraft_version) {
        return (QuorumMode::Dynamic, Read::Known(view));
    }
    let read = StaticRead {
        view: Ok(view),
        kraft_version,
    };
    (mode, Read::Static(read))
}

fn unread(mode: QuorumMode, why: String) -> Read {
    match mode {
        QuorumMode::Dynamic => Read::Unreachable(why),
        QuorumMode::Static => Read::Static(StaticRead {
            view: Err(why),
            kraft_version: None,
        }),
    }
}

/// Whether an earlier pass recorded the quorum as dynamic (`status.controllerQuorum.mode`): a
/// static cluster upgraded by the operator stays dynamic while its pods are rolled and Kafka
/// cannot be read.
pub fn recorded_dynamic(status: Option<&KafkaClusterStatus>) -> bool {
    status
        .and_then(|s| s.controller_quorum.as_ref())
        .is_some_and(|q| q.mode == QuorumMode::Dynamic.as_str())
}

/// The next step of a static quorum (None for a dynamic one): the pure [`kraft::plan`] over the
/// read, the Kafka releases of the spec and of the running pods, and the opt-out annotation.
pub fn kraft_step(cr: &KafkaCluster, pods: &[Pod], read: &Read) -> Option<KraftStep> {
    let Read::Static(read) = read else {
        return None;
    };
    let running: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.labels().get(labels::VERSION).map(String::as_str))
        .collect();
    let keep_static = cr
        .annotations()
        .get(annotations::KEEP_STATIC_QUORUM)
        .is_some_and(|v| v == "true");
    Some(kraft::plan(&kraft::Inputs {
        read,
        version: &cr.spec.version,
        running: &running,
        keep_static,
    }))
}

/// Whether the dynamic quorum has formed: recorded in status, or seen now.
pub fn formed(status: Option<&KafkaClusterStatus>, read: &Read) -> bool {
    let recorded = status
        .and_then(|s| s.controller_quorum.as_ref())
        .is_some_and(|q| !q.voters.is_empty());
    recorded || read.view().is_some_and(|v| !v.voters.is_empty())
}

/// The controller ids the spec asks for.
pub fn desired_ids(cr: &KafkaCluster) -> BTreeSet<i32> {
    quorum::desired_ids(cr.spec.controllers.replicas)
}

/// The initial voters recorded in status.
pub fn initial_voters(status: Option<&KafkaClusterStatus>) -> BTreeSet<i32> {
    status
        .and_then(|s| s.controller_quorum.as_ref())
        .map(|q| q.initial_voters.iter().copied().collect())
        .unwrap_or_default()
}

/// What the quorum pass did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: ControllerQuorumStatus,
    /// The message for the Progressing condition (None when the voters match the spec, or a
    /// static quorum stays static).
    pub changing: Option<String>,
    /// How soon to look again ([`quorum::requeue_seconds`]).
    pub requeue: Option<Duration>,
}

/// Makes the next voter change (or, on a static quorum, the `kraft.version` upgrade), if any.
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    (read, initial_voters, step): (&Read, &BTreeSet<i32>, Option<&KraftStep>),
    access: &Access,
) -> Outcome {
    let previous = cr.status.as_ref().and_then(|s| s.controller_quorum.clone());
    let was_static = previous
        .as_ref()
        .is_some_and(|p| p.mode == QuorumMode::Static.as_str());
    let mut status = ControllerQuorumStatus {
        mode: cluster.quorum.mode.as_str().into(),
        initial_voters: initial_voters.iter().copied().collect(),
        voters: previous.map(|p| p.voters).unwrap_or_default(),
        message: None,
    };
    if was_static && cluster.quorum.mode == QuorumMode::Dynamic {
        let note = "the controller quorum runs dynamically (kraft.version 1); the nodes are rolled to \
                    controller.quorum.bootstrap.servers";
        info!(note);
        ctx.event(cr, EventType::Normal, EventReason::QuorumUpgraded, note)
            .await;
    }
    let desired = desired_ids(cr);
    let mut requeue = None;
    let message = match read {
        Read::Static(_) => {
            let (note, progress) = static_step(ctx, cr, step, access).await;
            status.message = note;
            return Outcome {
                status,
                changing: progress,
                requeue: None,
            };
        }
        Read::Unreachable(why) => {
            let running: BTreeSet<i32> = cluster.controllers.ids.iter().copied().collect();
            let known: BTreeSet<i32> = status.voters.iter().map(|v| v.id).collect();
            let settled = quorum::settled_unread(&desired, &running, &known, initial_voters);
            (!settled).then(|| format!("controller quorum change waits: {why}"))
        }
        Read::Known(view) => {
            status.voters = voters(view);
            let step = quorum::plan(&desired, view);
            requeue = quorum::requeue_seconds(&step, view).map(Duration::from_secs);
            match step {
                QuorumStep::Settled => None,
                QuorumStep::Wait(why) => Some(format!("controller quorum change waits: {why}")),
                QuorumStep::Change(change) => Some(execute(ctx, cr, cluster, &change, access).await),
            }
        }
    };
    status.message = message.clone();
    Outcome {
        status,
        changing: message,
        requeue,
    }
}

/// A static quorum's step: raises `kraft.version` when [`kraft::plan`] says so. Returns the
/// status message and the Progressing message (None while the quorum stays static).
async fn static_step(
    ctx: &Context,
    cr: &KafkaCluster,
    step: Option<&KraftStep>,
    access: &Access,
) -> (Option<String>, Option<String>) {
    match step {
        None | Some(KraftStep::Dynamic) => (None, None),
        Some(KraftStep::Keep(why)) => (Some(format!("the controller quorum stays static: {why}")), None),
        Some(KraftStep::Wait(why)) => {
            let note = format!("the upgrade of the static quorum to kraft.version 1 waits: {why}");
            (Some(note.clone()), Some(note))
        }
        Some(KraftStep::Upgrade) => {
            let note = upgrade_kraft_version(ctx, cr, access).await;
            (Some(note.clone()), Some(note))
        }
    }
}

/// UpdateFeatures `kraft.version` 1 through `client`.
pub async fn raise_kraft_version(client: &AdminClient) -> Result<(), AdminError> {
    let update = [(kraft::KRAFT_VERSION_FEATURE.to_string(), kraft::DYNAMIC_LEVEL)];
    client.update_features(&update, false).await
}

/// UpdateFeatures `kraft.version` 1 through a broker (forwarded to the active controller); an
/// Event before and on failure. Kafka's finalized level is the only record: a pass after a
/// restart reads it again and never sends the upgrade twice once it committed.
async fn upgrade_kraft_version(ctx: &Context, cr: &KafkaCluster, access: &Access) -> String {
    let bootstrap = &access.bootstrap;
    let client = match access.client() {
        Ok(c) => c,
        Err(e) => return format!("the quorum upgrade waits: bad bootstrap address {bootstrap}: {e}"),
    };
    let start = "upgrading the static controller quorum to the dynamic one: raising kraft.version to 1";
    info!(start);
    ctx.event(cr, EventType::Normal, EventReason::QuorumUpgradeStarted, start)
        .await;
    match raise_kraft_version(&client).await {
        Ok(()) => "raised kraft.version to 1; the voters become dynamic once the leader reports their \
                   directory ids"
            .into(),
        Err(e) => {
            let note = format!("raising kraft.version to 1 failed: {e}");
            warn!(%note);
            ctx.event(cr, EventType::Warning, EventReason::QuorumUpgradeFailed, &note)
                .await;
            note
        }
    }
}

fn voters(view: &QuorumView) -> Vec<QuorumVoterStatus> {
    let mut v: Vec<QuorumVoterStatus> = view
        .voters
        .iter()
        .map(|r| QuorumVoterStatus {
            id: r.id,
            directory_id: r.directory_id.clone(),
        })
        .collect();
    v.sort_by_key(|r| r.id);
    v
}

/// The controller endpoint of node `id`, as AddRaftVoter announces it.
pub fn endpoint(cluster: &ValidatedCluster, id: i32) -> VoterEndpoint {
    VoterEndpoint {
        listener: CONTROLLER_LISTENER.into(),
        host: cluster.names.node_fqdn(Role::Controller, id),
        port: u16::try_from(cluster.controller_port).unwrap_or_default(),
    }
}

/// Sends one voter change to cluster `cluster_id` through `client`: AddRaftVoter with the new
/// voter's endpoint, or RemoveRaftVoter.
pub async fn send(
    client: &AdminClient,
    cluster_id: &str,
    change: &VoterChange,
    endpoint: &VoterEndpoint,
) -> Result<(), AdminError> {
    match change {
        VoterChange::Add { id, directory_id } => {
            client
                .add_raft_voter(cluster_id, *id, directory_id, endpoint)
                .await
        }
        VoterChange::Remove { id, directory_id } => {
            client.remove_raft_voter(cluster_id, *id, directory_id).await
        }
    }
}

/// Sends one voter change; an Event says what happened.
async fn execute(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    change: &VoterChange,
    access: &Access,
) -> String {
    let bootstrap = &access.bootstrap;
    let client = match access.client() {
        Ok(c) => c,
        Err(e) => return format!("controller quorum change waits: bad bootstrap address {bootstrap}: {e}"),
    };
    let (id, done, reason) = match change {
        VoterChange::Add { id, directory_id } => (
            *id,
            format!("added controller {id} (directory {directory_id}) as a voter"),
            EventReason::VoterAdded,
        ),
        VoterChange::Remove { id, directory_id } => (
            *id,
            format!("removed controller {id} (directory {directory_id}) from the voters"),
            EventReason::VoterRemoved,
        ),
    };
    match send(&client, &cluster.cluster_id, change, &endpoint(cluster, id)).await {
        Ok(()) => {
            info!(change = ?change, "controller quorum changed");
            ctx.event(cr, EventType::Normal, reason, &done).await;
            done
        }
        Err(e) => {
            let note = format!("controller quorum change {change:?} failed: {e}");
            warn!(%note);
            ctx.event(cr, EventType::Warning, EventReason::VoterChangeFailed, &note)
                .await;
            note
        }
    }
}
