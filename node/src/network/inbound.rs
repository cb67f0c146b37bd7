//! What arrives on the request-response channels: consensus items, checked one by one and handed to the driver
//! (an invalid one penalises its sender), and block-sync requests and answers.

use super::{NetEvent, Network, wire};
use crate::metrics::Metrics;
use libp2p::{PeerId, request_response};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use wire::{SyncRequest, SyncResponse};

impl Network {
    /// The consensus channel: a peer's request is acknowledged at once, then its items are checked one by one
    /// and handed to the driver; an invalid item penalises the peer that sent it (items travel only between
    /// direct peers, so the sender is the author or vouched for it).
    pub(super) fn on_consensus(
        &mut self,
        event: request_response::Event<wire::ConsensusRequest, ()>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .consensus
                        .send_response(channel, ());
                    let now = Instant::now();
                    for item in request.0 {
                        match self.consensus.check(peer, &item, now) {
                            Ok(Some(received)) => self.emit(received.into_event(peer)),
                            Ok(None) => {}
                            Err(reason) => self.penalise(peer, &reason),
                        }
                    }
                }
                request_response::Message::Response { .. } => {
                    let rr = &mut self.swarm.behaviour_mut().consensus;
                    self.consensus.finished(rr, peer);
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "consensus request failed: {error}");
                Metrics::inc(&self.metrics.consensus_failed_requests_total);
                let rr = &mut self.swarm.behaviour_mut().consensus;
                self.consensus.finished(rr, peer);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "consensus request from peer failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(super) fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    self.pending_responses.retain(|_, (_, ch)| ch.is_open());
                    let open = self
                        .pending_responses
                        .values()
                        .filter(|(p, _)| *p == peer)
                        .count();
                    // Refused here, without the driver, and not penalised: a correct member asks for a status
                    // each second and has one block request open, but when this node's driver is slow its status
                    // questions wait, and a penalty would then disconnect correct members under load.
                    if open >= MAX_OPEN_SYNC_REQUESTS {
                        self.refuse_sync(channel, "too many open sync requests");
                        return;
                    }
                    if !self.sync_requests.allow(peer, Instant::now()) {
                        self.refuse_sync(channel, "too many sync requests; slow down");
                        return;
                    }
                    let id = self.next_response_id;
                    self.next_response_id += 1;
                    let event = NetEvent::Request {
                        from: peer,
                        id,
                        req: request,
                    };
                    // A request the busy driver cannot take is answered now: left open, it would count against
                    // the peer's open requests until the peer gave up on it.
                    match self.events.try_send(event) {
                        Ok(()) => {
                            self.pending_responses.insert(id, (peer, channel));
                        }
                        Err(_) => {
                            Metrics::inc(&self.metrics.dropped_gossip_events_total);
                            self.refuse_sync(channel, "busy; retry");
                        }
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(asked) = self.outbound.remove(&request_id) {
                        self.emit(NetEvent::Response {
                            from: peer,
                            asked,
                            resp: response,
                        });
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, "sync request failed: {error}");
                if let Some(asked) = self.outbound.remove(&request_id) {
                    self.emit(NetEvent::RequestFailed { peer, asked });
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "sync request from peer failed: {error}");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
        // Responses the driver never answered (a dropped event) must not pile up.
        if self.pending_responses.len() > 1024 {
            self.pending_responses.clear();
        }
    }

    /// Answers a peer's sync request here, without the driver.
    fn refuse_sync(&mut self, channel: request_response::ResponseChannel<SyncResponse>, why: &str) {
        let _ = self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, SyncResponse::Error(why.into()));
    }
}

/// Sync requests one peer may make per second; beyond it they are refused.
const SYNC_REQUESTS_PER_SECOND: u32 = 200;
/// Sync requests of one peer the driver may be answering at once.
const MAX_OPEN_SYNC_REQUESTS: usize = 4;

/// Sync requests counted per peer in one-second windows.
#[derive(Default)]
pub(super) struct SyncRequestLimit(HashMap<PeerId, (Instant, u32)>);

impl SyncRequestLimit {
    fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.0.len() > 4096 {
            self.0
                .retain(|_, (since, _)| now.duration_since(*since) < Duration::from_secs(1));
        }
        let (since, count) = self.0.entry(peer).or_insert((now, 0));
        if now.duration_since(*since) >= Duration::from_secs(1) {
            *since = now;
            *count = 0;
        }
        *count += 1;
        *count <= SYNC_REQUESTS_PER_SECOND
    }
}
