//! Checkpoints and consistency proofs on a synthetic chain signed by `common::genesis(4)`'s members: what a node
//! cannot show from a healthy cluster, such as two certified blocks at one height.

mod common;

use clearance_core::audit::{
    CHECKPOINT_FORMAT, CONSISTENCY_FORMAT, Checkpoint, ConsistencyProof, VERSION,
    verify_checkpoint, verify_extension,
};
use clearance_core::merkle::{self, MemoryLog};
use common::{certified, genesis, header};

fn log_of(size: u64) -> MemoryLog {
    let mut log = MemoryLog::new();
    for i in 0..size {
        log.append(format!("record {i}").as_bytes());
    }
    log
}

fn checkpoint(
    g: &clearance_core::genesis::Genesis,
    height: u64,
    log: &MemoryLog,
    size: u64,
) -> Vec<u8> {
    let root = merkle::root(log, size).unwrap();
    let (head, ..) = certified(
        g,
        header(g, height, (0, merkle::empty_root()), (size, root)),
    );
    serde_json::to_vec(&Checkpoint {
        format: CHECKPOINT_FORMAT.into(),
        version: VERSION,
        chain_id: g.chain_id(),
        height,
        log_size: size,
        log_root: root,
        head,
        validator_set_changes: vec![],
    })
    .unwrap()
}

fn extension(
    g: &clearance_core::genesis::Genesis,
    log: &MemoryLog,
    (old_height, old_size): (u64, u64),
    (new_height, new_size): (u64, u64),
) -> Vec<u8> {
    let certified_at = |height, size| {
        let root = merkle::root(log, size).unwrap();
        certified(
            g,
            header(g, height, (0, merkle::empty_root()), (size, root)),
        )
        .0
    };
    serde_json::to_vec(&ConsistencyProof {
        format: CONSISTENCY_FORMAT.into(),
        version: VERSION,
        chain_id: g.chain_id(),
        old: certified_at(old_height, old_size),
        new: certified_at(new_height, new_size),
        proof: merkle::consistency_proof(log, old_size, new_size).unwrap(),
        validator_set_changes: vec![],
    })
    .unwrap()
}

#[test]
fn a_grown_log_extends_its_checkpoint() {
    let g = genesis(4);
    let log = log_of(1000);
    let kept = checkpoint(&g, 10, &log, 300);
    verify_checkpoint(&g, &kept).unwrap();
    let v = verify_extension(&g, &kept, &extension(&g, &log, (10, 300), (40, 1000))).unwrap();
    assert_eq!((v.old.unwrap().log_size, v.head.log_size), (300, 1000));
}

#[test]
fn a_fork_at_the_kept_height_is_reported() {
    let g = genesis(4);
    let log = log_of(1000);
    let kept = checkpoint(&g, 10, &log, 300);
    // Another block at height 10, certified by the same members, with a longer log.
    let e = verify_extension(&g, &kept, &extension(&g, &log, (10, 300), (10, 400))).unwrap_err();
    assert_eq!(e.step.0, "new.header", "{e}");
    assert!(e.reason.contains("conflicting"), "{e}");
}

#[test]
fn a_checkpoint_whose_fields_disagree_with_its_header_is_refused() {
    let g = genesis(4);
    let log = log_of(50);
    let mut kept: serde_json::Value = serde_json::from_slice(&checkpoint(&g, 5, &log, 50)).unwrap();
    kept["log_size"] = serde_json::json!(60);
    let e = verify_checkpoint(&g, &serde_json::to_vec(&kept).unwrap()).unwrap_err();
    assert_eq!(e.step.0, "head.fields", "{e}");
}

#[test]
fn a_rewritten_history_is_not_an_extension() {
    let g = genesis(4);
    let log = log_of(500);
    let kept = checkpoint(&g, 10, &log, 300);
    // A log whose first 300 entries differ from the kept one.
    let mut other = MemoryLog::new();
    for i in 0..500u64 {
        other.append(format!("rewritten {i}").as_bytes());
    }
    let mut proof: serde_json::Value =
        serde_json::from_slice(&extension(&g, &other, (10, 300), (20, 500))).unwrap();
    // The proof starts from the kept block, so only the log can disagree.
    let kept_json: serde_json::Value = serde_json::from_slice(&kept).unwrap();
    proof["old"] = kept_json["head"].clone();
    let e = verify_extension(&g, &kept, &serde_json::to_vec(&proof).unwrap()).unwrap_err();
    assert_eq!(e.step.0, "consistency", "{e}");
}
