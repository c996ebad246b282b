//! The credentials Secret of a SCRAM user: named after the user, owned by the KafkaUser,
//! holding the password and a ready-to-use `sasl.jaas.config`. The password is generated once
//! (when the Secret does not exist) and never regenerated; a password the user writes into the
//! Secret is applied to Kafka on the next pass.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sha2::{Digest, Sha256};

use crate::labels;

/// Secret key of the password.
pub const PASSWORD_KEY: &str = "password";
/// Secret key of the JAAS line a Java client sets as `sasl.jaas.config`.
pub const JAAS_KEY: &str = "sasl.jaas.config";
/// Secret key of the user name.
pub const USERNAME_KEY: &str = "username";
/// Length of generated passwords (alphanumeric: about 190 bits).
pub const PASSWORD_LENGTH: usize = 32;

/// A fresh random alphanumeric password.
pub fn generate_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(PASSWORD_LENGTH);
    // Rejection sampling keeps the distribution uniform (62 does not divide 256).
    while out.len() < PASSWORD_LENGTH {
        for b in crate::admin::sasl::random_bytes(64)? {
            let b = usize::from(b);
            if b < 248 && out.len() < PASSWORD_LENGTH {
                out.push(char::from(ALPHABET[b % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// The JAAS configuration of a SCRAM client (quotes and backslashes escaped).
pub fn jaas_config(username: &str, password: &str) -> String {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
        q(username),
        q(password)
    )
}

/// Fingerprint of a password, recorded on the Secret once the password is in Kafka (a short
/// digest, only ever next to the password itself).
pub fn fingerprint(password: &str) -> String {
    let digest = Sha256::digest(password.as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// The password stored in a Secret, if any (and valid UTF-8).
pub fn password_of(secret: &Secret) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(PASSWORD_KEY)?;
    String::from_utf8(bytes.0.clone()).ok().filter(|p| !p.is_empty())
}

/// Labels of a user's Secret (what the operator's Secret watch selects).
pub fn secret_labels(cluster: &str, user: &str) -> BTreeMap<String, String> {
    let mut l = labels::cluster_labels(cluster);
    l.insert(labels::COMPONENT.to_string(), "kafka-user".to_string());
    l.insert(labels::KAFKA_USER.to_string(), user.to_string());
    l
}

/// The Secret of a new SCRAM user.
pub fn scram_secret(
    namespace: &str,
    cluster: &str,
    user: &str,
    password: &str,
    owner: Option<OwnerReference>,
) -> Secret {
    let data = BTreeMap::from([
        (USERNAME_KEY.to_string(), ByteString(user.as_bytes().to_vec())),
        (PASSWORD_KEY.to_string(), ByteString(password.as_bytes().to_vec())),
        (
            JAAS_KEY.to_string(),
            ByteString(jaas_config(user, password).into_bytes()),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(user.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(secret_labels(cluster, user)),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_alphanumeric_and_distinct() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.len(), PASSWORD_LENGTH);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn secret_holds_password_and_a_jaas_line_that_escapes_quotes() {
        let s = scram_secret("ns", "demo", "alice", "p\"w", None);
        let data = s.data.as_ref().unwrap();
        assert_eq!(password_of(&s).as_deref(), Some("p\"w"));
        assert_eq!(
            String::from_utf8(data[JAAS_KEY].0.clone()).unwrap(),
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="p\"w";"#
        );
        assert_eq!(data[USERNAME_KEY].0, b"alice");
        let l = s.metadata.labels.unwrap();
        assert_eq!(l[labels::KAFKA_USER], "alice");
        assert_eq!(l[labels::CLUSTER], "demo");
        assert_eq!(l[labels::MANAGED_BY], labels::MANAGER);
    }

    #[test]
    fn fingerprints_differ_per_password_and_hide_it() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert_eq!(fingerprint("secret").len(), 24);
    }
}
