//! What an instance knows of its place in the cluster, for `/health`, `/health/ready` and the
//! metrics: plain atomics written by the cluster's tasks and read by anyone.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ClusterStatus {
    /// This instance's name in the lease (host name and process id, unless configured).
    pub instance: String,
    connected: AtomicBool,
    leader: AtomicBool,
    /// The last sequence of the shared log this instance has seen there.
    log_head: AtomicU64,
    /// The last entry of the shared log taken into this instance's store.
    taken: AtomicU64,
    /// The log was read up to where it stood when this instance started.
    caught_up: AtomicBool,
    /// The shared webhook subscriptions were read.
    webhooks_loaded: AtomicBool,
    /// Times this instance took the lease.
    leads: AtomicU64,
}

/// A reading of [`ClusterStatus`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClusterView {
    pub instance: String,
    pub nats: &'static str,
    pub role: &'static str,
    pub log_head: u64,
    pub taken: u64,
    pub lag: u64,
    pub caught_up: bool,
    pub ready: bool,
    pub leads: u64,
}

impl ClusterStatus {
    pub fn new(instance: String) -> Self {
        Self {
            instance,
            ..Self::default()
        }
    }

    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
    }

    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn set_leader(&self, leader: bool) {
        if leader && !self.leader.swap(true, Ordering::Relaxed) {
            self.leads.fetch_add(1, Ordering::Relaxed);
        }
        if !leader {
            self.leader.store(false, Ordering::Relaxed);
        }
    }

    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    pub fn saw_head(&self, head: u64) {
        self.log_head.fetch_max(head, Ordering::Relaxed);
    }

    pub fn took(&self, sequence: u64) {
        self.taken.fetch_max(sequence, Ordering::Relaxed);
        self.saw_head(sequence);
    }

    pub fn set_caught_up(&self) {
        self.caught_up.store(true, Ordering::Relaxed);
    }

    pub fn caught_up(&self) -> bool {
        self.caught_up.load(Ordering::Relaxed)
    }

    pub fn set_webhooks_loaded(&self) {
        self.webhooks_loaded.store(true, Ordering::Relaxed);
    }

    /// Should take clients: connected, the log read up to where it stood at start, and the
    /// webhooks known.
    pub fn ready(&self) -> bool {
        self.connected() && self.caught_up() && self.webhooks_loaded.load(Ordering::Relaxed)
    }

    pub fn view(&self) -> ClusterView {
        let (head, taken) = (
            self.log_head.load(Ordering::Relaxed),
            self.taken.load(Ordering::Relaxed),
        );
        ClusterView {
            instance: self.instance.clone(),
            nats: if self.connected() {
                "connected"
            } else {
                "disconnected"
            },
            role: if self.is_leader() {
                "leader"
            } else {
                "follower"
            },
            log_head: head,
            taken,
            lag: head.saturating_sub(taken),
            caught_up: self.caught_up(),
            ready: self.ready(),
            leads: self.leads.load(Ordering::Relaxed),
        }
    }
}
