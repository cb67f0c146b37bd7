//! `clearance-node`: run a member's node.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use clearance_genesis::config::NodeConfig;
use clearance_genesis::keys::{KeyFile, KeyKind};
use clearance_node::run::{self, Home};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "clearance-node",
    version,
    about = "Clearance Ledger member node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a home directory: config.toml, a validator key, a network key and an empty data directory.
    Init {
        #[arg(long)]
        home: PathBuf,
        /// A name for logs; usually the member id.
        #[arg(long)]
        moniker: String,
        /// Copy this genesis file into the home directory.
        #[arg(long)]
        genesis: Option<PathBuf>,
        #[arg(long, default_value = "/ip4/0.0.0.0/tcp/26656")]
        p2p_listen: String,
        #[arg(long, default_value = "127.0.0.1:26657")]
        api_listen: std::net::SocketAddr,
    },
    /// Run the node until SIGINT or SIGTERM.
    Start {
        #[arg(long)]
        home: PathBuf,
    },
    /// Print the node's libp2p peer id (its network identity, listed in genesis).
    ShowNodeId {
        #[arg(long)]
        home: PathBuf,
    },
    /// Print the node's validator public key.
    ShowValidator {
        #[arg(long)]
        home: PathBuf,
    },
    /// Write a new validator key beside the current one (`next_validator_key_file`) and print its public key, to
    /// propose as `rotate_validator_key`. The running node picks it up when the rotation takes effect: no restart.
    RotateValidatorKey {
        #[arg(long)]
        home: PathBuf,
    },
    /// Write a new network key beside the current one (`next_node_key_file`) and print its peer id, to propose
    /// as `rotate_network_key`. The running node switches to it once the rotation is adopted: no restart.
    RotateNetworkKey {
        #[arg(long)]
        home: PathBuf,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Init {
            home,
            moniker,
            genesis,
            p2p_listen,
            api_listen,
        } => init(home, &moniker, genesis, p2p_listen, api_listen),
        Command::Start { home } => {
            let home = Home::load(&home)?;
            init_logs(&home.config.log_level, home.config.log_format)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let result = runtime.block_on(run::start(home));
            if let Err(e) = &result {
                tracing::error!("node stopped: {e:#}");
            }
            result
        }
        Command::ShowNodeId { home } => {
            let config = NodeConfig::load(&home.join("config.toml"))?;
            let key = KeyFile::load(
                &NodeConfig::resolve(&home, &config.node_key_file),
                KeyKind::Network,
            )?;
            println!("{}", key.peer_key().to_peer_id());
            Ok(())
        }
        Command::ShowValidator { home } => {
            let config = NodeConfig::load(&home.join("config.toml"))?;
            let key = KeyFile::load(
                &NodeConfig::resolve(&home, &config.validator_key_file),
                KeyKind::Validator,
            )?;
            println!("{}", key.public_key());
            Ok(())
        }
        Command::RotateValidatorKey { home } => {
            let config = NodeConfig::load(&home.join("config.toml"))?;
            let path = NodeConfig::resolve(&home, &config.next_validator_key_file);
            let key = KeyFile::generate(KeyKind::Validator)?;
            // write_new refuses an existing file: a pending rotation's key is never overwritten.
            key.write_new(&path)?;
            println!("next validator key: {}", key.public_key());
            println!("written to:         {}", path.display());
            println!(
                "Propose it with: clearance members propose --reason <WHY> --key <ADMIN_KEY_FILE> \
                 rotate-validator-key --member <ID> --new-key {}",
                key.public_key()
            );
            println!(
                "The node keeps signing with its current key until the rotation takes effect, then with this one."
            );
            Ok(())
        }
        Command::RotateNetworkKey { home } => {
            let config = NodeConfig::load(&home.join("config.toml"))?;
            let path = NodeConfig::resolve(&home, &config.next_node_key_file);
            let key = KeyFile::generate(KeyKind::Network)?;
            key.write_new(&path)?;
            println!("next peer id: {}", key.peer_key().to_peer_id());
            println!("written to:   {}", path.display());
            println!(
                "Propose it with: clearance members propose --reason <WHY> --key <ADMIN_KEY_FILE> \
                 rotate-network-key --member <ID> --new-peer-id {}",
                key.peer_key().to_peer_id()
            );
            println!(
                "Once the rotation is adopted the running node switches to the new peer id by itself, and from the \
                 height the rotation takes effect the other members refuse the old one. No restart is needed."
            );
            Ok(())
        }
    }
}

fn init(
    home: PathBuf,
    moniker: &str,
    genesis: Option<PathBuf>,
    p2p_listen: String,
    api_listen: std::net::SocketAddr,
) -> Result<()> {
    let config_path = home.join("config.toml");
    if config_path.exists() {
        bail!(
            "{} exists; init never overwrites a home directory",
            config_path.display()
        );
    }
    if let Some(genesis) = &genesis {
        clearance_genesis::testnet::load_genesis(genesis)?;
    }
    std::fs::create_dir_all(home.join("data"))
        .with_context(|| format!("creating {}", home.display()))?;
    let config = NodeConfig::new(moniker, p2p_listen, api_listen);
    let validator = KeyFile::generate(KeyKind::Validator)?;
    let network = KeyFile::generate(KeyKind::Network)?;
    validator.write_new(&NodeConfig::resolve(&home, &config.validator_key_file))?;
    network.write_new(&NodeConfig::resolve(&home, &config.node_key_file))?;
    if let Some(genesis) = genesis {
        std::fs::copy(&genesis, NodeConfig::resolve(&home, &config.genesis_file))
            .with_context(|| format!("copying {}", genesis.display()))?;
    }
    std::fs::write(&config_path, config.to_toml())
        .with_context(|| format!("writing {}", config_path.display()))?;
    println!("home:          {}", home.display());
    println!("validator key: {}", validator.public_key());
    println!("peer id:       {}", network.peer_key().to_peer_id());
    println!(
        "Give the validator key and peer id to whoever assembles the genesis file or, to join a running network, \
         to the member that proposes your admission (docs/node.md, runbooks)."
    );
    Ok(())
}

fn init_logs(level: &str, format: clearance_genesis::config::LogFormat) -> Result<()> {
    // RUST_LOG, when set, overrides the config file, as operators of other Rust services expect.
    // gossipsub warns once per message it cannot queue for a slow peer, thousands a second on a lossy link; the
    // node counts those and logs them per peer at most every 10 s, so the library's own lines are left out
    // unless the filter names the library.
    let quiet = |f: String| {
        if f.contains("libp2p_gossipsub") {
            f
        } else {
            format!("{f},libp2p_gossipsub=error")
        }
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => tracing_subscriber::EnvFilter::try_new(quiet(v)),
        _ => tracing_subscriber::EnvFilter::try_new(quiet(level.to_string())),
    }
    .context(
        "the log filter (RUST_LOG, or log_level in config.toml) is not a valid tracing filter",
    )?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false);
    match format {
        clearance_genesis::config::LogFormat::Text => logs.init(),
        clearance_genesis::config::LogFormat::Json => logs.json().init(),
    }
    Ok(())
}
