//! The auditor's and the officer's commands: `proof`, `verify`, `status`, `check` and `checkpoint`. Verification
//! runs offline in `clearance_core::audit`; only fetching talks to a node.

use anyhow::{Context, Result};
use clap::Subcommand;
use clearance_client::Client;
use clearance_core::Hash32;
use clearance_core::audit::{
    AuditError, CheckpointVerdict, HeadSummary, RecordSummary, SetChangeSummary, Signer,
    StatusSubject, StatusSummary, Step, Verdict, verify_bundle, verify_checkpoint,
    verify_extension, verify_status,
};
use clearance_core::genesis::Genesis;
use clearance_core::ids::{CertificateNumber, CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::DeclarationId;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Exit code when a file does not verify (or its status is older than `--max-age`); 1 means the command could
/// not run (a missing file, a node that does not answer).
const NOT_VERIFIED: i32 = 2;
/// Exit code when everything verifies but the status is not good: revoked, replaced, suspended, superseded,
/// never recorded. Scripts cannot take it for a valid certificate.
const STATUS_NOT_GOOD: i32 = 3;

#[derive(Subcommand)]
pub enum StatusOfSubject {
    /// A certificate: valid, replaced, revoked or never recorded.
    Certificate { issuer: String, number: String },
    /// An operator's standing in one member's AEO programme.
    Aeo {
        operator: String,
        programme: String,
        /// Also prove whether this member recognises the standing (its own programme, or an active MRA).
        #[arg(long)]
        recognised_by: Option<String>,
    },
    /// A clearance decision, by record id: in force or superseded.
    Decision { id: String },
    /// A member's current decision on a declaration, by MRN or UCR (exit 0 only when it is `released`).
    Declaration {
        /// The member whose decision it is.
        member: String,
        #[arg(long, required_unless_present = "ucr", conflicts_with = "ucr")]
        mrn: Option<String>,
        #[arg(long)]
        ucr: Option<String>,
    },
}

impl StatusOfSubject {
    /// The subject, and for an AEO standing the member asked about.
    fn parse(self) -> Result<(StatusSubject, Option<CountryCode>)> {
        Ok(match self {
            StatusOfSubject::Certificate { issuer, number } => (
                StatusSubject::Certificate(clearance_core::record::CertificateRef {
                    issuer: CountryCode::parse(&issuer)?,
                    number: CertificateNumber::parse(&number)?,
                }),
                None,
            ),
            StatusOfSubject::Aeo {
                operator,
                programme,
                recognised_by,
            } => (
                StatusSubject::Aeo {
                    operator: OperatorId::parse(&operator)?,
                    programme: CountryCode::parse(&programme)?,
                },
                recognised_by
                    .as_deref()
                    .map(CountryCode::parse)
                    .transpose()?,
            ),
            StatusOfSubject::Decision { id } => (
                StatusSubject::Decision {
                    record: Hash32::from_hex(&id).context("decision record id")?,
                },
                None,
            ),
            StatusOfSubject::Declaration { member, mrn, ucr } => {
                let declaration = match (mrn, ucr) {
                    (Some(mrn), None) => DeclarationId::Mrn(Mrn::parse(&mrn)?),
                    (None, Some(ucr)) => DeclarationId::Ucr(Ucr::parse(&ucr)?),
                    _ => anyhow::bail!("give exactly one of --mrn and --ucr"),
                };
                let member = CountryCode::parse(&member)?;
                (
                    StatusSubject::Declaration {
                        declaration,
                        member,
                    },
                    None,
                )
            }
        })
    }
}

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

/// Parses `--max-age`: seconds, or a number with `s`, `m`, `h` or `d`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not an age such as 90s, 15m, 2h or 1d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(unit)))
}

/// Refuses a file whose anchor (the head a status is read from) is older than `max_age` by this machine's clock.
fn fresh(anchor: &HeadSummary, max_age: Option<Duration>) -> Result<(), AuditError> {
    let Some(max_age) = max_age else {
        return Ok(());
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let age_ms = now_ms.saturating_sub(anchor.time.as_millis());
    if u128::from(age_ms) > max_age.as_millis() {
        return Err(AuditError {
            step: Step("max-age".into()),
            reason: format!(
                "the file is as of {} ({} s ago); --max-age allows {} s: fetch a newer proof",
                anchor.time.to_minute_utc(),
                age_ms / 1000,
                max_age.as_secs()
            ),
        });
    }
    Ok(())
}

/// The exit code for a verified status.
fn status_code(status: Option<&StatusSummary>) -> i32 {
    match status {
        Some(s) if !s.good => STATUS_NOT_GOOD,
        _ => 0,
    }
}

/// `clearance verify`: a record's proof bundle, or (the second of `files`) a status proof.
pub fn verify(
    json: bool,
    genesis: &Path,
    files: (Option<&Path>, Option<&Path>),
    document: Option<&Path>,
    max_age: Option<Duration>,
) -> Result<i32> {
    let genesis = load_genesis(genesis)?;
    match files {
        (Some(bundle), _) => {
            let file = read(bundle)?;
            let document = document.map(read).transpose()?;
            bundle_verdict(json, &genesis, &file, document.as_deref(), max_age)
        }
        (None, Some(status)) => status_verdict(json, &genesis, &read(status)?, max_age),
        (None, None) => anyhow::bail!("give --bundle FILE or --status FILE"),
    }
}

fn bundle_verdict(
    json: bool,
    genesis: &Genesis,
    file: &[u8],
    document: Option<&[u8]>,
    max_age: Option<Duration>,
) -> Result<i32> {
    // Every bundle's anchor, whether or not its record has a status: an old anchor is old news of any record.
    let verdict = verify_bundle(genesis, file, document).and_then(|v| {
        fresh(&v.anchor, max_age)?;
        Ok(v)
    });
    match verdict {
        Ok(verdict) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "verified": true,
                        "status": verdict.status.as_ref().map(|s| &s.status),
                        "good": verdict.status.as_ref().map(|s| s.good),
                        "verdict": verdict
                    }))?
                );
            } else {
                print_verdict(&verdict);
            }
            Ok(status_code(verdict.status.as_ref()))
        }
        Err(e) => Ok(refused(json, &e)),
    }
}

