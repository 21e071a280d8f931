//! What ESI answers: killmails, names, characters, corporations, alliances, types and systems,
//! behind ESI's error budget and the simulator's faults.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use std::time::Duration;

use super::json_body;
use crate::simulator::Shared;

pub(super) fn esi_scope(prefix: &str) -> actix_web::Scope {
    web::scope(prefix)
        .route("/killmails/{id}/{hash}", web::get().to(esi_killmail))
        .route("/universe/names", web::post().to(esi_names))
        .route("/characters/{id}", web::get().to(esi_character))
        .route("/corporations/{id}", web::get().to(esi_corporation))
        .route("/alliances/{id}", web::get().to(esi_alliance))
        .route("/universe/types/{id}", web::get().to(esi_type))
        .route("/universe/systems/{id}", web::get().to(esi_system))
}

/// Counts every request by route label and by exact path, and keeps its headers.
/// Applies latency, the error limit and injected errors. `Err` is the answer to send instead.
async fn esi_gate(shared: &Shared) -> Result<(), HttpResponse> {
    let latency = shared.lock().faults.esi_latency_ms;
    if latency > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(latency)).await;
    }
    let refusal = {
        let mut s = shared.lock();
        s.esi_errors.roll();
        let rate = s.faults.esi_error_rate;
        if s.esi_errors.remain() == 0 {
            Some(json_body(
                StatusCode::from_u16(420).unwrap_or(StatusCode::TOO_MANY_REQUESTS),
                &json!({"error": "This software has exceeded the error limit for ESI."}),
            ))
        } else if s.fault(rate) {
            let statuses = [
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT,
            ];
            let status = statuses[s.fault_rng.below(statuses.len() as u64) as usize];
            Some(json_body(
                status,
                &json!({"error": status.canonical_reason().unwrap_or("error")}),
            ))
        } else {
            None
        }
    };
    match refusal {
        Some(res) => Err(finish_esi(shared, res)),
        None => Ok(()),
    }
}

/// Counts an answer of 400 or more against the error limit (420s excepted, as they are the limit
/// itself), then announces what is left, as ESI does.
fn finish_esi(shared: &Shared, mut res: HttpResponse) -> HttpResponse {
    let mut s = shared.lock();
    if res.status().as_u16() >= 400 && res.status().as_u16() != 420 {
        s.esi_errors.errors += 1;
    }
    for (name, value) in [
        (
            "x-esi-error-limit-remain",
            s.esi_errors.remain().to_string(),
        ),
        (
            "x-esi-error-limit-reset",
            s.esi_errors.reset_in().to_string(),
        ),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            res.headers_mut()
                .insert(header::HeaderName::from_static(name), value);
        }
    }
    res
}

/// Answers `found` (200) or a 404 with ESI's message, after the gate.
async fn esi_answer(
    shared: &Shared,
    found: impl FnOnce(&crate::simulator::State) -> Option<Value>,
    missing: &str,
) -> HttpResponse {
    if let Err(refused) = esi_gate(shared).await {
        return refused;
    }
    let body = found(&shared.lock());
    let res = match body {
        Some(body) => json_body(StatusCode::OK, &body),
        None => json_body(StatusCode::NOT_FOUND, &json!({"error": missing})),
    };
    finish_esi(shared, res)
}

async fn esi_killmail(shared: web::Data<Shared>, path: web::Path<(u64, String)>) -> HttpResponse {
    let (id, hash) = path.into_inner();
    if let Err(refused) = esi_gate(&shared).await {
        return refused;
    }
    let s = shared.lock();
    let res = match s.by_id.get(&id).map(|&i| &s.kills[i].kill) {
        Some(k) if k.hash == hash => json_body(StatusCode::OK, &k.esi),
        Some(_) => json_body(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"error": "Invalid killmail_id and/or killmail_hash"}),
        ),
        None => json_body(
            StatusCode::NOT_FOUND,
            &json!({"error": "Killmail not found"}),
        ),
    };
    drop(s);
    finish_esi(&shared, res)
}

