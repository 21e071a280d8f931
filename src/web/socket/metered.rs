//! What a connection has really drained, and a watchdog that ends one that does not read.
//!
//! A session's frames queue in its outlet until the connection's writer takes them for the
//! socket, which it does only once the socket took the last batch, that is as fast as the client
//! reads. The connection's outlet ([`super::outlet`]) counts what the writer took (the session
//! counts what it wrote; the difference waits in the outlet) and notes when it was last asked
//! for more. When a client reads nothing, the writer stops asking, and the session stands
//! still. So the watchdog runs as a task of its own: when frames have waited and the stream has
//! not been asked for `stall`, it cuts the connection (the task that owns the socket drops it),
//! which frees what was queued at once, instead of at `TCP_USER_TIMEOUT`. When the writer's last
//! look found nothing to send, the client is not behind, and the watchdog sleeps until the
//! session writes again: an idle connection wakes nobody.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shared between the session, its outgoing stream and its watchdog.
#[derive(Clone, Debug)]
pub struct Drain {
    /// The clock `polled_at` counts from.
    epoch: Instant,
    drained: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
    /// When the writer last asked for more (milliseconds on the watchdog's clock).
    polled_at: Arc<AtomicU64>,
    /// Set when the session has ended: the watchdog stops.
    ended: Arc<AtomicBool>,
    /// Wakes the watchdog when a frame is written (or the session ends).
    wrote_signal: Arc<tokio::sync::Notify>,
    /// The writer's last look found nothing to send: it waits for the session, not for the
    /// client.
    caught_up: Arc<AtomicBool>,
    /// Tells the connection's task to drop its socket ([`Drain::cut`]).
    cut_signal: Arc<tokio::sync::Notify>,
}

impl Default for Drain {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            drained: Arc::default(),
            written: Arc::default(),
            polled_at: Arc::default(),
            ended: Arc::default(),
            wrote_signal: Arc::default(),
            caught_up: Arc::default(),
            cut_signal: Arc::default(),
        }
    }
}

impl Drain {
    /// The writer asked for more and took `bytes` (0: it found nothing and waits for the
    /// session, not for the client).
    pub fn took(&self, bytes: usize) {
        self.polled_at.store(self.now(), Ordering::Relaxed);
        self.drained.fetch_add(bytes as u64, Ordering::Relaxed);
        self.caught_up.store(bytes == 0, Ordering::Relaxed);
    }

    /// Milliseconds since the drain was made.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Counts a frame the session wrote.
    pub fn wrote(&self, bytes: usize) {
        self.written.fetch_add(bytes as u64, Ordering::Relaxed);
        self.wrote_signal.notify_one();
    }

    /// Bytes the writer has taken for the socket so far.
    pub fn drained(&self) -> u64 {
        self.drained.load(Ordering::Relaxed)
    }

    /// Bytes written and not yet taken: what waits for the client.
    pub fn queued(&self) -> u64 {
        self.written
            .load(Ordering::Relaxed)
            .saturating_sub(self.drained())
    }

    pub fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        self.wrote_signal.notify_one();
    }

    /// Ends the connection now, whatever it has queued: the task that owns the socket drops it
    /// (see [`Drain::cut_requested`]).
    pub fn cut(&self) {
        self.cut_signal.notify_one();
    }

    /// Resolves once the connection is to be cut. One task waits on it: the one that owns the
    /// socket, so no other handle to the socket is kept (a WebSocket costs one descriptor).
    pub async fn cut_requested(&self) {
        self.cut_signal.notified().await;
    }

    /// Watches the connection until the session ends; cuts it when the writer has not asked
    /// for more for `stall`. Answers whether it cut.
    pub async fn watch(self, stall: Duration) -> bool {
        let stall_ms = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
        // A few looks per stall period, at most one a second: thousands of sessions each run one.
        let every = (stall / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            if self.ended.load(Ordering::Relaxed) {
                return false;
            }
            if self.caught_up.load(Ordering::Relaxed) {
                // Everything was taken: nothing can stall before the session writes again.
                // Then look on a timer until the writer has caught up once more.
                self.wrote_signal.notified().await;
            }
            actix_web::rt::time::sleep(every).await;
            if self.ended.load(Ordering::Relaxed) {
                return false;
            }
            let now = self.now();
            let polled = self.polled_at.load(Ordering::Relaxed);
            let behind = !self.caught_up.load(Ordering::Relaxed);
            if behind && now.saturating_sub(polled) >= stall_ms {
                self.cut();
                return true;
            }
        }
    }
}
