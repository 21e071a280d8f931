//! A stored kill's canonical JSON, kept compressed in memory.
//!
//! Each kill's JSON is one LZ4 block compressed against a dictionary: the shared one
//! (`packed_dictionary.json`: the keys and common values every killmail repeats), or one a
//! shard built from the runs of its recent kills, which ends with the shared one
//! ([`super::recent_runs`]). The keys, and the parties seen lately, cost a few bytes each
//! instead of their full text. The block holds long matches only ([`super::long_matches`]), so
//! reading it back takes few, long copies. A kill keeps the dictionary's bytes it needs.
//! Only memory holds this form: the journal, the cluster log and every client get the JSON.
//! Compressing costs about 6 µs per KB, so a kill enters the store as is and is packed moments
//! later, off the path to its first push (see the shard actor).

use std::sync::{Arc, LazyLock};

use bytes::Bytes;

use super::long_matches::{self, Dictionary};

/// What every killmail's JSON repeats: keys in their canonical order, with typical values.
static SHARED: LazyLock<Dictionary> =
    LazyLock::new(|| Dictionary::new(&include_bytes!("packed_dictionary.json")[..]));

/// The dictionary every kill can be packed against: keys and common values, no names.
pub fn shared_dictionary() -> &'static Dictionary {
    &SHARED
}

/// Canonical JSON, compressed against a dictionary (or kept as is when that would not be
/// smaller).
#[derive(Clone, PartialEq, Eq)]
pub struct PackedJson {
    bytes: Box<[u8]>,
    /// The JSON's length, when packed.
    len: u32,
    /// The bytes of the dictionary it was packed against; `None` while held as is.
    dictionary: Option<Arc<[u8]>>,
}

impl PackedJson {
    /// Compresses `json` against the [`shared_dictionary`].
    pub fn pack(json: &[u8]) -> Self {
        Self::pack_with(json, &SHARED)
    }

    /// Compresses `json` against `dictionary`. A JSON of 4 GiB or more, or one compression
    /// cannot shrink, is kept as is.
    pub fn pack_with(json: &[u8], dictionary: &Dictionary) -> Self {
        let Ok(len) = u32::try_from(json.len()) else {
            return Self::raw(json);
        };
        let block = long_matches::compress(json, dictionary);
        if block.len() >= json.len() {
            return Self::raw(json);
        }
        Self {
            bytes: block.into_boxed_slice(),
            len,
            dictionary: Some(Arc::clone(dictionary.bytes())),
        }
    }

    /// Keeps `json` as is (no compression cost: a kill is stored this way and packed later).
    pub fn raw(json: &[u8]) -> Self {
        Self {
            bytes: json.into(),
            len: 0,
            dictionary: None,
        }
    }

    /// Whether the JSON is held compressed.
    pub fn is_packed(&self) -> bool {
        self.dictionary.is_some()
    }

    /// This JSON compressed against `dictionary`; `None` when it already is compressed, or
    /// would not shrink.
    pub fn packed_with(&self, dictionary: &Dictionary) -> Option<Self> {
        if self.is_packed() {
            return None;
        }
        let packed = Self::pack_with(&self.bytes, dictionary);
        packed.is_packed().then_some(packed)
    }

