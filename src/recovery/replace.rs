//! Replace requests. A replace discards a node's volume and deletes its pod, so the pod is
//! scheduled afresh (placement re-evaluated) and starts on an empty volume: the start script
//! formats it with the recorded cluster id, a broker re-replicates from its peers, a controller
//! joins as an observer under a new directory id and the quorum pass swaps its voter identity
//! (`crate::quorum::plan`, rule 1).
//!
//! A request is served once: the roll records `<request>@<uid of the pod replaced>` on the
//! node's ConfigMap ([`annotations::REPLACED_FOR`]); the request is pending until that record
//! names it and a pod other than the current one.

use std::collections::BTreeMap;

use crate::annotations;
use crate::roll::view::manual_pending;

/// The prefix of a request made by the placement policy, followed by the node the pod ran on.
pub const PLACEMENT_PREFIX: &str = "placement:";

/// Whether the node ids listed by a `"1,2@token"` value include `id`.
fn lists(value: &str, id: i32) -> bool {
    let list = value.split('@').next().unwrap_or_default();
    list.split(',').any(|x| x.trim().parse::<i32>().ok() == Some(id))
}

/// The replace request that applies to node `id`: the user's ([`annotations::REPLACE_NODES`]
/// naming it, the whole value being the request) first; else, when the placement policy is
/// on and the node's pod runs where its constraints no longer allow, `placement:<node>`.
pub fn request(
    cr_annotations: &BTreeMap<String, String>,
    id: i32,
    misplaced_on: Option<&str>,
) -> Option<String> {
    let asked = cr_annotations
        .get(annotations::REPLACE_NODES)
        .filter(|v| lists(v, id))
        .cloned();
    asked.or_else(|| misplaced_on.map(|node| format!("{PLACEMENT_PREFIX}{node}")))
}

/// Whether `request` still needs the pod with `uid` replaced, given the ConfigMap's record.
pub fn pending(request: Option<&str>, record: Option<&str>, uid: Option<&str>) -> bool {
    manual_pending(request, record, uid)
}

/// The annotation value that asks for node `id` to be replaced, with `token` making it a new
/// request (`kraftwerk pod replace`).
pub fn annotation_value(id: i32, token: &str) -> String {
    format!("{id}@{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(annotations::REPLACE_NODES.to_string(), value.to_string())])
    }

    #[test]
    fn a_user_request_names_its_nodes() {
        let a = asked("1, 2@t1");
        assert_eq!(request(&a, 2, None).as_deref(), Some("1, 2@t1"));
        assert_eq!(request(&a, 0, None), None);
        assert_eq!(
            request(&asked("x@t"), 0, None),
            None,
            "unparsable ids name nobody"
        );
        assert_eq!(
            request(&asked(&annotation_value(7, "t")), 7, None).as_deref(),
            Some("7@t")
        );
    }

    #[test]
    fn the_placement_policy_asks_only_for_misplaced_pods_and_the_user_wins() {
        assert_eq!(
            request(&BTreeMap::new(), 1, Some("node-a")).as_deref(),
            Some("placement:node-a")
        );
        assert_eq!(request(&BTreeMap::new(), 1, None), None);
        assert_eq!(request(&asked("1@t"), 1, Some("node-a")).as_deref(), Some("1@t"));
    }

    #[test]
    fn a_request_is_served_once() {
        assert!(pending(Some("1@t"), None, Some("u1")), "never served");
        assert!(
            pending(Some("1@t"), Some("1@t@u1"), Some("u1")),
            "pod not deleted yet"
        );
        assert!(!pending(Some("1@t"), Some("1@t@u1"), Some("u2")), "the new pod");
        assert!(pending(Some("1@t2"), Some("1@t@u1"), Some("u2")), "a new request");
        // A placement replace that lands on the same node again is not repeated.
        assert!(!pending(
            Some("placement:node-a"),
            Some("placement:node-a@u1"),
            Some("u2")
        ));
        assert!(!pending(None, None, Some("u1")));
    }
}
