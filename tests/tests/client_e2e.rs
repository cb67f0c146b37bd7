//! The client SDK against a real 4-node cluster: every record kind from client/examples/, every query, the event
//! stream on another node, and a sample of refusals and rejections.

use clearance_client::{Client, EventItem, EventQuery, RecordQuery, Signer};
use clearance_core::Hash32;
use clearance_core::audit::{StatusFile, StatusSubject, verify_status};
use clearance_core::genesis::Genesis;
use clearance_core::ids::{CertificateNumber, CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::{DeclarationId, Record};
use clearance_tests::cluster::Cluster;
use futures::StreamExt;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

fn sample(name: &str, replace: Option<&Hash32>) -> Record {
    // The runtime variable rather than the compiled-in path: a build cache shared by clones at different paths
    // can reuse a test binary built in another clone.
    let root =
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let path = std::path::Path::new(&root)
        .join("../client/examples")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    if let Some(id) = replace {
        text = text.replace(&"0".repeat(64), &id.to_hex());
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn accepted(client: &Client, signer: &mut Signer, record: Record) -> Hash32 {
    let kind = record.kind();
    let tx = signer.sign(record);
    let submitted = client
        .submit(&tx)
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e}"));
    let status = client.wait(&submitted.tx_id, WAIT).await.unwrap();
    assert_eq!(status.status, "accepted", "{kind}: {status:?}");
    submitted.tx_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_every_query_and_events_through_the_client() {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(4))
        .await
        .unwrap();
    // Node 0 is KZ, node 1 DE (testnet order).
    let kz = Client::new(&cluster.nodes[0].api);
    let de = Client::new(&cluster.nodes[1].api);
    let home = |i: usize, key: &str| cluster.home(i).join("keys").join(key);
    let mut kz_agency = Signer::connect(&kz, &home(0, "agency.json")).await.unwrap();
    let mut kz_admin = Signer::connect(&kz, &home(0, "admin.json")).await.unwrap();
    let mut de_admin = Signer::connect(&de, &home(1, "admin.json")).await.unwrap();

    // Certificates: issue, amend (replace), revoke.
    let issue = accepted(
        &kz,
        &mut kz_agency,
        sample("01_certificate_issue.json", None),
    )
    .await;
    accepted(
        &kz,
        &mut kz_agency,
        sample("02_certificate_amend.json", None),
    )
    .await;
    accepted(
        &kz,
        &mut kz_agency,
        sample("03_certificate_revoke.json", None),
    )
    .await;
    // Decisions: a hold, then a release superseding it.
    let hold = accepted(
        &kz,
        &mut kz_agency,
        sample("04_clearance_decision.json", None),
    )
    .await;
    let release = accepted(
        &kz,
        &mut kz_agency,
        sample("05_clearance_decision_release.json", Some(&hold)),
    )
    .await;
    // MRA between KZ and DE, accepted by DE on DE's node.
    let mra = accepted(&kz, &mut kz_admin, sample("08_mra_propose.json", None)).await;
    accepted(&de, &mut de_admin, sample("09_mra_accept.json", Some(&mra))).await;
    // AEO: granted; DE recognises it under the MRA.
    accepted(&kz, &mut kz_agency, sample("06_aeo_granted.json", None)).await;
    let operator = OperatorId::parse("KZ123456789012").unwrap();
    let cc = |s: &str| CountryCode::parse(s).unwrap();
    let view = de.aeo(&operator, Some(&cc("DE"))).await.unwrap();
    assert_eq!(view.programmes[0].standing, "active");
    assert_eq!(view.programmes[0].recognised, Some(true));
    assert_eq!(view.programmes[0].via_mra, Some(mra));
    let view = de.aeo(&operator, Some(&cc("CN"))).await.unwrap();
    assert_eq!(view.programmes[0].recognised, Some(false), "no MRA with CN");

    // The same, proven: status proofs with the MRA, verified offline against the genesis alone.
    let genesis_text = std::fs::read_to_string(cluster.home(0).join("genesis.json")).unwrap();
    let genesis = Genesis::from_json(&genesis_text).unwrap();
    let proven = |file: &StatusFile| {
        verify_status(&genesis, &serde_json::to_vec(file).unwrap())
            .expect("the status proof verifies")
            .status
    };
    let standing = StatusSubject::Aeo {
        operator: operator.clone(),
        programme: cc("KZ"),
    };
    let status = proven(&de.status_proof(&standing, Some(&cc("DE"))).await.unwrap());
    assert_eq!((status.recognised, status.via_mra), (Some(true), Some(mra)));
    assert!(status.good, "{}", status.headline);
    let status = proven(&de.status_proof(&standing, Some(&cc("CN"))).await.unwrap());
    assert_eq!(status.recognised, Some(false));
    assert!(!status.good, "{}", status.headline);
    let status = proven(
        &de.status_proof(&StatusSubject::Decision { record: hold }, None)
            .await
            .unwrap(),
    );
    assert_eq!(status.status, "superseded");
    assert_eq!(status.superseded_by, Some(release));
    // The declaration's current decision, by its MRN and by its UCR: KZ's release; DE never decided on it.
    for declaration in [
        DeclarationId::Mrn(Mrn::parse("26KZ00000000000429").unwrap()),
        DeclarationId::Ucr(Ucr::parse("6KZ123456789-2026-0001").unwrap()),
    ] {
        let by = |member: &str| StatusSubject::Declaration {
            declaration: declaration.clone(),
            member: cc(member),
        };
        let status = proven(&de.status_proof(&by("KZ"), None).await.unwrap());
        assert_eq!(status.status, "released", "{}", status.headline);
        assert_eq!(status.record, Some(release));
        assert!(status.good, "{}", status.headline);
        let status = proven(&de.status_proof(&by("DE"), None).await.unwrap());
        assert_eq!(status.status, "not_recorded", "{}", status.headline);
    }

    // A bundle of a record without a status (the MRA) is refused by `--max-age` when its anchor is older, like
    // any other: an old anchor is old news of any record.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("mra.json");
    std::fs::write(
        &bundle,
        serde_json::to_vec(&de.proof(&mra).await.unwrap()).unwrap(),
    )
    .unwrap();
    let verify = |max_age: &str| {
        let out = std::process::Command::new(clearance_tests::binary("clearance"))
            .arg("verify")
            .arg("--genesis")
            .arg(cluster.home(0).join("genesis.json"))
            .arg("--bundle")
            .arg(&bundle)
            .args(["--max-age", max_age])
            .output()
            .expect("running clearance");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            text + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (code, out) = verify("1h");
    assert_eq!(code, Some(0), "{out}");
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (code, out) = verify("1s");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("failed step  max-age"), "{out}");

    // The suspension is submitted to KZ's node and watched on DE's.
    let mut events = Box::pin(
        de.events(&EventQuery {
            operator: Some(operator.clone()),
            ..EventQuery::default()
        })
        .await
        .unwrap(),
    );
    let start = Instant::now();
    let suspension = accepted(&kz, &mut kz_agency, sample("07_aeo_suspended.json", None)).await;
    let event = tokio::time::timeout(WAIT, events.next())
        .await
        .expect("an event arrives")
        .expect("the stream stays open")
        .unwrap();
    let latency = start.elapsed();
    match event {
        EventItem::Record(r) => {
            assert_eq!(r.id, suspension);
            assert_eq!(r.kind, "aeo_status");
        }
        other => panic!("unexpected event {other:?}"),
    }
    println!("AEO suspension: submitted on KZ, seen on DE's event stream after {latency:?}");
    let view = de.aeo(&operator, Some(&cc("DE"))).await.unwrap();
    assert_eq!(view.programmes[0].standing, "suspended");
    assert_eq!(view.programmes[0].recognised, Some(false));
    assert_eq!(view.history.len(), 2);

    // Submitter keys, and the MRA withdrawn.
    accepted(
        &kz,
        &mut kz_admin,
        sample("11_submitter_key_register.json", None),
    )
    .await;
    accepted(
        &kz,
        &mut kz_admin,
        sample("12_submitter_key_revoke.json", None),
    )
    .await;
    accepted(
        &kz,
        &mut kz_admin,
        sample("10_mra_withdraw.json", Some(&mra)),
    )
    .await;
    let view = de.aeo(&operator, Some(&cc("DE"))).await.unwrap();
    assert_eq!(view.programmes[0].recognised, Some(false));

    // A membership proposal and one approval: two of the three a 4-member set needs, so the set stays as it is.
    let admission = accepted(
        &kz,
        &mut kz_admin,
        sample("13_membership_propose.json", None),
    )
    .await;
    accepted(
        &de,
        &mut de_admin,
        sample("14_membership_approve.json", Some(&admission)),
    )
    .await;
    // A second approval by the same member is refused at admission, and uses no sequence number.
    let before = de_admin.next_sequence();
    let err = de
        .submit(&de_admin.sign(sample("14_membership_approve.json", Some(&admission))))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MEMBERSHIP_ALREADY_APPROVED"), "{err}");
    de_admin.resync(&de).await.unwrap();
    assert_eq!(de_admin.next_sequence(), before);

    // Queries, on the other node.
    let record = de.record(&issue).await.unwrap();
    assert_eq!(record.kind, "certificate_issue");
    assert_eq!(record.member, cc("KZ"));
    let cert = de
        .certificate(
            &cc("KZ"),
            &CertificateNumber::parse("KZ-PC-2026-000123").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(cert.status, "replaced");
    assert_eq!(cert.history.len(), 2, "issue and amendment");
    let amended = de
        .certificate(
            &cc("KZ"),
            &CertificateNumber::parse("KZ-PC-2026-000123-A1").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(amended.status, "revoked");
    let mrn = Mrn::parse("26KZ00000000000429").unwrap();
    let decl = de.declaration(Some(&mrn), None).await.unwrap();
    assert_eq!(decl.decisions.len(), 2);
    assert_eq!(decl.current, vec![release]);
    let by_ucr = de
        .declaration(None, Some(&Ucr::parse("6KZ123456789-2026-0001").unwrap()))
        .await
        .unwrap();
    assert_eq!(by_ucr.decisions.len(), 2);
    let page = de
        .records(&RecordQuery {
            member: Some(cc("KZ")),
            limit: Some(3),
            ..RecordQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.records.len(), 3);
    let rest = de
        .records(&RecordQuery {
            member: Some(cc("KZ")),
            after: page.next,
            ..RecordQuery::default()
        })
        .await
        .unwrap();
    assert!(
        rest.records
            .iter()
            .all(|r| r.log_index > page.records[2].log_index)
    );
    let kz_total = page.records.len() + rest.records.len();
    assert_eq!(
        kz_total, 12,
        "KZ wrote 12 records (with its membership proposal)"
    );
    let aeo_only = de
        .records(&RecordQuery {
            kind: Some("aeo_status".into()),
            ..RecordQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(aeo_only.records.len(), 2);
    let first_height = record.height;
    let from = de
        .records(&RecordQuery {
            from_height: Some(first_height + 1),
            ..RecordQuery::default()
        })
        .await
        .unwrap();
    assert!(from.records.iter().all(|r| r.height > first_height));

    let members = de.members().await.unwrap();
    assert_eq!(members.members.len(), 4);
    assert!(members.scheduled.is_empty());
    let open = members
        .proposals
        .iter()
        .find(|p| p.id == admission)
        .expect("the admission proposal is listed");
    assert_eq!(open.status, "open");
    assert_eq!((open.counted, open.needed), (2, 3));
    let status = de.status().await.unwrap();
    assert!(
        status["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "KZ"),
        "{status}"
    );

    // Rejections and refusals: caught at admission against the committed state, nothing written.
    let before = kz.status().await.unwrap()["committed_txs"].clone();
    let suspended_again = kz
        .submit(&kz_agency.sign(sample("07_aeo_suspended.json", None)))
        .await
        .unwrap_err();
    assert_eq!(
        suspended_again.code(),
        Some("AEO_BAD_TRANSITION"),
        "{suspended_again}"
    );
    kz_agency.resync(&kz).await.unwrap();
    assert_eq!(kz.status().await.unwrap()["committed_txs"], before);
    let err = kz
        .submit(&kz_agency.sign(sample("01_certificate_issue.json", None)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CERT_EXISTS"), "{err}");
    kz_agency.resync(&kz).await.unwrap();
    let err = de.record(&Hash32([9; 32])).await.unwrap_err();
    assert_eq!(err.code(), Some("RECORD_NOT_FOUND"));
    let err = de
        .certificate(&cc("KZ"), &CertificateNumber::parse("NOPE-1").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("CERT_NOT_FOUND"));
    // A KZ key cannot write for DE.
    let text = serde_json::to_string(&sample("01_certificate_issue.json", None))
        .unwrap()
        .replace("\"issuer\":\"KZ\"", "\"issuer\":\"DE\"");
    let for_de: Record = serde_json::from_str(&text).unwrap();
    let err = kz.submit(&kz_agency.sign(for_de)).await.unwrap_err();
    assert_eq!(err.code(), Some("SUBMITTER_WRONG_MEMBER"), "{err}");

    // A batch: each transaction answered on its own, in order; the admitted ones commit everywhere.
    kz_agency.resync(&kz).await.unwrap();
    let numbered = |n: u32| -> Record {
        let text = serde_json::to_string(&sample("01_certificate_issue.json", None))
            .unwrap()
            .replace("KZ-PC-2026-000123", &format!("KZ-PC-2026-BATCH{n}"));
        serde_json::from_str(&text).unwrap()
    };
    let good: Vec<_> = (0..3).map(|n| kz_agency.sign(numbered(n))).collect();
    let mut forged = kz_agency.sign(numbered(3));
    forged.signature.0[0] ^= 1;
    let batch = vec![
        good[0].clone(),
        good[1].clone(),
        good[0].clone(),
        good[2].clone(),
        forged,
    ];
    let items = kz.submit_batch(&batch).await.unwrap();
    let answers: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| (i.status.as_str(), i.code.as_deref()))
        .collect();
    assert_eq!(
        answers,
        [
            ("pending", None),
            ("pending", None),
            ("refused", Some("TX_DUPLICATE")),
            ("pending", None),
            ("refused", Some("TX_BAD_SIGNATURE")),
        ],
        "{items:?}"
    );
    assert!(items.iter().all(|i| i.tx_id.is_some()), "{items:?}");
    for tx in &good {
        let status = de.wait(&tx.id(), WAIT).await.unwrap();
        assert_eq!(status.status, "accepted", "{status:?}");
    }
}
