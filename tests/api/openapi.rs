//! `GET /api/openapi`: an OpenAPI 3 document of every route, generated from the route table the
//! service mounts. Every documented operation is really served, and what the service really
//! answers (status and JSON body) is what the document says it answers.

use std::time::Duration;

use actix_web::http::Method;
use serde_json::{json, Value};

use crate::helpers::{client, spawn_app, TestApp};

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

/// Every `(METHOD, path template)` the document describes.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// Checks `value` against an OpenAPI schema (the subset the document uses: `$ref`, `type`,
/// `properties`, `required`, `items`, `enum`, `nullable`); each mismatch is named by its path.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], value, at, errors);
    }
    if value.is_null() {
        if schema.get("type").is_some() && schema["nullable"] != json!(true) {
            errors.push(format!("{at}: null where {} is documented", schema["type"]));
        }
        return;
    }
    let fits = match schema["type"].as_str() {
        None => true,
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some(other) => {
            errors.push(format!("{at}: unknown schema type {other}"));
            true
        }
    };
    if !fits {
        errors.push(format!("{at}: {value} is not of type {}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    for key in schema["required"].as_array().into_iter().flatten() {
        let key = key.as_str().unwrap_or_default();
        if value.get(key).is_none() {
            errors.push(format!("{at}: required `{key}` is missing"));
        }
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (key, property) in properties {
            if let Some(field) = value.get(key) {
                check(doc, property, field, &format!("{at}.{key}"), errors);
            }
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, item) in list.iter().enumerate() {
            check(doc, items, item, &format!("{at}[{i}]"), errors);
        }
    }
}

/// Sends one request; answers the status, the content type and the body.
async fn call(
    app: &TestApp,
    method: &Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String, Vec<u8>) {
    let http = client();
    let request = http
        .request(method.clone(), format!("{}{path}", app.address))
        .timeout(Duration::from_secs(10));
    let sent = match body {
        Some(body) => {
            request
                .insert_header(("content-type", "application/json"))
                .send_body(body.to_string())
                .await
        }
        None => request.send().await,
    };
    let mut response = sent.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // Streams never end; their status and headers are what is checked.
    let body = if content_type.starts_with("text/event-stream") {
        Vec::new()
    } else {
        response
            .body()
            .limit(8 << 20)
            .await
            .expect("a body")
            .to_vec()
    };
    (response.status().as_u16(), content_type, body)
}

#[actix_web::test]
async fn the_document_is_well_formed_and_every_operation_is_served() {
    let app = spawn_app().await;

    let doc = app.get("/api/openapi").await.json();

    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
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
    let operations = operations(&doc);
    assert!(operations.len() >= 20, "{} operations", operations.len());
    // Each documented operation is answered by its route, never by the unknown-path 404 or a 405.
    for (method, path) in &operations {
        let concrete = path
            .replace("{system_id}", "30000142")
            .replace("{killmail_id}", "131000000")
            .replace("{subscriber_id}", "nobody")
            .replace("{id}", "30000142")
            .replace("{seq}", "1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (method == Method::POST).then(|| json!({}));
        let (status, ..) = call(&app, &method, &concrete, body).await;
        assert_ne!(status, 405, "{method} {concrete}");
        if status == 404 {
            // A route's own 404 (an unknown killmail, a sequence not published yet) is fine;
            // the unknown-path envelope is not.
            assert!(
                concrete.starts_with("/api/v1/killmail/") || concrete.starts_with("/ephemeral/"),
                "{method} {concrete} is not served"
            );
        }
    }
}

#[actix_web::test]
async fn real_answers_have_a_documented_status_and_match_the_documented_schema() {
    let app = spawn_app().await;
    app.wait_following().await;
    let system = 30000142;
    let ids = app.publish_in(system, 3);
    let stored = app.wait_stored(system, 3, Duration::from_secs(10)).await;
    let victim = stored[0]["victim"]["character_id"]
        .as_u64()
        .expect("a pilot");
    let doc = app.get("/api/openapi").await.json();

    let webhook = json!({"subscriber_id": "schema", "callback_url": "http://127.0.0.1:9/hook",
                         "system_ids": [system]});
    let requests: Vec<(Method, &str, String, Option<Value>)> = vec![
        (Method::GET, "/ping", "/ping".into(), None),
        (Method::GET, "/health", "/health".into(), None),
        (Method::GET, "/api/health", "/api/health".into(), None),
        (Method::GET, "/status", "/status".into(), None),
        (Method::GET, "/websocket", "/websocket".into(), None),
        (
            Method::GET,
            "/websocket/status",
            "/websocket/status".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/kills/system/{system_id}",
            format!("/api/v1/kills/system/{system}"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/kills/system/{system_id}",
            "/api/v1/kills/system/x".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/kills/cached/{system_id}",
            format!("/api/v1/kills/cached/{system}"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/kills/count/{system_id}",
            format!("/api/v1/kills/count/{system}"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/killmail/{killmail_id}",
            format!("/api/v1/killmail/{}", ids[0]),
            None,
        ),
        (
            Method::GET,
            "/api/v1/killmail/{killmail_id}",
            "/api/v1/killmail/0".into(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/kills/systems",
            "/api/v1/kills/systems".into(),
            Some(json!({"system_ids": [system, 30002187], "since_hours": 24, "limit": 10})),
        ),
        (
            Method::POST,
            "/api/v1/kills/systems",
            "/api/v1/kills/systems".into(),
            Some(json!({"system_ids": []})),
        ),
        (
            Method::POST,
            "/api/v1/subscriptions",
            "/api/v1/subscriptions".into(),
            Some(webhook),
        ),
        (
            Method::POST,
            "/api/v1/subscriptions",
            "/api/v1/subscriptions".into(),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/api/v1/subscriptions",
            "/api/v1/subscriptions".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/subscriptions/stats",
            "/api/v1/subscriptions/stats".into(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/systems/bulk/killmails",
            "/api/v1/systems/bulk/killmails".into(),
            Some(json!({"system_ids": [system], "hours": 24, "limit_per_system": 5})),
        ),
        (
            Method::GET,
            "/api/v1/systems/{id}/killmails",
            format!("/api/v1/systems/{system}/killmails"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/characters/{id}/killmails",
            format!("/api/v1/characters/{victim}/killmails"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/kills/stream",
            format!("/api/v1/kills/stream?system_ids={system}"),
            None,
        ),
        (
            Method::GET,
            "/api/v1/kills/stream",
            "/api/v1/kills/stream?system_ids=x".into(),
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/subscriptions/{subscriber_id}",
            "/api/v1/subscriptions/schema".into(),
            None,
        ),
    ];

    let mut errors = Vec::new();
    let mut checked = 0;
    for (method, template, path, body) in requests {
        let operation = &doc["paths"][template][method.as_str().to_ascii_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        let (status, content_type, bytes) = call(&app, &method, &path, body).await;
        let Some(answer) = operation["responses"].get(status.to_string()) else {
            errors.push(format!(
                "{method} {path}: {status} is not a documented answer"
            ));
            continue;
        };
        let documented = answer["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect::<Vec<_>>());
        let Some(documented) = documented else {
            continue;
        };
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !documented.contains(&media) {
            errors.push(format!(
                "{method} {path}: {media} is not documented ({documented:?})"
            ));
            continue;
        }
        if media == "application/json" {
            let value: Value = serde_json::from_slice(&bytes).expect("a JSON body");
            let schema = &answer["content"]["application/json"]["schema"];
            check(
                &doc,
                schema,
                &value,
                &format!("{method} {path} {status}"),
                &mut errors,
            );
            checked += 1;
        }
    }

    assert!(
        errors.is_empty(),
        "answers that differ from the document:\n{}",
        errors.join("\n")
    );
    assert!(checked >= 18, "{checked} JSON answers checked");
}

#[test]
fn the_checker_finds_a_wrong_type_a_missing_field_and_a_bad_enum_value() {
    let doc = json!({"components": {"schemas": {"K": {"type": "object", "required": ["id"],
        "properties": {"id": {"type": "integer"}, "status": {"type": "string", "enum": ["ok"]}}}}}});
    let schema = json!({"type": "array", "items": {"$ref": "#/components/schemas/K"}});
    let mut errors = Vec::new();

    check(
        &doc,
        &schema,
        &json!([{"id": 1, "status": "ok"}, {"id": "x"}, {"status": "bad"}]),
        "$",
        &mut errors,
    );

    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].starts_with("$[1].id"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.contains("required `id`")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("not one of")),
        "{errors:?}"
    );
}
