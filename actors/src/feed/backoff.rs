//! Exponential backoff between a first delay and a cap.

use std::time::Duration;

/// Exponential backoff between a first delay and a cap.
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new((first, cap): (Duration, Duration)) -> Self {
        Self {
            first,
            cap,
            next: first,
        }
    }

    pub fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.cap);
        now
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut b = Backoff::new((Duration::from_secs(1), Duration::from_secs(30)));
        let delays: Vec<u64> = (0..7).map(|_| b.next().as_secs()).collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30]);
        b.reset();
        assert_eq!(b.next(), Duration::from_secs(1));
    }
}
