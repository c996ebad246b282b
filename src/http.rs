//! The operator's small HTTP server: `/healthz` (the controller loop runs), `/readyz` (every
//! cache has its first full list and the API server answers) and `/metrics` (OpenMetrics when
//! asked for, as Prometheus does).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// What the probes report.
#[derive(Debug)]
pub struct Health {
    /// This replica stands by for the leader Lease: healthy and ready, with no controller loop.
    pub standby: AtomicBool,
    /// The controller loop is running.
    pub alive: AtomicBool,
    /// Watch scopes (namespaces, or one for all) the operator runs.
    pub scopes: AtomicUsize,
    /// Scopes whose caches have all synced.
    pub scopes_synced: AtomicUsize,
    /// The operator's last request to the API server got no answer (connection refused, reset,
    /// timed out). The watches keep retrying with backoff, so this clears at the first answer.
    pub api_unreachable: AtomicBool,
}

impl Health {
    pub fn new(scopes: usize) -> Self {
        Self {
            standby: AtomicBool::new(false),
            alive: AtomicBool::new(false),
            scopes: AtomicUsize::new(scopes.max(1)),
            scopes_synced: AtomicUsize::new(0),
            api_unreachable: AtomicBool::new(false),
        }
    }

    /// Records whether a request to the API server got an answer.
    pub fn api_answered(&self, answered: bool) {
        self.api_unreachable.store(!answered, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
            || (self.alive.load(Ordering::Relaxed)
                && self.scopes_synced.load(Ordering::Relaxed) >= self.scopes.load(Ordering::Relaxed))
    }

    /// Ready, or why not. Not ready while the API server does not answer: the operator cannot
    /// act then (a standby stays ready). Liveness stays up: a restart would not bring the API
    /// server back.
    pub fn readiness(&self) -> Result<(), &'static str> {
        if self.api_unreachable.load(Ordering::Relaxed) && !self.standby.load(Ordering::Relaxed) {
            Err("the API server does not answer")
        } else if self.is_ready() {
            Ok(())
        } else {
            Err("caches not synced yet")
        }
    }

    pub fn is_alive(&self) -> bool {
        self.standby.load(Ordering::Relaxed) || self.alive.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    if s.health.is_alive() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller loop is not running",
        )
    }
}

async fn readyz(State(s): State<HttpState>) -> impl IntoResponse {
    match s.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

async fn metrics(State(s): State<HttpState>, headers: axum::http::HeaderMap) -> impl IntoResponse {
    let accept = headers.get("accept").and_then(|v| v.to_str().ok());
    (
        [("content-type", crate::metrics::content_type(accept))],
        s.metrics.encode(),
    )
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, state: HttpState) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    axum::serve(listener, router(state)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_caches_and_the_api_server() {
        let h = Health::new(1);
        assert_eq!(h.readiness(), Err("caches not synced yet"));
        h.alive.store(true, Ordering::Relaxed);
        h.scopes_synced.store(1, Ordering::Relaxed);
        assert_eq!(h.readiness(), Ok(()));
        h.api_answered(false);
        assert_eq!(h.readiness(), Err("the API server does not answer"));
        assert!(h.is_alive(), "liveness stays up during an outage");
        h.api_answered(true);
        assert_eq!(h.readiness(), Ok(()));
        h.api_answered(false);
        h.standby.store(true, Ordering::Relaxed);
        assert_eq!(h.readiness(), Ok(()), "a standby stays ready");
    }
}
