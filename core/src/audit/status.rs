//! Status proofs: where a certificate, an operator's AEO standing, a clearance decision or a declaration stands as
//! of a certified header, proven by the state tree under that header's `state_root` (`docs/audit.md` §3.5). A proof of absence
//! proves "never recorded".

use super::verdict::{AuditError, HeadSummary, fail};
use super::{MAX_LATER_RECORDS, ProofBundle};
use crate::block::HeaderView;
use crate::bytes::Bytes;
use crate::encoding::{self, limit};
use crate::hash::Hash32;
use crate::ids::{CountryCode, OperatorId};
use crate::record::{CertificateRef, Decision, DeclarationId, Record, RecordId};
use crate::rules::{AeoStanding, CertificateStatus, StateKey, StateValue, value_hash};
use crate::state_tree::StateProof;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// What a status is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StatusSubject {
    /// A certificate, by issuer and number.
    Certificate(CertificateRef),
    /// An operator's standing in one member's AEO programme.
    Aeo {
        operator: OperatorId,
        programme: CountryCode,
    },
    /// A clearance decision, by its record id: in force, or superseded.
    Decision { record: RecordId },
    /// The decision a member recorded last on a declaration, by its MRN or its UCR.
    Declaration {
        declaration: DeclarationId,
        member: CountryCode,
    },
}

impl StatusSubject {
    /// The state entry that holds the status.
    pub fn key(&self) -> StateKey {
        match self {
            StatusSubject::Certificate(r) => StateKey::Certificate(r.clone()),
            StatusSubject::Aeo {
                operator,
                programme,
            } => StateKey::Aeo {
                operator: operator.clone(),
                programme: programme.clone(),
            },
            StatusSubject::Decision { record } => StateKey::Decision(*record),
            StatusSubject::Declaration {
                declaration,
                member,
            } => StateKey::Declaration {
                declaration: declaration.clone(),
                member: member.clone(),
            },
        }
    }

    /// The status a record's bundle proves: that of the certificate whose document the record carries (the new
    /// one for an amendment), of the operator in the programme, or of the decision itself.
    pub fn of_record(record: &Record, id: &RecordId) -> Option<StatusSubject> {
        match record {
            Record::CertificateIssue(r) => Some(StatusSubject::Certificate(CertificateRef {
                issuer: r.certificate.issuer.clone(),
                number: r.certificate.number.clone(),
            })),
            Record::CertificateAmend(r) => Some(StatusSubject::Certificate(CertificateRef {
                issuer: r.certificate.issuer.clone(),
                number: r.certificate.number.clone(),
            })),
            Record::CertificateRevoke(r) => Some(StatusSubject::Certificate(r.certificate.clone())),
            Record::AeoStatus(r) => Some(StatusSubject::Aeo {
                operator: r.operator.clone(),
                programme: r.programme.clone(),
            }),
            Record::ClearanceDecision(_) => Some(StatusSubject::Decision { record: *id }),
            _ => None,
        }
    }

    /// For people: "certificate KZ-PC-2026-0001 of KZ".
    pub fn describe(&self) -> String {
        match self {
            StatusSubject::Certificate(r) => {
                format!("certificate {} of {}", r.number.as_str(), r.issuer)
            }
            StatusSubject::Aeo {
                operator,
                programme,
            } => format!(
                "operator {} in {programme}'s AEO programme",
                operator.as_str()
            ),
            StatusSubject::Decision { record } => format!("clearance decision {record}"),
            StatusSubject::Declaration {
                declaration,
                member,
            } => format!("decision of {member} on the declaration with {declaration}"),
        }
    }

    /// Whether `record` changes this subject's status entry.
    pub fn changed_by(&self, record: &Record) -> bool {
        match self {
            StatusSubject::Certificate(r) => super::certificate_refs(record).contains(r),
            StatusSubject::Aeo {
                operator,
                programme,
            } => matches!(record, Record::AeoStatus(a)
                if &a.operator == operator && &a.programme == programme),
            StatusSubject::Decision { record: id } => matches!(record,
                Record::ClearanceDecision(d) if d.supersedes == Some(*id)),
            StatusSubject::Declaration {
                declaration,
                member,
            } => matches!(record, Record::ClearanceDecision(d)
                if &d.office.country() == member && d.declaration.names(declaration)),
        }
    }
}

/// A state entry's value, as the exact canonical bytes (none when the proof shows no entry), and its path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateEntryProof {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Bytes>,
    pub proof: StateProof,
}

/// Whether `member` recognises an operator's standing in another member's programme: the active MRA between
/// the two that covers it, proven under the same root (`docs/audit.md` §2.8). No MRA shown means recognition is
/// not proven; it cannot prove that no such MRA exists, since MRAs are kept by record id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionProof {
    pub member: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mra: Option<RecordEntryProof>,
}

