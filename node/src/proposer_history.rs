//! The committed history that the proposer rule (`clearance_core::proposer`) reads: the proposer and time of the
//! last blocks, kept in memory as blocks commit and read back from storage at start. Every member must compute
//! the same order, so the history always holds exactly the blocks of the window, whatever this node's uptime.

use crate::execute::ExecError;
use crate::storage::{StorageError, Store};
use clearance_core::block::{Block, Header, HeaderView};
use clearance_core::proposer::{self, History, ProposedBlock, ProposerOrder};
use clearance_core::rules;
use clearance_core::validator::ValidatorSet;
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct ProposerHistory {
    /// Consecutive committed blocks, oldest first.
    blocks: VecDeque<ProposedBlock>,
}

impl ProposerHistory {
    /// Records a committed block (the one after the last recorded, or any block if the history is empty).
    pub fn push(&mut self, header: &Header) {
        if self
            .blocks
            .back()
            .is_some_and(|b| b.height + 1 != header.height)
        {
            self.blocks.clear();
        }
        self.blocks.push_back(of_header(header));
    }

    /// The proposer order of `height` (the head's successor) under `set`, reading from `store` what the window
    /// needs and this history lacks.
    pub fn order(
        &mut self,
        store: &Store,
        set: &ValidatorSet,
        height: u64,
    ) -> Result<ProposerOrder, ExecError> {
        let first = height.saturating_sub(proposer::window(set.len())).max(1);
        self.fill(store, first, height)?;
        // Only the member ids: building the window start's validator set would check every key again at each
        // commit.
        let (_, epoch) = rules::epoch_at(store, first)
            .ok_or_else(|| ExecError::Membership(format!("no epoch in force at height {first}")))?;
        let members: Vec<_> = epoch.members.iter().map(|m| m.id.clone()).collect();
        Ok(ProposerOrder::new(
            set,
            height,
            History {
                blocks: self.blocks.make_contiguous(),
                members_at_window_start: &members,
            },
        ))
    }

    /// Keeps exactly the blocks `first..height`: drops older ones and reads missing ones from storage (at start,
    /// or when the set grows and with it the window).
    fn fill(&mut self, store: &Store, first: u64, height: u64) -> Result<(), StorageError> {
        while self.blocks.front().is_some_and(|b| b.height < first) {
            self.blocks.pop_front();
        }
        let held = self.blocks.front().map(|b| b.height);
        let missing_end = match (held, self.blocks.back()) {
            (Some(from), Some(last)) if last.height + 1 == height => from,
            _ => {
                self.blocks.clear();
                height
            }
        };
        let mut older = Vec::new();
        for h in first..missing_end {
            let block = store.block(h)?.ok_or_else(|| StorageError::Corrupt {
                what: "block",
                detail: format!("height {h} is committed but not stored"),
            })?;
            older.push(of_header(&decode_header(&block)?));
        }
        for b in older.into_iter().rev() {
            self.blocks.push_front(b);
        }
        Ok(())
    }
}

fn of_header(header: &Header) -> ProposedBlock {
    ProposedBlock {
        height: header.height,
        proposer: header.proposer.clone(),
        time_ms: header.time.as_millis(),
    }
}

fn decode_header(block: &Block) -> Result<Header, StorageError> {
    HeaderView::from_bytes(block.header.as_slice())
        .map(|v| v.header)
        .map_err(|e| StorageError::Corrupt {
            what: "block header",
            detail: e.to_string(),
        })
}
