use super::*;
use crate::admin::{AclOperation, AclPermission, AclResourceType};
use crate::crd::{AclResource, AclRule, UserAuthentication, UserAuthorization, UserQuotas};

fn spec(yaml: &str) -> KafkaUserSpec {
    serde_yaml::from_str(yaml).unwrap()
}

fn alice() -> KafkaUserSpec {
    spec(
        r#"
cluster: demo
authentication: {type: scram-sha-512}
authorization:
  acls:
    - resource: {type: topic, name: orders}
      operations: [Read, Describe]
    - resource: {type: group, name: billing-, patternType: prefixed}
      operations: [Read]
      host: 10.0.0.1
    - resource: {type: cluster}
      operations: [IdempotentWrite]
    - resource: {type: topic, name: secret}
      operations: [All]
      type: deny
quotas: {producerByteRate: 1048576, requestPercentage: 50}
"#,
    )
}

fn acl(t: AclResourceType, name: &str, op: AclOperation) -> AclBinding {
    AclBinding {
        resource_type: t,
        resource_name: name.into(),
        pattern_type: AclPatternType::Literal,
        principal: "User:alice".into(),
        host: "*".into(),
        operation: op,
        permission: AclPermission::Allow,
    }
}

#[test]
fn desired_acls_expand_operations_with_defaults() {
    let acls = desired_acls("alice", &alice());
    assert_eq!(acls.len(), 5);
    assert!(acls.contains(&acl(AclResourceType::Topic, "orders", AclOperation::Read)));
    assert!(acls.contains(&acl(AclResourceType::Topic, "orders", AclOperation::Describe)));
    assert!(acls.contains(&acl(
        AclResourceType::Cluster,
        CLUSTER_RESOURCE,
        AclOperation::IdempotentWrite
    )));
    let group = acls
        .iter()
        .find(|a| a.resource_type == AclResourceType::Group)
        .unwrap();
    assert_eq!(
        (
            group.pattern_type,
            group.host.as_str(),
            group.resource_name.as_str()
        ),
        (AclPatternType::Prefixed, "10.0.0.1", "billing-")
    );
    let deny = acls.iter().find(|a| a.resource_name == "secret").unwrap();
    assert_eq!(
        (deny.operation, deny.permission),
        (AclOperation::All, AclPermission::Deny)
    );
}

#[test]
fn acl_diff_is_exact() {
    let desired = desired_acls("alice", &alice());
    // Kafka holds one wanted ACL, one the spec no longer lists, and one that differs only in host.
    let mut other_host = acl(AclResourceType::Topic, "orders", AclOperation::Read);
    other_host.host = "10.9.9.9".into();
    let stale = acl(AclResourceType::Topic, "old", AclOperation::Write);
    let kept = acl(AclResourceType::Topic, "orders", AclOperation::Read);
    let current = vec![kept.clone(), stale.clone(), other_host.clone()];
    let diff = diff_acls(&current, &desired);
    assert_eq!(diff.delete, vec![stale, other_host]);
    assert_eq!(diff.create.len(), 4);
    assert!(!diff.create.contains(&kept));
    // Applying the diff yields exactly the desired set, and then nothing is left to do.
    let mut after: BTreeSet<AclBinding> = current.into_iter().collect();
    for d in &diff.delete {
        after.remove(d);
    }
    after.extend(diff.create.iter().cloned());
    assert_eq!(after, desired);
    let again = diff_acls(&after.iter().cloned().collect::<Vec<_>>(), &desired);
    assert!(again.is_empty());
}

#[test]
fn quota_diff_sets_changes_and_removes_dropped_keys() {
    let desired = desired_quotas(&alice());
    assert_eq!(
        desired,
        BTreeMap::from([
            ("producer_byte_rate".to_string(), 1048576.0),
            ("request_percentage".to_string(), 50.0)
        ])
    );
    let current = BTreeMap::from([
        ("producer_byte_rate".to_string(), 1048576.0),
        ("request_percentage".to_string(), 20.0),
        ("consumer_byte_rate".to_string(), 100.0),
    ]);
    let change = diff_quotas(&current, &desired);
    assert_eq!(
        change.set,
        BTreeMap::from([("request_percentage".to_string(), 50.0)])
    );
    assert_eq!(change.remove, vec!["consumer_byte_rate".to_string()]);
    assert!(diff_quotas(&desired, &desired).is_empty());
}

