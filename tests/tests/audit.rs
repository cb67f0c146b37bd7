//! Proof bundles from a real 4-node cluster, verified offline with only the genesis: the record, its document,
//! a later revocation, checkpoints and consistency; and every field of a real bundle tampered with, each
//! tampering refused with a reason that names the step.
//!
//! With `CLEARANCE_WRITE_AUDIT_EXAMPLE=DIR`, the test also writes the genesis, bundle and document it verified
//! into DIR: that is how `docs/audit-example/` was made.

use clearance_core::SecretKey;
use clearance_core::audit::{
    AuditError, ProofBundle, verify_bundle, verify_checkpoint, verify_extension,
};
use clearance_core::block::{Header, HeaderView};
use clearance_core::genesis::Genesis;
use clearance_core::hash::Hash32;
use clearance_core::record::Record;
use clearance_core::vote::{CommitCertificate, SignedVote};
use clearance_tests::cluster::{Cluster, get_json};
use serde_json::{Value, json};
use std::time::Duration;

/// Accepted on every node: the tests read proofs from nodes other than the one they submit to.
fn accepted(cluster: &Cluster, id: &Hash32) -> bool {
    (0..cluster.nodes.len()).all(|i| {
        cluster
            .tx_status(i, id)
            .is_some_and(|s| s["status"] == "accepted")
    })
}

fn submit(cluster: &Cluster, tx: &clearance_core::tx::SignedTx) -> Hash32 {
    let (code, answer) = cluster.submit(0, tx);
    assert_eq!(code, 202, "submit: {answer}");
    let id = tx.id();
    cluster.wait_until(
        "the record commits on every node",
        Duration::from_secs(20),
        |c| accepted(c, &id),
    );
    id
}

fn refusal(genesis: &Genesis, bundle: &Value, document: Option<&[u8]>) -> AuditError {
    let bytes = serde_json::to_vec(bundle).unwrap();
    match verify_bundle(genesis, &bytes, document) {
        Ok(_) => panic!("a tampered bundle verified: {bundle}"),
        Err(e) => e,
    }
}

fn expect_step(genesis: &Genesis, bundle: &Value, step: &str, what: &str) {
    let e = refusal(genesis, bundle, None);
    assert!(
        e.step.0 == step || e.step.0.starts_with(&format!("{step}.")),
        "{what}: failed at {e}, expected step {step}"
    );
}

/// Changes one character of a hex or base64 string to another valid character.
fn flip_char(s: &str, at: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = at % chars.len().max(1);
    chars[i] = match chars[i] {
        '0' => '1',
        'A' => 'B',
        'a' => 'b',
        '=' => return format!("{s}A"),
        _ => '0',
    };
    chars.into_iter().collect()
}

/// Every leaf of the JSON document, by path, with its value.
fn leaves(value: &Value, path: Vec<Value>, out: &mut Vec<(Vec<Value>, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut p = path.clone();
                p.push(json!(k));
                leaves(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut p = path.clone();
                p.push(json!(i));
                leaves(v, p, out);
            }
        }
        leaf => out.push((path, leaf.clone())),
    }
}

fn at<'a>(value: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(value, |v, key| match key {
        Value::String(k) => &mut v[k.as_str()],
        Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_b64(v: &Value) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

