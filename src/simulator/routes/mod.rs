//! The simulator's HTTP routes: what R2Z2, RedisQ, the zKillboard API and ESI answer.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next, NormalizePath};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;

mod control;
mod esi;
mod zkill;

use super::Shared;
use esi::esi_scope;
use zkill::{r2z2_object, r2z2_sequence, redisq_listen, zkb_kill, zkb_system};

pub(super) fn server(shared: Shared, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::new(shared);
    // Like the real upstreams' servers, each answer leaves at once (no Nagle delay).
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
            .service(web::resource("/_simulator/publish").route(web::post().to(control::publish)))
            .service(web::resource("/_simulator/feed").route(web::post().to(control::feed)))
            .service(esi_scope("/latest"))
            .service(esi_scope(""))
            .wrap(NormalizePath::trim())
            .wrap(from_fn(count_requests))
    })
    .workers(1)
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

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

pub(super) fn strip_latest(path: &str) -> &str {
    path.strip_prefix("/latest")
        .filter(|p| p.is_empty() || p.starts_with('/'))
        .unwrap_or(path)
}

pub(super) fn json_body(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .body(body.to_string())
}

// ------------------------------------------------------------------------------------------
// R2Z2
