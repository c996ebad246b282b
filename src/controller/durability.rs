//! The durability pass: on a Ready cluster that is not rolling, read the durability settings
//! Kafka actually runs with, correct the cluster-level values the operator owns (live, with an
//! Event each), and report what else differs (see `crate::durability`, docs/durability.md).
//!
//! It talks to Kafka only, never to the API server. It runs when the desired settings changed
//! since the last pass, when the status has no reading yet, and otherwise at most every
//! [`INTERVAL`]; the memory of the last pass only paces it (a restarted operator simply checks
//! once more).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::events::EventType;
use tracing::{info, warn};

use super::events::EventReason;
use super::{Context, kafka};

use crate::annotations;
use crate::crd::{DurabilityStatus, KafkaCluster};
use crate::durability::{self, sync::Outcome};
use crate::validate::ValidatedCluster;

/// How often a quiet cluster's effective settings are read again.
pub const INTERVAL: Duration = Duration::from_secs(300);

/// When each cluster was last checked, for which desired settings, and what drift it reported.
#[derive(Default)]
pub struct Pacer {
    last: Mutex<HashMap<String, Checked>>,
}

#[derive(Clone)]
struct Checked {
    at: Instant,
    desired: durability::Desired,
    drift: Option<String>,
}

impl Pacer {
    fn due(&self, key: &str, desired: &durability::Desired, have_reading: bool) -> bool {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.get(key) {
            Some(c) => !have_reading || &c.desired != desired || c.at.elapsed() >= INTERVAL,
            None => true,
        }
    }

    /// Records a pass; returns the drift reported by the previous one.
    fn record(&self, key: &str, desired: &durability::Desired, drift: Option<String>) -> Option<String> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let previous = last.get(key).and_then(|c| c.drift.clone());
        last.insert(
            key.to_string(),
            Checked {
                at: Instant::now(),
                desired: desired.clone(),
                drift,
            },
        );
        previous
    }
}

/// Runs the pass when it is due; returns the effective settings when Kafka was read.
pub async fn pass(
    ctx: &Context,
    cr: &KafkaCluster,
    cluster: &ValidatedCluster,
    desired: &durability::Desired,
) -> Option<DurabilityStatus> {
    // Simulated clusters (kwok) have no Kafka to ask.
    if cr
        .annotations()
        .get(annotations::SKIP_KAFKA_GATES)
        .map(String::as_str)
        == Some("true")
    {
        return None;
    }
    let key = format!("{}/{}", cluster.names.namespace, cluster.names.cluster);
    let have_reading = cr.status.as_ref().is_some_and(|s| s.durability.is_some());
    if !ctx.durability.due(&key, desired, have_reading) {
        return None;
    }
    let access = kafka::Access::of(cluster);
    let bootstrap = &access.bootstrap;
    let outcome = match access.client() {
        Ok(admin) => durability::sync::reconcile(&admin, desired).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(outcome) => {
            let previous_drift = ctx.durability.record(&key, desired, outcome.drift_message());
            report(ctx, cr, &outcome, previous_drift).await;
            let mut status = outcome.effective.status();
            status.drift = outcome.drift_message().map(|d| d.chars().take(1024).collect());
            Some(status)
        }
        Err(e) => {
            // Paced like a success: an unreachable Kafka is asked again after the interval.
            ctx.durability.record(&key, desired, None);
            warn!(%bootstrap, error = %e, "could not read the effective durability settings from Kafka");
            None
        }
    }
}

/// Events: one per correction, one for refused corrections, one when the reported drift changes.
async fn report(ctx: &Context, cr: &KafkaCluster, outcome: &Outcome, previous_drift: Option<String>) {
    for c in &outcome.corrected {
        let note = c.message();
        info!(%note, "corrected a cluster-level durability setting");
        ctx.event(cr, EventType::Normal, EventReason::DurabilityCorrected, &note)
            .await;
    }
    if let Some(note) = outcome.refused_message() {
        warn!(%note, "Kafka refused a cluster-level durability setting");
        ctx.event(cr, EventType::Warning, EventReason::DurabilityRefused, &note)
            .await;
    }
    if let Some(note) = outcome.drift_message()
        && Some(&note) != previous_drift.as_ref()
    {
        warn!(%note, "durability drift");
        ctx.event(cr, EventType::Warning, EventReason::DurabilityDrift, &note)
            .await;
    }
}
