//! RocksDB storage. Everything a committed block changes is written in one synced `WriteBatch`, so a crash at
//! any instant leaves either the whole block or none of it. The consensus safety state is written and synced on
//! its own, before any vote it justifies leaves the node.
//!
//! Column families:
//!
//! | family      | key                         | value                                              |
//! |-------------|-----------------------------|----------------------------------------------------|
//! | `meta`      | `chain_id`, `layout`, `head` | the genesis hash this directory belongs to; the layout version; [`Head`] |
//! | `blocks`    | height (u64 BE)             | block bytes (header bytes and signed transactions) |
//! | `certs`     | height (u64 BE)             | the commit certificate this node stored            |
//! | `txs`       | transaction id              | [`TxLocation`]: height and index in the block      |
//! | `results`   | height ‖ index (u64 BE, u32 BE) | the `TxResult` bytes committed in `results_root` |
//! | `records`   | log index (u64 BE)          | the accepted `SignedTx` bytes, the leaf of the record log |
//! | `indexes`   | `h` ‖ block hash            | height                                             |
//! | `log`       | level (u8) ‖ index (u64 BE) | complete Merkle subtree hash of the record log     |
//! | `state`     | canonical `StateKey`        | canonical `StateValue`: submitters, sequences, certificates, decisions, AEO status, MRAs |
//! | `tree`      | state tree position: depth (u16 BE) ‖ the ⌈depth / 8⌉ prefix bytes (at least 1) | the node there: 0 ‖ left ‖ right, or 1 ‖ path ‖ value hash (65 bytes); above depth 16 only leaves ([`upper_tree`]) |
//! | `safety`    | `current`                   | the consensus safety state                         |
//! | `evidence`  | evidence hash               | equivocation evidence seen                         |

mod codec;
mod indexes;
mod state;
mod tree;
mod upper_tree;

pub use codec::{Head, TxLocation};
pub use state::decode_state_value;
use state::state_key;
pub use tree::StateTree;

use clearance_core::Hash32;
use clearance_core::block::{Block, TxResult};
use clearance_core::encoding::{self, limit};
use clearance_core::equivocation::Equivocation;
use clearance_core::genesis::Genesis;
use clearance_core::merkle::{MerkleError, NodeSource};
use clearance_core::rules::{Change, tree_changes};
use clearance_core::state_tree::{self, Node, Position};
use clearance_core::vote::CommitCertificate;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, Options, WriteBatch,
    WriteOptions,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use upper_tree::UpperTree;

use crate::consensus::SafetyState;

const CFS: [&str; 12] = [
    "meta", "blocks", "certs", "txs", "results", "records", "indexes", "log", "state", "tree",
    "safety", "evidence",
];

/// The on-disk layout version; a directory written by another layout is refused, except layout 3, which is
/// upgraded in place. Layout 3 added the state tree (and headers committing to its root); layout 4 stops storing
/// the tree's internal nodes above depth 16.
const LAYOUT_VERSION: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database at {path}: {source}")]
    Open {
        path: PathBuf,
        source: rocksdb::Error,
    },
    #[error("database: {0}")]
    Db(#[from] rocksdb::Error),
    #[error(
        "the data directory {path} belongs to chain {found}, but the genesis file describes chain {expected}; \
         point data_dir at an empty directory or use the genesis this directory was created with"
    )]
    ForeignChain {
        path: PathBuf,
        expected: Hash32,
        found: Hash32,
    },
    #[error(
        "the data directory {path} uses storage layout {found}; this node writes layout {LAYOUT_VERSION}"
    )]
    Layout { path: PathBuf, found: u32 },
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

