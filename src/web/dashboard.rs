//! `GET /`: the dashboard. Its files live in `priv/dashboard/` and are compiled into the binary,
//! so the page works wherever the service runs; it loads nothing from outside the service.

use actix_web::http::header;
use actix_web::HttpResponse;

const INDEX: &str = include_str!("../../priv/dashboard/index.html");
const SCRIPT: &str = include_str!("../../priv/dashboard/app.js");
const STYLE: &str = include_str!("../../priv/dashboard/style.css");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}
