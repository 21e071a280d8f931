//! Following a RedisQ endpoint: poll again at once after each answer.

use std::sync::Arc;

use super::backoff::Backoff;
use super::{Sink, MALFORMED_PAUSE, REDISQ_BACKOFF};
use crate::upstream::http::FetchError;
use crate::upstream::redisq::RedisqClient;

pub(super) async fn follow_redisq(client: RedisqClient, sink: Sink) {
    let stats = Arc::clone(&sink.stats);
    let mut backoff = Backoff::new(REDISQ_BACKOFF);
    loop {
        match client.listen().await {
            Ok(Some(kill)) => {
                sink.reached();
                backoff.reset();
                stats.feed_objects.incr();
                let _ = sink.submit(kill).await;
            }
            Ok(None) => {
                sink.reached();
                backoff.reset();
            }
            Err(FetchError::Malformed(why)) => {
                // The endpoint answered; its answer is unusable. Skip it and ask for the next.
                stats.feed_malformed.incr();
                log::warn!("redisq answer unreadable, skipped error={why}");
                actix::clock::sleep(MALFORMED_PAUSE).await;
            }
            Err(e) => sink.fail_and_wait("redisq", &e, &mut backoff).await,
        }
    }
}
