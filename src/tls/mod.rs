//! TLS of a cluster: the settings validation derives from the spec, the certificates the
//! operator issues (pure: [`issue`]), and the planner deciding what to issue or renew when
//! ([`plan`]). The executor that reads and writes the Secrets is `controller::tls`.

use crate::crd::KafkaClusterSpec;

/// The reserved listener of internal TLS: inter-broker traffic and the operator's own admin
/// connections, TLS with client certificates of the cluster CA.
pub const REPLICATION_LISTENER: &str = "REPLICATION";
/// Its port.
pub const REPLICATION_PORT: i32 = 9091;

/// Default validity of a generated cluster CA (five years).
pub const DEFAULT_CA_VALIDITY_DAYS: u32 = 1825;
/// Default validity of a node certificate.
pub const DEFAULT_CERT_VALIDITY_DAYS: u32 = 365;
/// Default renewal margin of both.
pub const DEFAULT_RENEW_BEFORE_DAYS: u32 = 30;

/// The cluster's TLS after defaults: present when any listener uses TLS or internal TLS is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// Internal TLS: CONTROLLER and REPLICATION listeners with mutual TLS.
    pub internal: bool,
    /// The user's CA Secret; None: the operator's generated CA.
    pub ca_secret: Option<String>,
    pub ca_validity_days: u32,
    pub ca_renew_before_days: u32,
    pub cert_validity_days: u32,
    pub cert_renew_before_days: u32,
}

/// Whether internal TLS is on in `spec`.
pub fn internal_enabled(spec: &KafkaClusterSpec) -> bool {
    spec.security
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .is_some_and(|t| t.enabled)
}

/// The TLS settings of `spec` (None when nothing uses TLS), or the field and reason refused.
pub fn settings(spec: &KafkaClusterSpec) -> Result<Option<TlsSettings>, (String, String)> {
    let internal = internal_enabled(spec);
    if !internal && !spec.listeners.iter().any(|l| l.tls) {
        return Ok(None);
    }
    let tls = spec
        .security
        .as_ref()
        .and_then(|s| s.tls.clone())
        .unwrap_or_default();
    let ca = tls.ca.unwrap_or_default();
    let certs = tls.certificates.unwrap_or_default();
    let settings = TlsSettings {
        internal,
        ca_secret: ca.secret_name,
        ca_validity_days: ca.validity_days.unwrap_or(DEFAULT_CA_VALIDITY_DAYS),
        ca_renew_before_days: ca.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS),
        cert_validity_days: certs.validity_days.unwrap_or(DEFAULT_CERT_VALIDITY_DAYS),
        cert_renew_before_days: certs.renew_before_days.unwrap_or(DEFAULT_RENEW_BEFORE_DAYS),
    };
    if settings.ca_renew_before_days >= settings.ca_validity_days {
        return Err((
            "spec.security.tls.ca.renewBeforeDays".into(),
            "must be less than ca.validityDays".into(),
        ));
    }
    if settings.cert_renew_before_days >= settings.cert_validity_days {
        return Err((
            "spec.security.tls.certificates.renewBeforeDays".into(),
            "must be less than certificates.validityDays".into(),
        ));
    }
    Ok(Some(settings))
}
