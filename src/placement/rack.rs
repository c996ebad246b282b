//! Rack awareness: `broker.rack` from a label of the node a broker runs on.
//!
//! How it works (see `docs/placement.md`, "Rack awareness"): the operator caches node labels (a
//! metadata-only watch), sees a broker pod bound to a node, reads the node's `rack.topologyKey`
//! label and writes it to the pod annotation `kraftwerk.dev/rack` (`controller/rack.rs`). The pod
//! exposes that annotation through a downward API volume; its start script waits for the file to
//! be non-empty and appends `broker.rack` to `server.properties`. Kafka pods need no API access
//! and no RBAC.

use std::collections::BTreeMap;

use super::{Constraint, Field, ZONE_LABEL};

/// The rack of a node: the value of its `topology_key` label, when present and non-empty.
pub fn rack_of_node<'a>(node_labels: &'a BTreeMap<String, String>, topology_key: &str) -> Option<&'a str> {
    node_labels
        .get(topology_key)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// The DC/OS behaviour: `broker.rack` is the zone when a constraint mentions `@zone`. Returns the
/// zone label then, so a pool without `rack.topologyKey` can default to it.
pub fn implied_topology_key(constraints: &[Constraint]) -> Option<&'static str> {
    constraints
        .iter()
        .any(|c| c.field == Field::Zone)
        .then_some(ZONE_LABEL)
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn rack_is_the_label_value() {
        let mut labels = BTreeMap::new();
        labels.insert(ZONE_LABEL.to_string(), "us-east-1a".to_string());
        labels.insert("rack".to_string(), String::new());
        assert_eq!(rack_of_node(&labels, ZONE_LABEL), Some("us-east-1a"));
        assert_eq!(rack_of_node(&labels, "rack"), None);
        assert_eq!(rack_of_node(&labels, "missing"), None);
    }

    #[test]
    fn zone_constraints_imply_the_zone_key() {
        assert_eq!(
            implied_topology_key(&parse("@zone:GROUP_BY:3").unwrap()),
            Some(ZONE_LABEL)
        );
        assert_eq!(
            implied_topology_key(&parse("hostname:UNIQUE,zone:MAX_PER:2").unwrap()),
            Some(ZONE_LABEL)
        );
        assert_eq!(implied_topology_key(&parse("hostname:UNIQUE").unwrap()), None);
        // The label spelled out is a plain label field, not @zone.
        assert_eq!(
            implied_topology_key(&parse("topology.kubernetes.io/zone:UNIQUE").unwrap()),
            None
        );
        assert_eq!(implied_topology_key(&[]), None);
    }
}