/// A state entry kept by record id (an MRA's, by its `mra_propose` record; a decision's), with that id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordEntryProof {
    pub record: RecordId,
    pub status: StateEntryProof,
}

/// Checks `entry` for `key` against `root`: the entry's value, or `None` if the proof shows there is none.
pub(super) fn prove(
    step: &str,
    key: &StateKey,
    entry: &StateEntryProof,
    root: &Hash32,
) -> Result<Option<StateValue>, AuditError> {
    let found = entry
        .proof
        .verify(root, &key.path())
        .map_err(|e| fail(format!("{step}.proof"), e))?;
    let value_step = format!("{step}.value");
    match (found, &entry.value) {
        (None, None) => Ok(None),
        (Some(hash), Some(bytes)) => {
            if value_hash(bytes.as_slice()) != hash {
                return Err(fail(
                    value_step,
                    "the value's hash is not the one the proof leads from",
                ));
            }
            encoding::decode(bytes.as_slice(), limit::GENESIS, "state value")
                .map(Some)
                .map_err(|e| fail(value_step, e))
        }
        (None, Some(_)) => Err(fail(
            value_step,
            "the file gives a value, but the proof shows there is no entry",
        )),
        (Some(_), None) => Err(fail(
            value_step,
            "the proof shows an entry, but the file gives no value",
        )),
    }
}

/// The bundle's status section (`docs/audit.md` §3.1, steps `status.*`): required for a record that has a
/// status, proven against the anchor's state root, and set by the newest record the bundle carries about it.
pub(super) fn bundle_status(
    bundle: &ProofBundle,
    record: &Record,
    id: &Hash32,
    anchor_view: &HeaderView,
    anchor: &HeadSummary,
    carried: &[(Hash32, Record)],
    known: &[Known],
) -> Result<Option<StatusSummary>, AuditError> {
    let Some(subject) = StatusSubject::of_record(record, id) else {
        if bundle.status.is_some() {
            return Err(fail(
                "status",
                format!("a {} record has no status to prove", record.kind()),
            ));
        }
        return Ok(None);
    };
    let entry = bundle.status.as_ref().ok_or_else(|| {
        fail(
            "status",
            format!(
                "the bundle carries no status proof for {}",
                subject.describe()
            ),
        )
    })?;
    let value = prove(
        "status",
        &subject.key(),
        entry,
        &anchor_view.header.state_root,
    )?;
    if value.is_none() {
        return Err(fail(
            "status.absent",
            format!(
                "the proof says {} was never recorded, but the bundle's record recorded it",
                subject.describe()
            ),
        ));
    }
    let summary = summarize("status", &subject, value, anchor, known)?;
    // The record that set the status must be the newest the bundle carries about the subject: a status older than
    // a later record of the bundle (a revocation after the proven "valid") cannot come from the anchor's state.
    let setter = summary.record.or(summary.superseded_by);
    let changes_after = |from: usize| {
        carried
            .iter()
            .skip(from + 1)
            .find(|(_, r)| subject.changed_by(r))
    };
    let stale = match setter {
        Some(setter) => match carried.iter().position(|(id, _)| *id == setter) {
            Some(at) => changes_after(at),
            None if bundle.later.len() < MAX_LATER_RECORDS => {
                return Err(fail(
                    "status.record",
                    format!(
                        "the status of {} was set by record {setter}, which the bundle does not carry",
                        subject.describe()
                    ),
                ));
            }
            // The bundle left out its oldest later records, the setter among them: it is older than every later
            // record the bundle carries, so none of those may have changed the status.
            None => changes_after(0),
        },
        // A decision in force: nothing the bundle carries may supersede it.
        None => changes_after(0),
    };
    if let Some((later_id, later)) = stale {
        return Err(fail(
            "status.stale",
            format!(
                "the status proof shows {} as {}, but the bundle's later {} record {later_id} changed it after that",
                subject.describe(),
                summary.status,
                later.kind()
            ),
        ));
    }
    Ok(Some(summary))
}

/// Where the subject stands, as the verdict reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusSummary {
    pub subject: StatusSubject,
    /// `valid`, `replaced`, `revoked` (certificates); `active`, `suspended`, `revoked`, `annulled`, `expired`
    /// (AEO standing); `in_force`, `superseded` (decisions); the decision's name, `released`, `hold`, … (a
    /// declaration); `not_recorded`.
    pub status: String,
    /// True only for a valid certificate, an active AEO, a decision in force and a declaration whose current
    /// decision is `released`: what a script may accept.
    pub good: bool,
    /// The one line for people, status first.
    pub headline: String,
    /// The certified header the status is read from.
    pub as_of: HeadSummary,
    /// The record that set the status (certificates and AEO standings).
    pub record: Option<RecordId>,
    /// Who recorded that record and when, when the file carries it.
    pub set_by: Option<CountryCode>,
    pub set_at: Option<Timestamp>,
    pub replaced_by: Option<CertificateRef>,
    pub superseded_by: Option<RecordId>,
    /// For an AEO standing asked about with a member: that member, whether it recognises the standing (its own
    /// programme, or an active MRA covering it, shown in the file), and the MRA.
    pub recognised_by: Option<CountryCode>,
    pub recognised: Option<bool>,
    pub via_mra: Option<RecordId>,
    /// For a declaration: the member's current decision on it.
    pub decision: Option<Decision>,
}

