//! `clearance-node` as an operator runs it: init, show-node-id, show-validator, and refusing a data directory
//! that belongs to another chain or is corrupt.

use clearance_tests::cluster::Cluster;
use clearance_tests::{run, stderr, stdout};
use std::time::Duration;

#[test]
fn init_writes_a_home_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("kz");
    let h = home.to_str().unwrap();
    let out = run("clearance-node", &["init", "--home", h, "--moniker", "KZ"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let peer_id = run("clearance-node", &["show-node-id", "--home", h]);
    assert!(peer_id.status.success(), "{}", stderr(&peer_id));
    let peer_id = stdout(&peer_id).trim().to_string();
    assert!(peer_id.starts_with("12D3KooW"), "{peer_id}");
    assert!(text.contains(&peer_id), "init prints the peer id: {text}");
    let validator = run("clearance-node", &["show-validator", "--home", h]);
    let validator = stdout(&validator).trim().to_string();
    assert_eq!(validator.len(), 64, "{validator}");
    assert!(
        text.contains(&validator),
        "init prints the validator key: {text}"
    );
    for file in ["config.toml", "validator_key.json", "node_key.json"] {
        assert!(home.join(file).exists(), "{file}");
    }
    let again = run("clearance-node", &["init", "--home", h, "--moniker", "KZ"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("never overwrites"),
        "{}",
        stderr(&again)
    );
    // Unchanged keys.
    let still = run("clearance-node", &["show-validator", "--home", h]);
    assert_eq!(stdout(&still).trim(), validator);
}

/// Runs `clearance-node start` and expects it to exit with an error quickly; returns its output.
fn start_fails(home: &std::path::Path) -> String {
    let mut child = std::process::Command::new(clearance_tests::binary("clearance-node"))
        .args(["start", "--home"])
        .arg(home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "the node started");
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the node kept running on a bad data directory");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    format!("{}{}", stdout(&out), stderr(&out))
}

#[test]
fn a_data_directory_of_another_chain_or_a_corrupt_one_is_refused() {
    // A node of chain A creates its database.
    let mut a = Cluster::create(4);
    a.start_node(0);
    a.wait_until("node A0 answers", Duration::from_secs(20), |c| {
        c.status(0).is_some()
    });
    a.kill(0);
    // Chain B's node is pointed at chain A's data directory.
    let b = Cluster::create(4);
    let data_b = b.home(0).join("data");
    std::fs::remove_dir_all(&data_b).unwrap();
    copy_dir(&a.home(0).join("data"), &data_b);
    let out = start_fails(b.home(0));
    assert!(out.contains("belongs to chain"), "{out}");
    assert!(out.contains(&a.chain_id.to_hex()), "{out}");

    // A corrupt database: RocksDB's CURRENT file names a manifest that does not exist.
    std::fs::write(data_b.join("CURRENT"), "MANIFEST-999999\n").unwrap();
    let out = start_fails(b.home(0));
    assert!(out.contains("database at"), "{out}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
