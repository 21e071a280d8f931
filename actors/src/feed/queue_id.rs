//! The RedisQ queue id: RedisQ remembers what each queue has seen, so the id must stay the same
//! across restarts. The configured one wins; else the one saved in the store (or, from older
//! versions, in `DATA_DIR/redisq_queue_id`); else a new one is derived once and saved.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::journal::Journal;

/// The file in the data dir that kept a derived queue id before the store did.
const QUEUE_ID_FILE: &str = "redisq_queue_id";

/// The configured RedisQ queue id, else the one saved in the store (or, from older versions, in
/// `DATA_DIR/redisq_queue_id`), else a new one derived and saved.
pub fn queue_id(
    configured: &str,
    saved: Option<String>,
    data_dir: &Path,
    journal: &Journal,
) -> String {
    if !configured.trim().is_empty() {
        return configured.trim().to_owned();
    }
    if let Some(saved) = saved.filter(|s| !s.trim().is_empty()) {
        return saved;
    }
    let legacy = std::fs::read_to_string(data_dir.join(QUEUE_ID_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let id = legacy.unwrap_or_else(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("wanderer-kills-{:x}{:04x}", nanos, rand::random::<u16>())
    });
    journal.save_queue_id(&id);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_derived_queue_id_is_saved_and_reused_and_a_configured_one_wins() {
        let dir = std::env::temp_dir().join(format!("wk-queue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (journal, _) = Journal::open(&dir, 3600).expect("opens");
        let first = queue_id("", None, &dir, &journal);
        assert!(first.starts_with("wanderer-kills-"), "{first}");
        actix::System::new().block_on(journal.flush());
        let (journal, loaded) = Journal::open(&dir, 3600).expect("opens again");
        assert_eq!(loaded.redisq_queue_id.as_deref(), Some(first.as_str()));
        assert_eq!(queue_id("", loaded.redisq_queue_id, &dir, &journal), first);
        assert_eq!(queue_id(" mine ", None, &dir, &journal), "mine");
        let _ = std::fs::remove_dir_all(dir);
    }
}
