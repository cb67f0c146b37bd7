//! Transaction gossip that stops reaching one peer while the connection to it stays up.
//!
//! Under load, after a member's connections close (a member killed, or reset for silence), gossipsub on another
//! member sometimes stops delivering to a third, healthy member for a minute or more, while the consensus channel
//! on the same connections keeps working (docs/performance.md §10.3, §12). Gossipsub then reports the messages it
//! could not send (`SlowPeer`), seconds after the stall began. A fresh connection ends the stall, so a peer with
//! many failures in a short time has its connections closed, and the redial loop connects it again at once. The
//! threshold is far above what a slow but working peer produces, and resets are rate-limited per peer, so an
//! overloaded member is not made to spend its time on handshakes.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Messages not sent to one peer within [`WINDOW`] that mark its gossip path as stuck.
pub const STUCK_FAILURES: u64 = 100;
pub const WINDOW: Duration = Duration::from_secs(5);
/// Connections to one peer are reset at most this often.
pub const RESET_EVERY: Duration = Duration::from_secs(20);

#[derive(Debug, Default)]
pub struct SlowPeers {
    /// Per peer: when the current window began, and the failures counted in it.
    failures: HashMap<PeerId, (Instant, u64)>,
    last_reset: HashMap<PeerId, Instant>,
}

impl SlowPeers {
    /// Counts `failed` messages not sent to `peer`; true when its connections should be reset now.
    pub fn failed(&mut self, peer: PeerId, failed: u64, now: Instant) -> bool {
        let entry = self.failures.entry(peer).or_insert((now, 0));
        if now.duration_since(entry.0) > WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(failed);
        if entry.1 < STUCK_FAILURES {
            return false;
        }
        if self
            .last_reset
            .get(&peer)
            .is_some_and(|at| now.duration_since(*at) < RESET_EVERY)
        {
            return false;
        }
        self.last_reset.insert(peer, now);
        self.failures.remove(&peer);
        true
    }

    /// Forgets a peer that disconnected (its failures belonged to the connections that are gone).
    pub fn disconnected(&mut self, peer: &PeerId) {
        self.failures.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_failures_in_a_short_time_reset_once_per_interval() {
        let peer = PeerId::random();
        let t0 = Instant::now();
        let mut slow = SlowPeers::default();
        assert!(!slow.failed(peer, 60, t0));
        assert!(slow.failed(peer, 60, t0 + Duration::from_secs(1)));
        // More failures right after the reset: not again within RESET_EVERY.
        assert!(!slow.failed(peer, 500, t0 + Duration::from_secs(2)));
        assert!(slow.failed(peer, 500, t0 + Duration::from_secs(22)));
    }

    #[test]
    fn a_trickle_of_failures_never_resets() {
        let peer = PeerId::random();
        let t0 = Instant::now();
        let mut slow = SlowPeers::default();
        for s in 0..120 {
            assert!(!slow.failed(peer, 15, t0 + Duration::from_secs(s * 6)));
        }
    }
}
