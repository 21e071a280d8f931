//! ESI's error budget as the simulator enforces it.

use std::time::{Duration, Instant};

/// ESI's error limit: 100 errors per 60 s window, announced in headers, then 420.
pub struct EsiErrorWindow {
    started: Instant,
    pub errors: u32,
}

const ESI_ERROR_LIMIT: u32 = 100;
const ESI_ERROR_WINDOW: Duration = Duration::from_secs(60);

impl EsiErrorWindow {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            errors: 0,
        }
    }

    pub fn roll(&mut self) {
        if self.started.elapsed() >= ESI_ERROR_WINDOW {
            self.started = Instant::now();
            self.errors = 0;
        }
    }

    pub fn remain(&self) -> u32 {
        ESI_ERROR_LIMIT.saturating_sub(self.errors)
    }

    pub fn reset_in(&self) -> u64 {
        ESI_ERROR_WINDOW
            .saturating_sub(self.started.elapsed())
            .as_secs()
            .max(1)
    }
}
