//! Authentication and authorization of a cluster's nodes, pure: what validation derives from
//! the spec ([`settings`], [`check_listeners`]) and the `server.properties` keys it renders
//! ([`node_properties`]): SASL/SCRAM-SHA-512 and mutual-TLS listeners, and KRaft's
//! StandardAuthorizer with the nodes' and the operator's identities as super users.

use crate::crd::{AuthenticationType, KafkaClusterSpec};
use crate::names::Role;
use crate::validate::ValidatedCluster;

/// KRaft's ACL authorizer (ACLs kept in the metadata log).
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// The SASL mechanism of `scram-sha-512` listeners.
pub const SCRAM_MECHANISM: &str = "SCRAM-SHA-512";
/// Server-side JAAS of a SCRAM listener: credentials live in Kafka's metadata, none in the file.
pub const SCRAM_SERVER_JAAS: &str = "org.apache.kafka.common.security.scram.ScramLoginModule required;";
/// On mutual-TLS client listeners the certificate's CN is the user name (`CN=alice,O=x` is
/// `User:alice`), as for KafkaUsers of type tls; other subjects keep the full DN.
pub const CN_MAPPING_RULES: &str = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT";
/// Why authorization needs internal TLS (the CEL rule's message and the operator's refusal).
pub const AUTHORIZATION_NEEDS_TLS: &str = "spec.security.authorization needs spec.security.tls.enabled: without internal TLS the nodes talk on unauthenticated listeners, so their principal User:ANONYMOUS would have to be a super user, and so would every unauthenticated client";

/// Authorization after defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// The user's super users, as principals (`User:<name>`).
    pub super_users: Vec<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

/// The authorization settings of `spec` (None: no authorizer).
pub fn settings(spec: &KafkaClusterSpec) -> Option<Authorization> {
    let a = spec.security.as_ref()?.authorization.as_ref()?;
    Some(Authorization {
        super_users: a.super_users.iter().map(|u| format!("User:{u}")).collect(),
        allow_everyone_if_no_acl_found: a.allow_everyone_if_no_acl_found,
    })
}

/// Refuses authentication on the inter-broker listener without internal TLS: brokers would need
/// credentials of their own before the cluster (and its SCRAM store) exists. Refuses
/// authorization without internal TLS: the inter-broker and controller listeners would be
/// unauthenticated, so the nodes' principal would be `User:ANONYMOUS`, and a super user
/// `User:ANONYMOUS` is every unauthenticated client of every listener.
pub fn check_listeners(spec: &KafkaClusterSpec, refuse: &mut impl FnMut(&str, String)) {
    if crate::tls::internal_enabled(spec) {
        return;
    }
    if settings(spec).is_some() {
        refuse("spec.security.authorization", AUTHORIZATION_NEEDS_TLS.into());
    }
    let inter_broker = spec
        .inter_broker_listener
        .as_deref()
        .or_else(|| spec.listeners.first().map(|l| l.name.as_str()));
    for (i, l) in spec.listeners.iter().enumerate() {
        if l.authentication.is_some() && Some(l.name.as_str()) == inter_broker {
            refuse(
                &format!("spec.listeners[{i}].authentication"),
                format!(
                    "{} is the inter-broker listener: it cannot require authentication unless spec.security.tls.enabled (the REPLICATION listener then carries inter-broker traffic)",
                    l.name
                ),
            );
        }
    }
}

/// The principals the nodes and the operator connect as: their cluster-CA certificates
/// (authorization is refused without internal TLS, [`check_listeners`]).
pub fn internal_principals(cluster: &ValidatedCluster) -> Vec<String> {
    crate::tls::super_users(&cluster.names)
}

/// The authentication and authorization keys of one node. Listener keys go to brokers (the
/// only nodes with client listeners); the authorizer runs on every node.
pub fn node_properties(cluster: &ValidatedCluster, role: Role) -> Vec<(String, String)> {
    let mut props = Vec::new();
    if role == Role::Broker {
        for l in &cluster.listeners {
            let prefix = format!("listener.name.{}", l.name.to_ascii_lowercase());
            match l.authentication {
                Some(AuthenticationType::ScramSha512) => {
                    props.push((
                        format!("{prefix}.sasl.enabled.mechanisms"),
                        SCRAM_MECHANISM.into(),
                    ));
                    props.push((
                        format!(
                            "{prefix}.{}.sasl.jaas.config",
                            SCRAM_MECHANISM.to_ascii_lowercase()
                        ),
                        SCRAM_SERVER_JAAS.into(),
                    ));
                }
                Some(AuthenticationType::Tls) if l.name != crate::tls::REPLICATION_LISTENER => {
                    props.push((
                        format!("{prefix}.ssl.principal.mapping.rules"),
                        CN_MAPPING_RULES.into(),
                    ));
                }
                _ => {}
            }
        }
    }
    if let Some(a) = &cluster.authorization {
        let mut supers = internal_principals(cluster);
        supers.extend(a.super_users.iter().cloned());
        supers.dedup();
        props.push(("authorizer.class.name".into(), STANDARD_AUTHORIZER.into()));
        props.push(("super.users".into(), supers.join(";")));
        props.push((
            "allow.everyone.if.no.acl.found".into(),
            a.allow_everyone_if_no_acl_found.to_string(),
        ));
    }
    props
}

