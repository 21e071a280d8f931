//! The query string of a route that takes filter rules (SSE streams, the kills listing): its
//! pairs in order, so the repeated `filter=` parameters (one rule each, URL form) are all read.

use std::collections::HashMap;

use ::actors::model::filter::rules_from_url;
use ::actors::model::{FilterLimits, Rule};
use actix_web::web;

/// The pairs of a query string; a later pair of the same name wins where one value is taken.
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    /// Reads a raw query string; one that does not decode is refused with the reason.
    pub fn parse(query: &str) -> Result<Self, String> {
        web::Query::<Vec<(String, String)>>::from_query(query)
            .map(|q| Self(q.into_inner()))
            .map_err(|e| format!("Invalid query string: {e}"))
    }

    /// The single-valued parameters (the last of each name).
    pub fn singles(&self) -> HashMap<String, String> {
        self.0.iter().cloned().collect()
    }

    /// The `filter=` rules, numbered from 1; a bad one is refused naming its condition.
    pub fn rules(&self, limits: &FilterLimits) -> Result<Vec<Rule>, String> {
        let texts: Vec<&str> = self
            .0
            .iter()
            .filter(|(k, _)| k == "filter")
            .map(|(_, v)| v.as_str())
            .collect();
        rules_from_url(texts.into_iter(), limits).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_filter_parameter_is_one_rule_in_order() {
        let pairs = QueryPairs::parse(
            "filter=region%3A10000002%3Bship_group%3A30%2C659%3Brole%3Avictim&min_value=5&filter=alliance:99005338",
        )
        .expect("decodes");
        let rules = pairs.rules(&FilterLimits::default()).expect("valid");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].regions.len(), 1);
        assert_eq!(rules[0].ship_groups.len(), 2);
        assert_eq!((rules[0].id, rules[1].id), (1, 2));
        assert_eq!(rules[1].alliances.len(), 1);
        assert_eq!(
            pairs.singles().get("min_value").map(String::as_str),
            Some("5")
        );
    }

    #[test]
    fn a_bad_rule_names_its_place_condition_and_value() {
        let pairs =
            QueryPairs::parse("filter=space:lowsec&filter=value%3E%3Dlots").expect("decodes");
        let err = pairs.rules(&FilterLimits::default()).expect_err("refused");
        assert_eq!(
            err,
            r#"filter 2: min_value: "lots" is not an ISK value (a number, 0 or more)"#
        );
    }
}
