//! The KafkaUser controller: resolves the user's cluster from the cache, keeps the credentials
//! Secret, reads what Kafka holds for the user, and executes the pure plan of
//! [`crate::user`]. A pass that finds Kafka as the spec says sends no request to Kafka beyond
//! the three reads, and none to the API server. The finalizer removes the user's credentials,
//! ACLs and quotas from Kafka before the KafkaUser goes.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, instrument, warn};

use super::Context;
use super::cache::api;
use super::events::EventReason;
use crate::admin::{AdminClient, AdminError, ClientTls, Connector, ScramChange};
use crate::annotations::{SCRAM_APPLIED, USER_FINALIZER};
use crate::crd::{AuthenticationType, KafkaCluster, KafkaUser, KafkaUserSpec, KafkaUserStatus, UserReason};
use crate::error::{Error, Result};
use crate::labels;
use crate::names::ClusterNames;
use crate::tls::secrets as tls_secrets;
use crate::user::cert::{CaView, CertStep};
use crate::user::{self, CredentialAction, KafkaUserState, UserPlan, secret};

/// How often a converged user is compared with Kafka again (ACLs changed behind the operator's
/// back are put back).
const RESYNC: Duration = Duration::from_secs(300);
/// Retry delay while Kafka cannot be reached.
const KAFKA_RETRY: Duration = Duration::from_secs(30);

/// What the user controller reads: its own Secrets and the KafkaClusters.
pub struct UserContext {
    pub ctx: Arc<Context>,
    pub secrets: Store<Secret>,
    pub clusters: Store<KafkaCluster>,
}

/// Runs the KafkaUser controller of one watch scope until shutdown.
pub async fn run(ctx: Arc<Context>, ns: Option<&str>, concurrency: u16) {
    let client = ctx.client.clone();
    let (secrets, secret_writer) = reflector::store();
    let secret_watch = watcher(
        api::<Secret>(&client, ns),
        watcher::Config::default().labels(&format!(
            "{}={},{}=kafka-user",
            labels::MANAGED_BY,
            labels::MANAGER,
            labels::COMPONENT
        )),
    )
    .default_backoff()
    .reflect(secret_writer)
    .applied_objects();
    let (clusters, cluster_writer) = reflector::store();
    let cluster_watch = watcher(api::<KafkaCluster>(&client, ns), watcher::Config::default())
        .default_backoff()
        .reflect(cluster_writer)
        .touched_objects();
    let users: Api<KafkaUser> = api(&client, ns);
    let controller = Controller::new(users, watcher::Config::default().any_semantic());
    let user_store = controller.store();
    let ucx = Arc::new(UserContext {
        ctx,
        secrets,
        clusters,
    });
    // A cluster that appears, changes or goes re-triggers the users naming it.
    let users_of = move |cluster: KafkaCluster| {
        let ns = cluster.namespace();
        let name = cluster.name_any();
        user_store
            .state()
            .iter()
            .filter(|u| u.namespace() == ns && u.spec.cluster == name)
            .map(|u| ObjectRef::from_obj(u.as_ref()))
            .collect::<Vec<_>>()
    };
    controller
        .owns_stream(secret_watch)
        .watches_stream(cluster_watch, users_of)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .shutdown_on_signal()
        .run(reconcile, error_policy, ucx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "kafka-user controller event");
            }
        })
        .await;
}

fn error_policy(user: Arc<KafkaUser>, error: &Error, ucx: Arc<UserContext>) -> Action {
    ucx.ctx.metrics.failure(error.kind());
    let delay = ucx
        .ctx
        .next_backoff(&user.name_any(), user.namespace().as_deref());
    warn!(user = %user.name_any(), error = %error, retry_in = ?delay, "kafka-user reconcile failed");
    Action::requeue(delay)
}

