//! A cluster of real `clearance-node` processes on 127.0.0.1, in a temporary directory, built by
//! `clearance-genesis testnet`. Nodes are killed when the cluster is dropped, and the directory removed.

use crate::binary;
use clearance_core::Hash32;
use clearance_core::crypto::SecretKey;
use clearance_core::ids::*;
use clearance_core::record::*;
use clearance_core::time::Date;
use clearance_core::tx::{SignedTx, TxBody};
use clearance_genesis::keys::{KeyFile, KeyKind};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Node {
    pub id: String,
    pub home: PathBuf,
    pub api: String,
    pub p2p_port: u16,
    child: Option<Child>,
    starts: u32,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    pub chain_id: Hash32,
}

/// A base port such that every port the testnet uses (two per member) is free right now. Ports are drawn
/// below Linux's ephemeral range (32768 and up), so that no outgoing connection of a concurrent test can take a
/// port a restarted node needs again.
fn free_base_port(members: usize) -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    for attempt in 0..500u64 {
        let base = 20_000 + ((seed.wrapping_mul(7919) + attempt * 104_729) % 12_000) as u16;
        let base = base & !1;
        if (0..2 * members as u16).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range found");
}

impl Cluster {
    /// Writes a testnet of `members` and starts every node.
    pub fn start(members: usize) -> Cluster {
        let mut cluster = Cluster::create(members);
        for i in 0..members {
            cluster.start_node(i);
        }
        cluster.wait_until(
            "every node connected to every other",
            Duration::from_secs(30),
            |c| {
                (0..members).all(|i| {
                    c.status(i)
                        .and_then(|s| s["peers"].as_array().map(Vec::len))
                        .is_some_and(|n| n + 1 == members)
                })
            },
        );
        cluster
    }

