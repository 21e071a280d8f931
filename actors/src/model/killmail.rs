//! The killmail: ESI's input shape, zKillboard's `zkb` block, and the canonical output every
//! client receives (SPEC §3).
//!
//! The victim, attacker, item and position types are shared by input and output: ESI's fields
//! keep their ESI names on the wire, so a field ESI sends cannot be lost between two structs. The
//! names the enricher adds (`character_name`, `corporation_ticker`, `ship_name`, ...) are fields of
//! the same types that ESI never fills. Every unknown value is omitted on output, never `null`.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};

use super::ids::{
    AllianceId, CharacterId, ConstellationId, CorporationId, FactionId, GroupId, KillmailId,
    RegionId, SystemId, TypeId,
};
use super::lenient;
use super::space::Space;
use super::time::{BadTimestamp, KillTime};
use super::wire::wire_struct;

wire_struct! {
    /// The victim of a kill: ESI's `victim` plus the names the enricher fills in.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Victim {
        ..party,
        damage_taken: "lenient::u64_opt" => Option<u64>,
        position: "lenient::object_opt" => Option<Position>,
        /// ESI's fitted and cargo items, one nesting level (containers hold items). The original
        /// service dropped them; clients that do not want them ignore the key.
        items: "lenient::list_opt" => Option<Vec<Item>>,
    }
}

wire_struct! {
    /// One attacker: ESI's attacker plus the names the enricher fills in.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Attacker {
        ..party,
        weapon_type_id: "lenient::id_opt" => Option<TypeId>,
        damage_done: "lenient::u64_opt" => Option<u64>,
        /// Always sent: clients pick the final-blow attacker by it, and ESI's absent means `false`.
        final_blow: "lenient::bool_or_false" => bool,
        security_status: "lenient::f64_opt" => Option<f64>,
    }
}

wire_struct! {
    /// Where the victim died, in metres within the system.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Position {
        x: "lenient::f64_opt" => Option<f64>,
        y: "lenient::f64_opt" => Option<f64>,
        z: "lenient::f64_opt" => Option<f64>,
    }
}

wire_struct! {
    /// A top-level item of the victim's ship; containers carry their contents in `items`.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Item {
        item_type_id: "lenient::id_opt" => Option<TypeId>,
        flag: "lenient::u64_opt" => Option<u64>,
        singleton: "lenient::u64_opt" => Option<u64>,
        quantity_destroyed: "lenient::u64_opt" => Option<u64>,
        quantity_dropped: "lenient::u64_opt" => Option<u64>,
        /// Contents of a container. ESI nests one level only; deeper levels are not modelled.
        items: "lenient::list_opt" => Option<Vec<NestedItem>>,
    }
}

wire_struct! {
    /// An item inside a container.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct NestedItem {
        item_type_id: "lenient::id_opt" => Option<TypeId>,
        flag: "lenient::u64_opt" => Option<u64>,
        singleton: "lenient::u64_opt" => Option<u64>,
        quantity_destroyed: "lenient::u64_opt" => Option<u64>,
        quantity_dropped: "lenient::u64_opt" => Option<u64>,
    }
}

wire_struct! {
    /// zKillboard's metadata for a kill, with zKillboard's own (camelCase) key names, which the
    /// notifier and the map read as they are.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Zkb {
        #[serde(rename = "locationID")]
        location_id: "lenient::u64_opt" => Option<u64>,
        hash: "lenient::string_opt" => Option<String>,
        #[serde(rename = "fittedValue")]
        fitted_value: "lenient::f64_opt" => Option<f64>,
        #[serde(rename = "droppedValue")]
        dropped_value: "lenient::f64_opt" => Option<f64>,
        #[serde(rename = "destroyedValue")]
        destroyed_value: "lenient::f64_opt" => Option<f64>,
        #[serde(rename = "totalValue")]
        total_value: "lenient::f64_opt" => Option<f64>,
        points: "lenient::u64_opt" => Option<u64>,
        npc: "lenient::bool_or_false" => bool,
        solo: "lenient::bool_or_false" => bool,
        awox: "lenient::bool_or_false" => bool,
        labels: "lenient::strings_opt" => Option<Vec<String>>,
        /// zKillboard's link to the killmail on the public ESI host. Kept for clients; the service
        /// itself never follows it (it fetches from the configured ESI base URL).
        href: "lenient::string_opt" => Option<String>,
    }
}

