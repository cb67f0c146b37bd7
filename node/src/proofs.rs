//! Builds what auditors verify offline (`clearance_core::audit`, `docs/audit.md`): proof bundles for records,
//! checkpoints of the head, and consistency proofs between two heights. Everything is read from committed
//! data only: blocks, certificates and log nodes below the head never change.

use crate::index;
use crate::storage::{StorageError, Store, decode_state_value};
use clearance_core::Hash32;
use clearance_core::audit::{
    AdoptedChange, BUNDLE_FORMAT, CHECKPOINT_FORMAT, CONSISTENCY_FORMAT, CertifiedHeader,
    Checkpoint, ConsistencyProof, LoggedRecord, MAX_LATER_RECORDS, ProofBundle, RecognitionProof,
    RecordEntryProof, RecordProof, STATUS_FORMAT, StateEntryProof, StatusFile, StatusSubject,
    VERSION, ValidatorSetChange, certificate_refs, concerns,
};
use clearance_core::block::{Block, HeaderView, Outcome};
use clearance_core::bytes::Bytes;
use clearance_core::ids::CountryCode;
use clearance_core::merkle::{self, MemoryLog};
use clearance_core::record::{MembershipChange, Record};
use clearance_core::rules;
use clearance_core::rules::{StateKey, StateValue};
use clearance_core::state_tree::StateProof;
use clearance_core::tx::{SignedTx, TxBody};
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("no record {0}")]
    Unknown(Hash32),
    #[error("transaction {id} was committed but rejected with {code}; it is not in the record log")]
    Rejected { id: Hash32, code: String },
    #[error("no block has been committed yet")]
    Empty,
    #[error("{0}")]
    BadRange(String),
    /// Blocks kept committing while the proof was read: every attempt saw the head move.
    #[error("the ledger moved on {0} times while the proof was built; ask again")]
    Busy(u32),
    #[error("{0}")]
    Storage(#[from] StorageError),
}

fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> ProofError {
    ProofError::Storage(StorageError::Corrupt {
        what,
        detail: detail.to_string(),
    })
}

/// The stored header bytes and certificate of the block at `height`.
fn certified(store: &Store, height: u64) -> Result<(CertifiedHeader, Block), ProofError> {
    let stored = store
        .block_bytes(height)?
        .ok_or_else(|| corrupt("block", format!("height {height} is missing")))?;
    let block = Block::from_bytes(&stored.block).map_err(|e| corrupt("block", e))?;
    Ok((
        CertifiedHeader {
            header: block.header.clone(),
            certificate: Bytes(stored.certificate),
        },
        block,
    ))
}

fn header_of(block: &Block) -> Result<HeaderView, ProofError> {
    HeaderView::from_bytes(block.header.as_slice()).map_err(|e| corrupt("block header", e))
}

/// The anchor every bundle and checkpoint is built on: the head.
fn anchor(store: &Store) -> Result<(CertifiedHeader, HeaderView), ProofError> {
    let head = store.head()?;
    if head.height == 0 {
        return Err(ProofError::Empty);
    }
    let (certified, block) = certified(store, head.height)?;
    let view = header_of(&block)?;
    Ok((certified, view))
}

/// The record at `log_index`, proven in its block and in the log of `log_size` entries.
fn record_proof(
    store: &Store,
    chain_id: &Hash32,
    log_index: u64,
    log_size: u64,
) -> Result<(RecordProof, TxBody), ProofError> {
    let bytes = store
        .record(log_index)?
        .ok_or_else(|| corrupt("record", format!("log index {log_index} is missing")))?;
    let signed = SignedTx::from_bytes(&bytes).map_err(|e| corrupt("record", e))?;
    let body: TxBody = signed
        .verify_except_signature(chain_id)
        .map_err(|e| corrupt("record", e))?
        .body;
    let loc = store
        .tx_location(&signed.id())?
        .ok_or_else(|| corrupt("record", format!("{} has no location", signed.id())))?;
    let (block_proof, block) = certified(store, loc.height)?;
    let mut txs = MemoryLog::new();
    for tx in &block.txs {
        txs.append(tx.as_slice());
    }
    let tx_path = merkle::inclusion_proof(&txs, u64::from(loc.index), block.txs.len() as u64)
        .map_err(|e| corrupt("block transactions", e))?;
    let log_path = merkle::inclusion_proof(store, log_index, log_size)
        .map_err(|e| corrupt("record log", e))?;
    Ok((
        RecordProof {
            signed_tx: Bytes(bytes),
            block: block_proof,
            tx_index: u64::from(loc.index),
            tx_path,
            log_index,
            log_path,
        },
        body,
    ))
}

