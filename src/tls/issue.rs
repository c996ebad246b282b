//! Certificate issuance with rcgen (ECDSA P-256, ring): the cluster CA, node server
//! certificates and client certificates, all PEM (Kafka reads PEM key and trust stores). No I/O;
//! keys come from the system's random source.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// A certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation: {0}")]
    Generate(String),
    #[error("{what} is not a usable PEM certificate or key: {detail}")]
    Parse { what: String, detail: String },
}

impl TlsError {
    pub fn kind(&self) -> &'static str {
        match self {
            TlsError::Generate(_) => "tls_generate",
            TlsError::Parse { .. } => "tls_parse",
        }
    }
}

/// A certificate and its private key (PEM). `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl fmt::Debug for KeyedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedCert")
            .field("cert_pem_bytes", &self.cert_pem.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// What the planner needs to know of a certificate (kept in its Secret's annotations).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertInfo {
    /// Expiry, seconds since the epoch.
    pub not_after: i64,
    /// Fingerprint of this certificate.
    pub fingerprint: String,
    /// Fingerprint of the CA that signed it (itself for a CA).
    pub issuer: String,
    /// Digest of its subject alternative names.
    pub sans: String,
}

/// Who a leaf certificate is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub common_name: String,
    /// DNS names; empty for a client certificate.
    pub sans: Vec<String>,
}

/// A short, stable digest (16 hex digits of SHA-256).
pub fn short_digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The digest of a list of subject alternative names, as recorded on a certificate's Secret.
pub fn sans_digest(sans: &[String]) -> String {
    short_digest(sans.join(",").as_bytes())
}

/// The fingerprint of the first certificate in `pem` (digest of its DER).
pub fn fingerprint(pem: &str) -> Result<String, TlsError> {
    let der = first_der(pem, "certificate")?;
    Ok(short_digest(&der))
}

pub(crate) fn first_der(pem: &str, what: &str) -> Result<Vec<u8>, TlsError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| TlsError::Parse {
            what: what.into(),
            detail: "no CERTIFICATE block".into(),
        })?
        .map(|c| c.to_vec())
        .map_err(|e| TlsError::Parse {
            what: what.into(),
            detail: e.to_string(),
        })
}

/// Expiry (seconds since the epoch) of the first certificate in `pem`.
pub fn not_after(pem: &str) -> Result<i64, TlsError> {
    let der = first_der(pem, "certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| TlsError::Parse {
        what: "certificate".into(),
        detail: e.to_string(),
    })?;
    Ok(cert.validity().not_after.timestamp())
}

fn generation_error(e: rcgen::Error) -> TlsError {
    TlsError::Generate(e.to_string())
}

fn window(now: i64, validity_days: u32) -> Result<(OffsetDateTime, OffsetDateTime), TlsError> {
    // Backdated an hour, so a node whose clock is a little behind accepts it.
    let start = OffsetDateTime::from_unix_timestamp(now).map_err(|e| TlsError::Generate(e.to_string()))?
        - Duration::hours(1);
    Ok((
        start,
        start + Duration::days(i64::from(validity_days)) + Duration::hours(1),
    ))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

/// A new self-signed CA.
pub fn generate_ca(
    common_name: &str,
    now: i64,
    validity_days: u32,
) -> Result<(KeyedCert, CertInfo), TlsError> {
    let key = KeyPair::generate().map_err(generation_error)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(generation_error)?;
    (params.not_before, params.not_after) = window(now, validity_days)?;
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).map_err(generation_error)?;
    let keyed = KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    let fp = short_digest(cert.der());
    let info = CertInfo {
        not_after: params.not_after.unix_timestamp(),
        fingerprint: fp.clone(),
        issuer: fp,
        sans: sans_digest(&[]),
    };
    Ok((keyed, info))
}

/// A leaf certificate for `subject`, signed by `ca`: a server and client certificate when it
/// has DNS names (nodes talk to each other both ways), a client certificate otherwise.
pub fn issue(
    ca: &KeyedCert,
    subject: &Subject,
    now: i64,
    validity_days: u32,
) -> Result<(KeyedCert, CertInfo), TlsError> {
    issue_named(ca, name(&subject.common_name), &subject.sans, now, validity_days)
}

/// The organization of users' client certificates: their subject is
/// `CN=<user>,O=kraftwerk-users`, a DN no node or operator certificate has.
pub const USER_ORGANIZATION: &str = "kraftwerk-users";

/// A user's client certificate, signed by `ca`, subject `CN=<user>,O=kraftwerk-users` (as Java
/// prints it, RFC 2253: the CN first, so mutual-TLS listeners map it to the user name).
pub fn issue_user(
    ca: &KeyedCert,
    user: &str,
    now: i64,
    validity_days: u32,
) -> Result<(KeyedCert, CertInfo), TlsError> {
    // RFC 2253 prints the RDNs last first: O is encoded before CN.
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, USER_ORGANIZATION);
    dn.push(DnType::CommonName, user);
    issue_named(ca, dn, &[], now, validity_days)
}

