//! The space class of a solar system, as EVE players name them: high-sec, low-sec, null-sec,
//! wormhole space, Abyssal pockets and Pochven.

use serde::{Serialize, Serializer};

use super::{RegionId, SystemId};

/// Wormhole systems have ids in this range.
const WSPACE: std::ops::RangeInclusive<u64> = 31_000_000..=31_999_999;
/// Abyssal pockets have ids from here on.
const ABYSSAL_FROM: u64 = 32_000_000;
/// Pochven's region.
const POCHVEN: u64 = 10_000_070;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    Highsec,
    Lowsec,
    Nullsec,
    Wspace,
    Abyssal,
    Pochven,
}

impl Space {
    pub const ALL: [Space; 6] = [
        Space::Highsec,
        Space::Lowsec,
        Space::Nullsec,
        Space::Wspace,
        Space::Abyssal,
        Space::Pochven,
    ];

    /// The class of a system from its id, region and security (`None` when the security of a
    /// k-space system is not known).
    pub fn of(system: SystemId, region: Option<RegionId>, security: Option<f64>) -> Option<Self> {
        let id = system.get();
        if id >= ABYSSAL_FROM {
            return Some(Self::Abyssal);
        }
        if WSPACE.contains(&id) {
            return Some(Self::Wspace);
        }
        if region.is_some_and(|r| r.get() == POCHVEN) {
            return Some(Self::Pochven);
        }
        let security = security?;
        Some(if security >= 0.45 {
            Self::Highsec
        } else if security > 0.0 {
            Self::Lowsec
        } else {
            Self::Nullsec
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            Self::Highsec => "highsec",
            Self::Lowsec => "lowsec",
            Self::Nullsec => "nullsec",
            Self::Wspace => "wspace",
            Self::Abyssal => "abyssal",
            Self::Pochven => "pochven",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl Serialize for Space {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A set of space classes, one bit each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SpaceSet(u8);

impl SpaceSet {
    pub fn insert(&mut self, space: Space) {
        self.0 |= space.bit();
    }

    pub const fn contains(self, space: Space) -> bool {
        self.0 & space.bit() != 0
    }

    pub const fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Space> {
        Space::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }
}

impl FromIterator<Space> for SpaceSet {
    fn from_iter<I: IntoIterator<Item = Space>>(iter: I) -> Self {
        let mut set = Self::default();
        for space in iter {
            set.insert(space);
        }
        set
    }
}

impl Serialize for SpaceSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(system: u64, region: u64, security: f64) -> Option<Space> {
        Space::of(
            SystemId::new(system).expect("id"),
            RegionId::new(region),
            Some(security),
        )
    }

    #[test]
    fn classes_follow_security_ids_and_region_as_eve_shows_them() {
        assert_eq!(class(30000142, 10000002, 0.9459), Some(Space::Highsec));
        assert_eq!(
            class(30000001, 10000001, 0.45),
            Some(Space::Highsec),
            "rounds to 0.5"
        );
        assert_eq!(class(30000001, 10000001, 0.4499), Some(Space::Lowsec));
        assert_eq!(class(30000001, 10000001, 0.0001), Some(Space::Lowsec));
        assert_eq!(class(30000001, 10000001, 0.0), Some(Space::Nullsec));
        assert_eq!(class(30000001, 10000001, -0.7), Some(Space::Nullsec));
        assert_eq!(class(31000005, 11000001, -1.0), Some(Space::Wspace));
        assert_eq!(class(32000001, 12000001, -1.0), Some(Space::Abyssal));
        assert_eq!(class(30000157, 10000070, 0.3), Some(Space::Pochven));
        let unknown = Space::of(SystemId::new(30000001).expect("id"), None, None);
        assert_eq!(unknown, None);
    }

    #[test]
    fn a_set_holds_each_class_once_and_lists_them_in_order() {
        let set: SpaceSet = [Space::Wspace, Space::Lowsec, Space::Wspace]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(Space::Lowsec) && !set.contains(Space::Highsec));
        assert_eq!(
            serde_json::to_string(&set).expect("serializes"),
            r#"["lowsec","wspace"]"#
        );
        assert_eq!(Space::named("pochven"), Some(Space::Pochven));
        assert_eq!(Space::named("hisec"), None);
    }
}