#[instrument(skip_all, fields(user = %user.name_any(), namespace = user.namespace().unwrap_or_default()))]
async fn reconcile(user: Arc<KafkaUser>, ucx: Arc<UserContext>) -> Result<Action> {
    let ctx = &ucx.ctx;
    let ns = user
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    let name = user.name_any();
    let users: Api<KafkaUser> = Api::namespaced(ctx.client.clone(), &ns);
    let cluster = ucx
        .clusters
        .get(&ObjectRef::new(&user.spec.cluster).within(&ns))
        .filter(|c| c.meta().deletion_timestamp.is_none());
    if user.meta().deletion_timestamp.is_some() {
        return finalize(&users, &user, cluster.as_deref(), ctx).await;
    }
    if !has_finalizer(&user) {
        let mut to = user.finalizers().to_vec();
        to.push(USER_FINALIZER.to_string());
        set_finalizers(&users, &user, &to).await?;
        return Ok(Action::await_change());
    }
    let offer = cluster.as_deref().map(|c| user::offer(&c.spec));
    if let Err(refusal) = user::check(&user.spec, offer.as_ref()) {
        publish(ctx, &user, false, refusal.reason, &refusal.message, None).await?;
        return Ok(Action::await_change());
    }
    let (Some(cluster), Some(offer)) = (cluster, offer) else {
        return Ok(Action::await_change());
    };
    let secret_name = match ensure_secret(&ucx, &user, &ns, &cluster).await? {
        Credentials::Ready(s) => s,
        Credentials::Pending(message) => {
            publish(ctx, &user, false, UserReason::CredentialsPending, &message, None).await?;
            return Ok(Action::requeue(KAFKA_RETRY));
        }
        Credentials::Refused(message) => {
            publish(ctx, &user, false, UserReason::InvalidSpec, &message, None).await?;
            return Ok(Action::await_change());
        }
    };
    let cached = secret_name
        .as_ref()
        .and_then(|n| ucx.secrets.get(&ObjectRef::new(n).within(&ns)));
    let password = cached.as_deref().and_then(secret::password_of);
    let applied = cached
        .as_deref()
        .and_then(|s| s.annotations().get(SCRAM_APPLIED).cloned());
    let outcome = match admin_for(&cluster, &ns, ctx) {
        Ok(admin) => {
            let (password, applied) = (password.as_deref(), applied.as_deref());
            apply_user(&admin, &name, &user.spec, offer.authorization, password, applied).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(plan) => {
            if matches!(plan.credential, Some(CredentialAction::Upsert))
                && let (Some(n), Some(p)) = (&secret_name, &password)
            {
                record_applied(ctx, &ns, n, &secret::fingerprint(p)).await?;
            }
            if !plan.is_empty() {
                info!(?plan.credential, created = plan.acls.create.len(), deleted = plan.acls.delete.len(), quotas = !plan.quotas.is_empty(), "applied user to Kafka");
            }
            let message = applied_message(&user);
            publish(ctx, &user, true, UserReason::Applied, &message, secret_name).await?;
            ctx.reset_backoff(&name, Some(&ns));
            Ok(Action::requeue(RESYNC))
        }
        Err(e) => {
            let message = format!("Kafka of KafkaCluster {:?}: {e}", user.spec.cluster);
            publish(
                ctx,
                &user,
                false,
                UserReason::KafkaUnavailable,
                &message,
                secret_name,
            )
            .await?;
            Ok(Action::requeue(KAFKA_RETRY))
        }
    }
}

/// Sets the user's finalizers to `to` (refused if the object changed meanwhile).
async fn set_finalizers(users: &Api<KafkaUser>, user: &KafkaUser, to: &[String]) -> Result<()> {
    let patch = super::shutdown::finalizers_patch(user.meta(), to);
    users
        .patch(&user.name_any(), &PatchParams::default(), &patch)
        .await?;
    Ok(())
}

fn has_finalizer(user: &KafkaUser) -> bool {
    user.finalizers().iter().any(|f| f == USER_FINALIZER)
}

fn applied_message(user: &KafkaUser) -> String {
    let acls = user
        .spec
        .authorization
        .as_ref()
        .map(|a| a.acls.len())
        .unwrap_or(0);
    format!(
        "credentials, {acls} ACL rule(s) and quotas of User:{} are applied in KafkaCluster {:?}",
        user.name_any(),
        user.spec.cluster
    )
}

/// The operator's admin client for a cluster: its inter-broker listener's bootstrap Service,
/// with the operator's client certificate and the cluster's trust bundle (from the Secret cache)
/// when that listener has TLS.
fn admin_for(cluster: &KafkaCluster, ns: &str, ctx: &Context) -> Result<AdminClient, AdminError> {
    let names = ClusterNames::new(&cluster.name_any(), ns, &ctx.options.cluster_domain);
    let cached = |name: String| ctx.caches.secrets.get(&ObjectRef::new(&name).within(ns));
    let admin = cached(names.ca_cert_secret())
        .and_then(|b| tls_secrets::text(&b, crate::tls::BUNDLE_KEY))
        .map(|ca_pem| ClientTls {
            ca_pem,
            identity: cached(names.operator_tls_secret())
                .and_then(|s| tls_secrets::keyed(&s))
                .map(|k| (k.cert_pem, k.key_pem)),
        });
    let tls = super::tls::Outcome {
        admin,
        ..Default::default()
    };
    super::reconcile::kafka_access(cluster, ns, &ctx.options.cluster_domain, &tls).client()
}

/// Brings what Kafka holds for user `name` to `spec`: reads it (three describes), plans
/// ([`user::plan`]) and sends the plan's changes only. `password` is the Secret's, `applied`
/// the fingerprint recorded when a password was last applied. Returns the plan sent.
pub async fn apply_user<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    spec: &KafkaUserSpec,
    authorizer: bool,
    password: Option<&str>,
    applied: Option<&str>,
) -> Result<UserPlan, AdminError> {
    let state = read_state(admin, name, authorizer).await?;
    let current = password.map(secret::fingerprint);
    let plan = user::plan(name, spec, &state, applied, current.as_deref());
    execute(admin, name, &plan, password).await?;
    Ok(plan)
}