#[test]
fn bundles_checkpoints_and_every_tampering() {
    let cluster = Cluster::start(4);
    let api = cluster.nodes[1].api.clone();
    let genesis_text = std::fs::read_to_string(cluster.home(0).join("genesis.json")).unwrap();
    let genesis = Genesis::from_json(&genesis_text).unwrap();
    let mut agency = cluster.submitter(0, "agency");

    // Before any block there is nothing to keep (the first, empty block may already be there).
    let early = get_json(&format!("{api}/v1/checkpoint")).unwrap();
    if early.get("code").is_some() {
        assert_eq!(early["code"], "NO_BLOCKS", "{early}");
    } else {
        verify_checkpoint(&genesis, &serde_json::to_vec(&early).unwrap()).unwrap();
    }
    submit(&cluster, &agency.certificate(100));
    let checkpoint_before = get_json(&format!("{api}/v1/checkpoint"));

    // The record, a few unrelated ones, then its revocation.
    let issue = agency.certificate(1);
    let document = b"certificate 1".to_vec();
    let record_id = submit(&cluster, &issue);
    for n in 2..6 {
        submit(&cluster, &agency.certificate(n));
    }
    let Record::CertificateIssue(issued) = issue.verify(&cluster.chain_id).unwrap().body.record
    else {
        unreachable!()
    };
    let revoke: Record = serde_json::from_value(json!({ "certificate_revoke": {
        "certificate": { "issuer": issued.certificate.issuer, "number": issued.certificate.number },
        "effective_on": "2026-11-25",
        "reason_code": "ISSUED_IN_ERROR",
        "reason": "Consignment withdrawn by the exporter"
    }}))
    .unwrap();
    let revoke_id = submit(&cluster, &agency.sign(revoke));

    // Fetched from another node than the one it was submitted to.
    let bundle = get_json(&format!("{api}/v1/proofs/records/{record_id}")).unwrap();
    let bytes = serde_json::to_vec(&bundle).unwrap();
    println!("bundle: {} bytes of JSON", bytes.len());
    let verdict = verify_bundle(&genesis, &bytes, Some(&document)).expect("the bundle verifies");
    assert_eq!(verdict.record.id, record_id);
    assert_eq!(verdict.record.member.as_str(), cluster.nodes[0].id);
    assert!(verdict.record.signers.len() >= 3);
    assert!(verdict.document.as_ref().is_some_and(|d| d.matches));
    assert_eq!(verdict.later.len(), 1, "the revocation is later status");
    assert_eq!(verdict.later[0].id, revoke_id);
    assert_eq!(verdict.later[0].kind, "certificate_revoke");
    let status = verdict.status.as_ref().expect("a certificate has a status");
    assert_eq!(status.status, "revoked", "the status says it first");
    assert!(!status.good);
    assert_eq!(status.record, Some(revoke_id));
    assert!(
        status.headline.starts_with("REVOKED on "),
        "{}",
        status.headline
    );

    if let Ok(dir) = std::env::var("CLEARANCE_WRITE_AUDIT_EXAMPLE") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("genesis.json"), &genesis_text).unwrap();
        std::fs::write(
            dir.join("bundle.json"),
            serde_json::to_string_pretty(&bundle).unwrap() + "\n",
        )
        .unwrap();
        std::fs::write(dir.join("document.txt"), &document).unwrap();
    }

    // Checkpoints: the one kept before the records is extended by the current head.
    let old = checkpoint_before.unwrap();
    let old_bytes = serde_json::to_vec(&old).unwrap();
    verify_checkpoint(&genesis, &old_bytes).expect("the old checkpoint verifies");
    let new = get_json(&format!("{api}/v1/checkpoint")).unwrap();
    verify_checkpoint(&genesis, &serde_json::to_vec(&new).unwrap()).unwrap();
    let proof = get_json(&format!(
        "{api}/v1/proofs/consistency?from={}&to={}",
        old["height"], new["height"]
    ))
    .unwrap();
    let extension = verify_extension(&genesis, &old_bytes, &serde_json::to_vec(&proof).unwrap())
        .expect("the new head extends the old checkpoint");
    assert!(extension.head.log_size >= extension.old.unwrap().log_size + 6);
    let mut bad_proof = proof.clone();
    if let Some(first) = bad_proof["proof"].get_mut(0) {
        *first = json!(flip_char(first.as_str().unwrap(), 3));
        let e = verify_extension(
            &genesis,
            &old_bytes,
            &serde_json::to_vec(&bad_proof).unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.step.0, "consistency", "{e}");
    }

    // Every leaf of the bundle, changed: each change is refused.
    let mut all = Vec::new();
    leaves(&bundle, vec![], &mut all);
    assert!(all.len() >= 15, "{} leaves", all.len());
    for (path, value) in &all {
        for variant in 0..2 {
            let mut tampered = bundle.clone();
            let slot = at(&mut tampered, path);
            *slot = match value {
                Value::String(s) => json!(flip_char(s, variant * 7 + 5)),
                Value::Number(n) => json!(n.as_u64().unwrap() + 1 + variant as u64),
                other => panic!("unexpected leaf {other}"),
            };
            let e = refusal(&genesis, &tampered, Some(&document));
            assert!(!e.reason.is_empty(), "{path:?}");
        }
    }

    // The status section: left out, or taken from another certificate's status proof.
    let mut b = bundle.clone();
    b.as_object_mut().unwrap().remove("status");
    expect_step(&genesis, &b, "status", "a bundle without its status");
    let issuer = &issued.certificate.issuer;
    let other = get_json(&format!(
        "{api}/v1/proofs/status/certificates/{issuer}/{issuer}-PC-2026-000002"
    ))
    .unwrap();
    assert!(other["status"]["value"].is_string(), "{other}");
    let mut b = bundle.clone();
    b["status"] = other["status"].clone();
    expect_step(&genesis, &b, "status.proof", "another certificate's status");
    let never = get_json(&format!(
        "{api}/v1/proofs/status/certificates/{issuer}/{issuer}-PC-2026-999999"
    ))
    .unwrap();
    assert!(never["status"].get("value").is_none(), "{never}");
    let mut b = bundle.clone();
    b["status"] = never["status"].clone();
    expect_step(
        &genesis,
        &b,
        "status.proof",
        "an absence proof for a recorded certificate",
    );

    // Named tamperings, each with the step it must fail at.
    let record_tx = decode_b64(&bundle["record"]["signed_tx"]);
    let mut flipped = record_tx.clone();
    let last = flipped.len() - 70;
    flipped[last] ^= 1;
    let mut b = bundle.clone();
    b["record"]["signed_tx"] = json!(b64(&flipped));
    expect_step(
        &genesis,
        &b,
        "record.decode",
        "a flipped byte in the record",
    );

    let e = refusal(&genesis, &bundle, Some(b"another document"));
    assert_eq!(e.step.0, "document", "{e}");

    let mut b = bundle.clone();
    b["record"]["log_path"] = bundle["later"][0]["log_path"].clone();
    b["record"]["log_index"] = bundle["later"][0]["log_index"].clone();
    expect_step(&genesis, &b, "record", "a path for another index");

    let mut b = bundle.clone();
    b["chain_id"] = json!(Hash32::sha256(b"other chain").to_hex());
    expect_step(&genesis, &b, "chain", "another chain id");

    let mut b = bundle.clone();
    b["version"] = json!(2);
    expect_step(&genesis, &b, "format", "another version");

    // Validator-set changes the ledger never made: at height 1 (genesis decides it), and one announced by a
    // header that announces no new set (its set bytes do not decode, nor match).
    let mut b = bundle.clone();
    b["validator_set_changes"] = json!([{ "height": 1, "validator_set": "", "proof": bundle["anchor"],
                 "adopting": bundle["anchor"], "adopted": [] }]);
    expect_step(
        &genesis,
        &b,
        "validator-set[0].height",
        "a change at height 1",
    );
    let anchor_height = HeaderView::from_bytes(&decode_b64(&bundle["anchor"]["header"]))
        .unwrap()
        .header
        .height;
    let mut b = bundle.clone();
    b["validator_set_changes"] = json!([{
        "height": anchor_height + 1,
        "validator_set": "",
        "proof": bundle["anchor"],
        "adopting": bundle["anchor"],
        "adopted": []
    }]);
    expect_step(&genesis, &b, "validator-set[0].set", "a change with no set");

    // A header from another chain, re-encoded so that it decodes.
    let anchor_header = HeaderView::from_bytes(&decode_b64(&bundle["anchor"]["header"])).unwrap();
    let mut foreign: Header = anchor_header.header.clone();
    foreign.chain_id = Hash32::sha256(b"other chain");
    let mut b = bundle.clone();
    b["anchor"]["header"] = json!(b64(&foreign.to_bytes()));
    expect_step(&genesis, &b, "anchor.header", "a header from another chain");

    // Certificates with too few, repeated or foreign signers.
    let cert =
        CommitCertificate::from_bytes(&decode_b64(&bundle["anchor"]["certificate"])).unwrap();
    let with = |precommits: Vec<SignedVote>| {
        let mut b = bundle.clone();
        let c = CommitCertificate {
            precommits,
            ..cert.clone()
        };
        b["anchor"]["certificate"] = json!(b64(&c.to_bytes()));
        b
    };
    let f_plus_1 = with(cert.precommits[..2].to_vec());
    expect_step(&genesis, &f_plus_1, "anchor.certificate", "f+1 signatures");
    assert!(refusal(&genesis, &f_plus_1, None).reason.contains("quorum"));
    let mut repeated = cert.precommits.clone();
    repeated[1] = repeated[0].clone();
    let duplicate = with(repeated);
    expect_step(
        &genesis,
        &duplicate,
        "anchor.certificate",
        "a duplicate signer",
    );
    let vote = cert.precommits[0]
        .verify(&cluster.chain_id, &genesis.validator_set().unwrap())
        .unwrap();
    let outsider = SignedVote::sign(&vote, &SecretKey::from_seed([77; 32]));
    let mut foreign_signer = cert.precommits.clone();
    foreign_signer[0] = outsider;
    expect_step(
        &genesis,
        &with(foreign_signer),
        "anchor.certificate",
        "a signer not in the set",
    );

    // Truncated, not JSON, and an empty later list: the revocation left out, which the status proof exposes.
    let text = serde_json::to_string(&bundle).unwrap();
    let e = verify_bundle(&genesis, &text.as_bytes()[..text.len() / 2], None).unwrap_err();
    assert_eq!(e.step.0, "parse", "{e}");
    let e = verify_bundle(&genesis, b"%PDF-1.7 not a bundle", None).unwrap_err();
    assert_eq!(e.step.0, "parse", "{e}");
    let mut b = bundle.clone();
    b["later"] = json!([]);
    expect_step(
        &genesis,
        &b,
        "status.record",
        "a bundle without the revocation that set the status",
    );

    // A later record that is not about this certificate.
    let other = get_json(&format!(
        "{api}/v1/proofs/records/{}",
        agency.certificate(99).id()
    ));
    assert_eq!(other.unwrap()["code"], "RECORD_NOT_FOUND");
    let mut b = bundle.clone();
    let unrelated: ProofBundle = serde_json::from_value(bundle.clone()).unwrap();
    let mut later = unrelated.record.clone();
    later.log_index = unrelated.later[0].log_index;
    b["later"] = json!([serde_json::to_value(&later).unwrap()]);
    assert!(refusal(&genesis, &b, None).step.0.starts_with("later[0]"));
}

