//! The OpenAPI 3 document of every route, generated from the route table
//! ([`super::routes::endpoints`]), so it describes exactly what the service mounts.

pub mod schemas;
pub mod transports;

use serde_json::{json, Map, Value};

use super::routes::endpoints;
use schemas::{killmail_schema, timestamp};

/// `GET /api/openapi`
pub async fn openapi() -> actix_web::HttpResponse {
    super::json(actix_web::http::StatusCode::OK, &document())
}

/// The OpenAPI 3 document of [`endpoints`].
pub fn document() -> Value {
    let mut paths = Map::new();
    for endpoint in endpoints() {
        let item = paths
            .entry(endpoint.path.to_owned())
            .or_insert_with(|| json!({}));
        let method = endpoint.method.as_str().to_ascii_lowercase();
        item[method] = (endpoint.doc)().0;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "wanderer-kills",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time EVE Online killmails: REST, Server-Sent Events, webhooks and Phoenix channels."
        },
        "paths": paths,
        "components": {"schemas": {
            "Killmail": killmail_schema(),
            "Error": {"type": "object", "required": ["error", "code", "details", "timestamp"], "properties": {
                "error": {"type": "string"}, "code": {"type": "string"},
                "details": {"type": "object", "nullable": true}, "timestamp": timestamp()}},
        }}
    })
}

/// An OpenAPI operation object under construction.
pub struct Operation(pub Value);

impl Operation {
    pub fn new(tag: &str, summary: &str) -> Self {
        Self(json!({"tags": [tag], "summary": summary, "parameters": [], "responses": {}}))
    }

    pub fn parameter(mut self, name: &str, place: &str, kind: &str, description: &str) -> Self {
        let required = place == "path";
        if let Some(list) = self.0["parameters"].as_array_mut() {
            list.push(json!({"name": name, "in": place, "required": required,
                             "description": description, "schema": {"type": kind}}));
        }
        self
    }

    /// A positive integer id in the path.
    pub fn path(self, name: &str, description: &str) -> Self {
        self.parameter_schema(
            name,
            "path",
            true,
            json!({"type": "integer", "minimum": 1, "maximum": u64::MAX}),
            description,
        )
    }

    /// A parameter with its full schema.
    pub fn parameter_schema(
        mut self,
        name: &str,
        place: &str,
        required: bool,
        schema: Value,
        description: &str,
    ) -> Self {
        if let Some(list) = self.0["parameters"].as_array_mut() {
            list.push(json!({"name": name, "in": place, "required": required,
                             "description": description, "schema": schema}));
        }
        self
    }

    /// An optional query parameter with its full schema (bounds, patterns).
    pub fn query_schema(self, name: &str, schema: Value, description: &str) -> Self {
        self.parameter_schema(name, "query", false, schema, description)
    }

    pub fn path_string(self, name: &str, description: &str) -> Self {
        self.parameter(name, "path", "string", description)
    }

    pub fn query(self, name: &str, kind: &str, description: &str) -> Self {
        self.parameter(name, "query", kind, description)
    }

    pub fn body(mut self, schema: Value) -> Self {
        self.0["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": schema}}});
        self
    }

    pub fn response(mut self, code: u16, description: &str, content: Option<Value>) -> Self {
        let mut answer = json!({"description": description});
        if let Some(content) = content {
            answer["content"] = content;
        }
        self.0["responses"][code.to_string()] = answer;
        self
    }

    pub fn json(self, code: u16, description: &str, schema: Value) -> Self {
        self.response(
            code,
            description,
            Some(json!({"application/json": {"schema": schema}})),
        )
    }

    pub fn text(self, code: u16, description: &str) -> Self {
        self.response(
            code,
            description,
            Some(json!({"text/plain": {"schema": {"type": "string"}}})),
        )
    }
}
