//! What zKillboard answers: R2Z2's sequence and objects, RedisQ's `listen.php`, and the API's
//! system and killmail routes.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use std::time::Duration;

use super::json_body;
use crate::simulator::{unix_now, R2Object, Shared};

/// zKillboard hides kills younger than this from its API.
const ZKB_HIDDEN_SECS: i64 = 300;
/// zKillboard's largest `pastSeconds`.
const ZKB_MAX_PAST_SECONDS: u64 = 604_800;

/// The injected R2Z2 refusal for this request, if any: 503, or 429 with `Retry-After`.
fn r2z2_refusal(s: &mut crate::simulator::State) -> Option<HttpResponse> {
    let (unavailable, limited) = (
        s.faults.r2z2_unavailable_rate,
        s.faults.r2z2_rate_limit_rate,
    );
    if s.fault(unavailable) {
        return Some(HttpResponse::ServiceUnavailable().body("Service Unavailable"));
    }
    s.fault(limited).then(|| {
        HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, "1"))
            .body("Too Many Requests")
    })
}

pub(super) async fn r2z2_sequence(shared: web::Data<Shared>) -> HttpResponse {
    let mut s = shared.lock();
    if let Some(refusal) = r2z2_refusal(&mut s) {
        return refusal;
    }
    let newest = s.next_sequence.saturating_sub(1);
    let head = newest
        .saturating_sub(s.head_lag)
        .max(crate::simulator::FIRST_SEQUENCE.saturating_sub(1));
    json_body(StatusCode::OK, &json!({"sequence": head}))
}

pub(super) async fn r2z2_object(
    shared: web::Data<Shared>,
    file: web::Path<String>,
) -> HttpResponse {
    let Some(sequence) = file
        .strip_suffix(".json")
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return HttpResponse::NotFound().finish();
    };
    let mut s = shared.lock();
    if let Some(refusal) = r2z2_refusal(&mut s) {
        return refusal;
    }
    let garbage = s.faults.r2z2_garbage_rate;
    let Some(object) = s.objects.get(&sequence).cloned() else {
        return HttpResponse::NotFound().finish();
    };
    if s.fault(garbage) {
        let bodies = [
            "<html><body>502 Bad Gateway</body></html>",
            "{\"killmail_id\": 12",
            "[]",
            "null",
            "{\"killmail_id\": \"x\"}",
            "{}",
            "{\"killmail_id\": null, \"hash\": null, \"esi\": null}",
        ];
        let pick = s.fault_rng.below(bodies.len() as u64) as usize;
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(bodies[pick]);
    }
    let body = match object {
        R2Object::Kill(position) => {
            let p = &s.kills[position];
            json!({"killmail_id": p.kill.killmail_id, "hash": p.kill.hash, "esi": p.kill.esi, "zkb": p.kill.zkb,
                   "uploaded_at": p.published_at, "sequence_id": sequence})
        }
        R2Object::Placeholder => {
            json!({"killmail_id": null, "hash": null, "esi": null, "zkb": null,
                                        "uploaded_at": unix_now(), "sequence_id": sequence})
        }
        R2Object::Update {
            kill,
            of_sequence,
            zkb,
        } => {
            let p = &s.kills[kill];
            json!({"killmail_id": p.kill.killmail_id, "hash": p.kill.hash, "esi": p.kill.esi, "zkb": zkb,
                   "uploaded_at": unix_now(), "sequence_id": sequence, "sequence_updated": of_sequence})
        }
    };
    json_body(StatusCode::OK, &body)
}

// ------------------------------------------------------------------------------------------
// RedisQ

#[derive(Deserialize)]
pub(super) struct ListenQuery {
    #[serde(rename = "queueID")]
    queue_id: Option<String>,
    ttw: Option<u64>,
}

