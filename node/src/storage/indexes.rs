//! Reads of the `indexes` column family: the record ids kept under each indexed value (`crate::index`), in
//! commit order.

use super::{StorageError, Store, corrupt};
use clearance_core::Hash32;

impl Store {
    /// Entries of the index under `prefix` ([`crate::index`]) with a log index above `after`, in commit order,
    /// as (log index, record id), until `keep` says stop.
    pub fn scan_index(
        &self,
        prefix: &[u8],
        after: Option<u64>,
        mut keep: impl FnMut(u64, Hash32) -> bool,
    ) -> Result<(), StorageError> {
        let mut start = prefix.to_vec();
        start.extend_from_slice(&after.map_or(0, |a| a.saturating_add(1)).to_be_bytes());
        let iter = self.db.iterator_cf(
            self.cf("indexes"),
            rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) || key.len() != prefix.len() + 8 {
                break;
            }
            let log_index = crate::index::log_index_of(&key)
                .ok_or_else(|| corrupt("index key", "too short"))?;
            let id = Hash32::from_slice(&value).map_err(|e| corrupt("index entry", e))?;
            if !keep(log_index, id) {
                break;
            }
        }
        Ok(())
    }

    /// The log indexes of the newest `n` entries of the index under `prefix`, in commit order: one seek to the
    /// prefix's end and at most `n` steps back, however many entries it has. (The prefix ends in a 0 byte that
    /// no indexed value holds, so no other value's entries lie between.)
    pub fn newest_in_index(&self, prefix: &[u8], n: usize) -> Result<Vec<u64>, StorageError> {
        let mut end = prefix.to_vec();
        end.extend_from_slice(&u64::MAX.to_be_bytes());
        let iter = self.db.iterator_cf(
            self.cf("indexes"),
            rocksdb::IteratorMode::From(&end, rocksdb::Direction::Reverse),
        );
        let mut out = Vec::new();
        for item in iter {
            if out.len() == n {
                break;
            }
            let (key, _) = item?;
            if !key.starts_with(prefix) || key.len() != prefix.len() + 8 {
                break;
            }
            out.push(
                crate::index::log_index_of(&key)
                    .ok_or_else(|| corrupt("index key", "too short"))?,
            );
        }
        out.reverse();
        Ok(out)
    }
}
