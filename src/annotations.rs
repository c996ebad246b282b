//! Every annotation key (and the finalizer) the operator reads or writes, in one place.
//! Labels, which select objects, live in [`crate::labels`].

// --- On the KafkaCluster, set by users (or `kraftwerk plan --approve`) --------------------------

/// Restart every node once per distinct value.
pub const RESTART: &str = "kraftwerk.dev/restart";
/// Restart the listed node ids (`"1,2"`, optionally `"1,2@token"`) once per distinct value.
pub const RESTART_NODES: &str = "kraftwerk.dev/restart-nodes";
/// Replace the listed node ids (`"1,2"`, optionally `"1,2@token"`) once per distinct value:
/// their volume is discarded and the pod scheduled afresh (`kraftwerk pod replace`).
pub const REPLACE_NODES: &str = "kraftwerk.dev/replace-nodes";
/// `"true"`: roll on pod readiness only, without Kafka's safety gates. For simulated clusters
/// (kwok) where no Kafka runs; never on a real cluster.
pub const SKIP_KAFKA_GATES: &str = "kraftwerk.dev/skip-kafka-gates";
/// The change (as `status.rollout.awaitingApproval` names it) whose canary the user approved,
/// so the rest of that change rolls while `spec.rollout.canary` stays on.
pub const CANARY_APPROVED: &str = "kraftwerk.dev/canary-approved";
/// Rebalance partitions once per distinct value, without a scale change.
pub const REBALANCE: &str = "kraftwerk.dev/rebalance";
/// `"true"`: remove surplus brokers without asking Kafka whether they still hold data.
pub const ALLOW_UNSAFE_SCALE_DOWN: &str = "kraftwerk.dev/allow-unsafe-scale-down";
/// `"true"`: a cluster formatted with a static quorum keeps it (no `kraft.version` upgrade;
/// its controller count stays fixed).
pub const KEEP_STATIC_QUORUM: &str = "kraftwerk.dev/keep-static-quorum";

// --- On pods, written by the operator ----------------------------------------------------------

/// Hash of everything that shapes a node's process; a difference means the pod must restart
/// (or, for dynamic broker keys only, be reconfigured live).
pub const CONFIG_HASH: &str = "kraftwerk.dev/config-hash";
/// Digest of what only a restart changes, as the pod runs it.
pub const STATIC_HASH: &str = "kraftwerk.dev/static-hash";
/// The dynamic broker keys the node runs with (JSON object).
pub const DYNAMIC_CONFIG: &str = "kraftwerk.dev/dynamic-config";
/// The config hash whose live update failed (falls back to a restart).
pub const LIVE_UPDATE_FAILED: &str = "kraftwerk.dev/live-update-failed";
/// The broker's rack, read by its start script through a downward API volume.
pub const RACK: &str = "kraftwerk.dev/rack";
/// On a broker pod: its external listeners' advertised addresses that depend on where it runs
/// (`NAME://host:port,...`: the node's address and node port, or the load balancer's
/// address), set by the operator once known; the start script waits for it and appends it to
/// `advertised.listeners` (see `crate::listeners`).
pub const ADVERTISED_LISTENERS: &str = "kraftwerk.dev/advertised-listeners";

/// The TLS digest the pod was built with: its trust bundle and its certificate
/// (`tls::plan::node_digest`); the CA renewal waits on it.
pub const TLS_DIGEST: &str = "kraftwerk.dev/tls-digest";

// --- On the TLS Secrets (the state of certificate issuance) -------------------------------------

/// Expiry of the Secret's certificate, seconds since the epoch.
pub const TLS_NOT_AFTER: &str = "kraftwerk.dev/tls-not-after";
/// Fingerprint of the Secret's certificate.
pub const TLS_FINGERPRINT: &str = "kraftwerk.dev/tls-fingerprint";
/// Fingerprint of the CA that signed it.
pub const TLS_ISSUER: &str = "kraftwerk.dev/tls-issuer";
/// Digest of its DNS names.
pub const TLS_SANS: &str = "kraftwerk.dev/tls-sans";
/// On the CA Secret: previous CAs still trusted during a renewal (comma-separated
/// fingerprints); on the trust bundle Secret: the CAs it holds, current first.
pub const TLS_TRUSTED: &str = "kraftwerk.dev/tls-trusted";

// --- On node ConfigMaps (they outlive pods) ------------------------------------------------------

/// The manual restart request served, and the uid of the pod restarted for it
/// (`<request>@<uid>`).
pub const RESTARTED_FOR: &str = "kraftwerk.dev/restarted-for";
/// The replace request served (a `kraftwerk.dev/replace-nodes` value, or `placement:<node>`),
/// and the uid of the pod replaced for it (`<request>@<uid>`).
pub const REPLACED_FOR: &str = "kraftwerk.dev/replaced-for";
/// The change (config hash, and manual request if any) this node was the canary of.
pub const CANARY: &str = "kraftwerk.dev/canary";

// --- On PVCs ----------------------------------------------------------------------------------

/// Cluster id recorded on each claim, so a recreated KafkaCluster can adopt retained data.
pub const CLUSTER_ID: &str = "kraftwerk.dev/cluster-id";

// --- On controller pods and PVCs -----------------------------------------------------------------

/// `Dynamic` on the controller objects of a cluster formatted with the dynamic quorum
/// (KIP-853); controllers without it were formatted with a static voter list.
pub const QUORUM: &str = "kraftwerk.dev/quorum";

// --- Finalizer ------------------------------------------------------------------------------

/// Held on each KafkaCluster so its brokers stop before its controllers on deletion.
pub const FINALIZER: &str = "kraftwerk.dev/ordered-shutdown";

// --- KafkaUser and its credentials Secret --------------------------------------------------------

/// The finalizer on every KafkaUser: its credentials, ACLs and quotas leave Kafka before it goes.
pub const USER_FINALIZER: &str = "kraftwerk.dev/kafka-user";
/// On a KafkaUser's Secret: the fingerprint of the password last applied to Kafka as a SCRAM
/// credential (a changed password in the Secret is applied again).
pub const SCRAM_APPLIED: &str = "kraftwerk.dev/scram-applied";
