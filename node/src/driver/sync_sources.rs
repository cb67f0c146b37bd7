//! Which peer block sync asks, and how much it believes of what peers claim. A height a peer reports is a claim,
//! not a fact: a member running modified code can report any height and then answer nothing, one block at a
//! time, or late. So block sync rotates between the peers ahead of it (the one asked least recently goes next),
//! and a peer whose answer did not move this node forward (no answer, an empty or short answer, a block that
//! failed its checks, a request that failed) is not asked, and its claim not counted, for a back-off that
//! doubles with each such answer in a row: 10 s, 20 s, ... up to 10 minutes. After it, the peer comes after every
//! peer whose answers served. One good answer clears it.

use libp2p::PeerId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A request without an answer for this long is abandoned and another peer asked.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A request without an answer for this long is abandoned when another believed peer is ahead too: a peer that
/// claims a height and then keeps a lagging node waiting costs it this, not the full timeout. Its answer, if it
/// comes after all, is still taken.
pub const HEDGE_AFTER: Duration = Duration::from_secs(5);
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
/// Refusals in a row that count as one answer that did not serve: a busy server refuses now and then, a peer that
/// claims a height and refuses every request for it is a liar.
const REFUSALS_PER_STRIKE: u32 = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct Source {
    /// The head height the peer last claimed.
    height: u64,
    /// When this node last asked it for blocks: the peer asked least recently goes next.
    asked_blocks: Option<Instant>,
    /// When it was last asked for its status because its messages showed it ahead.
    asked_status: Option<Instant>,
    /// Answers in a row that did not move this node forward.
    strikes: u32,
    /// Refusals in a row (busy, rate-limited): not held against the peer until [`REFUSALS_PER_STRIKE`] of them.
    refusals: u32,
    /// Not asked, and its claim not believed, before this.
    distrusted_until: Option<Instant>,
}

impl Source {
    fn trusted(&self, now: Instant) -> bool {
        self.distrusted_until.is_none_or(|until| now >= until)
    }
}

/// A request for blocks awaiting its answer.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub peer: PeerId,
    pub at: Instant,
    /// The first height asked for, and the peer's claimed head when asked.
    pub from: u64,
    pub claimed: u64,
}

pub struct SyncState {
    sources: BTreeMap<PeerId, Source>,
    pub(super) in_flight: Option<InFlight>,
    /// The last request abandoned before its answer: taken if it comes, not held against the peer.
    abandoned: Option<InFlight>,
    /// Progress accounting for the log: when syncing started, and from which height.
    pub(super) started: Option<(Instant, u64)>,
    last_log: Instant,
    pub(super) records: u64,
}

impl SyncState {
    pub fn new(now: Instant) -> SyncState {
        SyncState {
            sources: BTreeMap::new(),
            in_flight: None,
            abandoned: None,
            started: None,
            last_log: now,
            records: 0,
        }
    }

    /// The highest head claimed by a peer that is currently believed.
    pub fn best_height(&self, now: Instant) -> u64 {
        self.sources
            .values()
            .filter(|s| s.trusted(now))
            .map(|s| s.height)
            .max()
            .unwrap_or(0)
    }

    /// Behind by more than the one block consensus itself is deciding.
    pub fn is_syncing(&self, height: u64, now: Instant) -> bool {
        self.best_height(now) > height + 1 || self.in_flight.is_some()
    }

    /// Records the height a peer reported for its own head.
    pub fn saw_height(&mut self, peer: PeerId, height: u64) {
        self.sources.entry(peer).or_default().height = height;
    }

    /// The next peer to ask for blocks: a believed peer (among `connected`) whose claim `ahead` accepts. Peers
    /// whose last answer served go before those just back from a back-off, then the one asked least recently, then
    /// the lowest claim (an honest peer claims its real head; a liar's claim is usually far above).
    pub fn next_source(
        &self,
        now: Instant,
        connected: impl Fn(&PeerId) -> bool,
        ahead: impl Fn(u64) -> bool,
    ) -> Option<(PeerId, u64)> {
        self.sources
            .iter()
            .filter(|(p, s)| connected(p) && s.trusted(now) && ahead(s.height))
            .min_by_key(|(_, s)| (s.strikes, s.asked_blocks, s.height))
            .map(|(p, s)| (*p, s.height))
    }

