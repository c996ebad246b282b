//! The API server's checks of every built object, run before anything is applied, so a value the
//! server would refuse becomes `InvalidSpec` naming the **spec field** that produced it instead of
//! a failed apply that leaves half a cluster.
//!
//! The reconcile calls [`check_objects`] right after `desired::build`:
//! problems are treated like an [`InvalidSpec`](super::InvalidSpec) from `validate`.
//!
//! Each check attributes its value to where it came from: pool template fields are checked where
//! the user wrote them (with their exact path); whatever else is wrong in an object came from the
//! cluster name (object names, operator labels), `spec.version` (the version label), the
//! listeners (port names), the pool's resources or storage, or the placement constraints
//! (scheduling fields that are not in the template).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Affinity, Container, NodeSelectorTerm, PersistentVolumeClaim, Pod, PodAffinityTerm, PodSecurityContext,
    SecurityContext, Service, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::syntax::{
    dns1035_label, dns1123_label, dns1123_subdomain, iana_svc_name, label_value, qualified_name,
};
use super::{Problem, ValidatedCluster};
use crate::crd::PodTemplateSpec;
use crate::desired::Object;
use crate::labels;
use crate::names::Role;
use crate::quantity;

/// Largest ConfigMap the API server stores (data keys and values together).
const MAX_CONFIG_MAP_BYTES: usize = 1024 * 1024;
/// Largest total size of an object's annotations.
const MAX_ANNOTATION_BYTES: usize = 256 * 1024;

/// Problems the API server would find in `objects`, each naming the spec field behind it.
/// Empty when every object would be accepted. Duplicates (one template value in every pod) are
/// reported once.
pub fn check_objects(cluster: &ValidatedCluster, objects: &[Object]) -> Vec<Problem> {
    let mut c = Checker::default();
    for pool in cluster.pools() {
        c.template(&pool_base(pool.role), &pool.template);
    }
    for object in objects {
        c.meta(cluster, object);
        match object {
            Object::Pod(pod) => c.pod(cluster, pod),
            Object::Service(svc) => c.service(cluster, svc),
            Object::PersistentVolumeClaim(pvc) => c.pvc(cluster, pvc),
            Object::ConfigMap(cm) => {
                let size: usize = cm.data.iter().flatten().map(|(k, v)| k.len() + v.len()).sum();
                if size > MAX_CONFIG_MAP_BYTES {
                    c.refuse(
                        "spec.config",
                        format!(
                            "the configuration of {} is {size} bytes; a ConfigMap holds at most 1 MiB",
                            object.name()
                        ),
                    );
                }
            }
            Object::PodDisruptionBudget(_) | Object::NetworkPolicy(_) => {}
        }
    }
    c.finish()
}

fn pool_base(role: Role) -> String {
    format!("spec.{}s", role.as_str())
}

fn role_of(meta: &ObjectMeta) -> Option<Role> {
    Role::from_label(meta.labels.as_ref()?.get(labels::ROLE)?)
}

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    /// Reasons already reported against a template field, so the same value seen again in a
    /// built pod is not blamed on another field.
    template_reasons: BTreeSet<String>,
}

impl Checker {
    fn refuse(&mut self, field: &str, reason: String) {
        let p = Problem {
            field: field.to_string(),
            reason,
        };
        if !self.problems.contains(&p) {
            self.problems.push(p);
        }
    }

    fn check(&mut self, field: &str, result: Result<(), String>) {
        if let Err(reason) = result {
            self.refuse(field, reason);
        }
    }

    /// A value the operator derived: reported against `field` unless a template field with the
    /// same problem was already named.
    fn derived(&mut self, field: &str, result: Result<(), String>) {
        if let Err(reason) = result
            && !self.template_reasons.contains(&reason)
        {
            self.refuse(field, reason);
        }
    }

    fn finish(self) -> Vec<Problem> {
        self.problems
    }

