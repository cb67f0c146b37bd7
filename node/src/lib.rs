//! # clearance-node
//!
//! The member node: the Tendermint consensus state machine and the driver that feeds it, libp2p
//! networking, the mempool, block execution through `clearance-core`'s rules, RocksDB storage, block sync,
//! the HTTP API, the event stream, metrics and configuration, and the `clearance-node` binary.
//!
//! It never defines record rules (they live in `clearance-core`), and it never signs a vote before the
//! safety state that justifies it is synced to disk.
//!
//! Data flows one way: [`api`] → [`mempool`] → [`consensus`] (driven by [`driver`]) → [`execute`] and
//! [`ledger`] → [`storage`]; [`network`] carries gossip and block sync; [`run`] assembles a node from its home.

pub mod api;
pub mod consensus;
pub mod driver;
pub mod execute;
pub mod index;
pub mod key_cache;
pub mod ledger;
pub mod log_limit;
pub mod membership;
pub mod mempool;
pub mod metrics;
pub mod network;
pub mod proofs;
pub mod proposer_history;
pub mod query;
pub mod requests;
pub mod run;
pub mod status;
pub mod storage;
pub mod validator_state;

#[cfg(test)]
mod tests {
    use clearance_core::SecretKey;
    use clearance_core::peer::PeerKey;

    /// `core` derives peer ids without libp2p; they must be exactly libp2p's.
    #[test]
    fn core_peer_ids_match_libp2p() {
        for seed in [1u8, 7, 200] {
            let secret = SecretKey::from_seed([seed; 32]);
            let mut bytes = secret.seed();
            let keypair =
                libp2p::identity::Keypair::ed25519_from_bytes(&mut bytes).expect("32-byte seed");
            let libp2p_id = keypair.public().to_peer_id().to_base58();
            let ours = PeerKey::from_key(secret.public_key());
            assert_eq!(ours.to_peer_id(), libp2p_id);
            assert_eq!(PeerKey::parse(&libp2p_id).expect("parses"), ours);
        }
    }
}
