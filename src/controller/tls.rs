//! The TLS executor: asks the planner ([`crate::tls::plan`]) what to issue, issues it
//! ([`crate::tls::issue`]), writes the Secrets (server-side apply), and asks again until
//! nothing is left. Reads come from the Secret cache; the user's CA Secret (not labelled, not
//! cached) is read only when something must be signed or the trust bundle written.
//! Everything it knows is in the Secrets, so a restart carries on where it stopped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tracing::info;

use super::Context;
use super::events::EventReason;
use super::observe::Observed;
use crate::admin::ClientTls;
use crate::annotations;
use crate::crd::KafkaCluster;
use crate::error::Result;
use crate::names::{ClusterNames, Role};
use crate::tls::issue::{self, CertInfo, KeyedCert, Subject};
use crate::tls::plan::{self, CaState, Step, Wanted};
use crate::tls::{self, TlsSettings, secrets};
use crate::validate::Problem;

/// Plan-execute rounds per reconcile: a new cluster needs CA, bundle, certificates.
const MAX_ROUNDS: usize = 6;

/// What the rest of the pass needs: each node's TLS digest, the operator's client material.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub digests: BTreeMap<i32, String>,
    pub admin: Option<ClientTls>,
    /// Digest of the user-provided listener certificates (empty: none).
    pub listener_certs: String,
}

/// One certificate the cluster needs.
struct Needed {
    secret: String,
    subject: Subject,
    node: Option<i32>,
}

/// The pass's view of the Secrets, updated as it writes them.
struct Work<'a> {
    ctx: &'a Context,
    cr: &'a KafkaCluster,
    names: ClusterNames,
    settings: TlsSettings,
    owner: Option<OwnerReference>,
    secrets: BTreeMap<String, Secret>,
    user_ca: Option<KeyedCert>,
    now: i64,
}

/// Brings the cluster's certificates up to date. `Err(problem)` inside: the user's CA Secret
/// is missing or unusable (refused like an invalid field, nothing applied).
pub async fn ensure(
    ctx: &Context,
    cr: &KafkaCluster,
    ns: &str,
    observed: &Observed,
) -> Result<std::result::Result<Outcome, Problem>> {
    let Ok(Some(settings)) = tls::settings(&cr.spec) else {
        return Ok(Ok(Outcome::default()));
    };
    let names = ClusterNames::new(&cr.name_any(), ns, &ctx.options.cluster_domain);
    let listener_certs = match listener_certs(ctx, cr, &names).await? {
        Ok(digest) => digest,
        Err(problem) => return Ok(Err(problem)),
    };
    let needed = needed(cr, &names, observed);
    let mut work = Work {
        ctx,
        cr,
        owner: cr.controller_owner_ref(&()),
        secrets: observed
            .secrets
            .iter()
            .map(|s| (s.name_any(), s.clone()))
            .collect(),
        names,
        settings,
        user_ca: None,
        now: now(),
    };
    let running: BTreeMap<i32, String> = observed
        .pods
        .iter()
        .filter_map(|p| {
            let id = p.labels().get(crate::labels::NODE_ID)?.parse().ok()?;
            Some((id, p.annotations().get(annotations::TLS_DIGEST)?.clone()))
        })
        .collect();
    for _ in 0..MAX_ROUNDS {
        let steps = plan::plan(&work.settings, &work.observed(&needed, &running));
        if steps.is_empty() {
            break;
        }
        for step in steps {
            if let Err(problem) = work.execute(&step, &needed).await? {
                return Ok(Err(problem));
            }
        }
    }
    Ok(Ok(Outcome {
        listener_certs,
        ..work.outcome(&needed)
    }))
}

/// The user's listener certificate Secrets as last read, by (namespace, name). A pass reads
/// one again only when the Secret metadata cache shows another resourceVersion, so a pass
/// that changes nothing sends no request; a restarted operator reads each once.
#[derive(Default)]
pub struct ListenerSecrets(std::sync::Mutex<HashMap<(String, String), Arc<Secret>>>);

