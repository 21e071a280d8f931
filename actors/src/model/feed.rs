//! What the kill feeds send: R2Z2's sequence file and per-sequence objects, and RedisQ's package.
//!
//! Both are read leniently. A feed object is classified into a kill or a placeholder here, so the
//! feed actor never inspects raw fields.

use serde::{Deserialize, Serialize};

use super::ids::KillmailId;
use super::killmail::{EsiKillmail, Zkb};
use super::lenient;

/// R2Z2's `sequence.json`. zKillboard has used both `sequence` and `sequence_id` as the key.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SequenceFile {
    #[serde(
        default,
        deserialize_with = "lenient::u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient::u64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub sequence_id: Option<u64>,
}

impl SequenceFile {
    /// The published head. It can trail the true head by ~50, so it is never the end of the stream.
    pub fn head(&self) -> Option<u64> {
        self.sequence.or(self.sequence_id)
    }
}

/// One R2Z2 object, `GET {base}/{seq}.json`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct R2z2Object {
    #[serde(default, deserialize_with = "lenient::id_opt")]
    pub killmail_id: Option<KillmailId>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    pub hash: Option<String>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub esi: Option<EsiKillmail>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub zkb: Option<Zkb>,
    /// When zKillboard published it (Unix seconds); used to measure feed lag.
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub uploaded_at: Option<u64>,
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub sequence_id: Option<u64>,
    /// Set when this object re-publishes an older sequence (e.g. the kill was revalued).
    #[serde(default, deserialize_with = "lenient::u64_opt")]
    pub sequence_updated: Option<u64>,
}

/// A kill as a feed hands it over: the zkb block, and the ESI killmail when it was embedded.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedKill {
    pub killmail_id: KillmailId,
    pub hash: String,
    /// `None` when the feed did not embed it: it must then be fetched from ESI by id + hash.
    pub esi: Option<EsiKillmail>,
    pub zkb: Zkb,
    /// The older sequence this object re-publishes, when it is an update rather than a new kill.
    pub updates_sequence: Option<u64>,
}

/// An R2Z2 object after classification.
#[derive(Clone, Debug, PartialEq)]
pub enum R2z2Entry {
    /// Boxed: a kill is large and placeholders are common enough not to pay for its size.
    Kill(Box<FeedKill>),
    /// A null `killmail_id`, `hash` or `esi`: nothing to process, only to count.
    Placeholder,
}

impl R2z2Object {
    /// Reads the body served for `sequence`. Only two things are usable: a kill (id, hash and
    /// ESI killmail), or the documented placeholder (`killmail_id`, `hash` and `esi` all null,
    /// with this very `sequence_id`). Anything else (not an object, another sequence's object,
    /// an object with garbage where the kill should be) is refused, so the sequence is asked
    /// for again instead of being skipped as a placeholder and its kill lost.
    pub fn read(body: &[u8], sequence: u64) -> Result<Self, String> {
        let raw: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if !raw.is_object() {
            return Err("not a JSON object".to_owned());
        }
        let placeholder = ["killmail_id", "hash", "esi"]
            .iter()
            .all(|key| raw.get(key).is_some_and(serde_json::Value::is_null))
            && raw.get("sequence_id").and_then(serde_json::Value::as_u64) == Some(sequence);
        let object: Self = serde_json::from_value(raw).map_err(|e| e.to_string())?;
        match object.sequence_id {
            Some(other) if other != sequence => {
                Err(format!("object of sequence {other} served for {sequence}"))
            }
            _ if object.is_kill() || placeholder => Ok(object),
            _ => Err("neither a kill nor the documented placeholder".to_owned()),
        }
    }

    /// Id, hash and ESI killmail are all there.
    fn is_kill(&self) -> bool {
        self.killmail_id.is_some() && self.hash.is_some() && self.esi.is_some()
    }

    /// A kill, or (for an object [`R2z2Object::read`] let through) the placeholder.
    pub fn classify(self) -> R2z2Entry {
        match (self.killmail_id, self.hash, self.esi) {
            (Some(killmail_id), Some(hash), Some(esi)) => R2z2Entry::Kill(Box::new(FeedKill {
                killmail_id,
                hash,
                esi: Some(esi),
                zkb: self.zkb.unwrap_or_default(),
                updates_sequence: self.sequence_updated,
            })),
            _ => R2z2Entry::Placeholder,
        }
    }
}

/// RedisQ's answer to `listen.php`: `{"package": null}` when nothing is new.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RedisqResponse {
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub package: Option<RedisqPackage>,
}

