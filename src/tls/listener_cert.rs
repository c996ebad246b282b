//! A user-provided server certificate for a listener (`spec.listeners[].certificateSecret`),
//! pure: the names it must cover, the check of the Secret against them, where brokers mount
//! it and the keys that make Kafka serve it on that listener. The executor
//! (`controller::tls`) reads the Secret and reports a failed check as a refusal naming the
//! field; nothing is applied until it passes.

use k8s_openapi::api::core::v1::Secret;

use super::{CERT_KEY, CONFIG_PROVIDER, KEY_KEY};
use crate::crd::{KafkaClusterSpec, ListenerSpec, ListenerType};
use crate::names::{ClusterNames, Role};

/// Where brokers mount a listener's certificate Secret: `<root>/<listener, lower case>`.
pub const MOUNT_ROOT: &str = "/etc/kraftwerk/tls/listener";

/// The mount directory of listener `name`'s certificate.
pub fn mount(name: &str) -> String {
    format!("{MOUNT_ROOT}/{}", name.to_ascii_lowercase())
}

/// The field of listener `index`'s certificate Secret.
pub fn field(index: usize) -> String {
    format!("spec.listeners[{index}].certificateSecret")
}

/// The names a client of `listener` dials and verifies: an internal listener's brokers
/// advertise their DNS names and clients bootstrap through the bootstrap Service; an external
/// listener's names are the `advertisedHost`s of the spec (node and load-balancer addresses
/// are only known at run time and are not checked).
pub fn hostnames(spec: &KafkaClusterSpec, names: &ClusterNames, listener: &ListenerSpec) -> Vec<String> {
    let mut out: Vec<String> = match listener.type_ {
        ListenerType::Internal => spec
            .brokers
            .ids()
            .into_iter()
            .map(|id| names.node_fqdn(Role::Broker, id))
            .chain([names.bootstrap_fqdn()])
            .collect(),
        _ => listener
            .brokers
            .iter()
            .filter_map(|b| b.advertised_host.clone())
            .collect(),
    };
    out.sort();
    out.dedup();
    out
}

/// Whether SAN `pattern` (a DNS name, possibly `*.` + domain, or an IP address) covers `host`,
/// as TLS hostname verification decides (a wildcard covers exactly one left-most label).
pub fn covers(pattern: &str, host: &str) -> bool {
    let (pattern, host) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match pattern.strip_prefix("*.") {
        Some(domain) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == domain),
        None => pattern == host,
    }
}

/// Checks the Secret named `secret_name` (None: it does not exist) for `hostnames` at `now`:
/// `tls.crt` and `tls.key` present, the key the certificate's, not expired, every name
/// covered. Returns the certificate's fingerprint (it rolls the brokers when it changes), or
/// the reason it is refused.
pub fn check(
    secret_name: &str,
    secret: Option<&Secret>,
    hostnames: &[String],
    now: i64,
) -> Result<String, String> {
    let Some(secret) = secret else {
        return Err(format!("Secret {secret_name} does not exist"));
    };
    let Some(keyed) = super::secrets::keyed(secret) else {
        return Err(format!(
            "Secret {secret_name} must hold {CERT_KEY} and {KEY_KEY} (PEM)"
        ));
    };
    let bad = |e: String| format!("Secret {secret_name}: {e}");
    let der = super::issue::first_der(&keyed.cert_pem, CERT_KEY).map_err(|e| bad(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| bad(format!("{CERT_KEY}: {e}")))?;
    let key = rcgen::KeyPair::from_pem(&keyed.key_pem).map_err(|e| bad(format!("{KEY_KEY}: {e}")))?;
    if key.public_key_raw() != &*cert.public_key().subject_public_key.data {
        return Err(bad(format!(
            "{KEY_KEY} is not the key of the certificate in {CERT_KEY}"
        )));
    }
    if cert.validity().not_after.timestamp() <= now {
        return Err(bad(format!("the certificate in {CERT_KEY} has expired")));
    }
    let sans = subject_alt_names(&cert);
    let uncovered: Vec<&str> = hostnames
        .iter()
        .filter(|h| !sans.iter().any(|s| covers(s, h)))
        .map(String::as_str)
        .collect();
    if !uncovered.is_empty() {
        return Err(bad(format!(
            "the certificate does not cover {} (it names {})",
            uncovered.join(", "),
            if sans.is_empty() {
                "nothing".to_string()
            } else {
                sans.join(", ")
            }
        )));
    }
    super::issue::fingerprint(&keyed.cert_pem).map_err(|e| bad(e.to_string()))
}

/// The DNS names and IP addresses a certificate names.
fn subject_alt_names(cert: &x509_parser::certificate::X509Certificate<'_>) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_string()),
            GeneralName::IPAddress(b) => ip(b),
            _ => None,
        })
        .collect()
}