    /// Template fields, checked where the user wrote them.
    fn template(&mut self, base: &str, t: &PodTemplateSpec) {
        let before = self.problems.len();
        let base = format!("{base}.template");
        for (k, v) in &t.labels {
            self.check(&format!("{base}.labels[{k:?}]"), qualified_name(k));
            self.check(&format!("{base}.labels[{k:?}]"), label_value(v));
        }
        for (k, v) in &t.node_selector {
            self.check(&format!("{base}.nodeSelector[{k:?}]"), qualified_name(k));
            self.check(&format!("{base}.nodeSelector[{k:?}]"), label_value(v));
        }
        for k in t.annotations.keys() {
            self.check(&format!("{base}.annotations[{k:?}]"), qualified_name(k));
        }
        for (field, name) in [
            ("serviceAccountName", &t.service_account_name),
            ("priorityClassName", &t.priority_class_name),
        ] {
            if let Some(name) = name {
                self.check(&format!("{base}.{field}"), dns1123_subdomain(name));
            }
        }
        if let Some(s) = t.termination_grace_period_seconds
            && s < 0
        {
            self.refuse(
                &format!("{base}.terminationGracePeriodSeconds"),
                format!("{s} is negative"),
            );
        }
        if let Some(sc) = &t.security_context {
            for (field, reason) in security_context(sc) {
                self.refuse(&format!("{base}.securityContext.{field}"), reason);
            }
        }
        if let Some(sc) = &t.container_security_context {
            for (field, reason) in container_security_context(sc) {
                self.refuse(&format!("{base}.containerSecurityContext.{field}"), reason);
            }
        }
        for (i, tol) in t.tolerations.iter().enumerate() {
            self.check(&format!("{base}.tolerations[{i}]"), toleration(tol));
        }
        let mut spread_keys = BTreeSet::new();
        for (i, tsc) in t.topology_spread_constraints.iter().enumerate() {
            let field = format!("{base}.topologySpreadConstraints[{i}]");
            self.check(&field, spread(tsc));
            if !spread_keys.insert((&tsc.topology_key, &tsc.when_unsatisfiable)) {
                let reason = format!(
                    "a second constraint on {} with whenUnsatisfiable {}; Kubernetes allows one",
                    tsc.topology_key, tsc.when_unsatisfiable
                );
                self.refuse(&field, reason);
            }
        }
        if let Some(a) = &t.affinity {
            for reason in affinity(a) {
                self.refuse(&format!("{base}.affinity"), reason);
            }
        }
        let found: Vec<String> = self.problems[before..].iter().map(|p| p.reason.clone()).collect();
        self.template_reasons.extend(found);
    }

    /// Names, labels and annotations of any object.
    fn meta(&mut self, cluster: &ValidatedCluster, object: &Object) {
        let meta = object.metadata();
        let name = object.name();
        let name_check = match object {
            Object::Service(_) => dns1035_label(name),
            _ => dns1123_subdomain(name),
        };
        self.check(
            "metadata.name",
            name_check.map_err(|r| format!("{} name {r}", object.kind())),
        );
        let template = role_of(meta).map(|r| &cluster.pool(r).template);
        let placement = role_of(meta).map(|r| format!("{}.placement.constraints", pool_base(r)));
        for (k, v) in meta.labels.iter().flatten() {
            let field = match k.as_str() {
                labels::VERSION => "spec.version".to_string(),
                _ if template.is_some_and(|t| t.labels.contains_key(k)) => continue,
                _ if k.starts_with(labels::OPERATOR_PREFIX) || k.starts_with("app.kubernetes.io/") => {
                    "metadata.name".into()
                }
                _ => placement.clone().unwrap_or_else(|| "metadata.name".into()),
            };
            self.derived(&field, qualified_name(k));
            self.derived(&field, label_value(v).map_err(|r| format!("label {k}: {r}")));
        }
        let annotations = meta.annotations.iter().flatten();
        let size: usize = annotations.map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_ANNOTATION_BYTES
            && let Some(role) = role_of(meta)
        {
            self.refuse(
                &format!("{}.template.annotations", pool_base(role)),
                format!("annotations of {name} total {size} bytes; at most 256 KiB"),
            );
        }
    }

    fn service(&mut self, cluster: &ValidatedCluster, svc: &Service) {
        let mut names = BTreeSet::new();
        for port in svc.spec.iter().flat_map(|s| s.ports.iter().flatten()) {
            let field = listener_field(cluster, port.name.as_deref(), port.port);
            if let Some(n) = &port.name {
                let valid = dns1123_label(n).map_err(|r| format!("Service port name {r}"));
                self.check(&format!("{field}.name"), valid);
                if !names.insert(n.clone()) {
                    self.refuse(
                        &format!("{field}.name"),
                        format!("two Service ports are named {n:?}"),
                    );
                }
            }
        }
    }

