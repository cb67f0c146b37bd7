//! The layout of a local testnet: one genesis and one home directory per member.
//!
//! ```text
//! DIR/genesis.json
//! DIR/testnet.json            manifest for scripts: chain id, and per member its home, ports and key files
//! DIR/<id>/config.toml
//! DIR/<id>/genesis.json       a copy, so each home is self-contained
//! DIR/<id>/validator_key.json mode 0600
//! DIR/<id>/node_key.json      mode 0600
//! DIR/<id>/keys/admin.json    submitter key: key_admin, membership, mra
//! DIR/<id>/keys/agency.json   submitter key: certificates, clearance, aeo
//! DIR/<id>/data/              empty; the node's database
//! ```

use crate::config::NodeConfig;
use crate::keys::{KeyFile, KeyKind};
use anyhow::{Context, Result, bail};
use clearance_core::genesis::{ConsensusParams, Genesis, GenesisSubmitter};
use clearance_core::ids::{ChainName, CountryCode, Text};
use clearance_core::record::{MemberInfo, Role, Roles};
use clearance_core::time::Timestamp;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Members a testnet draws from, in order: ASEM and CAREC customs administrations.
pub const SAMPLE_MEMBERS: [(&str, &str); 31] = [
    ("KZ", "State Revenue Committee of Kazakhstan"),
    ("DE", "German Customs Administration"),
    ("CN", "General Administration of Customs of China"),
    ("UZ", "Customs Committee of Uzbekistan"),
    ("FR", "French Customs and Excise"),
    ("JP", "Japan Customs"),
    ("KG", "Customs Service of Kyrgyzstan"),
    ("MN", "Customs General Administration of Mongolia"),
    ("TJ", "Customs Service of Tajikistan"),
    ("PK", "Pakistan Customs"),
    ("KR", "Korea Customs Service"),
    ("IT", "Customs and Monopolies Agency of Italy"),
    ("AZ", "State Customs Committee of Azerbaijan"),
    ("TR", "Turkish Customs Administration"),
    ("GE", "Revenue Service of Georgia"),
    ("NL", "Netherlands Customs Administration"),
    ("TM", "State Customs Service of Turkmenistan"),
    ("ES", "Spanish Customs and Excise Department"),
    ("PL", "National Revenue Administration of Poland"),
    ("SE", "Swedish Customs"),
    ("FI", "Finnish Customs"),
    ("AT", "Austrian Customs"),
    ("BE", "Belgian Customs and Excise"),
    ("CZ", "Customs Administration of the Czech Republic"),
    ("IN", "Central Board of Indirect Taxes and Customs of India"),
    ("SG", "Singapore Customs"),
    ("TH", "Thai Customs Department"),
    ("VN", "General Department of Vietnam Customs"),
    ("MY", "Royal Malaysian Customs Department"),
    (
        "ID",
        "Directorate General of Customs and Excise of Indonesia",
    ),
    ("PH", "Bureau of Customs of the Philippines"),
];

pub struct TestnetOptions {
    pub members: usize,
    pub out: PathBuf,
    pub base_port: u16,
    pub chain_name: ChainName,
    pub genesis_time: Timestamp,
    pub params: ConsensusParams,
    /// One IPv4 address per member, for members on separate hosts (network namespaces in scripts/e2e): member
    /// i listens for peers on its own address, and genesis names that address. Empty: everyone on 127.0.0.1.
    pub hosts: Vec<std::net::Ipv4Addr>,
}

#[derive(Debug, Serialize)]
pub struct Manifest {
    pub chain_id: String,
    pub chain_name: String,
    pub genesis: PathBuf,
    pub members: Vec<ManifestMember>,
}

#[derive(Debug, Serialize)]
pub struct ManifestMember {
    pub id: String,
    pub home: PathBuf,
    pub p2p_port: u16,
    pub api_port: u16,
    pub api_url: String,
    pub peer_id: String,
    pub admin_key: PathBuf,
    pub agency_key: PathBuf,
}

fn text(s: &str) -> Result<Text> {
    Text::parse(s).with_context(|| format!("building testnet text {s:?}"))
}