fn corrupt(what: &'static str, detail: impl ToString) -> StorageError {
    StorageError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

/// Everything one committed block writes.
pub struct BlockWrite<'a> {
    pub height: u64,
    pub hash: Hash32,
    pub block: &'a Block,
    pub certificate: &'a CommitCertificate,
    pub head: Head,
    pub tx_ids: &'a [Hash32],
    pub results: &'a [TxResult],
    /// Accepted transactions: (log index, signed bytes).
    pub records: &'a [(u64, Vec<u8>)],
    pub index: &'a [(Vec<u8>, Hash32)],
    pub log_nodes: &'a [(u32, u64, Hash32)],
    pub changes: &'a [Change],
    /// The state tree's nodes to write (`None`: delete).
    pub tree: &'a BTreeMap<Position, Option<Node>>,
    /// Whether the write returns only once it is on the disk; otherwise [`Store::sync_wal`] makes it durable (a
    /// crash before loses it, and every write after it, whole: the log is replayed in order up to a torn end).
    pub synced: bool,
}

/// A committed block and its certificate, as the stored bytes.
pub struct StoredBlock {
    pub block: Vec<u8>,
    pub certificate: Vec<u8>,
}

/// A disk held in memory: RocksDB's in-memory environment, for the seeded simulator and for tests. The store
/// on it is the production store (same batches, same atomicity); only the files live in memory. Data written
/// through a store survives dropping that store and opening another on the same disk and name, which is how the
/// simulator restarts a member after a crash.
#[derive(Clone)]
pub struct MemoryDisk(rocksdb::Env);

impl MemoryDisk {
    pub fn new() -> Result<MemoryDisk, StorageError> {
        Ok(MemoryDisk(rocksdb::Env::mem_env()?))
    }
}

pub struct Store {
    db: DB,
    path: PathBuf,
    sync: WriteOptions,
    unsynced: WriteOptions,
    /// The committed state tree's levels that are not stored. Written under the lock together with the block
    /// that changes them, so that whoever reads the head after a commit reads these levels after it too.
    upper: RwLock<UpperTree>,
}

/// All memtables together, across column families.
const MEMTABLE_BUDGET: usize = 64 << 20;
/// One column family's memtable before it is flushed.
const CF_MEMTABLE: usize = 16 << 20;
const IN_MEMORY_CF_MEMTABLE: usize = 256 << 10;
/// The tree memtable's hash buckets: depth and the first prefix byte, the shortest key's length.
const TREE_KEY_BUCKET: usize = 3;
/// The block cache that every column family shares.
const BLOCK_CACHE: usize = 64 << 20;
/// About 1 % false positives.
const BLOOM_BITS_PER_KEY: f64 = 10.0;
/// The memtable's bloom filter, as a share of its size.
const MEMTABLE_BLOOM_RATIO: f64 = 0.1;

impl Store {
    /// Opens (or creates) the database under `path` for `genesis`'s chain. A new database is initialised with the
    /// genesis state in one synced batch; an existing one must belong to the same chain.
    pub fn open(path: &Path, genesis: &Genesis) -> Result<Store, StorageError> {
        Store::open_on(path, genesis, None)
    }

    /// Opens (or creates) the database called `name` on an in-memory disk.
    pub fn open_in_memory(
        disk: &MemoryDisk,
        name: &str,
        genesis: &Genesis,
    ) -> Result<Store, StorageError> {
        Store::open_on(
            &Path::new("/clearance-memory").join(name),
            genesis,
            Some(disk),
        )
    }