    pub fn asked_for_blocks(&mut self, request: InFlight) {
        self.sources.entry(request.peer).or_default().asked_blocks = Some(request.at);
        self.in_flight = Some(request);
    }

    /// The request in flight if `peer` is the one asked (it is answered, or failed, now), or the one abandoned
    /// last if that was `peer`'s.
    pub fn take_in_flight(&mut self, peer: PeerId) -> Option<InFlight> {
        match (self.in_flight, self.abandoned) {
            (Some(request), _) if request.peer == peer => self.in_flight.take(),
            (_, Some(request)) if request.peer == peer => self.abandoned.take(),
            _ => None,
        }
    }

    /// The request in flight, if it has waited past [`REQUEST_TIMEOUT`], or past [`HEDGE_AFTER`] while `other` (a
    /// believed peer ahead, not the one asked) exists: abandoned, and held against the peer.
    pub fn take_expired(&mut self, now: Instant, other: bool) -> Option<InFlight> {
        let request = self.in_flight?;
        let waited = now.duration_since(request.at);
        if waited < HEDGE_AFTER || (waited < REQUEST_TIMEOUT && !other) {
            return None;
        }
        self.in_flight = None;
        self.abandoned = Some(request);
        self.struck(request.peer, now);
        Some(request)
    }

    /// The peer a request is in flight to.
    pub fn asked_peer(&self) -> Option<PeerId> {
        self.in_flight.map(|r| r.peer)
    }

    /// An answer from `peer` moved this node forward.
    pub fn served(&mut self, peer: PeerId) {
        if let Some(source) = self.sources.get_mut(&peer) {
            source.strikes = 0;
            source.refusals = 0;
            source.distrusted_until = None;
        }
    }

    /// `peer` refused a block request; the [`REFUSALS_PER_STRIKE`]th refusal in a row is a strike.
    pub fn refused(&mut self, peer: PeerId, now: Instant) {
        let source = self.sources.entry(peer).or_default();
        source.refusals += 1;
        if source.refusals >= REFUSALS_PER_STRIKE {
            source.refusals = 0;
            self.struck(peer, now);
        }
    }

    /// An answer from `peer` (or its silence) did not move this node forward: not asked again, nor believed, for
    /// a back-off that doubles with each such answer in a row. Returns the back-off.
    pub fn struck(&mut self, peer: PeerId, now: Instant) -> Duration {
        let source = self.sources.entry(peer).or_default();
        let backoff = FIRST_BACKOFF
            .saturating_mul(1u32 << source.strikes.min(16))
            .min(MAX_BACKOFF);
        source.strikes = source.strikes.saturating_add(1);
        source.distrusted_until = Some(now + backoff);
        backoff
    }

    pub fn request_failed(&mut self, peer: PeerId, now: Instant) {
        if self.take_in_flight(peer).is_some() {
            self.struck(peer, now);
        }
    }

    /// Whether to ask `peer` for its status now: at most once a second.
    pub fn may_ask_status(&mut self, peer: PeerId, now: Instant) -> bool {
        let source = self.sources.entry(peer).or_default();
        match source.asked_status {
            Some(at) if now.duration_since(at) < Duration::from_secs(1) => false,
            _ => {
                source.asked_status = Some(now);
                true
            }
        }
    }

    /// A peer that disconnected: its claim goes, but not its strikes (a reconnect must not clear them).
    pub fn peer_gone(&mut self, peer: PeerId) {
        if let Some(source) = self.sources.get_mut(&peer) {
            source.height = 0;
            source.asked_status = None;
        }
        self.in_flight.take_if(|r| r.peer == peer);
        self.abandoned.take_if(|r| r.peer == peer);
    }

