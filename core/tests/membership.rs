//! Membership rules: proposals, approvals, the quorum of the set in force, adoption into epochs, and every
//! refusal code, against an in-memory state driven block by block.

mod common;

use clearance_core::Hash32;
use clearance_core::countries::ASSIGNED;
use clearance_core::ids::*;
use clearance_core::peer::PeerKey;
use clearance_core::record::*;
use clearance_core::rules::{self, Epoch, ProposalStatus, StateKey, StateValue};
use common::ledger::Ledger;
use common::*;
use proptest::prelude::*;

fn propose(by: &str, change: MembershipChange) -> Record {
    Record::MembershipPropose(MembershipPropose {
        proposer: cc(by),
        change,
        reason: Text::parse("pilot").unwrap(),
    })
}

fn approve(proposal: Hash32, by: &str) -> Record {
    Record::MembershipApprove(MembershipApprove {
        proposal,
        member: cc(by),
    })
}

/// Admits `id` with validator key `key(seed)`, network key `key(seed + 100)` and submitter key `key(seed + 120)`.
fn admit(id: &str, seed: u8) -> MembershipChange {
    MembershipChange::Admit(Admission {
        member: member(id, seed),
        submitter_key: key(seed + 120).public_key(),
    })
}

fn remove(id: &str) -> MembershipChange {
    MembershipChange::Remove { member: cc(id) }
}

fn status(l: &Ledger, id: Hash32) -> ProposalStatus {
    rules::membership_proposal(l, &id).unwrap().status
}

fn members_at(l: &Ledger, height: u64) -> Vec<String> {
    let (_, epoch) = rules::epoch_at(l, height).unwrap();
    epoch.members.iter().map(|m| m.id.to_string()).collect()
}

/// Proposes `change` as the first member and has the next ones approve, one per block, until adopted.
fn adopt(l: &mut Ledger, change: MembershipChange) -> Hash32 {
    let removed = match &change {
        MembershipChange::Remove { member } => Some(member.to_string()),
        _ => None,
    };
    let members: Vec<String> = members_at(l, l.ctx.height)
        .into_iter()
        .filter(|m| Some(m) != removed.as_ref())
        .collect();
    let id = l.submit(&members[0], propose(&members[0], change)).unwrap();
    for m in &members[1..] {
        if status(l, id) != ProposalStatus::Open {
            break;
        }
        l.next_block(1000);
        l.submit(m, approve(id, m)).unwrap();
    }
    assert!(matches!(status(l, id), ProposalStatus::Adopted { .. }));
    id
}

#[test]
fn a_change_is_adopted_at_exactly_a_quorum_of_the_set_in_force_and_applies_after_the_delay() {
    for n in 4..=10 {
        let mut l = Ledger::with_members(n);
        let quorum = n - (n - 1) / 3;
        let id = l.submit("KZ", propose("KZ", admit("EE", 30))).unwrap();
        for (i, m) in MEMBER_IDS[1..n].iter().enumerate() {
            let approvals = i + 1;
            if approvals < quorum {
                assert_eq!(
                    status(&l, id),
                    ProposalStatus::Open,
                    "n={n}: {approvals} approvals"
                );
            }
            l.next_block(1000);
            let result = l.submit(m, approve(id, m));
            if approvals + 1 > quorum {
                assert_eq!(result.unwrap_err().code(), "MEMBERSHIP_PROPOSAL_ADOPTED");
                continue;
            }
            result.unwrap();
            if approvals + 1 == quorum {
                let effective = l.ctx.height + 2;
                assert_eq!(
                    status(&l, id),
                    ProposalStatus::Adopted {
                        effective_height: effective
                    },
                    "n={n}: adopted by the approval that makes {quorum}"
                );
                assert_eq!(members_at(&l, effective - 1).len(), n);
                assert_eq!(members_at(&l, effective).len(), n + 1);
                assert!(members_at(&l, effective).contains(&"EE".to_string()));
                assert_eq!(rules::epoch_count(&l), 2);
            }
        }
    }
}

