//! Assembling a node from its home directory: config, genesis, keys, storage, network, API and driver.

use crate::api::{self, ApiState};
use crate::driver::ports::NodeKeys;
use crate::driver::shell::{self, BlockingThreads, KeyFiles, SystemClock};
use crate::driver::{Driver, DriverParts};
use crate::key_cache::SharedKeys;
use crate::ledger::Ledger;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::network::{self, NetworkConfig};
use crate::status::{ConsensusStatus, Status};
use crate::storage::Store;
use crate::validator_state::ValidatorStateFile;
use anyhow::{Context, Result};
use clearance_core::genesis::Genesis;
use clearance_genesis::config::NodeConfig;
use clearance_genesis::keys::{KeyFile, KeyKind};
use libp2p::{Multiaddr, PeerId};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// A home directory, loaded and checked.
pub struct Home {
    pub dir: PathBuf,
    pub config: NodeConfig,
    pub genesis: Genesis,
    pub validator_key: KeyFile,
    pub node_key: KeyFile,
    /// The next network key, while a rotation of the peer id is pending.
    pub next_node_key: Option<KeyFile>,
}

impl Home {
    pub fn load(dir: &Path) -> Result<Home> {
        let config = NodeConfig::load(&dir.join("config.toml"))?;
        let genesis_path = NodeConfig::resolve(dir, &config.genesis_file);
        let genesis = clearance_genesis::testnet::load_genesis(&genesis_path)
            .with_context(|| format!("genesis file {}", genesis_path.display()))?;
        let validator_key = KeyFile::load(
            &NodeConfig::resolve(dir, &config.validator_key_file),
            KeyKind::Validator,
        )?;
        let node_key = KeyFile::load(
            &NodeConfig::resolve(dir, &config.node_key_file),
            KeyKind::Network,
        )?;
        let next_path = NodeConfig::resolve(dir, &config.next_node_key_file);
        let next_node_key = if next_path.exists() {
            Some(KeyFile::load(&next_path, KeyKind::Network)?)
        } else {
            None
        };
        Ok(Home {
            dir: dir.to_path_buf(),
            config,
            genesis,
            validator_key,
            node_key,
            next_node_key,
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        NodeConfig::resolve(&self.dir, &self.config.data_dir)
    }

    pub fn peer_id(&self) -> Result<PeerId> {
        Ok(self.keypair()?.public().to_peer_id())
    }

    fn keypair(&self) -> Result<libp2p::identity::Keypair> {
        let mut seed = self.node_key.secret.seed();
        libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).context("node key")
    }
}

/// Runs the node until SIGINT or SIGTERM.
pub async fn start(home: Home) -> Result<()> {
    let chain_id = home.genesis.chain_id();
    let data_dir = home.data_dir();
    let store = Arc::new(Store::open(&data_dir, &home.genesis)?);
    let ledger = Ledger::new(store.clone(), chain_id, home.genesis.params.clone())
        .context("reading the ledger's head and the members in force")?;
    let epoch = ledger.epoch().clone();
    let keypair = network_identity(&home, &store, ledger.head().height)?;
    let local_peer = keypair.public().to_peer_id();
    let validators = ledger.validators().clone();
    let member = check_identity(&home, &epoch, &local_peer)?;
    // One submitter-key cache for everything that checks transaction signatures: API, gossip, mempool.
    let keys = SharedKeys::default();
    let mempool = Mempool::new(
        chain_id,
        home.config.mempool.max_txs as usize,
        home.config.mempool.max_bytes,
        home.genesis.params.max_tx_bytes as usize,
    )
    .with_keys(keys.clone());
    let metrics = Arc::new(Metrics::default());

    let members: Vec<_> = network::member_peers(&epoch.members)
        .into_iter()
        .filter(|(peer, _)| *peer != local_peer)
        .collect();
    let listen: Multiaddr = home
        .config
        .p2p
        .listen
        .parse()
        .with_context(|| format!("p2p.listen {}", home.config.p2p.listen))?;
    let (net, net_events) = network::spawn(
        NetworkConfig {
            keypair,
            listen,
            members,
            chain_id,
            validators: validators.clone(),
            max_connections: home.config.p2p.max_connections,
            max_redial_backoff: Duration::from_millis(home.config.p2p.max_redial_backoff_ms.into()),
            keys: keys.clone(),
            own_ids: std::iter::once(&home.node_key)
                .chain(home.next_node_key.as_ref())
                .filter_map(|k| k.peer_key().to_peer_id().parse().ok())
                .collect(),
        },
        metrics.clone(),
    )?;

    let head = store.head()?;
    let base_status = Status {
        chain_id: chain_id.to_hex(),
        chain_name: home.genesis.chain_name.to_string(),
        moniker: home.config.moniker.clone(),
        member: member.as_ref().map(|m| m.to_string()),
        node_id: local_peer.to_base58(),
        height: head.height,
        head_hash: head.hash.to_hex(),
        head_time: head.time.to_string(),
        log_size: head.log_size,
        log_root: head.log_root.to_hex(),
        state_root: head.state_root.to_hex(),
        committed_txs: head.tx_count,
        consensus: ConsensusStatus {
            height: head.height + 1,
            round: 0,
            step: "propose".into(),
            waiting_for_txs: false,
        },
        peers: Vec::new(),
        syncing: false,
        best_peer_height: 0,
        mempool_txs: 0,
        mempool_bytes: 0,
        validators: validators.len(),
        members: epoch.members.iter().map(|m| m.id.to_string()).collect(),
    };
    let (status_tx, status_rx) = watch::channel(base_status.clone());
    let (api_tx, api_rx) = mpsc::channel(4096);
    let (events, _) = tokio::sync::broadcast::channel(crate::api::EVENT_BUFFER);

    let listener = tokio::net::TcpListener::bind(home.config.api.listen)
        .await
        .with_context(|| format!("binding the API to {}", home.config.api.listen))?;
    tracing::info!(address = %home.config.api.listen, "HTTP API listening");
    let router = api::router(
        ApiState {
            store: store.clone(),
            status: status_rx,
            driver: api_tx,
            metrics: metrics.clone(),
            events: events.clone(),
            chain_id,
            keys,
        },
        home.config.api.max_body_bytes as usize,
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("HTTP API stopped: {e}");
        }
    });

    let keys = Box::new(key_files(&home));
    let state_path = NodeConfig::resolve(&home.dir, &home.config.validator_state_file);
    let signing = Box::new(ValidatorStateFile::open(&state_path, chain_id)?);
    let driver = Driver::new(DriverParts {
        ledger,
        mempool,
        genesis: home.genesis,
        keys,
        signing,
        net: Arc::new(net),
        metrics,
        status: Box::new(status_tx),
        clock: Arc::new(SystemClock),
        background: Box::new(BlockingThreads),
        base_status,
        events,
        min_block_interval: Duration::from_millis(u64::from(
            home.config.consensus.min_block_interval_ms,
        )),
    })?;
    tracing::info!(
        chain = %chain_id,
        member = ?member,
        peer = %local_peer,
        data = %data_dir.display(),
        "node started"
    );
    shell::run(driver, net_events, api_rx, shutdown_signal()).await
}