    fn pvc(&mut self, cluster: &ValidatedCluster, pvc: &PersistentVolumeClaim) {
        let Some(role) = role_of(&pvc.metadata) else {
            return;
        };
        let base = format!("{}.storage", pool_base(role));
        let Some(spec) = &pvc.spec else { return };
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"));
        match size.map(|q| quantity::parse(&q.0)) {
            Some(Some(v)) if v > 0.0 => {}
            _ => self.refuse(
                &format!("{base}.size"),
                format!("{:?} is not a positive quantity", cluster.pool(role).storage.size),
            ),
        }
        if let Some(class) = &spec.storage_class_name {
            self.check(&format!("{base}.storageClassName"), dns1123_subdomain(class));
        }
    }

    fn pod(&mut self, cluster: &ValidatedCluster, pod: &Pod) {
        let Some(role) = role_of(&pod.metadata) else {
            return;
        };
        let base = pool_base(role);
        let Some(spec) = &pod.spec else { return };
        if let Some(h) = &spec.hostname {
            self.check(
                "metadata.name",
                dns1123_label(h).map_err(|r| format!("pod hostname {r}")),
            );
        }
        if let Some(s) = &spec.subdomain {
            self.check(
                "metadata.name",
                dns1123_label(s).map_err(|r| format!("pod subdomain {r}")),
            );
        }
        for (i, secret) in spec.image_pull_secrets.iter().flatten().enumerate() {
            if secret.name.is_empty() {
                self.refuse(
                    &format!("spec.imagePullSecrets[{i}].name"),
                    "must not be empty".into(),
                );
            }
        }
        for container in spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
        {
            self.container(cluster, &base, container);
        }
        let placement = format!("{base}.placement.constraints");
        for (k, v) in spec.node_selector.iter().flatten() {
            self.derived(&placement, qualified_name(k));
            self.derived(&placement, label_value(v));
        }
        for tol in spec.tolerations.iter().flatten() {
            self.derived(&placement, toleration(tol));
        }
        for tsc in spec.topology_spread_constraints.iter().flatten() {
            self.derived(&placement, spread(tsc));
        }
        for reason in spec.affinity.as_ref().map(affinity).unwrap_or_default() {
            self.derived(&placement, Err(reason));
        }
    }

    fn container(&mut self, cluster: &ValidatedCluster, base: &str, c: &Container) {
        let image = c.image.as_deref().unwrap_or_default();
        if image.is_empty() || image.trim() != image || image.contains(char::is_whitespace) {
            self.refuse("spec.image", format!("{image:?} is not an image reference"));
        }
        let mut names = BTreeMap::new();
        let mut numbers = BTreeSet::new();
        for port in c.ports.iter().flatten() {
            let field = listener_field(cluster, port.name.as_deref(), port.container_port);
            if let Some(n) = &port.name {
                self.check(&format!("{field}.name"), iana_svc_name(n));
                if names.insert(n.clone(), port.container_port).is_some() {
                    self.refuse(
                        &format!("{field}.name"),
                        format!("two container ports are named {n:?}"),
                    );
                }
            }
            if !(1..=65535).contains(&port.container_port) || !numbers.insert(port.container_port) {
                self.refuse(
                    &format!("{field}.port"),
                    format!(
                        "container port {} is out of range or used twice",
                        port.container_port
                    ),
                );
            }
        }
        if let Some(r) = &c.resources {
            self.resources(
                &format!("{base}.resources"),
                r.requests.as_ref(),
                r.limits.as_ref(),
            );
        }
    }

    fn resources(
        &mut self,
        base: &str,
        requests: Option<&BTreeMap<String, Quantity>>,
        limits: Option<&BTreeMap<String, Quantity>>,
    ) {
        let mut parsed = |which: &str, m: Option<&BTreeMap<String, Quantity>>| -> BTreeMap<String, f64> {
            let mut out = BTreeMap::new();
            for (name, q) in m.into_iter().flatten() {
                let field = format!("{base}.{which}[{name:?}]");
                self.check(&field, resource_name(name));
                match quantity::parse(&q.0) {
                    Some(v) => {
                        out.insert(name.clone(), v);
                    }
                    None => self.refuse(&field, format!("{:?} is not a non-negative quantity", q.0)),
                }
            }
            out
        };
        let requests = parsed("requests", requests);
        let limits = parsed("limits", limits);
        for (name, request) in &requests {
            if let Some(limit) = limits.get(name)
                && request > limit
            {
                self.refuse(
                    &format!("{base}.requests[{name:?}]"),
                    format!("the request is larger than the limit of {name}"),
                );
            }
        }
    }
}