/// Removes user `name`'s credentials, ACLs and quotas from Kafka. Returns the plan sent.
pub async fn remove_user<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    authorizer: bool,
) -> Result<UserPlan, AdminError> {
    let plan = user::cleanup_plan(&read_state(admin, name, authorizer).await?);
    execute(admin, name, &plan, None).await?;
    Ok(plan)
}

/// What Kafka holds for the user. Without an authorizer Kafka holds no ACLs (and refuses to
/// describe them).
pub async fn read_state<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    authorizer: bool,
) -> Result<KafkaUserState, AdminError> {
    let acls = if authorizer {
        admin.describe_acls(&user::principal(name)).await?
    } else {
        Vec::new()
    };
    let quotas = admin.describe_user_quotas(name).await?;
    let scram = admin
        .describe_scram_credentials(&[name])
        .await?
        .get(name)
        .is_some_and(|m| m.iter().any(|(mech, _)| *mech == user::MECHANISM));
    Ok(KafkaUserState { acls, quotas, scram })
}

/// Sends the plan: credential first (a new user can authenticate as soon as its ACLs exist),
/// then ACL deletions before creations, then quotas.
async fn execute<C: Connector>(
    admin: &AdminClient<C>,
    name: &str,
    plan: &UserPlan,
    password: Option<&str>,
) -> Result<(), AdminError> {
    match (plan.credential, password) {
        (Some(CredentialAction::Upsert), Some(password)) => {
            let change = ScramChange::Upsert {
                mechanism: user::MECHANISM,
                password: password.to_string(),
            };
            admin.alter_scram_credential(name, &change).await?;
        }
        (Some(CredentialAction::Delete), _) => {
            let change = ScramChange::Delete {
                mechanism: user::MECHANISM,
            };
            admin.alter_scram_credential(name, &change).await?;
        }
        _ => {}
    }
    admin.delete_acls(&plan.acls.delete).await?;
    admin.create_acls(&plan.acls.create).await?;
    admin.alter_user_quotas(name, &plan.quotas).await
}

/// The user's credentials Secret after a pass.
enum Credentials {
    /// The Secret's name (None: the user's authentication needs none).
    Ready(Option<String>),
    /// Cannot be made yet (the message says what it waits for); retried.
    Pending(String),
    /// A Secret of that name exists and is not the user's, or cannot be written.
    Refused(String),
}