/// Reads of the head and of the state tree are not one snapshot: a proof that reads both is built again when a
/// block committed in between (every commit moves the head, and writes the head and the tree in one batch).
fn at_one_head<T>(
    store: &Store,
    build: impl Fn() -> Result<T, ProofError>,
) -> Result<T, ProofError> {
    const ATTEMPTS: u32 = 8;
    for _ in 0..ATTEMPTS {
        let before = store.head()?.height;
        let built = build()?;
        if store.head()?.height == before {
            return Ok(built);
        }
    }
    Err(ProofError::Busy(ATTEMPTS))
}

/// A state entry, as stored, and its path in the current state tree.
fn state_entry(store: &Store, key: &StateKey) -> Result<StateEntryProof, ProofError> {
    Ok(StateEntryProof {
        value: store.state_bytes(key)?.map(Bytes),
        proof: StateProof::build(&store.state_tree(), &key.path())?,
    })
}

/// `GET /v1/proofs/status/...`: where `subject` stands at the head, or that it was never recorded; for an AEO
/// standing with `recognised_by`, also the active MRA under which that member recognises it, if there is one.
pub fn status(
    store: &Store,
    chain_id: &Hash32,
    subject: &StatusSubject,
    recognised_by: Option<&CountryCode>,
) -> Result<StatusFile, ProofError> {
    at_one_head(store, || {
        let (anchor, view) = anchor(store)?;
        let recognition = match (subject, recognised_by) {
            (
                StatusSubject::Aeo {
                    operator,
                    programme,
                },
                Some(member),
            ) => {
                let held = rules::aeo(store, operator, programme).map(|a| a.aeo_type);
                let mra = match held {
                    Some(held) if member != programme => {
                        crate::query::recognising_mra(store, member, programme, held)?
                    }
                    _ => None,
                };
                let mra = match mra {
                    Some(record) => Some(RecordEntryProof {
                        record,
                        status: state_entry(store, &StateKey::Mra(record))?,
                    }),
                    None => None,
                };
                Some(RecognitionProof {
                    member: member.clone(),
                    mra,
                })
            }
            _ => None,
        };
        let status = state_entry(store, &subject.key())?;
        // A declaration's entry names its current decision, whose own entry says what was decided: read from the
        // value just proven, not from the store a second time.
        let named = match (subject, &status.value) {
            (StatusSubject::Declaration { .. }, Some(bytes)) => {
                Some(decode_state_value(bytes.as_slice())?)
            }
            _ => None,
        };
        let decision = match named {
            Some(StateValue::Record(record)) => Some(RecordEntryProof {
                record,
                status: state_entry(store, &StateKey::Decision(record))?,
            }),
            _ => None,
        };
        Ok(StatusFile {
            format: STATUS_FORMAT.into(),
            version: VERSION,
            chain_id: *chain_id,
            subject: subject.clone(),
            status,
            validator_set_changes: set_changes(store, chain_id, view.header.height)?,
            anchor,
            recognition,
            decision,
        })
    })
}

/// `GET /v1/proofs/records/{id}`.
pub fn bundle(store: &Store, chain_id: &Hash32, id: &Hash32) -> Result<ProofBundle, ProofError> {
    at_one_head(store, || bundle_at_head(store, chain_id, id))
}

fn bundle_at_head(
    store: &Store,
    chain_id: &Hash32,
    id: &Hash32,
) -> Result<ProofBundle, ProofError> {
    let loc = store.tx_location(id)?.ok_or(ProofError::Unknown(*id))?;
    let log_index = match store.tx_result(&loc)?.map(|r| r.outcome) {
        Some(Outcome::Accepted { log_index }) => log_index,
        Some(Outcome::Rejected { code }) => {
            return Err(ProofError::Rejected {
                id: *id,
                code: code.to_string(),
            });
        }
        None => return Err(corrupt("transaction result", format!("{id} has none"))),
    };
    let (anchor, view) = anchor(store)?;
    let log_size = view.header.log_size;
    let (record, body) = record_proof(store, chain_id, log_index, log_size)?;
    let mut later = Vec::new();
    let mut candidates = later_candidates(store, chain_id, &body.record, log_index, log_size)?;
    // The most recent status matters most: past the limit, the oldest later records are left out.
    if candidates.len() > MAX_LATER_RECORDS {
        candidates.drain(..candidates.len() - MAX_LATER_RECORDS);
    }
    for index in candidates {
        later.push(record_proof(store, chain_id, index, log_size)?.0);
    }
    let status = match StatusSubject::of_record(&body.record, id) {
        Some(subject) => Some(state_entry(store, &subject.key())?),
        None => None,
    };
    Ok(ProofBundle {
        format: BUNDLE_FORMAT.into(),
        version: VERSION,
        chain_id: *chain_id,
        record,
        validator_set_changes: set_changes(store, chain_id, view.header.height)?,
        later,
        anchor,
        status,
    })
}

