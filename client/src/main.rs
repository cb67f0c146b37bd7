//! `clearance`: the command line of agencies and operators. Every command takes `--json` for scripts and prints a
//! readable table otherwise. Exit status: 0 on success, 1 on an error (the node's code and message are printed),
//! 2 when `verify`, `status`, `check` or `checkpoint` finds a file that does not verify, or a status older than
//! `--max-age` (or clap refuses the command line), 3 when a submitted transaction was committed but rejected by
//! the ledger's rules, or when a verified status is not good (revoked, replaced, suspended, superseded, not
//! recorded).

mod audit;
mod members;
mod tables;

use tables::{evidence_table, record_line, records_table, short};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use clearance_client::{Client, EventItem, EventQuery, RecordQuery, Signer};
use clearance_core::Hash32;
use clearance_core::ids::{CertificateNumber, CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::Record;
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "clearance",
    version,
    about = "Query, watch and submit to a Clearance Ledger node"
)]
struct Cli {
    /// The node's API URL.
    #[arg(
        long,
        env = "CLEARANCE_NODE",
        default_value = "http://127.0.0.1:26601",
        global = true
    )]
    node: String,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The node's height, head, peers and sync state.
    Status,
    /// Sign a record (JSON, as in client/examples/) with a submitter key and submit it; wait for the verdict.
    Submit {
        /// The record file, or - for standard input.
        file: PathBuf,
        /// The submitter key file.
        #[arg(long)]
        key: PathBuf,
        /// Return once the node admits it, without waiting for the commit.
        #[arg(long)]
        no_wait: bool,
        #[arg(long, default_value_t = 30)]
        timeout_secs: u64,
    },
    /// Look something up.
    Get {
        #[command(subcommand)]
        what: Get,
    },
    /// Records in commit order, filtered and paged.
    History {
        #[arg(long)]
        member: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        from_height: Option<u64>,
        #[arg(long)]
        to_height: Option<u64>,
        /// RFC 3339, e.g. 2026-11-24T00:00:00Z.
        #[arg(long)]
        from_time: Option<String>,
        #[arg(long)]
        to_time: Option<String>,
        /// Continue after this log index (the previous page's `next`).
        #[arg(long)]
        after: Option<u64>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Fetch a record's proof bundle, to verify offline with `verify`.
    Proof {
        id: String,
        /// Where to write the bundle.
        #[arg(short, long)]
        out: PathBuf,
    },
    /// Verify a proof bundle or a status proof offline, with only the genesis file; exits 0 only when everything
    /// checks and the status is good (3: verified, but revoked, replaced, suspended, superseded or not recorded).
    Verify {
        #[arg(long, env = "CLEARANCE_GENESIS")]
        genesis: PathBuf,
        #[arg(long, required_unless_present = "status", conflicts_with = "status")]
        bundle: Option<PathBuf>,
        /// A status proof (`clearance status-of ... -o FILE`) instead of a bundle.
        #[arg(long)]
        status: Option<PathBuf>,
        /// A document whose SHA-256 the record must commit to.
        #[arg(long)]
        document: Option<PathBuf>,
        /// Refuse a status older than this (90s, 15m, 2h, 1d) by this machine's clock.
        #[arg(long, value_parser = audit::parse_age)]
        max_age: Option<Duration>,
    },
    /// Check a document (a certificate PDF, say): find the record that commits to it, fetch its bundle with the
    /// status proof, verify it offline and say whether it is valid. Exits 0 only for a valid certificate.
    Check {
        /// The document file.
        file: PathBuf,
        #[arg(long, env = "CLEARANCE_GENESIS")]
        genesis: PathBuf,
        /// Refuse a status older than this (90s, 15m, 2h, 1d) by this machine's clock.
        #[arg(long, value_parser = audit::parse_age)]
        max_age: Option<Duration>,
        /// Also keep the bundle in this file.
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Where a certificate, an operator's AEO standing or a decision stands now, proven and verified offline
    /// (a proof of absence for one never recorded). Exits 0 only when the status is good.
    StatusOf {
        #[command(subcommand)]
        subject: audit::StatusOfSubject,
        #[arg(long, env = "CLEARANCE_GENESIS", global = true)]
        genesis: Option<PathBuf>,
        /// Refuse a status older than this (90s, 15m, 2h, 1d) by this machine's clock.
        #[arg(long, value_parser = audit::parse_age, global = true)]
        max_age: Option<Duration>,
        /// Also keep the status proof in this file.
        #[arg(short, long, global = true)]
        out: Option<PathBuf>,
    },
    /// Keep a certified head, and prove that a newer one extends it.
    Checkpoint {
        #[command(subcommand)]
        action: audit::CheckpointAction,
    },
    /// The members in force, scheduled and proposed changes; propose and approve changes.
    Members {
        #[command(subcommand)]
        cmd: members::Members,
    },
    /// Committed evidence of equivocation: which member signed two conflicting votes or proposals, where, and who reported it.
    Evidence {
        /// Only evidence against this member.
        #[arg(long)]
        offender: Option<String>,
        #[arg(long)]
        after: Option<u64>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Print committed records as they happen.
    Watch {
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        member: Option<String>,
        #[arg(long)]
        operator: Option<String>,
    },
}

#[derive(Subcommand)]
enum Get {
    /// A record by id.
    Record { id: String },
    /// A certificate's status and history.
    Certificate { issuer: String, number: String },
    /// An operator's AEO status.
    Aeo {
        operator: String,
        /// Whether this member recognises the status, itself or under an active MRA.
        #[arg(long)]
        recognised_by: Option<String>,
    },
    /// Every decision on a declaration.
    Declaration {
        #[arg(long)]
        mrn: Option<String>,
        #[arg(long)]
        ucr: Option<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli) -> Result<i32> {
    let client = Client::new(&cli.node);
    match cli.command {
        Command::Status => {
            let s = client.status().await?;
            if cli.json {
                print_json(&s)?;
            } else {
                for key in [
                    "chain_name",
                    "chain_id",
                    "member",
                    "height",
                    "head_hash",
                    "head_time",
                    "log_size",
                ] {
                    println!("{key:<14} {}", plain(&s[key]));
                }
                println!(
                    "{:<14} {}",
                    "peers",
                    s["peers"].as_array().map_or(0, Vec::len)
                );
                println!("{:<14} {}", "syncing", plain(&s["syncing"]));
                println!("{:<14} {}", "mempool", plain(&s["mempool_txs"]));
            }
            Ok(0)
        }
        Command::Submit {
            file,
            key,
            no_wait,
            timeout_secs,
        } => submit(&client, cli.json, &file, &key, no_wait, timeout_secs).await,
        Command::Get { what } => {
            get(&client, cli.json, what).await?;
            Ok(0)
        }
        Command::Evidence {
            offender,
            after,
            limit,
        } => {
            let offender = offender.map(|m| CountryCode::parse(&m)).transpose()?;
            let page = client.evidence(offender.as_ref(), after, limit).await?;
            if cli.json {
                print_json(&page)?;
            } else {
                evidence_table(&page.records);
                if let Some(next) = page.next {
                    println!("more: --after {next}");
                }
            }
            Ok(0)
        }
        Command::History {
            member,
            kind,
            from_height,
            to_height,
            from_time,
            to_time,
            after,
            limit,
        } => {
            let q = RecordQuery {
                member: member.map(|m| CountryCode::parse(&m)).transpose()?,
                kind,
                from_height,
                to_height,
                from_time,
                to_time,
                after,
                limit: Some(limit),
            };
            let page = client.records(&q).await?;
            if cli.json {
                print_json(&page)?;
            } else {
                records_table(&page.records);
                if let Some(next) = page.next {
                    println!("more: --after {next}");
                }
            }
            Ok(0)
        }
        Command::Proof { id, out } => audit::proof(&client, cli.json, &id, &out).await,
        Command::Verify {
            genesis,
            bundle,
            status,
            document,
            max_age,
        } => audit::verify(
            cli.json,
            &genesis,
            (bundle.as_deref(), status.as_deref()),
            document.as_deref(),
            max_age,
        ),
        Command::Check {
            file,
            genesis,
            max_age,
            out,
        } => audit::check(&client, cli.json, &genesis, &file, out.as_deref(), max_age).await,
        Command::StatusOf {
            subject,
            genesis,
            max_age,
            out,
        } => {
            audit::status(
                &client,
                cli.json,
                genesis.as_deref(),
                subject,
                out.as_deref(),
                max_age,
            )
            .await
        }
        Command::Checkpoint { action } => audit::checkpoint(&client, cli.json, action).await,
        Command::Members { cmd } => members::run(&client, cli.json, cmd).await,
        Command::Watch {
            kind,
            member,
            operator,
        } => {
            let q = EventQuery {
                kind,
                member: member.map(|m| CountryCode::parse(&m)).transpose()?,
                operator: operator.map(|o| OperatorId::parse(&o)).transpose()?,
            };
            let mut events = Box::pin(client.events(&q).await?);
            if !cli.json {
                println!("watching {} (Ctrl-C to stop)", client.base());
            }
            while let Some(item) = events.next().await {
                match item? {
                    EventItem::Record(r) if cli.json => println!("{}", serde_json::to_string(&r)?),
                    EventItem::Record(r) => println!("{}", record_line(&r)),
                    EventItem::Lagged(n) => {
                        eprintln!("warning: {n} events dropped: reading too slowly")
                    }
                }
            }
            Ok(0)
        }
    }
}

async fn submit(
    client: &Client,
    json: bool,
    file: &Path,
    key: &Path,
    no_wait: bool,
    timeout_secs: u64,
) -> Result<i32> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let record: Record = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a record in JSON form", file.display()))?;
    record
        .check_shape()
        .with_context(|| format!("{}: the record is not well formed", file.display()))?;
    submit_record(client, json, record, key, no_wait, timeout_secs).await
}

/// Signs `record` with the key in `key`, submits it and (unless `no_wait`) waits for its verdict.
async fn submit_record(
    client: &Client,
    json: bool,
    record: Record,
    key: &Path,
    no_wait: bool,
    timeout_secs: u64,
) -> Result<i32> {
    let mut signer = Signer::connect(client, key).await?;
    submit_signed(client, json, record, &mut signer, no_wait, timeout_secs).await
}

/// Signs `record` with `signer`, submits it and (unless `no_wait`) waits for its verdict.
async fn submit_signed(
    client: &Client,
    json: bool,
    record: Record,
    signer: &mut Signer,
    no_wait: bool,
    timeout_secs: u64,
) -> Result<i32> {
    record
        .check_shape()
        .context("the record is not well formed")?;
    let tx = signer.sign(record);
    let submitted = client.submit(&tx).await?;
    if no_wait {
        if json {
            print_json(&submitted)?;
        } else {
            println!("submitted {} (pending)", submitted.tx_id);
        }
        return Ok(0);
    }
    let status = client
        .wait(&submitted.tx_id, Duration::from_secs(timeout_secs))
        .await?;
    if json {
        print_json(&status)?;
    } else if status.status == "accepted" {
        println!(
            "accepted  {}  height {}  log index {}",
            status.tx_id,
            status.height.unwrap_or(0),
            status.log_index.unwrap_or(0)
        );
    } else {
        println!(
            "rejected  {}  height {}  code {}",
            status.tx_id,
            status.height.unwrap_or(0),
            status.code.as_deref().unwrap_or("?")
        );
    }
    Ok(if status.status == "accepted" { 0 } else { 3 })
}

async fn get(client: &Client, json: bool, what: Get) -> Result<()> {
    match what {
        Get::Record { id } => {
            let id = Hash32::from_hex(&id).context("record id")?;
            let r = client.record(&id).await?;
            if json {
                print_json(&r)?;
            } else {
                records_table(std::slice::from_ref(&r));
                println!("{}", serde_json::to_string_pretty(&r.record)?);
            }
        }
        Get::Certificate { issuer, number } => {
            let c = client
                .certificate(
                    &CountryCode::parse(&issuer)?,
                    &CertificateNumber::parse(&number)?,
                )
                .await?;
            if json {
                print_json(&c)?;
            } else {
                println!(
                    "certificate {} {}: {}",
                    c.issuer,
                    c.number,
                    c.status.to_uppercase()
                );
                if let Some(r) = &c.replaced_by {
                    println!("replaced by {} {}", r.issuer, r.number);
                }
                records_table(&c.history);
            }
        }
        Get::Aeo {
            operator,
            recognised_by,
        } => {
            let member = recognised_by.map(|m| CountryCode::parse(&m)).transpose()?;
            let a = client
                .aeo(&OperatorId::parse(&operator)?, member.as_ref())
                .await?;
            if json {
                print_json(&a)?;
            } else {
                println!("operator {}", a.operator);
                println!(
                    "{:<10} {:<10} {:<6} RECOGNISED",
                    "PROGRAMME", "STANDING", "TYPE"
                );
                for p in &a.programmes {
                    let recognised = match (p.recognised, p.via_mra) {
                        (Some(true), Some(mra)) => format!("yes, MRA {}", short(&mra)),
                        (Some(true), None) => "yes".into(),
                        (Some(false), _) => "no".into(),
                        (None, _) => "-".into(),
                    };
                    println!(
                        "{:<10} {:<10} {:<6} {}",
                        p.programme.as_str(),
                        p.standing,
                        plain(&serde_json::to_value(p.aeo_type)?),
                        recognised
                    );
                }
                records_table(&a.history);
            }
        }
        Get::Declaration { mrn, ucr } => {
            if mrn.is_none() && ucr.is_none() {
                bail!("give --mrn, --ucr, or both");
            }
            let mrn = mrn.map(|m| Mrn::parse(&m)).transpose()?;
            let ucr = ucr.map(|u| Ucr::parse(&u)).transpose()?;
            let d = client.declaration(mrn.as_ref(), ucr.as_ref()).await?;
            if json {
                print_json(&d)?;
            } else {
                for r in &d.decisions {
                    let current = if d.current.contains(&r.id) {
                        "current"
                    } else {
                        "superseded"
                    };
                    let decision = match &r.record {
                        Record::ClearanceDecision(c) => plain(&serde_json::to_value(c.decision)?),
                        _ => String::new(),
                    };
                    println!("{}  {:<20} {current}", record_line(r), decision);
                }
            }
        }
    }
    Ok(())
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}