/// One RedisQ package. `zkb.hash` is what ESI needs when the killmail is not embedded.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RedisqPackage {
    #[serde(rename = "killID", default, deserialize_with = "lenient::id_opt")]
    pub kill_id: Option<KillmailId>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub zkb: Option<Zkb>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    pub killmail: Option<EsiKillmail>,
}

impl RedisqPackage {
    /// The kill, or `None` when the package lacks the id or the hash needed to fetch it.
    pub fn into_feed_kill(self) -> Option<FeedKill> {
        let zkb = self.zkb?;
        let killmail_id = self
            .kill_id
            .or(self.killmail.as_ref().and_then(|k| k.killmail_id))?;
        Some(FeedKill {
            killmail_id,
            hash: zkb.hash.clone()?,
            esi: self.killmail,
            zkb,
            updates_sequence: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_file_accepts_either_key() {
        let a: SequenceFile = serde_json::from_str(r#"{"sequence": 96000000}"#).expect("parses");
        let b: SequenceFile =
            serde_json::from_str(r#"{"sequence_id": "96000001"}"#).expect("parses");
        assert_eq!((a.head(), b.head()), (Some(96000000), Some(96000001)));
    }

    #[test]
    fn null_placeholders_are_classified_as_placeholders() {
        let o: R2z2Object = serde_json::from_str(
            r#"{"killmail_id": null, "hash": null, "esi": null, "zkb": null, "sequence_id": 7}"#,
        )
        .expect("parses");
        assert_eq!(o.classify(), R2z2Entry::Placeholder);
    }

    #[test]
    fn only_the_documented_placeholder_is_read_as_one() {
        let null =
            br#"{"killmail_id": null, "hash": null, "esi": null, "zkb": null, "sequence_id": 7}"#;
        assert_eq!(
            R2z2Object::read(null, 7).map(R2z2Object::classify),
            Ok(R2z2Entry::Placeholder)
        );
        for garbage in [
            &br#"{"killmail_id": "x"}"#[..],
            br#"{}"#,
            br#"{"killmail_id": null, "hash": null, "esi": null}"#,
            br#"{"killmail_id": null, "hash": null, "esi": null, "sequence_id": 6}"#,
            br#"{"killmail_id": 5, "hash": "h", "esi": "x", "sequence_id": 7}"#,
            br#"{"killmail_id": 5, "hash": null, "esi": null, "sequence_id": 7}"#,
            b"[]",
            b"null",
        ] {
            let read = R2z2Object::read(garbage, 7);
            assert!(
                read.is_err(),
                "{}: {read:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        let kill =
            br#"{"killmail_id": 5, "hash": "h", "esi": {"killmail_id": 5}, "sequence_id": 7}"#;
        assert!(matches!(
            R2z2Object::read(kill, 7).map(R2z2Object::classify),
            Ok(R2z2Entry::Kill(_))
        ));
    }

    #[test]
    fn a_republished_object_names_the_sequence_it_updates() {
        let o: R2z2Object = serde_json::from_str(
            r#"{"killmail_id": 5, "hash": "h", "esi": {"killmail_id": 5}, "zkb": {"totalValue": 2},
                "sequence_id": 9, "sequence_updated": 3}"#,
        )
        .expect("parses");
        let R2z2Entry::Kill(kill) = o.classify() else {
            panic!("a kill")
        };
        assert_eq!(kill.updates_sequence, Some(3));
        assert_eq!(kill.zkb.total_value, Some(2.0));
    }

    #[test]
    fn a_redisq_package_without_killmail_keeps_id_and_hash_for_esi() {
        let r: RedisqResponse = serde_json::from_str(
            r#"{"package": {"killID": 123, "zkb": {"hash": "abc", "href": "https://esi.evetech.net/x"}}}"#,
        )
        .expect("parses");
        let kill = r
            .package
            .and_then(RedisqPackage::into_feed_kill)
            .expect("a kill");
        assert_eq!(
            (
                kill.killmail_id.get(),
                kill.hash.as_str(),
                kill.esi.is_none()
            ),
            (123, "abc", true)
        );
    }

    #[test]
    fn an_empty_redisq_answer_has_no_package() {
        let r: RedisqResponse = serde_json::from_str(r#"{"package": null}"#).expect("parses");
        assert!(r.package.is_none());
    }

    #[test]
    fn a_package_without_hash_is_not_a_kill() {
        let r: RedisqResponse =
            serde_json::from_str(r#"{"package": {"killID": 1, "zkb": {}}}"#).expect("parses");
        assert!(r.package.and_then(RedisqPackage::into_feed_kill).is_none());
    }
}