/// Runs the `clearance` CLI; returns its exit code and standard output.
fn clearance(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(clearance_tests::binary("clearance"))
        .args(args)
        .output()
        .expect("running clearance");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn the_cli_proves_verifies_and_keeps_checkpoints() {
    let cluster = Cluster::start(4);
    let api = cluster.nodes[2].api.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let genesis = cluster.home(0).join("genesis.json");
    let genesis = genesis.to_str().unwrap();
    let mut agency = cluster.submitter(1, "agency");

    submit(&cluster, &agency.certificate(1));
    let (code, out) = clearance(&[
        "--node",
        &api,
        "checkpoint",
        "save",
        "--genesis",
        genesis,
        "-o",
        &path("kept.json"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("VERIFIED"), "{out}");

    let id = submit(&cluster, &agency.certificate(2)).to_hex();
    std::fs::write(path("document.pdf"), b"certificate 2").unwrap();
    let (code, out) = clearance(&["--node", &api, "proof", &id, "-o", &path("bundle.json")]);
    assert_eq!(code, 0, "{out}");

    // Offline: the node address points nowhere.
    let offline = ["--node", "http://127.0.0.1:9"];
    let verify = |extra: &[&str]| {
        let mut args = offline.to_vec();
        args.extend(["verify", "--genesis", genesis, "--bundle"]);
        args.extend(extra);
        clearance(&args)
    };
    let bundle = path("bundle.json");
    let document = path("document.pdf");
    let (code, out) = verify(&[&bundle, "--document", &document]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("VALID as of "),
        "the status comes first:\n{out}"
    );
    for expected in [
        "VERIFIED",
        "certificate_issue",
        "DE",
        "certified by",
        "matches the record",
    ] {
        assert!(out.contains(expected), "{expected} missing from:\n{out}");
    }
    let (code, out) = clearance(&[
        "--json",
        "verify",
        "--genesis",
        genesis,
        "--bundle",
        &bundle,
    ]);
    assert_eq!(code, 0, "{out}");
    let verdict: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["verified"], true);
    assert_eq!(verdict["status"], "valid");
    assert_eq!(verdict["good"], true);
    assert_eq!(verdict["verdict"]["record"]["id"], json!(id));

    // The officer's command: from the document alone to a verified status.
    let (code, out) = clearance(&[
        "--node",
        &api,
        "check",
        &document,
        "--genesis",
        genesis,
        "-o",
        &path("checked.json"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("VALID as of "), "{out}");
    assert!(out.contains("matches the record"), "{out}");
    std::fs::write(path("unknown.pdf"), b"a document nobody recorded").unwrap();
    let (code, out) = clearance(&[
        "--node",
        &api,
        "check",
        &path("unknown.pdf"),
        "--genesis",
        genesis,
    ]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("NOT FOUND"), "{out}");

    // Status proofs: a never-recorded certificate, then a revoked one; both exit 3.
    let issuer = cluster.nodes[1].id.as_str();
    let status_of = |number: &str| {
        clearance(&[
            "--node",
            &api,
            "status-of",
            "certificate",
            issuer,
            number,
            "--genesis",
            genesis,
            "-o",
            &path("status.json"),
        ])
    };
    let (code, out) = status_of(&format!("{issuer}-PC-2026-999999"));
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("NOT RECORDED"), "{out}");
    let number = format!("{issuer}-PC-2026-000001");
    let revoke: Record = serde_json::from_value(json!({ "certificate_revoke": {
        "certificate": { "issuer": issuer, "number": number },
        "effective_on": "2026-11-25",
        "reason_code": "ISSUED_IN_ERROR",
        "reason": "Issued twice"
    }}))
    .unwrap();
    submit(&cluster, &agency.sign(revoke));
    let (code, out) = status_of(&number);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("REVOKED, as of "), "{out}");
    let (code, out) = clearance(&[
        "--json",
        "verify",
        "--genesis",
        genesis,
        "--status",
        &path("status.json"),
    ]);
    assert_eq!(code, 3, "{out}");
    let verdict: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(verdict["status"], "revoked");
    // A status older than asked is refused at its own step.
    std::thread::sleep(Duration::from_millis(1_100));
    let (code, out) = clearance(&[
        "verify",
        "--genesis",
        genesis,
        "--status",
        &path("status.json"),
        "--max-age",
        "1s",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("failed step  max-age"), "{out}");

    // Refusals exit 2 and name the step.
    std::fs::write(path("other.pdf"), b"another document").unwrap();
    let (code, out) = verify(&[&bundle, "--document", &path("other.pdf")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("failed step  document"), "{out}");
    let mut tampered: Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    tampered["record"]["tx_index"] = json!(tampered["record"]["tx_index"].as_u64().unwrap() + 1);
    std::fs::write(path("tampered.json"), tampered.to_string()).unwrap();
    let (code, out) = verify(&[&path("tampered.json")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("record.tx-inclusion"), "{out}");
    std::fs::write(
        path("truncated.json"),
        &std::fs::read(&bundle).unwrap()[..100],
    )
    .unwrap();
    let (code, out) = verify(&[&path("truncated.json")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("failed step  parse"), "{out}");

    // The kept checkpoint is extended by the node's current head, and replaced by it.
    let (code, out) = clearance(&[
        "--node",
        &api,
        "checkpoint",
        "check",
        "--genesis",
        genesis,
        &path("kept.json"),
        "--save",
    ]);
    assert_eq!(code, 0, "{out}");
    // Certificate 2 and the revocation of certificate 1 came after the kept head.
    assert!(out.contains("extended by  2 records"), "{out}");
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(path("kept.json")).unwrap()).unwrap();
    assert_eq!(kept["log_size"], json!(3));
}
