//! Log output: text (env_logger's, the default) or one JSON object per line (`LOG_FORMAT=json`)
//! with `time`, `level`, `target`, `message` and the `key=value` pairs the message ends with as
//! `fields`, for log collectors that index JSON.

use std::io::Write;

use serde_json::{json, Map, Value};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    pub const NAMES: &'static str = "text, json";

    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Some(Self::Text),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// Installs the logger with `filter` (an env_logger filter) in `format`.
pub fn init(filter: &str, format: LogFormat) {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(filter).format_timestamp_millis();
    if format == LogFormat::Json {
        builder.format(|out, record| {
            let line = json_line(
                record.level().as_str(),
                record.target(),
                &record.args().to_string(),
            );
            writeln!(out, "{line}")
        });
    }
    builder.init();
}

/// `message` split into its prose and the `key=value` pairs after it: the service's messages
/// read "what happened key=value key=value ...", and a value runs to the next ` key=`.
fn split_fields(message: &str) -> (&str, Map<String, Value>) {
    let is_key = |word: &str| {
        word.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
    };
    // Byte offsets of each word that starts a field.
    let mut starts = Vec::new();
    let mut at = 0;
    for word in message.split(' ') {
        if is_key(word) {
            starts.push(at);
        }
        at += word.len() + 1;
    }
    let Some(&first) = starts.first() else {
        return (message, Map::new());
    };
    let mut fields = Map::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(message.len(), |next| next - 1);
        if let Some((key, value)) = message[start..end].split_once('=') {
            fields.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    (message[..first].trim_end(), fields)
}

/// One log record as a JSON line.
pub fn json_line(level: &str, target: &str, message: &str) -> String {
    let (text, fields) = split_fields(message);
    json!({
        "time": actors::model::now_iso(),
        "level": level.to_ascii_lowercase(),
        "target": target,
        "message": text,
        "fields": fields,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_s_key_value_pairs_become_fields_and_values_keep_their_spaces() {
        let line = json_line(
            "WARN",
            "actors::webhooks::endpoint",
            "webhook delivery failed url=http://x/hook attempts=6 error=connection refused (os error 111)",
        );
        let v: Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["target"], "actors::webhooks::endpoint");
        assert_eq!(v["message"], "webhook delivery failed");
        assert_eq!(v["fields"]["url"], "http://x/hook");
        assert_eq!(v["fields"]["attempts"], "6");
        assert_eq!(v["fields"]["error"], "connection refused (os error 111)");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    #[test]
    fn prose_alone_has_no_fields_and_quotes_and_newlines_stay_one_valid_line() {
        let line = json_line("INFO", "wanderer_kills", "listening on \"0.0.0.0\"\nnext");
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["message"], "listening on \"0.0.0.0\"\nnext");
        assert_eq!(v["fields"], json!({}));
        assert_eq!(LogFormat::parse(" JSON "), Some(LogFormat::Json));
        assert_eq!(LogFormat::parse("xml"), None);
    }
}
