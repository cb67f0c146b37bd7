//! What this validator last signed, in a small file beside its key (`validator_state_file`), like Tendermint's
//! `priv_validator_state.json`: the highest (height, round, step) it signed, its lock at that height, and the
//! last messages it signed (across heights). The file is synced before a signature leaves the node, and it lives
//! outside `data_dir`, so neither a crash nor a wiped chain database can make the validator sign any step twice;
//! and a validator that crashed before its last messages reached the others sends those same messages after the
//! restart, at their height (the precommit that decided a height may exist nowhere else). The rest of the
//! consensus state (the valid block, its proof of lock, the messages of earlier rounds) stays in the database.
//! After a wiped database the node keeps its lock without the proof of lock: safe, but until it sees that polka
//! again it prevotes nil at that height, so for liveness it counts as one of the f faulty members (with one
//! Byzantine member among four, a stall; the simulator showed that dropping the lock instead breaks agreement
//! with a Byzantine member, the "amnesia" attack).
//!
//! Format: two slots of [`SLOT`] bytes, written in turn, so that a write torn by a crash leaves the other slot,
//! the state before, intact; a torn write was never followed by its signature leaving the node. Each slot:
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | `CLVS` |
//! | 4 | format version, 1 |
//! | 5 | step: 0 propose, 1 prevote, 2 precommit |
//! | 6 | 1 when locked, else 0 |
//! | 7 | 0 |
//! | 8..16 | sequence number, u64 LE: the slot with the higher one is current |
//! | 16..24 | height, u64 LE |
//! | 24..28 | round, u32 LE |
//! | 28..32 | lock round, u32 LE (0 when not locked) |
//! | 32..64 | locked block hash (zeros when not locked) |
//! | 64..96 | chain id |
//! | 96..98 | length `m` of the messages, u16 LE (0 when none are kept) |
//! | 98..98+m | the last messages signed (at most 3: a round's proposal, prevote and precommit), oldest first: the canonical encoding of a `Vec<Signed>` (votes, and proposals without their block) |
//! | …1016 | zeros |
//! | 1016..1024 | the first 8 bytes of `tagged_hash("clearance/v1/validator-state", bytes 0..1016)` |

use crate::consensus::{SafetyState, Signed, Step};
use clearance_core::Hash32;
use clearance_core::hash::tagged_hash;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"CLVS";
const VERSION: u8 = 1;
/// The fixed fields; the message follows.
const FIXED: usize = 96;
/// The most bytes of messages a slot keeps; a signed vote or proposal header is about 170 bytes.
const MAX_MESSAGES: usize = 900;
/// A round's proposal, prevote and precommit.
const KEPT_MESSAGES: usize = 3;
const BODY: usize = 1016;
pub const SLOT: usize = BODY + 8;
const TAG: &str = "clearance/v1/validator-state";

/// The highest step this validator signed, its lock at that height, and what it signed there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedWatermark {
    pub height: u64,
    pub round: u32,
    pub step: Step,
    /// `lockedRound` and `id(lockedValue)` at `height`.
    pub locked: Option<(u32, Hash32)>,
    /// The last messages signed (those of the round, and maybe some of the round before), oldest first, to
    /// send again after a restart.
    pub messages: Vec<Signed>,
}

impl SignedWatermark {
    /// The watermark of a safety state, if it signed anything.
    pub fn of(state: &SafetyState) -> Option<SignedWatermark> {
        let (height, round, step) = state.last_signed?;
        Some(SignedWatermark {
            height,
            round,
            step,
            locked: if state.height == height {
                state.locked
            } else {
                None
            },
            messages: state.signed[state.signed.len().saturating_sub(KEPT_MESSAGES)..].to_vec(),
        })
    }

    fn position(&self) -> (u64, u32, Step) {
        (self.height, self.round, self.step)
    }