#[test]
fn changes_adopted_in_one_block_join_one_epoch_in_adoption_order() {
    let mut l = Ledger::with_members(4);
    let a = l.submit("KZ", propose("KZ", admit("EE", 30))).unwrap();
    let b = l.submit("DE", propose("DE", admit("LV", 35))).unwrap();
    l.next_block(1000);
    for m in ["CN", "UZ"] {
        l.submit(m, approve(a, m)).unwrap();
    }
    for m in ["KZ", "CN"] {
        l.submit(m, approve(b, m)).unwrap();
    }
    assert_eq!(rules::epoch_count(&l), 2);
    let (_, epoch) = rules::latest_epoch(&l).unwrap();
    assert_eq!(epoch.changes, vec![a, b]);
    assert_eq!(epoch.members.len(), 6);
    assert!(
        epoch.members.windows(2).all(|w| w[0].id < w[1].id),
        "sorted"
    );
}

#[test]
fn every_refusal_has_its_code() {
    let mut l = Ledger::with_members(4);
    assert_eq!(
        l.code("KZ", propose("KZ", admit("DE", 40))),
        "MEMBERSHIP_MEMBER_EXISTS"
    );
    assert_eq!(
        l.code("KZ", propose("KZ", remove("FR"))),
        "MEMBERSHIP_MEMBER_UNKNOWN"
    );
    assert_eq!(
        l.code("KZ", propose("KZ", remove("DE"))),
        "MEMBERSHIP_TOO_FEW_MEMBERS"
    );
    let mut same_key = member("EE", 30);
    same_key.validator_key = key(2).public_key();
    let dup = MembershipChange::Admit(Admission {
        member: same_key,
        submitter_key: key(250).public_key(),
    });
    assert_eq!(l.code("KZ", propose("KZ", dup)), "MEMBERSHIP_DUPLICATE_KEY");
    let mut same_peer = member("EE", 30);
    same_peer.peer_id = PeerKey::from_key(key(102).public_key());
    let dup = MembershipChange::Admit(Admission {
        member: same_peer,
        submitter_key: key(250).public_key(),
    });
    assert_eq!(
        l.code("KZ", propose("KZ", dup)),
        "MEMBERSHIP_DUPLICATE_PEER_ID"
    );
    let agency_key = MembershipChange::Admit(Admission {
        member: member("EE", 30),
        submitter_key: key(61).public_key(),
    });
    assert_eq!(l.code("KZ", propose("KZ", agency_key)), "KEY_EXISTS");
    let rotate_to_agency = MembershipChange::RotateValidatorKey {
        member: cc("KZ"),
        new_key: key(61).public_key(),
    };
    assert_eq!(
        l.code("KZ", propose("KZ", rotate_to_agency)),
        "MEMBERSHIP_DUPLICATE_KEY"
    );
    assert_eq!(
        l.code("KZ", approve(Hash32([9; 32]), "KZ")),
        "MEMBERSHIP_PROPOSAL_NOT_FOUND"
    );

    let id = l.submit("KZ", propose("KZ", admit("EE", 30))).unwrap();
    assert_eq!(
        l.code("KZ", approve(id, "KZ")),
        "MEMBERSHIP_ALREADY_APPROVED",
        "the proposal is the proposer's approval"
    );
    let ttl = u64::from(l.genesis.params.membership_proposal_ttl_s) * 1000;
    l.next_block(ttl);
    assert_eq!(
        l.code("DE", approve(id, "DE")),
        "OK",
        "at the expiry instant"
    );
    l.next_block(1);
    assert_eq!(
        l.code("CN", approve(id, "CN")),
        "MEMBERSHIP_PROPOSAL_EXPIRED"
    );

    // A retired key is never used again: rotate KZ's validator key, then offer the old one.
    adopt(
        &mut l,
        MembershipChange::RotateValidatorKey {
            member: cc("KZ"),
            new_key: key(230).public_key(),
        },
    );
    let mut old_key = member("EE", 30);
    old_key.validator_key = key(1).public_key();
    let retired = MembershipChange::Admit(Admission {
        member: old_key,
        submitter_key: key(251).public_key(),
    });
    assert_eq!(
        l.code("DE", propose("DE", retired)),
        "MEMBERSHIP_KEY_RETIRED"
    );
    let rotate_net = MembershipChange::RotateNetworkKey {
        member: cc("DE"),
        new_peer_id: PeerKey::from_key(key(101).public_key()),
    };
    assert_eq!(
        l.code("DE", propose("DE", rotate_net)),
        "MEMBERSHIP_DUPLICATE_PEER_ID"
    );
}

