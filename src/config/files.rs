//! The config files: `config/<name>.toml` on disk, else the copy compiled into the binary, and
//! how one layer merges over another.

use std::path::Path;

use super::ConfigError;

/// The four files shipped in `config/`, compiled in so a lone binary still starts.
const EMBEDDED: [(&str, &str); 4] = [
    ("default", include_str!("../../config/default.toml")),
    ("development", include_str!("../../config/development.toml")),
    ("production", include_str!("../../config/production.toml")),
    ("test", include_str!("../../config/test.toml")),
];

/// The sections a config file may have.
pub const SECTIONS: [&str; 16] = [
    "server",
    "websocket",
    "sse",
    "log",
    "upstream",
    "feed",
    "esi",
    "zkb",
    "cache",
    "storage",
    "enrich",
    "monitor",
    "webhooks",
    "filters",
    "relay",
    "cluster",
];

/// Reads `<dir>/<name>.toml`, falling back to the compiled-in copy when the directory lacks it.
/// `Ok(None)` means neither exists.
pub fn read_layer(dir: &Path, name: &str) -> Result<Option<toml::Table>, ConfigError> {
    let path = dir.join(format!("{name}.toml"));
    let (origin, text) = match std::fs::read_to_string(&path) {
        Ok(text) => (path.display().to_string(), text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match EMBEDDED.iter().find(|(n, _)| *n == name) {
                Some((_, text)) => (format!("built-in config/{name}.toml"), (*text).to_owned()),
                None => return Ok(None),
            }
        }
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
    if let Some(unknown) = table.keys().find(|k| !SECTIONS.contains(&k.as_str())) {
        return Err(ConfigError::Syntax {
            origin,
            message: format!("unknown section [{unknown}]"),
        });
    }
    Ok(Some(table))
}

/// Deep-merges `over` into `base`: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
