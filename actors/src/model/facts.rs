//! What the service needs to know about a stored kill to place, route and filter it, without
//! holding the whole parsed killmail: the store keeps these facts and the canonical JSON, and
//! parses the JSON again on the rare occasions it must change a kill (late names, a zkb refresh).

use serde::Deserialize;

use super::{
    AllianceId, CharacterId, ConstellationId, CorporationId, GroupId, KillTime, Killmail,
    KillmailId, RegionId, Space, SystemId, TypeId,
};

/// The ids one victim or attacker carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Party {
    #[serde(default, rename = "character_id")]
    pub character: Option<CharacterId>,
    #[serde(default, rename = "corporation_id")]
    pub corporation: Option<CorporationId>,
    #[serde(default, rename = "alliance_id")]
    pub alliance: Option<AllianceId>,
    #[serde(default, rename = "ship_type_id")]
    pub ship_type: Option<TypeId>,
    #[serde(default, rename = "ship_group_id")]
    pub ship_group: Option<GroupId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KillFacts {
    pub killmail_id: KillmailId,
    pub kill_time: KillTime,
    pub system_id: SystemId,
    pub constellation_id: Option<ConstellationId>,
    pub region_id: Option<RegionId>,
    pub space: Option<Space>,
    /// The victim, then every attacker (duplicates removed).
    pub characters: Box<[CharacterId]>,
    pub victim: Party,
    pub attackers: Box<[Party]>,
    /// Which attacker dealt the final blow.
    pub final_blow: Option<u16>,
    /// zKillboard's `totalValue` (ISK).
    pub total_value: Option<f64>,
    /// zKillboard's labels and its `solo`, `npc` and `awox` flags, lower case, sorted, each
    /// ended by a newline: one allocation for all of them, not one per label (a real kill has
    /// five or six). A label holding a newline is left out; no rule can name one.
    labels: Box<str>,
}

impl KillFacts {
    pub fn of(km: &Killmail) -> Self {
        let v = &km.victim;
        let victim = Party {
            character: v.character_id,
            corporation: v.corporation_id,
            alliance: v.alliance_id,
            ship_type: v.ship_type_id,
            ship_group: v.ship_group_id,
        };
        let attackers = km.attackers.iter().map(|a| Party {
            character: a.character_id,
            corporation: a.corporation_id,
            alliance: a.alliance_id,
            ship_type: a.ship_type_id,
            ship_group: a.ship_group_id,
        });
        let zkb = km.zkb.as_ref();
        Self {
            killmail_id: km.killmail_id,
            kill_time: km.kill_time,
            system_id: km.system_id,
            constellation_id: km.constellation_id,
            region_id: km.region_id,
            space: km.space(),
            characters: unique(km.character_ids()),
            victim,
            attackers: attackers.collect(),
            final_blow: final_blow(km.attackers.iter().map(|a| a.final_blow)),
            total_value: zkb.and_then(|z| z.total_value),
            labels: labels(
                zkb.and_then(|z| z.labels.as_deref()).unwrap_or_default(),
                zkb.map_or([false; 3], |z| [z.solo, z.npc, z.awox]),
            ),
        }
    }

    /// Reads the facts from a killmail's canonical JSON, skipping everything else (boot).
    pub fn from_json(json: &[u8]) -> Option<Self> {
        let seen: Seen = serde_json::from_slice(json).ok()?;
        let characters = seen
            .victim
            .character
            .into_iter()
            .chain(seen.attackers.iter().filter_map(|a| a.party.character));
        let zkb = seen.zkb.unwrap_or_default();
        Some(Self {
            killmail_id: seen.killmail_id,
            kill_time: seen.kill_time,
            system_id: seen.system_id,
            constellation_id: seen.constellation_id,
            region_id: seen.region_id,
            space: Space::of(seen.system_id, seen.region_id, seen.security_status),
            characters: unique(characters),
            victim: seen.victim,
            final_blow: final_blow(seen.attackers.iter().map(|a| a.final_blow)),
            attackers: seen.attackers.iter().map(|a| a.party).collect(),
            total_value: zkb.total_value,
            labels: labels(&zkb.labels, [zkb.solo, zkb.npc, zkb.awox]),
        })
    }

