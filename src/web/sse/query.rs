//! The query both streams take: `system_ids`, `character_ids`, `min_value`, `preload_days` and
//! repeated `filter=` rules, checked with the documented messages.

use std::collections::HashMap;
use std::sync::Arc;

use ::actors::model::{CharacterId, Filter, FilterLimits, Rule, SystemId};
use serde_json::{json, Value};

use crate::web::filter_query::QueryPairs;

/// At most this many ids in `system_ids` and in `character_ids`.
const MAX_IDS: usize = 100;
/// `preload_days` above this is capped.
const MAX_PRELOAD_DAYS: u64 = 90;

/// The validated query of both streams.
#[derive(Debug, PartialEq)]
pub struct StreamQuery {
    pub systems: Vec<SystemId>,
    pub characters: Vec<CharacterId>,
    pub min_value: Option<f64>,
    pub preload_days: u64,
    pub rules: Vec<Arc<Rule>>,
}

impl StreamQuery {
    /// Reads a raw query string.
    pub fn read(query: &str, limits: &FilterLimits) -> Result<Self, String> {
        let pairs = QueryPairs::parse(query)?;
        let mut out = Self::parse(&pairs.singles())?;
        out.rules = pairs.rules(limits)?.into_iter().map(Arc::new).collect();
        Ok(out)
    }

    pub fn parse(query: &HashMap<String, String>) -> Result<Self, String> {
        let systems = id_list(query, "system_ids", SystemId::new)?;
        let characters = id_list(query, "character_ids", CharacterId::new)?;
        let min_value = match query.get("min_value").map(|v| v.trim()) {
            None | Some("") => None,
            Some(text) => {
                let value: f64 = text
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| format!("Invalid min_value: '{text}' is not a valid number"))?;
                if value < 0.0 {
                    return Err(format!("min_value must be non-negative, got {value:?}"));
                }
                Some(value)
            }
        };
        let preload_days = match query.get("preload_days").map(|v| v.trim()) {
            None | Some("") => 0,
            Some(text) => text
                .parse::<u64>()
                .map_err(|_| format!("Invalid preload_days: '{text}' is not a valid integer"))?
                .min(MAX_PRELOAD_DAYS),
        };
        Ok(Self {
            systems,
            characters,
            min_value,
            preload_days,
            rules: Vec::new(),
        })
    }

    /// No system, no character and no rule: every kill (still subject to `min_value`).
    pub fn filter(&self) -> Filter {
        Filter {
            systems: self.systems.iter().copied().collect(),
            characters: self.characters.iter().copied().collect(),
            rules: self.rules.clone(),
            all: self.systems.is_empty() && self.characters.is_empty() && self.rules.is_empty(),
            min_value: self.min_value,
        }
    }

    pub fn describe(&self) -> Value {
        json!({
            "system_ids": self.systems,
            "character_ids": self.characters,
            "min_value": self.min_value,
            "preload_days": self.preload_days,
            "filters": self.rules,
        })
    }
}

/// A comma-separated id list: each element an integer id, at most [`MAX_IDS`].
fn id_list<T>(
    query: &HashMap<String, String>,
    key: &str,
    id: impl Fn(u64) -> Option<T>,
) -> Result<Vec<T>, String> {
    let Some(text) = query.get(key) else {
        return Ok(Vec::new());
    };
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_IDS {
        return Err(format!("Too many {key} specified (max {MAX_IDS})"));
    }
    items
        .iter()
        .map(|item| {
            item.parse()
                .ok()
                .and_then(&id)
                .ok_or_else(|| format!("Invalid {key}: '{item}' is not a valid integer"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<StreamQuery, String> {
        let query = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        StreamQuery::parse(&query)
    }

    #[test]
    fn bad_filters_get_the_documented_messages() {
        assert_eq!(
            parse(&[("system_ids", "30000142,x")]).unwrap_err(),
            "Invalid system_ids: 'x' is not a valid integer"
        );
        assert_eq!(
            parse(&[("character_ids", "-5")]).unwrap_err(),
            "Invalid character_ids: '-5' is not a valid integer"
        );
        assert_eq!(
            parse(&[("min_value", "-100")]).unwrap_err(),
            "min_value must be non-negative, got -100.0"
        );
        assert_eq!(
            parse(&[("min_value", "x")]).unwrap_err(),
            "Invalid min_value: 'x' is not a valid number"
        );
        let many = (1..=101)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            parse(&[("system_ids", &many)]).unwrap_err(),
            "Too many system_ids specified (max 100)"
        );
    }

    #[test]
    fn no_ids_means_every_kill_and_preload_days_is_capped() {
        let query = parse(&[("min_value", "1e9"), ("preload_days", "365")]).expect("valid");

        let filter = query.filter();

        assert!(filter.all);
        assert_eq!(filter.min_value, Some(1e9));
        assert_eq!(query.preload_days, 90);
        let query = parse(&[("system_ids", " 30000142 , 30002187,")]).expect("valid");
        assert!(!query.filter().all);
        assert_eq!(query.systems.len(), 2);
    }
}