/// The user's Secret: for a SCRAM user created once with a new password
/// ([`ensure_scram_secret`]); for a tls user the client certificate, issued and renewed
/// ([`ensure_cert_secret`]). A Secret of the user's name that is not the user's is refused
/// ([`create_secret`]).
async fn ensure_secret(
    ucx: &UserContext,
    user: &KafkaUser,
    ns: &str,
    cluster: &KafkaCluster,
) -> Result<Credentials> {
    match user.spec.authentication.as_ref().map(|a| a.type_) {
        None => Ok(Credentials::Ready(None)),
        Some(AuthenticationType::Tls) => ensure_cert_secret(ucx, user, ns, cluster).await,
        Some(AuthenticationType::ScramSha512) => ensure_scram_secret(ucx, user, ns).await,
    }
}

/// The Secret of a SCRAM user: created once with a generated password. The user's Secret of a
/// former `tls` authentication (no password in it) is replaced whole, its key with it.
async fn ensure_scram_secret(ucx: &UserContext, user: &KafkaUser, ns: &str) -> Result<Credentials> {
    let name = user.name_any();
    // The cache holds only the operator's user Secrets (label-selected): one of this name is
    // this user's. A Secret of the name that is not is found by create (409).
    let existing = ucx.secrets.get(&ObjectRef::new(&name).within(ns));
    if existing.as_deref().and_then(secret::password_of).is_some() {
        return Ok(Credentials::Ready(Some(name)));
    }
    let password = match secret::generate_password() {
        Ok(p) => p,
        Err(e) => return Ok(Credentials::Pending(e)),
    };
    let owner = user.controller_owner_ref(&());
    let object = secret::scram_secret(ns, &user.spec.cluster, &name, &password, owner);
    let reason = EventReason::UserSecretCreated;
    Ok(match existing.as_deref() {
        None => {
            let note = format!("created Secret {name} with a generated SCRAM-SHA-512 password");
            create_secret(ucx, user, ns, object, reason, &note).await
        }
        Some(old) => {
            let note = format!(
                "replaced Secret {name} (it held a client certificate) with a generated SCRAM-SHA-512 password"
            );
            replace_secret(&ucx.ctx, user, old, object, reason, &note).await?
        }
    })
}

/// Whether a Secret is the one the operator made for this user (its label says so).
fn is_users(secret: &Secret, user: &str) -> bool {
    secret.labels().get(labels::KAFKA_USER).map(String::as_str) == Some(user)
}

fn not_users(name: &str) -> String {
    format!(
        "metadata.name: a Secret {name:?} exists in this namespace and is not this user's: rename the user or remove the Secret"
    )
}

/// Replaces the user's Secret whole (keys of another authentication type go with it), at the
/// version the cache holds (a conflict is retried with the next pass).
async fn replace_secret(
    ctx: &Context,
    user: &KafkaUser,
    existing: &Secret,
    mut object: Secret,
    reason: EventReason,
    note: &str,
) -> Result<Credentials> {
    let name = user.name_any();
    let ns = existing.namespace().unwrap_or_default();
    object.metadata.resource_version = existing.resource_version();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    secrets.replace(&name, &PostParams::default(), &object).await?;
    ctx.publish(&user.object_ref(&()), EventType::Normal, reason, note, None)
        .await;
    Ok(Credentials::Ready(Some(name)))
}

/// Creates the user's Secret; a Secret of that name that is not the user's is refused (never
/// taken over).
async fn create_secret(
    ucx: &UserContext,
    user: &KafkaUser,
    ns: &str,
    object: Secret,
    reason: EventReason,
    note: &str,
) -> Credentials {
    let name = user.name_any();
    let secrets: Api<Secret> = Api::namespaced(ucx.ctx.client.clone(), ns);
    match secrets.create(&PostParams::default(), &object).await {
        Ok(_) => {
            ucx.ctx
                .publish(&user.object_ref(&()), EventType::Normal, reason, note, None)
                .await;
            Credentials::Ready(Some(name))
        }
        // Ours but not cached yet: the watch brings it and the next pass goes on.
        Err(kube::Error::Api(e)) if e.code == 409 => match secrets.get_opt(&name).await {
            Ok(Some(s)) if is_users(&s, &name) => Credentials::Ready(Some(name)),
            _ => Credentials::Refused(not_users(&name)),
        },
        Err(e) => Credentials::Refused(format!("cannot create Secret {name:?}: {e}")),
    }
}

