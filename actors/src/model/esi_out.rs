//! A canonical killmail written back in ESI's own shape (`GET /killmails/{id}/{hash}/`): the
//! fields ESI sends, under ESI's names, and nothing the service added. The relays serve it to
//! clients written for zKillboard's feeds, which parse exactly this.

use serde_json::{json, Map, Value};

use super::killmail::{Attacker, Killmail, Victim};

/// Puts `value` under `key` when it is known.
fn put<T: serde::Serialize>(out: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        out.insert(key.to_owned(), json!(value));
    }
}

fn victim(v: &Victim) -> Value {
    let mut out = Map::new();
    put(&mut out, "alliance_id", v.alliance_id);
    put(&mut out, "character_id", v.character_id);
    put(&mut out, "corporation_id", v.corporation_id);
    put(&mut out, "damage_taken", v.damage_taken);
    put(&mut out, "faction_id", v.faction_id);
    put(&mut out, "items", v.items.as_ref());
    put(&mut out, "position", v.position);
    put(&mut out, "ship_type_id", v.ship_type_id);
    Value::Object(out)
}

fn attacker(a: &Attacker) -> Value {
    let mut out = Map::new();
    put(&mut out, "alliance_id", a.alliance_id);
    put(&mut out, "character_id", a.character_id);
    put(&mut out, "corporation_id", a.corporation_id);
    put(&mut out, "damage_done", a.damage_done);
    put(&mut out, "faction_id", a.faction_id);
    out.insert("final_blow".into(), json!(a.final_blow));
    put(&mut out, "security_status", a.security_status);
    put(&mut out, "ship_type_id", a.ship_type_id);
    put(&mut out, "weapon_type_id", a.weapon_type_id);
    Value::Object(out)
}

impl Killmail {
    /// The killmail as ESI serves it.
    pub fn to_esi(&self) -> Value {
        let mut out = Map::new();
        out.insert(
            "attackers".into(),
            self.attackers.iter().map(attacker).collect(),
        );
        out.insert("killmail_id".into(), json!(self.killmail_id));
        out.insert("killmail_time".into(), json!(self.kill_time));
        put(&mut out, "moon_id", self.moon_id);
        out.insert("solar_system_id".into(), json!(self.system_id));
        out.insert("victim".into(), victim(&self.victim));
        put(&mut out, "war_id", self.war_id);
        Value::Object(out)
    }
}
