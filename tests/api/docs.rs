//! What a newcomer reads and copies: README's tables render as tables, every environment
//! variable the service reads is documented in README and in `env.example`, and the compose file
//! runs the image the way the Dockerfile means it to run.

use std::collections::BTreeSet;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_table_in_the_readme_has_its_header_and_no_blank_line_splits_one() {
    let readme = read("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with('|') {
            let block_start = i;
            while i < lines.len() && lines[i].starts_with('|') {
                i += 1;
            }
            assert!(
                lines
                    .get(block_start + 1)
                    .is_some_and(|sep| sep.starts_with("|---") || sep.starts_with("| ---")),
                "README line {}: a table block without a header and separator row: {:?}",
                block_start + 1,
                lines[block_start]
            );
        } else {
            i += 1;
        }
    }
}

#[test]
fn every_environment_variable_is_in_the_readme_and_in_env_example() {
    let readme = read("README.md");
    let example = read("env.example");
    let listed: BTreeSet<&str> = example
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().split_once('='))
        .map(|(name, _)| name.trim())
        .collect();
    for name in wanderer_kills::config::variable_names() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} is not in README's table"
        );
        assert!(listed.contains(name), "{name} is not in env.example");
    }
    for name in ["APP_ENVIRONMENT", "CONFIG_DIR"] {
        assert!(listed.contains(name), "{name} is not in env.example");
    }
}

#[test]
fn the_compose_file_runs_the_image_with_its_volume_health_check_and_port() {
    let compose = read("docker-compose.yml");
    let dockerfile = read("Dockerfile");
    assert!(compose.contains("build: ."));
    assert!(compose.contains("\"4004:4004\"") && dockerfile.contains("EXPOSE 4004"));
    assert!(compose.contains("/data") && dockerfile.contains("VOLUME /data"));
    assert!(compose.contains(r#"test: ["CMD", "wanderer-kills", "healthcheck"]"#));
    assert!(compose.contains("path: .env") && compose.contains("required: false"));
}

#[test]
fn the_cluster_deployment_runs_three_instances_on_nats_behind_a_readiness_checked_balancer() {
    let compose = read("deploy/cluster/compose.yml");
    let haproxy = read("deploy/cluster/haproxy.cfg");
    assert!(compose.contains("NATS_URL: nats://nats:4222"));
    assert!(
        compose.contains("command: [\"-js\""),
        "NATS runs with JetStream"
    );
    for instance in ["kills-1", "kills-2", "kills-3"] {
        assert!(
            compose.contains(&format!("{instance}:\n")),
            "{instance} in compose"
        );
        assert!(
            haproxy.contains(&format!("server {instance} {instance}:4004")),
            "{instance} behind the balancer"
        );
    }
    assert!(haproxy.contains("option httpchk GET /health/ready"));
    assert!(compose.contains("\"4004:4004\""));
}
