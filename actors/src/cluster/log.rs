//! The shared kill log on JetStream: each kill is published on `<prefix>.<system_id>` with its
//! killmail id as the message id, so the stream stores a kill once however many times (and by
//! however many leaders) it is published; the entry kind rides in a header.

use async_nats::jetstream;
use async_nats::HeaderMap;
use futures_util::future::BoxFuture;

use crate::store::shared::{Appended, Entry, SharedLog};

/// The header naming an entry's kind (`live`, `history`, `update`).
pub const ENTRY_HEADER: &str = "Wk-Entry";

/// A message of the stream: its sequence number, and what it holds (a message without the
/// header is read as history).
pub fn read_entry(
    message: &async_nats::jetstream::Message,
) -> Result<(u64, Entry), async_nats::Error> {
    let sequence = message.info()?.stream_sequence;
    let entry = message
        .headers
        .as_ref()
        .and_then(|h| h.get(ENTRY_HEADER))
        .map_or(Entry::History, |v| Entry::parse(v.as_str()));
    Ok((sequence, entry))
}

pub struct NatsLog {
    pub(super) jetstream: jetstream::Context,
    pub(super) prefix: String,
}

impl SharedLog for NatsLog {
    fn append(&self, kill: Appended) -> BoxFuture<'static, Result<u64, String>> {
        let jetstream = self.jetstream.clone();
        let subject = format!("{}.{}", self.prefix, kill.system.get());
        let mut headers = HeaderMap::new();
        headers.insert(ENTRY_HEADER, kill.entry.as_str());
        // A kill is one entry whoever publishes it (and however often); an update is new.
        if let Some(unique) = &kill.unique {
            headers.insert("Nats-Msg-Id", unique.as_str());
        }
        Box::pin(async move {
            let ack = jetstream
                .publish_with_headers(subject, headers, kill.json)
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())?;
            Ok(ack.sequence)
        })
    }
}
