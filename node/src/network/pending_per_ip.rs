//! Incoming connections still in their handshake, counted per remote IP address. Any host that reaches the p2p
//! port can open TCP connections and send nothing (a slow-loris): each holds one of the node's pending-incoming
//! places until the handshake timeout ([`super::CONNECTION_TIMEOUT`]). Without a per-address limit, one host
//! holding them all keeps every member from reconnecting; with it, the host holds at most
//! [`MAX_PENDING_PER_IP`] places and the others stay free for members, which connect from their own addresses.

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr, multiaddr::Protocol};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

/// Handshakes one remote address may have in progress at once. A member opens one or two connections to a
/// peer; several members behind one NAT address still fit.
pub const MAX_PENDING_PER_IP: usize = 8;

#[derive(Debug, thiserror::Error)]
#[error("{0} already has {MAX_PENDING_PER_IP} connections in their handshake")]
pub struct TooManyPending(IpAddr);

#[derive(Default)]
pub struct Behaviour {
    pending: HashMap<ConnectionId, IpAddr>,
    per_ip: HashMap<IpAddr, usize>,
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl Behaviour {
    fn done(&mut self, connection: ConnectionId) {
        let Some(ip) = self.pending.remove(&connection) else {
            return;
        };
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        let n = self.per_ip.entry(ip).or_default();
        if *n >= MAX_PENDING_PER_IP {
            return Err(ConnectionDenied::new(TooManyPending(ip)));
        }
        *n += 1;
        self.pending.insert(connection, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(connection);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        // A handshake that ends in a connection another behaviour refused, or in none, ends here.
        match event {
            FromSwarm::ListenFailure(failure) => self.done(failure.connection_id),
            FromSwarm::ConnectionEstablished(established) => self.done(established.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_at_most_its_share_and_gets_it_back() {
        let mut b = Behaviour::default();
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap();
        let loris: Multiaddr = "/ip4/10.0.0.9/tcp/5000".parse().unwrap();
        let member: Multiaddr = "/ip4/10.0.0.2/tcp/6000".parse().unwrap();
        let ids: Vec<_> = (0..=MAX_PENDING_PER_IP)
            .map(|_| ConnectionId::new_unchecked(rand_id()))
            .collect();
        for id in &ids[..MAX_PENDING_PER_IP] {
            assert!(
                b.handle_pending_inbound_connection(*id, &local, &loris)
                    .is_ok()
            );
        }
        let last = ids[MAX_PENDING_PER_IP];
        assert!(
            b.handle_pending_inbound_connection(last, &local, &loris)
                .is_err()
        );
        let other = ConnectionId::new_unchecked(rand_id());
        assert!(
            b.handle_pending_inbound_connection(other, &local, &member)
                .is_ok()
        );
        b.done(ids[0]);
        assert!(
            b.handle_pending_inbound_connection(last, &local, &loris)
                .is_ok()
        );
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