impl ListenerSecrets {
    /// The Secret `name` of `ns`: none when the metadata cache has none.
    async fn get(&self, ctx: &Context, ns: &str, name: &str) -> Result<Option<Arc<Secret>>> {
        let key = (ns.to_string(), name.to_string());
        let Some(meta) = ctx.caches.secret_metadata.get(&ObjectRef::new(name).within(ns)) else {
            self.lock().remove(&key);
            return Ok(None);
        };
        if let Some(known) = self.lock().get(&key)
            && known.resource_version() == meta.resource_version()
        {
            return Ok(Some(known.clone()));
        }
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
        let read = api.get_opt(name).await?.map(Arc::new);
        match &read {
            Some(secret) => self.lock().insert(key, secret.clone()),
            None => self.lock().remove(&key),
        };
        Ok(read)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Secret>>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Reads and checks the user-provided listener certificates
/// ([`tls::listener_cert::check`]): their digest, or the first refusal naming its field. A
/// Secret is read only when it changed ([`ListenerSecrets`]); its changes bring a pass.
async fn listener_certs(
    ctx: &Context,
    cr: &KafkaCluster,
    names: &ClusterNames,
) -> Result<std::result::Result<String, Problem>> {
    use tls::listener_cert;
    let mut fingerprints = Vec::new();
    for (i, l) in cr.spec.listeners.iter().enumerate() {
        let Some(name) = &l.certificate_secret else {
            continue;
        };
        let secret = ctx.listener_secrets.get(ctx, &names.namespace, name).await?;
        let hosts = listener_cert::hostnames(&cr.spec, names, l);
        match listener_cert::check(name, secret.as_deref(), &hosts, now()) {
            Ok(fp) => fingerprints.push(format!("{}={fp}", l.name)),
            Err(reason) => {
                return Ok(Err(Problem {
                    field: listener_cert::field(i),
                    reason,
                }));
            }
        }
    }
    Ok(Ok(if fingerprints.is_empty() {
        String::new()
    } else {
        issue::short_digest(fingerprints.join(",").as_bytes())
    }))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Every node of the spec and every node that still exists, and the operator.
fn needed(cr: &KafkaCluster, names: &ClusterNames, observed: &Observed) -> Vec<Needed> {
    let mut ids: BTreeMap<i32, Role> = BTreeMap::new();
    for id in cr.spec.brokers.ids() {
        ids.insert(id, Role::Broker);
    }
    for id in crate::quorum::desired_ids(cr.spec.controllers.replicas) {
        ids.insert(id, Role::Controller);
    }
    for role in [Role::Broker, Role::Controller] {
        for id in observed.existing_ids(role) {
            ids.insert(id, role);
        }
    }
    let mut out: Vec<Needed> = ids
        .into_iter()
        .map(|(id, role)| Needed {
            secret: names.node_tls_secret(role, id),
            subject: Subject {
                common_name: tls::node_common_name(names),
                sans: tls::node_sans(names, role, id, &tls::extra_sans(cr, role, id)),
            },
            node: Some(id),
        })
        .collect();
    out.push(Needed {
        secret: names.operator_tls_secret(),
        subject: Subject {
            common_name: tls::OPERATOR_COMMON_NAME.into(),
            sans: Vec::new(),
        },
        node: None,
    });
    out
}

impl Work<'_> {
    fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }

    /// The planner's input from the Secrets as this pass knows them.
    fn observed(&self, needed: &[Needed], running: &BTreeMap<i32, String>) -> plan::Observed {
        plan::Observed {
            now: self.now,
            ca: self.ca_state(),
            bundle: self.secret(&self.names.ca_cert_secret()).map(secrets::trusted),
            certs: needed
                .iter()
                .map(|n| Wanted {
                    secret: n.secret.clone(),
                    sans: issue::sans_digest(&n.subject.sans),
                    have: self.secret(&n.secret).and_then(secrets::cert_info),
                    running: n.node.and_then(|id| running.get(&id).cloned()),
                    is_node: n.node.is_some(),
                })
                .collect(),
        }
    }

    /// The generated CA from its Secret; the user's from what was loaded, else from the
    /// bundle it was written to (it is never renewed, so its expiry does not matter here).
    fn ca_state(&self) -> Option<CaState> {
        if self.settings.ca_secret.is_none() {
            let secret = self.secret(&self.names.ca_secret())?;
            return Some(CaState {
                current: secrets::cert_info(secret)?,
                previous: secrets::trusted(secret),
            });
        }
        let fingerprint = match &self.user_ca {
            Some(ca) => issue::fingerprint(&ca.cert_pem).ok()?,
            None => secrets::trusted(self.secret(&self.names.ca_cert_secret())?)
                .first()?
                .clone(),
        };
        Some(CaState {
            current: CertInfo {
                not_after: i64::MAX,
                issuer: fingerprint.clone(),
                fingerprint,
                sans: String::new(),
            },
            previous: Vec::new(),
        })
    }

    async fn execute(&mut self, step: &Step, needed: &[Needed]) -> Result<std::result::Result<(), Problem>> {
        match step {
            Step::CreateCa | Step::RenewCa => self.new_ca(step == &Step::RenewCa).await?,
            Step::LoadUserCa => return self.load_user_ca().await,
            Step::WriteBundle(_) => {
                if let Err(p) = self.write_bundle().await? {
                    return Ok(Err(p));
                }
            }
            Step::Issue { secret, why } => {
                let Some(n) = needed.iter().find(|n| &n.secret == secret) else {
                    return Ok(Ok(()));
                };
                if let Err(p) = self.issue(n, why.as_str()).await? {
                    return Ok(Err(p));
                }
            }
            Step::DropPreviousCas => self.drop_previous().await?,
        }
        Ok(Ok(()))
    }

    /// A new generated CA; on renewal the current one joins the previous CAs still trusted.
    async fn new_ca(&mut self, renew: bool) -> Result<()> {
        let common_name = format!("{}-cluster-ca", self.names.cluster);
        let (ca, info) = issue::generate_ca(&common_name, self.now, self.settings.ca_validity_days)?;
        let mut previous = Vec::new();
        if renew && let Some(old) = self.secret(&self.names.ca_secret()) {
            previous = self.previous_cas(old);
            if let (Some(info), Some(pem)) = (secrets::cert_info(old), secrets::text(old, tls::CERT_KEY)) {
                previous.insert(0, (info.fingerprint, pem));
            }
        }
        let secret = secrets::ca_secret(&self.names, &ca, &info, &previous, self.owner.as_ref());
        self.write(secret).await?;
        let (reason, note) = if renew {
            (
                EventReason::CaRenewed,
                "cluster CA renewed; the previous CA stays trusted until every node runs a certificate of the new one",
            )
        } else {
            (EventReason::CaCreated, "cluster CA created")
        };
        self.ctx.event(self.cr, EventType::Normal, reason, note).await;
        Ok(())
    }

    /// `(fingerprint, PEM)` of the previous CAs recorded in the CA Secret.
    fn previous_cas(&self, ca_secret: &Secret) -> Vec<(String, String)> {
        let pem = secrets::text(ca_secret, tls::PREVIOUS_KEY).unwrap_or_default();
        secrets::split_certificates(&pem)
            .into_iter()
            .filter_map(|c| Some((issue::fingerprint(&c).ok()?, c)))
            .collect()
    }

    async fn drop_previous(&mut self) -> Result<()> {
        let Some(old) = self.secret(&self.names.ca_secret()).cloned() else {
            return Ok(());
        };
        let (Some(ca), Some(info)) = (secrets::keyed(&old), secrets::cert_info(&old)) else {
            return Ok(());
        };
        let secret = secrets::ca_secret(&self.names, &ca, &info, &[], self.owner.as_ref());
        self.write(secret).await?;
        self.ctx
            .event(
                self.cr,
                EventType::Normal,
                EventReason::CaRetired,
                "every node runs a certificate of the new cluster CA: the previous CA is no longer trusted",
            )
            .await;
        Ok(())
    }

    /// Reads the user's CA Secret: `tls.crt` and `tls.key` must be a usable certificate and key.
    async fn load_user_ca(&mut self) -> Result<std::result::Result<(), Problem>> {
        let Some(name) = self.settings.ca_secret.clone() else {
            return Ok(Ok(()));
        };
        let field = "spec.security.tls.ca.secretName";
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.names.namespace);
        let refuse = |reason: String| {
            Ok(Err(Problem {
                field: field.into(),
                reason,
            }))
        };
        let Some(secret) = api.get_opt(&name).await? else {
            return refuse(format!("Secret {name} does not exist"));
        };
        let Some(ca) = secrets::keyed(&secret) else {
            return refuse(format!(
                "Secret {name} must hold {} and {} (PEM)",
                tls::CERT_KEY,
                tls::KEY_KEY
            ));
        };
        if let Err(e) = issue::fingerprint(&ca.cert_pem) {
            return refuse(format!("Secret {name}: {e}"));
        }
        self.user_ca = Some(ca);
        Ok(Ok(()))
    }

