//! The lifecycle rules of each record kind.

use super::RuleError;
use super::state::*;
use crate::hash::Hash32;
use crate::record::*;

fn cert_name(r: &CertificateRef) -> String {
    format!("{} {}", r.issuer, r.number)
}

fn write(key: StateKey, value: StateValue) -> Change {
    Change { key, value }
}

pub(super) fn apply_record(
    view: &dyn StateView,
    ctx: &super::BlockContext,
    id: &Hash32,
    record: &Record,
) -> Result<Vec<Change>, RuleError> {
    match record {
        Record::CertificateIssue(r) => {
            let reference = r.certificate.reference();
            if certificate(view, &reference).is_some() {
                return Err(RuleError::CertificateExists(cert_name(&reference)));
            }
            Ok(vec![valid_certificate(reference, id)])
        }
        Record::CertificateAmend(r) => {
            changeable(view, &r.replaces)?;
            let new = r.certificate.reference();
            if new == r.replaces {
                // Amended in place: same number, new content.
                return Ok(vec![valid_certificate(new, id)]);
            }
            if certificate(view, &new).is_some() {
                return Err(RuleError::CertificateExists(cert_name(&new)));
            }
            Ok(vec![
                write(
                    StateKey::Certificate(r.replaces.clone()),
                    StateValue::Certificate(CertificateState {
                        status: CertificateStatus::Replaced,
                        record: *id,
                        replaced_by: Some(new.clone()),
                    }),
                ),
                valid_certificate(new, id),
            ])
        }
        Record::CertificateRevoke(r) => {
            changeable(view, &r.certificate)?;
            Ok(vec![write(
                StateKey::Certificate(r.certificate.clone()),
                StateValue::Certificate(CertificateState {
                    status: CertificateStatus::Revoked,
                    record: *id,
                    replaced_by: None,
                }),
            )])
        }
        Record::ClearanceDecision(r) => clearance_decision(view, id, r),
        Record::AeoStatus(r) => aeo_status(view, id, r),
        Record::MraPropose(r) => Ok(vec![write(
            StateKey::Mra(*id),
            StateValue::Mra(MraState {
                proposer: r.proposer.clone(),
                partner: r.partner.clone(),
                covers: r.covers,
                status: MraStatus::Proposed,
            }),
        )]),
        Record::MraAccept(r) => {
            let mut state = mra(view, &r.proposal).ok_or(RuleError::MraNotFound(r.proposal))?;
            if state.partner != r.acceptor {
                return Err(RuleError::MraNotPartner(r.proposal, state.partner));
            }
            if state.status != MraStatus::Proposed {
                return Err(RuleError::MraNotPending(r.proposal, state.status.name()));
            }
            state.status = MraStatus::Active;
            Ok(vec![write(
                StateKey::Mra(r.proposal),
                StateValue::Mra(state),
            )])
        }
        Record::MraWithdraw(r) => {
            let mut state = mra(view, &r.proposal).ok_or(RuleError::MraNotFound(r.proposal))?;
            if state.proposer != r.member && state.partner != r.member {
                return Err(RuleError::MraNotParty(r.proposal, r.member.clone()));
            }
            if state.status == MraStatus::Withdrawn {
                return Err(RuleError::MraWithdrawn(r.proposal));
            }
            state.status = MraStatus::Withdrawn;
            Ok(vec![write(
                StateKey::Mra(r.proposal),
                StateValue::Mra(state),
            )])
        }
        Record::SubmitterKeyRegister(r) => {
            if submitter(view, &r.key).is_some() {
                return Err(RuleError::KeyExists(r.key));
            }
            Ok(vec![write(
                StateKey::Submitter(r.key),
                StateValue::Submitter(SubmitterEntry {
                    member: r.member.clone(),
                    roles: r.roles,
                    active: true,
                }),
            )])
        }
        Record::SubmitterKeyRevoke(r) => match submitter(view, &r.key) {
            Some(entry) if entry.active && entry.member == r.member => Ok(vec![write(
                StateKey::Submitter(r.key),
                StateValue::Submitter(SubmitterEntry {
                    active: false,
                    ..entry
                }),
            )]),
            _ => Err(RuleError::KeyNotActive(r.key, r.member.clone())),
        },
        Record::MembershipPropose(r) => super::membership::propose(view, ctx, id, r),
        Record::MembershipApprove(r) => super::membership::approve(view, ctx, r),
        // Needs its transaction's chain: `rules::apply_record` takes it before this.
        Record::Evidence(_) => Err(RuleError::EvidenceInvalid(
            "checked with its transaction".into(),
        )),
    }
}

