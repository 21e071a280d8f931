//! Liveness and readiness (SPEC §4.2). `GET /health` (and `/api/health`) is the report: 503
//! when the feed's circuit is open or upstream keeps timing out, so a load balancer can stop
//! sending clients. In cluster mode it also shows the instance's role, its NATS connection and
//! its lag behind the shared log; a lost NATS connection makes it `degraded` (it still serves
//! what it has). `GET /health/ready` is 200 only when the report is healthy and, in cluster
//! mode, the instance has read the shared log up to where it stood at start and is connected. `GET /health/live` is liveness: 200 while the service runs,
//! whatever zKillboard does, so a container health check never restarts a healthy instance
//! during an upstream outage. `GET /ping` answers `pong`.

use actix_web::{http::StatusCode, web, HttpResponse};
use actors::cluster::status::ClusterView;
use actors::model::now_iso;
use actors::monitor::{GetHealth, HealthReport, Status};
use serde::Serialize;

use super::{errors::ApiError, json, AppState};

pub async fn ping() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("pong")
}

#[derive(Serialize)]
struct HealthBody {
    #[serde(flatten)]
    report: HealthReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ClusterView>,
    timestamp: String,
}

/// The report, with the cluster's part folded in.
async fn report(state: &AppState) -> Result<HealthBody, ApiError> {
    let mut report = state.engine.monitor.send(GetHealth).await?;
    let status = state.engine.cluster.as_ref().map(|c| &c.status);
    if status.is_some_and(|s| !s.connected()) && matches!(report.status, Status::Ok) {
        report.status = Status::Degraded;
    }
    let cluster = status.map(|s| s.view());
    Ok(HealthBody {
        report,
        cluster,
        timestamp: now_iso(),
    })
}

/// `GET /health/live`: the engine answers.
pub async fn live(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.engine.monitor.send(GetHealth).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "uptime_seconds": state.engine.stats.uptime_seconds(),
            "timestamp": now_iso(),
        }),
    ))
}

/// `GET /health`, `/api/health`: the full report, 503 when unhealthy.
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let body = report(&state).await?;
    let status = match body.report.healthy {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    Ok(json(status, &body))
}

/// `GET /health/ready`: the report, 200 only when this instance should take clients.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let body = report(&state).await?;
    let cluster_ready = body.cluster.as_ref().is_none_or(|c| c.ready);
    let status = match body.report.healthy && cluster_ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    Ok(json(status, &body))
}