    /// Writes a testnet of `members` without starting anything.
    pub fn create(members: usize) -> Cluster {
        let mut dir = tempfile::tempdir().expect("temporary directory");
        // To read the nodes' logs and data after a failure: CLUSTER_KEEP=1 leaves the directory in place.
        if std::env::var_os("CLUSTER_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("CLUSTER_KEEP: keeping {}", dir.path().display());
        }
        let out = dir.path().join("net");
        let base = free_base_port(members);
        let created = Command::new(binary("clearance-genesis"))
            .args(["testnet", "--members", &members.to_string(), "--out"])
            .arg(&out)
            .args(["--base-port", &base.to_string()])
            .output()
            .expect("running clearance-genesis");
        assert!(
            created.status.success(),
            "clearance-genesis testnet: {}",
            String::from_utf8_lossy(&created.stderr)
        );
        let manifest: Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("testnet.json")).expect("manifest"),
        )
        .expect("manifest JSON");
        let chain_id = Hash32::from_hex(manifest["chain_id"].as_str().expect("chain_id"))
            .expect("chain id hex");
        let nodes = manifest["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| Node {
                id: m["id"].as_str().expect("id").to_string(),
                home: PathBuf::from(m["home"].as_str().expect("home")),
                api: m["api_url"].as_str().expect("api_url").to_string(),
                p2p_port: m["p2p_port"].as_u64().expect("p2p_port") as u16,
                child: None,
                starts: 0,
            })
            .collect();
        Cluster {
            dir,
            nodes,
            chain_id,
        }
    }

    /// Creates the home of a node that is not in genesis (`clearance-node init` with the testnet's genesis), as a
    /// new administration would, and returns its index. It is not started.
    pub fn add_node(&mut self, id: &str) -> usize {
        let home = self.dir.path().join("net").join(id.to_lowercase());
        let base = free_base_port(1);
        let out = Command::new(binary("clearance-node"))
            .args(["init", "--moniker", id, "--home"])
            .arg(&home)
            .arg("--genesis")
            .arg(self.dir.path().join("net/genesis.json"))
            .args(["--p2p-listen", &format!("/ip4/127.0.0.1/tcp/{base}")])
            .args(["--api-listen", &format!("127.0.0.1:{}", base + 1)])
            .output()
            .expect("running clearance-node init");
        assert!(
            out.status.success(),
            "clearance-node init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.nodes.push(Node {
            id: id.to_string(),
            home,
            api: format!("http://127.0.0.1:{}", base + 1),
            p2p_port: base,
            child: None,
            starts: 0,
        });
        self.nodes.len() - 1
    }

    pub fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {} is already running", node.id);
        node.starts += 1;
        let log = std::fs::File::create(node.home.join(format!("node-{}.log", node.starts)))
            .expect("log file");
        let child = Command::new(binary("clearance-node"))
            .args(["start", "--home"])
            .arg(&node.home)
            .env(
                "RUST_LOG",
                std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("RUST_BACKTRACE", "0")
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .expect("starting clearance-node");
        node.child = Some(child);
    }

    /// `kill -9`: no chance to flush or clean up.
    /// The process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self, i: usize) -> std::process::ExitStatus {
        let mut child = self.nodes[i].child.take().expect("node is running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("node {} ignored SIGTERM", self.nodes[i].id);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn status(&self, i: usize) -> Option<Value> {
        get_json(&format!("{}/v1/status", self.nodes[i].api))
    }

    pub fn height(&self, i: usize) -> Option<u64> {
        self.status(i).and_then(|s| s["height"].as_u64())
    }

    /// The log of every start of node `i`, for failure messages.
    pub fn logs(&self, i: usize) -> String {
        let node = &self.nodes[i];
        let mut out = String::new();
        for n in 1..=node.starts {
            let text = std::fs::read_to_string(node.home.join(format!("node-{n}.log")))
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- {} start {n} (last 40 lines) ---\n", node.id));
            // A panic's message is above its backtrace: keep it whatever the tail holds.
            for (i, line) in text.lines().enumerate() {
                if line.contains("panicked at") || line.starts_with("Error:") {
                    for l in text.lines().skip(i).take(3) {
                        out.push_str(l);
                        out.push('\n');
                    }
                }
            }
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    pub fn all_logs(&self) -> String {
        (0..self.nodes.len()).map(|i| self.logs(i)).collect()
    }

    /// Waits until `check` holds, or panics with `what` and the nodes' logs.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Cluster) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if check(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "timed out after {timeout:?} waiting for {what}\n{}",
            self.all_logs()
        );
    }

    /// Submits signed transaction bytes to node `i`; returns the HTTP status and the JSON answer.
    pub fn submit(&self, i: usize, tx: &SignedTx) -> (u16, Value) {
        post_bytes(&format!("{}/v1/txs", self.nodes[i].api), &tx.to_bytes())
    }

    /// The status of a transaction at node `i`: `pending`, `accepted`, `rejected` or `unknown`.
    pub fn tx_status(&self, i: usize, id: &Hash32) -> Option<Value> {
        get_json(&format!("{}/v1/txs/{}", self.nodes[i].api, id.to_hex()))
    }

    pub fn submitter(&self, i: usize, which: &str) -> Submitter {
        let key = KeyFile::load(
            &self.nodes[i].home.join(format!("keys/{which}.json")),
            KeyKind::Submitter,
        )
        .expect("submitter key file");
        Submitter {
            member: CountryCode::parse(&self.nodes[i].id).expect("member id"),
            key: key.secret,
            chain_id: self.chain_id,
            sequence: 0,
        }
    }

    pub fn home(&self, i: usize) -> &Path {
        &self.nodes[i].home
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Signs transactions for one member's submitter key, numbering them in sequence.
pub struct Submitter {
    pub member: CountryCode,
    pub key: SecretKey,
    pub chain_id: Hash32,
    pub sequence: u64,
}

impl Submitter {
    pub fn sign(&mut self, record: Record) -> SignedTx {
        self.sequence += 1;
        let body = TxBody {
            chain_id: self.chain_id,
            submitter: self.key.public_key(),
            sequence: self.sequence,
            record,
        };
        SignedTx::sign(&body, &self.key)
    }

    /// A phytosanitary certificate issued by this member, numbered `n`.
    pub fn certificate(&mut self, n: u64) -> SignedTx {
        let member = self.member.clone();
        let destination = if member.as_str() == "DE" { "KZ" } else { "DE" };
        let record = Record::CertificateIssue(CertificateIssue {
            certificate: CertificateBody {
                cert_type: CertificateType::Phytosanitary,
                number: CertificateNumber::parse(&format!("{member}-PC-2026-{n:06}"))
                    .expect("certificate number"),
                issuer: member.clone(),
                authority: Text::parse("Plant quarantine inspectorate").expect("text"),
                issued_on: Date::parse("2026-11-20").expect("date"),
                valid_until: Some(Date::parse("2027-02-20").expect("date")),
                exporter: None,
                importer: None,
                origin_country: member,
                destination_country: CountryCode::parse(destination).expect("country"),
                hs_codes: vec![HsCode::parse("100199").expect("hs code")],
                document_sha256: Hash32::sha256(format!("certificate {n}").as_bytes()),
            },
        });
        self.sign(record)
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build()
}

/// GET a JSON document; `None` when the node does not answer.
pub fn get_json(url: &str) -> Option<Value> {
    match agent().get(url).call() {
        Ok(resp) => resp.into_json().ok(),
        Err(ureq::Error::Status(_, resp)) => resp.into_json().ok(),
        Err(_) => None,
    }
}

/// POST bytes; returns the HTTP status (0 when the node does not answer) and the JSON answer.
pub fn post_bytes(url: &str, bytes: &[u8]) -> (u16, Value) {
    let result = agent()
        .post(url)
        .set("Content-Type", "application/octet-stream")
        .send_bytes(bytes);
    match result {
        Ok(resp) => (resp.status(), resp.into_json().unwrap_or(Value::Null)),
        Err(ureq::Error::Status(code, resp)) => (code, resp.into_json().unwrap_or(Value::Null)),
        Err(_) => (0, Value::Null),
    }
}