/// The node's libp2p identity: its network key, or the next one once the rotation to it is due
/// ([`crate::membership::network_key_due`], the rule the running node follows too).
fn network_identity(home: &Home, store: &Store, head: u64) -> Result<libp2p::identity::Keypair> {
    let mut file = &home.node_key;
    let delay = home.genesis.params.membership_delay_blocks.into();
    if let Some(next) = &home.next_node_key
        && crate::membership::network_key_due(store, head, delay, &next.peer_key())
    {
        tracing::info!(
            "the rotation of this node's network key is due: starting as {} ({})",
            next.peer_key().to_peer_id(),
            home.config.next_node_key_file.display()
        );
        file = next;
    }
    let mut seed = file.secret.seed();
    libp2p::identity::Keypair::ed25519_from_bytes(&mut seed).context("node key")
}

fn key_files(home: &Home) -> KeyFiles {
    KeyFiles {
        current: NodeConfig::resolve(&home.dir, &home.config.validator_key_file),
        next: NodeConfig::resolve(&home.dir, &home.config.next_validator_key_file),
        network: NodeConfig::resolve(&home.dir, &home.config.node_key_file),
        next_network: NodeConfig::resolve(&home.dir, &home.config.next_node_key_file),
    }
}

/// Which member this node is, by its network key, among the members in force at the height being decided, and
/// whether its validator key matches. A node that is not (yet, or any more) a member runs as a follower: it
/// syncs the ledger and serves queries, and does not vote.
fn check_identity(
    home: &Home,
    epoch: &clearance_core::rules::Epoch,
    local_peer: &PeerId,
) -> Result<Option<clearance_core::ids::CountryCode>> {
    let Some(me) = epoch
        .members
        .iter()
        .find(|m| m.peer_id.to_peer_id() == local_peer.to_base58())
    else {
        tracing::warn!(
            "this node's network key ({local_peer}) is not the peer id of a member in force: it runs as a \
             follower (syncs, serves queries, does not vote); it becomes a validator when an admission naming \
             this peer id and its validator key takes effect"
        );
        return Ok(None);
    };
    let keys = key_files(home).validator_keys();
    if !keys.iter().any(|k| k.public_key() == me.validator_key) {
        tracing::warn!(
            "neither {} nor {} holds member {}'s validator key in force: this node does not vote until a \
             rotation to one of its keys takes effect",
            home.config.validator_key_file.display(),
            home.config.next_validator_key_file.display(),
            me.id
        );
    }
    Ok(Some(me.id.clone()))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
