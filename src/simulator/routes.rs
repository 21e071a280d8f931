//! The simulator's HTTP routes: what R2Z2, RedisQ, the zKillboard API and ESI answer.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::{from_fn, Next, NormalizePath};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{unix_now, R2Object, Shared};

/// zKillboard hides kills younger than this from its API.
const ZKB_HIDDEN_SECS: i64 = 300;
/// zKillboard's largest `pastSeconds`.
const ZKB_MAX_PAST_SECONDS: u64 = 604_800;

pub(super) fn server(shared: Shared, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(shared);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(web::resource("/ephemeral/sequence.json").route(web::get().to(r2z2_sequence)))
            .service(web::resource("/ephemeral/{file}").route(web::get().to(r2z2_object)))
            .service(web::resource("/listen.php").route(web::get().to(redisq_listen)))
            .service(web::resource("/redisq/listen.php").route(web::get().to(redisq_listen)))
            .service(
                web::scope("/api")
                    .route(
                        "/systemID/{id}/pastSeconds/{seconds}",
                        web::get().to(zkb_system),
                    )
                    .route("/killID/{id}", web::get().to(zkb_kill)),
            )
            .service(esi_scope("/latest"))
            .service(esi_scope(""))
            .wrap(NormalizePath::trim())
            .wrap(from_fn(count_requests))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

fn esi_scope(prefix: &str) -> actix_web::Scope {
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
async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let shared = req.app_data::<web::Data<Shared>>().cloned();
    let method = req.method().to_string();
    let path = strip_latest(req.path().trim_end_matches('/')).to_owned();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let res = next.call(req).await?;
    let pattern = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".into());
    let pattern = strip_latest(&pattern).replace("/ephemeral/{file}", "/ephemeral/{seq}.json");
    if let Some(shared) = shared {
        let label = format!("{method} {pattern}");
        let mut s = shared.lock();
        *s.requests.entry(label.clone()).or_default() += 1;
        *s.paths.entry(path).or_default() += 1;
        s.last_headers.insert(label, headers);
    }
    Ok(res)
}

fn strip_latest(path: &str) -> &str {
    path.strip_prefix("/latest")
        .filter(|p| p.is_empty() || p.starts_with('/'))
        .unwrap_or(path)
}

fn json_body(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

// ------------------------------------------------------------------------------------------
// R2Z2

/// The injected R2Z2 refusal for this request, if any: 503, or 429 with `Retry-After`.
fn r2z2_refusal(s: &mut super::State) -> Option<HttpResponse> {
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

async fn r2z2_sequence(shared: web::Data<Shared>) -> HttpResponse {
    let mut s = shared.lock();
    if let Some(refusal) = r2z2_refusal(&mut s) {
        return refusal;
    }
    let newest = s.next_sequence.saturating_sub(1);
    let head = newest
        .saturating_sub(s.head_lag)
        .max(super::FIRST_SEQUENCE.saturating_sub(1));
    json_body(StatusCode::OK, &json!({"sequence": head}))
}

async fn r2z2_object(shared: web::Data<Shared>, file: web::Path<String>) -> HttpResponse {
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
struct ListenQuery {
    #[serde(rename = "queueID")]
    queue_id: Option<String>,
    ttw: Option<u64>,
}

async fn redisq_listen(
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

async fn zkb_system(
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

async fn zkb_kill(req: HttpRequest, shared: web::Data<Shared>, id: web::Path<u64>) -> HttpResponse {
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
    found: impl FnOnce(&super::State) -> Option<Value>,
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
                                      "ceo_id": super::world::CHARACTER_BASE + id % 400, "creator_id": super::world::CHARACTER_BASE,
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
                json!({"name": a.name, "ticker": a.ticker, "creator_id": super::world::CHARACTER_BASE,
                       "creator_corporation_id": super::world::CORPORATION_BASE, "date_founded": "2016-01-01T00:00:00Z",
                       "executor_corporation_id": super::world::CORPORATION_BASE})
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
