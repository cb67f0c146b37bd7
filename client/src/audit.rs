//! The auditor's commands: `proof`, `verify` and `checkpoint`. Verification runs offline in
//! `clearance_core::audit`; only fetching talks to a node.

use anyhow::{Context, Result};
use clap::Subcommand;
use clearance_client::Client;
use clearance_core::Hash32;
use clearance_core::audit::{
    AuditError, CheckpointVerdict, HeadSummary, RecordSummary, SetChangeSummary, Signer, Verdict,
    verify_bundle, verify_checkpoint, verify_extension,
};
use clearance_core::genesis::Genesis;
use std::path::{Path, PathBuf};

/// Exit code when a file does not verify; 1 means the command could not run (a missing file, a node that
/// does not answer).
const NOT_VERIFIED: i32 = 2;

#[derive(Subcommand)]
pub enum CheckpointAction {
    /// Fetch the node's certified head, verify it against the genesis, and keep it in a file.
    Save {
        #[arg(long)]
        genesis: PathBuf,
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Prove that the node's current head extends a kept checkpoint: the log only grew.
    Check {
        #[arg(long)]
        genesis: PathBuf,
        /// The checkpoint kept before.
        checkpoint: PathBuf,
        /// Replace the kept checkpoint with the new head once the proof checks.
        #[arg(long)]
        save: bool,
    },
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn load_genesis(path: &Path) -> Result<Genesis> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Genesis::from_json(&text).with_context(|| format!("{} is not a valid genesis", path.display()))
}

/// Writes `value` as pretty JSON through a temporary file, so that a crash never leaves half a file.
fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub async fn proof(client: &Client, json: bool, id: &str, out: &Path) -> Result<i32> {
    let id = Hash32::from_hex(id).context("record id")?;
    let bundle = client.proof(&id).await?;
    write_json(out, &bundle)?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    if json {
        println!(
            "{}",
            serde_json::json!({ "record": id, "file": out, "bytes": size, "later_records": bundle.later.len() })
        );
    } else {
        println!(
            "wrote {} ({size} bytes, {} later records); verify it with: clearance verify --genesis GENESIS --bundle {}",
            out.display(),
            bundle.later.len(),
            out.display()
        );
    }
    Ok(0)
}

/// Prints a failure, as text or JSON, and gives the exit code.
fn refused(json: bool, e: &AuditError) -> i32 {
    if json {
        println!(
            "{}",
            serde_json::json!({ "verified": false, "step": e.step.to_string(), "reason": e.reason })
        );
    } else {
        println!("NOT VERIFIED");
        println!("failed step  {}", e.step);
        println!("reason       {}", e.reason);
    }
    NOT_VERIFIED
}

pub fn verify(json: bool, genesis: &Path, bundle: &Path, document: Option<&Path>) -> Result<i32> {
    let genesis = load_genesis(genesis)?;
    let file = read(bundle)?;
    let document = document.map(read).transpose()?;
    match verify_bundle(&genesis, &file, document.as_deref()) {
        Ok(verdict) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({ "verified": true, "verdict": verdict })
                    )?
                );
            } else {
                print_verdict(&verdict);
            }
            Ok(0)
        }
        Err(e) => Ok(refused(json, &e)),
    }
}

