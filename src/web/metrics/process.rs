//! The `process_*` families every Prometheus client exports, read from `/proc/self` (Linux):
//! CPU seconds, resident and virtual memory, open and maximum file descriptors, start time.
//! A figure that cannot be read is left out rather than reported as 0.

use super::format::{one, Family, Kind};

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A `Name:   1234 kB` line of `/proc/self/status`, in bytes.
fn status_kb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0)
}

/// `(cpu seconds, start time in Unix seconds)` from `/proc/self/stat` and `/proc/stat`.
fn cpu_and_start() -> Option<(f64, f64)> {
    let stat = read("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<f64>().ok();
    let cpu = (ticks(14)? + ticks(15)?) / TICKS;
    let boot: f64 = read("/proc/stat")?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some((cpu, boot + ticks(22)? / TICKS))
}

fn max_fds() -> Option<f64> {
    let limits = read("/proc/self/limits")?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

pub fn families() -> Vec<Family> {
    let mut out = Vec::new();
    if let Some((cpu, start)) = cpu_and_start() {
        out.push(one(
            "process_cpu_seconds_total",
            "User and system CPU time spent in seconds.",
            Kind::Counter,
            cpu,
        ));
        out.push(one(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            Kind::Gauge,
            start,
        ));
    }
    if let Some(status) = read("/proc/self/status") {
        if let Some(rss) = status_kb(&status, "VmRSS:") {
            out.push(one(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Kind::Gauge,
                rss,
            ));
        }
        if let Some(virt) = status_kb(&status, "VmSize:") {
            out.push(one(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Kind::Gauge,
                virt,
            ));
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push(one(
            "process_open_fds",
            "Number of open file descriptors.",
            Kind::Gauge,
            fds.count() as f64,
        ));
    }
    if let Some(max) = max_fds() {
        out.push(one(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            Kind::Gauge,
            max,
        ));
    }
    out
}