pub(super) async fn redisq_listen(
    req: HttpRequest,
    shared: web::Data<Shared>,
    query: web::Query<ListenQuery>,
) -> HttpResponse {
    let Some(queue) = query.queue_id.clone().filter(|q| !q.is_empty()) else {
        return json_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": "queueID is required"}),
        );
    };
    if shared.config.redisq_redirects && req.path() == "/listen.php" {
        let location = format!("/redisq/listen.php?{}", req.query_string());
        return HttpResponse::Found()
            .insert_header((header::LOCATION, location))
            .finish();
    }
    let ttw = Duration::from_secs(query.ttw.unwrap_or(10).clamp(1, 10));
    let deadline = actix_web::rt::time::Instant::now() + ttw;
    loop {
        // Registered before looking, so a kill published in between still wakes us.
        let published = shared.published.notified();
        if let Some(package) = next_package(&shared, &queue) {
            return json_body(StatusCode::OK, &json!({"package": package}));
        }
        tokio::select! {
            _ = published => {}
            _ = actix_web::rt::time::sleep_until(deadline) => {
                return json_body(StatusCode::OK, &json!({"package": null}));
            }
        }
    }
}

/// The queue's next kill from the feed, advancing it. A new queue starts at "now".
fn next_package(shared: &Shared, queue: &str) -> Option<Value> {
    let mut s = shared.lock();
    let end = s.kills.len();
    let position = *s.queues.entry(queue.to_owned()).or_insert(end);
    let (offset, p) = s.kills[position..]
        .iter()
        .enumerate()
        .find(|(_, p)| p.sequence.is_some())?;
    let mut package = json!({"killID": p.kill.killmail_id, "zkb": p.kill.zkb});
    if shared.config.redisq_embeds_killmail {
        package["killmail"] = p.kill.esi.clone();
    }
    s.queues.insert(queue.to_owned(), position + offset + 1);
    Some(package)
}

// ------------------------------------------------------------------------------------------
// zKillboard API

fn zkb_refusal(req: &HttpRequest, shared: &Shared) -> Option<HttpResponse> {
    if !req.query_string().is_empty() {
        return Some(json_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": "Query strings are not supported; use path parameters"}),
        ));
    }
    let mut s = shared.lock();
    let rate = s.faults.zkb_error_rate;
    s.fault(rate)
        .then(|| HttpResponse::BadGateway().body("Bad Gateway"))
}

pub(super) async fn zkb_system(
    req: HttpRequest,
    shared: web::Data<Shared>,
    path: web::Path<(u64, u64)>,
) -> HttpResponse {
    if let Some(refusal) = zkb_refusal(&req, &shared) {
        return refusal;
    }
    let (system_id, seconds) = path.into_inner();
    if seconds == 0 || seconds > ZKB_MAX_PAST_SECONDS || seconds % 3600 != 0 {
        return json_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": "pastSeconds must be a multiple of 3600 and at most 604800"}),
        );
    }
    let now = unix_now();
    let s = shared.lock();
    let mut kills: Vec<(i64, Value)> = s
        .kills
        .iter()
        .filter(|p| p.kill.system_id() == system_id)
        .filter_map(|p| {
            let time = kill_time(&p.kill.esi)?;
            let visible = time <= now - ZKB_HIDDEN_SECS && time >= now - seconds as i64;
            visible.then(|| {
                (
                    time,
                    json!({"killmail_id": p.kill.killmail_id, "zkb": p.kill.zkb}),
                )
            })
        })
        .collect();
    kills.sort_by_key(|k| std::cmp::Reverse(k.0));
    json_body(
        StatusCode::OK,
        &Value::Array(kills.into_iter().map(|(_, k)| k).collect()),
    )
}

pub(super) async fn zkb_kill(
    req: HttpRequest,
    shared: web::Data<Shared>,
    id: web::Path<u64>,
) -> HttpResponse {
    if let Some(refusal) = zkb_refusal(&req, &shared) {
        return refusal;
    }
    let s = shared.lock();
    let found = s.by_id.get(&id).map(|&i| &s.kills[i]);
    let body: Vec<Value> = found
        .map(|p| json!({"killmail_id": p.kill.killmail_id, "zkb": p.kill.zkb}))
        .into_iter()
        .collect();
    json_body(StatusCode::OK, &Value::Array(body))
}

fn kill_time(esi: &Value) -> Option<i64> {
    actors::model::KillTime::parse(esi["killmail_time"].as_str()?)
        .ok()
        .map(|t| t.unix())
}

// ------------------------------------------------------------------------------------------
// ESI
