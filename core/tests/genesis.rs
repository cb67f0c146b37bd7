//! Genesis validation and the chain id.

mod common;

use clearance_core::genesis::{Genesis, GenesisError};
use clearance_core::{Hash32, PublicKey};
use common::*;

#[test]
fn valid_genesis_and_stable_chain_id() {
    let g = genesis(4);
    g.validate().unwrap();
    let json = g.to_json();
    let a = Genesis::from_json(&json).unwrap().chain_id();
    // Reformatting the file does not change the chain id; changing content does.
    let compact =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&json).unwrap()).unwrap();
    assert_eq!(Genesis::from_json(&compact).unwrap().chain_id(), a);
    let mut other = g.clone();
    other.params.heartbeat_ms += 1;
    assert_ne!(other.chain_id(), a);
    assert_eq!(Genesis::from_bytes(&g.to_bytes()).unwrap(), g);
    assert_eq!(g.validator_set().unwrap().len(), 4);
}

#[test]
fn duplicate_member_is_named() {
    let mut g = genesis(4);
    let mut dup = member("DE", 9);
    dup.name = g.members[1].name.clone();
    g.members.push(dup);
    let err = g.validate().unwrap_err();
    assert!(matches!(&err, GenesisError::DuplicateMember(id) if id.as_str() == "DE"));
    assert!(err.to_string().contains("DE"), "{err}");
    assert_eq!(err.code(), "GENESIS_DUPLICATE");
    assert!(Genesis::from_json(&g.to_json()).is_err());
}

#[test]
fn duplicate_keys_and_peers() {
    let mut g = genesis(4);
    g.members[2].validator_key = g.members[0].validator_key;
    let err = g.validate().unwrap_err().to_string();
    assert!(err.contains("KZ") && err.contains("CN"), "{err}");

    let mut g = genesis(4);
    g.members[3].peer_id = g.members[1].peer_id;
    assert!(matches!(
        g.validate(),
        Err(GenesisError::DuplicatePeerId { .. })
    ));

    let mut g = genesis(4);
    g.members[3].peer_id = clearance_core::peer::PeerKey::from_key(g.members[0].validator_key);
    let err = g.validate().unwrap_err().to_string();
    assert!(err.contains("validator key of KZ"), "{err}");

    let mut g = genesis(4);
    let first = g.submitters[0].clone();
    g.submitters.push(first);
    assert!(matches!(
        g.validate(),
        Err(GenesisError::DuplicateSubmitterKey { .. })
    ));

    let mut g = genesis(4);
    g.submitters[0].key = g.members[0].validator_key;
    assert!(g.validate().unwrap_err().to_string().contains("separate"));
}

#[test]
fn empty_weak_keys_unknown_members_and_params() {
    let mut g = genesis(4);
    g.members.clear();
    g.submitters.clear();
    assert!(matches!(g.validate(), Err(GenesisError::NoMembers)));

    let mut weak = [0u8; 32];
    weak[0] = 1;
    let mut g = genesis(4);
    g.members[1].validator_key = PublicKey(weak);
    let err = g.validate().unwrap_err().to_string();
    assert!(err.contains("DE") && err.contains("weak"), "{err}");

    let mut g = genesis(4);
    g.submitters[0].member = cc("FR");
    assert!(matches!(
        g.validate(),
        Err(GenesisError::SubmitterUnknownMember { .. })
    ));

    let mut g = genesis(4);
    g.params.max_block_bytes = g.params.max_tx_bytes - 1;
    let err = g.validate().unwrap_err();
    assert_eq!(err.code(), "GENESIS_BAD_PARAMS");
    assert!(err.to_string().contains("max_block_bytes"), "{err}");

    let mut g = genesis(4);
    g.params.heartbeat_ms = g.params.timeout_propose_ms - 1;
    assert!(
        g.validate()
            .unwrap_err()
            .to_string()
            .contains("heartbeat_ms")
    );

    let mut g = genesis(4);
    g.params.timeout_prevote_ms = 0;
    assert!(g.validate().is_err());

    // One height would leave a member rotating its network key no height to switch in.
    let mut g = genesis(4);
    g.params.membership_delay_blocks = 1;
    let err = g.validate().unwrap_err();
    assert!(err.to_string().contains("at least 2"), "{err}");
    g.params.membership_delay_blocks = 2;
    g.validate().unwrap();
}

#[test]
fn malformed_json_is_a_typed_error() {
    for text in ["", "{", "[]", "{\"chain_name\": 5}", "null"] {
        let err = Genesis::from_json(text).unwrap_err();
        assert_eq!(err.code(), "GENESIS_MALFORMED", "{text}: {err}");
    }
    let mut v = serde_json::to_value(genesis(4)).unwrap();
    v["extra"] = 1.into();
    assert!(
        Genesis::from_json(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("extra")
    );
    assert_ne!(genesis(4).chain_id(), Hash32::ZERO);
}
