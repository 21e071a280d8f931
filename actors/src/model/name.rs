//! A name ESI answered for one id, as the name cache records it and the journal saves it.

/// The kinds of ids a killmail names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NameKind {
    Character,
    Corporation,
    Alliance,
    Type,
    System,
}

/// A name as it is saved on disk: what ESI answered for one id, and how long it stays good.
#[derive(Clone, Debug, PartialEq)]
pub struct NameRecord {
    pub kind: NameKind,
    pub id: u64,
    pub name: String,
    /// Corporations and alliances.
    pub ticker: Option<String>,
    /// Ship types.
    pub group_id: Option<u64>,
    /// Seconds it stays good from when it is saved (or, read back, from now).
    pub ttl_secs: u64,
}

impl NameKind {
    /// The number the kind is saved as.
    pub fn code(self) -> i64 {
        match self {
            Self::Character => 0,
            Self::Corporation => 1,
            Self::Alliance => 2,
            Self::Type => 3,
            Self::System => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Character,
            1 => Self::Corporation,
            2 => Self::Alliance,
            3 => Self::Type,
            4 => Self::System,
            _ => return None,
        })
    }
}
