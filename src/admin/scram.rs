//! SCRAM credentials of users: DescribeUserScramCredentials and AlterUserScramCredentials.
//! The password never goes to Kafka: the client sends the salted password (RFC 5802 `Hi`).

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest};
use kafka_protocol::protocol::StrBytes;

use super::client::{AdminClient, Target};
use super::conn::Connector;
use super::error::{AdminError, check};
use super::sasl::{ScramMechanism, random_bytes, salted_password};

/// Iterations of the credentials the operator creates (Kafka's own tools default to 4096).
pub const ITERATIONS: u32 = 8192;

/// A change of one user's SCRAM credential.
#[derive(Clone, PartialEq, Eq)]
pub enum ScramChange {
    /// Create or replace the credential of `mechanism` with one for `password`.
    Upsert {
        mechanism: ScramMechanism,
        password: String,
    },
    /// Remove the credential of `mechanism`.
    Delete { mechanism: ScramMechanism },
}

impl std::fmt::Debug for ScramChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScramChange::Upsert { mechanism, .. } => write!(f, "Upsert({})", mechanism.name()),
            ScramChange::Delete { mechanism } => write!(f, "Delete({})", mechanism.name()),
        }
    }
}

fn is_missing(code: i16) -> bool {
    ResponseError::try_from_code(code) == Some(ResponseError::ResourceNotFound)
}

impl<C: Connector> AdminClient<C> {
    /// The SCRAM mechanisms (with iterations) each of `users` has; users without any are absent.
    pub async fn describe_scram_credentials(
        &self,
        users: &[&str],
    ) -> Result<BTreeMap<String, Vec<(ScramMechanism, i32)>>, AdminError> {
        let (resp, _) = self
            .send(Target::Any, None, |_| {
                DescribeUserScramCredentialsRequest::default().with_users(Some(
                    users
                        .iter()
                        .map(|u| UserName::default().with_name(StrBytes::from_string(u.to_string())))
                        .collect(),
                ))
            })
            .await?;
        check(
            "DescribeUserScramCredentials",
            &users.join(","),
            resp.error_code,
            resp.error_message.map(|m| m.to_string()),
        )?;
        let mut out = BTreeMap::new();
        for r in resp.results {
            if is_missing(r.error_code) {
                continue;
            }
            check(
                "DescribeUserScramCredentials",
                &r.user,
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
            let infos = r
                .credential_infos
                .iter()
                .filter_map(|c| Some((ScramMechanism::from_code(c.mechanism)?, c.iterations)))
                .collect();
            out.insert(r.user.to_string(), infos);
        }
        Ok(out)
    }

    /// Applies `change` to `user`'s credentials. Deleting a credential that does not exist
    /// succeeds (the goal is reached).
    pub async fn alter_scram_credential(&self, user: &str, change: &ScramChange) -> Result<(), AdminError> {
        let name = StrBytes::from_string(user.to_string());
        let request = match change {
            ScramChange::Upsert { mechanism, password } => {
                let salt = random_bytes(32).map_err(AdminError::InvalidArgument)?;
                let salted = salted_password(*mechanism, password, &salt, ITERATIONS);
                AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                    ScramCredentialUpsertion::default()
                        .with_name(name)
                        .with_mechanism(mechanism.code())
                        .with_iterations(ITERATIONS as i32)
                        .with_salt(Bytes::from(salt))
                        .with_salted_password(Bytes::from(salted)),
                ])
            }
            ScramChange::Delete { mechanism } => {
                AlterUserScramCredentialsRequest::default().with_deletions(vec![
                    ScramCredentialDeletion::default()
                        .with_name(name)
                        .with_mechanism(mechanism.code()),
                ])
            }
        };
        let (resp, _) = self.send(Target::Any, None, |_| request).await?;
        for r in resp.results {
            let deleting = matches!(change, ScramChange::Delete { .. });
            if deleting && is_missing(r.error_code) {
                continue;
            }
            check(
                "AlterUserScramCredentials",
                &r.user,
                r.error_code,
                r.error_message.map(|m| m.to_string()),
            )?;
        }
        Ok(())
    }
}
