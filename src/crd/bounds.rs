//! Bounds and patterns the CRD schema enforces at admission, shared with the operator's own
//! checks ([`crate::validate`]) so both sides agree on one definition.

/// Longest cluster name whose derived DNS-1035 names still fit 63 characters: the longest
/// suffixes are `-kafka-bootstrap` (Service) and `-controller-9004` (pod hostname), 16 each.
pub const MAX_CLUSTER_NAME: usize = 47;

/// A DNS-1035 label (Service names): lower case alphanumerics and `-`, starting with a letter.
pub const DNS1035_LABEL: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// A DNS-1123 subdomain (StorageClass, PriorityClass, ServiceAccount names).
pub const DNS1123_SUBDOMAIN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A label value: empty, or up to 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
pub const LABEL_VALUE: &str = "^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$";

/// A qualified name (label and annotation keys): an optional DNS subdomain prefix and `/`, then
/// up to 63 alphanumerics, `-`, `_` and `.`, alphanumeric at both ends.
pub const QUALIFIED_NAME: &str = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$";

/// A DNS-1123 label (namespace names).
pub const DNS1123_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A host a broker advertises: a DNS name (letters, digits, `-`, `.`) or an IPv4 address.
/// (IPv6 literals are not accepted: Kafka's listener syntax would need brackets.)
pub const ADVERTISED_HOST: &str =
    "^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$";

/// A Kafka listener name as the operator accepts it.
pub const LISTENER_NAME: &str = "^[A-Z][A-Z0-9_]{0,14}$";

/// A container image reference: no whitespace.
pub const IMAGE: &str = "^[^\\s]+$";

/// Most entries a label, annotation or node selector map may hold.
pub const MAX_MAP_ENTRIES: u32 = 64;

/// The root-level rule: every name derived from the cluster name is a valid DNS-1035 label.
pub const CLUSTER_NAME_RULE: &str =
    "size(self.metadata.name) <= 47 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')";
/// Its message (admission errors of root rules carry no field path, so the message names it).
pub const CLUSTER_NAME_MESSAGE: &str = "metadata.name must be a DNS-1035 label (lower case letters, digits and '-', starting with a letter) of at most 47 characters, so <name>-kafka-bootstrap and <name>-controller-9004 fit 63";

/// Pod label and node selector maps: label keys are checked by the operator (CEL would have to
/// iterate unbounded keys), values by the schema.
pub(crate) fn label_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": MAX_MAP_ENTRIES,
        "additionalProperties": { "type": "string", "maxLength": 63, "pattern": LABEL_VALUE }
    })
}

/// Pod annotations: free-form values (Kubernetes only bounds their total size, 256 KiB).
pub(crate) fn annotation_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": MAX_MAP_ENTRIES,
        "additionalProperties": { "type": "string", "maxLength": 4096 }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, s: &str) -> bool {
        regex::Regex::new(pattern).is_ok_and(|r| r.is_match(s))
    }

    #[test]
    fn patterns_accept_and_refuse_the_documented_shapes() {
        assert!(matches(DNS1035_LABEL, "demo-1"));
        for bad in ["1demo", "Demo", "demo-", "de_mo", ""] {
            assert!(!matches(DNS1035_LABEL, bad), "{bad}");
        }
        assert!(matches(DNS1123_SUBDOMAIN, "fast.ssd-1"));
        assert!(!matches(DNS1123_SUBDOMAIN, "Fast"));
        assert!(matches(LABEL_VALUE, ""));
        assert!(matches(LABEL_VALUE, "a.b_c-D"));
        assert!(matches(LABEL_VALUE, &"a".repeat(63)));
        assert!(!matches(LABEL_VALUE, &"a".repeat(64)));
        assert!(!matches(LABEL_VALUE, "-a"));
        assert!(matches(QUALIFIED_NAME, "topology.kubernetes.io/zone"));
        assert!(matches(QUALIFIED_NAME, "zone"));
        for bad in ["", "/zone", "Example.com/zone", "zone/", "a/b/c"] {
            assert!(!matches(QUALIFIED_NAME, bad), "{bad}");
        }
        assert!(matches(IMAGE, "apache/kafka:4.3.1"));
        assert!(!matches(IMAGE, "apache/kafka 4"));
    }

    #[test]
    fn the_cluster_name_rule_uses_the_same_bound() {
        assert!(CLUSTER_NAME_RULE.contains(&format!("<= {MAX_CLUSTER_NAME}")));
        assert!(CLUSTER_NAME_MESSAGE.contains(&format!("at most {MAX_CLUSTER_NAME}")));
        let longest_suffixes = [
            "-kafka-bootstrap",
            "-kafka-headless",
            "-controller-9004",
            "-broker-8999",
        ];
        for s in longest_suffixes {
            assert!(MAX_CLUSTER_NAME + s.len() <= 63, "{s}");
        }
        assert_eq!(MAX_CLUSTER_NAME + "-kafka-bootstrap".len(), 63);
    }
}