/// A killmail exactly as ESI's `GET /killmails/{id}/{hash}/` returns it, read leniently.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct EsiKillmail {
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub killmail_id: Option<KillmailId>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    pub killmail_time: Option<String>,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub solar_system_id: Option<SystemId>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub moon_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub war_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub victim: Option<Victim>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    pub attackers: Option<Vec<Attacker>>,
}

/// Why a killmail was refused (SPEC §2 "Validation"); it is counted and skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidKillmail {
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("bad killmail_time: {0}")]
    BadTime(#[from] BadTimestamp),
}

impl EsiKillmail {
    /// Validates the required fields and builds the canonical killmail (names still unknown).
    pub fn into_killmail(self, zkb: Option<Zkb>) -> Result<Killmail, InvalidKillmail> {
        use InvalidKillmail::Missing;
        let killmail_id = self.killmail_id.ok_or(Missing("killmail_id"))?;
        let kill_time = KillTime::parse(&self.killmail_time.ok_or(Missing("killmail_time"))?)?;
        let system_id = self.solar_system_id.ok_or(Missing("solar_system_id"))?;
        let victim = self.victim.ok_or(Missing("victim"))?;
        if victim.ship_type_id.is_none() {
            return Err(Missing("victim.ship_type_id"));
        }
        let attackers = self.attackers.ok_or(Missing("attackers"))?;
        Ok(Killmail {
            moon_id: self.moon_id,
            war_id: self.war_id,
            victim,
            attackers,
            zkb,
            ..Killmail::bare(killmail_id, kill_time, system_id)
        })
    }
}

/// The canonical killmail of SPEC §3: one shape for WebSocket, SSE, webhooks and REST.
///
/// On the wire `system_id` is also sent as `solar_system_id` (existing clients read one or the
/// other) and `attacker_count` is derived from `attackers`, so neither is stored twice here.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Killmail {
    pub killmail_id: KillmailId,
    pub kill_time: KillTime,
    pub system_id: SystemId,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    pub solar_system_name: Option<String>,
    /// Where the system lies, from the static data (absent for a system it does not know).
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub constellation_id: Option<ConstellationId>,
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub region_id: Option<RegionId>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    pub region_name: Option<String>,
    /// The system's true security status (4 decimals, as CCP's data gives it).
    #[serde(default, deserialize_with = "lenient::f64_opt")]
    pub security_status: Option<f64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub moon_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub war_id: Option<u64>,
    pub victim: Victim,
    #[serde(default)]
    pub attackers: Vec<Attacker>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub zkb: Option<Zkb>,
}

impl Killmail {
    /// A kill with only its id, time and system: no names, no parties, no zkb block.
    pub fn bare(killmail_id: KillmailId, kill_time: KillTime, system_id: SystemId) -> Self {
        Self {
            killmail_id,
            kill_time,
            system_id,
            solar_system_name: None,
            constellation_id: None,
            region_id: None,
            region_name: None,
            security_status: None,
            moon_id: None,
            war_id: None,
            victim: Victim::default(),
            attackers: Vec::new(),
            zkb: None,
        }
    }

    /// The space class of the kill's system, when it can be told.
    pub fn space(&self) -> Option<Space> {
        Space::of(self.system_id, self.region_id, self.security_status)
    }

    /// Every character on the kill: the victim first, then each attacker, duplicates included.
    pub fn character_ids(&self) -> impl Iterator<Item = CharacterId> + '_ {
        self.victim
            .character_id
            .into_iter()
            .chain(self.attackers.iter().filter_map(|a| a.character_id))
    }
}

