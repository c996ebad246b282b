//! The TLS Secrets, built and read back (pure). Certificates' state lives in annotations
//! ([`crate::annotations`]), so the planner reads no PEM; keys only ever go into `data`.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::issue::{CertInfo, KeyedCert};
use super::{BUNDLE_KEY, CERT_KEY, KEY_KEY, PREVIOUS_KEY};
use crate::annotations as a;
use crate::labels;
use crate::names::ClusterNames;

/// The Secret type of certificate Secrets.
pub const TLS_TYPE: &str = "kubernetes.io/tls";

fn meta(
    names: &ClusterNames,
    name: String,
    annotations: BTreeMap<String, String>,
    owner: Option<&OwnerReference>,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: Some(names.namespace.clone()),
        labels: Some(labels::cluster_labels(&names.cluster)),
        annotations: Some(annotations),
        owner_references: owner.map(|o| vec![o.clone()]),
        ..Default::default()
    }
}

/// The annotations recording a certificate's state (what the planners read).
pub fn info_annotations(info: &CertInfo) -> BTreeMap<String, String> {
    BTreeMap::from([
        (a::TLS_NOT_AFTER.into(), info.not_after.to_string()),
        (a::TLS_FINGERPRINT.into(), info.fingerprint.clone()),
        (a::TLS_ISSUER.into(), info.issuer.clone()),
        (a::TLS_SANS.into(), info.sans.clone()),
    ])
}

fn data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_string(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

/// A certificate Secret: `tls.crt` (the certificate, then its CA), `tls.key`, and its state.
pub fn cert_secret(
    names: &ClusterNames,
    name: &str,
    cert: &KeyedCert,
    ca_pem: &str,
    info: &CertInfo,
    owner: Option<&OwnerReference>,
) -> Secret {
    let chain = format!("{}{}", cert.cert_pem, ca_pem);
    Secret {
        metadata: meta(names, name.into(), info_annotations(info), owner),
        type_: Some(TLS_TYPE.into()),
        data: Some(data(&[(CERT_KEY, &chain), (KEY_KEY, &cert.key_pem)])),
        ..Default::default()
    }
}

/// The operator's CA Secret: the current CA, and the previous CAs' certificates still trusted.
pub fn ca_secret(
    names: &ClusterNames,
    ca: &KeyedCert,
    info: &CertInfo,
    previous: &[(String, String)],
    owner: Option<&OwnerReference>,
) -> Secret {
    let mut annotations = info_annotations(info);
    let fingerprints: Vec<&str> = previous.iter().map(|(fp, _)| fp.as_str()).collect();
    annotations.insert(a::TLS_TRUSTED.into(), fingerprints.join(","));
    let previous_pem: String = previous.iter().map(|(_, pem)| pem.as_str()).collect();
    Secret {
        metadata: meta(names, names.ca_secret(), annotations, owner),
        type_: Some(TLS_TYPE.into()),
        data: Some(data(&[
            (CERT_KEY, &ca.cert_pem),
            (KEY_KEY, &ca.key_pem),
            (PREVIOUS_KEY, &previous_pem),
        ])),
        ..Default::default()
    }
}

/// The trust bundle: `ca.crt` holds the CA certificates, current first; public.
pub fn bundle_secret(
    names: &ClusterNames,
    cas: &[(String, String)],
    owner: Option<&OwnerReference>,
) -> Secret {
    let fingerprints: Vec<&str> = cas.iter().map(|(fp, _)| fp.as_str()).collect();
    let pem: String = cas.iter().map(|(_, pem)| pem.as_str()).collect();
    let annotations = BTreeMap::from([(a::TLS_TRUSTED.to_string(), fingerprints.join(","))]);
    Secret {
        metadata: meta(names, names.ca_cert_secret(), annotations, owner),
        data: Some(data(&[(BUNDLE_KEY, &pem)])),
        ..Default::default()
    }
}

/// The recorded state of a certificate Secret (None when an annotation is missing or bad).
pub fn cert_info(secret: &Secret) -> Option<CertInfo> {
    let get = |k: &str| secret.metadata.annotations.as_ref()?.get(k).cloned();
    Some(CertInfo {
        not_after: get(a::TLS_NOT_AFTER)?.parse().ok()?,
        fingerprint: get(a::TLS_FINGERPRINT)?,
        issuer: get(a::TLS_ISSUER)?,
        sans: get(a::TLS_SANS)?,
    })
}

/// The fingerprints a CA or bundle Secret records as trusted, in order.
pub fn trusted(secret: &Secret) -> Vec<String> {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|m| m.get(a::TLS_TRUSTED))
        .map(|v| v.split(',').filter(|s| !s.is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

/// A data value as text.
pub fn text(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()?
        .get(key)
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
}

/// The certificate and key of a Secret with `tls.crt` and `tls.key`.
pub fn keyed(secret: &Secret) -> Option<KeyedCert> {
    Some(KeyedCert {
        cert_pem: text(secret, CERT_KEY)?,
        key_pem: text(secret, KEY_KEY)?,
    })
}

/// The PEM certificates in `pem`, each as its own PEM text.
pub fn split_certificates(pem: &str) -> Vec<String> {
    let end = "-----END CERTIFICATE-----";
    pem.split_inclusive(end)
        .filter(|c| c.contains("-----BEGIN CERTIFICATE-----"))
        .map(|c| format!("{}\n", c.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::issue::{Subject, generate_ca, issue};

    #[test]
    fn a_certificate_secret_reads_back_its_state_and_keeps_the_key_in_data_only() {
        let names = ClusterNames::new("demo", "kafka", "cluster.local");
        let (ca, _) = generate_ca("ca", 1_800_000_000, 10).unwrap();
        let subject = Subject {
            common_name: "demo-kafka".into(),
            sans: vec!["a.b".into()],
        };
        let (leaf, info) = issue(&ca, &subject, 1_800_000_000, 5).unwrap();
        let secret = cert_secret(&names, "demo-broker-0-tls", &leaf, &ca.cert_pem, &info, None);
        assert_eq!(cert_info(&secret), Some(info));
        assert_eq!(keyed(&secret).map(|k| k.key_pem), Some(leaf.key_pem.clone()));
        let meta = serde_json::to_string(&secret.metadata).unwrap();
        assert!(!meta.contains("PRIVATE KEY"), "{meta}");
        assert_eq!(split_certificates(&text(&secret, CERT_KEY).unwrap()).len(), 2);
        assert_eq!(secret.type_.as_deref(), Some(TLS_TYPE));
    }

    #[test]
    fn the_bundle_records_its_fingerprints_in_order() {
        let names = ClusterNames::new("demo", "kafka", "cluster.local");
        let cas = vec![
            ("new".to_string(), "N\n".to_string()),
            ("old".to_string(), "O\n".to_string()),
        ];
        let secret = bundle_secret(&names, &cas, None);
        assert_eq!(trusted(&secret), ["new", "old"]);
        assert_eq!(text(&secret, BUNDLE_KEY).as_deref(), Some("N\nO\n"));
        assert_eq!(secret.metadata.name.as_deref(), Some("demo-cluster-ca-cert"));
    }
}
