//! The hardened security contexts of every Kafka pod, and the user's contexts laid over them.
//!
//! The default: non-root uid/gid 1000 (the official image's user), RuntimeDefault seccomp, a
//! read-only root filesystem (the writable paths are emptyDir or claim mounts, see
//! [`super::pod`]), no privilege escalation, every capability dropped. A user's
//! `template.securityContext` / `template.containerSecurityContext` is merged over it field by
//! field (a field the user sets wins, lists are replaced), so setting e.g. `fsGroup` keeps the
//! rest of the hardening. Values that drop a part of it are reported by [`relaxations`].

use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, SeccompProfile, SecurityContext};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crd::PodTemplateSpec;

/// The official image's user; the default security context runs as it.
pub const KAFKA_UID: i64 = 1000;

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// The hardened pod-level default.
pub fn default_pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(KAFKA_UID),
        run_as_group: Some(KAFKA_UID),
        fs_group: Some(KAFKA_UID),
        seccomp_profile: Some(runtime_default()),
        ..Default::default()
    }
}

/// The hardened container-level default. Non-root and seccomp are set on the pod (the
/// container inherits them), so a pod-level choice of the user is not overridden here.
pub fn default_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}

/// The pod's security context: the user's over the hardened default.
pub fn pod(template: &PodTemplateSpec) -> PodSecurityContext {
    merged(default_pod(), template.security_context.as_ref())
}

/// The Kafka container's security context: the user's over the hardened default.
pub fn container(template: &PodTemplateSpec) -> SecurityContext {
    merged(default_container(), template.container_security_context.as_ref())
}

/// `user` laid over `default`: every field the user sets replaces the default's, nested
/// objects are merged the same way, lists and scalars are replaced.
fn merged<T: Serialize + DeserializeOwned + Clone>(default: T, user: Option<&T>) -> T {
    let Some(user) = user else {
        return default;
    };
    let (Ok(mut base), Ok(over)) = (serde_json::to_value(&default), serde_json::to_value(user)) else {
        return default;
    };
    merge_json(&mut base, over);
    serde_json::from_value(base).unwrap_or(default)
}

fn merge_json(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge_json(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// The parts of the hardening a pool's template drops, as `(field, what it allows)`, the
/// field relative to the pool's `template`. Empty for the default.
pub fn relaxations(template: &PodTemplateSpec) -> Vec<(String, String)> {
    let pod = pod(template);
    let c = container(template);
    let mut out = Vec::new();
    let mut note = |field: &str, why: &str| out.push((field.to_string(), why.to_string()));
    let pod_field = "securityContext";
    let ctr_field = "containerSecurityContext";
    if pod.run_as_non_root == Some(false) {
        note(
            &format!("{pod_field}.runAsNonRoot"),
            "the container may run as root",
        );
    }
    if pod.run_as_user == Some(0) {
        note(&format!("{pod_field}.runAsUser"), "runs as root (uid 0)");
    }
    if pod
        .seccomp_profile
        .as_ref()
        .is_some_and(|s| s.type_ == "Unconfined")
    {
        note(&format!("{pod_field}.seccompProfile"), "no seccomp filter");
    }
    if c.run_as_non_root == Some(false) {
        note(
            &format!("{ctr_field}.runAsNonRoot"),
            "the container may run as root",
        );
    }
    if c.run_as_user == Some(0) {
        note(&format!("{ctr_field}.runAsUser"), "runs as root (uid 0)");
    }
    if c.privileged == Some(true) {
        note(&format!("{ctr_field}.privileged"), "a privileged container");
    }
    if c.allow_privilege_escalation != Some(false) {
        note(
            &format!("{ctr_field}.allowPrivilegeEscalation"),
            "privilege escalation allowed",
        );
    }
    if c.read_only_root_filesystem != Some(true) {
        note(
            &format!("{ctr_field}.readOnlyRootFilesystem"),
            "a writable root filesystem",
        );
    }
    let caps = c.capabilities.as_ref();
    if caps.and_then(|k| k.add.as_ref()).is_some_and(|a| !a.is_empty()) {
        note(&format!("{ctr_field}.capabilities.add"), "added capabilities");
    }
    if !caps
        .and_then(|k| k.drop.as_ref())
        .is_some_and(|d| d.iter().any(|x| x == "ALL"))
    {
        note(
            &format!("{ctr_field}.capabilities.drop"),
            "not every capability dropped",
        );
    }
    if c.seccomp_profile
        .as_ref()
        .is_some_and(|s| s.type_ == "Unconfined")
    {
        note(&format!("{ctr_field}.seccompProfile"), "no seccomp filter");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(yaml: &str) -> PodTemplateSpec {
        serde_yaml::from_str(yaml).expect("template")
    }

    #[test]
    fn the_default_is_hardened_and_relaxes_nothing() {
        let t = PodTemplateSpec::default();
        let c = container(&t);
        assert_eq!(c.read_only_root_filesystem, Some(true));
        assert_eq!(c.allow_privilege_escalation, Some(false));
        assert_eq!(pod(&t).run_as_non_root, Some(true));
        assert_eq!(c.capabilities.and_then(|k| k.drop), Some(vec!["ALL".to_string()]));
        assert_eq!(
            pod(&t).seccomp_profile.map(|s| s.type_).as_deref(),
            Some("RuntimeDefault")
        );
        assert!(relaxations(&t).is_empty());
    }

    #[test]
    fn a_user_context_is_merged_over_the_default_not_a_replacement() {
        let t = template(
            "securityContext: {fsGroup: 2000, supplementalGroups: [3000]}\n\
             containerSecurityContext: {capabilities: {add: [NET_BIND_SERVICE]}}",
        );
        let p = pod(&t);
        assert_eq!(p.fs_group, Some(2000));
        assert_eq!(p.supplemental_groups, Some(vec![3000]));
        assert_eq!(p.run_as_user, Some(KAFKA_UID), "kept from the default");
        assert_eq!(p.run_as_non_root, Some(true), "kept from the default");
        let c = container(&t);
        let caps = c.capabilities.expect("capabilities");
        assert_eq!(caps.add, Some(vec!["NET_BIND_SERVICE".to_string()]));
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]), "nested objects merge");
        assert_eq!(c.read_only_root_filesystem, Some(true));
        assert_eq!(
            relaxations(&t),
            [(
                "containerSecurityContext.capabilities.add".to_string(),
                "added capabilities".to_string()
            )]
        );
    }

    #[test]
    fn values_that_drop_the_hardening_are_named() {
        let t = template(
            "securityContext: {runAsUser: 0, runAsNonRoot: false}\n\
             containerSecurityContext: {privileged: true, allowPrivilegeEscalation: true, readOnlyRootFilesystem: false}",
        );
        let fields: Vec<String> = relaxations(&t).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "securityContext.runAsNonRoot",
                "securityContext.runAsUser",
                "containerSecurityContext.privileged",
                "containerSecurityContext.allowPrivilegeEscalation",
                "containerSecurityContext.readOnlyRootFilesystem",
            ]
        );
    }
}
