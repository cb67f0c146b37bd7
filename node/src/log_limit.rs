//! Caps repetitive warnings: a peer that sends garbage, or a member that keeps refusing connections, must not
//! flood the log. Each kind of warning about one subject is logged at most once per period; the next one that is
//! logged says how many were suppressed in between.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How often one warning about one subject is logged.
pub const PERIOD: Duration = Duration::from_secs(10);
/// Subjects remembered; past this the memory starts over (a flood of distinct subjects is itself logged).
const MAX_SUBJECTS: usize = 4096;

pub struct LogLimiter<K> {
    last: HashMap<K, (Instant, u64)>,
}

impl<K> Default for LogLimiter<K> {
    fn default() -> Self {
        LogLimiter {
            last: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> LogLimiter<K> {
    /// `Some(suppressed)` when a warning about `key` should be logged now, with how many were suppressed since the
    /// last one; `None` when it should be suppressed.
    pub fn allow(&mut self, key: K, now: Instant) -> Option<u64> {
        if self.last.len() >= MAX_SUBJECTS && !self.last.contains_key(&key) {
            self.last.clear();
        }
        match self.last.get_mut(&key) {
            Some((at, suppressed)) if now.duration_since(*at) < PERIOD => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let n = *suppressed;
                *at = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                self.last.insert(key, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_subject_and_period_with_the_count_of_those_suppressed() {
        let mut limit = LogLimiter::default();
        let t0 = Instant::now();
        assert_eq!(limit.allow(("invalid", 1), t0), Some(0));
        assert_eq!(limit.allow(("invalid", 1), t0 + PERIOD / 2), None);
        assert_eq!(limit.allow(("invalid", 1), t0 + PERIOD / 2), None);
        // Another subject is not held back by the first.
        assert_eq!(limit.allow(("invalid", 2), t0 + PERIOD / 2), Some(0));
        assert_eq!(limit.allow(("invalid", 1), t0 + PERIOD), Some(2));
        assert_eq!(limit.allow(("invalid", 1), t0 + PERIOD * 2), Some(0));
    }
}
