//! The load generator's report of stuck keys while it runs.

use super::Shared;
use clearance_client::Client;
use clearance_core::Hash32;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every 5 s, names the keys whose first uncommitted transaction has waited more than 3 s, and for one of them
/// what each node says of that transaction: a key held back on every node by one transaction that some node lacks
/// is the usual cause of a stall under load.
pub(super) async fn report_stuck_keys(shared: Arc<Mutex<Shared>>, clients: Vec<Client>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let heads: BTreeMap<usize, (u64, Hash32, usize, Duration)> = {
            let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
            let s = &mut *guard;
            s.origin.retain(|id, _| s.submitted.contains_key(id));
            let mut heads: BTreeMap<usize, (u64, Hash32, usize, Duration)> = BTreeMap::new();
            for (id, (at, k)) in &s.submitted {
                let Some(&(node, sequence)) = s.origin.get(id) else {
                    continue;
                };
                let entry = (sequence, *id, node, now.duration_since(*at));
                if heads.get(k).is_none_or(|head| sequence < head.0) {
                    heads.insert(*k, entry);
                }
            }
            heads.retain(|_, head| head.3 > Duration::from_secs(3));
            heads
        };
        let Some((k, (sequence, id, node, age))) = heads.iter().next() else {
            continue;
        };
        let mut views = Vec::new();
        for (i, client) in clients.iter().enumerate() {
            let status = match client.tx(id).await {
                Ok(t) => t.status,
                Err(e) => format!("error ({e})"),
            };
            views.push(format!("node {i}: {status}"));
        }
        eprintln!(
            "loadgen: {} keys wait > 3 s on their first uncommitted transaction; key {k}: sequence {sequence}, \
             {id}, sent to node {node} {:.1} s ago; {}",
            heads.len(),
            age.as_secs_f64(),
            views.join(", ")
        );
    }
}
