//! A kill as the store holds it and every channel sends it: its facts and its canonical JSON,
//! serialized once and shared. A plain record: the store, the journal that persists it and every
//! channel use it, so it sits under all of them.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::long_matches::Dictionary;
use super::packed::PackedJson;
use super::{KillFacts, Killmail};

/// A kill as the store holds it: the facts it is placed, routed and filtered by, and its
/// canonical JSON, compressed ([`PackedJson`]) once the store has packed it. The parsed
/// killmail is not kept (it would double the memory per kill); [`StoredKill::killmail`] parses
/// the JSON again when a kill must change.
#[derive(Debug)]
pub struct StoredKill {
    /// Position in the order the service accepted kills; resume points (`since_offset`,
    /// `Last-Event-ID`) refer to it.
    pub offset: u64,
    pub facts: KillFacts,
    /// The canonical JSON of the killmail (SPEC §3), the same bytes for every recipient.
    json: PackedJson,
    /// When this copy was made (stored, updated, or read back at boot): delivery latency
    /// is measured from it.
    pub stored_at: Instant,
}

impl StoredKill {
    /// A kill read back from disk or a shared log: its facts are read from the JSON it was
    /// stored with; `None` when that JSON is not a killmail.
    pub fn with_json(offset: u64, json: &[u8]) -> Option<Self> {
        Self::holding(offset, json, PackedJson::raw)
    }

    /// Like [`StoredKill::with_json`], with the JSON packed at once against `dictionary`: for
    /// kills read back at boot, which arrive all together. Held as is until the store packed
    /// them, they would leave the process that much larger for good (the allocator keeps what
    /// was freed).
    pub fn with_json_packed(offset: u64, json: &[u8], dictionary: &Dictionary) -> Option<Self> {
        Self::holding(offset, json, |json| PackedJson::pack_with(json, dictionary))
    }

    fn holding(offset: u64, json: &[u8], keep: impl FnOnce(&[u8]) -> PackedJson) -> Option<Self> {
        Some(Self {
            offset,
            facts: KillFacts::from_json(json)?,
            json: keep(json),
            stored_at: Instant::now(),
        })
    }

    pub fn new(offset: u64, killmail: &Killmail) -> Self {
        Self {
            offset,
            facts: KillFacts::of(killmail),
            json: PackedJson::raw(&Self::json_of(killmail)),
            stored_at: Instant::now(),
        }
    }

    /// The canonical JSON of a killmail (SPEC §3).
    pub fn json_of(killmail: &Killmail) -> Bytes {
        // Serializing the model cannot fail: every field is a string, number, bool, list or map
        // with string keys, and non-finite floats are filtered out when upstream JSON is read.
        serde_json::to_vec(killmail)
            .map(Bytes::from)
            .unwrap_or_default()
    }

    /// The kill's canonical JSON.
    pub fn json(&self) -> Bytes {
        self.json.unpack()
    }

    /// Runs `read` on the kill's canonical JSON, copying it only if it is packed.
    pub fn read_json<R>(&self, read: impl FnOnce(&[u8]) -> R) -> R {
        self.json.read(read)
    }

    /// The length of the kill's canonical JSON.
    pub fn json_len(&self) -> usize {
        self.json.len()
    }

    /// This kill with its JSON compressed against `dictionary`; `None` when it already is, or
    /// would not shrink.
    pub fn packed_with(&self, dictionary: &Dictionary) -> Option<Self> {
        Some(Self {
            offset: self.offset,
            facts: self.facts.clone(),
            json: self.json.packed_with(dictionary)?,
            stored_at: self.stored_at,
        })
    }

    /// Whether the JSON is held compressed.
    pub fn is_packed(&self) -> bool {
        self.json.is_packed()
    }

    /// Bytes the JSON takes in memory.
    pub fn packed_len(&self) -> usize {
        self.json.packed_len()
    }

    /// Appends the kill's canonical JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.json.unpack_into(out);
    }

    /// Appends the JSON with `"matched_filters": [...]` added: the names of the subscriber's
    /// rules this kill matched. As stored when there are none.
    pub fn write_json_matched(&self, names: &[&str], out: &mut Vec<u8>) {
        let start = out.len();
        self.json.unpack_into(out);
        if names.is_empty() || out.len() == start || out.last() != Some(&b'}') {
            return;
        }
        out.pop();
        out.extend_from_slice(b",\"matched_filters\":");
        // A list of strings always serializes.
        let _ = serde_json::to_writer(&mut *out, names);
        out.push(b'}');
    }

    /// The JSON with the names of the rules it matched (see [`StoredKill::write_json_matched`]).
    pub fn json_matched(&self, names: &[&str]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.json_len() + 24 + names.len() * 16);
        self.write_json_matched(names, &mut out);
        out
    }

    /// The full killmail, parsed from the stored JSON (only to change a kill).
    pub fn killmail(&self) -> Option<Killmail> {
        self.read_json(|json| serde_json::from_slice(json).ok())
    }
}

/// Appends `[k1,k2,...]` to `out`, each kill as its canonical JSON.
pub fn write_json_array(out: &mut Vec<u8>, kills: &[Arc<StoredKill>]) {
    write_json_array_with(out, kills, |k, out| k.write_json(out));
}

/// The length of `[k1,k2,...]` with each kill as its canonical JSON.
pub fn json_array_len(kills: &[Arc<StoredKill>]) -> usize {
    // The brackets, and a comma between two kills.
    kills.iter().map(|k| k.json_len()).sum::<usize>() + kills.len().max(1) + 1
}

/// Kills whose held bytes are fetched from memory together before they are expanded: about
/// 32 KB of blocks, so they stay in the core's cache until they are read.
const TOUCHED_TOGETHER: usize = 32;

/// Appends `[k1,k2,...]` to `out`, each kill as `json` writes it.
pub fn write_json_array_with(
    out: &mut Vec<u8>,
    kills: &[Arc<StoredKill>],
    json: impl Fn(&StoredKill, &mut Vec<u8>),
) {
    out.reserve(json_array_len(kills));
    out.push(b'[');
    for (n, batch) in kills.chunks(TOUCHED_TOGETHER).enumerate() {
        std::hint::black_box(batch.iter().fold(0, |sum, k| sum ^ k.json.touch()));
        for (i, kill) in batch.iter().enumerate() {
            if n + i > 0 {
                out.push(b',');
            }
            json(kill, out);
        }
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KillTime, KillmailId, SystemId};

    fn kill(id: u64) -> Arc<StoredKill> {
        let killmail = Killmail::bare(
            KillmailId::new(id).expect("non-zero"),
            KillTime::now(),
            SystemId::new(30_000_142).expect("non-zero"),
        );
        Arc::new(StoredKill::new(id, &killmail))
    }

    #[test]
    fn a_list_s_length_is_known_before_it_is_written() {
        let packed = kill(3)
            .packed_with(crate::model::packed::shared_dictionary())
            .map(Arc::new)
            .expect("a killmail packs");
        for kills in [vec![], vec![kill(1)], vec![kill(1), kill(2), packed]] {
            let mut out = Vec::new();
            write_json_array(&mut out, &kills);
            assert_eq!(json_array_len(&kills), out.len(), "{}", kills.len());
        }
    }
}