/// A record the file carries, for naming who set a status and when.
pub(super) struct Known {
    pub id: RecordId,
    pub member: CountryCode,
    pub time: Timestamp,
}

/// The verdict's status from a proven value.
pub(super) fn summarize(
    step: &str,
    subject: &StatusSubject,
    value: Option<StateValue>,
    as_of: &HeadSummary,
    known: &[Known],
) -> Result<StatusSummary, AuditError> {
    let mut s = StatusSummary {
        subject: subject.clone(),
        status: "not_recorded".into(),
        good: false,
        headline: String::new(),
        as_of: as_of.clone(),
        record: None,
        set_by: None,
        set_at: None,
        replaced_by: None,
        superseded_by: None,
        recognised_by: None,
        recognised: None,
        via_mra: None,
        decision: None,
    };
    let wrong = |v: &StateValue| {
        fail(
            format!("{step}.value"),
            format!(
                "the entry of {} holds another kind of value: {v:?}",
                subject.describe()
            ),
        )
    };
    match (subject, value) {
        (_, None) => {}
        (StatusSubject::Certificate(_), Some(StateValue::Certificate(c))) => {
            s.status = c.status.name().into();
            s.good = c.status == CertificateStatus::Valid;
            s.record = Some(c.record);
            s.replaced_by = c.replaced_by;
        }
        (StatusSubject::Aeo { .. }, Some(StateValue::Aeo(a))) => {
            s.status = a.standing.name().into();
            s.good = a.standing == crate::rules::AeoStanding::Active;
            s.record = Some(a.record);
        }
        (StatusSubject::Decision { .. }, Some(StateValue::Decision(d))) => {
            s.status = if d.superseded_by.is_some() {
                "superseded"
            } else {
                "in_force"
            }
            .into();
            s.good = d.superseded_by.is_none();
            s.superseded_by = d.superseded_by;
        }
        // Known only once the decision it names is proven too (`decided`).
        (StatusSubject::Declaration { .. }, Some(StateValue::Record(r))) => {
            s.status = "decided".into();
            s.record = Some(r);
        }
        (_, Some(v)) => return Err(wrong(&v)),
    }
    if let Some(k) = s.record.and_then(|r| known.iter().find(|k| k.id == r)) {
        s.set_by = Some(k.member.clone());
        s.set_at = Some(k.time);
    }
    s.headline = headline(&s);
    Ok(s)
}

/// Adds to `s` whether `recognition.member` recognises the AEO standing, checking the MRA the file shows under
/// `root` (step `recognition.*`). Asked about, recognition decides `good`: an active standing that the member is
/// not shown to recognise is not good for that member.
pub(super) fn recognise(
    s: &mut StatusSummary,
    recognition: &RecognitionProof,
    root: &Hash32,
    aeo_type: Option<crate::record::AeoType>,
) -> Result<(), AuditError> {
    let StatusSubject::Aeo { programme, .. } = &s.subject else {
        return Err(fail(
            "recognition",
            "recognition is asked only of an AEO standing",
        ));
    };
    let member = &recognition.member;
    let mut via = None;
    if let Some(mra) = &recognition.mra {
        let value = prove("recognition", &StateKey::Mra(mra.record), &mra.status, root)?;
        let Some(StateValue::Mra(state)) = value else {
            return Err(fail(
                "recognition.value",
                format!("record {} is not an MRA on the ledger", mra.record),
            ));
        };
        let covers = aeo_type.is_some_and(|t| state.recognises(member, programme, t));
        if !covers {
            return Err(fail(
                "recognition.mra",
                format!(
                    "MRA {} ({} between {} and {}, covering {:?}) does not make {member} recognise {programme}'s \
                     {aeo_type:?}",
                    mra.record,
                    state.status.name(),
                    state.proposer,
                    state.partner,
                    state.covers
                ),
            ));
        }
        via = Some(mra.record);
    }
    let active = s.status == AeoStanding::Active.name();
    let recognised = active && (member == programme || via.is_some());
    s.recognised_by = Some(member.clone());
    s.recognised = Some(recognised);
    s.via_mra = via;
    s.good = recognised;
    s.headline = headline(s);
    Ok(())
}

