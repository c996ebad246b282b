//! The client certificate of a `tls` user, pure: when to issue or renew it and the Secret that
//! holds it. The cluster CA signs it (subject `CN=<user>,O=kraftwerk-users`, a client
//! certificate only); mutual-TLS listeners trust the cluster's bundle and map the CN to the
//! user name, so the user's ACLs on `User:<user>` apply. The certificate's state is kept in the
//! Secret's annotations (as for node certificates), so a restarted operator decides the same.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::tls::issue::{CertInfo, KeyedCert};
use crate::tls::plan::Why;

/// Secret key of the trust bundle (the cluster CA certificates, current first).
pub const CA_KEY: &str = "ca.crt";
/// Secret key of the user's certificate (PEM).
pub const CERT_KEY: &str = "user.crt";
/// Secret key of the user's private key (PEM, PKCS#8).
pub const KEY_KEY: &str = "user.key";
/// Secret key of a Java PEM key store: the key, then the certificate
/// (`ssl.keystore.type=PEM`, `ssl.keystore.location=user.pem`).
pub const KEYSTORE_KEY: &str = "user.pem";

const DAY: i64 = 86_400;

/// What the user's certificate Secret needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStep {
    Keep,
    /// A new certificate (and key).
    Issue(Why),
    /// The same certificate with the cluster's current trust bundle (a CA renewal began).
    UpdateBundle,
}

/// The cluster's CA as the user controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaView {
    /// Fingerprint of the current CA (the bundle's first).
    pub fingerprint: String,
    /// Whether every node already trusts it: the operator's own certificate is of this CA (the
    /// TLS planner reissues it only once every node runs a bundle with the new CA).
    pub settled: bool,
    /// The trust bundle (PEM).
    pub bundle: String,
}

/// Decides the user's certificate: `have` as recorded on its Secret and the bundle written
/// there, against the CA and the time. A certificate of a previous CA is replaced only once
/// the nodes trust the new CA, so the new certificate works on every broker at once; until
/// then the previous CA stays in the bundle and the old certificate keeps working.
pub fn decide(
    have: Option<&CertInfo>,
    bundle_in_secret: Option<&str>,
    ca: &CaView,
    now: i64,
    renew_before_days: u32,
) -> CertStep {
    let Some(have) = have else {
        return CertStep::Issue(Why::Missing);
    };
    if now >= have.not_after - i64::from(renew_before_days) * DAY {
        return CertStep::Issue(Why::Expiring);
    }
    if have.issuer != ca.fingerprint && ca.settled {
        return CertStep::Issue(Why::NewCa);
    }
    if bundle_in_secret != Some(ca.bundle.as_str()) {
        return CertStep::UpdateBundle;
    }
    CertStep::Keep
}

/// The Secret of a tls user: the bundle, certificate, key and PEM key store; the certificate's
/// state in annotations (never the key).
pub fn cert_secret(
    namespace: &str,
    cluster: &str,
    user: &str,
    cert: &KeyedCert,
    info: &CertInfo,
    bundle: &str,
    owner: Option<OwnerReference>,
) -> Secret {
    let keystore = format!("{}{}", cert.key_pem, cert.cert_pem);
    let data: BTreeMap<String, ByteString> = [
        (CA_KEY, bundle),
        (CERT_KEY, cert.cert_pem.as_str()),
        (KEY_KEY, cert.key_pem.as_str()),
        (KEYSTORE_KEY, keystore.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    Secret {
        metadata: ObjectMeta {
            name: Some(user.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(super::secret::secret_labels(cluster, user)),
            annotations: Some(crate::tls::secrets::info_annotations(info)),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

/// The certificate and key in a user's Secret.
pub fn keyed(secret: &Secret) -> Option<KeyedCert> {
    let text = |k: &str| crate::tls::secrets::text(secret, k);
    Some(KeyedCert {
        cert_pem: text(CERT_KEY)?,
        key_pem: text(KEY_KEY)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::issue::{generate_ca, issue_user};

    const NOW: i64 = 1_800_000_000;

    fn ca(fp: &str, settled: bool) -> CaView {
        CaView {
            fingerprint: fp.into(),
            settled,
            bundle: format!("bundle-{fp}"),
        }
    }

    fn info(issuer: &str, not_after: i64) -> CertInfo {
        CertInfo {
            not_after,
            fingerprint: "leaf".into(),
            issuer: issuer.into(),
            sans: String::new(),
        }
    }

    #[test]
    fn issued_when_missing_or_expiring_kept_otherwise() {
        let current = ca("a", true);
        assert_eq!(
            decide(None, None, &current, NOW, 30),
            CertStep::Issue(Why::Missing)
        );
        let fresh = info("a", NOW + 100 * DAY);
        assert_eq!(
            decide(Some(&fresh), Some("bundle-a"), &current, NOW, 30),
            CertStep::Keep
        );
        let old = info("a", NOW + 29 * DAY);
        assert_eq!(
            decide(Some(&old), Some("bundle-a"), &current, NOW, 30),
            CertStep::Issue(Why::Expiring)
        );
    }

    #[test]
    fn a_new_ca_replaces_the_certificate_only_once_the_nodes_trust_it() {
        let cert = info("a", NOW + 100 * DAY);
        // Step 1 of a renewal: the bundle gains the new CA; the certificate stays, the bundle
        // in the Secret is updated.
        assert_eq!(
            decide(Some(&cert), Some("bundle-a"), &ca("b", false), NOW, 30),
            CertStep::UpdateBundle
        );
        // Step 2: the nodes trust it (the operator's certificate is of the new CA).
        assert_eq!(
            decide(Some(&cert), Some("bundle-b"), &ca("b", true), NOW, 30),
            CertStep::Issue(Why::NewCa)
        );
    }

    #[test]
    fn the_secret_holds_a_key_store_and_no_key_outside_data() {
        let (ca_cert, _) = generate_ca("demo-cluster-ca", NOW, 10).unwrap();
        let (cert, info) = issue_user(&ca_cert, "alice", NOW, 5).unwrap();
        let s = cert_secret("ns", "demo", "alice", &cert, &info, &ca_cert.cert_pem, None);
        let data = s.data.as_ref().unwrap();
        let text = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        assert_eq!(text(CA_KEY), ca_cert.cert_pem);
        assert_eq!(text(KEYSTORE_KEY), format!("{}{}", cert.key_pem, cert.cert_pem));
        assert_eq!(keyed(&s), Some(cert.clone()));
        assert_eq!(crate::tls::secrets::cert_info(&s), Some(info));
        let meta = serde_json::to_string(&s.metadata).unwrap();
        assert!(!meta.contains("PRIVATE"), "{meta}");
        assert_eq!(s.metadata.labels.unwrap()[crate::labels::KAFKA_USER], "alice");
    }
}
