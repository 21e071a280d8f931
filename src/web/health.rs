//! Liveness and readiness (SPEC §4.2). `GET /health` (and `/api/health`, `/health/ready`) is
//! readiness: 503 when the feed's circuit is open or upstream keeps timing out, so a load
//! balancer can stop sending clients. `GET /health/live` is liveness: 200 while the service runs,
//! whatever zKillboard does, so a container health check never restarts a healthy instance
//! during an upstream outage. `GET /ping` answers `pong`.

use actix_web::{http::StatusCode, web, HttpResponse};
use actors::model::now_iso;
use actors::monitor::{GetHealth, HealthReport};
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
    timestamp: String,
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

/// `GET /health`, `/api/health`, `/health/ready`: the full report, 503 when unhealthy.
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let report = state.engine.monitor.send(GetHealth).await?;
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json(
        status,
        &HealthBody {
            report,
            timestamp: now_iso(),
        },
    ))
}
