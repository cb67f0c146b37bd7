//! The tokio shell around the driver: it waits for network events, API requests, the driver's next timer and the
//! tick, hands each to the driver, and implements the driver's ports with tokio, the libp2p task's channel and
//! the system clock. The only file of the driver that knows about tokio; the driver itself never awaits.

use super::ports::{Background, Clock, NetClosed, NetSink, StatusBoard};
use super::{ApiRequest, Driver, TICK};
use crate::network::{NetCommand, NetEvents};
use crate::status::Status;
use anyhow::Result;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

impl NetSink for mpsc::UnboundedSender<NetCommand> {
    fn send(&self, cmd: NetCommand) -> Result<(), NetClosed> {
        mpsc::UnboundedSender::send(self, cmd).map_err(|_| NetClosed)
    }
}

impl StatusBoard for watch::Sender<Status> {
    fn publish(&self, status: Status) {
        self.send_replace(status);
    }
}

/// The operating system's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Tokio's blocking threads.
pub struct BlockingThreads;

impl Background for BlockingThreads {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>) {
        tokio::task::spawn_blocking(job);
    }
}

/// Runs the driver until `shutdown` resolves or a fatal error (a failed disk write, a committed block this node
/// cannot execute) stops the node. Every committed block is synced before it is reported, so stopping at any
/// point loses nothing.
pub async fn run(
    mut driver: Driver,
    mut net_events: NetEvents,
    mut api: mpsc::Receiver<ApiRequest>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    driver.start()?;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        let wake = driver.next_wake();
        let sleep = tokio::time::sleep_until(
            wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
                .into(),
        );
        // In order of priority: consensus never waits behind transactions or API requests.
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                driver.stop();
                return Ok(());
            }
            Some(event) = net_events.control.recv() => driver.on_net(event)?,
            Some(event) = net_events.consensus.recv() => driver.on_net(event)?,
            _ = sleep, if wake.is_some() => driver.on_wake()?,
            _ = tick.tick() => driver.on_tick()?,
            Some(req) = api.recv() => driver.on_api(req)?,
            Some(event) = net_events.gossip.recv() => driver.on_net(event)?,
        }
        driver.settle()?;
    }
}

/// The key files of a home: the validator key in force and the next one while a rotation is pending, and the
/// next network key while a rotation of the peer id is pending.
pub struct KeyFiles {
    pub current: std::path::PathBuf,
    pub next: std::path::PathBuf,
    pub network: std::path::PathBuf,
    pub next_network: std::path::PathBuf,
}

/// The network key in `path`, if the file exists; one that does not read is logged and left out.
fn network_key_file(path: &std::path::Path) -> Option<clearance_core::crypto::SecretKey> {
    use clearance_genesis::keys::{KeyFile, KeyKind};
    if !path.exists() {
        return None;
    }
    match KeyFile::load(path, KeyKind::Network) {
        Ok(file) => Some(file.secret),
        Err(e) => {
            tracing::error!("network key file {}: {e}", path.display());
            None
        }
    }
}

impl super::ports::NodeKeys for KeyFiles {
    fn network_key(&self) -> Option<clearance_core::crypto::SecretKey> {
        network_key_file(&self.network)
    }

    fn next_network_key(&self) -> Option<clearance_core::crypto::SecretKey> {
        network_key_file(&self.next_network)
    }

    fn validator_keys(&self) -> Vec<clearance_core::crypto::SecretKey> {
        use clearance_genesis::keys::{KeyFile, KeyKind};
        let mut keys = Vec::new();
        for path in [&self.current, &self.next] {
            if !path.exists() {
                continue;
            }
            match KeyFile::load(path, KeyKind::Validator) {
                Ok(file) => keys.push(file.secret),
                // The node keeps signing with the keys it could read; the operator sees why the other is missing.
                Err(e) => tracing::error!("validator key file {}: {e}", path.display()),
            }
        }
        keys
    }
}