    /// The CA that signs: the generated one, or the user's (read now if needed).
    async fn signing_ca(&mut self) -> Result<std::result::Result<KeyedCert, Problem>> {
        if self.settings.ca_secret.is_none() {
            let ca = self.secret(&self.names.ca_secret()).and_then(secrets::keyed);
            return Ok(ca.ok_or_else(|| Problem {
                field: "spec.security.tls".into(),
                reason: "the cluster CA Secret has no certificate and key".into(),
            }));
        }
        if self.user_ca.is_none()
            && let Err(p) = self.load_user_ca().await?
        {
            return Ok(Err(p));
        }
        Ok(self.user_ca.clone().ok_or_else(|| Problem {
            field: "spec.security.tls.ca.secretName".into(),
            reason: "not readable".into(),
        }))
    }

    async fn write_bundle(&mut self) -> Result<std::result::Result<(), Problem>> {
        let current = match self.signing_ca().await? {
            Ok(ca) => secrets::split_certificates(&ca.cert_pem),
            Err(p) => return Ok(Err(p)),
        };
        let mut cas: Vec<(String, String)> = Vec::new();
        if let Some(pem) = current.into_iter().next() {
            cas.push((issue::fingerprint(&pem)?, pem));
        }
        if let Some(ca_secret) = self.secret(&self.names.ca_secret())
            && self.settings.ca_secret.is_none()
        {
            cas.extend(self.previous_cas(ca_secret));
        }
        let secret = secrets::bundle_secret(&self.names, &cas, self.owner.as_ref());
        self.write(secret).await?;
        Ok(Ok(()))
    }

