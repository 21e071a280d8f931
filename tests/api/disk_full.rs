//! A full disk loses no kill: kills the disk refuses wait in memory and are written again when
//! space returns, the feed holds meanwhile, and `/health` says so. The data dir is a 1 MiB
//! tmpfs mounted for the test (the machines run tests as root), filled up after the store opens.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wanderer_kills::simulator::SimConfig;

use crate::helpers::{spawn_app_with, wait_for};

/// A size-limited filesystem, unmounted on drop.
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("a mount point");
        let path = dir.path().to_owned();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("mount runs");
        assert!(
            mounted.success(),
            "this test mounts a small tmpfs and needs root"
        );
        Self { _dir: dir, path }
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("a filler file");
        let block = vec![0u8; 4096];
        while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn on(path: &Path) -> impl Fn(&mut wanderer_kills::Settings) + Clone {
    let path = path.to_owned();
    move |s| s.engine.storage.data_dir = path.clone()
}

#[actix_web::test]
async fn kills_the_full_disk_refused_are_written_when_space_returns_and_none_is_lost() {
    // Arrange: the store opens, then the disk fills up
    let disk = SmallDisk::mount("1m");
    let mut app = spawn_app_with(SimConfig::default(), on(&disk.path)).await;
    app.wait_following().await;
    let filler = disk.fill();

    // Act: kills arrive while nothing can be written
    let system = 30000142;
    let ids = app.publish_in(system, 8);

    // Assert: health says kills wait for the disk
    let health = wait_for(
        Duration::from_secs(10),
        "the store to report the full disk",
        || async {
            let health = app.get("/health").await.json();
            (health["details"]["store"]["status"] == "degraded").then_some(health)
        },
    )
    .await;
    let message = health["details"]["store"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("wait to be written to disk"), "{health}");

    // Act: space returns
    std::fs::remove_file(filler).expect("the filler goes");

    // Assert: every kill reaches the disk, and health recovers
    wait_for(Duration::from_secs(20), "the kills written", || async {
        let status = app.status().await;
        let waiting = status["metrics"]["storage"]["waiting_for_disk"].as_i64();
        let held = app.cached(system).await.len();
        (waiting == Some(0) && held == ids.len()).then_some(())
    })
    .await;
    assert_eq!(
        app.get("/health").await.json()["details"]["store"]["status"],
        "ok"
    );
    app.shutdown();

    // A restart on the same disk has every one of them
    let again = spawn_app_with(SimConfig::default(), on(&disk.path)).await;
    let mut on_disk: Vec<u64> = again
        .cached(system)
        .await
        .iter()
        .filter_map(|k| k["killmail_id"].as_u64())
        .collect();
    on_disk.sort_unstable();
    let mut expected = ids.clone();
    expected.sort_unstable();
    assert_eq!(on_disk, expected);
}
