//! Block execution: each transaction of a block, in order, through `core`'s rules, against the committed state
//! plus the effects of the block's earlier transactions. Nothing is written here; the result is a complete
//! description of what the block changes, which the proposer puts in its header, validators compare against the
//! header, and storage writes in one batch once the block is committed.

use crate::storage::{Head, StorageError, Store};
use clearance_core::Hash32;
use clearance_core::block::{Outcome, TxResult, results_root};
use clearance_core::bytes::Bytes;
use clearance_core::crypto::{CheckedKey, PublicKey};
use clearance_core::merkle::{self, MerkleError, NodeSource};
use clearance_core::rules::{self, BlockContext, Change, Epoch, StateKey, StateValue, StateView};
use clearance_core::state_tree::{self, Node, Position};
use clearance_core::tx::{SIGNATURE_BATCH, SignedTx, TxError, VerifiedTx, verify_many_except};
use clearance_core::validator::ValidatorSet;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What executing a block changes.
#[derive(Debug, Clone)]
pub struct Executed {
    pub tx_ids: Vec<Hash32>,
    pub results: Vec<TxResult>,
    pub results_root: Hash32,
    /// Accepted transactions: (log index, signed bytes).
    pub records: Vec<(u64, Vec<u8>)>,
    /// Secondary index entries of the accepted records ([`crate::index`]).
    pub index: Vec<(Vec<u8>, Hash32)>,
    pub log_nodes: Vec<(u32, u64, Hash32)>,
    pub log_size: u64,
    pub log_root: Hash32,
    /// The final state writes, one per key.
    pub changes: Vec<Change>,
    /// The state tree's root after the block, and the nodes to write for it.
    pub state_root: Hash32,
    pub tree: BTreeMap<Position, Option<Node>>,
    /// The members that decide the next height, after this block's membership changes.
    pub next_epoch: Epoch,
    pub next_validators: ValidatorSet,
    /// Indexes of the transactions left out ([`Inadmissible::Skip`]), ascending.
    pub skipped: Vec<usize>,
}

/// What execution does with a transaction that fails the submitter checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inadmissible {
    /// A proposed or committed block: it is invalid ([`ExecError::Inadmissible`]).
    Invalid,
    /// A block being built: the transaction is left out (an earlier transaction of the block revoked its key,
    /// say), and the block is built of the others.
    Skip,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A transaction a correct proposer would never include: undecodable, for another chain or badly signed.
    /// A block carrying one is invalid.
    #[error("transaction {index}: {source}")]
    InvalidTx { index: usize, source: TxError },
    /// A transaction that fails the submitter checks (unknown, revoked or wrong key, inactive member, missing
    /// role, or not its key's next sequence): a correct proposer never includes one, so that nobody can commit a
    /// member's transaction out of order (burning its id) or commit junk under keys the ledger does not know.
    #[error("transaction {index} ({id}) fails the submitter checks: {code}")]
    Inadmissible {
        index: usize,
        id: Hash32,
        code: &'static str,
    },
    /// A transaction already committed, or repeated in the block: a correct proposer never includes one.
    #[error("transaction {index} ({id}) is already committed or repeated in the block")]
    Replayed { index: usize, id: Hash32 },
    #[error("record log: {0}")]
    Log(#[from] MerkleError),
    /// The membership state has no epoch for a height, or an epoch that is not a valid set: the database is
    /// damaged, since the rules only ever write valid ones.
    #[error("membership state: {0}")]
    Membership(String),
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// The committed state with a block's changes so far layered on top.
struct Overlay<'a> {
    store: &'a Store,
    writes: HashMap<StateKey, StateValue>,
    base_log_size: u64,
    log: HashMap<(u32, u64), Hash32>,
    log_size: u64,
    /// The first storage error a read met. The rules' view is infallible, so a failed read answers "absent"
    /// there and execution stops with this error right after: a disk fault never becomes a verdict.
    error: RefCell<Option<StorageError>>,
    /// Committed values already read in this block: most keys submit many transactions per block.
    reads: RefCell<HashMap<StateKey, Option<StateValue>>>,
}

impl Overlay<'_> {
    fn note<T>(&self, result: Result<T, StorageError>, fallback: T) -> T {
        result.unwrap_or_else(|e| {
            self.error.borrow_mut().get_or_insert(e);
            fallback
        })
    }

    fn check(&self) -> Result<(), ExecError> {
        match self.error.borrow_mut().take() {
            Some(e) => Err(ExecError::Storage(e)),
            None => Ok(()),
        }
    }
}

impl StateView for Overlay<'_> {
    fn get(&self, key: &StateKey) -> Option<StateValue> {
        if let Some(v) = self.writes.get(key) {
            return Some(v.clone());
        }
        if let Some(v) = self.reads.borrow().get(key) {
            return v.clone();
        }
        let value = self.note(self.store.state(key), None);
        self.reads.borrow_mut().insert(key.clone(), value.clone());
        value
    }
}

