//! What a load test measured, and how it is printed.

use std::time::Duration;

use super::Workload;

/// What the run measured.
#[derive(Debug)]
pub struct Report {
    pub workload: Workload,
    pub clients_ready: usize,
    pub expected: usize,
    pub delivered: usize,
    /// Clients that received every measured kill.
    pub clients_complete: usize,
    pub connect_time: Duration,
    /// Over every delivered frame.
    pub latency: Percentiles,
    /// Over each kill's first delivery (the pipeline without the fan-out).
    pub first_delivery: Percentiles,
    /// Cluster runs: each instance's role, frames delivered by it, and their latency.
    pub per_instance: Vec<(String, usize, Percentiles)>,
    /// Failover runs: from the leader's death to the first delivery of a kill published after.
    pub failover: Option<Duration>,
    /// CPU the server processes spent from the first measured kill to the last delivery.
    pub cpu_ms: f64,
}

impl Report {
    /// Server CPU per delivered frame, in microseconds.
    pub fn cpu_us_per_frame(&self) -> f64 {
        self.cpu_ms * 1000.0 / self.delivered.max(1) as f64
    }
}

#[derive(Debug, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).saturating_sub(1);
            samples.get(i).copied().unwrap_or_default()
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let w = &self.workload;
        writeln!(
            f,
            "workload: {} clients following {} of {} systems each, {} kills every {} ms",
            w.clients,
            w.systems_per_client,
            w.systems,
            w.kills,
            w.interval.as_millis(),
        )?;
        writeln!(
            f,
            "clients joined: {} of {} in {:.1} s",
            self.clients_ready,
            w.clients,
            self.connect_time.as_secs_f64()
        )?;
        writeln!(
            f,
            "frames delivered: {} of {} ({} clients got every kill meant for them)",
            self.delivered, self.expected, self.clients_complete
        )?;
        writeln!(f, "kill → client, every frame: {}", self.latency)?;
        writeln!(f, "kill → first client:       {}", self.first_delivery)?;
        write!(
            f,
            "server CPU: {:.0} ms, {:.1} µs per delivered frame",
            self.cpu_ms,
            self.cpu_us_per_frame()
        )?;
        for (i, (role, frames, latency)) in self.per_instance.iter().enumerate() {
            write!(f, "\ninstance {i} ({role}, {frames} frames): {latency}")?;
        }
        if let Some(failover) = self.failover {
            write!(
                f,
                "\nfailover: leader killed → first kill delivered after it: {:.2} s",
                failover.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

/// The service's figures over the baseline's.
pub struct Ratio<'a>(pub &'a Report, pub &'a Report);

impl std::fmt::Display for Ratio<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (service, base) = (self.0, self.1);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "service / baseline, every frame: p50 {:.2}, p99 {:.2}, p99.9 {:.2}, max {:.2}",
            ratio(service.latency.p50, base.latency.p50),
            ratio(service.latency.p99, base.latency.p99),
            ratio(service.latency.p999, base.latency.p999),
            ratio(service.latency.max, base.latency.max),
        )?;
        match cpu_ratio(service.cpu_us_per_frame(), base.cpu_us_per_frame()) {
            Some(ratio) => write!(f, "service / baseline, CPU per delivered frame: {ratio:.2}"),
            None => write!(
                f,
                "service / baseline, CPU per delivered frame: none (the baseline's CPU read 0: it \
                 is counted in 10 ms clock ticks; publish more kills)"
            ),
        }
    }
}

/// The service's CPU per frame over the baseline's, unless the baseline's read 0 (CPU time is
/// counted in clock ticks, and a short baseline run can take less than one).
fn cpu_ratio(service_us: f64, base_us: f64) -> Option<f64> {
    (base_us > 0.0).then(|| service_us / base_us)
}

#[cfg(test)]
mod tests {
    use super::cpu_ratio;

    #[test]
    fn a_baseline_whose_cpu_read_zero_gives_no_cpu_ratio() {
        assert_eq!(cpu_ratio(1000.0, 0.0), None);
        assert_eq!(cpu_ratio(12.0, 10.0), Some(1.2));
    }
}
