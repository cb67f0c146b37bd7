//! Reads for the API: records with their place on the ledger, certificates with status and history, AEO
//! status with mutual recognition, decisions by declaration, and paged listings. Everything here reads committed
//! state only, from storage, and never goes through the driver.

use crate::index;
use crate::storage::{StorageError, Store};
use clearance_core::Hash32;
pub use clearance_core::api::{
    AeoProgrammeView, AeoView, CertificateView, DeclarationView, MraView, RecordPage, RecordView,
};
use clearance_core::block::{HeaderView, Outcome};
use clearance_core::encoding::{self, limit};
use clearance_core::ids::{CountryCode, Mrn, OperatorId, Ucr};
use clearance_core::record::{AeoType, CertificateRef};
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

/// Every index entry under `prefix` goes through `each` (log index and record id, in log order, with no record
/// read), and the newest [`MAX_PAGE`] come back as records, oldest first. What a view derives (a standing, the
/// current decisions) is computed by `each` over all entries: a member that writes many records about one
/// operator or declaration cannot push later ones out of what the view says.
fn records_of(
    store: &Store,
    prefix: &[u8],
    mut each: impl FnMut(u64, Hash32) -> Result<(), StorageError>,
) -> Result<Vec<RecordView>, StorageError> {
    let mut newest = std::collections::VecDeque::with_capacity(MAX_PAGE);
    let mut failed = None;
    store.scan_index(prefix, None, |log_index, id| {
        if newest.len() == MAX_PAGE {
            newest.pop_front();
        }
        newest.push_back(log_index);
        match each(log_index, id) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    records_at(store, newest)
}

/// The newest [`MAX_PAGE`] records under `prefix`, oldest first, for a view that derives nothing from the others:
/// read from the end of the index, so the cost does not grow with the records written about one thing.
fn newest_records(store: &Store, prefix: &[u8]) -> Result<Vec<RecordView>, StorageError> {
    records_at(store, store.newest_in_index(prefix, MAX_PAGE)?)
}

fn records_at(
    store: &Store,
    log_indexes: impl IntoIterator<Item = u64>,
) -> Result<Vec<RecordView>, StorageError> {
    let mut out = Vec::new();
    for log_index in log_indexes {
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
    let history = newest_records(
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

/// An operator's standing in each programme it has a status in (with `recognised_by`, whether that member
/// recognises it there, and under which MRA), and the newest records about it.
pub fn aeo(
    store: &Store,
    operator: &OperatorId,
    recognised_by: Option<&CountryCode>,
) -> Result<Option<AeoView>, StorageError> {
    let history = newest_records(store, &index::prefix(index::AEO, operator.as_str()))?;
    if history.is_empty() {
        return Ok(None);
    }
    let mras = match recognised_by {
        Some(member) => active_mras(store, member)?,
        None => Vec::new(),
    };
    let mut views = Vec::new();
    // Every programme the operator has a status in, from the state, however many records were written about it.
    for (programme, state) in store.aeo_entries(operator)? {
        let (recognised, via_mra) = match recognised_by {
            None => (None, None),
            Some(member) => {
                let active = state.standing == AeoStanding::Active;
                if !active {
                    (Some(false), None)
                } else if *member == programme {
                    (Some(true), None)
                } else {
                    let via = mras
                        .iter()
                        .find(|(_, m)| m.recognises(member, &programme, state.aeo_type));
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
    // All of them: a partner that proposes many MRAs must not push the active one out of `recognised`.
    let mut ids = Vec::new();
    store.scan_index(
        &index::prefix(index::MRA, member.as_str()),
        None,
        |_, id| {
            ids.push(id);
            true
        },
    )?;
    Ok(ids
        .into_iter()
        .filter_map(|id| rules::mra(store, &id).map(|m| (id, m)))
        .collect())
}

/// The active MRA under which `member` recognises an operator `programme` authorised as `held`, if any.
pub fn recognising_mra(
    store: &Store,
    member: &CountryCode,
    programme: &CountryCode,
    held: AeoType,
) -> Result<Option<Hash32>, StorageError> {
    Ok(active_mras(store, member)?
        .into_iter()
        .find(|(_, m)| m.recognises(member, programme, held))
        .map(|(id, _)| id))
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
    // The current decisions come from every decision on the declaration, not only the newest the list shows.
    let mut current: Vec<(u64, Hash32)> = Vec::new();
    let mut note_current = |log_index: u64, id: Hash32| {
        if rules::decision(store, &id).is_some_and(|s| s.superseded_by.is_none())
            && !current.iter().any(|(_, c)| *c == id)
        {
            current.push((log_index, id));
        }
        Ok(())
    };
    let mut decisions = Vec::new();
    if let Some(mrn) = mrn {
        decisions.extend(records_of(
            store,
            &index::prefix(index::MRN, mrn.as_str()),
            &mut note_current,
        )?);
    }
    if let Some(ucr) = ucr {
        for r in records_of(
            store,
            &index::prefix(index::UCR, ucr.as_str()),
            &mut note_current,
        )? {
            if !decisions.iter().any(|d: &RecordView| d.id == r.id) {
                decisions.push(r);
            }
        }
    }
    decisions.sort_by_key(|d| d.log_index);
    current.sort();
    let current = current.into_iter().map(|(_, id)| id).collect();
    Ok(DeclarationView { decisions, current })
}

/// Committed evidence records, oldest first, from the cursor `after`: against `offender` only, or all.
pub fn evidence(
    store: &Store,
    offender: Option<&CountryCode>,
    after: Option<u64>,
    limit: usize,
) -> Result<RecordPage, StorageError> {
    let prefix = match offender {
        Some(member) => index::prefix(index::OFFENDER, member.as_str()),
        None => index::prefix(index::KIND, "evidence"),
    };
    page_of(store, &prefix, after, limit)
}

/// The certificate issues and amendments that commit to the document `sha256`, oldest first, from the cursor
/// `after`.
pub fn documents(
    store: &Store,
    sha256: &Hash32,
    after: Option<u64>,
    limit: usize,
) -> Result<RecordPage, StorageError> {
    let prefix = index::prefix(index::DOCUMENT, &sha256.to_hex());
    page_of(store, &prefix, after, limit)
}

/// A page of the records one index lists under `prefix`, oldest first, from the cursor `after`.
fn page_of(
    store: &Store,
    prefix: &[u8],
    after: Option<u64>,
    limit: usize,
) -> Result<RecordPage, StorageError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut indexes = Vec::new();
    store.scan_index(prefix, after, |log_index, _| {
        indexes.push(log_index);
        indexes.len() <= limit
    })?;
    let more = indexes.len() > limit;
    indexes.truncate(limit);
    let mut records = Vec::with_capacity(indexes.len());
    for log_index in indexes {
        if let Some(r) = record_at(store, log_index)? {
            records.push(r);
        }
    }
    let next = if more {
        records.last().map(|r| r.log_index)
    } else {
        None
    };
    Ok(RecordPage { records, next })
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

/// Where a scan for `filter`'s lower bounds starts: the log index just before the first record at or after
/// `from_height` and `from_time` (`None`: the beginning). Block times never decrease, so the first height at or
/// after `from_time` is found by bisection; the log size after the block before it is the first record's index.
fn seek(store: &Store, filter: &RecordFilter) -> Result<Option<u64>, StorageError> {
    let head = store.head()?.height;
    let mut height = filter.from_height.unwrap_or(1).max(1);
    if let Some(from) = filter.from_time {
        let (mut low, mut high) = (height, head.saturating_add(1));
        while low < high {
            let mid = low + (high - low) / 2;
            match store.block_time_ms(mid)? {
                Some(ms) if ms < from.as_millis() => low = mid + 1,
                _ => high = mid,
            }
        }
        height = low;
    }
    if height <= 1 {
        return Ok(None);
    }
    if height > head {
        // Nothing is committed that far: the scan starts after the last record.
        let log_size = match store.block(head)? {
            Some(block) => {
                HeaderView::from_bytes(block.header.as_slice())
                    .map_err(|e| corrupt("block header", e))?
                    .header
                    .log_size
            }
            None => 0,
        };
        return Ok(log_size.checked_sub(1));
    }
    let Some(block) = store.block(height - 1)? else {
        return Ok(None);
    };
    let header = HeaderView::from_bytes(block.header.as_slice())
        .map_err(|e| corrupt("block header", e))?
        .header;
    Ok(header.log_size.checked_sub(1))
}

/// Records matching `filter`, in commit order. Log order is height order is time order, so a scan stops at the
/// first record past the upper bounds.
pub fn list(store: &Store, filter: &RecordFilter) -> Result<RecordPage, StorageError> {
    let limit = filter.limit.clamp(1, MAX_PAGE);
    let mut candidates = Vec::new();
    // Over-fetch candidates in chunks and filter them, until the page is full or the scan ends. The scan starts
    // at the lower bounds, not at the first record.
    let mut after = filter.after.max(seek(store, filter)?);
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
