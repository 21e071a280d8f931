//! The name caches backed by the static universe: ships and systems are answered by the
//! universe itself, so ESI is never asked for them.

use std::sync::Arc;
use std::time::Duration;

use super::{CacheLimits, NameCache};
use crate::config::EngineSettings;
use crate::universe::Universe;

/// The name caches, with the universe answering for ships and systems. The service works
/// without static data.
pub fn seeded_cache(settings: &EngineSettings, universe: Arc<Universe>) -> NameCache {
    let cache = NameCache::new(CacheLimits {
        ttl: Duration::from_secs(settings.cache.esi_ttl_s),
        ..CacheLimits::default()
    });
    cache.with_universe(universe)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Instant;

    use super::super::tests::killmail;
    use super::super::STATIC_TTL;
    use super::*;
    use crate::model::{GroupId, NameKind};

    #[test]
    fn ships_and_systems_of_the_static_data_are_never_asked_for() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../priv/data");
        let universe = Arc::new(Universe::load(&[&dir]));
        let mut cache = NameCache::new(CacheLimits::default()).with_universe(universe);
        let mut km = killmail();

        let (missing, _) = cache.fill(&mut km, Instant::now() + STATIC_TTL * 2);

        for (kind, id) in [
            (NameKind::Type, 670),
            (NameKind::Type, 17918),
            (NameKind::System, 30000142),
        ] {
            assert!(!missing.0.contains(&(kind, id)), "{kind:?} {id} asked for");
        }
        assert_eq!(km.victim.ship_name.as_deref(), Some("Capsule"));
        assert_eq!(km.victim.ship_group_id.map(GroupId::get), Some(29));
        assert_eq!(
            km.attackers[0].ship_group_id.map(GroupId::get),
            Some(27),
            "attackers too"
        );
        assert_eq!(km.solar_system_name.as_deref(), Some("Jita"));
        assert_eq!(km.region_name.as_deref(), Some("The Forge"));
    }
}
