//! The Dockerfile's build stage, replayed outside Docker (no container engine runs on these
//! machines): its `WORKDIR`, `COPY` and `RUN` lines run in order in a scratch directory, so a
//! step that cannot work (a manifest target with no file in the dependency-caching step, a path
//! the image copies that is not there) fails here first.
//!
//! `cargo check` stands in for `cargo build` with the same arguments: it reads the same
//! manifests, lock file, targets and sources and type-checks everything, without generating
//! code, which keeps the replay to about a minute. Its target directory is kept under
//! `target/`, so later runs only redo what changed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The lines of the first stage (`FROM ... AS build`) with continuations joined.
fn build_stage(dockerfile: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in dockerfile.lines() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => current.push_str(start),
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    let start = lines
        .iter()
        .position(|l| l.starts_with("FROM ") && l.ends_with(" AS build"))
        .expect("a build stage");
    lines[start + 1..]
        .iter()
        .take_while(|l| !l.starts_with("FROM "))
        .cloned()
        .collect()
}

/// `COPY <src>... <dst>` from the repository into the stage's filesystem, `.` as Docker copies it
/// (without what `.dockerignore` leaves out).
fn copy(args: &str, workdir: &Path) {
    let parts: Vec<&str> = args.split_whitespace().collect();
    let (destination, sources) = parts.split_last().expect("COPY <src> <dst>");
    let destination = workdir.join(destination);
    for source in sources {
        let from = repo().join(source);
        assert!(from.exists(), "COPY {source}: not in the repository");
        if from.is_dir() {
            let ignored = [".git", "target", "data", "node_modules"];
            copy_tree(&from, &destination, &ignored);
        } else {
            let to = if args.trim_end().ends_with('/') || destination.is_dir() {
                destination.join(from.file_name().expect("a file name"))
            } else {
                destination.clone()
            };
            std::fs::create_dir_all(to.parent().expect("a parent")).expect("made");
            std::fs::copy(&from, &to).expect("copied");
        }
    }
}

fn copy_tree(from: &Path, to: &Path, ignored: &[&str]) {
    std::fs::create_dir_all(to).expect("made");
    for entry in std::fs::read_dir(from).expect("readable") {
        let entry = entry.expect("an entry");
        let name = entry.file_name();
        if ignored.iter().any(|i| name == *i) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name), ignored);
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copied");
        }
    }
}

#[test]
fn the_dockerfile_build_stage_replays_outside_docker() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("a Dockerfile");
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let root = scratch.path();
    let target = repo().join("target").join("docker-replay");
    let mut workdir = root.to_owned();

    let stage = build_stage(&dockerfile);
    assert!(stage.iter().any(|l| l.starts_with("RUN ")), "{stage:?}");
    for line in stage {
        let (instruction, args) = line.split_once(' ').expect("an instruction");
        match instruction {
            "WORKDIR" => {
                workdir = root.join(args.trim().trim_start_matches('/'));
                std::fs::create_dir_all(&workdir).expect("made");
            }
            "COPY" => copy(args, &workdir),
            "RUN" => {
                let script = args.replace("cargo build", "cargo check");
                let output = Command::new("sh")
                    .arg("-ec")
                    .arg(&script)
                    .current_dir(&workdir)
                    .env("CARGO_TARGET_DIR", &target)
                    .output()
                    .expect("sh runs");
                assert!(
                    output.status.success(),
                    "RUN {args}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            other => panic!("{other}: not replayed; teach this test the instruction"),
        }
    }
}

#[test]
fn what_the_runtime_image_copies_from_the_repository_is_there() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("a Dockerfile");
    let runtime = dockerfile
        .rsplit("\nFROM ")
        .next()
        .expect("a runtime stage");
    for line in runtime
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let source = line.split_whitespace().nth(1).expect("a source");
        assert!(repo().join(source).exists(), "{line}");
    }
}
