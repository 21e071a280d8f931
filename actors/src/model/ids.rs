//! Id newtypes for the EVE entities a killmail names.
//!
//! Parse, don't validate: an id becomes a newtype at the edge (upstream JSON, a path parameter, a
//! join payload) and the rest of the code cannot confuse a system with a character. All ids are
//! positive; zero is never a valid EVE id.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Why a textual id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("empty id")]
    Empty,
    #[error("id contains characters other than an optional '+' and digits")]
    NotDigits,
    #[error("id is zero")]
    Zero,
    #[error("id is too large")]
    TooLarge,
}

/// Parses the textual form accepted for ids in paths and query strings: an optional leading `+`,
/// then ASCII digits (leading zeros allowed), nothing else — no spaces, signs, dots or exponents.
pub fn parse_positive(text: &str) -> Result<NonZeroU64, IdParseError> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return Err(IdParseError::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdParseError::NotDigits);
    }
    let value: u64 = digits.parse().map_err(|_| IdParseError::TooLarge)?;
    NonZeroU64::new(value).ok_or(IdParseError::Zero)
}

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(NonZeroU64);

        impl $name {
            /// The id, or `None` for zero (which no EVE entity has).
            pub const fn new(value: u64) -> Option<Self> {
                match NonZeroU64::new(value) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }

            pub const fn get(self) -> u64 {
                self.0.get()
            }
        }

        impl TryFrom<u64> for $name {
            type Error = IdParseError;

            fn try_from(value: u64) -> Result<Self, Self::Error> {
                Self::new(value).ok_or(IdParseError::Zero)
            }
        }

        impl From<NonZeroU64> for $name {
            fn from(value: NonZeroU64) -> Self {
                Self(value)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_positive(text).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// Strict: a positive JSON integer. Upstream input goes through the lenient decoders instead.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = NonZeroU64::deserialize(d)?;
                Ok(Self(value))
            }
        }
    };
}

id_newtype!(
    /// A killmail (`killmail_id`, zKillboard's `killID`).
    KillmailId
);
id_newtype!(
    /// A solar system (`solar_system_id`); k-space 30M.., wormholes 31M.., Abyssal 32M...
    SystemId
);
id_newtype!(
    /// A constellation (20M..): a group of systems within a region.
    ConstellationId
);
id_newtype!(
    /// A region (10M..; w-space regions 11M.., Abyssal 12M..).
    RegionId
);
id_newtype!(
    /// A pilot.
    CharacterId
);
id_newtype!(
    /// A corporation (NPC corporations included).
    CorporationId
);
id_newtype!(
    /// An alliance.
    AllianceId
);
id_newtype!(
    /// A faction (NPC attackers and factional warfare victims).
    FactionId
);
id_newtype!(
    /// An inventory type: ships, weapons, items.
    TypeId
);
id_newtype!(
    /// An inventory group (a ship's class, e.g. 29 = Capsule).
    GroupId
);

/// A fast hasher for integer ids (killmail, character, system ids and subscriber keys): one
/// multiply per id instead of SipHash. The ids come from zKillboard and ESI, not from clients,
/// so flooding a table with colliding keys is not a concern here.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the high bits, which hashbrown uses, mix every input bit.
        self.0 = (self.0 ^ n).wrapping_mul(GOLDEN);
    }
}

/// 2^64 divided by the golden ratio: multiplying by it spreads every bit of a word into the
/// high bits (Fibonacci hashing).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A slot among `2^bits` for `word`: the high `bits` bits of its Fibonacci hash. For the
/// project's own open-addressing tables (0 when `bits` is 0).
pub fn fibonacci_slot(word: u64, bits: u32) -> usize {
    word.wrapping_mul(GOLDEN)
        .checked_shr(64 - bits.min(64))
        .map_or(0, |slot| slot as usize)
}

/// `HashMap`/`HashSet` state for id keys.
pub type IdBuild = std::hash::BuildHasherDefault<IdHasher>;
/// A map keyed by an id.
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdBuild>;
/// A set of ids.
pub type IdSet<K> = std::collections::HashSet<K, IdBuild>;

/// A random 22-character URL-safe token (128 random bits): subscription and delivery ids.
pub fn random_token() -> String {
    use rand::Rng;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits: u128 = rand::rng().random();
    (0..22)
        .map(|i| char::from(ALPHABET[((bits >> (i * 6)) & 63) as usize]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_fibonacci_slot_is_within_its_table_and_spreads_neighbours() {
        assert_eq!(fibonacci_slot(12_345, 0), 0, "a table of one slot");
        let slots: std::collections::HashSet<usize> = (0..64)
            .map(|id| fibonacci_slot(131_000_000 + id, 12))
            .collect();
        assert!(slots.iter().all(|s| *s < 4096));
        assert!(
            slots.len() > 60,
            "64 neighbouring ids in {} slots",
            slots.len()
        );
    }

    #[test]
    fn a_plus_sign_and_leading_zeros_are_accepted() {
        assert_eq!(
            "+0030000142".parse::<SystemId>().map(SystemId::get),
            Ok(30000142)
        );
        assert_eq!(
            "30000142".parse::<SystemId>().map(SystemId::get),
            Ok(30000142)
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "", "+", " 1", "1 ", "-1", "1.0", "1e3", "0x10", "++1", "abc", "１",
        ] {
            assert!(bad.parse::<SystemId>().is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn zero_and_overflow_are_refused_with_their_reason() {
        assert_eq!("000".parse::<KillmailId>(), Err(IdParseError::Zero));
        assert_eq!(
            "99999999999999999999".parse::<KillmailId>(),
            Err(IdParseError::TooLarge)
        );
    }

    #[test]
    fn ids_serialize_as_bare_integers() {
        let id = CharacterId::new(95465499).expect("non-zero");
        assert_eq!(serde_json::to_string(&id).expect("serializes"), "95465499");
        assert_eq!(
            serde_json::from_str::<CharacterId>("95465499").ok(),
            Some(id)
        );
    }

    #[test]
    fn strict_deserialization_refuses_zero_and_strings() {
        assert!(serde_json::from_str::<SystemId>("0").is_err());
        assert!(serde_json::from_str::<SystemId>("\"1\"").is_err());
    }

    proptest! {
        #[test]
        fn every_positive_id_round_trips_through_text(n in 1u64..=u64::MAX, zeros in 0usize..4, plus: bool) {
            let text = format!("{}{}{}", if plus { "+" } else { "" }, "0".repeat(zeros), n);
            prop_assert_eq!(text.parse::<TypeId>().map(TypeId::get), Ok(n));
            prop_assert_eq!(TypeId::new(n).map(|id| id.to_string()), Some(n.to_string()));
        }

        #[test]
        fn text_with_any_non_digit_is_refused(prefix in "[0-9]{0,5}", bad in "[^0-9+]", suffix in "[0-9]{0,5}") {
            let text = format!("{prefix}{bad}{suffix}");
            prop_assert!(text.parse::<SystemId>().is_err());
        }
    }
}