impl NodeSource for Overlay<'_> {
    fn size(&self) -> u64 {
        self.log_size
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash32, MerkleError> {
        match self.log.get(&(level, index)) {
            Some(h) => Ok(*h),
            None => match self.note(self.store.log_node(level, index).map(Some), None) {
                Some(Some(h)) => Ok(h),
                _ => Err(MerkleError::MissingNode { level, index }),
            },
        }
    }
}

/// Says whether a transaction, by id and exact signed bytes, is one this node already verified.
pub type Verified<'a> = dyn Fn(&Hash32, &[u8]) -> bool + Sync + 'a;

/// What this node checked of a block's transactions before executing it.
pub enum Checked<'a> {
    /// Bytes for which this answers true skip the signature check (they are exactly a transaction this node
    /// already verified, for example in its mempool); everything else about them is checked as for any other.
    Known(&'a Verified<'a>),
    /// The block's transactions decoded and verified already ([`verify_ahead`]).
    Ahead(Ahead<'a>),
}

impl Checked<'_> {
    /// Nothing checked before: every transaction is verified in execution.
    pub const NOTHING: Checked<'static> = Checked::Known(&|_, _| false);
}

/// Transactions decoded and verified ahead of their block's execution, by position, tied to the very slice they
/// were read from: execution takes them as they are only for that slice (the same memory, so the same bytes), and
/// checks everything again otherwise, or when one failed here (for the precise error).
#[derive(Default)]
pub struct Ahead<'a> {
    txs: &'a [Bytes],
    verified: Vec<Option<VerifiedTx>>,
}

impl Ahead<'_> {
    /// The verified transactions, when they were read from exactly `txs` and every one checked out.
    fn take_for(self, txs: &[Bytes]) -> Option<Vec<VerifiedTx>> {
        if !std::ptr::eq(self.txs, txs) {
            return None;
        }
        self.verified.into_iter().collect()
    }
}

/// The committed state a block executes on: the store, and its head (record log size and root, state root),
/// which a block that changes nothing keeps.
pub struct Parent<'a> {
    pub store: &'a Store,
    pub head: &'a Head,
}

/// Executes `txs` as the block `ctx` describes, on top of `parent`, taking what `checked` says was verified
/// already.
pub fn execute(
    parent: Parent<'_>,
    chain_id: &Hash32,
    ctx: &BlockContext,
    txs: &[Bytes],
    checked: Checked<'_>,
    inadmissible: Inadmissible,
) -> Result<Executed, ExecError> {
    let Parent { store, head } = parent;
    let log_size = head.log_size;
    let mut overlay = Overlay {
        store,
        writes: HashMap::new(),
        base_log_size: log_size,
        log: HashMap::new(),
        log_size,
        error: RefCell::new(None),
        reads: RefCell::new(HashMap::new()),
    };
    let mut seen = HashSet::with_capacity(txs.len());
    let verified_txs = match checked {
        Checked::Known(verified) => verify_all(chain_id, txs, verified)?,
        Checked::Ahead(ahead) => match ahead.take_for(txs) {
            Some(all) => all,
            None => verify_all(chain_id, txs, &|_, _| false)?,
        },
    };
    let mut tx_ids = Vec::with_capacity(txs.len());
    let mut results = Vec::with_capacity(txs.len());
    let mut records = Vec::new();
    let mut index_entries = Vec::new();
    let mut log_nodes = Vec::new();
    let mut skipped = Vec::new();
    for (index, (bytes, verified)) in txs.iter().zip(verified_txs).enumerate() {
        if !seen.insert(verified.id) || store.tx_location(&verified.id)?.is_some() {
            return Err(ExecError::Replayed {
                index,
                id: verified.id,
            });
        }
        let applied = rules::apply(&overlay, ctx, &verified.id, &verified.body);
        overlay.check()?;
        if let Err(refused) = &applied
            && refused.error.is_submitter_check()
        {
            // It wrote nothing: leaving it out leaves the state as if it never came.
            match inadmissible {
                Inadmissible::Skip => {
                    skipped.push(index);
                    continue;
                }
                Inadmissible::Invalid => {
                    return Err(ExecError::Inadmissible {
                        index,
                        id: verified.id,
                        code: refused.error.code(),
                    });
                }
            }
        }
        tx_ids.push(verified.id);
        let (changes, accepted) = match applied {
            Ok(changes) => (changes, Ok(())),
            Err(refused) => (refused.changes, Err(refused.error)),
        };
        for change in changes {
            overlay.writes.insert(change.key, change.value);
        }
        let outcome = match accepted {
            Ok(()) => {
                let leaf = merkle::leaf_hash(bytes.as_slice());
                let nodes = merkle::appended_nodes(&overlay, leaf);
                overlay.check()?;
                let nodes = nodes?;
                for (level, i, hash) in &nodes {
                    overlay.log.insert((*level, *i), *hash);
                }
                log_nodes.extend(nodes);
                let log_index = overlay.log_size;
                overlay.log_size += 1;
                records.push((log_index, bytes.as_slice().to_vec()));
                index_entries.extend(crate::index::entries(
                    &verified.body.record,
                    &verified.id,
                    log_index,
                ));
                Outcome::Accepted { log_index }
            }
            Err(e) => Outcome::Rejected {
                code: e.reason_code(),
            },
        };
        results.push(TxResult {
            tx_id: verified.id,
            outcome,
        });
    }
    let log_root = if overlay.log_size == overlay.base_log_size {
        head.log_root
    } else {
        let root = merkle::root(&overlay, overlay.log_size);
        overlay.check()?;
        root?
    };
    let (next_epoch, next_validators) = members_at(&overlay, ctx.height + 1)?;
    overlay.check()?;
    let changes: Vec<Change> = overlay
        .writes
        .into_iter()
        .map(|(key, value)| Change { key, value })
        .collect();
    let (state_root, tree) = if changes.is_empty() {
        (head.state_root, BTreeMap::new())
    } else {
        let update = state_tree::update(&store.state_tree(), &rules::tree_changes(&changes))?;
        (update.root, update.writes)
    };
    Ok(Executed {
        results_root: results_root(&results),
        tx_ids,
        results,
        records,
        index: index_entries,
        log_nodes,
        log_size: overlay.log_size,
        log_root,
        changes,
        state_root,
        tree,
        skipped,
        next_epoch,
        next_validators,
    })
}