    /// The safety state to resume from: the database's, unless the file has signed further (the database's
    /// safety writes are not synced, and a wiped database has none), in which case the file's step and lock win.
    pub fn merge(db: Option<SafetyState>, file: Option<SignedWatermark>) -> Option<SafetyState> {
        let Some(mark) = file else {
            return db;
        };
        match db {
            Some(s) if s.last_signed.is_some_and(|last| last >= mark.position()) => Some(s),
            Some(s) if s.height == mark.height => {
                let position = mark.position();
                let mut signed = s.signed;
                for m in mark.messages {
                    if height_of(&m) == Some(mark.height) && !signed.contains(&m) {
                        signed.push(m);
                    }
                }
                // The newer lock wins: giving up a lock could let this validator prevote another value.
                let locked = match (mark.locked, s.locked) {
                    (Some(file), Some(db)) if db.0 > file.0 => Some(db),
                    (file, db) => file.or(db),
                };
                Some(SafetyState {
                    last_signed: Some(position),
                    locked,
                    signed,
                    ..s
                })
            }
            // The database is gone (or behind): the watermark keeps the node from signing any step twice, and
            // the lock is kept, though its proof of lock went with the database (see docs/node.md §7).
            _ => Some(SafetyState {
                round: mark.round,
                step: mark.step,
                last_signed: Some(mark.position()),
                locked: mark.locked,
                signed: mark
                    .messages
                    .into_iter()
                    .filter(|m| height_of(m) == Some(mark.height))
                    .collect(),
                ..SafetyState::new(mark.height)
            }),
        }
    }
}

/// The height a signed message is for.
pub fn height_of(message: &Signed) -> Option<u64> {
    use clearance_core::encoding::decode;
    match message {
        Signed::Vote(v) => decode::<clearance_core::vote::Vote>(v.vote.as_slice(), 1024, "vote")
            .ok()
            .map(|v| v.height),
        Signed::Proposal(p) => {
            decode::<clearance_core::vote::Proposal>(p.proposal.as_slice(), 1024, "proposal")
                .ok()
                .map(|p| p.height)
        }
    }
}

/// Keeps the last [`KEPT_MESSAGES`] messages signed, across heights: the precommit that decided a height may be
/// the only one that exists, if this node alone committed it before its database was wiped.
pub fn remember(recent: &mut Vec<Signed>, message: &Signed) {
    if !recent.contains(message) {
        recent.push(message.clone());
    }
    let excess = recent.len().saturating_sub(KEPT_MESSAGES);
    recent.drain(..excess);
}

#[derive(Debug, thiserror::Error)]
pub enum ValidatorStateError {
    #[error("validator state file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "validator state file {path} is corrupt ({detail}); the node refuses to start rather than risk signing \
         twice. If this validator key never signed on this chain, delete the file; otherwise restore it"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error("validator state file {path} belongs to chain {found}, not {expected}")]
    OtherChain {
        path: PathBuf,
        found: Hash32,
        expected: Hash32,
    },
}

/// The file, open for the node's life.
pub struct ValidatorStateFile {
    path: PathBuf,
    file: File,
    chain_id: Hash32,
    sequence: u64,
    current: Option<SignedWatermark>,
}

