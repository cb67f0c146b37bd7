//! The ledger as the driver sees it: building a block to propose, validating a proposed block, committing a
//! decided block, and applying a block fetched by block sync. Each block's execution is computed once per node
//! and cached by block hash until the block is committed or the height moves on.

use crate::execute::{self, Checked, ExecError, Executed, Verified};
use crate::proposer_history::ProposerHistory;
use crate::storage::{BlockWrite, Head, Store};
use clearance_core::Hash32;
use clearance_core::block::{Block, Header, HeaderView, Outcome, tx_root};
use clearance_core::bytes::Bytes;
use clearance_core::genesis::ConsensusParams;
use clearance_core::ids::CountryCode;
use clearance_core::proposer::ProposerOrder;
use clearance_core::rules::{BlockContext, Epoch, StateKey};
use clearance_core::time::Timestamp;
use clearance_core::validator::ValidatorSet;
use clearance_core::vote::{CommitCertificate, verify_commit};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum InvalidBlock {
    #[error("{0}")]
    Body(#[from] clearance_core::block::BlockError),
    #[error("header field {field}: {detail}")]
    Header { field: &'static str, detail: String },
    #[error("{0}")]
    Exec(#[from] ExecError),
    #[error("commit certificate: {0}")]
    Certificate(#[from] clearance_core::vote::CommitError),
}

fn header_err(field: &'static str, detail: impl ToString) -> InvalidBlock {
    InvalidBlock::Header {
        field,
        detail: detail.to_string(),
    }
}

/// What a commit changed, for logs, metrics, the mempool and the API.
#[derive(Debug, Clone)]
pub struct Committed {
    pub height: u64,
    pub hash: Hash32,
    pub tx_ids: Vec<Hash32>,
    pub accepted: usize,
    pub rejected: usize,
    pub time: Timestamp,
    /// The record-log indexes of the block's accepted records.
    pub log_range: std::ops::Range<u64>,
    /// The block recorded a membership proposal or approval that was accepted.
    pub membership: bool,
    /// Evidence records the block accepted.
    pub evidence: usize,
}

pub struct Ledger {
    store: Arc<Store>,
    chain_id: Hash32,
    params: ConsensusParams,
    /// The members in force at the height being decided (`head + 1`), and their validator set.
    epoch: Epoch,
    validators: ValidatorSet,
    /// Who proposes in each round of the height being decided, and the committed blocks it is computed from.
    proposers: ProposerOrder,
    history: ProposerHistory,
    head: Head,
    executed: HashMap<Hash32, Executed>,
}

impl Ledger {
    pub fn new(
        store: Arc<Store>,
        chain_id: Hash32,
        params: ConsensusParams,
    ) -> Result<Ledger, ExecError> {
        let head = store.head()?;
        let (epoch, validators) = execute::members_at(store.as_ref(), head.height + 1)?;
        let mut history = ProposerHistory::default();
        let proposers = history.order(&store, &validators, head.height + 1)?;
        Ok(Ledger {
            store,
            chain_id,
            params,
            epoch,
            validators,
            proposers,
            history,
            head,
            executed: HashMap::new(),
        })
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The validator set of the height being decided.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// Who proposes in each round of the height being decided.
    pub fn proposers(&self) -> &ProposerOrder {
        &self.proposers
    }

    /// The members in force at the height being decided, with their network identities.
    pub fn epoch(&self) -> &Epoch {
        &self.epoch
    }

    /// What the rules know of the next block before it is built: its height, and the last block's time (a
    /// lower bound of its own).
    pub fn next_context(&self) -> BlockContext {
        BlockContext::new(self.head.height + 1, self.head.time, &self.params)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn parent(&self) -> execute::Parent<'_> {
        execute::Parent {
            store: &self.store,
            head: &self.head,
        }
    }

    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Builds a block of `txs` for the next height, proposed by `proposer` at wall-clock `now_ms`.
    /// `verified` says which transaction bytes this node already verified (its mempool's).
    pub fn build(
        &mut self,
        proposer: CountryCode,
        txs: Vec<Bytes>,
        now_ms: u64,
        verified: &Verified<'_>,
    ) -> Result<Block, ExecError> {
        // Block time strictly increases, even if this node's clock is behind its parent's proposer.
        let time_ms = now_ms.max(self.head.time.as_millis() + 1);
        let time = Timestamp::from_millis(time_ms).unwrap_or(self.head.time);
        let height = self.head.height + 1;
        let executed = execute::execute(
            self.parent(),
            &self.chain_id,
            &BlockContext::new(height, time, &self.params),
            &txs,
            Checked::Known(verified),
            execute::Inadmissible::Skip,
        )?;
        let txs: Vec<Bytes> = txs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| executed.skipped.binary_search(i).is_err())
            .map(|(_, tx)| tx)
            .collect();
        if !executed.skipped.is_empty() {
            tracing::info!(
                height,
                left_out = executed.skipped.len(),
                "transactions left out of the block: they fail the submitter checks at their place in it"
            );
        }
        let header = Header {
            chain_id: self.chain_id,
            height,
            time,
            parent_hash: self.head.hash,
            proposer,
            tx_count: txs.len() as u32,
            tx_root: tx_root(&txs),
            results_root: executed.results_root,
            log_size: executed.log_size,
            log_root: executed.log_root,
            validator_set_hash: self.validators.hash(),
            next_validator_set_hash: executed.next_validators.hash(),
            state_root: executed.state_root,
        };
        let view = HeaderView::from_header(header);
        self.cache(view.hash, executed);
        Ok(Block {
            header: view.bytes,
            txs,
        })
    }

    /// Checks a proposed block for the next height against this node's state and clock, executing it.
    pub fn validate(
        &mut self,
        block: &Block,
        now_ms: u64,
        verified: &Verified<'_>,
    ) -> Result<HeaderView, InvalidBlock> {
        let view = self.check_header(block)?;
        let time = view.header.time.as_millis();
        let limit = now_ms.saturating_add(self.params.max_clock_drift_ms.into());
        if time > limit {
            return Err(header_err(
                "time",
                format!(
                    "{} is more than the allowed drift ahead of this node's clock",
                    view.header.time
                ),
            ));
        }
        self.execute_checked(&view, block, Checked::Known(verified))?;
        Ok(view)
    }

    fn check_header(&self, block: &Block) -> Result<HeaderView, InvalidBlock> {
        let view = block.verify_body()?;
        let h = &view.header;
        if h.chain_id != self.chain_id {
            return Err(header_err(
                "chain_id",
                format!("{} is another chain", h.chain_id),
            ));
        }
        if h.height != self.head.height + 1 {
            return Err(header_err(
                "height",
                format!("{} is not {}", h.height, self.head.height + 1),
            ));
        }
        if h.parent_hash != self.head.hash {
            return Err(header_err(
                "parent_hash",
                "does not name the last committed block",
            ));
        }
        if h.time <= self.head.time {
            return Err(header_err("time", "is not later than the parent block's"));
        }
        if self.validators.index_of(&h.proposer).is_none() {
            return Err(header_err(
                "proposer",
                format!("{} is not a member", h.proposer),
            ));
        }
        if h.validator_set_hash != self.validators.hash() {
            return Err(header_err(
                "validator_set_hash",
                "does not match the set in force at this height",
            ));
        }
        if h.tx_count > self.params.max_block_txs {
            return Err(header_err("tx_count", "exceeds max_block_txs"));
        }
        let bytes: usize = block.txs.iter().map(Bytes::len).sum();
        if bytes > self.params.max_block_bytes as usize {
            return Err(header_err("txs", "transactions exceed max_block_bytes"));
        }
        if let Some(i) = block
            .txs
            .iter()
            .position(|t| t.len() > self.params.max_tx_bytes as usize)
        {
            return Err(header_err(
                "txs",
                format!("transaction {i} exceeds max_tx_bytes"),
            ));
        }
        Ok(view)
    }

    fn execute_checked(
        &mut self,
        view: &HeaderView,
        block: &Block,
        checked: Checked<'_>,
    ) -> Result<(), InvalidBlock> {
        if self.executed.contains_key(&view.hash) {
            return Ok(());
        }
        let h = &view.header;
        let executed = execute::execute(
            self.parent(),
            &self.chain_id,
            &BlockContext::new(h.height, h.time, &self.params),
            &block.txs,
            checked,
            execute::Inadmissible::Invalid,
        )?;
        if executed.results_root != h.results_root {
            return Err(header_err(
                "results_root",
                "does not match this node's execution",
            ));
        }
        if executed.log_size != h.log_size || executed.log_root != h.log_root {
            return Err(header_err(
                "log_root",
                "does not match this node's execution",
            ));
        }
        if executed.state_root != h.state_root {
            return Err(header_err(
                "state_root",
                "does not match this node's execution",
            ));
        }
        if executed.next_validators.hash() != h.next_validator_set_hash {
            return Err(header_err(
                "next_validator_set_hash",
                "does not match the set this node's execution puts in force at the next height",
            ));
        }
        self.cache(view.hash, executed);
        Ok(())
    }

    /// Keeps an execution until commit. A height that stalls over many rounds sees a few blocks per round; the
    /// cache forgets them all past a bound rather than grow, and a block needed again is executed again.
    fn cache(&mut self, hash: Hash32, executed: Executed) {
        const MAX_CACHED: usize = 16;
        if self.executed.len() >= MAX_CACHED {
            self.executed.clear();
        }
        self.executed.insert(hash, executed);
    }

    /// Writes a decided block with its certificate. The block was validated (and executed) before this node
    /// voted for it; a block decided without this node's vote is executed here.
    pub fn commit(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
    ) -> Result<Committed, InvalidBlock> {
        let view = self.check_header(block)?;
        self.write(
            view,
            block,
            certificate,
            Durability::Synced,
            Checked::NOTHING,
        )
    }

    fn write(
        &mut self,
        view: HeaderView,
        block: &Block,
        certificate: &CommitCertificate,
        durability: Durability,
        checked: Checked<'_>,
    ) -> Result<Committed, InvalidBlock> {
        self.execute_checked(&view, block, checked)?;
        let executed = match self.executed.remove(&view.hash) {
            Some(e) => e,
            None => unreachable!("execute_checked caches the execution"),
        };
        let h = &view.header;
        let log_range = self.head.log_size..executed.log_size;
        let membership = executed
            .changes
            .iter()
            .any(|c| matches!(c.key, StateKey::MembershipProposal(_)));
        let head = Head {
            height: h.height,
            hash: view.hash,
            time: h.time,
            log_size: executed.log_size,
            log_root: executed.log_root,
            next_validator_set_hash: h.next_validator_set_hash,
            tx_count: self.head.tx_count + block.txs.len() as u64,
            state_root: executed.state_root,
        };
        let written = self.store.commit_block(BlockWrite {
            height: h.height,
            hash: view.hash,
            block,
            certificate,
            head: head.clone(),
            tx_ids: &executed.tx_ids,
            results: &executed.results,
            records: &executed.records,
            index: &executed.index,
            log_nodes: &executed.log_nodes,
            changes: &executed.changes,
            tree: &executed.tree,
            synced: durability == Durability::Synced,
        });
        written.map_err(ExecError::from)?;
        self.head = head;
        self.epoch = executed.next_epoch;
        self.validators = executed.next_validators;
        self.executed.clear();
        self.history.push(h);
        self.proposers = self
            .history
            .order(&self.store, &self.validators, h.height + 1)?;
        let accepted = executed
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Accepted { .. }))
            .count();
        let evidence_kind = crate::index::prefix(crate::index::KIND, "evidence");
        let evidence = executed
            .index
            .iter()
            .filter(|(key, _)| key.starts_with(&evidence_kind))
            .count();
        Ok(Committed {
            height: h.height,
            hash: view.hash,
            accepted,
            rejected: executed.results.len() - accepted,
            tx_ids: executed.tx_ids,
            time: h.time,
            log_range,
            membership,
            evidence,
        })
    }

    /// Verifies a block fetched by block sync (its commit certificate against the set in force at its height)
    /// and commits it, not yet synced to the disk ([`Ledger::sync`]). `checked` says what of its transactions
    /// was verified already.
    pub fn apply_synced(
        &mut self,
        block: &Block,
        certificate: &CommitCertificate,
        checked: Checked<'_>,
    ) -> Result<Committed, InvalidBlock> {
        let view = self.check_header(block)?;
        verify_commit(&self.chain_id, &self.validators, &view, certificate)?;
        self.write(view, block, certificate, Durability::Later, checked)
    }

    pub fn chain_id(&self) -> &Hash32 {
        &self.chain_id
    }

    /// Makes every block written so far durable: block sync calls it once after a run of blocks, before
    /// consensus goes on above them.
    pub fn sync(&self) -> Result<(), crate::storage::StorageError> {
        self.store.sync_wal()
    }
}

/// When a committed block reaches the disk. A block decided here is synced before the node acts on it. A run of
/// blocks fetched by block sync is synced once at its end, by [`Ledger::sync`]: each is final already (a quorum
/// certified it), a crash before the sync only means fetching them again, and one sync per block was a fifth of
/// catching up (docs/performance.md §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Synced,
    Later,
}
