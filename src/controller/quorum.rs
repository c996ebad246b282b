//! The controller quorum's executor: reads the quorum from Kafka, and makes the one voter change
//! [`crate::quorum::plan`] decides. Kafka's voter set is the only record of progress, so an
//! operator killed mid-change reads it again and never makes a change twice.

use std::collections::BTreeSet;

use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::Context;
use super::events::EventReason;
use super::kafka::Access;
use crate::admin::{AdminClient, AdminError, VoterEndpoint};
use crate::crd::{ControllerQuorumStatus, KafkaCluster, KafkaClusterStatus, QuorumVoterStatus};
use crate::desired::properties::CONTROLLER_LISTENER;
use crate::names::Role;
use crate::quorum::{self, QuorumMode, QuorumStep, QuorumView, VoterChange};
use crate::validate::ValidatedCluster;

/// The quorum as read at the start of a pass.
#[derive(Clone, Debug)]
pub enum Read {
    /// A static quorum: nothing is read.
    Static,
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

/// DescribeQuorum through the bootstrap Service (a broker forwards it to the leader).
pub async fn read(mode: QuorumMode, access: &Access) -> Read {
    if mode == QuorumMode::Static {
        return Read::Static;
    }
    let bootstrap = &access.bootstrap;
    let client = match access.client() {
        Ok(c) => c,
        Err(e) => return Read::Unreachable(format!("bad bootstrap address {bootstrap}: {e}")),
    };
    match client.describe_quorum().await {
        Ok(info) => Read::Known(QuorumView::from(&info)),
        Err(e) => Read::Unreachable(format!("Kafka at {bootstrap} did not describe the quorum: {e}")),
    }
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

/// Makes the next voter change, if any; returns the status of the quorum and the message for
/// the Progressing condition (None when the voters match the spec).
pub async fn advance(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    (read, initial_voters): (&Read, &BTreeSet<i32>),
    access: &Access,
) -> (ControllerQuorumStatus, Option<String>) {
    let previous = cr.status.as_ref().and_then(|s| s.controller_quorum.clone());
    let mut status = ControllerQuorumStatus {
        mode: cluster.quorum.mode.as_str().into(),
        initial_voters: initial_voters.iter().copied().collect(),
        voters: previous.map(|p| p.voters).unwrap_or_default(),
        message: None,
    };
    let desired = desired_ids(cr);
    let message = match read {
        Read::Static => None,
        Read::Unreachable(why) => {
            let running: BTreeSet<i32> = cluster.controllers.ids.iter().copied().collect();
            let known: BTreeSet<i32> = status.voters.iter().map(|v| v.id).collect();
            let settled = quorum::settled_unread(&desired, &running, &known, initial_voters);
            (!settled).then(|| format!("controller quorum change waits: {why}"))
        }
        Read::Known(view) => {
            status.voters = voters(view);
            match quorum::plan(&desired, view) {
                QuorumStep::Settled => None,
                QuorumStep::Wait(why) => Some(format!("controller quorum change waits: {why}")),
                QuorumStep::Change(change) => Some(execute(ctx, cr, cluster, &change, access).await),
            }
        }
    };
    status.message = message.clone();
    (status, message)
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
