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
    /// `true`: known to the zKillboard API and ESI only, not on the feed (what a backfill
    /// finds); put it on the feed later with `/_simulator/feed`.
    #[serde(default)]
    history: bool,
    /// How long ago the kill happened, in seconds (default: now). zKillboard's API shows only
    /// kills older than a few minutes.
    age_s: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct FeedQuery {
    killmail_id: u64,
}

/// `POST /_simulator/feed?killmail_id=`: puts a kill known to the API on the feed too.
pub(super) async fn feed(shared: web::Data<Shared>, query: web::Query<FeedQuery>) -> HttpResponse {
    match shared.put_on_feed(query.killmail_id) {
        Some(sequence) => json_body(StatusCode::OK, &json!({"sequence": sequence})),
        None => json_body(StatusCode::NOT_FOUND, &json!({"error": "no such kill"})),
    }
}

/// `POST /_simulator/publish?system_id=&count=&history=&age_s=`: publishes kills now and lists
/// them.
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
                    if let Some(age) = query.age_s {
                        kill.set_age(crate::simulator::unix_now(), age);
                    }
                },
                !query.history,
            );
            json!({"killmail_id": p.kill.killmail_id, "system_id": p.kill.system_id(),
                   "sequence": p.sequence})
        })
        .collect();
    json_body(StatusCode::OK, &json!({"published": published}))
}
