//! Cluster mode's figures: the instance's role, its NATS connection, how far it trails the
//! shared kill log, and how often it took the feed's lease. None outside cluster mode.

use actors::cluster::status::ClusterStatus;

use super::format::{one, Family, Kind};

pub fn families(status: Option<&ClusterStatus>) -> Vec<Family> {
    let Some(status) = status else {
        return Vec::new();
    };
    let view = status.view();
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    vec![
        one(
            "cluster_leader",
            "1 while this instance holds the feed's lease (follows zKillboard), else 0.",
            Kind::Gauge,
            flag(status.is_leader()),
        ),
        one(
            "cluster_nats_connected",
            "1 while this instance is connected to NATS, else 0.",
            Kind::Gauge,
            flag(status.connected()),
        ),
        one(
            "cluster_ready",
            "1 once this instance has caught up with the shared kill log, while connected.",
            Kind::Gauge,
            flag(view.ready),
        ),
        one(
            "cluster_log_lag",
            "Entries of the shared kill log seen but not yet taken into this instance's store.",
            Kind::Gauge,
            view.lag as f64,
        ),
        one(
            "cluster_log_head",
            "The last sequence of the shared kill log this instance has seen.",
            Kind::Gauge,
            view.log_head as f64,
        ),
        one(
            "cluster_leads_total",
            "Times this instance took the feed's lease.",
            Kind::Counter,
            view.leads as f64,
        ),
    ]
}