/// Writes the testnet and returns its manifest. Refuses a non-empty `out`, so that keys are never overwritten.
pub fn write_testnet(opts: &TestnetOptions) -> Result<Manifest> {
    if opts.members == 0 || opts.members > SAMPLE_MEMBERS.len() {
        bail!(
            "--members must be 1 to {}, got {}",
            SAMPLE_MEMBERS.len(),
            opts.members
        );
    }
    let last_port = u32::from(opts.base_port) + 2 * opts.members as u32;
    if opts.base_port < 1024 || last_port > u32::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {} members (needs 1024 to {})",
            opts.base_port,
            opts.members,
            u16::MAX as u32 - 2 * opts.members as u32
        );
    }
    if !opts.hosts.is_empty() && opts.hosts.len() != opts.members {
        bail!(
            "--hosts names {} addresses for {} members; give one per member",
            opts.hosts.len(),
            opts.members
        );
    }
    if opts.out.exists() && std::fs::read_dir(&opts.out)?.next().is_some() {
        bail!(
            "{} exists and is not empty; refusing to overwrite keys (remove it or choose another --out)",
            opts.out.display()
        );
    }
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;

    let mut members = Vec::new();
    let mut submitters = Vec::new();
    let mut manifest_members = Vec::new();
    for (i, (id, name)) in SAMPLE_MEMBERS.iter().take(opts.members).enumerate() {
        let country = CountryCode::parse(id)?;
        let home = opts.out.join(id.to_lowercase());
        std::fs::create_dir_all(home.join("data"))?;
        std::fs::create_dir_all(home.join("keys"))?;
        let p2p_port = opts.base_port + 2 * i as u16;
        let api_port = p2p_port + 1;

        let validator = KeyFile::generate(KeyKind::Validator)?;
        let network = KeyFile::generate(KeyKind::Network)?;
        let admin = KeyFile::generate(KeyKind::Submitter)?;
        let agency = KeyFile::generate(KeyKind::Submitter)?;
        validator.write_new(&home.join("validator_key.json"))?;
        network.write_new(&home.join("node_key.json"))?;
        admin.write_new(&home.join("keys/admin.json"))?;
        agency.write_new(&home.join("keys/agency.json"))?;

        let host = opts
            .hosts
            .get(i)
            .copied()
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST);
        let listen = format!("/ip4/{host}/tcp/{p2p_port}");
        let api = std::net::SocketAddr::from((host, api_port));
        std::fs::write(
            home.join("config.toml"),
            NodeConfig::new(id, listen.clone(), api).to_toml(),
        )?;

        members.push(MemberInfo {
            id: country.clone(),
            name: text(name)?,
            validator_key: validator.public_key(),
            peer_id: network.peer_key(),
            addresses: vec![text(&listen)?],
        });
        submitters.push(GenesisSubmitter {
            member: country.clone(),
            key: admin.public_key(),
            roles: Roles::from_roles(&[Role::KeyAdmin, Role::Membership, Role::Mra]),
            label: text(&format!(
                "{id} customs administration, ledger administrator"
            ))?,
        });
        submitters.push(GenesisSubmitter {
            member: country,
            key: agency.public_key(),
            roles: Roles::from_roles(&[Role::Certificates, Role::Clearance, Role::Aeo]),
            label: text(&format!(
                "{id} sample agency: certificates, clearance and AEO desk"
            ))?,
        });
        manifest_members.push(ManifestMember {
            id: id.to_string(),
            home: home.clone(),
            p2p_port,
            api_port,
            api_url: format!("http://{api}"),
            peer_id: network.peer_key().to_peer_id(),
            admin_key: home.join("keys/admin.json"),
            agency_key: home.join("keys/agency.json"),
        });
    }

    let genesis = Genesis {
        chain_name: opts.chain_name.clone(),
        genesis_time: opts.genesis_time,
        params: opts.params.clone(),
        members,
        submitters,
    };
    genesis
        .validate()
        .context("the generated genesis is invalid")?;
    let json = genesis.to_json() + "\n";
    let genesis_path = opts.out.join("genesis.json");
    std::fs::write(&genesis_path, &json)?;
    for m in &manifest_members {
        std::fs::write(m.home.join("genesis.json"), &json)?;
    }
    let manifest = Manifest {
        chain_id: genesis.chain_id().to_hex(),
        chain_name: genesis.chain_name.to_string(),
        genesis: genesis_path,
        members: manifest_members,
    };
    std::fs::write(
        opts.out.join("testnet.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    Ok(manifest)
}

/// Reads and validates a genesis file.
pub fn load_genesis(path: &Path) -> Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Genesis::from_json(&text)?)
}
