//! What the load test publishes kills to: the simulator the service follows, or the baseline
//! server directly.

use std::io::Write;
use std::net::TcpStream;

use crate::simulator::SimHandle;

pub enum Target<'a> {
    /// The service follows this simulator's feed.
    Service(&'a SimHandle),
    /// The baseline forwarder's control connection, and the next kill id to hand it.
    Baseline { control: TcpStream, next_id: u64 },
}

impl Target<'_> {
    /// Publishes a kill in `system`; answers its id.
    pub fn publish(&mut self, system: u64) -> anyhow::Result<u64> {
        match self {
            Target::Service(sim) => Ok(sim.publish_with(|k| k.set_system(system)).kill.killmail_id),
            Target::Baseline { control, next_id } => {
                *next_id += 1;
                writeln!(control, "{system} {next_id}")?;
                Ok(*next_id)
            }
        }
    }
}