async fn esi_names(shared: web::Data<Shared>, body: web::Bytes) -> HttpResponse {
    let ids: Vec<u64> = match serde_json::from_slice(&body) {
        Ok(ids) => ids,
        Err(_) => {
            return json_body(
                StatusCode::BAD_REQUEST,
                &json!({"error": "Invalid body: expected a list of ids"}),
            )
        }
    };
    if ids.is_empty() || ids.len() > 1000 {
        return json_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": "Between 1 and 1000 ids are required"}),
        );
    }
    if let Err(refused) = esi_gate(&shared).await {
        return refused;
    }
    let world = shared.lock().world.clone();
    let mut unique = ids;
    unique.sort_unstable();
    unique.dedup();
    let resolved: Option<Vec<Value>> = unique
        .iter()
        .map(|&id| {
            world
                .name(id)
                .map(|(name, category)| json!({"id": id, "name": name, "category": category}))
        })
        .collect();
    let res = match resolved {
        Some(names) => json_body(StatusCode::OK, &Value::Array(names)),
        None => json_body(
            StatusCode::NOT_FOUND,
            &json!({"error": "Ensure all IDs are valid before resolving."}),
        ),
    };
    finish_esi(&shared, res)
}

async fn esi_character(shared: web::Data<Shared>, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    esi_answer(
        &shared,
        |s| {
            s.world.character(id).map(|c| {
                let mut body = json!({"name": c.name, "corporation_id": c.corporation_id, "birthday": "2015-03-24T11:37:00Z",
                                      "bloodline_id": 1 + id % 8, "race_id": 1 + id % 4, "gender": if id % 2 == 0 { "male" } else { "female" },
                                      "security_status": c.security_status});
                if let Some(a) = c.alliance_id {
                    body["alliance_id"] = json!(a);
                }
                body
            })
        },
        "Character not found",
    )
    .await
}

async fn esi_corporation(shared: web::Data<Shared>, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    esi_answer(
        &shared,
        |s| {
            s.world.corporation(id).map(|c| {
                let mut body = json!({"name": c.name, "ticker": c.ticker, "member_count": c.member_count,
                                      "ceo_id": crate::simulator::world::CHARACTER_BASE + id % 400, "creator_id": crate::simulator::world::CHARACTER_BASE,
                                      "tax_rate": 0.1});
                if let Some(a) = c.alliance_id {
                    body["alliance_id"] = json!(a);
                }
                body
            })
        },
        "Corporation not found",
    )
    .await
}

async fn esi_alliance(shared: web::Data<Shared>, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    esi_answer(
        &shared,
        |s| {
            s.world.alliance(id).map(|a| {
                json!({"name": a.name, "ticker": a.ticker, "creator_id": crate::simulator::world::CHARACTER_BASE,
                       "creator_corporation_id": crate::simulator::world::CORPORATION_BASE, "date_founded": "2016-01-01T00:00:00Z",
                       "executor_corporation_id": crate::simulator::world::CORPORATION_BASE})
            })
        },
        "Alliance not found",
    )
    .await
}

async fn esi_type(shared: web::Data<Shared>, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    esi_answer(
        &shared,
        |s| {
            s.world.inventory_type(id).map(|(name, group_id)| {
                json!({"type_id": id, "name": name, "group_id": group_id, "description": "", "published": true})
            })
        },
        "Type not found",
    )
    .await
}

async fn esi_system(shared: web::Data<Shared>, id: web::Path<u64>) -> HttpResponse {
    let id = id.into_inner();
    esi_answer(
        &shared,
        |s| {
            s.world.system(id).map(|(name, security)| {
                json!({"system_id": id, "name": name, "security_status": security, "constellation_id": 20_000_000 + id % 1000,
                       "star_id": 40_000_000 + id % 100_000})
            })
        },
        "Solar system not found",
    )
    .await
}