/// Keys the operator renders for authentication and authorization, refused as overrides.
pub fn reserved_key(key: &str) -> bool {
    matches!(
        key,
        "authorizer.class.name" | "super.users" | "allow.everyone.if.no.acl.found"
    ) || key.starts_with("sasl.")
        || key.starts_with("listener.name.") && (key.contains(".sasl.") || key.contains("principal.mapping"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::validated;

    fn props(spec: &str, role: Role) -> Vec<(String, String)> {
        node_properties(&validated(spec), role)
    }

    fn get<'a>(p: &'a [(String, String)], key: &str) -> Option<&'a str> {
        p.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    const SCRAM: &str = r#"
listeners:
  - {name: INTERNAL, port: 9092}
  - {name: CLIENTS, port: 9094, authentication: {type: scram-sha-512}}
security:
  tls: {enabled: true}
  authorization: {type: simple, superUsers: [admin]}
"#;

    #[test]
    fn scram_listener_and_authorizer_are_rendered() {
        let b = props(SCRAM, Role::Broker);
        assert_eq!(
            get(&b, "listener.name.clients.sasl.enabled.mechanisms"),
            Some("SCRAM-SHA-512")
        );
        assert_eq!(
            get(&b, "listener.name.clients.scram-sha-512.sasl.jaas.config"),
            Some(SCRAM_SERVER_JAAS)
        );
        assert_eq!(get(&b, "listener.name.internal.sasl.enabled.mechanisms"), None);
        assert_eq!(get(&b, "authorizer.class.name"), Some(STANDARD_AUTHORIZER));
        assert_eq!(
            get(&b, "super.users"),
            Some("User:CN=demo-kafka;User:CN=kraftwerk-operator;User:admin")
        );
        assert_eq!(get(&b, "allow.everyone.if.no.acl.found"), Some("false"));
        let c = props(SCRAM, Role::Controller);
        assert_eq!(
            get(&c, "authorizer.class.name"),
            Some(STANDARD_AUTHORIZER),
            "controllers authorize too"
        );
        assert_eq!(get(&c, "listener.name.clients.sasl.enabled.mechanisms"), None);
    }

    #[test]
    fn the_full_node_config_carries_the_sasl_protocol() {
        let cluster = validated(SCRAM);
        let all = crate::desired::properties::node_properties(&cluster, Role::Broker, 0);
        let map = get(&all, "listener.security.protocol.map").unwrap();
        assert!(map.contains("CLIENTS:SASL_PLAINTEXT"), "{map}");
        assert!(map.contains("INTERNAL:PLAINTEXT"), "{map}");
        assert!(map.contains("REPLICATION:SSL"), "{map}");
        assert!(!get(&all, "super.users").unwrap().contains("ANONYMOUS"));
    }

    #[test]
    fn with_internal_tls_the_certificates_are_the_super_users() {
        let b = props(
            "security: {tls: {enabled: true}, authorization: {type: simple}}\nlisteners: [{name: CLIENTS, port: 9094, tls: true, authentication: {type: tls}}]",
            Role::Broker,
        );
        assert_eq!(
            get(&b, "super.users"),
            Some("User:CN=demo-kafka;User:CN=kraftwerk-operator")
        );
        assert_eq!(
            get(&b, "listener.name.clients.ssl.principal.mapping.rules"),
            Some(CN_MAPPING_RULES)
        );
        assert_eq!(
            get(&b, "listener.name.replication.ssl.principal.mapping.rules"),
            None,
            "node certificates keep their DN"
        );
    }

    #[test]
    fn no_security_renders_nothing() {
        assert!(props("{}", Role::Broker).is_empty());
    }

    /// `(field, message)` of each refusal of `spec` by [`check_listeners`].
    fn refusals(spec: &str) -> Vec<(String, String)> {
        let spec: KafkaClusterSpec = serde_yaml::from_str(spec).unwrap();
        let mut refused = Vec::new();
        check_listeners(&spec, &mut |f: &str, m: String| refused.push((f.to_string(), m)));
        refused
    }

    #[test]
    fn authentication_on_the_inter_broker_listener_is_refused_without_internal_tls() {
        let refused =
            refusals("listeners: [{name: INTERNAL, port: 9092, authentication: {type: scram-sha-512}}]");
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, "spec.listeners[0].authentication");
        assert!(refusals(SCRAM).is_empty());
    }

    #[test]
    fn authorization_without_internal_tls_is_refused_naming_the_field() {
        let refused =
            refusals("listeners: [{name: INTERNAL, port: 9092}]\nsecurity: {authorization: {type: simple}}");
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert_eq!(refused[0].0, "spec.security.authorization");
        assert!(refused[0].1.contains("User:ANONYMOUS"), "{}", refused[0].1);
        let crd =
            serde_json::to_string(&<crate::crd::KafkaCluster as kube::CustomResourceExt>::crd()).unwrap();
        assert!(
            crd.contains(AUTHORIZATION_NEEDS_TLS),
            "CEL refuses it at admission too"
        );
    }

    #[test]
    fn mapping_rule_takes_the_cn() {
        // The rule as Kafka applies it: a Java regex over the DN, `$1` the CN.
        let re = regex::Regex::new(r"^CN=([^,]+)(,.*)?$").unwrap();
        for (dn, user) in [("CN=alice", "alice"), ("CN=bob,O=kraftwerk", "bob")] {
            assert_eq!(&re.captures(dn).unwrap()[1], user);
        }
        assert!(CN_MAPPING_RULES.starts_with("RULE:^CN=([^,]+)(,.*)?$/$1/"));
        assert!(reserved_key("super.users") && reserved_key("listener.name.clients.sasl.enabled.mechanisms"));
        assert!(!reserved_key("num.partitions"));
    }
}