/// The listener a port was built from (by port name, else number), or the controller listener.
fn listener_field(cluster: &ValidatedCluster, name: Option<&str>, port: i32) -> String {
    let by_name = cluster
        .listeners
        .iter()
        .position(|l| Some(l.port_name().as_str()) == name);
    let by_port = || cluster.listeners.iter().position(|l| l.port == port);
    match by_name.or_else(by_port) {
        Some(i) => format!("spec.listeners[{i}]"),
        None => "spec.controllerListener".into(),
    }
}

/// Container resource names: the standard ones, `hugepages-*`, or a domain-prefixed name.
fn resource_name(name: &str) -> Result<(), String> {
    let standard = ["cpu", "memory", "ephemeral-storage"].contains(&name) || name.starts_with("hugepages-");
    if standard || (name.contains('/') && qualified_name(name).is_ok()) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a standard resource (cpu, memory, ephemeral-storage, hugepages-*) or a domain-prefixed one"
        ))
    }
}

/// Unix ids are 0..2^31-1; returns (field, reason) pairs.
fn security_context(sc: &PodSecurityContext) -> Vec<(String, String)> {
    let valid = |v: i64| (0..=i64::from(i32::MAX)).contains(&v);
    let mut out = Vec::new();
    for (field, v) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
        ("fsGroup", sc.fs_group),
    ] {
        if let Some(v) = v
            && !valid(v)
        {
            out.push((field.to_string(), format!("{v} is outside 0-2147483647")));
        }
    }
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        if !valid(*g) {
            out.push((
                format!("supplementalGroups[{i}]"),
                format!("{g} is outside 0-2147483647"),
            ));
        }
    }
    out
}

/// The container's ids, as the pod's; capability names are checked by the API server.
fn container_security_context(sc: &SecurityContext) -> Vec<(String, String)> {
    let valid = |v: i64| (0..=i64::from(i32::MAX)).contains(&v);
    [("runAsUser", sc.run_as_user), ("runAsGroup", sc.run_as_group)]
        .into_iter()
        .filter_map(|(field, v)| {
            v.filter(|v| !valid(*v))
                .map(|v| (field.to_string(), format!("{v} is outside 0-2147483647")))
        })
        .collect()
}

fn toleration(t: &Toleration) -> Result<(), String> {
    let key = t.key.as_deref().unwrap_or_default();
    let op = t.operator.as_deref().unwrap_or("Equal");
    let value = t.value.as_deref().unwrap_or_default();
    if !key.is_empty() {
        qualified_name(key)?;
    }
    match op {
        "Equal" if key.is_empty() => return Err("a toleration without key must use operator Exists".into()),
        "Equal" => label_value(value)?,
        "Exists" if !value.is_empty() => {
            return Err("a toleration with operator Exists takes no value".into());
        }
        "Exists" => {}
        other => return Err(format!("toleration operator {other:?} is not Equal or Exists")),
    }
    let effect = t.effect.as_deref().unwrap_or_default();
    if !["", "NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect) {
        return Err(format!(
            "toleration effect {effect:?} is not NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        return Err("tolerationSeconds needs effect NoExecute".into());
    }
    Ok(())
}

fn spread(t: &TopologySpreadConstraint) -> Result<(), String> {
    if t.max_skew < 1 {
        return Err(format!("maxSkew {} must be at least 1", t.max_skew));
    }
    qualified_name(&t.topology_key).map_err(|r| format!("topologyKey {r}"))?;
    if !["DoNotSchedule", "ScheduleAnyway"].contains(&t.when_unsatisfiable.as_str()) {
        return Err(format!(
            "whenUnsatisfiable {:?} is not DoNotSchedule or ScheduleAnyway",
            t.when_unsatisfiable
        ));
    }
    if let Some(m) = t.min_domains
        && (m < 1 || t.when_unsatisfiable != "DoNotSchedule")
    {
        return Err(format!(
            "minDomains {m} must be at least 1 and needs whenUnsatisfiable DoNotSchedule"
        ));
    }
    for policy in [&t.node_affinity_policy, &t.node_taints_policy]
        .into_iter()
        .flatten()
    {
        if !["Honor", "Ignore"].contains(&policy.as_str()) {
            return Err(format!("node policy {policy:?} is not Honor or Ignore"));
        }
    }
    for k in t.match_label_keys.iter().flatten() {
        qualified_name(k)?;
    }
    t.label_selector.as_ref().map_or(Ok(()), selector)
}

fn selector(s: &LabelSelector) -> Result<(), String> {
    for (k, v) in s.match_labels.iter().flatten() {
        qualified_name(k)?;
        label_value(v)?;
    }
    for e in s.match_expressions.iter().flatten() {
        qualified_name(&e.key)?;
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!("{} {} needs values", e.key, e.operator));
            }
            "In" | "NotIn" => values.iter().try_for_each(|v| label_value(v))?,
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!("{} {} takes no values", e.key, e.operator));
            }
            "Exists" | "DoesNotExist" => {}
            other => {
                return Err(format!(
                    "selector operator {other:?} is not In, NotIn, Exists or DoesNotExist"
                ));
            }
        }
    }
    Ok(())
}