/// The client certificate of a tls user, signed by the cluster CA: issued when missing,
/// renewed before it expires, replaced after a CA renewal once the nodes trust the new CA, its
/// bundle kept current ([`user::cert::decide`]). Waits for the cluster's CA.
async fn ensure_cert_secret(
    ucx: &UserContext,
    user: &KafkaUser,
    ns: &str,
    cluster: &KafkaCluster,
) -> Result<Credentials> {
    let ctx = &ucx.ctx;
    let name = user.name_any();
    let names = ClusterNames::new(&cluster.name_any(), ns, &ctx.options.cluster_domain);
    let Some(ca) = ca_view(ctx, &names) else {
        return Ok(Credentials::Pending(format!(
            "waiting for the CA of KafkaCluster {:?} (Secret {}) to sign the client certificate",
            user.spec.cluster,
            names.ca_cert_secret()
        )));
    };
    let settings = crate::tls::settings(&cluster.spec).ok().flatten();
    let (validity, renew_before) = settings.as_ref().map_or(
        (
            crate::tls::DEFAULT_CERT_VALIDITY_DAYS,
            crate::tls::DEFAULT_RENEW_BEFORE_DAYS,
        ),
        |s| (s.cert_validity_days, s.cert_renew_before_days),
    );
    let existing = ucx.secrets.get(&ObjectRef::new(&name).within(ns));
    let have = existing.as_deref().and_then(tls_secrets::cert_info);
    let bundle_in = existing
        .as_deref()
        .and_then(|s| tls_secrets::text(s, user::cert::CA_KEY));
    let now = super::status::now().as_second();
    let step = user::cert::decide(have.as_ref(), bundle_in.as_deref(), &ca, now, renew_before);
    let (cert, info, why) = match (step, existing.as_deref()) {
        (CertStep::Keep, _) => return Ok(Credentials::Ready(Some(name))),
        (CertStep::UpdateBundle, Some(s)) => match (user::cert::keyed(s), have) {
            (Some(cert), Some(info)) => (cert, info, None),
            _ => return Ok(Credentials::Pending("the user's Secret is unreadable".into())),
        },
        (CertStep::Issue(_), _) | (CertStep::UpdateBundle, None) => {
            let why = match step {
                CertStep::Issue(why) => why,
                _ => crate::tls::plan::Why::Missing,
            };
            let Some(signer) = signing_ca(ctx, &names, settings.as_ref()).await? else {
                return Ok(Credentials::Pending(
                    "the cluster CA's key is not readable".into(),
                ));
            };
            let (cert, info) = crate::tls::issue::issue_user(&signer, &name, now, validity)?;
            (cert, info, Some(why))
        }
    };
    let owner = user.controller_owner_ref(&());
    let object = user::cert::cert_secret(ns, &user.spec.cluster, &name, &cert, &info, &ca.bundle, owner);
    let note = format!(
        "issued the client certificate CN={name},O={} in Secret {name} ({})",
        crate::tls::issue::USER_ORGANIZATION,
        why.map_or("trust bundle updated", |w| w.as_str())
    );
    let reason = EventReason::UserCertificateIssued;
    match existing.as_deref() {
        None => return Ok(create_secret(ucx, user, ns, object, reason, &note).await),
        // The user's Secret of a former SCRAM authentication: its password goes.
        Some(old) if secret::password_of(old).is_some() => {
            return replace_secret(ctx, user, old, object, reason, &note).await;
        }
        Some(_) => {}
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let params = PatchParams::apply(crate::FIELD_MANAGER).force();
    secrets.patch(&name, &params, &Patch::Apply(&object)).await?;
    if why.is_some() {
        ctx.publish(
            &user.object_ref(&()),
            EventType::Normal,
            EventReason::UserCertificateIssued,
            &note,
            None,
        )
        .await;
    }
    Ok(Credentials::Ready(Some(name)))
}

/// The cluster's current CA from the Secret cache: the trust bundle, and whether every node
/// trusts its first CA (the operator's certificate is of it).
fn ca_view(ctx: &Context, names: &ClusterNames) -> Option<CaView> {
    let cached = |name: String| {
        ctx.caches
            .secrets
            .get(&ObjectRef::new(&name).within(&names.namespace))
    };
    let bundle_secret = cached(names.ca_cert_secret())?;
    let bundle = tls_secrets::text(&bundle_secret, crate::tls::BUNDLE_KEY)?;
    let fingerprint = tls_secrets::trusted(&bundle_secret).first()?.clone();
    let settled = cached(names.operator_tls_secret())
        .and_then(|s| tls_secrets::cert_info(&s))
        .is_some_and(|i| i.issuer == fingerprint);
    Some(CaView {
        fingerprint,
        settled,
        bundle,
    })
}

/// The CA that signs: the generated one from the cache, or the user's (`ca.secretName`, read
/// now). None when it is not (yet) readable.
async fn signing_ca(
    ctx: &Context,
    names: &ClusterNames,
    settings: Option<&crate::tls::TlsSettings>,
) -> Result<Option<crate::tls::issue::KeyedCert>> {
    match settings.and_then(|s| s.ca_secret.as_deref()) {
        None => Ok(ctx
            .caches
            .secrets
            .get(&ObjectRef::new(&names.ca_secret()).within(&names.namespace))
            .and_then(|s| tls_secrets::keyed(&s))),
        Some(secret) => {
            let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &names.namespace);
            Ok(api.get_opt(secret).await?.as_ref().and_then(tls_secrets::keyed))
        }
    }
}

