//! Transactions on gossipsub: the batches this node publishes, and the checks on batches it receives (decoded
//! within their limits, every signature verified in batches) before the transactions reach the driver.

use super::{NetEvent, Network, wire};
use crate::metrics::Metrics;
use clearance_core::Hash32;
use clearance_core::bytes::Bytes;
use libp2p::{PeerId, gossipsub};
use std::collections::{HashSet, VecDeque};

/// Gossiped transactions remembered as verified (by the hash of their signed bytes): 2 MiB of memory, several
/// minutes of traffic at the ledger's rates, well past gossipsub's one-minute memory of message ids.
const REMEMBERED_TXS: usize = 65_536;

/// The signed bytes of transactions whose signatures passed here, the oldest forgotten first.
#[derive(Default)]
pub(super) struct VerifiedTxs {
    set: HashSet<Hash32>,
    order: VecDeque<Hash32>,
}

impl VerifiedTxs {
    fn contains(&self, key: &Hash32) -> bool {
        self.set.contains(key)
    }

    fn insert(&mut self, key: Hash32) {
        if self.set.insert(key) {
            self.order.push_back(key);
            if self.order.len() > REMEMBERED_TXS
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

impl Network {
    pub(super) fn publish_txs(&mut self) {
        if self.outgoing_txs.is_empty() {
            return;
        }
        let batch = wire::encode_txs(&self.outgoing_txs);
        self.outgoing_txs.clear();
        self.outgoing_bytes = 0;
        let topic = self.tx_topic.clone();
        let topic_hash = topic.hash();
        let gossip = &mut self.swarm.behaviour_mut().gossip;
        let subscribed = gossip
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic_hash))
            .count();
        Metrics::set(&self.metrics.tx_gossip_peers, subscribed as u64);
        if let Err(e) = gossip.publish(topic, batch) {
            Metrics::inc(&self.metrics.tx_publish_failures_total);
            // Alone, or before the mesh forms, is normal. With members connected it is worth a line at most every
            // 10 s: none known to be subscribed, every queue full, or a republication refused as a duplicate.
            if !self.connected.is_empty()
                && let Some(suppressed) = self
                    .log_limit_refused
                    .allow("tx publish".to_string(), std::time::Instant::now())
            {
                tracing::warn!(
                    connected = self.connected.len(),
                    subscribed,
                    suppressed,
                    "transaction gossip not published: {e}"
                );
            }
        }
    }

    /// Checks a gossiped message before it is relayed: a batch of transactions that decodes within its limit
    /// (their signatures are checked together by `check_txs`). Only the direct sender of an invalid message is
    /// penalised: correct members never relay one.
    pub(super) fn on_gossip(
        &mut self,
        source: PeerId,
        id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
        if message.topic != self.tx_topic.hash() {
            let reason = format!("unknown topic {}", message.topic);
            self.report(source, &id, Err(reason));
            return;
        }
        match wire::decode_txs(&message.data) {
            Ok(txs) => self.unchecked_txs.push((source, id, txs)),
            Err(e) => self.report(source, &id, Err(format!("gossiped transactions: {e}"))),
        }
    }

    /// Checks the gossiped transaction batches received since the last call, all their signatures as batches,
    /// and hands the valid transactions to the driver. A batch with any invalid transaction is not relayed, and
    /// its sender is penalised: a correct member gossips only transactions it verified.
    pub(super) fn check_txs(&mut self) {
        if self.unchecked_txs.is_empty() {
            return;
        }
        let mut reports = Vec::new();
        let mut signed = Vec::new();
        let mut owners = Vec::new();
        let mut raw = Vec::new();
        for (m, (source, id, txs)) in std::mem::take(&mut self.unchecked_txs)
            .into_iter()
            .enumerate()
        {
            let mut fault = None;
            for Bytes(data) in txs {
                // Verified before (a replay, or a batch that overlaps an earlier one): the driver has it already.
                let key = Hash32::sha256(&data);
                if self.verified_txs.contains(&key) {
                    continue;
                }
                match clearance_core::tx::SignedTx::from_bytes(&data) {
                    Ok(tx) => {
                        signed.push(tx);
                        owners.push(m);
                        raw.push((key, data));
                    }
                    Err(e) => {
                        fault.get_or_insert(format!("gossiped transaction: {e}"));
                    }
                }
            }
            reports.push((source, id, fault, false));
        }
        let results = clearance_core::tx::verify_many(&self.chain_id, &signed, &mut self.keys);
        for ((m, (key, bytes)), result) in owners.into_iter().zip(raw).zip(results) {
            match result {
                Ok(tx) => {
                    reports[m].3 = true;
                    let event = NetEvent::Tx {
                        from: reports[m].0,
                        bytes,
                        tx: Box::new(tx),
                    };
                    // Remembered only once the driver has it: one dropped here (the driver busy) must be taken
                    // again when it comes again.
                    if self.events.try_send(event).is_ok() {
                        self.verified_txs.insert(key);
                    } else {
                        Metrics::inc(&self.metrics.dropped_gossip_events_total);
                    }
                }
                Err(e) => {
                    reports[m]
                        .2
                        .get_or_insert(format!("gossiped transaction: {e}"));
                }
            }
        }
        for (source, id, fault, new) in reports {
            match fault {
                Some(reason) => self.report(source, &id, Err(reason)),
                // Nothing in it this node had not verified before: not relayed (every member has it), not
                // penalised (members publish their pending transactions again to a member that reconnects).
                None if !new => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .gossip
                        .report_message_validation_result(
                            &id,
                            &source,
                            gossipsub::MessageAcceptance::Ignore,
                        );
                }
                None => self.report(source, &id, Ok(())),
            }
        }
    }

    /// Tells gossipsub whether to relay a checked message, and penalises the direct sender of an invalid one.
    /// Valid batches are relayed: members publish their own batches to every peer directly, but gossipsub drops
    /// messages when a peer's send queue is full, and without relays each lost batch left a sequence gap that held
    /// back its key's later transactions on that member (tried: at 1,000 records/s on 127.0.0.1 blocks fell from
    /// 20 to a few a second).
    pub(super) fn report(
        &mut self,
        source: PeerId,
        id: &gossipsub::MessageId,
        verdict: Result<(), String>,
    ) {
        let acceptance = match verdict {
            Ok(()) => gossipsub::MessageAcceptance::Accept,
            Err(reason) => {
                self.penalise(source, &reason);
                gossipsub::MessageAcceptance::Reject
            }
        };
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(id, &source, acceptance);
    }
}
