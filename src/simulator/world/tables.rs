//! The fixed tables of the simulated universe: id ranges, systems, ships, items, factions, and
//! the syllables names are made of.

/// Pilots are `CHARACTER_BASE..CHARACTER_BASE + CHARACTER_COUNT`; ids outside are unknown to ESI.
pub const CHARACTER_BASE: u64 = 2_112_000_000;
pub const CHARACTER_COUNT: u64 = 400;
pub const CORPORATION_BASE: u64 = 98_000_000;
pub const CORPORATION_COUNT: u64 = 60;
pub const ALLIANCE_BASE: u64 = 99_000_000;
pub const ALLIANCE_COUNT: u64 = 15;
/// First killmail id; kill `n` has id `KILLMAIL_BASE + n`.
pub const KILLMAIL_BASE: u64 = 131_000_000;

/// `(id, name, security)`: real systems, so demos look familiar.
pub const SYSTEMS: [(u64, &str, f64); 16] = [
    (30000142, "Jita", 0.9459),
    (30000144, "Perimeter", 0.9539),
    (30002187, "Amarr", 1.0),
    (30002659, "Dodixie", 0.8709),
    (30002510, "Rens", 0.8986),
    (30002053, "Hek", 0.5182),
    (30002813, "Tama", 0.3144),
    (30002537, "Amamake", 0.4),
    (30001161, "HED-GP", -0.3717),
    (30004759, "1DQ1-A", -0.3858),
    (30003068, "Rancer", 0.3827),
    (31000005, "Thera", -0.99),
    (31000001, "J165153", -0.99),
    (31000002, "J163545", -0.99),
    (31000003, "J105433", -0.99),
    (31002238, "J100820", -0.99),
];

/// `(type_id, group_id, name)`: ships (and the capsule) victims and attackers fly.
pub const SHIPS: [(u64, u64, &str); 24] = [
    (670, 29, "Capsule"),
    (587, 25, "Rifter"),
    (603, 25, "Merlin"),
    (597, 25, "Punisher"),
    (593, 25, "Tristan"),
    (605, 25, "Heron"),
    (32880, 25, "Venture"),
    (16242, 420, "Thrasher"),
    (16240, 420, "Catalyst"),
    (621, 26, "Caracal"),
    (626, 26, "Vexor"),
    (627, 26, "Thorax"),
    (17918, 27, "Rattlesnake"),
    (24698, 419, "Drake"),
    (24702, 419, "Hurricane"),
    (24700, 419, "Myrmidon"),
    (29984, 963, "Tengu"),
    (29990, 963, "Loki"),
    (22456, 541, "Sabre"),
    (11198, 831, "Stiletto"),
    (638, 27, "Raven"),
    (645, 27, "Dominix"),
    (17480, 463, "Procurer"),
    (12005, 358, "Ishtar"),
];

/// `(type_id, group_id, name)`: weapons and fitted or carried items.
pub const ITEMS: [(u64, u64, &str); 12] = [
    (2488, 100, "Warrior II"),
    (2456, 100, "Hobgoblin II"),
    (2873, 55, "125mm Gatling AutoCannon II"),
    (3082, 74, "Light Neutron Blaster II"),
    (3057, 53, "Small Focused Pulse Laser II"),
    (2410, 510, "Heavy Missile Launcher II"),
    (2048, 60, "Damage Control II"),
    (3841, 38, "Large Shield Extender II"),
    (2281, 77, "Adaptive Invulnerability Field II"),
    (34, 18, "Tritanium"),
    (35, 18, "Pyerite"),
    (3467, 448, "Small Secure Container"),
];

/// `(faction_id, name, npc corporation_id, npc corporation name, ticker)`: NPC attackers.
pub const FACTIONS: [(u64, &str, u64, &str, &str); 4] = [
    (500010, "Guristas Pirates", 1000127, "Guristas", "GURI"),
    (500011, "Angel Cartel", 1000124, "Archangels", "ARCH"),
    (500019, "Sansha's Nation", 1000161, "True Creations", "TRCR"),
    (
        500020,
        "Serpentis",
        1000135,
        "Serpentis Corporation",
        "SERP",
    ),
];

pub const SYLLABLES: [&str; 24] = [
    "ka", "ro", "vex", "ul", "tan", "mir", "sho", "dra", "en", "lok", "za", "ri", "bel", "gor",
    "ith", "nav", "que", "sol", "tor", "ys", "ar", "ven", "ki", "mo",
];
pub const CORP_SUFFIXES: [&str; 8] = [
    "Industries",
    "Holdings",
    "Syndicate",
    "Enterprises",
    "Directorate",
    "Logistics",
    "Reclamation",
    "Works",
];
pub const ALLIANCE_SUFFIXES: [&str; 5] = [
    "Alliance",
    "Coalition",
    "Collective",
    "Federation",
    "Legion",
];