/// Every problem of an affinity, as reasons.
fn affinity(a: &Affinity) -> Vec<String> {
    let mut out = Vec::new();
    let weight = |w: i32| {
        (1..=100)
            .contains(&w)
            .then_some(())
            .ok_or(format!("weight {w} is outside 1-100"))
    };
    if let Some(n) = &a.node_affinity {
        let required = n.required_during_scheduling_ignored_during_execution.iter();
        for term in required.flat_map(|r| r.node_selector_terms.iter()) {
            out.extend(node_term(term).err());
        }
        for p in n
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
        {
            out.extend(weight(p.weight).err());
            out.extend(node_term(&p.preference).err());
        }
    }
    let pod_terms = [
        a.pod_affinity.as_ref().map(|p| {
            (
                &p.required_during_scheduling_ignored_during_execution,
                &p.preferred_during_scheduling_ignored_during_execution,
            )
        }),
        a.pod_anti_affinity.as_ref().map(|p| {
            (
                &p.required_during_scheduling_ignored_during_execution,
                &p.preferred_during_scheduling_ignored_during_execution,
            )
        }),
    ];
    for (required, preferred) in pod_terms.into_iter().flatten() {
        for term in required.iter().flatten() {
            out.extend(pod_term(term).err());
        }
        for p in preferred.iter().flatten() {
            out.extend(weight(p.weight).err());
            out.extend(pod_term(&p.pod_affinity_term).err());
        }
    }
    out
}

fn node_term(t: &NodeSelectorTerm) -> Result<(), String> {
    for e in t.match_expressions.iter().flatten() {
        qualified_name(&e.key)?;
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if !values.is_empty() => values.iter().try_for_each(|v| label_value(v))?,
            "Exists" | "DoesNotExist" if values.is_empty() => {}
            "Gt" | "Lt" if values.len() == 1 && values[0].parse::<i64>().is_ok() => {}
            op => {
                return Err(format!(
                    "node selector {} {op} {values:?} is not a valid requirement",
                    e.key
                ));
            }
        }
    }
    for f in t.match_fields.iter().flatten() {
        let values = f.values.as_deref().unwrap_or_default();
        if f.key != "metadata.name" || !["In", "NotIn"].contains(&f.operator.as_str()) || values.len() != 1 {
            return Err(format!(
                "node field selector {} {} {values:?} is not supported",
                f.key, f.operator
            ));
        }
    }
    Ok(())
}

fn pod_term(t: &PodAffinityTerm) -> Result<(), String> {
    qualified_name(&t.topology_key).map_err(|r| format!("topologyKey {r}"))?;
    for s in [&t.label_selector, &t.namespace_selector].into_iter().flatten() {
        selector(s)?;
    }
    for ns in t.namespaces.iter().flatten() {
        dns1123_label(ns)?;
    }
    for k in t
        .match_label_keys
        .iter()
        .chain(t.mismatch_label_keys.iter())
        .flatten()
    {
        qualified_name(k)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "objects_tests.rs"]
mod tests;