#[test]
fn a_member_cannot_approve_its_own_removal_and_its_proposal_does_not_count() {
    let mut l = Ledger::with_members(5);
    // n = 5: quorum 4, from the four others.
    let id = l.submit("FR", propose("FR", remove("FR"))).unwrap();
    assert!(
        rules::membership_proposal(&l, &id)
            .unwrap()
            .approvals
            .is_empty()
    );
    assert_eq!(l.code("FR", approve(id, "FR")), "MEMBERSHIP_OWN_REMOVAL");
    for m in ["KZ", "DE", "CN"] {
        l.submit(m, approve(id, m)).unwrap();
        assert_eq!(status(&l, id), ProposalStatus::Open);
    }
    l.submit("UZ", approve(id, "UZ")).unwrap();
    assert!(matches!(status(&l, id), ProposalStatus::Adopted { .. }));
}

#[test]
fn a_removed_member_keys_stop_at_the_effective_height_and_an_admitted_member_keys_start_there() {
    let mut l = Ledger::with_members(5);
    adopt(&mut l, admit("EE", 30));
    let ProposalStatus::Adopted { effective_height } =
        rules::membership_proposal(&l, &Hash32([1; 32]))
            .unwrap()
            .status
    else {
        panic!("adopted")
    };
    l.keys.insert("EE".into(), key(30 + 120));
    let register = |n: u8| {
        Record::SubmitterKeyRegister(SubmitterKeyRegister {
            member: cc("EE"),
            key: key(n).public_key(),
            roles: Roles::from_roles(&[Role::Certificates]),
            label: Text::parse("Customs of EE, export desk").unwrap(),
        })
    };
    assert_eq!(l.code("EE", register(90)), "SUBMITTER_MEMBER_INACTIVE");
    while l.ctx.height < effective_height {
        l.next_block(1000);
    }
    assert_eq!(
        l.code("EE", register(91)),
        "OK",
        "from the effective height"
    );

    // Remove FR: its agency key works until the removal takes effect.
    let id = l.submit("KZ", propose("KZ", remove("FR"))).unwrap();
    for m in ["DE", "CN", "UZ", "EE"] {
        l.submit(m, approve(id, m)).unwrap();
    }
    let ProposalStatus::Adopted { effective_height } = status(&l, id) else {
        panic!("adopted with 5 of 6")
    };
    let issue = |n: &str| {
        Record::CertificateIssue(CertificateIssue {
            certificate: CertificateBody {
                issuer: cc("FR"),
                ..certificate_body(n)
            },
        })
    };
    l.next_block(1000);
    assert_eq!(l.code("FR", issue("FR-1")), "OK");
    while l.ctx.height < effective_height {
        l.next_block(1000);
    }
    assert_eq!(l.code("FR", issue("FR-2")), "SUBMITTER_MEMBER_INACTIVE");
    assert_eq!(members_at(&l, effective_height).len(), 5);
    // A former member's id is never given again: its old submitter keys would come back with it.
    assert_eq!(
        l.code("KZ", propose("KZ", admit("FR", 45))),
        "MEMBERSHIP_MEMBER_EXISTS"
    );
}

