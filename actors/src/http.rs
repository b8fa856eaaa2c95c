//! The per-process HTTP endpoint: `/metrics` (Prometheus text), `/healthz` (alive) and
//! `/readyz` (every readiness check passes and the process is not draining).

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::health::Readiness;
use crate::telemetry::Telemetry;

#[derive(Clone)]
struct AppState {
    telemetry: Telemetry,
    readiness: Readiness,
}

/// The bound endpoint; the server runs until `stop` resolves.
pub struct HttpEndpoint {
    pub local_addr: SocketAddr,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds `addr` (port 0 picks a free one) and serves until `stop` resolves. Bind errors are
/// returned, so a taken port is a clear start-up error.
pub async fn serve<F>(
    addr: SocketAddr,
    telemetry: Telemetry,
    readiness: Readiness,
    stop: F,
) -> std::io::Result<HttpEndpoint>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(AppState {
            telemetry,
            readiness,
        });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "HTTP endpoint failed");
        }
    });
    Ok(HttpEndpoint { local_addr, task })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.telemetry.render(),
    )
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.readiness.evaluate().await;
    let checks: serde_json::Map<String, serde_json::Value> = report
        .checks
        .iter()
        .map(|(name, err)| {
            let v = match err {
                None => serde_json::Value::String("ok".into()),
                Some(e) => serde_json::Value::String(e.clone()),
            };
            (name.clone(), v)
        })
        .collect();
    let body =
        serde_json::json!({ "ready": report.ready, "draining": report.draining, "checks": checks });
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}