#[test]
fn credential_is_applied_once_per_password() {
    use CredentialAction::*;
    assert_eq!(
        credential_action(true, false, None, Some("f1")),
        Upsert,
        "missing in Kafka"
    );
    assert_eq!(
        credential_action(true, true, None, Some("f1")),
        Upsert,
        "never recorded as applied"
    );
    assert_eq!(credential_action(true, true, Some("f1"), Some("f1")), Keep);
    assert_eq!(
        credential_action(true, true, Some("f1"), Some("f2")),
        Upsert,
        "password changed"
    );
    assert_eq!(
        credential_action(true, false, Some("f1"), Some("f1")),
        Upsert,
        "deleted in Kafka"
    );
    assert_eq!(credential_action(true, false, None, None), Keep, "no Secret yet");
    assert_eq!(
        credential_action(false, true, Some("f1"), Some("f1")),
        Delete,
        "no longer SCRAM"
    );
    assert_eq!(credential_action(false, false, None, None), Keep);
}

#[test]
fn a_converged_user_plans_nothing_and_a_deleted_one_leaves_nothing() {
    let s = alice();
    let kafka = KafkaUserState {
        acls: desired_acls("alice", &s).into_iter().collect(),
        quotas: desired_quotas(&s),
        scram: true,
    };
    assert!(plan("alice", &s, &kafka, Some("f"), Some("f")).is_empty());
    let cleanup = cleanup_plan(&kafka);
    assert_eq!(cleanup.acls.delete.len(), 5);
    assert!(cleanup.acls.create.is_empty());
    assert_eq!(cleanup.quotas.remove.len(), 2);
    assert_eq!(cleanup.credential, Some(CredentialAction::Delete));
    assert!(cleanup_plan(&KafkaUserState::default()).is_empty());
}

#[test]
fn missing_cluster_and_missing_listener_name_the_field() {
    let s = alice();
    let r = check(&s, None).unwrap_err();
    assert_eq!(
        (r.reason, r.field.as_str()),
        (UserReason::ClusterNotFound, "spec.cluster")
    );
    assert!(r.message.contains("\"demo\""), "{}", r.message);
    let plain = ClusterOffer::default();
    let r = check(&s, Some(&plain)).unwrap_err();
    assert_eq!(
        (r.reason, r.field.as_str()),
        (UserReason::AuthenticationNotEnabled, "spec.authentication.type")
    );
    let scram = ClusterOffer {
        authentication: BTreeSet::from([AuthKind::Scram]),
        authorization: true,
    };
    assert!(check(&s, Some(&scram)).is_ok());
    let mut tls = s.clone();
    tls.authentication = Some(UserAuthentication {
        type_: AuthenticationType::Tls,
    });
    assert!(check(&tls, Some(&scram)).is_err());
    let mut none = s;
    none.authentication = None;
    let r = check(&none, Some(&plain)).unwrap_err();
    assert_eq!(
        (r.reason, r.field.as_str()),
        (UserReason::AuthorizationNotEnabled, "spec.authorization.acls")
    );
    none.authorization = None;
    assert!(
        check(&none, Some(&plain)).is_ok(),
        "a quota-only user needs no listener or authorizer"
    );
}

#[test]
fn status_keeps_the_transition_time_while_ready_holds() {
    let mut user = KafkaUser::new("alice", alice());
    user.metadata.generation = Some(3);
    let t1 = Timestamp::from_second(1000).unwrap();
    let t2 = Timestamp::from_second(2000).unwrap();
    let s1 = status(&user, true, UserReason::Applied, "ok", Some("alice".into()), t1);
    assert_eq!(s1.principal.as_deref(), Some("User:alice"));
    assert_eq!(s1.observed_generation, Some(3));
    user.status = Some(s1.clone());
    let s2 = status(&user, true, UserReason::Applied, "ok", Some("alice".into()), t2);
    assert_eq!(s1, s2, "no change: identical status, no new timestamp");
    let s3 = status(
        &user,
        false,
        UserReason::KafkaUnavailable,
        "down",
        Some("alice".into()),
        t2,
    );
    assert_eq!(s3.conditions[0].last_transition_time, Time(t2));
}

#[test]
fn spec_types_round_trip() {
    let s = KafkaUserSpec {
        cluster: "demo".into(),
        authentication: None,
        authorization: Some(UserAuthorization {
            type_: "simple".into(),
            acls: vec![AclRule {
                resource: AclResource {
                    type_: AclResourceType::Topic,
                    name: Some("t".into()),
                    pattern_type: None,
                },
                operations: vec![AclOperation::Write],
                host: None,
                permission: AclPermission::Allow,
            }],
        }),
        quotas: Some(UserQuotas::default()),
    };
    let back: KafkaUserSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    assert_eq!(
        serde_json::to_value(&s).unwrap()["authorization"]["acls"][0]["type"],
        "allow"
    );
}