impl ValidatorStateFile {
    /// Opens the file, creating it (synced, with its directory) when it does not exist, and reads the current
    /// slot.
    pub fn open(path: &Path, chain_id: Hash32) -> Result<ValidatorStateFile, ValidatorStateError> {
        let io = |source| ValidatorStateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let exists = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        if !exists {
            // Two empty slots: nothing signed yet. Synced, and the directory entry too, before anything is.
            file.write_all(&[0u8; 2 * SLOT]).map_err(io)?;
            file.sync_all().map_err(io)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        // One byte more than a valid file: a longer one is refused without reading it all.
        (&mut file)
            .take(2 * SLOT as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let (sequence, current) = read(&bytes, &chain_id).map_err(|e| match e {
            ReadError::Corrupt(detail) => ValidatorStateError::Corrupt {
                path: path.to_path_buf(),
                detail,
            },
            ReadError::OtherChain(found) => ValidatorStateError::OtherChain {
                path: path.to_path_buf(),
                found,
                expected: chain_id,
            },
        })?;
        Ok(ValidatorStateFile {
            path: path.to_path_buf(),
            file,
            chain_id,
            sequence,
            current,
        })
    }

    /// What the file held when it was opened, or was last saved.
    pub fn current(&self) -> Option<SignedWatermark> {
        self.current.clone()
    }

    /// Writes `mark` into the older slot and syncs it.
    pub fn save(&mut self, mark: &SignedWatermark) -> Result<(), ValidatorStateError> {
        let sequence = self.sequence + 1;
        let slot = encode(mark, sequence, &self.chain_id);
        let offset = (sequence % 2) * SLOT as u64;
        let io = |source| ValidatorStateError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(offset)).map_err(io)?;
        self.file.write_all(&slot).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.sequence = sequence;
        self.current = Some(mark.clone());
        Ok(())
    }
}

fn step_code(step: Step) -> u8 {
    match step {
        Step::Propose => 0,
        Step::Prevote => 1,
        Step::Precommit => 2,
    }
}

pub fn encode(mark: &SignedWatermark, sequence: u64, chain_id: &Hash32) -> [u8; SLOT] {
    let mut b = [0u8; SLOT];
    b[..4].copy_from_slice(MAGIC);
    b[4] = VERSION;
    b[5] = step_code(mark.step);
    b[6] = u8::from(mark.locked.is_some());
    b[8..16].copy_from_slice(&sequence.to_le_bytes());
    b[16..24].copy_from_slice(&mark.height.to_le_bytes());
    b[24..28].copy_from_slice(&mark.round.to_le_bytes());
    if let Some((round, block)) = mark.locked {
        b[28..32].copy_from_slice(&round.to_le_bytes());
        b[32..64].copy_from_slice(block.as_bytes());
    }
    b[64..96].copy_from_slice(chain_id.as_bytes());
    // Messages that do not fit are left out, oldest first: the step and the lock, which are what safety
    // needs, are always kept.
    let mut kept = &mark.messages[..];
    let bytes = loop {
        let bytes = clearance_core::encoding::encode(&kept.to_vec());
        if bytes.len() <= MAX_MESSAGES || kept.is_empty() {
            break bytes;
        }
        kept = &kept[1..];
    };
    if !kept.is_empty() {
        b[FIXED..FIXED + 2].copy_from_slice(&(bytes.len() as u16).to_le_bytes());
        b[FIXED + 2..FIXED + 2 + bytes.len()].copy_from_slice(&bytes);
    }
    let check = tagged_hash(TAG, &b[..BODY]);
    b[BODY..].copy_from_slice(&check.as_bytes()[..8]);
    b
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    Corrupt(String),
    OtherChain(Hash32),
}

/// A slot: `None` when empty (never written, or torn), else its sequence and watermark.
fn decode(b: &[u8], chain_id: &Hash32) -> Result<Option<(u64, SignedWatermark)>, ReadError> {
    if b.iter().all(|x| *x == 0) {
        return Ok(None);
    }
    let check = tagged_hash(TAG, &b[..BODY]);
    if &b[..4] != MAGIC || b[4] != VERSION || b[BODY..] != check.as_bytes()[..8] {
        // A torn write; the other slot decides.
        return Ok(None);
    }
    let u64_at = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(x)
    };
    let u32_at = |i: usize| {
        let mut x = [0u8; 4];
        x.copy_from_slice(&b[i..i + 4]);
        u32::from_le_bytes(x)
    };
    let mut chain = [0u8; 32];
    chain.copy_from_slice(&b[64..96]);
    let chain = Hash32(chain);
    if chain != *chain_id {
        return Err(ReadError::OtherChain(chain));
    }
    let step = match b[5] {
        0 => Step::Propose,
        1 => Step::Prevote,
        2 => Step::Precommit,
        other => return Err(ReadError::Corrupt(format!("step code {other}"))),
    };
    let locked = match b[6] {
        0 => None,
        1 => {
            let mut block = [0u8; 32];
            block.copy_from_slice(&b[32..64]);
            Some((u32_at(28), Hash32(block)))
        }
        other => return Err(ReadError::Corrupt(format!("lock flag {other}"))),
    };
    let length = usize::from(u16::from_le_bytes([b[FIXED], b[FIXED + 1]]));
    let messages: Vec<Signed> = match length {
        0 => Vec::new(),
        n if n > MAX_MESSAGES => {
            return Err(ReadError::Corrupt(format!("{n} bytes of messages")));
        }
        n => clearance_core::encoding::decode(
            &b[FIXED + 2..FIXED + 2 + n],
            MAX_MESSAGES,
            "signed messages",
        )
        .map_err(|e| ReadError::Corrupt(e.to_string()))?,
    };
    if messages.len() > KEPT_MESSAGES {
        return Err(ReadError::Corrupt(format!("{} messages", messages.len())));
    }
    Ok(Some((
        u64_at(8),
        SignedWatermark {
            height: u64_at(16),
            round: u32_at(24),
            step,
            locked,
            messages,
        },
    )))
}