/// Log indexes after `after` (and below `log_size`) of records about the same certificate, operator or
/// declaration, in log order.
fn later_candidates(
    store: &Store,
    chain_id: &Hash32,
    subject: &Record,
    after: u64,
    log_size: u64,
) -> Result<Vec<u64>, ProofError> {
    let prefixes: Vec<Vec<u8>> = certificate_refs(subject)
        .iter()
        .map(|r| index::prefix(index::CERTIFICATE, &index::certificate_value(r)))
        .chain(match subject {
            Record::AeoStatus(r) => vec![index::prefix(index::AEO, r.operator.as_str())],
            Record::ClearanceDecision(r) => [
                r.declaration
                    .mrn
                    .as_ref()
                    .map(|m| index::prefix(index::MRN, m.as_str())),
                r.declaration
                    .ucr
                    .as_ref()
                    .map(|u| index::prefix(index::UCR, u.as_str())),
            ]
            .into_iter()
            .flatten()
            .collect(),
            _ => vec![],
        })
        .collect();
    let mut indexes = Vec::new();
    for prefix in prefixes {
        store.scan_index(&prefix, Some(after), |log_index, _| {
            if log_index < log_size {
                indexes.push(log_index);
            }
            true
        })?;
    }
    indexes.sort_unstable();
    indexes.dedup();
    let mut out = Vec::with_capacity(indexes.len());
    for log_index in indexes {
        let body = record_body(store, chain_id, log_index)?;
        if concerns(subject, &body.record) {
            out.push(log_index);
        }
    }
    Ok(out)
}

/// Every change of the validator set that decides a height up to `height`, oldest first, each with the
/// certified header that announced it and the proposals (with their approvals) that made it. An epoch that
/// only rotated a network key leaves the validator set as it was, and is no change here.
fn set_changes(
    store: &Store,
    chain_id: &Hash32,
    height: u64,
) -> Result<Vec<ValidatorSetChange>, ProofError> {
    let mut out = Vec::new();
    let mut previous = None;
    let mut records = None;
    for index in 0..rules::epoch_count(store) {
        let epoch = rules::epoch(store, index)
            .ok_or_else(|| corrupt("membership state", format!("epoch {index} is missing")))?;
        if epoch.from_height > height {
            break;
        }
        let set = epoch
            .validator_set()
            .map_err(|e| corrupt("membership state", e))?;
        let hash = set.hash();
        if previous.replace(hash).is_some_and(|p| p != hash) {
            let (proof, block) = certified(store, epoch.from_height.saturating_sub(1))?;
            let log_size = header_of(&block)?.header.log_size;
            let records = match &records {
                Some(r) => r,
                None => records.insert(MembershipRecords::read(store, chain_id)?),
            };
            let mut adopted = Vec::new();
            for id in &epoch.changes {
                let state = rules::membership_proposal(store, id)
                    .ok_or_else(|| corrupt("membership state", format!("no proposal {id}")))?;
                // It changes peer ids only, not the validator set.
                if matches!(state.change, MembershipChange::RotateNetworkKey { .. }) {
                    continue;
                }
                let proposal = records.proposals.get(id).ok_or_else(|| {
                    corrupt("record index", format!("proposal {id} is not indexed"))
                })?;
                let approvals = records.approvals.get(id).map_or(&[][..], |a| a.as_slice());
                adopted.push(AdoptedChange {
                    proposal: logged(store, *proposal, log_size)?,
                    approvals: approvals
                        .iter()
                        .map(|&i| logged(store, i, log_size))
                        .collect::<Result<_, _>>()?,
                });
            }
            // The block of the record that adopted the changes (the last approval of one of them).
            let last = adopted
                .last()
                .map(|a: &AdoptedChange| a.approvals.last().unwrap_or(&a.proposal))
                .ok_or_else(|| {
                    corrupt(
                        "membership state",
                        format!(
                            "the set from height {} has no adopted change",
                            epoch.from_height
                        ),
                    )
                })?;
            let id = SignedTx::from_bytes(last.signed_tx.as_slice())
                .map_err(|e| corrupt("record", e))?
                .id();
            let location = store
                .tx_location(&id)?
                .ok_or_else(|| corrupt("record", format!("{id} has no location")))?;
            let (adopting, _) = certified(store, location.height)?;
            out.push(ValidatorSetChange {
                height: epoch.from_height,
                validator_set: Bytes(set.to_bytes()),
                proof,
                adopting,
                adopted,
            });
        }
    }
    Ok(out)
}