fn ip(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

/// The keys that make Kafka serve the mounted certificate on listener `name` (read through the
/// config provider, like the node's).
pub fn listener_properties(name: &str) -> Vec<(String, String)> {
    let prefix = format!("listener.name.{}.ssl", name.to_ascii_lowercase());
    let dir = mount(name);
    let from_mount = |key: &str| format!("${{{CONFIG_PROVIDER}:{dir}:{key}}}");
    vec![
        (format!("{prefix}.keystore.type"), "PEM".into()),
        (
            format!("{prefix}.keystore.certificate.chain"),
            from_mount(CERT_KEY),
        ),
        (format!("{prefix}.keystore.key"), from_mount(KEY_KEY)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::issue::{Subject, generate_ca, issue};
    use crate::tls::secrets::cert_secret;

    const NOW: i64 = 1_800_000_000;

    fn spec(yaml: &str) -> KafkaClusterSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn names() -> ClusterNames {
        ClusterNames::new("demo", "kafka", "cluster.local")
    }

    fn secret_for(sans: &[&str]) -> Secret {
        let (ca, _) = generate_ca("other-ca", NOW, 10).unwrap();
        let subject = Subject {
            common_name: "kafka.example.com".into(),
            sans: sans.iter().map(|s| s.to_string()).collect(),
        };
        let (cert, info) = issue(&ca, &subject, NOW, 5).unwrap();
        cert_secret(&names(), "mine", &cert, &ca.cert_pem, &info, None)
    }

    #[test]
    fn internal_listeners_need_the_broker_and_bootstrap_names_external_ones_their_hosts() {
        let s = spec(
            "brokers: {replicas: 2}\nlisteners: [{name: TLS, port: 9092, tls: true}, {name: EXT, port: 9094, tls: true, type: nodeport, brokers: [{id: 0, advertisedHost: k0.example.com}]}]",
        );
        assert_eq!(
            hostnames(&s, &names(), &s.listeners[0]),
            [
                "demo-broker-0.demo-kafka-headless.kafka.svc.cluster.local",
                "demo-broker-1.demo-kafka-headless.kafka.svc.cluster.local",
                "demo-kafka-bootstrap.kafka.svc.cluster.local",
            ]
        );
        assert_eq!(hostnames(&s, &names(), &s.listeners[1]), ["k0.example.com"]);
    }

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("*.example.com", "k0.example.com"));
        assert!(covers("K0.Example.com", "k0.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("k0.example.com", "k1.example.com"));
    }

    #[test]
    fn a_covering_certificate_passes_and_gives_its_fingerprint() {
        let secret = secret_for(&["*.demo-kafka-headless.kafka.svc.cluster.local", "127.0.0.1"]);
        let hosts = vec!["demo-broker-0.demo-kafka-headless.kafka.svc.cluster.local".to_string()];
        let fp = check("mine", Some(&secret), &hosts, NOW).unwrap();
        assert_eq!(fp.len(), 16);
        assert!(check("mine", Some(&secret), &["127.0.0.1".into()], NOW).is_ok());
    }

    #[test]
    fn missing_uncovered_expired_or_mismatched_are_refused_with_the_reason() {
        let hosts = vec!["demo-kafka-bootstrap.kafka.svc.cluster.local".to_string()];
        let err = check("mine", None, &hosts, NOW).unwrap_err();
        assert_eq!(err, "Secret mine does not exist");
        let secret = secret_for(&["kafka.example.com"]);
        let err = check("mine", Some(&secret), &hosts, NOW).unwrap_err();
        assert!(
            err.contains("does not cover demo-kafka-bootstrap.kafka.svc.cluster.local")
                && err.contains("it names kafka.example.com"),
            "{err}"
        );
        let err = check("mine", Some(&secret), &[], NOW + 30 * 86_400).unwrap_err();
        assert!(err.contains("expired"), "{err}");
        let mut swapped = secret.clone();
        let other = secret_for(&["kafka.example.com"]);
        swapped
            .data
            .as_mut()
            .unwrap()
            .insert(KEY_KEY.into(), other.data.unwrap()[KEY_KEY].clone());
        let err = check("mine", Some(&swapped), &[], NOW).unwrap_err();
        assert!(err.contains("is not the key"), "{err}");
        let mut empty = secret;
        empty.data = None;
        assert!(
            check("mine", Some(&empty), &[], NOW)
                .unwrap_err()
                .contains("must hold tls.crt")
        );
    }

    #[test]
    fn kafka_reads_the_listener_certificate_from_its_mount() {
        let p = listener_properties("EXT");
        assert_eq!(p[0], ("listener.name.ext.ssl.keystore.type".into(), "PEM".into()));
        assert_eq!(p[1].1, "${kraftwerktls:/etc/kraftwerk/tls/listener/ext:tls.crt}");
    }
}
