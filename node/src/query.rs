//! Reads for the API: records with their place on the ledger, certificates with status and history, AEO
//! status with mutual recognition, decisions by declaration, and paged listings. Everything here reads committed
//! state only, from storage, and never goes through the driver.

use crate::index;
use crate::storage::{StorageError, Store};
use clearance_core::Hash32;
pub use clearance_core::api::{
    AeoProgrammeView, AeoView, CertificateView, DeclarationView, MraView, RecordPage, RecordView,
};
use clearance_core::block::Outcome;
use clearance_core::encoding::{self, limit};
use clearance_core::ids::{CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::{AeoType, CertificateRef, Record};
use clearance_core::rules::{self, AeoStanding, MraStatus};
use clearance_core::time::Timestamp;
use clearance_core::tx::{SignedTx, TxBody};

/// Most records one page returns.
pub const MAX_PAGE: usize = 500;

fn corrupt(what: &'static str, e: impl ToString) -> StorageError {
    StorageError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

/// The record at `log_index` of the record log.
pub fn record_at(store: &Store, log_index: u64) -> Result<Option<RecordView>, StorageError> {
    let Some(bytes) = store.record(log_index)? else {
        return Ok(None);
    };
    let signed = SignedTx::from_bytes(&bytes).map_err(|e| corrupt("record", e))?;
    let body: TxBody = encoding::decode(signed.body.as_slice(), limit::TX_BODY, "transaction body")
        .map_err(|e| corrupt("record", e))?;
    let id = signed.id();
    let loc = store
        .tx_location(&id)?
        .ok_or_else(|| corrupt("record", format!("{id} has no location")))?;
    let time_ms = store
        .block_time_ms(loc.height)?
        .ok_or_else(|| corrupt("block time", format!("height {}", loc.height)))?;
    Ok(Some(RecordView {
        id,
        kind: body.record.kind().to_string(),
        member: body.record.acting_member(),
        height: loc.height,
        index: loc.index,
        log_index,
        time: Timestamp::from_millis(time_ms).map_err(|e| corrupt("block time", e))?,
        submitter: body.submitter,
        sequence: body.sequence,
        record: body.record,
    }))
}

/// What an id names: an accepted record, a rejected transaction, or nothing committed.
pub enum Lookup {
    Record(Box<RecordView>),
    Rejected { code: String, height: u64 },
    Unknown,
}

pub fn record(store: &Store, id: &Hash32) -> Result<Lookup, StorageError> {
    let Some(loc) = store.tx_location(id)? else {
        return Ok(Lookup::Unknown);
    };
    match store.tx_result(&loc)?.map(|r| r.outcome) {
        Some(Outcome::Accepted { log_index }) => {
            Ok(record_at(store, log_index)?
                .map_or(Lookup::Unknown, |r| Lookup::Record(Box::new(r))))
        }
        Some(Outcome::Rejected { code }) => Ok(Lookup::Rejected {
            code: code.to_string(),
            height: loc.height,
        }),
        None => Err(corrupt("transaction result", format!("{id} has none"))),
    }
}

fn records_of(store: &Store, prefix: &[u8]) -> Result<Vec<RecordView>, StorageError> {
    let mut indexes = Vec::new();
    store.scan_index(prefix, None, |log_index, _| {
        indexes.push(log_index);
        indexes.len() < MAX_PAGE
    })?;
    let mut out = Vec::with_capacity(indexes.len());
    for log_index in indexes {
        if let Some(r) = record_at(store, log_index)? {
            out.push(r);
        }
    }
    Ok(out)
}

pub fn certificate(
    store: &Store,
    r: &CertificateRef,
) -> Result<Option<CertificateView>, StorageError> {
    let Some(state) = rules::certificate(store, r) else {
        return Ok(None);
    };
    let history = records_of(
        store,
        &index::prefix(index::CERTIFICATE, &index::certificate_value(r)),
    )?;
    Ok(Some(CertificateView {
        issuer: r.issuer.clone(),
        number: r.number.to_string(),
        status: state.status.name().to_string(),
        replaced_by: state.replaced_by,
        history,
    }))
}

/// Whether an MRA of type `covers` recognises an authorisation of type `held`.
fn covers(covers: AeoType, held: AeoType) -> bool {
    covers == AeoType::Both || held == AeoType::Both || covers == held
}

pub fn aeo(
    store: &Store,
    operator: &OperatorId,
    recognised_by: Option<&CountryCode>,
) -> Result<Option<AeoView>, StorageError> {
    let history = records_of(store, &index::prefix(index::AEO, operator.as_str()))?;
    if history.is_empty() {
        return Ok(None);
    }
    let mut programmes: Vec<CountryCode> = Vec::new();
    for r in &history {
        if let Record::AeoStatus(s) = &r.record
            && !programmes.contains(&s.programme)
        {
            programmes.push(s.programme.clone());
        }
    }
    let mras = match recognised_by {
        Some(member) => active_mras(store, member)?,
        None => Vec::new(),
    };
    let mut views = Vec::new();
    for programme in programmes {
        let Some(state) = rules::aeo(store, operator, &programme) else {
            continue;
        };
        let (recognised, via_mra) = match recognised_by {
            None => (None, None),
            Some(member) => {
                let active = state.standing == AeoStanding::Active;
                if !active {
                    (Some(false), None)
                } else if *member == programme {
                    (Some(true), None)
                } else {
                    let via = mras.iter().find(|(_, m)| {
                        (m.proposer == programme || m.partner == programme)
                            && covers(m.covers, state.aeo_type)
                    });
                    (Some(via.is_some()), via.map(|(id, _)| *id))
                }
            }
        };
        views.push(AeoProgrammeView {
            programme,
            standing: state.standing.name().to_string(),
            aeo_type: state.aeo_type,
            recognised,
            via_mra,
        });
    }
    Ok(Some(AeoView {
        operator: operator.clone(),
        programmes: views,
        history,
    }))
}

/// The MRA proposals `member` is party to, oldest first, with their current state.
fn mras_of(
    store: &Store,
    member: &CountryCode,
) -> Result<Vec<(Hash32, rules::MraState)>, StorageError> {
    let mut ids = Vec::new();
    store.scan_index(
        &index::prefix(index::MRA, member.as_str()),
        None,
        |_, id| {
            ids.push(id);
            ids.len() < MAX_PAGE
        },
    )?;
    Ok(ids
        .into_iter()
        .filter_map(|id| rules::mra(store, &id).map(|m| (id, m)))
        .collect())
}

fn active_mras(
    store: &Store,
    member: &CountryCode,
) -> Result<Vec<(Hash32, rules::MraState)>, StorageError> {
    let mut mras = mras_of(store, member)?;
    mras.retain(|(_, m)| m.status == MraStatus::Active);
    Ok(mras)
}

pub fn mras(store: &Store, member: &CountryCode) -> Result<Vec<MraView>, StorageError> {
    Ok(mras_of(store, member)?
        .into_iter()
        .map(|(id, m)| MraView {
            id,
            proposer: m.proposer,
            partner: m.partner,
            covers: m.covers,
            status: m.status.name().to_string(),
        })
        .collect())
}

pub fn declaration(
    store: &Store,
    mrn: Option<&Mrn>,
    ucr: Option<&Ucr>,
) -> Result<DeclarationView, StorageError> {
    let mut decisions = Vec::new();
    if let Some(mrn) = mrn {
        decisions.extend(records_of(store, &index::prefix(index::MRN, mrn.as_str()))?);
    }
    if let Some(ucr) = ucr {
        for r in records_of(store, &index::prefix(index::UCR, ucr.as_str()))? {
            if !decisions.iter().any(|d: &RecordView| d.id == r.id) {
                decisions.push(r);
            }
        }
    }
    decisions.sort_by_key(|d| d.log_index);
    let current = decisions
        .iter()
        .filter(|d| rules::decision(store, &d.id).is_some_and(|s| s.superseded_by.is_none()))
        .map(|d| d.id)
        .collect();
    Ok(DeclarationView { decisions, current })
}

/// Filters of a record listing.
#[derive(Debug, Default, Clone)]
pub struct RecordFilter {
    pub member: Option<CountryCode>,
    pub kind: Option<String>,
    pub from_height: Option<u64>,
    pub to_height: Option<u64>,
    pub from_time: Option<Timestamp>,
    pub to_time: Option<Timestamp>,
    /// The cursor: the log index of the last record of the previous page.
    pub after: Option<u64>,
    pub limit: usize,
}

/// Records matching `filter`, in commit order. Log order is height order is time order, so a scan stops at the
/// first record past the upper bounds.
pub fn list(store: &Store, filter: &RecordFilter) -> Result<RecordPage, StorageError> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let mut candidates = Vec::new();
    // Over-fetch candidates in chunks and filter them, until the page is full or the scan ends.
    let mut after = filter.after;
    let mut records = Vec::new();
    let mut done = false;
    while records.len() < limit && !done {
        candidates.clear();
        let want = 256;
        match (&filter.member, &filter.kind) {
            (Some(member), _) => store.scan_index(
                &index::prefix(index::MEMBER, member.as_str()),
                after,
                |i, _| {
                    candidates.push(i);
                    candidates.len() < want
                },
            )?,
            (None, Some(kind)) => {
                store.scan_index(&index::prefix(index::KIND, kind), after, |i, _| {
                    candidates.push(i);
                    candidates.len() < want
                })?
            }
            (None, None) => store.scan_records(after, |i, _| {
                candidates.push(i);
                candidates.len() < want
            })?,
        }
        if candidates.len() < want {
            done = true;
        }
        for &log_index in &candidates {
            after = Some(log_index);
            let Some(r) = record_at(store, log_index)? else {
                continue;
            };
            if filter.to_height.is_some_and(|h| r.height > h)
                || filter.to_time.is_some_and(|t| r.time > t)
            {
                done = true;
                break;
            }
            let kind_ok = filter.kind.as_deref().is_none_or(|k| r.kind == k);
            let from_ok = filter.from_height.is_none_or(|h| r.height >= h)
                && filter.from_time.is_none_or(|t| r.time >= t);
            if kind_ok && from_ok {
                records.push(r);
                if records.len() == limit {
                    break;
                }
            }
        }
    }
    let next = if records.len() == limit && !done {
        records.last().map(|r| r.log_index)
    } else if records.len() == limit {
        // The page is full exactly at the end of the scan: a further page may still hold nothing, which is fine.
        records.last().map(|r| r.log_index)
    } else {
        None
    };
    Ok(RecordPage { records, next })
}