    fn open_on(
        path: &Path,
        genesis: &Genesis,
        memory: Option<&MemoryDisk>,
    ) -> Result<Store, StorageError> {
        let mut opts = Options::default();
        if let Some(disk) = memory {
            opts.set_env(&disk.0);
        }
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_max_background_jobs(2);
        // The tree's hashed memtable (below) takes writes from one writer at a time, which is all this node has.
        opts.set_allow_concurrent_memtable_write(false);
        // RocksDB's defaults give every column family its own 64 MiB memtables and block cache, so 12 of them
        // could hold over a gigabyte: one budget for all memtables and one cache for all blocks bound a node's
        // memory however large the ledger grows.
        opts.set_db_write_buffer_size(MEMTABLE_BUDGET);
        // An in-memory store holds a simulated member's few blocks: small memtables, whose bloom filters and
        // arenas are allocated (and zeroed) at every open, keep a simulated restart cheap.
        let cf_memtable = if memory.is_some() {
            IN_MEMORY_CF_MEMTABLE
        } else {
            CF_MEMTABLE
        };
        let cache = Cache::new_lru_cache(BLOCK_CACHE);
        let cfs = CFS.map(|name| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            // Most lookups are for keys that do not exist: every transaction of a block is checked against the
            // committed ids, every new certificate number against the issued ones. Bloom filters, in the tables
            // and in the memtable, answer those without searching each level.
            table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
            let mut cf = Options::default();
            if name == "tree" {
                // Hashes do not compress, and nearly every read of the tree finds its node: compression and a
                // memtable filter would cost every one of the thousands of writes per block for nothing. The
                // writes are random keys: in one large skip list each insert missed the cache at most levels,
                // the largest cost of a block's commit; hashed by depth and first prefix byte, each goes into a
                // small list. The tree is only ever read by key, never iterated.
                cf.set_compression_type(rocksdb::DBCompressionType::None);
                cf.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(
                    TREE_KEY_BUCKET,
                ));
                cf.set_memtable_factory(rocksdb::MemtableFactory::HashSkipList {
                    bucket_count: 1 << 16,
                    height: 4,
                    branching_factor: 4,
                });
            } else {
                cf.set_compression_type(rocksdb::DBCompressionType::Lz4);
                cf.set_memtable_whole_key_filtering(true);
                cf.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
            }
            cf.set_write_buffer_size(cf_memtable);
            cf.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(name, cf)
        });
        let db =
            DB::open_cf_descriptors(&opts, path, cfs).map_err(|source| StorageError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        let store = Store {
            db,
            path: path.to_path_buf(),
            sync,
            unsynced: WriteOptions::default(),
            upper: RwLock::new(UpperTree::default()),
        };
        store.check_or_init(genesis)?;
        Ok(store)
    }

    fn cf(&self, name: &'static str) -> &ColumnFamily {
        match self.db.cf_handle(name) {
            Some(cf) => cf,
            // Every family in CFS is created at open.
            None => unreachable!("column family {name} was opened"),
        }
    }

    fn check_or_init(&self, genesis: &Genesis) -> Result<(), StorageError> {
        let chain_id = genesis.chain_id();
        let meta = self.cf("meta");
        if let Some(found) = self.db.get_cf(meta, b"chain_id")? {
            let found = Hash32::from_slice(&found).map_err(|e| corrupt("chain id", e))?;
            if found != chain_id {
                return Err(StorageError::ForeignChain {
                    path: self.path.clone(),
                    expected: chain_id,
                    found,
                });
            }
            let layout = self
                .db
                .get_cf(meta, b"layout")?
                .ok_or_else(|| corrupt("layout", "missing"))?;
            let layout = u32::from_be_bytes(
                layout
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("layout", "not 4 bytes"))?,
            );
            if layout == 3 {
                self.upgrade_layout_3()?;
            } else if layout != LAYOUT_VERSION {
                return Err(StorageError::Layout {
                    path: self.path.clone(),
                    found: layout,
                });
            }
            let head = self.head()?;
            *self.upper_tree_mut()? = self.load_upper_tree(&head.state_root)?;
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, b"layout", LAYOUT_VERSION.to_be_bytes());
        let head = Head::genesis(genesis);
        batch.put_cf(meta, b"head", head.to_bytes());
        let state = self.cf("state");
        let changes = clearance_core::rules::genesis_state(genesis);
        for change in &changes {
            batch.put_cf(
                state,
                state_key(&change.key),
                encoding::encode(&change.value),
            );
        }
        let tree = state_tree::update(&self.state_tree(), &tree_changes(&changes))?;
        if tree.root != head.state_root {
            return Err(corrupt(
                "state tree",
                "the genesis state's tree is not the genesis root",
            ));
        }
        // The chain id goes last in meaning, not in bytes: the batch is atomic, so a directory either has it
        // with the whole genesis state or is empty.
        batch.put_cf(meta, b"chain_id", chain_id.as_bytes());
        self.write_with_tree(batch, &tree.writes, true)
    }

    pub fn head(&self) -> Result<Head, StorageError> {
        let bytes = self
            .db
            .get_cf(self.cf("meta"), b"head")?
            .ok_or_else(|| corrupt("head", "missing"))?;
        Head::from_bytes(&bytes)
    }

    /// Writes one committed block and everything it changes, synced, in one batch.
    pub fn commit_block(&self, w: BlockWrite<'_>) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let height = w.height.to_be_bytes();
        batch.put_cf(self.cf("blocks"), height, w.block.to_bytes());
        batch.put_cf(self.cf("certs"), height, w.certificate.to_bytes());
        batch.put_cf(
            self.cf("indexes"),
            index_key(b'h', w.hash.as_bytes()),
            height,
        );
        batch.put_cf(
            self.cf("indexes"),
            index_key(b't', &height),
            w.head.time.as_millis().to_be_bytes(),
        );
        for (i, (id, result)) in w.tx_ids.iter().zip(w.results).enumerate() {
            let loc = TxLocation {
                height: w.height,
                index: i as u32,
            };
            batch.put_cf(self.cf("txs"), id.as_bytes(), loc.to_bytes());
            batch.put_cf(self.cf("results"), loc.key(), result.to_bytes());
        }
        for (index, bytes) in w.records {
            batch.put_cf(self.cf("records"), index.to_be_bytes(), bytes);
        }
        for (key, id) in w.index {
            batch.put_cf(self.cf("indexes"), key, id.as_bytes());
        }
        for (level, index, hash) in w.log_nodes {
            batch.put_cf(self.cf("log"), log_key(*level, *index), hash.as_bytes());
        }
        let state = self.cf("state");
        for change in w.changes {
            batch.put_cf(
                state,
                state_key(&change.key),
                encoding::encode(&change.value),
            );
        }
        batch.put_cf(self.cf("meta"), b"head", w.head.to_bytes());
        self.write_with_tree(batch, w.tree, w.synced)
    }

    /// Syncs every write so far to the disk.
    pub fn sync_wal(&self) -> Result<(), StorageError> {
        // A synced write syncs the log up to its end, every earlier write with it: the head, written again
        // unchanged (RocksDB's own `SyncWAL` is not implemented by the in-memory environment of the simulator).
        let meta = self.cf("meta");
        let head = self
            .db
            .get_cf(meta, b"head")?
            .ok_or_else(|| corrupt("head", "missing"))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(meta, b"head", head);
        Ok(self.db.write_opt(batch, &self.sync)?)
    }

    pub fn block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf("blocks"), height.to_be_bytes())?
        {
            Some(bytes) => Block::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| corrupt("block", e)),
            None => Ok(None),
        }
    }

    /// The raw stored bytes of a block and its certificate, for serving block sync without re-encoding.
    pub fn block_bytes(&self, height: u64) -> Result<Option<StoredBlock>, StorageError> {
        let block = self.db.get_cf(self.cf("blocks"), height.to_be_bytes())?;
        let cert = self.db.get_cf(self.cf("certs"), height.to_be_bytes())?;
        match (block, cert) {
            (Some(block), Some(certificate)) => Ok(Some(StoredBlock { block, certificate })),
            (None, None) => Ok(None),
            _ => Err(corrupt(
                "block",
                format!("height {height} lacks its block or certificate"),
            )),
        }
    }

    pub fn certificate(&self, height: u64) -> Result<Option<CommitCertificate>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf("certs"), height.to_be_bytes())?
        {
            Some(bytes) => CommitCertificate::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| corrupt("commit certificate", e)),
            None => Ok(None),
        }
    }

    pub fn tx_location(&self, id: &Hash32) -> Result<Option<TxLocation>, StorageError> {
        match self.db.get_pinned_cf(self.cf("txs"), id.as_bytes())? {
            Some(bytes) => TxLocation::from_bytes(&bytes).map(Some),
            None => Ok(None),
        }
    }

    pub fn tx_result(&self, loc: &TxLocation) -> Result<Option<TxResult>, StorageError> {
        match self.db.get_pinned_cf(self.cf("results"), loc.key())? {
            Some(bytes) => TxResult::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| corrupt("transaction result", e)),
            None => Ok(None),
        }
    }

    /// The signed transaction bytes at `index` of the record log.
    pub fn record(&self, index: u64) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf("records"), index.to_be_bytes())?)
    }

    /// The time of the block at `height`, in milliseconds since the epoch.
    pub fn block_time_ms(&self, height: u64) -> Result<Option<u64>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf("indexes"), index_key(b't', &height.to_be_bytes()))?
        {
            Some(bytes) => Ok(Some(u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| corrupt("block time", "not 8 bytes"))?,
            ))),
            None => Ok(None),
        }
    }

    /// Records in log order from `after` + 1, as (log index, signed bytes), until `keep` says stop.
    pub fn scan_records(
        &self,
        after: Option<u64>,
        mut keep: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StorageError> {
        let start = after.map_or(0, |a| a.saturating_add(1)).to_be_bytes();
        let iter = self.db.iterator_cf(
            self.cf("records"),
            rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            let log_index = crate::index::log_index_of(&key)
                .ok_or_else(|| corrupt("record key", "too short"))?;
            if !keep(log_index, &value) {
                break;
            }
        }
        Ok(())
    }

    /// Not synced: what keeps the validator from signing twice is the validator state file, synced before
    /// (`crate::validator_state`); this copy, with the valid block and the messages to send again, survives a
    /// killed process (the write is in the OS's cache) and at worst costs liveness after a power loss.
    pub fn save_safety(&self, state: &SafetyState) -> Result<(), StorageError> {
        self.db
            .put_cf(self.cf("safety"), b"current", encoding::encode(state))?;
        Ok(())
    }

    pub fn load_safety(&self) -> Result<Option<SafetyState>, StorageError> {
        match self.db.get_pinned_cf(self.cf("safety"), b"current")? {
            Some(bytes) => encoding::decode(&bytes, SAFETY_LIMIT, "safety state")
                .map(Some)
                .map_err(|e| corrupt("safety state", e)),
            None => Ok(None),
        }
    }

    pub fn save_evidence(&self, evidence: &Equivocation) -> Result<Hash32, StorageError> {
        let bytes = encoding::encode(evidence);
        let id = Hash32::sha256(&bytes);
        self.db.put_cf(self.cf("evidence"), id.as_bytes(), bytes)?;
        Ok(id)
    }
}

/// Safety state holds at most one block (the valid value) and the votes of one height.
const SAFETY_LIMIT: usize = limit::BLOCK + 1024 * 1024;

fn index_key(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(prefix);
    k.extend_from_slice(rest);
    k
}

fn log_key(level: u32, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level as u8;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

impl Store {
    /// A complete subtree hash of the committed record log, if stored.
    pub fn log_node(&self, level: u32, index: u64) -> Result<Option<Hash32>, StorageError> {
        match self
            .db
            .get_pinned_cf(self.cf("log"), log_key(level, index))?
        {
            Some(bytes) => Hash32::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt("record log node", e)),
            None => Ok(None),
        }
    }
}

/// The committed record log, read for roots and proofs.
impl NodeSource for Store {
    fn size(&self) -> u64 {
        self.head().map(|h| h.log_size).unwrap_or(0)
    }

    fn node(&self, level: u32, index: u64) -> Result<Hash32, MerkleError> {
        let missing = MerkleError::MissingNode { level, index };
        match self.db.get_pinned_cf(self.cf("log"), log_key(level, index)) {
            Ok(Some(bytes)) => Hash32::from_slice(&bytes).map_err(|_| missing),
            _ => Err(missing),
        }
    }
}
