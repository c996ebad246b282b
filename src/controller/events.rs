//! Kubernetes Events on a KafkaCluster: one vocabulary of reasons, one way to publish.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use tracing::warn;

use super::Context;
use crate::crd::KafkaCluster;

/// Declares the Event reasons, each with the action it belongs to.
macro_rules! event_reasons {
    ($($variant:ident => $action:literal),* $(,)?) => {
        /// Every reason of an Event the operator publishes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum EventReason { $($variant),* }

        impl EventReason {
            pub fn as_str(self) -> &'static str {
                match self { $(EventReason::$variant => stringify!($variant)),* }
            }

            /// The action the Event reports (`action` of events.k8s.io/v1).
            pub fn action(self) -> &'static str {
                match self { $(EventReason::$variant => $action),* }
            }
        }
    };
}

event_reasons! {
    Created => "CreatePod",
    Recreated => "CreatePod",
    Replacing => "DeletePod",
    Removed => "DeletePod",
    InvalidSpec => "Validate",
    HardeningRelaxed => "Validate",
    HostPortConflict => "Place",
    ApplyFailed => "Apply",
    GatesSkipped => "Roll",
    UnsafeScaleDown => "Scale",
    ScaleDownBlocked => "Scale",
    ScaledDown => "Scale",
    RebalanceStarted => "Rebalance",
    RebalanceFinished => "Rebalance",
    RebalanceRefused => "Rebalance",
    VoterAdded => "ChangeQuorum",
    VoterRemoved => "ChangeQuorum",
    VoterChangeFailed => "ChangeQuorum",
    QuorumUpgradeStarted => "UpgradeQuorum",
    QuorumUpgraded => "UpgradeQuorum",
    QuorumUpgradeFailed => "UpgradeQuorum",
    Restarting => "Roll",
    Replaced => "ReplacePod",
    NodeLost => "RecoverNode",
    RecoveringPod => "RecoverNode",
    Reconfigured => "Roll",
    ReconfigureFailed => "Roll",
    RackUnknown => "AssignRack",
    DurabilityCorrected => "Durability",
    DurabilityRefused => "Durability",
    DurabilityDrift => "Durability",
    FeaturesFinalized => "Upgrade",
    FinalizeFailed => "Upgrade",
    CertificateIssued => "IssueCertificate",
    CaCreated => "IssueCertificate",
    CaRenewed => "IssueCertificate",
    CaRetired => "IssueCertificate",
    UserSecretCreated => "CreateSecret",
    UserCertificateIssued => "IssueCertificate",
    UserRefused => "ReconcileUser",
}

/// A pod as the related object of an Event. kube's `Recorder` folds Events with the same
/// regarding object, reason, action and related object into one (counting up, keeping the first
/// note), so Events about different pods must name their pod (and, when known, its uid) to stay
/// apart.
pub fn pod_ref(ns: &str, name: &str, uid: Option<String>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        namespace: Some(ns.into()),
        name: Some(name.into()),
        uid,
        ..Default::default()
    }
}

impl Context {
    /// An Event on the KafkaCluster.
    pub async fn event(&self, cr: &KafkaCluster, type_: EventType, reason: EventReason, note: &str) {
        self.publish(&cr.object_ref(&()), type_, reason, note, None).await;
    }

    /// An Event on the KafkaCluster about one of its pods.
    pub async fn pod_event(
        &self,
        cr: &KafkaCluster,
        pod: ObjectReference,
        type_: EventType,
        reason: EventReason,
        note: &str,
    ) {
        self.publish(&cr.object_ref(&()), type_, reason, note, Some(pod))
            .await;
    }

    pub async fn publish(
        &self,
        reference: &ObjectReference,
        type_: EventType,
        reason: EventReason,
        note: &str,
        related: Option<ObjectReference>,
    ) {
        let event = Event {
            type_,
            reason: reason.as_str().into(),
            note: Some(note.chars().take(1000).collect()),
            action: reason.action().into(),
            secondary: related,
        };
        // An event that cannot be published must not fail the reconcile.
        if let Err(e) = self.recorder.publish(&event, reference).await {
            warn!(error = %e, reason = reason.as_str(), "could not publish event");
        }
    }
}
