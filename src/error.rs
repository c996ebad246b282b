//! The operator's errors. Each has a short `kind()` used as the metrics label.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::issue::TlsError),

    #[error("serialization: {0}")]
    Serialization(#[from] serde_json::Error),

    #[error("the KafkaCluster has no {0}")]
    MissingObjectKey(&'static str),

    #[error("the KafkaCluster resource cannot be read: {0}")]
    InvalidObject(String),

    #[error("kubernetes configuration: {0}")]
    Config(String),

    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),

    #[error("leader election: {0}")]
    Lease(String),

    #[error("the API server refused {0}")]
    ApplyFailed(String),
}

impl Error {
    /// A stable, low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Tls(e) => e.kind(),
            Error::Serialization(_) => "serialization",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::InvalidObject(_) => "invalid_object",
            Error::Config(_) => "config",
            Error::Io(_) => "io",
            Error::Lease(_) => "lease",
            Error::ApplyFailed(_) => "apply_failed",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
