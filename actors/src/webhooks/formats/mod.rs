//! The body of one delivery, in the subscription's format: the service's JSON, a Discord
//! message or a Slack message. A chat format may take fewer kills than offered (its limits);
//! the rest wait for the next delivery.

use std::sync::Arc;

use crate::model::{Filter, StoredKill, SystemId, WebhookFormat};

pub mod discord;
pub mod slack;
pub mod summary;

use summary::Summary;

/// The body for the first kills of `kills`, and how many it took (at least one).
pub fn body(
    format: WebhookFormat,
    system: SystemId,
    kills: &[Arc<StoredKill>],
    filter: &Filter,
) -> (Vec<u8>, usize) {
    if format == WebhookFormat::Json {
        return (
            super::delivery::payload(system.get(), kills, filter),
            kills.len(),
        );
    }
    let summaries: Vec<Summary> = kills
        .iter()
        .filter_map(|k| Summary::of(k, filter))
        .collect();
    if summaries.len() < kills.len() {
        // A stored kill whose JSON does not read is a bug; it is sent as JSON rather than lost.
        return (
            super::delivery::payload(system.get(), kills, filter),
            kills.len(),
        );
    }
    let (message, used) = match format {
        WebhookFormat::Discord => discord::message(&summaries),
        _ => slack::message(&summaries, kills.len()),
    };
    (message.to_string().into_bytes(), used.max(1))
}
