//! What the relays serve, in the shapes zKillboard's feeds use: an R2Z2 object (and R2Z2's own
//! placeholder for an offset with nothing to give), and a RedisQ package. Each carries the ESI
//! killmail as ESI sends it and zKillboard's `zkb` block, plus the completed killmail (names,
//! tickers, place) under `completed`.

use serde_json::{json, Value};

use crate::model::{Killmail, StoredKill};

/// RedisQ's answer when no kill came within the wait.
pub const REDISQ_EMPTY: &[u8] = br#"{"package":null}"#;

/// The kill's zkb block as zKillboard's feeds send it, with `attackerCount` and `href`.
fn zkb(km: &Killmail) -> Value {
    let mut zkb = km
        .zkb
        .as_ref()
        .and_then(|z| serde_json::to_value(z).ok())
        .unwrap_or_else(|| json!({}));
    zkb["attackerCount"] = json!(km.attackers.len());
    if zkb.get("href").is_none() {
        if let Some(hash) = zkb["hash"].as_str() {
            let id = km.killmail_id;
            zkb["href"] = json!(format!("https://esi.evetech.net/v1/killmails/{id}/{hash}/"));
        }
    }
    zkb
}

/// The ESI killmail, the zkb block and the completed killmail of a stored kill, from one parse
/// of its stored JSON into the model and one into a value.
fn parts(kill: &StoredKill) -> (Value, Value, Value) {
    let (completed, killmail) = kill.read_json(|json| {
        let completed: Value = serde_json::from_slice(json).unwrap_or(Value::Null);
        (
            completed,
            serde_json::from_slice::<crate::model::Killmail>(json).ok(),
        )
    });
    match killmail {
        Some(km) => (km.to_esi(), zkb(&km), completed),
        None => (Value::Null, json!({}), completed),
    }
}

/// `{"killmail_id", "hash", "esi", "zkb", "uploaded_at", "sequence_id", "completed"}`.
pub fn r2z2_object(kill: &StoredKill) -> Vec<u8> {
    let (esi, zkb, completed) = parts(kill);
    let now = crate::model::KillTime::now().unix();
    let age = i64::try_from(kill.stored_at.elapsed().as_secs()).unwrap_or(0);
    json!({
        "killmail_id": kill.facts.killmail_id,
        "hash": zkb["hash"],
        "esi": esi,
        "zkb": zkb,
        "uploaded_at": now - age,
        "sequence_id": kill.offset,
        "completed": completed,
    })
    .to_string()
    .into_bytes()
}

/// R2Z2's placeholder: a sequence with no kill to give (gone from the store, or not matching
/// the reader's filter). R2Z2 readers skip it and go on.
pub fn r2z2_placeholder(sequence: u64) -> Vec<u8> {
    json!({"killmail_id": null, "hash": null, "esi": null, "zkb": null, "uploaded_at": null,
           "sequence_id": sequence})
    .to_string()
    .into_bytes()
}

/// `{"package": {"killID", "killmail", "zkb", "completed"}}`.
pub fn redisq_package(kill: &StoredKill) -> Vec<u8> {
    let (esi, zkb, completed) = parts(kill);
    json!({"package": {
        "killID": kill.facts.killmail_id,
        "killmail": esi,
        "zkb": zkb,
        "completed": completed,
    }})
    .to_string()
    .into_bytes()
}