    /// The JSON's length in bytes.
    pub fn len(&self) -> usize {
        if self.is_packed() {
            self.len as usize
        } else {
            self.bytes.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in memory (the dictionary, shared, not counted).
    pub fn packed_len(&self) -> usize {
        self.bytes.len()
    }

    /// Reads one byte of every cache line the held bytes span (what it returns means nothing).
    /// A list's kills lie scattered over the heap, and expanding a block walks it one line
    /// after another, each a wait on memory; touching the blocks of a batch first lets the
    /// processor fetch all their lines at once (see PERFORMANCE, "Reading a list").
    pub fn touch(&self) -> u8 {
        let last = self.bytes.last().copied().unwrap_or(0);
        self.bytes.iter().step_by(64).fold(last, |sum, b| sum ^ b)
    }

    /// Appends the JSON to `out`.
    pub fn unpack_into(&self, out: &mut Vec<u8>) {
        let Some(dictionary) = &self.dictionary else {
            out.extend_from_slice(&self.bytes);
            return;
        };
        let start = out.len();
        out.resize(start + self.len(), 0);
        // The block was made by `pack_with` from exactly `len` bytes against this dictionary,
        // so it always expands back; should it not, the JSON is left out rather than half
        // written.
        match lz4_flex::block::decompress_into_with_dict(&self.bytes, &mut out[start..], dictionary)
        {
            Ok(n) if n == self.len() => {}
            _ => out.truncate(start),
        }
    }

    /// Runs `read` on the JSON: on the held bytes while not packed, else on an expanded copy.
    pub fn read<R>(&self, read: impl FnOnce(&[u8]) -> R) -> R {
        if self.is_packed() {
            read(&self.unpack())
        } else {
            read(&self.bytes)
        }
    }

    /// The JSON.
    pub fn unpack(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len());
        self.unpack_into(&mut out);
        Bytes::from(out)
    }
}

impl std::fmt::Debug for PackedJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedJson({} bytes in {})",
            self.len(),
            self.packed_len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killmail_comes_back_byte_for_byte_in_less_than_half_its_size() {
        let json = br#"{"killmail_id":131000015,"kill_time":"2026-11-30T13:30:28Z","system_id":30002659,"solar_system_id":30002659,"solar_system_name":"Dodixie","victim":{"character_id":2112000074,"character_name":"Ysnav Zamo","corporation_id":98000057,"corporation_name":"Ithul Holdings","corporation_ticker":"ITQJ","alliance_id":99000008,"alliance_name":"Tanromo Coalition","alliance_ticker":"TAFST","ship_type_id":627,"ship_name":"Thorax","ship_group_id":26,"damage_taken":78549,"position":{"x":-204165687.881,"y":561619358.543,"z":514392055.475},"items":[{"item_type_id":3841,"flag":27,"singleton":0,"quantity_destroyed":1},{"item_type_id":34,"flag":26,"singleton":0,"quantity_destroyed":2}]},"attackers":[{"character_id":2112000292,"character_name":"Soltor Artanque","corporation_id":98000024,"corporation_name":"Ithen Industries","corporation_ticker":"ITZD","alliance_id":99000013,"alliance_name":"Kavendra Legion","alliance_ticker":"KAHZI","ship_type_id":645,"ship_name":"Dominix","ship_group_id":27,"weapon_type_id":2456,"damage_done":4798,"final_blow":false,"security_status":-3.3},{"character_id":2112000351,"character_name":"Ulvex Vexven","corporation_id":98000038,"corporation_name":"Arri Reclamation","corporation_ticker":"ARCP","ship_type_id":17480,"ship_name":"Procurer","ship_group_id":463,"weapon_type_id":2410,"damage_done":2400,"final_blow":true,"security_status":-3.0}],"attacker_count":2,"zkb":{"locationID":40312726,"hash":"a3d67cb75abb9792d604b527bfb2d3f7e2e3b62a","fittedValue":229077226.0,"droppedValue":90999252.0,"destroyedValue":138077974.0,"totalValue":229435578.0,"points":12,"npc":false,"solo":false,"awox":false,"labels":["pvp"],"href":"https://esi.evetech.net/v1/killmails/131000015/a3d67cb75abb9792d604b527bfb2d3f7e2e3b62a/"}}"#;
        let packed = PackedJson::pack(json);
        assert_eq!(packed.len(), json.len());
        assert!(
            packed.packed_len() * 2 < json.len(),
            "{} of {}",
            packed.packed_len(),
            json.len()
        );
        assert_eq!(&packed.unpack()[..], &json[..]);
        assert_eq!(packed.read(<[u8]>::to_vec), json.to_vec());
        assert_eq!(PackedJson::raw(json).read(<[u8]>::to_vec), json.to_vec());
        let mut out = b"[".to_vec();
        packed.unpack_into(&mut out);
        assert_eq!(&out[1..], &json[..]);
    }

    #[test]
    fn what_does_not_compress_is_kept_as_is() {
        for json in [&b""[..], b"{}", b"\x01\xff\x7f"] {
            let packed = PackedJson::pack(json);
            assert_eq!(packed.len(), json.len());
            assert_eq!(&packed.unpack()[..], json);
        }
    }
}