fn issue_named(
    ca: &KeyedCert,
    dn: DistinguishedName,
    sans: &[String],
    now: i64,
    validity_days: u32,
) -> Result<(KeyedCert, CertInfo), TlsError> {
    let parse = |what: &str, e: rcgen::Error| TlsError::Parse {
        what: what.into(),
        detail: e.to_string(),
    };
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| parse("CA key", e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| parse("CA certificate", e))?;
    let key = KeyPair::generate().map_err(generation_error)?;
    let mut params = CertificateParams::new(sans.to_vec()).map_err(generation_error)?;
    (params.not_before, params.not_after) = window(now, validity_days)?;
    params.distinguished_name = dn;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = if sans.is_empty() {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    } else {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    };
    let cert = params.signed_by(&key, &issuer).map_err(generation_error)?;
    let info = CertInfo {
        not_after: params.not_after.unix_timestamp(),
        fingerprint: short_digest(cert.der()),
        issuer: fingerprint(&ca.cert_pem)?,
        sans: sans_digest(sans),
    };
    Ok((
        KeyedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
        info,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_node_certificate_chains_to_its_ca_with_the_names_and_lifetime_asked() {
        let (ca, ca_info) = generate_ca("demo-cluster-ca", NOW, 1825).unwrap();
        assert_eq!(ca_info.fingerprint, fingerprint(&ca.cert_pem).unwrap());
        assert_eq!(ca_info.not_after, not_after(&ca.cert_pem).unwrap());
        let subject = Subject {
            common_name: "demo-kafka".into(),
            sans: vec!["demo-broker-0.demo-kafka-headless.kafka.svc.cluster.local".into()],
        };
        let (leaf, info) = issue(&ca, &subject, NOW, 365).unwrap();
        assert_eq!(info.issuer, ca_info.fingerprint);
        assert_eq!(info.sans, sans_digest(&subject.sans));
        // Valid for the days asked (plus the hour it is backdated and the hour added back).
        assert_eq!(info.not_after, NOW + 365 * 86400);
        assert_eq!(not_after(&leaf.cert_pem).unwrap(), info.not_after);
        assert!(
            leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8 for Kafka"
        );

        let der = first_der(&leaf.cert_pem, "leaf").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let ca_der = first_der(&ca.cert_pem, "ca").unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        assert_eq!(cert.issuer(), ca_cert.subject());
        cert.verify_signature(Some(ca_cert.public_key()))
            .expect("signed by the CA");
        let names: Vec<String> = cert
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            names,
            ["DNSName(demo-broker-0.demo-kafka-headless.kafka.svc.cluster.local)"]
        );
        assert!(ca_cert.is_ca());
    }

    #[test]
    fn another_ca_does_not_verify_the_certificate() {
        let (ca, _) = generate_ca("a", NOW, 10).unwrap();
        let (other, _) = generate_ca("b", NOW, 10).unwrap();
        let subject = Subject {
            common_name: "client".into(),
            sans: vec![],
        };
        let (leaf, _) = issue(&ca, &subject, NOW, 5).unwrap();
        let der = first_der(&leaf.cert_pem, "leaf").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let other_der = first_der(&other.cert_pem, "other").unwrap();
        let (_, other_cert) = x509_parser::parse_x509_certificate(&other_der).unwrap();
        assert!(cert.verify_signature(Some(other_cert.public_key())).is_err());
    }

    #[test]
    fn a_user_certificate_is_a_client_certificate_with_the_user_cn_first() {
        let (ca, ca_info) = generate_ca("demo-cluster-ca", NOW, 10).unwrap();
        let (leaf, info) = issue_user(&ca, "alice", NOW, 5).unwrap();
        assert_eq!(info.issuer, ca_info.fingerprint);
        let der = first_der(&leaf.cert_pem, "leaf").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        let rdns: Vec<String> = cert
            .subject()
            .iter_attributes()
            .map(|a| format!("{}={}", a.attr_type(), a.as_str().unwrap()))
            .collect();
        // Encoded O then CN (OIDs 2.5.4.10, 2.5.4.3): RFC 2253 (Java) prints CN=alice,O=kraftwerk-users.
        assert_eq!(rdns, ["2.5.4.10=kraftwerk-users", "2.5.4.3=alice"]);
        let ca_der = first_der(&ca.cert_pem, "ca").unwrap();
        let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        cert.verify_signature(Some(ca_cert.public_key())).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth, "a client certificate only");
    }

    #[test]
    fn debug_never_prints_a_key() {
        let (ca, _) = generate_ca("a", NOW, 10).unwrap();
        let printed = format!("{ca:?}");
        assert!(!printed.contains("PRIVATE"), "{printed}");
        assert!(!printed.contains(&ca.key_pem[30..60]), "{printed}");
    }

    #[test]
    fn garbage_is_a_parse_error() {
        let bad = KeyedCert {
            cert_pem: "nope".into(),
            key_pem: "nope".into(),
        };
        let subject = Subject {
            common_name: "x".into(),
            sans: vec![],
        };
        let err = issue(&bad, &subject, NOW, 5).unwrap_err();
        assert_eq!(err.kind(), "tls_parse");
        assert!(fingerprint("nope").is_err());
    }
}