/// The file's current watermark and sequence. Exactly two slots; both unreadable but not empty is corruption,
/// never "nothing signed".
pub fn read(bytes: &[u8], chain_id: &Hash32) -> Result<(u64, Option<SignedWatermark>), ReadError> {
    if bytes.len() != 2 * SLOT {
        return Err(ReadError::Corrupt(format!(
            "{} bytes, expected {}",
            bytes.len(),
            2 * SLOT
        )));
    }
    let (a, b) = bytes.split_at(SLOT);
    let slots = [decode(a, chain_id)?, decode(b, chain_id)?];
    let best = slots
        .into_iter()
        .flatten()
        .max_by_key(|(sequence, _)| *sequence);
    match best {
        Some((sequence, mark)) => Ok((sequence, Some(mark))),
        None if bytes.iter().all(|x| *x == 0) => Ok((0, None)),
        None => Err(ReadError::Corrupt(
            "neither slot holds a valid state".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(height: u64, round: u32, step: Step) -> SignedWatermark {
        let vote = clearance_core::vote::SignedVote {
            vote: clearance_core::bytes::Bytes(vec![height as u8; 120]),
            signature: clearance_core::crypto::Signature([9; 64]),
        };
        SignedWatermark {
            height,
            round,
            step,
            locked: Some((round, Hash32([7; 32]))),
            messages: vec![Signed::Vote(vote)],
        }
    }

    #[test]
    fn the_newer_slot_wins_and_a_torn_write_leaves_the_older() {
        let chain = Hash32([1; 32]);
        let mut bytes = vec![0u8; 2 * SLOT];
        assert_eq!(read(&bytes, &chain), Ok((0, None)));
        bytes[SLOT..].copy_from_slice(&encode(&mark(5, 0, Step::Prevote), 1, &chain));
        bytes[..SLOT].copy_from_slice(&encode(&mark(5, 0, Step::Precommit), 2, &chain));
        assert_eq!(
            read(&bytes, &chain),
            Ok((2, Some(mark(5, 0, Step::Precommit))))
        );
        // The write of sequence 3 into slot 1 is torn: slot 0 still holds sequence 2.
        bytes[SLOT + 20] ^= 0xff;
        assert_eq!(
            read(&bytes, &chain),
            Ok((2, Some(mark(5, 0, Step::Precommit))))
        );
        // Both slots damaged: corruption, never "nothing signed".
        bytes[3] ^= 0xff;
        assert!(matches!(read(&bytes, &chain), Err(ReadError::Corrupt(_))));
        assert!(matches!(
            read(&bytes[1..], &chain),
            Err(ReadError::Corrupt(_))
        ));
    }

    #[test]
    fn a_file_of_another_chain_is_refused() {
        let mut bytes = vec![0u8; 2 * SLOT];
        bytes[..SLOT].copy_from_slice(&encode(&mark(5, 0, Step::Prevote), 2, &Hash32([1; 32])));
        assert_eq!(
            read(&bytes, &Hash32([2; 32])),
            Err(ReadError::OtherChain(Hash32([1; 32])))
        );
    }

    #[test]
    fn saves_survive_reopening_and_the_file_wins_over_an_older_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator_state.bin");
        let chain = Hash32([3; 32]);
        let mut file = ValidatorStateFile::open(&path, chain).unwrap();
        assert_eq!(file.current(), None);
        for (round, step) in [(0, Step::Prevote), (0, Step::Precommit), (1, Step::Prevote)] {
            file.save(&mark(9, round, step)).unwrap();
        }
        drop(file);
        let file = ValidatorStateFile::open(&path, chain).unwrap();
        assert_eq!(file.current(), Some(mark(9, 1, Step::Prevote)));

        // A wiped database: the node resumes at height 9 having signed up to (9, 1, prevote), locked.
        let merged = SignedWatermark::merge(None, file.current()).unwrap();
        assert_eq!(merged.height, 9);
        assert_eq!(merged.last_signed, Some((9, 1, Step::Prevote)));
        assert_eq!(merged.locked, Some((1, Hash32([7; 32]))));
        // A database that is further along wins.
        let db = SafetyState {
            last_signed: Some((10, 0, Step::Prevote)),
            ..SafetyState::new(10)
        };
        assert_eq!(
            SignedWatermark::merge(Some(db.clone()), file.current()),
            Some(db)
        );
        // An older database at the same height keeps its block data and takes the file's step and lock.
        let older = SafetyState {
            last_signed: Some((9, 0, Step::Precommit)),
            ..SafetyState::new(9)
        };
        let merged = SignedWatermark::merge(Some(older), file.current()).unwrap();
        assert_eq!(merged.last_signed, Some((9, 1, Step::Prevote)));
    }
}
