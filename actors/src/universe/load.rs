//! Reading CCP's static data (the CSV files shipped in `priv/data/`): each file's header names its
//! columns, rows that do not read are skipped, and a missing file leaves that part empty.

use std::path::{Path, PathBuf};

use crate::model::{ConstellationId, GroupId, RegionId};

use super::{SystemInfo, TypeInfo};

/// Why a static-data CSV could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    #[error("{path}: {source}")]
    Read { path: String, source: csv::Error },
    #[error("{path}: no `{column}` column in the header")]
    Column { path: String, column: &'static str },
}

/// Reads the rows of a static-data CSV whose header names every one of `columns`; `row` gets
/// each row's values in the order of `columns` and keeps what it can read.
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

fn name(text: &str) -> Option<String> {
    Some(text).filter(|n| !n.is_empty()).map(str::to_owned)
}

/// Ship types from a CSV holding `typeID`, `groupID` and `typeName` (EVE's `invTypes.csv`, or
/// the ships-only `shipTypes.csv`).
pub fn read_types(path: &Path) -> Result<Vec<(u64, TypeInfo)>, CsvError> {
    read_csv(path, &["typeID", "groupID", "typeName"], |v| {
        let id = v[0].parse::<u64>().ok()?;
        let group_id = v[1].parse::<u64>().ok().and_then(GroupId::new);
        Some((
            id,
            TypeInfo {
                name: name(v[2])?,
                group_id,
            },
        ))
    })
}

/// Solar systems (`system_id, system_name, constellation_id, region_id, security`).
pub fn read_systems(path: &Path) -> Result<Vec<(u64, SystemInfo)>, CsvError> {
    let columns = [
        "system_id",
        "system_name",
        "constellation_id",
        "region_id",
        "security",
    ];
    read_csv(path, &columns, |v| {
        let id = v[0].parse::<u64>().ok()?;
        Some((
            id,
            SystemInfo {
                name: name(v[1])?,
                constellation_id: v[2].parse().ok().and_then(ConstellationId::new),
                region_id: v[3].parse().ok().and_then(RegionId::new),
                security: v[4].parse::<f64>().ok().filter(|s| s.is_finite()),
            },
        ))
    })
}

/// Constellations (`constellation_id, constellation_name, region_id`).
pub fn read_constellations(path: &Path) -> Result<Vec<(u64, String)>, CsvError> {
    read_csv(path, &["constellation_id", "constellation_name"], |v| {
        Some((v[0].parse().ok()?, name(v[1])?))
    })
}

/// Regions (`region_id, region_name`).
pub fn read_regions(path: &Path) -> Result<Vec<(u64, String)>, CsvError> {
    read_csv(path, &["region_id", "region_name"], |v| {
        Some((v[0].parse().ok()?, name(v[1])?))
    })
}

/// The rows of one part, collected into a map; a part no file gives is logged and left empty.
pub fn part<T, C: FromIterator<T>>(
    dirs: &[&Path],
    names: &[&str],
    what: &str,
    read: impl Fn(&Path) -> Result<Vec<T>, CsvError>,
) -> C {
    match first_readable(dirs, names, read) {
        Some((path, rows)) => {
            log::info!(
                "static data loaded part={what} rows={} path={}",
                rows.len(),
                path.display()
            );
            rows.into_iter().collect()
        }
        None => {
            log::warn!("static data missing part={what} looked_in={dirs:?}");
            std::iter::empty().collect()
        }
    }
}

/// The rows of the first of `names` found in `dirs` that reads; a file that does not read is
/// logged and the next one tried.
fn first_readable<T>(
    dirs: &[&Path],
    names: &[&str],
    read: impl Fn(&Path) -> Result<Vec<T>, CsvError>,
) -> Option<(PathBuf, Vec<T>)> {
    let paths = dirs.iter().flat_map(|d| names.iter().map(|n| d.join(n)));
    for path in paths.filter(|p| p.is_file()) {
        match read(&path) {
            Ok(rows) => return Some((path, rows)),
            Err(e) => log::warn!("static data not loaded error={e}"),
        }
    }
    None
}
