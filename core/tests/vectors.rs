//! The test vectors of `docs/protocol.md` §10, computed from the specification alone, pinned against the code.
//! The example genesis is read from the document itself, so the document and the code cannot drift apart.

use clearance_core::crypto::SecretKey;
use clearance_core::encoding;
use clearance_core::genesis::Genesis;
use clearance_core::hash::Hash32;
use clearance_core::ids::CountryCode;
use clearance_core::merkle::{self, MemoryLog};
use clearance_core::validator::{Validator, ValidatorSet};
use clearance_core::vote::{SignedVote, Vote, VoteKind};

const SPEC: &str = include_str!("../../docs/protocol.md");

fn rfc8032_test1() -> SecretKey {
    let seed =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap();
    SecretKey::from_seed(seed.try_into().unwrap())
}

fn in_spec(hex_text: &str) {
    assert!(
        SPEC.contains(hex_text),
        "docs/protocol.md does not state {hex_text}"
    );
}

#[test]
fn signed_precommit() {
    let vote = Vote {
        chain_id: Hash32([0xaa; 32]),
        height: 1,
        round: 0,
        kind: VoteKind::Precommit,
        block: Some(Hash32([0xbb; 32])),
        validator: CountryCode::parse("DE").unwrap(),
    };
    let signed = SignedVote::sign(&vote, &rfc8032_test1());
    let expected_vote = format!(
        "{}{}{}{}01{}{}{}",
        "aa".repeat(32),
        "0100000000000000",
        "00000000",
        "01000000",
        "bb".repeat(32),
        "0200000000000000",
        "4445"
    );
    assert_eq!(hex::encode(&signed.vote.0), expected_vote);
    let sig = signed.signature.to_hex();
    assert_eq!(
        sig,
        "b46d5f3d57f93d33320c5b8331660b658ac72389fea044803c3e398c102e59ec\
         f83eadeec26a90d7d1d066c4ab0f6e8d04cd31ab98de9e6fe7730500faee0d0e"
    );
    in_spec(&sig[..64]);
    let bytes = encoding::encode(&signed);
    assert_eq!(bytes.len(), 163);
    assert_eq!(&bytes[..8], &91u64.to_le_bytes());
}

#[test]
fn validator_set() {
    let set = ValidatorSet::new(vec![Validator {
        member: CountryCode::parse("DE").unwrap(),
        key: rfc8032_test1().public_key(),
    }])
    .unwrap();
    assert_eq!(
        hex::encode(set.to_bytes()),
        format!(
            "0100000000000000{}{}",
            "02000000000000004445",
            rfc8032_test1().public_key().to_hex()
        )
    );
    let hash = set.hash().to_hex();
    assert_eq!(
        hash,
        "c86b2012ff936be120bdfd55aac70a31abb906ca99223dc916d09dc4b4179ecd"
    );
    in_spec(&hash);
}

#[test]
fn example_genesis_from_the_document() {
    let start = SPEC.find("### 7.2").expect("section 7.2");
    let block = &SPEC[start..];
    let json_start = block.find("```json\n").expect("a json block in 7.2") + "```json\n".len();
    let json_end = json_start + block[json_start..].find("```").expect("closed json block");
    let genesis =
        Genesis::from_json(&block[json_start..json_end]).expect("the example genesis is valid");
    assert_eq!(genesis.to_bytes().len(), 317);
    let id = genesis.chain_id().to_hex();
    assert_eq!(
        id,
        "7b2b2878a89c8d593740dacc39413c9b4a30c9c180a19f807d357529ce490e25"
    );
    in_spec(&id);
}

#[test]
fn merkle_vectors() {
    let mut log = MemoryLog::new();
    for leaf in [b"a", b"b", b"c"] {
        log.append(leaf);
    }
    let h = |x: &Hash32| x.to_hex();
    let table = [
        (
            merkle::empty_root(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            merkle::leaf_hash(b""),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        ),
        (
            merkle::leaf_hash(b"a"),
            "022a6979e6dab7aa5ae4c3e5e45f7e977112a7e63593820dbec1ec738a24f93c",
        ),
        (
            merkle::leaf_hash(b"b"),
            "57eb35615d47f34ec714cacdf5fd74608a5e8e102724e80b24b287c0c27b6a31",
        ),
        (
            merkle::leaf_hash(b"c"),
            "597fcb31282d34654c200d3418fca5705c648ebf326ec73d8ddef11841f876d8",
        ),
        (
            merkle::root(&log, 2).unwrap(),
            "b137985ff484fb600db93107c77b0365c80d78f5b429ded0fd97361d077999eb",
        ),
        (
            log.current_root(),
            "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1",
        ),
    ];
    for (got, want) in table {
        assert_eq!(h(&got), want);
        in_spec(want);
    }
    let (a, b, c) = (
        merkle::leaf_hash(b"a"),
        merkle::leaf_hash(b"b"),
        merkle::leaf_hash(b"c"),
    );
    assert_eq!(merkle::inclusion_proof(&log, 0, 3).unwrap(), vec![b, c]);
    assert_eq!(merkle::inclusion_proof(&log, 1, 3).unwrap(), vec![a, c]);
    assert_eq!(
        merkle::inclusion_proof(&log, 2, 3).unwrap(),
        vec![merkle::root(&log, 2).unwrap()]
    );
    assert_eq!(merkle::consistency_proof(&log, 1, 3).unwrap(), vec![b, c]);
    assert_eq!(merkle::consistency_proof(&log, 2, 3).unwrap(), vec![c]);
}
