//! Whether the consensus channel from each connected member still delivers.
//!
//! Every member sends its round state to every peer at least once a second, so a member that this node has not
//! heard from for [`SILENCE`] has a broken path that TCP did not notice: the driver closes the connections to it,
//! and the network dials it again with a fresh connection. A path a partition cut is closed sooner, by
//! `TCP_USER_TIMEOUT` (4 s of unacknowledged data, and states are always in flight); this is the last resort
//! behind it. It must not fire on a peer that is merely slow: resetting connections to an overloaded member adds
//! handshakes to its load, and with 31 members on two cores a 3 s rule turned overload into a churn in which no
//! height was decided.

use libp2p::PeerId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a connected member may stay silent before its connections are reset.
pub const SILENCE: Duration = Duration::from_secs(10);
/// Connections to one member are reset at most this often.
const RESET_EVERY: Duration = Duration::from_secs(20);

#[derive(Default)]
pub struct GossipHealth {
    /// Connected members, and when the consensus channel last brought something from each.
    heard: BTreeMap<PeerId, Instant>,
    last_reset: BTreeMap<PeerId, Instant>,
}

impl GossipHealth {
    pub fn connected(&mut self, peer: PeerId, now: Instant) {
        self.heard.insert(peer, now);
    }

    pub fn disconnected(&mut self, peer: &PeerId) {
        self.heard.remove(peer);
    }

    pub fn heard_from(&mut self, peer: PeerId, now: Instant) {
        if let Some(at) = self.heard.get_mut(&peer) {
            *at = now;
        }
    }

    /// Whether the connections to `peer` may be reset now; if so, the reset is booked.
    pub fn may_reset(&mut self, peer: PeerId, now: Instant) -> bool {
        if self
            .last_reset
            .get(&peer)
            .is_some_and(|at| now.duration_since(*at) < RESET_EVERY)
        {
            return false;
        }
        self.last_reset.insert(peer, now);
        if let Some(at) = self.heard.get_mut(&peer) {
            *at = now;
        }
        true
    }

    /// Whether `peer` is connected and the consensus channel brought something from it within `within`.
    pub fn heard_within(&self, peer: &PeerId, now: Instant, within: Duration) -> bool {
        self.heard
            .get(peer)
            .is_some_and(|at| now.duration_since(*at) < within)
    }

    /// Connected members not heard from for [`SILENCE`].
    pub fn silent(&self, now: Instant) -> Vec<PeerId> {
        self.heard
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= SILENCE)
            .map(|(peer, _)| *peer)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::ports::Clock;
    use crate::driver::shell::SystemClock;

    #[test]
    fn a_member_silent_while_a_height_runs_is_reported_once_per_reset_period() {
        let mut health = GossipHealth::default();
        let (talker, quiet) = (PeerId::random(), PeerId::random());
        let t0 = SystemClock.now();
        health.connected(talker, t0);
        health.connected(quiet, t0);
        health.heard_from(talker, t0 + SILENCE);
        assert_eq!(health.silent(t0 + SILENCE), vec![quiet]);
        assert!(health.may_reset(quiet, t0 + SILENCE));
        // Booked: not silent again at once, and not reset twice within the period.
        assert!(health.silent(t0 + SILENCE).is_empty());
        assert!(!health.may_reset(quiet, t0 + SILENCE * 2));
        assert!(health.may_reset(quiet, t0 + SILENCE + RESET_EVERY));
    }

    #[test]
    fn gone_peers_are_forgotten() {
        let mut health = GossipHealth::default();
        let peer = PeerId::random();
        let t0 = SystemClock.now();
        health.connected(peer, t0);
        assert_eq!(health.silent(t0 + SILENCE), vec![peer]);
        health.disconnected(&peer);
        assert!(health.silent(t0 + SILENCE * 2).is_empty());
        // Anything from a peer that is not connected is not tracked.
        health.heard_from(peer, t0);
        assert!(health.silent(t0 + SILENCE * 4).is_empty());
    }
}
