//! Cluster mode on NATS JetStream (on when `NATS_URL` is set): several instances behind a load
//! balancer, none of them special.
//!
//! - One log: kills are published to the stream `<NAME>_KILLMAILS` on `<prefix>.<system_id>`
//!   (retention = `KILLMAIL_RETENTION_HOURS`, de-duplicated by killmail id); its sequence
//!   numbers are the offsets every instance hands out ([`log`]).
//! - Every instance reads the stream into its store and pushes to its own clients ([`intake`]).
//! - One instance at a time follows the feed, holding a lease ([`lease`]).
//! - Webhook subscriptions live in a KV bucket; kills reach them once per cluster through a
//!   shared durable consumer ([`webhooks`]).
//! - [`status`] says what `/health` and `/health/ready` report.

pub mod intake;
pub mod lease;
pub mod log;
pub mod relay;
pub mod status;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use async_nats::jetstream::{self, kv, stream};

use crate::config::ClusterSettings;
use crate::feed::{Feed, SaveCursor};
use crate::registry::Registry;
use crate::store::shared::SharedLog;
use crate::store::Store;
use crate::webhooks::Webhooks;
use status::ClusterStatus;

/// Kills published twice within this window (a leader change) are stored once.
const DEDUPLICATE_WITHIN: Duration = Duration::from_secs(3600);

/// The longest a RedisQ-relay queue is kept unpolled.
const RELAY_QUEUE_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("CLUSTER_NAME={0:?}: use letters, digits, - and _ only")]
    Name(String),
    #[error("NATS_SUBJECT_PREFIX={0:?}: use dot-separated tokens without spaces or wildcards")]
    Prefix(String),
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("NATS JetStream: {0}")]
    JetStream(String),
}

/// A connected cluster member, before its tasks run.
pub struct Cluster {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    stream: stream::Stream,
    prefix: String,
    leases: kv::Store,
    state: kv::Store,
    book: kv::Store,
    queues: kv::Store,
    lease: Duration,
    pub status: Arc<ClusterStatus>,
}

/// The engine's parts the cluster's tasks drive.
pub struct Parts {
    pub store: Store,
    pub registry: Addr<Registry>,
    pub feed: Addr<Feed>,
    pub webhooks: Addr<Webhooks>,
    /// The registry only the webhook endpoints are in.
    pub webhook_routes: Addr<Registry>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn valid_prefix(prefix: &str) -> bool {
    prefix.split('.').all(|token| {
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_graphic() && c != '*' && c != '>')
    })
}

fn jetstream_error(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::JetStream(e.to_string())
}