#[test]
fn approvals_count_only_from_the_set_in_force_and_adoption_rechecks_the_change() {
    let mut l = Ledger::with_members(5);
    // Two admissions of the same validator key: both are valid when proposed; only the first can be adopted.
    let first = l.submit("KZ", propose("KZ", admit("EE", 30))).unwrap();
    let mut again = member("LV", 35);
    again.validator_key = key(30).public_key();
    let second = l
        .submit(
            "DE",
            propose(
                "DE",
                MembershipChange::Admit(Admission {
                    member: again,
                    submitter_key: key(252).public_key(),
                }),
            ),
        )
        .unwrap();
    for m in ["DE", "CN", "UZ"] {
        l.submit(m, approve(first, m)).unwrap();
    }
    assert!(matches!(status(&l, first), ProposalStatus::Adopted { .. }));
    for m in ["KZ", "CN"] {
        l.submit(m, approve(second, m)).unwrap();
    }
    assert_eq!(
        l.code("UZ", approve(second, "UZ")),
        "MEMBERSHIP_DUPLICATE_KEY",
        "the last approval is refused: the change no longer applies"
    );
    assert_eq!(status(&l, second), ProposalStatus::Open);

    // FR approves a proposal, then is removed: after its removal takes effect its approval no longer counts.
    let mut l = Ledger::with_members(6);
    let pending = l.submit("KZ", propose("KZ", admit("EE", 30))).unwrap();
    l.submit("FR", approve(pending, "FR")).unwrap();
    l.submit("JP", approve(pending, "JP")).unwrap();
    let removal = adopt(&mut l, remove("FR"));
    let ProposalStatus::Adopted { effective_height } = status(&l, removal) else {
        panic!()
    };
    while l.ctx.height < effective_height {
        l.next_block(1000);
    }
    // n = 5 now, quorum 4: KZ, JP and DE count; FR does not.
    l.submit("DE", approve(pending, "DE")).unwrap();
    assert_eq!(status(&l, pending), ProposalStatus::Open);
    l.submit("CN", approve(pending, "CN")).unwrap();
    assert!(matches!(
        status(&l, pending),
        ProposalStatus::Adopted { .. }
    ));
}

#[test]
fn no_change_may_grow_the_set_past_the_largest_validator_set() {
    let mut l = Ledger::with_members(4);
    let members: Vec<MemberInfo> = ASSIGNED[..128]
        .iter()
        .enumerate()
        .map(|(i, id)| MemberInfo {
            id: cc(id),
            ..member("KZ", (i % 100) as u8)
        })
        .collect();
    // Only the member list matters to this rule; the keys need not be distinct here.
    l.state.insert(
        StateKey::Epoch(0),
        StateValue::Epoch(Epoch {
            from_height: 1,
            members,
            changes: vec![],
        }),
    );
    assert_eq!(
        l.code("KZ", propose("KZ", admit("ZW", 30))),
        "MEMBERSHIP_TOO_MANY_MEMBERS"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the size, the order of approvals and blocks between them, a change is adopted by the approval
    /// that makes `n − f` distinct members of the set in force, never before, and then exactly once.
    #[test]
    fn adoption_happens_at_the_quorum_whatever_the_order(
        n in 4usize..=10,
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut v: Vec<usize> = (1..10).collect();
            for i in (1..v.len()).rev() {
                v.swap(i, rng.random_range(0..=i));
            }
            v
        }),
        gaps in proptest::collection::vec(0u64..3, 10),
    ) {
        let mut l = Ledger::with_members(n);
        let quorum = n - (n - 1) / 3;
        let id = l.submit("KZ", propose("KZ", admit("EE", 30))).unwrap();
        let mut approvals = 1;
        for (i, m) in order.into_iter().filter(|&i| i < n).map(|i| MEMBER_IDS[i]).enumerate() {
            for _ in 0..gaps[i] {
                l.next_block(500);
            }
            let result = l.submit(m, approve(id, m));
            if approvals >= quorum {
                prop_assert_eq!(result.unwrap_err().code(), "MEMBERSHIP_PROPOSAL_ADOPTED");
            } else {
                result.unwrap();
                approvals += 1;
                let adopted = matches!(status(&l, id), ProposalStatus::Adopted { .. });
                prop_assert_eq!(adopted, approvals == quorum);
            }
        }
        prop_assert_eq!(rules::epoch_count(&l), 2);
    }
}