fn status_verdict(
    json: bool,
    genesis: &Genesis,
    file: &[u8],
    max_age: Option<Duration>,
) -> Result<i32> {
    let verdict = verify_status(genesis, file).and_then(|v| {
        fresh(&v.status.as_of, max_age)?;
        Ok(v)
    });
    match verdict {
        Ok(v) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "verified": true,
                        "status": v.status.status,
                        "good": v.status.good,
                        "verdict": v
                    }))?
                );
            } else {
                print_status(&v.status);
                println!("proof verified on chain {} ({})", v.chain_name, v.chain_id);
                print_set_changes(&v.validator_set_changes);
                print_head("as of", &v.status.as_of);
            }
            Ok(status_code(Some(&v.status)))
        }
        Err(e) => Ok(refused(json, &e)),
    }
}

/// `clearance status-of ...`: fetches where a subject stands, with its proof, and verifies it offline.
pub async fn status(
    client: &Client,
    json: bool,
    genesis: Option<&Path>,
    subject: StatusOfSubject,
    out: Option<&Path>,
    max_age: Option<Duration>,
) -> Result<i32> {
    let genesis = genesis.context(
        "give --genesis FILE (or set CLEARANCE_GENESIS): the genesis file your administration trusts",
    )?;
    let genesis = load_genesis(genesis)?;
    let (subject, recognised_by) = subject.parse()?;
    let file = client
        .status_proof(&subject, recognised_by.as_ref())
        .await?;
    if let Some(out) = out {
        write_json(out, &file)?;
    }
    status_verdict(json, &genesis, &serde_json::to_vec(&file)?, max_age)
}

/// `clearance check FILE`: the officer's whole job. Hashes the document, asks the node which records commit to
/// it, fetches the newest one's bundle with its status proof, and verifies it offline against the genesis.
pub async fn check(
    client: &Client,
    json: bool,
    genesis: &Path,
    document: &Path,
    out: Option<&Path>,
    max_age: Option<Duration>,
) -> Result<i32> {
    let genesis = load_genesis(genesis)?;
    let bytes = read(document)?;
    let sha256 = Hash32::sha256(&bytes);
    let page = client.documents(&sha256, None).await?;
    let Some(newest) = page.records.last() else {
        if json {
            println!(
                "{}",
                serde_json::json!({ "verified": false, "status": "not_found", "good": false, "sha256": sha256,
                    "reason": "the node knows no record that commits to this document" })
            );
        } else {
            println!("NOT FOUND: no record on the ledger commits to this document");
            println!("  document     {} (SHA-256 {sha256})", document.display());
            println!(
                "  asked        {} (this is the node's answer, not a proof: ask another member's node to be sure)",
                client.base()
            );
        }
        return Ok(STATUS_NOT_GOOD);
    };
    let bundle = client.proof(&newest.id).await?;
    if let Some(out) = out {
        write_json(out, &bundle)?;
    }
    if !json && page.records.len() > 1 {
        println!(
            "{} records commit to this document; the newest ({}) is checked",
            page.records.len(),
            newest.id
        );
    }
    bundle_verdict(
        json,
        &genesis,
        &serde_json::to_vec(&bundle)?,
        Some(&bytes),
        max_age,
    )
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

fn print_status(s: &StatusSummary) {
    println!("{}", s.headline);
    println!("  {}", s.subject.describe());
    if let Some(r) = &s.record {
        println!("  set by record {r}");
    }
}

fn print_verdict(v: &Verdict) {
    match &v.status {
        Some(s) => {
            print_status(s);
            println!();
            println!("proof VERIFIED on chain {} ({})", v.chain_name, v.chain_id);
        }
        None => println!("VERIFIED on chain {} ({})", v.chain_name, v.chain_id),
    }
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