impl Cluster {
    /// Connects, and makes sure the stream and buckets exist (creating them the first time).
    pub async fn connect(
        settings: &ClusterSettings,
        retention: Duration,
    ) -> Result<Self, ClusterError> {
        if !valid_name(&settings.name) {
            return Err(ClusterError::Name(settings.name.clone()));
        }
        if !valid_prefix(&settings.subject_prefix) {
            return Err(ClusterError::Prefix(settings.subject_prefix.clone()));
        }
        let client = options(settings)
            .connect(settings.nats_url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: settings.nats_url.clone(),
                reason: e.to_string(),
            })?;
        let jetstream = jetstream::new(client.clone());
        let name = &settings.name;
        let stream = jetstream
            .get_or_create_stream(stream::Config {
                name: format!("{name}_KILLMAILS"),
                subjects: vec![format!("{}.>", settings.subject_prefix)],
                max_age: retention,
                duplicate_window: DEDUPLICATE_WITHIN.min(retention),
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(jetstream_error)?;
        let lease = Duration::from_millis(settings.lease_ms.max(1000));
        let leases = ensure_bucket(&jetstream, &format!("{name}_leader"), lease).await?;
        let state = ensure_bucket(&jetstream, &format!("{name}_state"), Duration::ZERO).await?;
        let book = ensure_bucket(&jetstream, &format!("{name}_webhooks"), Duration::ZERO).await?;
        // A relay queue's record is rewritten by every poll; one unpolled for longer than the
        // longest lifetime a poll may ask (a week) is gone.
        let queues =
            ensure_bucket(&jetstream, &format!("{name}_relay"), RELAY_QUEUE_MAX_AGE).await?;
        let instance = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "instance".into()),
            std::process::id()
        );
        let status = Arc::new(ClusterStatus::new(instance));
        status.set_connected(true);
        ::log::info!(
            "cluster joined name={name} nats={} instance={}",
            settings.nats_url,
            status.instance
        );
        Ok(Self {
            client,
            jetstream,
            stream,
            prefix: settings.subject_prefix.clone(),
            leases,
            state,
            book,
            queues,
            lease,
            status,
        })
    }

    /// The shared kill log the store writes to.
    pub fn log(&self) -> Arc<dyn SharedLog> {
        Arc::new(log::NatsLog {
            jetstream: self.jetstream.clone(),
            prefix: self.prefix.clone(),
        })
    }

    /// Where the feed saves its cursor for the next leader.
    pub fn cursor_saver(&self) -> SaveCursor {
        lease::cursor_saver(self.state.clone())
    }

    /// The shared webhook book.
    pub fn webhook_book(&self) -> std::rc::Rc<webhooks::KvBook> {
        std::rc::Rc::new(webhooks::KvBook(self.book.clone()))
    }

    /// The shared book of RedisQ-relay queues.
    pub fn relay_queues(&self) -> Arc<relay::KvQueues> {
        Arc::new(relay::KvQueues(self.queues.clone()))
    }

    /// Starts the cluster's tasks on the current arbiter; they run as long as the process.
    pub fn start(&self, parts: Parts) {
        let status = &self.status;
        actix::spawn(intake::run(
            self.stream.clone(),
            parts.store.clone(),
            parts.registry,
            Arc::clone(status),
        ));
        actix::spawn(lease::run(
            self.leases.clone(),
            self.state.clone(),
            self.lease,
            parts.feed,
            Arc::clone(status),
        ));
        actix::spawn(webhooks::mirror(
            self.book.clone(),
            parts.webhooks,
            Arc::clone(status),
        ));
        actix::spawn(webhooks::deliver(
            self.stream.clone(),
            parts.store,
            parts.webhook_routes,
        ));
        let (client, status) = (self.client.clone(), Arc::clone(status));
        actix::spawn(async move {
            loop {
                let connected =
                    client.connection_state() == async_nats::connection::State::Connected;
                if connected != status.connected() {
                    ::log::warn!("NATS connection connected={connected}");
                }
                status.set_connected(connected);
                actix::clock::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// The cluster's half of a clean stop: the feed's lease is given up at once.
    pub async fn leave(&self) {
        lease::resign(&self.leases, &self.status).await;
        let _ = self.client.flush().await;
    }
}

/// A KV bucket, made as the client library makes one. Its own `create_key_value` first reads
/// the account's limits, whose answer from NATS 2.9 servers it cannot parse; the bucket's
/// stream is the same either way.
/// Deletes the stream and buckets of cluster `name` (load tests and tests clean up with it).
pub async fn forget(nats_url: &str, name: &str) -> Result<(), ClusterError> {
    let client = async_nats::connect(nats_url)
        .await
        .map_err(|e| ClusterError::Connect {
            url: nats_url.to_owned(),
            reason: e.to_string(),
        })?;
    let jetstream = jetstream::new(client);
    let streams = [
        format!("{name}_KILLMAILS"),
        format!("KV_{name}_leader"),
        format!("KV_{name}_state"),
        format!("KV_{name}_webhooks"),
        format!("KV_{name}_relay"),
    ];
    for stream in streams {
        // A stream never made is as good as deleted.
        let _ = jetstream.delete_stream(stream).await;
    }
    Ok(())
}

async fn ensure_bucket(
    jetstream: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
) -> Result<kv::Store, ClusterError> {
    if let Ok(store) = jetstream.get_key_value(bucket).await {
        return Ok(store);
    }
    jetstream
        .get_or_create_stream(stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age,
            max_bytes: -1,
            max_message_size: -1,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        })
        .await
        .map_err(jetstream_error)?;
    jetstream
        .get_key_value(bucket)
        .await
        .map_err(jetstream_error)
}

fn options(settings: &ClusterSettings) -> async_nats::ConnectOptions {
    let mut options = async_nats::ConnectOptions::new()
        .name("wanderer-kills")
        .max_reconnects(None);
    if !settings.user.is_empty() {
        options = options.user_and_password(settings.user.clone(), settings.password.clone());
    }
    if !settings.token.is_empty() {
        options = options.token(settings.token.clone());
    }
    if !settings.ca_file.is_empty() {
        options = options
            .add_root_certificates(settings.ca_file.clone().into())
            .require_tls(true);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_nats_cannot_hold_are_refused() {
        assert!(valid_name("wanderer-kills_2"));
        for bad in ["", "kills.prod", "kills prod", "kills*", "kills>"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_prefix("killmails"));
        assert!(valid_prefix("eu.killmails"));
        for bad in [
            "",
            "killmails.",
            ".killmails",
            "kill mails",
            "killmails.*",
            "killmails.>",
        ] {
            assert!(!valid_prefix(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_status_reports_lag_and_readiness() {
        let status = ClusterStatus::new("a".into());
        status.set_connected(true);
        status.saw_head(10);
        status.took(7);
        let view = status.view();
        assert_eq!((view.log_head, view.taken, view.lag), (10, 7, 3));
        assert!(!view.ready, "not caught up yet");
        status.set_caught_up();
        status.set_webhooks_loaded();
        status.set_leader(true);
        status.set_leader(true);
        let view = status.view();
        assert!(view.ready);
        assert_eq!((view.role, view.leads), ("leader", 1));
    }
}