    /// The victim and every attacker.
    pub fn character_ids(&self) -> impl Iterator<Item = CharacterId> + '_ {
        self.characters.iter().copied()
    }

    /// The attacker who dealt the final blow.
    pub fn final_blow(&self) -> Option<&Party> {
        self.final_blow
            .and_then(|i| self.attackers.get(usize::from(i)))
    }

    pub fn has_label(&self, label: &str) -> bool {
        self.labels.split_terminator('\n').any(|l| l == label)
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

fn final_blow(mut flags: impl Iterator<Item = bool>) -> Option<u16> {
    flags.position(|f| f).and_then(|i| u16::try_from(i).ok())
}

/// The labels a filter can ask for: zKillboard's, then its flags by name, in the form
/// [`KillFacts::labels`] holds them.
fn labels(listed: &[String], [solo, npc, awox]: [bool; 3]) -> Box<str> {
    let flags = [("solo", solo), ("npc", npc), ("awox", awox)];
    let mut names: Vec<String> = listed
        .iter()
        .filter(|l| !l.contains('\n'))
        .map(|l| l.to_ascii_lowercase())
        .chain(
            flags
                .iter()
                .filter(|(_, on)| *on)
                .map(|(name, _)| (*name).to_owned()),
        )
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::with_capacity(names.iter().map(|l| l.len() + 1).sum());
    for name in names {
        out.push_str(&name);
        out.push('\n');
    }
    out.into_boxed_str()
}

/// The fields of the canonical JSON the facts come from; serde skips the rest unparsed.
#[derive(Deserialize)]
struct Seen {
    killmail_id: KillmailId,
    kill_time: KillTime,
    system_id: SystemId,
    #[serde(default)]
    constellation_id: Option<ConstellationId>,
    #[serde(default)]
    region_id: Option<RegionId>,
    #[serde(default)]
    security_status: Option<f64>,
    victim: Party,
    #[serde(default)]
    attackers: Vec<SeenAttacker>,
    #[serde(default)]
    zkb: Option<SeenZkb>,
}

#[derive(Deserialize)]
struct SeenAttacker {
    #[serde(flatten)]
    party: Party,
    #[serde(default)]
    final_blow: bool,
}

#[derive(Default, Deserialize)]
struct SeenZkb {
    #[serde(rename = "totalValue", default)]
    total_value: Option<f64>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    solo: bool,
    #[serde(default)]
    npc: bool,
    #[serde(default)]
    awox: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_read_from_json_match_facts_of_the_parsed_killmail() {
        let km: Killmail = serde_json::from_value(json!({
            "killmail_id": 131000001, "kill_time": "2026-11-26T10:11:12Z", "system_id": 30000142,
            "constellation_id": 20000020, "region_id": 10000002, "security_status": 0.9459,
            "victim": {"character_id": 90000001, "corporation_id": 98000001, "ship_type_id": 670,
                       "ship_group_id": 29, "items": [{"item_type_id": 1, "flag": 5}]},
            "attackers": [{"character_id": 90000002, "alliance_id": 99000001},
                          {"character_id": 90000001, "final_blow": true, "ship_type_id": 17918},
                          {"faction_id": 500001}],
            "zkb": {"totalValue": 1.5e8, "labels": ["pvp", "Loc:highsec"], "solo": true}
        }))
        .expect("a killmail");
        let json = serde_json::to_vec(&km).expect("serializes");

        let facts = KillFacts::from_json(&json).expect("reads");

        assert_eq!(facts, KillFacts::of(&km));
        let ids: Vec<u64> = facts.character_ids().map(|c| c.get()).collect();
        assert_eq!(ids, vec![90000001, 90000002]);
        assert_eq!(facts.total_value, Some(1.5e8));
        assert_eq!(facts.space, Some(Space::Highsec));
        assert_eq!(
            facts
                .final_blow()
                .and_then(|p| p.ship_type)
                .map(TypeId::get),
            Some(17918)
        );
        assert_eq!(facts.attackers.len(), 3);
        assert!(
            facts.has_label("solo") && facts.has_label("loc:highsec") && !facts.has_label("npc")
        );
        assert!(!facts.has_label("") && !facts.has_label("solo\n") && !facts.has_label("so"));
    }

    #[test]
    fn a_label_holding_a_newline_is_left_out_and_does_not_split_into_others() {
        let listed = ["PVP".to_owned(), "solo\nawox".to_owned(), "pvp".to_owned()];
        let facts = KillFacts {
            labels: labels(&listed, [false, true, false]),
            ..KillFacts::of(
                &serde_json::from_value(json!({
                    "killmail_id": 1, "kill_time": "2026-11-26T10:11:12Z", "system_id": 30000142,
                    "victim": {}, "attackers": []
                }))
                .expect("a killmail"),
            )
        };

        assert!(facts.has_label("pvp") && facts.has_label("npc"));
        assert!(!facts.has_label("solo") && !facts.has_label("awox"));
        assert_eq!(&*facts.labels, "npc\npvp\n");
    }
}
