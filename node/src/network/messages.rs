//! What the network and the driver say to each other: the network's configuration, the events it hands the
//! driver (everything in them already checked), and the commands the driver gives it.

use super::consensus_channel::ProposalPart;
use super::wire::{self, SyncRequest, SyncResponse};
use clearance_core::tx::VerifiedTx;
use libp2p::{Multiaddr, PeerId, identity};
use std::sync::Arc;
use std::time::Duration;

pub struct NetworkConfig {
    pub keypair: identity::Keypair,
    pub listen: Multiaddr,
    /// The other members' peer ids and addresses, as in force when the node starts.
    pub members: Vec<(PeerId, Vec<Multiaddr>)>,
    pub chain_id: clearance_core::Hash32,
    /// Consensus messages are checked against this set before they are relayed.
    pub validators: clearance_core::validator::ValidatorSet,
    pub max_connections: u32,
    pub max_redial_backoff: Duration,
    /// The node's submitter-key cache, shared with the API and the mempool.
    pub keys: crate::key_cache::SharedKeys,
    /// The peer ids of every network key the node holds (its key files): never peers to dial or let in.
    pub own_ids: Vec<PeerId>,
}

/// What the network hands to the driver.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossiped transaction, verified (chain, signature, shape) over exactly `bytes`.
    Tx {
        from: PeerId,
        bytes: Vec<u8>,
        tx: Box<VerifiedTx>,
    },
    /// A proposal or vote, checked (chain, member, signature, block body) over the bytes received.
    Consensus {
        from: PeerId,
        msg: Box<crate::consensus::CheckedMessage>,
    },
    /// A member's round state (within its limits, otherwise unchecked).
    PeerState {
        from: PeerId,
        state: crate::consensus::peer_gossip::RoundState,
    },
    /// A committed block a peer sent because this node's state showed it still deciding that height. Unchecked:
    /// the driver verifies it as a synced block.
    Commit {
        from: PeerId,
        block: wire::SyncedBlock,
    },
    /// A piece of a proposal sent by transaction ids.
    ProposalPart {
        from: PeerId,
        part: ProposalPart,
    },
    Request {
        from: PeerId,
        id: u64,
        req: SyncRequest,
    },
    /// The answer to this node's own request of kind `asked`.
    Response {
        from: PeerId,
        asked: Asked,
        resp: SyncResponse,
    },
    RequestFailed {
        peer: PeerId,
        asked: Asked,
    },
    Connected(PeerId),
    Disconnected(PeerId),
    /// The network now runs under this peer id (after `NetCommand::UseNetworkKey`).
    Identity(PeerId),
}

/// What the driver asks of the network.
#[derive(Debug)]
pub enum NetCommand {
    PublishTx(Vec<u8>),
    /// Encoded consensus items for one peer, sent on the consensus channel.
    SendConsensus {
        peer: PeerId,
        items: Vec<Arc<Vec<u8>>>,
    },
    Request {
        peer: PeerId,
        req: SyncRequest,
    },
    Respond {
        id: u64,
        resp: SyncResponse,
    },
    Penalise {
        peer: PeerId,
        reason: String,
    },
    /// Close the connections to a member and dial it again at once: gossip over them has stopped.
    Reconnect(PeerId),
    /// The driver moved to deciding `height`, under `validators`.
    Deciding {
        height: u64,
        validators: clearance_core::validator::ValidatorSet,
    },
    /// The members in force changed: these peers may connect (the node's own id among them is ignored), every
    /// other peer's connections are closed.
    SetMembers(Vec<(PeerId, Vec<Multiaddr>)>),
    /// The rotation of this node's network key is adopted: close every connection, and listen and dial again
    /// under this key's peer id.
    UseNetworkKey(clearance_core::crypto::SecretKey),
}

/// The peer ids and parsed addresses of `members`. An address that does not parse is left out with a warning:
/// the member stays reachable by its other addresses, or when it dials.
pub fn member_peers(
    members: &[clearance_core::record::MemberInfo],
) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let Ok(peer) = m.peer_id.to_peer_id().parse::<PeerId>() else {
            tracing::warn!(member = %m.id, "peer id {} does not parse", m.peer_id.to_peer_id());
            continue;
        };
        let mut addrs = Vec::new();
        for a in &m.addresses {
            match a.as_str().parse::<Multiaddr>() {
                Ok(addr) => addrs.push(addr),
                Err(e) => tracing::warn!(member = %m.id, "address {a} is not a multiaddr: {e}"),
            }
        }
        out.push((peer, addrs));
    }
    out
}

/// The kind of sync request an answer or a failure belongs to: the network pairs each with its request, so that
/// a peer cannot answer a status question with blocks, nor a refused status question cancel a block request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Status,
    Blocks,
    Txs,
}

impl Asked {
    pub fn of(req: &SyncRequest) -> Asked {
        match req {
            SyncRequest::Status => Asked::Status,
            SyncRequest::Blocks { .. } => Asked::Blocks,
            SyncRequest::Txs { .. } => Asked::Txs,
        }
    }
}
