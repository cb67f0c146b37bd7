//! One line for people saying what a verified record says, for verdicts and the CLI.

use crate::record::Record;
use serde::Serialize;
use std::fmt;

/// The JSON name of an enum value, with spaces for underscores, e.g. `phytosanitary`.
fn name<T: Serialize + fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s.replace('_', " "),
        _ => format!("{value:?}"),
    }
}

/// One line saying what a record says.
pub(super) fn describe(record: &Record) -> String {
    match record {
        Record::CertificateIssue(r) => format!(
            "{} {} issued by {}",
            name(&r.certificate.cert_type),
            r.certificate.number.as_str(),
            r.certificate.issuer
        ),
        Record::CertificateAmend(r) => format!(
            "{} {} of {} amended as {}",
            name(&r.certificate.cert_type),
            r.replaces.number.as_str(),
            r.replaces.issuer,
            r.certificate.number.as_str()
        ),
        Record::CertificateRevoke(r) => format!(
            "certificate {} of {} revoked from {}",
            r.certificate.number.as_str(),
            r.certificate.issuer,
            r.effective_on
        ),
        Record::ClearanceDecision(r) => {
            let declaration = [
                r.declaration
                    .mrn
                    .as_ref()
                    .map(|m| format!("MRN {}", m.as_str())),
                r.declaration
                    .ucr
                    .as_ref()
                    .map(|u| format!("UCR {}", u.as_str())),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
            format!(
                "{} of declaration {declaration} at office {}",
                name(&r.decision),
                r.office.as_str()
            )
        }
        Record::AeoStatus(r) => format!(
            "AEO {} of operator {} in the programme of {}, from {}",
            name(&r.transition),
            r.operator.as_str(),
            r.programme,
            r.effective_on
        ),
        Record::Evidence(r) => match r.equivocation.claimed() {
            Ok(o) => format!(
                "{} signed two conflicting {} at height {}, round {}; reported by {}",
                o.validator,
                o.step.plural(),
                o.height,
                o.round,
                r.reporter
            ),
            Err(_) => "evidence".to_string(),
        },
        other => other.kind().replace('_', " "),
    }
}
