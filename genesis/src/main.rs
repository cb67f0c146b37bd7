//! `clearance-genesis`: keys, genesis documents and local testnet layouts for Clearance Ledger.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use clearance_core::genesis::{ConsensusParams, Genesis, GenesisError};
use clearance_core::ids::ChainName;
use clearance_core::time::Timestamp;
use clearance_genesis::keys::{KeyFile, KeyKind};
use clearance_genesis::members::genesis_from_members;
use clearance_genesis::testnet::{TestnetOptions, load_genesis, write_testnet};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "clearance-genesis",
    version,
    about = "Keys, genesis documents and local testnets for Clearance Ledger"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a new validator key and network key into DIR (files mode 0600) and print their public parts.
    Keygen {
        /// Home directory to write validator_key.json and node_key.json into.
        #[arg(long)]
        home: Option<PathBuf>,
        /// Instead, write one submitter key to this file.
        #[arg(long, conflicts_with = "home")]
        submitter: Option<PathBuf>,
    },
    /// Build a genesis document from a members file.
    New {
        /// JSON file with "members" and "submitters" (see docs/node.md).
        #[arg(long)]
        members: PathBuf,
        #[arg(long)]
        chain_name: String,
        /// RFC 3339 UTC time, e.g. 2026-12-01T00:00:00Z; defaults to now.
        #[arg(long)]
        genesis_time: Option<String>,
        /// JSON file with consensus parameters; defaults are used when absent.
        #[arg(long)]
        params: Option<PathBuf>,
        /// Where to write genesis.json; refuses to overwrite.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a genesis document and print its chain id.
    Validate {
        #[arg(long, default_value = "genesis.json")]
        genesis: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a local testnet: DIR/genesis.json and one home directory per member.
    Testnet {
        #[arg(long, default_value_t = 4)]
        members: usize,
        #[arg(long)]
        out: PathBuf,
        /// Member i listens for peers on P+2i and serves its API on P+2i+1.
        #[arg(long, default_value_t = 26600)]
        base_port: u16,
        #[arg(long, default_value = "clearance-local-testnet")]
        chain_name: String,
        /// RFC 3339 UTC time; defaults to now.
        #[arg(long)]
        genesis_time: Option<String>,
        /// One IPv4 address per member, comma-separated, for members on separate hosts: each listens for peers
        /// and serves its API on its own address. Defaults to 127.0.0.1 for all.
        #[arg(long, value_delimiter = ',')]
        hosts: Vec<std::net::Ipv4Addr>,
    },
}

fn genesis_time(arg: Option<String>) -> Result<Timestamp> {
    match arg {
        Some(text) => Ok(Timestamp::parse(&text)?),
        None => {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .context("the system clock is before 1970")?
                .as_millis();
            Ok(Timestamp::from_millis(u64::try_from(ms)?)?)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen { home, submitter } => {
            if let Some(path) = submitter {
                let key = KeyFile::generate(KeyKind::Submitter)?;
                key.write_new(&path)?;
                println!("submitter public key: {}", key.public_key());
                println!("written to:           {}", path.display());
                return Ok(());
            }
            let Some(home) = home else {
                bail!("give --home DIR for validator and network keys, or --submitter FILE");
            };
            std::fs::create_dir_all(&home)
                .with_context(|| format!("creating {}", home.display()))?;
            let validator = KeyFile::generate(KeyKind::Validator)?;
            let network = KeyFile::generate(KeyKind::Network)?;
            validator.write_new(&home.join("validator_key.json"))?;
            network.write_new(&home.join("node_key.json"))?;
            println!("validator_key: {}", validator.public_key());
            println!("peer_id:       {}", network.peer_key());
            println!("written to:    {}", home.display());
        }
        Command::New {
            members,
            chain_name,
            genesis_time: time,
            params,
            out,
        } => {
            let members_json = std::fs::read_to_string(&members)
                .with_context(|| format!("reading {}", members.display()))?;
            let params = match params {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("reading {}", p.display()))?;
                    serde_json::from_str::<ConsensusParams>(&text)
                        .map_err(|e| GenesisError::Json(format!("params file: {e}")))?
                }
                None => ConsensusParams::default(),
            };
            let genesis = genesis_from_members(
                &members_json,
                ChainName::parse(&chain_name)?,
                genesis_time(time)?,
                params,
            )?;
            write_new_file(&out, &(genesis.to_json() + "\n"))?;
            println!("chain_id: {}", genesis.chain_id());
            println!("members:  {}", genesis.members.len());
            println!("written:  {}", out.display());
        }
        Command::Validate { genesis, json } => {
            let g = load_genesis(&genesis)?;
            print_summary(&g, json);
        }
        Command::Testnet {
            members,
            out,
            base_port,
            chain_name,
            genesis_time: time,
            hosts,
        } => {
            let manifest = write_testnet(&TestnetOptions {
                members,
                out: out.clone(),
                base_port,
                chain_name: ChainName::parse(&chain_name)?,
                genesis_time: genesis_time(time)?,
                params: ConsensusParams::default(),
                hosts,
            })?;
            println!("chain_id: {}", manifest.chain_id);
            println!("genesis:  {}", manifest.genesis.display());
            for m in &manifest.members {
                println!(
                    "  {}  home {}  p2p port {}  api {}",
                    m.id,
                    m.home.display(),
                    m.p2p_port,
                    m.api_url
                );
            }
        }
    }
    Ok(())
}

fn write_new_file(path: &std::path::Path, contents: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| {
            format!(
                "creating {} (an existing file is never overwritten)",
                path.display()
            )
        })?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

fn print_summary(g: &Genesis, json: bool) {
    if json {
        let members: Vec<_> = g
            .members
            .iter()
            .map(|m| serde_json::json!({"id": m.id, "name": m.name, "peer_id": m.peer_id}))
            .collect();
        let v = serde_json::json!({
            "valid": true,
            "chain_id": g.chain_id(),
            "chain_name": g.chain_name,
            "genesis_time": g.genesis_time,
            "members": members,
            "submitters": g.submitters.len(),
        });
        println!("{v}");
        return;
    }
    println!("genesis is valid");
    println!("chain_id:     {}", g.chain_id());
    println!("chain_name:   {}", g.chain_name);
    println!("genesis_time: {}", g.genesis_time);
    println!("members:      {}", g.members.len());
    for m in &g.members {
        println!("  {}  {}  {}", m.id, m.peer_id, m.name);
    }
    println!("submitters:   {}", g.submitters.len());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<GenesisError>() {
                Some(g) => eprintln!("error[{}]: {g}", g.code()),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