impl Serialize for Killmail {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("Killmail", 17)?;
        out.serialize_field("killmail_id", &self.killmail_id)?;
        out.serialize_field("kill_time", &self.kill_time)?;
        out.serialize_field("system_id", &self.system_id)?;
        out.serialize_field("solar_system_id", &self.system_id)?;
        if let Some(name) = &self.solar_system_name {
            out.serialize_field("solar_system_name", name)?;
        }
        if let Some(id) = self.constellation_id {
            out.serialize_field("constellation_id", &id)?;
        }
        if let Some(id) = self.region_id {
            out.serialize_field("region_id", &id)?;
        }
        if let Some(name) = &self.region_name {
            out.serialize_field("region_name", name)?;
        }
        if let Some(security) = self.security_status {
            out.serialize_field("security_status", &security)?;
        }
        if let Some(space) = self.space() {
            out.serialize_field("space", &space)?;
        }
        if let Some(moon) = self.moon_id {
            out.serialize_field("moon_id", &moon)?;
        }
        if let Some(war) = self.war_id {
            out.serialize_field("war_id", &war)?;
        }
        out.serialize_field("victim", &self.victim)?;
        out.serialize_field("attackers", &self.attackers)?;
        out.serialize_field("attacker_count", &self.attackers.len())?;
        if let Some(zkb) = &self.zkb {
            out.serialize_field("zkb", zkb)?;
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal_esi() -> serde_json::Value {
        json!({
            "killmail_id": 1, "killmail_time": "2026-11-26T10:11:12Z", "solar_system_id": 30000142,
            "victim": {"ship_type_id": 670}, "attackers": []
        })
    }

    fn refusal(mutate: impl FnOnce(&mut serde_json::Value)) -> InvalidKillmail {
        let mut v = minimal_esi();
        mutate(&mut v);
        let esi: EsiKillmail = serde_json::from_value(v).expect("lenient parse");
        esi.into_killmail(None).expect_err("must be refused")
    }

    #[test]
    fn the_minimal_killmail_is_accepted() {
        let esi: EsiKillmail = serde_json::from_value(minimal_esi()).expect("parses");
        let km = esi.into_killmail(None).expect("valid");
        assert_eq!(km.killmail_id.get(), 1);
        assert!(km.attackers.is_empty());
    }

    #[test]
    fn each_required_field_is_named_when_missing() {
        for field in [
            "killmail_id",
            "killmail_time",
            "solar_system_id",
            "victim",
            "attackers",
        ] {
            let err = refusal(|v| {
                v.as_object_mut().expect("object").remove(field);
            });
            assert_eq!(err, InvalidKillmail::Missing(field));
        }
        let err = refusal(|v| v["victim"] = json!({"character_id": 5}));
        assert_eq!(err, InvalidKillmail::Missing("victim.ship_type_id"));
    }

    #[test]
    fn a_bad_time_is_refused_with_the_offending_text() {
        let err = refusal(|v| v["killmail_time"] = json!("soon"));
        assert_eq!(err, InvalidKillmail::BadTime(BadTimestamp("soon".into())));
    }

    #[test]
    fn unknown_values_are_omitted_never_null() {
        let esi: EsiKillmail = serde_json::from_value(minimal_esi()).expect("parses");
        let text =
            serde_json::to_string(&esi.into_killmail(None).expect("valid")).expect("serializes");
        assert!(!text.contains("null"), "{text}");
        assert!(!text.contains("\"zkb\""), "{text}");
    }

    #[test]
    fn zkb_flags_default_to_false() {
        let zkb: Zkb = serde_json::from_str(r#"{"totalValue": 10}"#).expect("parses");
        let out = serde_json::to_value(&zkb).expect("serializes");
        assert_eq!(
            out,
            json!({"totalValue": 10.0, "npc": false, "solo": false, "awox": false})
        );
    }

    #[test]
    fn the_canonical_shape_reads_back_into_the_same_killmail() {
        let esi: EsiKillmail = serde_json::from_value(minimal_esi()).expect("parses");
        let mut km = esi
            .into_killmail(Some(Zkb {
                total_value: Some(5.0),
                ..Zkb::default()
            }))
            .expect("valid");
        km.solar_system_name = Some("Jita".into());
        let back: Killmail =
            serde_json::from_slice(&serde_json::to_vec(&km).expect("ser")).expect("de");
        assert_eq!(back, km);
    }
}
