//! Liveness and health: `GET /ping` and `GET /health` (SPEC §4.2). Container health checks poll
//! `/health`; it answers 503 when the feed's circuit is open or upstream keeps timing out.

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
