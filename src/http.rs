//! The operator's small HTTP server: `/healthz` (the controller loop runs), `/readyz` (every
//! cache has its first full list) and `/metrics` (Prometheus text format).

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
}

impl Health {
    pub fn new(scopes: usize) -> Self {
        Self {
            standby: AtomicBool::new(false),
            alive: AtomicBool::new(false),
            scopes: AtomicUsize::new(scopes.max(1)),
            scopes_synced: AtomicUsize::new(0),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
            || (self.alive.load(Ordering::Relaxed)
                && self.scopes_synced.load(Ordering::Relaxed) >= self.scopes.load(Ordering::Relaxed))
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
    if s.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet")
    }
}

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        s.metrics.encode(),
    )
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, state: HttpState) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    axum::serve(listener, router(state)).await
}
