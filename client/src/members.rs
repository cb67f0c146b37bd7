//! `clearance members`: the members in force, what is scheduled and proposed, and the two records that change
//! membership (`docs/node.md` has the runbooks that use them).

use anyhow::{Context, Result};
use clap::Subcommand;
use clearance_client::{Client, Signer};
use clearance_core::Hash32;
use clearance_core::api::MembersView;
use clearance_core::crypto::PublicKey;
use clearance_core::ids::{CountryCode, Text};
use clearance_core::peer::PeerKey;
use clearance_core::record::*;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Members {
    /// The members in force, member lists adopted for later heights, and every proposal with its approvals.
    List,
    /// Propose a change, signed with a submitter key that has the `membership` role; the proposal is your
    /// approval (except of your own removal).
    Propose {
        #[command(subcommand)]
        change: Change,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        /// The submitter key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Approve a proposal by its id (as `list` shows it).
    Approve {
        proposal: String,
        #[arg(long)]
        key: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum Change {
    /// Admit a new member: its node's validator key and peer id (`clearance-node init` prints them), where it
    /// listens, and its first submitter key (roles key_admin and membership).
    Admit {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        validator_key: String,
        #[arg(long)]
        peer_id: String,
        /// A libp2p multiaddr, e.g. /ip4/203.0.113.7/tcp/26656; repeat for several.
        #[arg(long = "address")]
        addresses: Vec<String>,
        #[arg(long)]
        submitter_key: String,
    },
    /// Remove a member.
    Remove {
        #[arg(long)]
        member: String,
    },
    /// Replace a member's validator key (`clearance-node rotate-validator-key` prints the new one).
    RotateValidatorKey {
        #[arg(long)]
        member: String,
        #[arg(long)]
        new_key: String,
    },
    /// Replace a member's network key (peer id).
    RotateNetworkKey {
        #[arg(long)]
        member: String,
        #[arg(long)]
        new_peer_id: String,
    },
}

impl Change {
    fn into_change(self) -> Result<MembershipChange> {
        let cc = |s: &str| CountryCode::parse(s).with_context(|| format!("member id {s:?}"));
        let key = |s: &str| PublicKey::from_hex(s).with_context(|| format!("key {s:?}"));
        let peer = |s: &str| PeerKey::parse(s).with_context(|| format!("peer id {s:?}"));
        Ok(match self {
            Change::Admit {
                id,
                name,
                validator_key,
                peer_id,
                addresses,
                submitter_key,
            } => MembershipChange::Admit(Admission {
                member: MemberInfo {
                    id: cc(&id)?,
                    name: Text::parse(&name).context("name")?,
                    validator_key: key(&validator_key)?,
                    peer_id: peer(&peer_id)?,
                    addresses: addresses
                        .iter()
                        .map(|a| Text::parse(a).with_context(|| format!("address {a:?}")))
                        .collect::<Result<_>>()?,
                },
                submitter_key: key(&submitter_key)?,
            }),
            Change::Remove { member } => MembershipChange::Remove {
                member: cc(&member)?,
            },
            Change::RotateValidatorKey { member, new_key } => {
                MembershipChange::RotateValidatorKey {
                    member: cc(&member)?,
                    new_key: key(&new_key)?,
                }
            }
            Change::RotateNetworkKey {
                member,
                new_peer_id,
            } => MembershipChange::RotateNetworkKey {
                member: cc(&member)?,
                new_peer_id: peer(&new_peer_id)?,
            },
        })
    }
}

pub async fn run(client: &Client, json: bool, cmd: Members) -> Result<i32> {
    match cmd {
        Members::List => {
            let view = client.members().await?;
            if json {
                crate::print_json(&view)?;
            } else {
                print_view(&view);
            }
            Ok(0)
        }
        Members::Propose {
            change,
            reason,
            key,
        } => {
            let mut signer = Signer::connect(client, &key).await?;
            let record = Record::MembershipPropose(MembershipPropose {
                proposer: key_member(&signer)?,
                change: change.into_change()?,
                reason: Text::parse(&reason).context("reason")?,
            });
            crate::submit_signed(client, json, record, &mut signer, false, 30).await
        }
        Members::Approve { proposal, key } => {
            let proposal = Hash32::from_hex(&proposal).context("proposal id")?;
            let mut signer = Signer::connect(client, &key).await?;
            let member = key_member(&signer)?;
            let record = Record::MembershipApprove(MembershipApprove { proposal, member });
            crate::submit_signed(client, json, record, &mut signer, false, 30).await
        }
    }
}

/// The member the signer's key acts for, as the ledger registered it.
fn key_member(signer: &Signer) -> Result<CountryCode> {
    signer
        .member()
        .cloned()
        .context("the node did not say which member the key belongs to")
}

fn print_view(v: &MembersView) {
    println!(
        "members deciding height {} ({}):",
        v.height,
        v.members.len()
    );
    for m in &v.members {
        println!("  {:<3} {}  peer {}", m.id, m.name, m.peer_id.to_peer_id());
    }
    for s in &v.scheduled {
        let ids: Vec<&str> = s.members.iter().map(|m| m.id.as_str()).collect();
        println!("from height {}: {}", s.from_height, ids.join(", "));
    }
    if v.proposals.is_empty() {
        println!("proposals: none");
        return;
    }
    println!("proposals:");
    for p in &v.proposals {
        let approvals: Vec<&str> = p.approvals.iter().map(|m| m.as_str()).collect();
        let standing = match (p.status.as_str(), p.effective_height) {
            ("adopted", Some(h)) => format!("adopted, in force from height {h}"),
            ("open", _) => format!(
                "open until {}, {} of {} approvals",
                p.expires_at, p.counted, p.needed
            ),
            (other, _) => other.to_string(),
        };
        println!(
            "  {}  {} by {}: {}",
            p.id,
            clearance_core::audit::describe_change(&p.change),
            p.proposer,
            standing
        );
        println!("      approved by {}", approvals.join(", "));
    }
}
