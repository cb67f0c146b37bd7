//! Membership changes with real `clearance-node` processes: a fifth administration is admitted (its node syncs
//! from genesis as a follower, then votes), a member is removed (its node is cut off and can no longer affect
//! consensus), and a validator key is rotated while its node runs, while the chain keeps committing. Each step
//! is proven by a commit that could not happen otherwise: one member is stopped so that the quorum needs the
//! vote that the change brought in.

use clearance_core::Hash32;
use clearance_core::ids::{CertificateNumber, CountryCode, ReasonCode, Text};
use clearance_core::record::*;
use clearance_genesis::keys::{KeyFile, KeyKind};
use clearance_tests::cluster::{Cluster, Submitter};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// Submits `tx` through node `node` and waits until every node in `on` has it accepted.
fn accepted(cluster: &Cluster, node: usize, tx: &clearance_core::tx::SignedTx, on: &[usize]) {
    let (code, body) = cluster.submit(node, tx);
    assert_eq!(code, 202, "{}: {body}", tx.id());
    cluster.wait_until("the transaction accepted everywhere", WAIT, |c| {
        on.iter().all(|&i| {
            c.tx_status(i, &tx.id())
                .is_some_and(|s| s["status"] == "accepted")
        })
    });
}

fn status_field(cluster: &Cluster, i: usize, field: &str) -> Value {
    cluster
        .status(i)
        .map(|s| s[field].clone())
        .unwrap_or(Value::Null)
}

