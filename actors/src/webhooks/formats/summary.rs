//! One kill told in a sentence and a few facts, for chat messages: who lost what where, its
//! value, region, final blow and attackers, a link to it on zKillboard and the ship's render.

use crate::model::{Filter, Killmail, StoredKill};

/// What a chat message says about one kill.
pub struct Summary {
    /// "Pilot (Corp) lost a Ship in System".
    pub title: String,
    pub url: String,
    /// "System (Region, lowsec)".
    pub place: String,
    pub region: Option<String>,
    pub value: String,
    pub final_blow: String,
    pub attackers: usize,
    pub thumbnail: Option<String>,
    pub time: String,
    /// The names of the subscription's rules the kill matched.
    pub rules: Vec<String>,
}

/// A number of ISK the way players read it: `1.23B ISK`.
pub fn isk(value: f64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")];
    match UNITS.iter().find(|(size, _)| value >= *size) {
        Some((size, unit)) => format!("{:.2}{unit} ISK", value / size),
        None => format!("{value:.0} ISK"),
    }
}

/// At most `max` characters, ending with an ellipsis when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn who(name: Option<&str>, corporation: Option<&str>, fallback: &str) -> String {
    match (name, corporation) {
        (Some(name), Some(corp)) => format!("{name} ({corp})"),
        (Some(name), None) => name.to_owned(),
        (None, Some(corp)) => corp.to_owned(),
        (None, None) => fallback.to_owned(),
    }
}

impl Summary {
    pub fn of(kill: &StoredKill, filter: &Filter) -> Option<Self> {
        let km: Killmail = kill.killmail()?;
        let v = &km.victim;
        let ship = v
            .ship_name
            .clone()
            .or_else(|| v.ship_type_id.map(|t| format!("ship {t}")))
            .unwrap_or_else(|| "ship".to_owned());
        let system = km
            .solar_system_name
            .clone()
            .unwrap_or_else(|| format!("system {}", km.system_id));
        let victim = who(
            v.character_name.as_deref(),
            v.corporation_name.as_deref(),
            "Someone",
        );
        let article = if ship.starts_with(['A', 'E', 'I', 'O', 'U']) {
            "an"
        } else {
            "a"
        };
        let place = match (&km.region_name, km.space()) {
            (Some(region), Some(space)) => format!("{system} ({region}, {})", space.name()),
            (Some(region), None) => format!("{system} ({region})"),
            (None, Some(space)) => format!("{system} ({})", space.name()),
            (None, None) => system.clone(),
        };
        let final_blow = km
            .attackers
            .iter()
            .find(|a| a.final_blow)
            .map(|a| {
                let name = who(
                    a.character_name.as_deref(),
                    a.corporation_name.as_deref(),
                    "NPC",
                );
                match &a.ship_name {
                    Some(ship) => format!("{name} in {ship}"),
                    None => name,
                }
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let value = km.zkb.as_ref().and_then(|z| z.total_value).unwrap_or(0.0);
        Some(Self {
            title: format!("{victim} lost {article} {ship} in {system}"),
            url: format!("https://zkillboard.com/kill/{}/", km.killmail_id),
            place,
            region: km.region_name.clone(),
            value: isk(value),
            final_blow,
            attackers: km.attackers.len(),
            thumbnail: v
                .ship_type_id
                .map(|t| format!("https://images.evetech.net/types/{t}/render?size=128")),
            time: km.kill_time.to_string(),
            rules: filter
                .matched_names(&kill.facts)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_players_write_them_and_long_text_is_cut_with_an_ellipsis() {
        assert_eq!(isk(1_234_567_890.0), "1.23B ISK");
        assert_eq!(isk(950.0), "950 ISK");
        assert_eq!(isk(12.5e6), "12.50M ISK");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("ééééé", 3).chars().count(), 3);
    }
}
