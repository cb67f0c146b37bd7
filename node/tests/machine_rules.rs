//! One scripted test per rule of Algorithm 1 ("The latest gossip on BFT consensus"), named by the paper's line
//! numbers: exact inputs to one machine, exact outputs expected. The seeded simulation (`consensus_sim`) finds
//! what no one thought to script; these say what each rule does, and fail with the rule's name when it stops.
//!
//! Four validators (f = 1, quorum 3) at height 1; the proposer of round r is validator (1 + r) % 4.

mod machine_rig;

use clearance_core::equivocation::EquivocationStep;
use clearance_core::proposer::ProposerOrder;
use clearance_core::vote::VoteKind;
use clearance_node::consensus::{CheckError, Input, Output, Step, Timeout};
use machine_rig::{Effects, Rig, effects, hash};

use VoteKind::{Precommit, Prevote};

#[test]
fn l11_l21_start_round_as_non_proposer_schedules_the_propose_timeout() {
    let mut rig = Rig::unstarted(0, None);
    let e = effects(&rig.m.start());
    assert_eq!(
        e,
        Effects {
            timeouts: vec![(Step::Propose, 0, rig.to_ms(Step::Propose, 0))],
            ..Effects::default()
        }
    );
    assert_eq!((rig.m.round(), rig.m.step()), (0, Step::Propose));
}

#[test]
fn l14_l18_l19_proposer_asks_for_a_value_and_proposes_it() {
    let mut rig = Rig::unstarted(1, None);
    let e = effects(&rig.m.start());
    assert_eq!(e.builds, vec![0]);
    assert!(e.proposals.is_empty());
    let b = rig.block(1);
    let e = rig.handle(Input::BlockToPropose {
        height: 1,
        round: 0,
        block: b.clone(),
    });
    assert_eq!(e.proposals, vec![(0, None, hash(&b))]);
}

#[test]
fn l15_l16_proposer_proposes_its_valid_value_with_its_valid_round() {
    // Validator 2 proposes round 1. In round 0 it sees a polka for b (valid value b, valid round 0).
    let mut rig = Rig::new(2);
    let b = rig.block(1);
    rig.proposed_and_valid(0, None, &b);
    let prevotes = rig.prevotes(&[0, 1], 0, Some(hash(&b)));
    rig.feed(prevotes);
    let e = rig.end_round(0, &[0, 1]);
    assert_eq!(e.proposals, vec![(1, Some(0), hash(&b))]);
    assert!(e.builds.is_empty(), "no new value while one is valid");
}

#[test]
fn l22_l24_prevote_for_a_valid_proposal_when_unlocked() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    let p = rig.proposal(0, None, &b);
    let e = rig.handle(p);
    assert_eq!(e.validates, vec![hash(&b)], "asks the executor first");
    assert!(e.votes.is_empty(), "no prevote before valid(v) is known");
    let e = rig.verdict(&b, true);
    assert_eq!(e.votes, vec![(Prevote, 0, Some(hash(&b)))]);
    assert_eq!(rig.m.step(), Step::Prevote);
}

#[test]
fn l26_prevote_nil_for_an_invalid_proposal() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    let p = rig.proposal(0, None, &b);
    rig.handle(p);
    let e = rig.verdict(&b, false);
    assert_eq!(e.votes, vec![(Prevote, 0, None)]);
}

#[test]
fn l26_prevote_nil_for_a_new_value_while_locked_on_another() {
    let mut rig = Rig::new(0);
    let (b, c) = (rig.block(1), rig.block_of(2, 2));
    rig.prevoted_for(&b);
    let prevotes = rig.prevotes(&[1, 2], 0, Some(hash(&b)));
    let e = rig.feed(prevotes);
    assert_eq!(e.votes, vec![(Precommit, 0, Some(hash(&b)))], "locked on b");
    rig.end_round(0, &[1, 2]);
    let e = rig.proposed_and_valid(1, None, &c);
    assert_eq!(
        e.votes,
        vec![(Prevote, 1, None)],
        "a lock holds against new values"
    );
}

#[test]
fn l28_l30_prevote_for_a_reproposal_backed_by_a_polka_in_its_valid_round() {
    let mut rig = Rig::new(0);
    let c = rig.block(2);
    rig.polka_unseen_in_round_0(&c);
    let e = rig.proposed_and_valid(1, Some(0), &c);
    assert_eq!(e.votes, vec![(Prevote, 1, Some(hash(&c)))]);
}

#[test]
fn l28_no_prevote_on_a_reproposal_without_its_polka() {
    let mut rig = Rig::new(0);
    let c = rig.block(2);
    rig.timeout(0, Step::Propose);
    rig.end_round(0, &[1, 2]);
    let e = rig.proposed_and_valid(1, Some(0), &c);
    assert!(e.votes.is_empty(), "waits for the polka or the timeout");
    let e = rig.timeout(1, Step::Propose);
    assert_eq!(e.votes, vec![(Prevote, 1, None)]);
}