fn signers(list: &[Signer]) -> String {
    list.iter()
        .map(|s| format!("{} ({})", s.name, s.member))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_record(r: &RecordSummary) {
    println!("  {}", r.summary);
    println!("  kind         {}", r.kind);
    println!("  record id    {}", r.id);
    println!("  recorded by  {} ({})", r.member_name, r.member);
    println!(
        "  committed    height {} at {}, log index {}",
        r.height, r.time, r.log_index
    );
    println!("  certified by {}", signers(&r.signers));
}

fn print_head(label: &str, h: &HeadSummary) {
    println!(
        "{label:<12} height {} at {}, log size {}, root {}",
        h.height, h.time, h.log_size, h.log_root
    );
    println!("{:<12} certified by {}", "", signers(&h.signers));
}

fn print_verdict(v: &Verdict) {
    println!("VERIFIED on chain {} ({})", v.chain_name, v.chain_id);
    println!();
    println!("record");
    print_record(&v.record);
    match &v.document {
        Some(d) => println!("  document     SHA-256 {} matches the record", d.sha256),
        None => println!("  document     not checked (give --document FILE)"),
    }
    println!();
    if v.later.is_empty() {
        println!("later changes: none up to the anchor");
    } else {
        println!("later changes ({}):", v.later.len());
        for r in &v.later {
            println!();
            print_record(r);
        }
    }
    println!();
    print_set_changes(&v.validator_set_changes);
    print_head("anchor", &v.anchor);
}

fn print_set_changes(changes: &[SetChangeSummary]) {
    if changes.is_empty() {
        println!("members: the genesis set throughout");
        return;
    }
    println!(
        "member changes ({}), each certified by the set before it:",
        changes.len()
    );
    for c in changes {
        let members: Vec<&str> = c.members.iter().map(|m| m.as_str()).collect();
        let by: Vec<&str> = c.certified_by.iter().map(|m| m.as_str()).collect();
        println!(
            "  from height {}: {} (adopted at height {}; announced and signed by {})",
            c.height,
            members.join(", "),
            c.adopted_at,
            by.join(", ")
        );
        for a in &c.adopted {
            let approved: Vec<&str> = a.approved_by.iter().map(|m| m.as_str()).collect();
            println!(
                "    {}: proposed by {}, approved by {} (proposal {})",
                a.change,
                a.proposer,
                approved.join(", "),
                a.proposal
            );
        }
    }
}

fn print_checkpoint(json: bool, v: &CheckpointVerdict) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "verified": true, "verdict": v }))?
        );
        return Ok(());
    }
    println!("VERIFIED on chain {} ({})", v.chain_name, v.chain_id);
    if let Some(old) = &v.old {
        print_head("kept", old);
        println!(
            "extended by  {} records and {} blocks",
            v.head.log_size - old.log_size,
            v.head.height - old.height
        );
    }
    print_set_changes(&v.validator_set_changes);
    print_head("head", &v.head);
    Ok(())
}

pub async fn checkpoint(client: &Client, json: bool, action: CheckpointAction) -> Result<i32> {
    match action {
        CheckpointAction::Save { genesis, out } => {
            let genesis = load_genesis(&genesis)?;
            let checkpoint = client.checkpoint().await?;
            let bytes = serde_json::to_vec(&checkpoint)?;
            match verify_checkpoint(&genesis, &bytes) {
                Ok(v) => {
                    write_json(&out, &checkpoint)?;
                    print_checkpoint(json, &v)?;
                    if !json {
                        println!("kept in {}", out.display());
                    }
                    Ok(0)
                }
                Err(e) => Ok(refused(json, &e)),
            }
        }
        CheckpointAction::Check {
            genesis,
            checkpoint,
            save,
        } => {
            let genesis = load_genesis(&genesis)?;
            let kept = read(&checkpoint)?;
            let old = match verify_checkpoint(&genesis, &kept) {
                Ok(v) => v.head,
                Err(e) => return Ok(refused(json, &e)),
            };
            let current = client.checkpoint().await?;
            let proof = client.consistency(old.height, Some(current.height)).await?;
            let verdict =
                verify_extension(&genesis, &kept, &serde_json::to_vec(&proof)?).and_then(|v| {
                    // The proof's new head must be the checkpoint the node serves now.
                    verify_checkpoint(&genesis, &serde_json::to_vec(&current).unwrap_or_default())
                        .map(|c| (v, c))
                });
            match verdict {
                Ok((v, c)) if c.head.block_hash == v.head.block_hash => {
                    if save {
                        write_json(&checkpoint, &current)?;
                    }
                    print_checkpoint(json, &v)?;
                    if save && !json {
                        println!("kept in {}", checkpoint.display());
                    }
                    Ok(0)
                }
                Ok(_) => Ok(refused(
                    json,
                    &AuditError {
                        step: clearance_core::audit::Step("new.header".into()),
                        reason:
                            "the consistency proof ends at another block than the node's checkpoint"
                                .into(),
                    },
                )),
                Err(e) => Ok(refused(json, &e)),
            }
        }
    }
}