/// The epoch in force at `height` in `view`, and its validator set.
pub fn members_at(view: &dyn StateView, height: u64) -> Result<(Epoch, ValidatorSet), ExecError> {
    let (_, epoch) = rules::epoch_at(view, height)
        .ok_or_else(|| ExecError::Membership(format!("no epoch in force at height {height}")))?;
    let set = epoch.validator_set().map_err(|e| {
        ExecError::Membership(format!("epoch from height {}: {e}", epoch.from_height))
    })?;
    Ok((epoch, set))
}

/// Decodes and verifies every transaction of a block (chain id, signature, record shape), on all cores and with
/// signatures checked in batches: signature checks dominate execution, and each transaction's verdict is
/// independent of the others and of how they are grouped (see `clearance_core::crypto`), so neither the split
/// nor the batching can change any outcome.
fn verify_all(
    chain_id: &Hash32,
    txs: &[Bytes],
    verified: &Verified<'_>,
) -> Result<Vec<VerifiedTx>, ExecError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || txs.len() < 2 * SIGNATURE_BATCH {
        return verify_part(chain_id, 0, txs, verified);
    }
    let chunk = txs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = txs
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| scope.spawn(move || verify_part(chain_id, c * chunk, part, verified)))
            .collect();
        let mut out = Vec::with_capacity(txs.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(out)
    })
}

/// Each transaction of `txs` decoded and checked (chain, signature, shape), by position. Block sync runs it on a
/// second thread for the next block while the one before it executes, and passes the result as that block's
/// [`Checked::Ahead`]. `keys` carries validated submitter keys from block to block.
pub fn verify_ahead<'a>(
    chain_id: &Hash32,
    txs: &'a [Bytes],
    keys: &mut HashMap<PublicKey, CheckedKey>,
) -> Ahead<'a> {
    let (at, signed): (Vec<usize>, Vec<SignedTx>) = txs
        .iter()
        .enumerate()
        .filter_map(|(i, b)| SignedTx::from_bytes(b.as_slice()).ok().map(|tx| (i, tx)))
        .unzip();
    let mut verified: Vec<Option<VerifiedTx>> = (0..txs.len()).map(|_| None).collect();
    for (i, result) in at
        .into_iter()
        .zip(verify_many_except(chain_id, &signed, &[], keys))
    {
        verified[i] = result.ok();
    }
    Ahead { txs, verified }
}

/// [`verify_all`] for the transactions of a block from index `offset` on.
fn verify_part(
    chain_id: &Hash32,
    offset: usize,
    part: &[Bytes],
    verified: &Verified<'_>,
) -> Result<Vec<VerifiedTx>, ExecError> {
    let invalid = |index: usize, source: TxError| ExecError::InvalidTx {
        index: offset + index,
        source,
    };
    let mut signed = Vec::with_capacity(part.len());
    let mut known = Vec::with_capacity(part.len());
    for (i, bytes) in part.iter().enumerate() {
        let tx = SignedTx::from_bytes(bytes.as_slice()).map_err(|e| invalid(i, e.into()))?;
        known.push(verified(&tx.id(), bytes.as_slice()));
        signed.push(tx);
    }
    verify_many_except(chain_id, &signed, &known, &mut HashMap::new())
        .into_iter()
        .enumerate()
        .map(|(i, result)| result.map_err(|e| invalid(i, e)))
        .collect()
}