/// Records on the Secret that its password is the one Kafka has.
async fn record_applied(ctx: &Context, ns: &str, name: &str, fingerprint: &str) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let patch = json!({"metadata": {"annotations": {SCRAM_APPLIED: fingerprint}}});
    secrets
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// A deleted KafkaUser: its credentials, ACLs and quotas leave Kafka, then the finalizer goes.
/// A cluster that no longer exists holds nothing of the user.
async fn finalize(
    users: &Api<KafkaUser>,
    user: &KafkaUser,
    cluster: Option<&KafkaCluster>,
    ctx: &Context,
) -> Result<Action> {
    if !has_finalizer(user) {
        return Ok(Action::await_change());
    }
    let name = user.name_any();
    let ns = user.namespace().unwrap_or_default();
    if let Some(cluster) = cluster {
        let authorizer = user::offer(&cluster.spec).authorization;
        let cleaned = match admin_for(cluster, &ns, ctx) {
            Ok(admin) => remove_user(&admin, &name, authorizer).await,
            Err(e) => Err(e),
        };
        if let Err(e) = cleaned {
            let message = format!("removing User:{name} from Kafka: {e}");
            publish(ctx, user, false, UserReason::KafkaUnavailable, &message, None).await?;
            return Ok(Action::requeue(KAFKA_RETRY));
        }
        info!("removed the user's credentials, ACLs and quotas from Kafka");
    }
    let to: Vec<String> = user
        .finalizers()
        .iter()
        .filter(|f| *f != USER_FINALIZER)
        .cloned()
        .collect();
    set_finalizers(users, user, &to).await?;
    Ok(Action::await_change())
}

/// Writes the status when it changed, with an Event when Ready turns False or its reason
/// changes (so a steady refusal is reported once).
async fn publish(
    ctx: &Context,
    user: &KafkaUser,
    ready: bool,
    reason: UserReason,
    message: &str,
    secret: Option<String>,
) -> Result<()> {
    let next = user::status(user, ready, reason, message, secret, super::status::now());
    let previous: Option<&KafkaUserStatus> = user.status.as_ref();
    if previous == Some(&next) {
        return Ok(());
    }
    let reason_changed = previous
        .and_then(|s| s.conditions.first())
        .is_none_or(|c| c.reason != reason.as_str());
    if !ready && reason_changed {
        ctx.publish(
            &user.object_ref(&()),
            EventType::Warning,
            EventReason::UserRefused,
            message,
            None,
        )
        .await;
    }
    super::status::apply_status(&ctx.client, user, &next).await
}
