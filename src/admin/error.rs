//! Typed errors of the Kafka admin client.

use std::time::Duration;

use kafka_protocol::error::ResponseError;

/// Every failure of the admin client. [`AdminError::kind`] gives a short, stable label
/// for metrics, logs and status conditions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// No TCP (or TLS) connection could be opened to the address.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The connection broke while sending or receiving.
    #[error("i/o error talking to {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// No answer within the configured time (connect, handshake or request).
    #[error("{what} to {addr} timed out after {after:?}")]
    Timeout {
        addr: String,
        what: String,
        after: Duration,
    },
    /// None of the bootstrap addresses answered.
    #[error("no bootstrap server reachable ({tried}): {last}")]
    NoBrokerAvailable { tried: String, last: Box<AdminError> },
    /// The broker id is not in the cluster metadata.
    #[error("broker {0} is not known to the cluster")]
    UnknownBroker(i32),
    /// Topic (or partition) does not exist.
    #[error("unknown topic or partition: {0}")]
    UnknownTopic(String),
    /// The topic already exists (CreateTopics).
    #[error("topic already exists: {0}")]
    TopicAlreadyExists(String),
    /// The node is not the active controller (or the forwarded request hit a stale one).
    #[error("not the controller: {0}")]
    NotController(String),
    /// The broker to unregister is not registered.
    #[error("broker {0} is not registered")]
    BrokerNotRegistered(i32),
    /// Neither side supports a common version of the API.
    #[error("no common version for {api}: client {client_min}..{client_max}, broker {broker}")]
    UnsupportedVersion {
        api: String,
        client_min: i16,
        client_max: i16,
        broker: String,
    },
    /// Kafka answered with another error code.
    #[error("{api} failed on {resource}: {error}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        api: &'static str,
        resource: String,
        error: ResponseError,
        message: Option<String>,
    },
    /// The peer sent bytes that do not decode, a wrong correlation id or an oversized frame.
    #[error("protocol error from {addr}: {detail}")]
    Protocol { addr: String, detail: String },
    /// The request could not be encoded (a bug or an invalid argument).
    #[error("cannot encode {api} request: {detail}")]
    Encode { api: String, detail: String },
    /// An argument is invalid (e.g. a malformed bootstrap address).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// SASL authentication was refused by the broker or the broker's SCRAM answer did not
    /// verify (wrong password, unknown user, mechanism not enabled on the listener).
    #[error("authentication with {addr} failed: {detail}")]
    Authentication { addr: String, detail: String },
}

impl AdminError {
    /// Short, stable label of the error class.
    pub fn kind(&self) -> &'static str {
        match self {
            AdminError::Connect { .. } => "connect",
            AdminError::Io { .. } => "io",
            AdminError::Timeout { .. } => "timeout",
            AdminError::NoBrokerAvailable { .. } => "no_broker_available",
            AdminError::UnknownBroker(_) => "unknown_broker",
            AdminError::UnknownTopic(_) => "unknown_topic",
            AdminError::TopicAlreadyExists(_) => "topic_already_exists",
            AdminError::NotController(_) => "not_controller",
            AdminError::BrokerNotRegistered(_) => "broker_not_registered",
            AdminError::UnsupportedVersion { .. } => "unsupported_version",
            AdminError::Kafka { .. } => "kafka",
            AdminError::Protocol { .. } => "protocol",
            AdminError::Encode { .. } => "encode",
            AdminError::InvalidArgument(_) => "invalid_argument",
            AdminError::Authentication { .. } => "authentication",
        }
    }

    /// Whether retrying the same operation later may succeed (transport failures,
    /// timeouts and Kafka errors the protocol marks retriable).
    pub fn is_retriable(&self) -> bool {
        match self {
            AdminError::Connect { .. }
            | AdminError::Io { .. }
            | AdminError::Timeout { .. }
            | AdminError::NoBrokerAvailable { .. }
            | AdminError::NotController(_) => true,
            AdminError::Kafka { error, .. } => error.is_retriable(),
            _ => false,
        }
    }

    /// Whether the connection that produced this error must be dropped (its stream
    /// position is unknown, or the peer is gone).
    pub(crate) fn poisons_connection(&self) -> bool {
        matches!(
            self,
            AdminError::Io { .. }
                | AdminError::Timeout { .. }
                | AdminError::Protocol { .. }
                | AdminError::Authentication { .. }
        )
    }

    /// Maps a non-zero Kafka error code of `api` on `resource` to a typed error.
    pub(crate) fn from_code(api: &'static str, resource: &str, code: i16, message: Option<String>) -> Self {
        match ResponseError::try_from_code(code) {
            None => AdminError::Protocol {
                addr: String::new(),
                detail: format!("{api}: error code 0 reported as failure"),
            },
            Some(ResponseError::UnknownTopicOrPartition) | Some(ResponseError::UnknownTopicId) => {
                AdminError::UnknownTopic(resource.to_string())
            }
            Some(ResponseError::TopicAlreadyExists) => AdminError::TopicAlreadyExists(resource.to_string()),
            Some(ResponseError::NotController) => {
                AdminError::NotController(message.unwrap_or_else(|| format!("{api} on {resource}")))
            }
            Some(error) => AdminError::Kafka {
                api,
                resource: resource.to_string(),
                error,
                message,
            },
        }
    }
}

/// `Ok(())` for error code 0, the typed error otherwise.
pub(crate) fn check(
    api: &'static str,
    resource: &str,
    code: i16,
    message: Option<String>,
) -> Result<(), AdminError> {
    if code == 0 {
        Ok(())
    } else {
        Err(AdminError::from_code(api, resource, code, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_typed_errors() {
        assert!(check("Metadata", "t", 0, None).is_ok());
        assert_eq!(
            AdminError::from_code("Metadata", "t", 3, None).kind(),
            "unknown_topic"
        );
        assert_eq!(
            AdminError::from_code("CreateTopics", "t", 36, None).kind(),
            "topic_already_exists"
        );
        let e = AdminError::from_code("CreateTopics", "t", 41, None);
        assert_eq!(e.kind(), "not_controller");
        assert!(e.is_retriable());
        let e = AdminError::from_code("AlterPartitionReassignments", "t-0", 85, Some("none".into()));
        assert_eq!(e.kind(), "kafka");
        assert!(!e.is_retriable());
        assert!(e.to_string().contains("(none)"), "{e}");
        let e = AdminError::from_code("X", "r", 7, None);
        assert!(e.is_retriable(), "RequestTimedOut is retriable");
    }

    #[test]
    fn transport_errors_poison_the_connection() {
        let t = AdminError::Timeout {
            addr: "a".into(),
            what: "x".into(),
            after: Duration::from_secs(1),
        };
        assert!(t.poisons_connection());
        assert_eq!(t.kind(), "timeout");
        assert!(!AdminError::UnknownTopic("t".into()).poisons_connection());
    }
}