/// `clearance members list --json` against node `i`.
fn members_json(cluster: &Cluster, i: usize) -> Value {
    let out = clearance_tests::run(
        "clearance",
        &["--node", &cluster.nodes[i].api, "--json", "members", "list"],
    );
    assert!(out.status.success(), "{}", clearance_tests::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn approve(admin: &mut Submitter, proposal: Hash32) -> clearance_core::tx::SignedTx {
    let member = admin.member.clone();
    admin.sign(Record::MembershipApprove(MembershipApprove {
        proposal,
        member,
    }))
}

#[test]
fn members_are_admitted_removed_and_rotate_keys_while_the_chain_commits() {
    let mut cluster = Cluster::start(4);
    let mut agency = cluster.submitter(0, "agency");
    let before = agency.certificate(1);
    accepted(&cluster, 0, &before, &[0, 1, 2, 3]);

    // TJ creates its home as a new administration would, and hands over its validator key and peer id.
    let tj = cluster.add_node("TJ");
    let home = cluster.home(tj).to_path_buf();
    let validator = KeyFile::load(&home.join("validator_key.json"), KeyKind::Validator).unwrap();
    let network = KeyFile::load(&home.join("node_key.json"), KeyKind::Network).unwrap();
    let tj_admin = KeyFile::generate(KeyKind::Submitter).unwrap();
    std::fs::create_dir_all(home.join("keys")).unwrap();
    tj_admin.write_new(&home.join("keys/admin.json")).unwrap();
    let port = cluster.nodes[tj].p2p_port;

    // KZ proposes the admission with the CLI, as the runbook in docs/node.md does.
    let kz_admin_file = cluster.home(0).join("keys/admin.json");
    let out = clearance_tests::run(
        "clearance",
        &[
            "--node",
            &cluster.nodes[0].api,
            "--json",
            "members",
            "propose",
            "--reason",
            "Tajikistan joins the pilot",
            "--key",
            kz_admin_file.to_str().unwrap(),
            "admit",
            "--id",
            "TJ",
            "--name",
            "Customs Service of Tajikistan",
            "--validator-key",
            &validator.public_key().to_string(),
            "--peer-id",
            &network.peer_key().to_peer_id(),
            "--address",
            &format!("/ip4/127.0.0.1/tcp/{port}"),
            "--submitter-key",
            &tj_admin.public_key().to_string(),
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        clearance_tests::stdout(&out),
        clearance_tests::stderr(&out)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "accepted", "{answer}");
    let proposal = Hash32::from_hex(answer["tx_id"].as_str().unwrap()).unwrap();
    let mut admins: Vec<Submitter> = (0..4).map(|i| cluster.submitter(i, "admin")).collect();
    admins[0].sequence += 1;
    let listed = members_json(&cluster, 1);
    assert_eq!(listed["proposals"][0]["status"], "open", "{listed}");
    assert_eq!(listed["proposals"][0]["counted"], 1);
    assert_eq!(listed["proposals"][0]["needed"], 3);

    // Named by an open admission, TJ's node may connect: it syncs as a follower, without voting.
    cluster.start_node(tj);
    cluster.wait_until("TJ synced as a follower", WAIT, |c| {
        c.height(tj)
            .is_some_and(|h| h >= c.height(0).unwrap_or(u64::MAX))
    });
    assert_eq!(status_field(&cluster, tj, "member"), Value::Null);
    assert_eq!(status_field(&cluster, 0, "validators"), 4);

    // DE and CN approve: with KZ's proposal, 3 of 4, a quorum. The set grows two blocks later.
    let de = approve(&mut admins[1], proposal);
    accepted(&cluster, 1, &de, &[0, 1, 2, 3]);
    let cn = approve(&mut admins[2], proposal);
    accepted(&cluster, 2, &cn, &[0, 1, 2, 3]);
    let listed = members_json(&cluster, 0);
    assert_eq!(listed["proposals"][0]["status"], "adopted", "{listed}");
    // Heights move on when there is something to commit.
    let mut n = 100;
    cluster.wait_until("TJ votes in a set of 5", WAIT, |c| {
        n += 1;
        let _ = c.submit(0, &agency.certificate(n));
        status_field(c, tj, "member") == "TJ"
            && (0..5).all(|i| status_field(c, i, "validators") == 5)
    });

    // With UZ stopped, a quorum of 5 (4) needs TJ's vote: the chain still commits.
    cluster.kill(3);
    let during = agency.certificate(2);
    accepted(&cluster, 0, &during, &[0, 1, 2, tj]);

    // UZ is removed by KZ, DE, CN and TJ (4 of 5); its node is cut off once the removal takes effect.
    let removal = admins[0].sign(Record::MembershipPropose(MembershipPropose {
        proposer: cc("KZ"),
        change: MembershipChange::Remove { member: cc("UZ") },
        reason: Text::parse("UZ leaves the pilot").unwrap(),
    }));
    accepted(&cluster, 0, &removal, &[0, 1, 2, tj]);
    for i in [1, 2] {
        let tx = approve(&mut admins[i], removal.id());
        accepted(&cluster, i, &tx, &[0, 1, 2, tj]);
    }
    // TJ approves with the CLI and its first submitter key, registered by its admission.
    let out = clearance_tests::run(
        "clearance",
        &[
            "--node",
            &cluster.nodes[tj].api,
            "--json",
            "members",
            "approve",
            &removal.id().to_hex(),
            "--key",
            home.join("keys/admin.json").to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        clearance_tests::stdout(&out),
        clearance_tests::stderr(&out)
    );
    cluster.wait_until("UZ removed: 4 validators", WAIT, |c| {
        n += 1;
        let _ = c.submit(0, &agency.certificate(n));
        [0, 1, 2, tj]
            .iter()
            .all(|&i| status_field(c, i, "validators") == 4)
    });
    let removed_at = cluster.height(0).unwrap();

    // UZ's node comes back: it is refused, learns nothing past its removal, and the others go on without it.
    cluster.start_node(3);
    let after = agency.certificate(3);
    accepted(&cluster, 1, &after, &[0, 1, 2, tj]);
    std::thread::sleep(Duration::from_secs(3));
    let uz_height = cluster.height(3).unwrap_or(0);
    assert!(
        uz_height <= removed_at,
        "UZ's node reached {uz_height}, past the removal at {removed_at}"
    );
    let peers = status_field(&cluster, 0, "peers");
    assert_eq!(
        peers.as_array().map(Vec::len),
        Some(3),
        "KZ's peers: {peers}"
    );
    cluster.kill(3);

    // KZ rotates its validator key while its node runs: the node writes the next key beside the current one,
    // KZ proposes it, DE and CN approve (3 of 4), and the node signs with it from the effective height.
    let out = clearance_tests::run(
        "clearance-node",
        &[
            "rotate-validator-key",
            "--home",
            cluster.home(0).to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", clearance_tests::stderr(&out));
    let next = KeyFile::load(
        &cluster.home(0).join("validator_key.next.json"),
        KeyKind::Validator,
    )
    .unwrap();
    let rotation = admins[0].sign(Record::MembershipPropose(MembershipPropose {
        proposer: cc("KZ"),
        change: MembershipChange::RotateValidatorKey {
            member: cc("KZ"),
            new_key: next.public_key(),
        },
        reason: Text::parse("Scheduled key rotation").unwrap(),
    }));
    let live = [0, 1, 2, tj];
    accepted(&cluster, 0, &rotation, &live);
    for i in [1, 2] {
        let tx = approve(&mut admins[i], rotation.id());
        accepted(&cluster, i, &tx, &live);
    }
    let rotated_at = cluster.height(0).unwrap() + 2;
    cluster.wait_until("the rotation in force", WAIT, |c| {
        n += 1;
        let _ = c.submit(0, &agency.certificate(n));
        live.iter()
            .all(|&i| c.height(i).is_some_and(|h| h > rotated_at))
    });
    // With DE stopped, KZ, CN and TJ are exactly a quorum of 4: a commit now needs KZ's vote with its new key.
    cluster.kill(1);
    let rotated = agency.certificate(4);
    accepted(&cluster, 0, &rotated, &[0, 2, tj]);
    cluster.start_node(1);
    let last = agency.certificate(5);
    accepted(&cluster, 2, &last, &[0, 1, 2, tj]);

    // DE rotates its network key while its node runs: the node switches to the new peer id after the adoption,
    // without a restart, and once the rotation is in force the others refuse the old one.
    let out = clearance_tests::run(
        "clearance-node",
        &[
            "rotate-network-key",
            "--home",
            cluster.home(1).to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", clearance_tests::stderr(&out));
    let old_peer = status_field(&cluster, 1, "node_id");
    let next_peer = KeyFile::load(
        &cluster.home(1).join("node_key.next.json"),
        KeyKind::Network,
    )
    .unwrap()
    .peer_key();
    let network_rotation = admins[1].sign(Record::MembershipPropose(MembershipPropose {
        proposer: cc("DE"),
        change: MembershipChange::RotateNetworkKey {
            member: cc("DE"),
            new_peer_id: next_peer,
        },
        reason: Text::parse("Node moved to a new host").unwrap(),
    }));
    accepted(&cluster, 1, &network_rotation, &live);
    for i in [0, 2] {
        let tx = approve(&mut admins[i], network_rotation.id());
        accepted(&cluster, i, &tx, &live);
    }
    let rotated_at = cluster.height(0).unwrap() + 2;
    cluster.wait_until("the network key rotation in force", WAIT, |c| {
        n += 1;
        let _ = c.submit(0, &agency.certificate(n));
        [0, 2, tj]
            .iter()
            .all(|&i| c.height(i).is_some_and(|h| h > rotated_at))
    });
    cluster.wait_until(
        "DE connected under its new peer id, no restart",
        WAIT,
        |c| {
            let others_see_new = [0, 2, tj].iter().all(|&i| {
                c.status(i).is_some_and(|s| {
                    let peers = s["peers"].as_array().cloned().unwrap_or_default();
                    peers.contains(&Value::from(next_peer.to_peer_id()))
                        && !peers.contains(&old_peer)
                })
            });
            others_see_new
                && c.status(1).is_some_and(|s| {
                    s["node_id"] == next_peer.to_peer_id()
                        && s["peers"].as_array().is_some_and(|p| p.len() == 3)
                })
        },
    );
    let after_rotation = agency.certificate(6);
    accepted(&cluster, 1, &after_rotation, &[0, 1, 2, tj]);

    // The certificate from before every change is revoked after them: the bundle's later record.
    let revoke = agency.sign(Record::CertificateRevoke(CertificateRevoke {
        certificate: CertificateRef {
            issuer: cc("KZ"),
            number: CertificateNumber::parse("KZ-PC-2026-000001").unwrap(),
        },
        effective_on: clearance_core::time::Date::parse("2026-11-29").unwrap(),
        reason_code: ReasonCode::parse("ISSUED_IN_ERROR").unwrap(),
        reason: Text::parse("Consignment split; a new certificate replaces it").unwrap(),
    }));
    accepted(&cluster, 0, &revoke, &[0, 1, 2, tj]);

    // An auditor with nothing but the genesis file verifies the record from before every change: the bundle
    // carries the three changes, each certified by the set before it.
    let bundle = cluster.dir.path().join("before.json");
    let api = cluster.nodes[2].api.clone();
    let out = clearance_tests::run(
        "clearance",
        &[
            "--node",
            &api,
            "proof",
            &before.id().to_hex(),
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", clearance_tests::stderr(&out));
    let genesis = cluster.dir.path().join("net/genesis.json");
    let out = clearance_tests::run(
        "clearance",
        &[
            "--json",
            "verify",
            "--genesis",
            genesis.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
        ],
    );
    // It verifies, and says first that the certificate is revoked: exit 3, not 0.
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        clearance_tests::stdout(&out)
    );
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(verdict["status"], "revoked", "{verdict}");
    let changes = verdict["verdict"]["validator_set_changes"]
        .as_array()
        .unwrap();
    assert_eq!(changes.len(), 3, "admission, removal, rotation: {verdict}");
    // Each with the records that adopted it: the proposal, and approvals from a quorum of the members then.
    let adopted: Vec<&Value> = changes
        .iter()
        .flat_map(|c| c["adopted"].as_array().unwrap())
        .collect();
    let kinds: Vec<&str> = adopted
        .iter()
        .map(|a| a["change"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3, "{verdict}");
    assert!(kinds[0].starts_with("admit TJ"), "{kinds:?}");
    assert!(kinds[1].starts_with("remove UZ"), "{kinds:?}");
    assert!(
        kinds[2].starts_with("rotate the validator key of KZ"),
        "{kinds:?}"
    );
    assert!(
        adopted
            .iter()
            .all(|a| a["approved_by"].as_array().unwrap().len() >= 3),
        "{verdict}"
    );
    let anchor_signers = verdict["verdict"]["anchor"]["signers"].as_array().unwrap();
    // Certified by a quorum of the set in force at the anchor: KZ, DE, CN and TJ; never by UZ, removed.
    assert!(anchor_signers.len() >= 3, "{verdict}");
    assert!(
        anchor_signers
            .iter()
            .all(|s| ["KZ", "DE", "CN", "TJ"].contains(&s["member"].as_str().unwrap_or(""))),
        "the anchor is certified by the set in force: {verdict}"
    );
    assert_eq!(verdict["verdict"]["later"][0]["kind"], "certificate_revoke");

    // `CLEARANCE_AUDIT_EXAMPLE=docs/audit-example` regenerates the worked example of docs/audit.md §7 from this run.
    if let Some(dir) = std::env::var_os("CLEARANCE_AUDIT_EXAMPLE") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::copy(&genesis, dir.join("genesis.json")).unwrap();
        std::fs::copy(&bundle, dir.join("bundle.json")).unwrap();
        std::fs::write(dir.join("document.txt"), "certificate 1").unwrap();
        // Status proofs of a valid certificate (issued after the key rotation) and of one never issued.
        for (file, number, code) in [
            ("status-valid.json", "KZ-PC-2026-000006", 0),
            ("status-absent.json", "KZ-PC-2026-999999", 3),
        ] {
            let out = clearance_tests::run(
                "clearance",
                &[
                    "--node",
                    &api,
                    "status-of",
                    "certificate",
                    "KZ",
                    number,
                    "--genesis",
                    genesis.to_str().unwrap(),
                    "-o",
                    dir.join(file).to_str().unwrap(),
                ],
            );
            assert_eq!(
                out.status.code(),
                Some(code),
                "{}",
                clearance_tests::stdout(&out)
            );
        }
        eprintln!("wrote the worked example to {}", dir.display());
    }
}
