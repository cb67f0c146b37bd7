//! What arrives on the request-response channels: consensus items, checked one by one and handed to the driver
//! (an invalid one penalises its sender), and block-sync requests and answers.

use super::{NetEvent, Network, wire};
use crate::metrics::Metrics;
use libp2p::request_response;
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
                    for item in request.0 {
                        match self.consensus.check(&item) {
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
                    let id = self.next_response_id;
                    self.next_response_id += 1;
                    self.pending_responses.insert(id, channel);
                    self.emit(NetEvent::Request {
                        from: peer,
                        id,
                        req: request,
                    });
                }
                request_response::Message::Response { response, .. } => {
                    self.emit(NetEvent::Response {
                        from: peer,
                        resp: response,
                    });
                }
            },
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, "sync request failed: {error}");
                self.emit(NetEvent::RequestFailed { peer });
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
}
