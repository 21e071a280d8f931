//! The simulator's own control route, for load tools and demos: publish kills on demand
//! (`--rate-ms` publishes on a timer). Not part of what zKillboard or ESI answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::json_body;
use crate::simulator::Shared;

/// Kills one call may publish.
const MAX_COUNT: usize = 1000;

#[derive(Deserialize)]
pub(super) struct PublishQuery {
    /// The system the kills happen in; the story's own systems when absent.
    system_id: Option<u64>,
    /// How many kills (1-1000, default 1).
    count: Option<usize>,
}

/// `POST /_simulator/publish?system_id=&count=`: publishes kills now and lists them.
pub(super) async fn publish(
    shared: web::Data<Shared>,
    query: web::Query<PublishQuery>,
) -> HttpResponse {
    let count = query.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return json_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("count must be 1-{MAX_COUNT}")}),
        );
    }
    let published: Vec<_> = (0..count)
        .map(|_| {
            let p = shared.record(
                |kill| {
                    if let Some(system) = query.system_id {
                        kill.set_system(system);
                    }
                },
                true,
            );
            json!({"killmail_id": p.kill.killmail_id, "system_id": p.kill.system_id(),
                   "sequence": p.sequence})
        })
        .collect();
    json_body(StatusCode::OK, &json!({"published": published}))
}
