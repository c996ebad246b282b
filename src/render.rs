//! Offline rendering: everything the operator would create for a KafkaCluster, with no cluster
//! needed. `kraftwerk render` prints it; the real-Kafka boot test boots its `server.properties`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use crate::cluster_id;
use crate::crd::KafkaCluster;
use crate::desired::{self, Object};
use crate::names::Role;
use crate::validate::{self, Existing, InvalidSpec, Options};

/// Options for an offline rendering.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    pub validate: Options,
    /// The KRaft cluster id to render. Defaults to `status.clusterId`, else a fresh one.
    pub cluster_id: Option<String>,
    /// Render as for a cluster whose dynamic quorum already formed: controllers join as
    /// observers (`--no-initial-controllers`) instead of being formatted as initial voters.
    pub quorum_formed: bool,
    /// Render as for a cluster formatted with a static quorum (`controller.quorum.voters`,
    /// `kraft.version` 0), as operator releases before the dynamic quorum did.
    pub static_quorum: bool,
}

/// One node's identity and configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct RenderedNode {
    pub pod_name: String,
    pub node_id: i32,
    pub role: Role,
    pub fqdn: String,
    pub server_properties: String,
    /// The quorum arguments of `kafka-storage format` the node's start script passes.
    pub format_args: Vec<String>,
}

/// The result of [`render`].
#[derive(Clone, Debug)]
pub struct Rendered {
    pub cluster_id: String,
    pub nodes: Vec<RenderedNode>,
    /// Every object, in apply order.
    pub objects: Vec<Object>,
}

/// Renders `cr` as the operator would for a new cluster.
pub fn render(cr: &KafkaCluster, options: &RenderOptions) -> Result<Rendered, InvalidSpec> {
    let id = options
        .cluster_id
        .clone()
        .or_else(|| cr.status.as_ref().and_then(|s| s.cluster_id.clone()))
        .unwrap_or_else(cluster_id::generate);
    // A new cluster records its spec's controllers as the initial voters.
    let existing = Existing {
        quorum_formed: options.quorum_formed,
        initial_voters: crate::quorum::desired_ids(cr.spec.controllers.replicas),
        ..Default::default()
    };
    let mut cluster = validate::validate(cr, &existing, &id, &options.validate)?;
    if options.static_quorum {
        cluster.quorum = validate::QuorumSettings {
            mode: crate::quorum::QuorumMode::Static,
            initial_controllers: None,
            initial_voters: Default::default(),
        };
    }
    // Owner references need the object's uid, which only exists once it was created.
    let owner: Option<OwnerReference> = cr.meta().uid.as_ref().and_then(|_| cr.controller_owner_ref(&()));
    let built = desired::build(&cluster, owner.as_ref());
    let problems = validate::check_objects(&cluster, &built.objects);
    if !problems.is_empty() {
        return Err(InvalidSpec { problems });
    }
    let nodes = built
        .nodes
        .into_iter()
        .map(|n| RenderedNode {
            fqdn: cluster.names.node_fqdn(n.role, n.id),
            pod_name: n.pod,
            node_id: n.id,
            role: n.role,
            server_properties: n.text,
            format_args: desired::format_args(&cluster, n.role, n.id),
        })
        .collect();
    Ok(Rendered {
        cluster_id: id,
        nodes,
        objects: built.objects,
    })
}

/// The objects as a multi-document YAML stream.
pub fn to_yaml(objects: &[Object]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for o in objects {
        let mut value = serde_yaml::to_value(o)?;
        if let serde_yaml::Value::Mapping(m) = &mut value {
            let (api_version, kind) = type_of(o);
            let mut typed = serde_yaml::Mapping::new();
            typed.insert("apiVersion".into(), api_version.into());
            typed.insert("kind".into(), kind.into());
            typed.extend(std::mem::take(m));
            value = serde_yaml::Value::Mapping(typed);
        }
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&value)?);
    }
    Ok(out)
}

fn type_of(o: &Object) -> (&'static str, &'static str) {
    match o {
        Object::PodDisruptionBudget(_) => ("policy/v1", "PodDisruptionBudget"),
        Object::NetworkPolicy(_) => ("networking.k8s.io/v1", "NetworkPolicy"),
        other => ("v1", other.kind()),
    }
}
