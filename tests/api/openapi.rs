//! `GET /api/openapi`: an OpenAPI 3 document of every route, generated from the route table the
//! service mounts; every documented operation is really served.

use std::collections::BTreeSet;

use actix_web::http::{Method, StatusCode};
use serde_json::Value;
use wanderer_kills::web::routes::endpoints;

use crate::helpers::{client, spawn_app};

/// Every `$ref` in `value`.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref" {
                    out.extend(v.as_str().map(str::to_owned));
                }
                refs(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[actix_web::test]
async fn the_document_describes_every_mounted_route_and_each_is_served() {
    let app = spawn_app().await;

    let doc = app.get("/api/openapi").await.json();

    // A well-formed OpenAPI 3 document
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            assert!(operation["summary"].is_string(), "{method} {path}");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            for parameter in operation["parameters"].as_array().expect("parameters") {
                if parameter["in"] == "path" {
                    let name = parameter["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name}"
                    );
                }
            }
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .expect("a local ref");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling {target}"
        );
    }

    // Exactly the mounted routes
    let mounted: BTreeSet<(String, String)> = endpoints()
        .iter()
        .map(|e| (e.method.to_string(), e.path.to_owned()))
        .collect();
    assert_eq!(documented, mounted);

    // Each documented operation is answered by its route, never by the unknown-path 404 or a 405.
    let http = client();
    for (method, path) in &documented {
        let concrete = path
            .replace("{system_id}", "30000142")
            .replace("{killmail_id}", "131000000")
            .replace("{subscriber_id}", "nobody")
            .replace("{id}", "30000142");
        let url = format!("{}{concrete}", app.address);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let request = http.request(method.clone(), &url);
        let response = if method == Method::POST {
            request
                .insert_header(("content-type", "application/json"))
                .send_body("{}")
                .await
        } else {
            request.send().await
        }
        .unwrap_or_else(|e| panic!("{method} {concrete}: {e}"));
        let status = response.status();
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {concrete}"
        );
        if status == StatusCode::NOT_FOUND {
            // A route's own 404 (an unknown killmail) is fine; the unknown-path envelope is not.
            assert!(
                concrete.starts_with("/api/v1/killmail/"),
                "{method} {concrete} is not served"
            );
        }
    }
}
