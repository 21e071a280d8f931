//! Static data (CCP's Static Data Export, shipped in `priv/data/`): ship types with their groups
//! (`shipTypes.csv`, or a fuller `invTypes.csv`) and solar system names (`systems.csv`), seeded
//! into the name cache so ESI is never asked for them.

use std::path::{Path, PathBuf};

use std::time::Duration;

use super::{CacheLimits, NameCache, TypeInfo};
use crate::config::EngineSettings;
use crate::model::GroupId;

/// Why a static-data CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{path}: {source}")]
    Read { path: String, source: csv::Error },
    #[error("{path}: no `{column}` column in the header")]
    Column { path: String, column: &'static str },
}

/// Reads the rows of a static-data CSV whose header names every one of `columns`; `row` gets
/// each row's values in the order of `columns` and keeps what it can read. Rows it cannot read
/// are skipped.
fn read_csv<T>(
    path: &Path,
    columns: &[&'static str],
    row: impl Fn(&[&str]) -> Option<T>,
) -> Result<Vec<T>, CsvError> {
    let shown = path.display().to_string();
    let read_error = |source| CsvError::Read {
        path: shown.clone(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(read_error)?;
    let header = reader.headers().map_err(read_error)?.clone();
    let at: Vec<usize> = columns
        .iter()
        .map(|&name| {
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| CsvError::Column {
                    path: shown.clone(),
                    column: name,
                })
        })
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for record in reader.records().map_while(Result::ok) {
        let values: Vec<&str> = at
            .iter()
            .map(|&i| record.get(i).map_or("", str::trim))
            .collect();
        out.extend(row(&values));
    }
    Ok(out)
}

/// Reads ship types from a static-data CSV with a header row holding `typeID`, `groupID` and
/// `typeName` (EVE's `invTypes.csv`, or a ships-only extract).
pub fn read_types_csv(path: &Path) -> Result<Vec<(u64, TypeInfo)>, CsvError> {
    read_csv(path, &["typeID", "groupID", "typeName"], |v| {
        let id = v[0].parse::<u64>().ok()?;
        let name = Some(v[2]).filter(|n| !n.is_empty())?;
        let group_id = v[1].parse::<u64>().ok().and_then(GroupId::new);
        Some((
            id,
            TypeInfo {
                name: name.to_owned(),
                group_id,
            },
        ))
    })
}

/// Reads solar system names from the shipped `systems.csv` (`system_id`, `system_name`, ...).
pub fn read_systems_csv(path: &Path) -> Result<Vec<(u64, String)>, CsvError> {
    read_csv(path, &["system_id", "system_name"], |v| {
        let id = v[0].parse::<u64>().ok()?;
        let name = Some(v[1]).filter(|n| !n.is_empty())?;
        Some((id, name.to_owned()))
    })
}

/// Where static ship data may be found, relative to the working directory and the data dir.
const TYPE_CSV_NAMES: [&str; 2] = ["invTypes.csv", "shipTypes.csv"];
/// The system list's file name.
const SYSTEMS_CSV: &str = "systems.csv";

/// The rows of the first of `paths` that exists and reads; a file that does not read is logged.
fn first_readable<T>(
    paths: impl Iterator<Item = PathBuf>,
    read: impl Fn(&Path) -> Result<Vec<T>, CsvError>,
) -> Option<(PathBuf, Vec<T>)> {
    for path in paths.filter(|p| p.is_file()) {
        match read(&path) {
            Ok(rows) => return Some((path, rows)),
            Err(e) => log::warn!("static data not loaded error={e}"),
        }
    }
    None
}

/// The name caches, with ship types and system names seeded from the static data found in
/// `priv/data/` or the data dir, so ESI is never asked for them. The service works without it.
pub fn seeded_cache(settings: &EngineSettings, data_dir: &Path) -> NameCache {
    let mut cache = NameCache::new(CacheLimits {
        ttl: Duration::from_secs(settings.cache.esi_ttl_s),
        ..CacheLimits::default()
    });
    let dirs = [Path::new("priv/data"), data_dir];
    let types = dirs
        .iter()
        .flat_map(|dir| TYPE_CSV_NAMES.map(|name| dir.join(name)));
    if let Some((path, types)) = first_readable(types, read_types_csv) {
        let n = cache.seed_types(types);
        log::info!("ship types seeded path={} types={n}", path.display());
    }
    let systems = dirs.iter().map(|dir| dir.join(SYSTEMS_CSV));
    if let Some((path, systems)) = first_readable(systems, read_systems_csv) {
        let n = cache.seed_systems(systems);
        log::info!("system names seeded path={} systems={n}", path.display());
    }
    cache
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::tests::killmail;
    use super::super::{CacheLimits, NameCache, STATIC_TTL};
    use super::*;
    use crate::model::NameKind;

    fn temp_csv(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("wk-names-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("written");
        path
    }

    #[test]
    fn the_ship_csv_seeds_names_and_groups_that_never_expire() {
        let path = temp_csv(
            "ships.csv",
            "typeID,groupID,typeName,published\n670,29,Capsule,1\nx,1,Broken,1\n17918,27,Rattlesnake,1\n",
        );
        let types = read_types_csv(&path).expect("the CSV reads");
        assert_eq!(types.len(), 2, "the unreadable row is skipped");
        let mut cache = NameCache::new(CacheLimits::default());
        cache.seed_types(types);
        let mut km = killmail();
        let (missing, _) = cache.fill(&mut km, Instant::now() + STATIC_TTL * 2);
        assert!(!missing.0.contains(&(NameKind::Type, 670)));
        assert!(!missing.0.contains(&(NameKind::Type, 17918)));
        assert_eq!(km.victim.ship_name.as_deref(), Some("Capsule"));
        assert_eq!(km.victim.ship_group_id.map(GroupId::get), Some(29));
    }

    #[test]
    fn the_shipped_ship_list_names_every_ship_with_its_group() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../priv/data/shipTypes.csv");

        let types = read_types_csv(&path).expect("priv/data/shipTypes.csv is shipped and reads");

        assert!(types.len() > 400, "{} ship types", types.len());
        let rifter = types.iter().find(|(id, _)| *id == 587).expect("the Rifter");
        assert_eq!(rifter.1.name, "Rifter");
        assert_eq!(rifter.1.group_id.map(GroupId::get), Some(25), "a frigate");
    }

    #[test]
    fn the_shipped_system_list_names_every_system() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../priv/data/systems.csv");

        let systems = read_systems_csv(&path).expect("priv/data/systems.csv is shipped and reads");

        assert!(systems.len() > 8000, "{} systems", systems.len());
        assert!(systems.contains(&(30000142, "Jita".to_owned())));
        assert!(systems.iter().any(|(id, _)| *id == 31000005), "w-space too");
    }

    #[test]
    fn a_csv_without_the_needed_columns_is_refused_with_its_name() {
        let path = temp_csv("bad.csv", "id,name\n1,x\n");
        let err = read_types_csv(&path).expect_err("refused");
        assert!(err.to_string().contains("typeID"), "{err}");
        assert!(err.to_string().contains("bad.csv"), "{err}");
    }
}
