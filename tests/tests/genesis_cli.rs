//! `clearance-genesis` as an operator runs it.

use clearance_tests::{run, stderr, stdout};
use serde_json::Value;

fn chain_id_line(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("chain_id:"))
        .unwrap_or_else(|| panic!("no chain_id line in {out}"))
        .trim()
        .to_string()
}

#[test]
fn testnet_writes_a_genesis_that_validates_with_a_stable_chain_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let out_s = out.to_str().unwrap();
    let created = run(
        "clearance-genesis",
        &[
            "testnet",
            "--members",
            "4",
            "--out",
            out_s,
            "--base-port",
            "31000",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));

    let genesis = out.join("genesis.json");
    let g = genesis.to_str().unwrap();
    let first = run("clearance-genesis", &["validate", "--genesis", g]);
    let second = run("clearance-genesis", &["validate", "--genesis", g]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        chain_id_line(&stdout(&first)),
        chain_id_line(&stdout(&second))
    );
    assert_eq!(
        chain_id_line(&stdout(&first)),
        chain_id_line(&stdout(&created))
    );

    // The layout: one home per member with config, keys (0600), an empty data dir and a genesis copy.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("testnet.json")).unwrap()).unwrap();
    let members = manifest["members"].as_array().unwrap();
    assert_eq!(members.len(), 4);
    for m in members {
        let home = std::path::Path::new(m["home"].as_str().unwrap());
        for f in [
            "config.toml",
            "validator_key.json",
            "node_key.json",
            "keys/admin.json",
            "keys/agency.json",
        ] {
            assert!(home.join(f).is_file(), "{} missing", home.join(f).display());
        }
        #[cfg(unix)]
        for f in [
            "validator_key.json",
            "node_key.json",
            "keys/admin.json",
            "keys/agency.json",
        ] {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(home.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
        assert_eq!(std::fs::read_dir(home.join("data")).unwrap().count(), 0);
        assert_eq!(
            std::fs::read(home.join("genesis.json")).unwrap(),
            std::fs::read(&genesis).unwrap()
        );
        let config =
            clearance_genesis::config::NodeConfig::load(&home.join("config.toml")).unwrap();
        assert_eq!(
            config.api.listen.port(),
            m["api_port"].as_u64().unwrap() as u16
        );
    }

    // JSON output for scripts carries the same chain id.
    let json = run("clearance-genesis", &["validate", "--genesis", g, "--json"]);
    let v: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(
        v["chain_id"].as_str().unwrap(),
        manifest["chain_id"].as_str().unwrap()
    );

    // A second testnet into the same directory is refused: keys are never overwritten.
    let again = run(
        "clearance-genesis",
        &["testnet", "--members", "4", "--out", out_s],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn a_duplicated_member_is_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    assert!(
        run(
            "clearance-genesis",
            &["testnet", "--members", "3", "--out", out.to_str().unwrap()]
        )
        .status
        .success()
    );
    let path = out.join("genesis.json");
    let mut g: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut copy = g["members"][1].clone();
    let id = copy["id"].as_str().unwrap().to_string();
    // A different key and peer, but the same member id.
    copy["validator_key"] = g["members"][0]["validator_key"].clone();
    g["members"].as_array_mut().unwrap().push(copy);
    std::fs::write(&path, g.to_string()).unwrap();

    let out = run(
        "clearance-genesis",
        &["validate", "--genesis", path.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("GENESIS_DUPLICATE"), "{err}");
    assert!(
        err.contains(&format!("member {id} more than once")),
        "{err}"
    );
}

#[test]
fn new_builds_a_genesis_from_a_members_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut members = Vec::new();
    for (i, id) in ["KZ", "UZ", "KG", "TJ"].iter().enumerate() {
        let home = dir.path().join(id);
        let out = run(
            "clearance-genesis",
            &["keygen", "--home", home.to_str().unwrap()],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
                .unwrap()
        };
        members.push(serde_json::json!({
            "id": id, "name": format!("Customs of {id}"),
            "validator_key": field("validator_key:"), "peer_id": field("peer_id:"),
            "addresses": [format!("/ip4/127.0.0.1/tcp/{}", 32000 + i)],
        }));
    }
    let admin = dir.path().join("admin.json");
    let out = run(
        "clearance-genesis",
        &["keygen", "--submitter", admin.to_str().unwrap()],
    );
    let admin_key = stdout(&out)
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let file = serde_json::json!({
        "members": members,
        "submitters": [{"member": "KZ", "key": admin_key, "roles": ["key_admin"], "label": "KZ ledger administrator"}],
    });
    let members_path = dir.path().join("members.json");
    std::fs::write(&members_path, file.to_string()).unwrap();
    let genesis = dir.path().join("genesis.json");
    let args = [
        "new",
        "--members",
        members_path.to_str().unwrap(),
        "--chain-name",
        "carec-pilot",
        "--genesis-time",
        "2026-12-01T00:00:00Z",
        "--out",
        genesis.to_str().unwrap(),
    ];
    let out = run("clearance-genesis", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let validated = run(
        "clearance-genesis",
        &["validate", "--genesis", genesis.to_str().unwrap()],
    );
    assert_eq!(
        chain_id_line(&stdout(&out)),
        chain_id_line(&stdout(&validated))
    );
    // Never overwrites.
    assert!(!run("clearance-genesis", &args).status.success());

    // A weak validator key is refused at genesis.
    let mut weak = file.clone();
    weak["members"][2]["validator_key"] = format!("01{}", "00".repeat(31)).into();
    std::fs::write(&members_path, weak.to_string()).unwrap();
    let other = dir.path().join("other.json");
    let out = run(
        "clearance-genesis",
        &[
            "new",
            "--members",
            members_path.to_str().unwrap(),
            "--chain-name",
            "carec-pilot",
            "--out",
            other.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("weak"), "{}", stderr(&out));
}
