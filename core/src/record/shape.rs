//! The shape checks of every record kind: everything about a record that does not depend on the ledger's state.

use super::*;

impl Record {
    /// Checks everything about the record that does not depend on the ledger's state.
    pub fn check_shape(&self) -> Result<(), ShapeError> {
        match self {
            Record::CertificateIssue(r) => r.certificate.check_shape(),
            Record::CertificateAmend(r) => {
                r.certificate.check_shape()?;
                if r.certificate.issuer != r.replaces.issuer {
                    return Err(field(
                        "certificate.issuer",
                        "an amendment must keep the issuer of the certificate it replaces",
                    ));
                }
                Ok(())
            }
            Record::CertificateRevoke(_) => Ok(()),
            Record::ClearanceDecision(r) => {
                if r.declaration.mrn.is_none() && r.declaration.ucr.is_none() {
                    return Err(field("declaration", "needs an mrn, a ucr, or both"));
                }
                if r.linked_certificates.len() > MAX_LINKED_CERTIFICATES {
                    return Err(field(
                        "linked_certificates",
                        format!("at most {MAX_LINKED_CERTIFICATES} certificates"),
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                if let Some(dup) = r.linked_certificates.iter().find(|c| !seen.insert(*c)) {
                    return Err(field(
                        "linked_certificates",
                        format!("{} {} is listed twice", dup.issuer, dup.number),
                    ));
                }
                Ok(())
            }
            Record::AeoStatus(r) => {
                if r.transition != AeoTransition::Granted
                    && r.transition != AeoTransition::Reinstated
                    && r.reason_code.is_none()
                {
                    return Err(field(
                        "reason_code",
                        "is required for a suspension, revocation, annulment or expiry",
                    ));
                }
                Ok(())
            }
            Record::MraPropose(r) => {
                if r.proposer == r.partner {
                    return Err(field("partner", "a member cannot recognise itself"));
                }
                Ok(())
            }
            Record::MraAccept(_) | Record::MraWithdraw(_) | Record::MembershipApprove(_) => Ok(()),
            Record::SubmitterKeyRegister(r) => {
                r.key.validate().map_err(|e| field("key", e.to_string()))?;
                if r.roles.is_empty() {
                    return Err(field("roles", "at least one role is required"));
                }
                Ok(())
            }
            Record::SubmitterKeyRevoke(_) => Ok(()),
            Record::MembershipPropose(r) => match &r.change {
                MembershipChange::Admit(a) => {
                    a.member.check_shape()?;
                    a.submitter_key
                        .validate()
                        .map_err(|e| field("submitter_key", e.to_string()))?;
                    if a.submitter_key == a.member.validator_key
                        || a.submitter_key == a.member.peer_id.key()
                    {
                        return Err(field(
                            "submitter_key",
                            "must differ from the validator and network keys",
                        ));
                    }
                    Ok(())
                }
                MembershipChange::RotateValidatorKey { new_key, .. } => {
                    new_key
                        .validate()
                        .map_err(|e| field("new_key", e.to_string()))?;
                    Ok(())
                }
                MembershipChange::RotateNetworkKey { new_peer_id, .. } => {
                    new_peer_id
                        .key()
                        .validate()
                        .map_err(|e| field("new_peer_id", e.to_string()))?;
                    Ok(())
                }
                MembershipChange::Remove { .. } => Ok(()),
            },
            Record::Evidence(r) => r.check_shape(),
        }
    }
}