#[test]
fn l32_prevote_nil_on_a_reproposal_older_than_the_lock() {
    // Locked on b in round 1; round 2 re-proposes c with a polka from round 0.
    let mut rig = Rig::new(0);
    let (b, c) = (rig.block_of(1, 2), rig.block(2));
    rig.polka_unseen_in_round_0(&c);
    rig.proposed_and_valid(1, None, &b);
    let prevotes = rig.prevotes(&[2, 3], 1, Some(hash(&b)));
    let e = rig.feed(prevotes);
    assert_eq!(e.votes.last(), Some(&(Precommit, 1, Some(hash(&b)))));
    rig.end_round(1, &[2, 3]);
    let e = rig.proposed_and_valid(2, Some(0), &c);
    assert_eq!(
        e.votes,
        vec![(Prevote, 2, None)],
        "lockedRound 1 > validRound 0"
    );
}

#[test]
fn l34_prevote_timeout_on_two_thirds_of_any_prevotes() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    rig.prevoted_for(&b);
    let one = rig.prevotes(&[1], 0, None);
    let e = rig.feed(one);
    assert!(e.timeouts.is_empty(), "two prevotes are not 2f+1");
    let two = rig.prevotes(&[2], 0, Some(hash(&rig.block(9))));
    let e = rig.feed(two);
    assert_eq!(
        e.timeouts,
        vec![(Step::Prevote, 0, rig.to_ms(Step::Prevote, 0))]
    );
    assert!(e.votes.is_empty());
}

#[test]
fn l36_l43_polka_locks_and_precommits_the_value() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    rig.prevoted_for(&b);
    let prevotes = rig.prevotes(&[1, 2], 0, Some(hash(&b)));
    let e = rig.feed(prevotes);
    assert_eq!(e.votes, vec![(Precommit, 0, Some(hash(&b)))]);
    assert_eq!(rig.m.step(), Step::Precommit);
}

#[test]
fn l44_polka_for_nil_precommits_nil() {
    let mut rig = Rig::new(0);
    let e = rig.timeout(0, Step::Propose);
    assert_eq!(e.votes, vec![(Prevote, 0, None)]);
    let prevotes = rig.prevotes(&[1, 2], 0, None);
    let e = rig.feed(prevotes);
    assert_eq!(e.votes, vec![(Precommit, 0, None)]);
}

#[test]
fn l47_precommit_timeout_on_two_thirds_of_any_precommits() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    let precommits = rig.precommits(&[1, 2], 0, None);
    let e = rig.feed(precommits);
    assert!(e.timeouts.is_empty());
    let third = rig.precommits(&[3], 0, Some(hash(&b)));
    let e = rig.feed(third);
    assert_eq!(
        e.timeouts,
        vec![(Step::Precommit, 0, rig.to_ms(Step::Precommit, 0))]
    );
}

#[test]
fn l49_decide_on_two_thirds_of_precommits_for_a_held_valid_value() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    let precommits = rig.precommits(&[1, 2, 3], 0, Some(hash(&b)));
    let e = rig.feed(precommits);
    assert!(e.decisions.is_empty(), "the value is not held yet");
    let p = rig.proposal(0, None, &b);
    rig.handle(p);
    let e = rig.verdict(&b, true);
    assert_eq!(e.decisions, vec![(0, hash(&b))]);
    assert!(rig.m.is_decided());
}

#[test]
fn l49_decide_in_an_earlier_round_than_the_current_one() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    rig.timeout(0, Step::Propose);
    let nil = rig.prevotes(&[1, 2], 0, None);
    rig.feed(nil);
    rig.end_round(0, &[1, 2]);
    assert_eq!(rig.m.round(), 1);
    rig.proposed_and_valid(0, None, &b);
    let late = rig.precommits(&[1, 2, 3], 0, Some(hash(&b)));
    let e = rig.feed(late);
    assert_eq!(e.decisions, vec![(0, hash(&b))]);
}

#[test]
fn l52_l54_a_committed_height_starts_the_next_with_the_lock_cleared() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    rig.prevoted_for(&b);
    let prevotes = rig.prevotes(&[1, 2], 0, Some(hash(&b)));
    rig.feed(prevotes);
    let precommits = rig.precommits(&[1, 2], 0, Some(hash(&b)));
    rig.feed(precommits);
    let set = rig.set.clone();
    let e = rig.handle(Input::HeightCommitted {
        height: 1,
        next_validators: set,
        next_proposers: ProposerOrder::rotation(4, 2),
    });
    assert_eq!((rig.m.height(), rig.m.round()), (2, 0));
    // Validator 0 is not the proposer of height 2, round 0 ((2 + 0) % 4 = 2).
    assert_eq!(
        e.timeouts,
        vec![(Step::Propose, 0, rig.to_ms(Step::Propose, 0))]
    );
    assert!(rig.m.describe().contains("locked None"));
}