/// Adds to `s`, a declaration's status naming decision `s.record`, that decision: its entry under `root`
/// (step `decision.*`), which must be the member's, on the declaration, and in force.
pub(super) fn decided(
    s: &mut StatusSummary,
    decision: Option<&RecordEntryProof>,
    root: &Hash32,
) -> Result<(), AuditError> {
    let StatusSubject::Declaration {
        declaration,
        member,
    } = s.subject.clone()
    else {
        return match decision {
            Some(_) => Err(fail(
                "decision",
                "a decision is shown only for a declaration",
            )),
            None => Ok(()),
        };
    };
    let (named, entry) = match (s.record, decision) {
        (None, None) => return Ok(()),
        (Some(named), Some(entry)) if entry.record == named => (named, entry),
        (Some(named), Some(entry)) => {
            return Err(fail(
                "decision",
                format!(
                    "the declaration's entry names decision {named}; the file shows decision {}",
                    entry.record
                ),
            ));
        }
        (Some(named), None) => {
            return Err(fail(
                "decision",
                format!(
                    "the file does not show decision {named}, which the declaration's entry names"
                ),
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                "decision",
                "the file shows a decision, but the proof says none is recorded on the declaration",
            ));
        }
    };
    let value = prove("decision", &StateKey::Decision(named), &entry.status, root)?;
    let Some(StateValue::Decision(d)) = value else {
        return Err(fail(
            "decision.value",
            format!("record {named} is not a clearance decision on the ledger"),
        ));
    };
    if d.member != member || !d.declaration.names(&declaration) {
        return Err(fail(
            "decision.declaration",
            format!(
                "decision {named} is {}'s on {}, not {member}'s on the declaration with {declaration}",
                d.member,
                d.declaration
                    .ids()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        ));
    }
    s.decision = Some(d.decision);
    s.superseded_by = d.superseded_by;
    s.status = match d.superseded_by {
        Some(_) => "superseded".into(),
        None => d.decision.name().into(),
    };
    s.good = d.superseded_by.is_none() && d.decision == Decision::Released;
    s.headline = headline(s);
    Ok(())
}

/// `VALID as of 2026-11-29 08:34 UTC (height 1234, certified by KZ, DE, UZ)`, and the like.
fn headline(s: &StatusSummary) -> String {
    let signers: Vec<&str> = s.as_of.signers.iter().map(|m| m.member.as_str()).collect();
    let as_of = format!(
        "as of {} (height {}, certified by {})",
        s.as_of.time.to_minute_utc(),
        s.as_of.height,
        signers.join(", ")
    );
    let set = match (&s.set_at, &s.set_by) {
        (Some(t), Some(m)) => format!(" on {} by {m}", t.to_minute_utc()),
        _ => String::new(),
    };
    let word = s.status.replace('_', " ").to_uppercase();
    match (&s.subject, s.status.as_str()) {
        (_, "not_recorded") => format!("NOT RECORDED: no {} {as_of}", s.subject.describe()),
        (StatusSubject::Certificate(_), "replaced") => {
            let by = s.replaced_by.as_ref().map_or(String::new(), |r| {
                format!(" by {} of {}", r.number.as_str(), r.issuer)
            });
            format!("REPLACED{by}{set}, {as_of}")
        }
        (
            StatusSubject::Declaration {
                declaration,
                member,
            },
            _,
        ) => {
            let by = s
                .record
                .map_or(String::new(), |r| format!(" (decision {})", short(&r)));
            format!("{word} by {member} on the declaration with {declaration}{by}, {as_of}")
        }
        (StatusSubject::Decision { .. }, "superseded") => {
            let by = s
                .superseded_by
                .map_or(String::new(), |r| format!(" by decision {r}"));
            format!("SUPERSEDED{by}, {as_of}")
        }
        (StatusSubject::Aeo { programme, .. }, _) => {
            let recognition = match (&s.recognised_by, s.recognised, &s.via_mra) {
                (Some(m), Some(true), Some(mra)) => {
                    format!("; recognised by {m} under MRA {}", short(mra))
                }
                (Some(m), Some(true), None) => format!("; recognised by {m}, its own programme"),
                (Some(m), _, _) if s.status == "active" => {
                    format!(
                        "; NOT shown recognised by {m} (no active MRA covering it in this proof)"
                    )
                }
                (Some(m), _, _) => format!("; not recognised by {m}"),
                _ => String::new(),
            };
            format!("AEO {word} in {programme}'s programme{set}{recognition}, {as_of}")
        }
        _ if s.good => format!("{word} {as_of}"),
        _ => format!("{word}{set}, {as_of}"),
    }
}

/// The first 8 hex digits of an id, for one-line headlines.
fn short(id: &Hash32) -> String {
    id.to_hex().chars().take(8).collect()
}