    pub fn log_progress(&mut self, height: u64, now: Instant) {
        let Some((since, from)) = self.started else {
            return;
        };
        let target = self.best_height(now);
        let secs = now.duration_since(since).as_secs_f64().max(1e-3);
        let blocks_rate = (height - from) as f64 / secs;
        let records_rate = self.records as f64 / secs;
        if height >= target && self.in_flight.is_none() {
            tracing::info!(
                height,
                blocks = height - from,
                records = self.records,
                "block sync caught up: {blocks_rate:.0} blocks/s, {records_rate:.0} records/s"
            );
            self.started = None;
            return;
        }
        if now.duration_since(self.last_log) >= PROGRESS_EVERY {
            self.last_log = now;
            tracing::info!(
                "block sync: height {height} of {target}, {blocks_rate:.0} blocks/s, {records_rate:.0} records/s"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerId {
        PeerId::random()
    }

    #[test]
    fn rotates_between_peers_ahead_and_skips_a_distrusted_one() {
        let now = Instant::now();
        let mut sync = SyncState::new(now);
        let (a, b, c) = (peer(), peer(), peer());
        sync.saw_height(a, 100);
        sync.saw_height(b, 100);
        sync.saw_height(c, u64::MAX);
        let mut asked = Vec::new();
        for i in 0..3 {
            let (p, claimed) = sync.next_source(now, |_| true, |h| h > 10).unwrap();
            asked.push(p);
            sync.asked_for_blocks(InFlight {
                peer: p,
                at: now + Duration::from_secs(i),
                from: 11,
                claimed,
            });
            sync.take_in_flight(p);
        }
        asked.sort();
        let mut all = vec![a, b, c];
        all.sort();
        assert_eq!(asked, all, "each peer asked once before any twice");
        assert_eq!(sync.struck(c, now), FIRST_BACKOFF);
        assert_eq!(
            sync.best_height(now),
            100,
            "a distrusted claim is not counted"
        );
        for _ in 0..6 {
            let (p, _) = sync.next_source(now, |_| true, |h| h > 10).unwrap();
            assert_ne!(p, c);
            sync.asked_for_blocks(InFlight {
                peer: p,
                at: now,
                from: 11,
                claimed: 100,
            });
        }
        let later = now + FIRST_BACKOFF;
        assert_eq!(
            sync.best_height(later),
            u64::MAX,
            "believed again after its back-off"
        );
    }

    #[test]
    fn a_slow_request_is_abandoned_early_when_another_peer_is_ahead() {
        let now = Instant::now();
        let mut sync = SyncState::new(now);
        let (liar, honest) = (peer(), peer());
        sync.saw_height(liar, u64::MAX);
        sync.asked_for_blocks(InFlight {
            peer: liar,
            at: now,
            from: 1,
            claimed: u64::MAX,
        });
        sync.saw_height(honest, 50);
        assert!(sync.take_expired(now + HEDGE_AFTER, true).is_some());
        let next = sync.next_source(now + HEDGE_AFTER, |_| true, |h| h > 0);
        assert_eq!(next.map(|(p, _)| p), Some(honest));
    }

    #[test]
    fn a_peer_that_refuses_every_request_is_distrusted_on_the_third() {
        let now = Instant::now();
        let mut sync = SyncState::new(now);
        let a = peer();
        sync.saw_height(a, 50);
        sync.refused(a, now);
        sync.refused(a, now);
        assert_eq!(sync.best_height(now), 50, "two refusals are a busy server");
        sync.refused(a, now);
        assert_eq!(sync.best_height(now), 0, "the third in a row is a strike");
    }

    #[test]
    fn back_off_doubles_up_to_its_limit_and_one_good_answer_clears_it() {
        let now = Instant::now();
        let mut sync = SyncState::new(now);
        let a = peer();
        let backoffs: Vec<_> = (0..10).map(|_| sync.struck(a, now).as_secs()).collect();
        assert_eq!(backoffs, [10, 20, 40, 80, 160, 320, 600, 600, 600, 600]);
        sync.served(a);
        assert_eq!(sync.struck(a, now), FIRST_BACKOFF);
    }

    #[test]
    fn an_unanswered_request_expires_and_counts_against_its_peer() {
        let now = Instant::now();
        let mut sync = SyncState::new(now);
        let a = peer();
        sync.saw_height(a, 50);
        sync.asked_for_blocks(InFlight {
            peer: a,
            at: now,
            from: 1,
            claimed: 50,
        });
        assert!(
            sync.take_expired(now + Duration::from_secs(1), true)
                .is_none()
        );
        assert!(sync.take_expired(now + HEDGE_AFTER, false).is_none());
        assert!(sync.take_expired(now + REQUEST_TIMEOUT, false).is_some());
        // Its answer after all is still taken.
        assert!(sync.take_in_flight(a).is_some());
        assert!(
            sync.next_source(now + REQUEST_TIMEOUT, |_| true, |h| h > 0)
                .is_none()
        );
    }
}
