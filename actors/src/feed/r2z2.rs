//! Following R2Z2: one object at a time from the saved cursor (or the head), as the feed's module
//! header describes.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::watermark::Watermark;
use super::{Sink, MALFORMED_PAUSE, MALFORMED_TRIES, R2Z2_BACKOFF};
use crate::config::FeedSettings;
use crate::model::{KillTime, R2z2Entry};
use crate::upstream::http::FetchError;
use crate::upstream::r2z2::R2z2Client;

fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) async fn follow_r2z2(
    client: R2z2Client,
    settings: FeedSettings,
    resume: Option<u64>,
    mark: Rc<RefCell<Watermark>>,
    sink: Sink,
) {
    let stats = Arc::clone(&sink.stats);
    let mut backoff = Backoff::new(R2Z2_BACKOFF);
    // After the saved cursor; with none, the configured start, else the object after the
    // published head (the head itself was published before we started).
    let mut cursor = match resume.or(settings.r2z2_start_sequence) {
        Some(start) => {
            // Resuming: the head is only a figure here, read once so it is not 0 until the
            // feed next catches up.
            if let Ok(head) = client.head().await {
                stats.feed_head.set(gauge(head));
            }
            start
        }
        None => loop {
            match client.head().await {
                Ok(head) => {
                    sink.reached();
                    stats.feed_head.set(gauge(head));
                    break head + 1;
                }
                Err(e) => {
                    log::warn!("r2z2 head unavailable error={e}");
                    sink.failed(&e);
                    actix::clock::sleep(backoff.next()).await;
                }
            }
        },
    };
    log::info!(
        "r2z2 following from sequence={cursor} resumed={}",
        resume.is_some()
    );
    mark.borrow_mut().moved_to(cursor);
    let mut stuck_since: Option<Instant> = None;
    let mut garbled = 0;
    let mut head_read = Instant::now();
    let head_refresh = Duration::from_millis(settings.r2z2_head_refresh_ms);
    loop {
        stats.feed_cursor.set(gauge(cursor));
        if head_read.elapsed() >= head_refresh {
            head_read = Instant::now();
            if let Ok(head) = client.head().await {
                stats.feed_head.set(stats.feed_head.get().max(gauge(head)));
            }
        }
        match client.object(cursor).await {
            Ok(object) => {
                sink.reached();
                backoff.reset();
                stuck_since = None;
                garbled = 0;
                stats.feed_objects.incr();
                // An object at the cursor means the head is at least there.
                stats
                    .feed_head
                    .set(stats.feed_head.get().max(gauge(cursor)));
                if let Some(uploaded) = object.uploaded_at {
                    stats
                        .feed_lag_seconds
                        .set(KillTime::now().unix() - gauge(uploaded));
                }
                match object.classify() {
                    R2z2Entry::Placeholder => stats.feed_placeholders.incr(),
                    R2z2Entry::Kill(kill) => {
                        if let Some(accepted) = sink.submit(*kill).await {
                            let sequence = cursor;
                            mark.borrow_mut().handed(sequence);
                            let mark = Rc::clone(&mark);
                            actix::spawn(async move {
                                let _ = accepted.outcome.await;
                                mark.borrow_mut().settled(sequence);
                            });
                        }
                    }
                }
                cursor += 1;
                mark.borrow_mut().moved_to(cursor);
                actix::clock::sleep(Duration::from_millis(settings.r2z2_object_pause_ms)).await;
            }
            Err(FetchError::NotYet) => {
                sink.reached();
                backoff.reset();
                let since = *stuck_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_millis(settings.r2z2_stuck_skip_ms) {
                    if let Ok(head) = client.head().await {
                        stats.feed_head.set(gauge(head));
                        if head > cursor {
                            log::warn!("r2z2 sequence skipped sequence={cursor} head={head}");
                            stats.feed_skipped_sequences.incr();
                            cursor += 1;
                            mark.borrow_mut().moved_to(cursor);
                            stuck_since = None;
                            continue;
                        }
                    }
                    stuck_since = Some(Instant::now());
                }
                actix::clock::sleep(Duration::from_millis(settings.r2z2_not_found_wait_ms)).await;
            }
            Err(FetchError::Malformed(why)) => {
                stats.feed_malformed.incr();
                garbled += 1;
                if garbled >= MALFORMED_TRIES {
                    log::warn!("r2z2 object unreadable, skipped sequence={cursor} error={why}");
                    stats.feed_skipped_sequences.incr();
                    cursor += 1;
                    mark.borrow_mut().moved_to(cursor);
                    garbled = 0;
                } else {
                    log::debug!("r2z2 object unreadable sequence={cursor} error={why}");
                    actix::clock::sleep(MALFORMED_PAUSE).await;
                }
            }
            Err(e) => sink.fail_and_wait("r2z2", &e, &mut backoff).await,
        }
    }
}
