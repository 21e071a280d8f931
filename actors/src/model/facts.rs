//! What the service needs to know about a stored kill to place, route and filter it, without
//! holding the whole parsed killmail: the store keeps these facts and the canonical JSON, and
//! parses the JSON again on the rare occasions it must change a kill (late names, a zkb refresh).

use serde::Deserialize;

use super::{CharacterId, KillTime, Killmail, KillmailId, SystemId};

#[derive(Clone, Debug, PartialEq)]
pub struct KillFacts {
    pub killmail_id: KillmailId,
    pub kill_time: KillTime,
    pub system_id: SystemId,
    /// The victim, then every attacker (duplicates removed).
    pub characters: Box<[CharacterId]>,
    /// zKillboard's `totalValue` (ISK).
    pub total_value: Option<f64>,
}

impl KillFacts {
    pub fn of(km: &Killmail) -> Self {
        Self {
            killmail_id: km.killmail_id,
            kill_time: km.kill_time,
            system_id: km.system_id,
            characters: unique(km.character_ids()),
            total_value: km.zkb.as_ref().and_then(|z| z.total_value),
        }
    }

    /// Reads the facts from a killmail's canonical JSON, skipping everything else (boot).
    pub fn from_json(json: &[u8]) -> Option<Self> {
        let seen: Seen = serde_json::from_slice(json).ok()?;
        let characters = seen
            .victim
            .character_id
            .into_iter()
            .chain(seen.attackers.iter().filter_map(|a| a.character_id));
        Some(Self {
            killmail_id: seen.killmail_id,
            kill_time: seen.kill_time,
            system_id: seen.system_id,
            characters: unique(characters),
            total_value: seen.zkb.and_then(|z| z.total_value),
        })
    }

    /// The victim and every attacker.
    pub fn character_ids(&self) -> impl Iterator<Item = CharacterId> + '_ {
        self.characters.iter().copied()
    }
}

fn unique(ids: impl Iterator<Item = CharacterId>) -> Box<[CharacterId]> {
    let mut out: Vec<CharacterId> = Vec::new();
    for id in ids {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out.into_boxed_slice()
}

/// The fields of the canonical JSON the facts come from; serde skips the rest unparsed.
#[derive(Deserialize)]
struct Seen {
    killmail_id: KillmailId,
    kill_time: KillTime,
    system_id: SystemId,
    victim: Party,
    #[serde(default)]
    attackers: Vec<Party>,
    #[serde(default)]
    zkb: Option<Value>,
}

#[derive(Deserialize)]
struct Party {
    #[serde(default)]
    character_id: Option<CharacterId>,
}

#[derive(Deserialize)]
struct Value {
    #[serde(rename = "totalValue", default)]
    total_value: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_read_from_json_match_facts_of_the_parsed_killmail() {
        let km: Killmail = serde_json::from_value(json!({
            "killmail_id": 131000001, "kill_time": "2026-11-26T10:11:12Z", "system_id": 30000142,
            "victim": {"character_id": 90000001, "ship_type_id": 670, "items": [{"item_type_id": 1, "flag": 5}]},
            "attackers": [{"character_id": 90000002}, {"character_id": 90000001}, {"faction_id": 500001}],
            "zkb": {"totalValue": 1.5e8, "labels": ["pvp"]}
        }))
        .expect("a killmail");
        let json = serde_json::to_vec(&km).expect("serializes");

        let facts = KillFacts::from_json(&json).expect("reads");

        assert_eq!(facts, KillFacts::of(&km));
        let ids: Vec<u64> = facts.character_ids().map(|c| c.get()).collect();
        assert_eq!(ids, vec![90000001, 90000002]);
        assert_eq!(facts.total_value, Some(1.5e8));
    }
}