#[test]
fn l55_f_plus_one_messages_of_a_higher_round_move_to_it() {
    let mut rig = Rig::new(0);
    let one = rig.prevotes(&[1], 3, None);
    let e = rig.feed(one);
    assert_eq!(rig.m.round(), 0, "one member alone cannot move anyone");
    assert!(e.timeouts.is_empty());
    let two = rig.precommits(&[2], 3, None);
    let e = rig.feed(two);
    assert_eq!(rig.m.round(), 3);
    assert_eq!(
        e.timeouts,
        vec![(Step::Propose, 3, rig.to_ms(Step::Propose, 3))]
    );
}

#[test]
fn l57_timeout_propose_prevotes_nil() {
    let mut rig = Rig::new(0);
    let e = rig.timeout(0, Step::Propose);
    assert_eq!(e.votes, vec![(Prevote, 0, None)]);
    let e = rig.timeout(0, Step::Propose);
    assert_eq!(e, Effects::default(), "only while step is propose");
}

#[test]
fn l61_timeout_prevote_precommits_nil() {
    let mut rig = Rig::new(0);
    rig.timeout(0, Step::Propose);
    let e = rig.timeout(0, Step::Prevote);
    assert_eq!(e.votes, vec![(Precommit, 0, None)]);
}

#[test]
fn l65_timeout_precommit_starts_the_next_round() {
    let mut rig = Rig::new(0);
    let e = rig.timeout(0, Step::Precommit);
    assert_eq!(rig.m.round(), 1);
    // Validator 2 proposes round 1; validator 0 waits for it.
    assert_eq!(
        e.timeouts,
        vec![(Step::Propose, 1, rig.to_ms(Step::Propose, 1))]
    );
    let e = rig.timeout(0, Step::Precommit);
    assert_eq!(
        e,
        Effects::default(),
        "a timeout of a past round does nothing"
    );
}

#[test]
fn restart_resends_what_was_signed_and_never_signs_it_differently() {
    let mut rig = Rig::new(0);
    let b = rig.block(1);
    let outputs = rig.m.handle(Input::Timeout(Timeout {
        height: 1,
        round: 0,
        step: Step::Propose,
    }));
    let persisted = outputs
        .iter()
        .find_map(|o| match o {
            Output::PersistSafetyState(s) => Some(s.clone()),
            _ => None,
        })
        .expect("persisted before the nil prevote");
    let mut restarted = Rig::unstarted(0, Some(persisted));
    let e = effects(&restarted.m.start());
    assert_eq!(
        e.votes,
        vec![(Prevote, 0, None)],
        "the same vote, sent again"
    );
    let p = restarted.proposal(0, None, &b);
    restarted.handle(p);
    let e = restarted.verdict(&b, true);
    assert!(e.votes.is_empty(), "no second prevote in round 0");
}

#[test]
fn a_proposer_signing_two_proposals_for_one_round_is_reported_once() {
    let mut rig = Rig::new(0);
    let (a, b, c) = (rig.block(1), rig.block(2), rig.block(3));
    let first = rig.proposal(0, None, &a);
    assert!(rig.handle(first).evidence.is_empty());
    // The same proposal again is no equivocation.
    let again = rig.proposal(0, None, &a);
    assert!(rig.handle(again).evidence.is_empty());
    let others = vec![
        rig.proposal(0, None, &b),
        rig.proposal(0, Some(0), &a),
        rig.proposal(0, None, &c),
    ];
    let e = rig.feed(others);
    assert_eq!(e.evidence, vec![(EquivocationStep::Proposal, 0)]);
    // Two prevotes of validator 2 for different blocks: the other kind of evidence.
    let votes = vec![
        rig.vote(2, 0, Prevote, Some(hash(&a))),
        rig.vote(2, 0, Prevote, Some(hash(&b))),
    ];
    assert_eq!(
        rig.feed(votes).evidence,
        vec![(EquivocationStep::Prevote, 0)]
    );
}

#[test]
fn a_new_proposal_must_name_its_signer_as_proposer_in_the_header() {
    let mut rig = Rig::new(0);
    // Round 0 is validator 1's; a block naming validator 2 would credit it to a member that did not make it.
    let credited = rig.block_of(1, 2);
    assert!(matches!(
        rig.try_proposal(0, None, &credited),
        Err(CheckError::ProposerNotNamed)
    ));
    // A valid value proposed again keeps the name of the member that first proposed it.
    let first = rig.block(1);
    assert!(rig.try_proposal(1, Some(0), &first).is_ok());
}