fn valid_certificate(reference: CertificateRef, id: &Hash32) -> Change {
    write(
        StateKey::Certificate(reference),
        StateValue::Certificate(CertificateState {
            status: CertificateStatus::Valid,
            record: *id,
            replaced_by: None,
        }),
    )
}

/// A certificate may be amended or revoked only while it is valid.
fn changeable(view: &dyn StateView, r: &CertificateRef) -> Result<(), RuleError> {
    let state = certificate(view, r).ok_or_else(|| RuleError::CertificateNotFound(cert_name(r)))?;
    match state.status {
        CertificateStatus::Valid => Ok(()),
        CertificateStatus::Revoked => Err(RuleError::CertificateRevoked(cert_name(r))),
        CertificateStatus::Replaced => Err(RuleError::CertificateReplaced(
            cert_name(r),
            state
                .replaced_by
                .as_ref()
                .map(cert_name)
                .unwrap_or_default(),
        )),
    }
}

/// Two references name the same declaration when they share an MRN or a UCR.
fn same_declaration(a: &DeclarationRef, b: &DeclarationRef) -> bool {
    let mrn = matches!((&a.mrn, &b.mrn), (Some(x), Some(y)) if x == y);
    let ucr = matches!((&a.ucr, &b.ucr), (Some(x), Some(y)) if x == y);
    mrn || ucr
}

fn clearance_decision(
    view: &dyn StateView,
    id: &Hash32,
    r: &ClearanceDecision,
) -> Result<Vec<Change>, RuleError> {
    let member = r.office.country();
    let mut changes = Vec::new();
    if let Some(previous) = r.supersedes {
        let mut state = decision(view, &previous).ok_or(RuleError::DecisionNotFound(previous))?;
        if let Some(by) = state.superseded_by {
            return Err(RuleError::DecisionSuperseded(previous, by));
        }
        if state.member != member {
            return Err(RuleError::DecisionOtherMember(previous, state.member));
        }
        if !same_declaration(&state.declaration, &r.declaration) {
            return Err(RuleError::DecisionOtherDeclaration(previous));
        }
        if state.decision == Decision::Cancelled {
            return Err(RuleError::DecisionCancelled(previous));
        }
        state.superseded_by = Some(*id);
        changes.push(write(
            StateKey::Decision(previous),
            StateValue::Decision(state),
        ));
    }
    for declaration in r.declaration.ids() {
        changes.push(write(
            StateKey::Declaration {
                declaration,
                member: member.clone(),
            },
            StateValue::Record(*id),
        ));
    }
    changes.push(write(
        StateKey::Decision(*id),
        StateValue::Decision(DecisionState {
            declaration: r.declaration.clone(),
            member,
            decision: r.decision,
            superseded_by: None,
        }),
    ));
    Ok(changes)
}

fn transition_name(t: AeoTransition) -> &'static str {
    match t {
        AeoTransition::Granted => "granted",
        AeoTransition::Suspended => "suspended",
        AeoTransition::Reinstated => "reinstated",
        AeoTransition::Revoked => "revoked",
        AeoTransition::Annulled => "annulled",
        AeoTransition::Expired => "expired",
    }
}

/// The AEO lifecycle: granted → suspended ⇄ reinstated, and revoked, annulled or expired from an active or
/// suspended status. Revoked and annulled are final; an expired authorisation may be granted again.
fn aeo_status(view: &dyn StateView, id: &Hash32, r: &AeoStatus) -> Result<Vec<Change>, RuleError> {
    use AeoStanding as S;
    use AeoTransition as T;
    let current = aeo(view, &r.operator, &r.programme);
    let from = current.as_ref().map(|c| c.standing);
    let to = match (r.transition, from) {
        (T::Granted, None | Some(S::Expired)) => S::Active,
        (T::Suspended, Some(S::Active)) => S::Suspended,
        (T::Reinstated, Some(S::Suspended)) => S::Active,
        (T::Revoked, Some(S::Active | S::Suspended)) => S::Revoked,
        (T::Annulled, Some(S::Active | S::Suspended | S::Expired)) => S::Annulled,
        (T::Expired, Some(S::Active | S::Suspended)) => S::Expired,
        (_, None) => {
            return Err(RuleError::AeoNotFound(
                r.operator.to_string(),
                r.programme.clone(),
            ));
        }
        (t, Some(standing)) => {
            return Err(RuleError::AeoTransition {
                operator: r.operator.to_string(),
                programme: r.programme.clone(),
                from: standing.name(),
                to: transition_name(t),
            });
        }
    };
    Ok(vec![write(
        StateKey::Aeo {
            operator: r.operator.clone(),
            programme: r.programme.clone(),
        },
        StateValue::Aeo(AeoState {
            standing: to,
            aeo_type: r.aeo_type,
            record: *id,
        }),
    )])
}