    async fn issue(&mut self, needed: &Needed, why: &str) -> Result<std::result::Result<(), Problem>> {
        let ca = match self.signing_ca().await? {
            Ok(ca) => ca,
            Err(p) => return Ok(Err(p)),
        };
        let ca_pem = secrets::split_certificates(&ca.cert_pem)
            .into_iter()
            .next()
            .unwrap_or_default();
        let (cert, info) =
            match issue::issue(&ca, &needed.subject, self.now, self.settings.cert_validity_days) {
                Ok(issued) => issued,
                Err(e) if self.settings.ca_secret.is_some() => {
                    return Ok(Err(Problem {
                        field: "spec.security.tls.ca.secretName".into(),
                        reason: e.to_string(),
                    }));
                }
                Err(e) => return Err(e.into()),
            };
        let secret = secrets::cert_secret(
            &self.names,
            &needed.secret,
            &cert,
            &ca_pem,
            &info,
            self.owner.as_ref(),
        );
        self.write(secret).await?;
        let note = format!("certificate {} issued ({why})", needed.secret);
        info!(secret = %needed.secret, reason = why, "certificate issued");
        self.ctx
            .event(self.cr, EventType::Normal, EventReason::CertificateIssued, &note)
            .await;
        Ok(Ok(()))
    }

    /// Server-side apply of one Secret; the pass's view takes the written object.
    async fn write(&mut self, secret: Secret) -> Result<()> {
        let name = secret.name_any();
        let api: Api<Secret> = Api::namespaced(self.ctx.client.clone(), &self.names.namespace);
        let params = PatchParams::apply(crate::FIELD_MANAGER).force();
        let written = api.patch(&name, &params, &Patch::Apply(&secret)).await?;
        self.secrets.insert(name, written);
        Ok(())
    }

    /// Digests of the nodes whose certificate exists, and the operator's client material.
    fn outcome(&self, needed: &[Needed]) -> Outcome {
        let bundle_secret = self.secret(&self.names.ca_cert_secret());
        let bundle = bundle_secret.map(secrets::trusted).unwrap_or_default();
        let digests = needed
            .iter()
            .filter_map(|n| {
                let info = self.secret(&n.secret).and_then(secrets::cert_info)?;
                Some((n.node?, plan::node_digest(&bundle, &info)))
            })
            .collect();
        let admin = bundle_secret
            .and_then(|b| secrets::text(b, tls::BUNDLE_KEY))
            .map(|ca_pem| ClientTls {
                ca_pem,
                identity: self
                    .secret(&self.names.operator_tls_secret())
                    .and_then(secrets::keyed)
                    .map(|k| (k.cert_pem, k.key_pem)),
            });
        Outcome {
            digests,
            admin,
            listener_certs: String::new(),
        }
    }
}