/// Where the membership records are in the record log: each proposal's log index, and the log indexes of each
/// proposal's accepted approvals, in log order.
struct MembershipRecords {
    proposals: HashMap<Hash32, u64>,
    approvals: HashMap<Hash32, Vec<u64>>,
}

impl MembershipRecords {
    fn read(store: &Store, chain_id: &Hash32) -> Result<MembershipRecords, ProofError> {
        let mut proposals = HashMap::new();
        store.scan_index(
            &index::prefix(index::KIND, "membership_propose"),
            None,
            |log_index, id| {
                proposals.insert(id, log_index);
                true
            },
        )?;
        let mut indexes = Vec::new();
        store.scan_index(
            &index::prefix(index::KIND, "membership_approve"),
            None,
            |log_index, _| {
                indexes.push(log_index);
                true
            },
        )?;
        let mut approvals: HashMap<Hash32, Vec<u64>> = HashMap::new();
        for log_index in indexes {
            if let Record::MembershipApprove(r) = record_body(store, chain_id, log_index)?.record {
                approvals.entry(r.proposal).or_default().push(log_index);
            }
        }
        Ok(MembershipRecords {
            proposals,
            approvals,
        })
    }
}

/// The body of the record at `log_index` (its signature was checked when it was admitted).
fn record_body(store: &Store, chain_id: &Hash32, log_index: u64) -> Result<TxBody, ProofError> {
    let bytes = store
        .record(log_index)?
        .ok_or_else(|| corrupt("record", format!("log index {log_index} is missing")))?;
    let signed = SignedTx::from_bytes(&bytes).map_err(|e| corrupt("record", e))?;
    Ok(signed
        .verify_except_signature(chain_id)
        .map_err(|e| corrupt("record", e))?
        .body)
}

/// The record at `log_index`, with its path in the log of `log_size` entries.
fn logged(store: &Store, log_index: u64, log_size: u64) -> Result<LoggedRecord, ProofError> {
    let bytes = store
        .record(log_index)?
        .ok_or_else(|| corrupt("record", format!("log index {log_index} is missing")))?;
    let log_path = merkle::inclusion_proof(store, log_index, log_size)
        .map_err(|e| corrupt("record log", e))?;
    Ok(LoggedRecord {
        signed_tx: Bytes(bytes),
        log_index,
        log_path,
    })
}

/// `GET /v1/checkpoint`.
pub fn checkpoint(store: &Store, chain_id: &Hash32) -> Result<Checkpoint, ProofError> {
    let (head, view) = anchor(store)?;
    Ok(Checkpoint {
        validator_set_changes: set_changes(store, chain_id, view.header.height)?,
        format: CHECKPOINT_FORMAT.into(),
        version: VERSION,
        chain_id: *chain_id,
        height: view.header.height,
        log_size: view.header.log_size,
        log_root: view.header.log_root,
        head,
    })
}

/// `GET /v1/proofs/consistency?from=A&to=B`; `to` defaults to the head.
pub fn consistency(
    store: &Store,
    chain_id: &Hash32,
    from: u64,
    to: Option<u64>,
) -> Result<ConsistencyProof, ProofError> {
    let head = store.head()?.height;
    let to = to.unwrap_or(head);
    if from == 0 || from > to || to > head {
        return Err(ProofError::BadRange(format!(
            "need 1 <= from <= to <= {head} (the head); got from {from}, to {to}"
        )));
    }
    let (old, old_block) = certified(store, from)?;
    let (new, new_block) = certified(store, to)?;
    let old_size = header_of(&old_block)?.header.log_size;
    let new_size = header_of(&new_block)?.header.log_size;
    let proof = merkle::consistency_proof(store, old_size, new_size)
        .map_err(|e| corrupt("record log", e))?;
    Ok(ConsistencyProof {
        validator_set_changes: set_changes(store, chain_id, to)?,
        format: CONSISTENCY_FORMAT.into(),
        version: VERSION,
        chain_id: *chain_id,
        old,
        new,
        proof,
    })
}
