//! Transactions. A submitter signs the canonical bytes of a [`TxBody`]; the signed transaction carries those
//! exact bytes, so every node hashes and verifies what the submitter signed, never a re-encoding.

use crate::bytes::Bytes;
use crate::crypto::{
    BatchItem, CheckedKey, PublicKey, SecretKey, Signature, SignatureError, verify_batch,
};
use crate::encoding::{self, DecodeError, limit};
use crate::hash::{Hash32, tag, tagged_hash};
use crate::record::{Record, ShapeError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A transaction's id: `SHA-256("clearance/v1/tx-id" ‖ 0x00 ‖ body bytes)`. It is also the id of the record.
pub type TxId = Hash32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TxBody {
    /// The chain this transaction is for: the hash of the genesis document.
    pub chain_id: Hash32,
    pub submitter: PublicKey,
    /// Per-key sequence number: the first transaction of a key is 1, and each next one is one more.
    pub sequence: u64,
    pub record: Record,
}

/// The form that travels and is stored: the body's canonical bytes and the submitter's signature over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTx {
    pub body: Bytes,
    pub signature: Signature,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("transaction is for chain {got}, this chain is {expected}")]
    WrongChain { expected: Hash32, got: Hash32 },
    #[error("submitter signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("record: {0}")]
    Shape(#[from] ShapeError),
    #[error("sequence number must be at least 1")]
    ZeroSequence,
}

impl TxError {
    /// A stable code for APIs and results.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::Decode(_) => "TX_MALFORMED",
            TxError::WrongChain { .. } => "TX_WRONG_CHAIN",
            TxError::Signature(_) => "TX_BAD_SIGNATURE",
            TxError::Shape(_) => "TX_INVALID_RECORD",
            TxError::ZeroSequence => "TX_BAD_SEQUENCE",
        }
    }
}

impl SignedTx {
    /// Encodes and signs `body`.
    pub fn sign(body: &TxBody, key: &SecretKey) -> SignedTx {
        let bytes = encoding::encode(body);
        let signature = key.sign(tag::TX, &bytes);
        SignedTx {
            body: Bytes(bytes),
            signature,
        }
    }

    pub fn id(&self) -> TxId {
        tagged_hash(tag::TX_ID, self.body.as_slice())
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTx, DecodeError> {
        encoding::decode(bytes, limit::SIGNED_TX, "signed transaction")
    }

    /// Decodes the body and checks everything that needs no ledger state: the chain, the signature
    /// (section 3.4 of `docs/protocol.md`, over the received body bytes), the sequence number and the record's shape.
    pub fn verify(&self, chain_id: &Hash32) -> Result<VerifiedTx, TxError> {
        self.verify_cached(chain_id, &mut HashMap::new())
    }

    /// Every check of [`SignedTx::verify`] except the signature, for exactly these bytes when this node has
    /// already verified their signature (a transaction its mempool admitted). Bytes that merely share the
    /// transaction id may carry another signature, so the caller must compare all of them.
    pub fn verify_except_signature(&self, chain_id: &Hash32) -> Result<VerifiedTx, TxError> {
        let body = self.decode_for(chain_id)?;
        self.checked(body)
    }

    /// [`SignedTx::verify`], with submitter keys validated once and kept in `keys`: checking a key's point
    /// costs about as much as the signature itself, and a block holds many transactions of few keys.
    pub fn verify_cached(
        &self,
        chain_id: &Hash32,
        keys: &mut impl KeySource,
    ) -> Result<VerifiedTx, TxError> {
        let body = self.decode_for(chain_id)?;
        let key = keys.checked_key(&body.submitter)?;
        key.verify(tag::TX, self.body.as_slice(), &self.signature)?;
        self.checked(body)
    }

    /// The body, decoded within its limit, if it is for `chain_id`.
    fn decode_for(&self, chain_id: &Hash32) -> Result<TxBody, TxError> {
        let body: TxBody =
            encoding::decode(self.body.as_slice(), limit::TX_BODY, "transaction body")?;
        if body.chain_id != *chain_id {
            return Err(TxError::WrongChain {
                expected: *chain_id,
                got: body.chain_id,
            });
        }
        Ok(body)
    }

    /// The checks after the signature: the sequence number and the record's shape.
    fn checked(&self, body: TxBody) -> Result<VerifiedTx, TxError> {
        if body.sequence == 0 {
            return Err(TxError::ZeroSequence);
        }
        body.record.check_shape()?;
        Ok(VerifiedTx {
            id: self.id(),
            body,
            signed: self.clone(),
        })
    }
}

/// Submitter keys already validated, by public key. A plain map is one; a node shares one cache between every
/// place that verifies transactions.
pub trait KeySource {
    /// The key validated: from the source, or validated now and remembered.
    fn checked_key(&mut self, key: &PublicKey) -> Result<CheckedKey, SignatureError>;
}

impl KeySource for HashMap<PublicKey, CheckedKey> {
    fn checked_key(&mut self, key: &PublicKey) -> Result<CheckedKey, SignatureError> {
        if let Some(checked) = self.get(key) {
            return Ok(checked.clone());
        }
        let checked = key.to_checked().map_err(SignatureError::from)?;
        self.insert(*key, checked.clone());
        Ok(checked)
    }
}

/// How many signatures one batch checks: past about a hundred the multi-scalar multiplication switches
/// algorithm and gains nothing per signature (`cargo bench -p clearance-core --bench crypto`).
pub const SIGNATURE_BATCH: usize = 64;

/// [`SignedTx::verify_cached`] for many transactions, with their signatures checked in batches of
/// [`SIGNATURE_BATCH`]. Each result is the one `verify_cached` gives for that transaction alone: the batch rule
/// agrees with the single rule (see `crypto`), and a failed batch falls back to single checks.
pub fn verify_many(
    chain_id: &Hash32,
    txs: &[SignedTx],
    keys: &mut impl KeySource,
) -> Vec<Result<VerifiedTx, TxError>> {
    verify_many_except(chain_id, txs, &[], keys)
}

/// [`verify_many`], except that `txs[i]` with `signature_known[i]` set gets every check but the signature, as
/// [`SignedTx::verify_except_signature`] does: the caller verified exactly these bytes before (a transaction its
/// mempool admitted). A missing flag counts as unset.
pub fn verify_many_except(
    chain_id: &Hash32,
    txs: &[SignedTx],
    signature_known: &[bool],
    keys: &mut impl KeySource,
) -> Vec<Result<VerifiedTx, TxError>> {
    let known = |i: usize| signature_known.get(i).copied().unwrap_or(false);
    // Each transaction's body, and its submitter's key when its signature is to be checked.
    let mut checked_keys: Vec<(usize, CheckedKey)> = Vec::with_capacity(txs.len());
    let bodies: Vec<Result<TxBody, TxError>> = txs
        .iter()
        .enumerate()
        .map(|(i, tx)| {
            let body = tx.decode_for(chain_id)?;
            if !known(i) {
                checked_keys.push((i, keys.checked_key(&body.submitter)?));
            }
            Ok(body)
        })
        .collect();
    let to_check: Vec<(usize, &CheckedKey)> = checked_keys.iter().map(|(i, k)| (*i, k)).collect();
    // A signature no batch reached has no verdict, and counts as invalid.
    let mut verdicts: Vec<Option<Result<(), SignatureError>>> =
        (0..txs.len()).map(|i| known(i).then_some(Ok(()))).collect();
    for chunk in to_check.chunks(SIGNATURE_BATCH) {
        let items: Vec<BatchItem<'_>> = chunk
            .iter()
            .map(|(i, key)| BatchItem {
                key,
                tag: tag::TX,
                bytes: txs[*i].body.as_slice(),
                signature: &txs[*i].signature,
            })
            .collect();
        for ((i, _), verdict) in chunk.iter().zip(verify_batch(&items)) {
            verdicts[*i] = Some(verdict);
        }
    }
    txs.iter()
        .zip(bodies)
        .zip(verdicts)
        .map(|((tx, body), verdict)| {
            let body = body?;
            match verdict {
                Some(signature) => signature?,
                None => {
                    return Err(SignatureError::Invalid {
                        key: body.submitter,
                        tag: tag::TX,
                    }
                    .into());
                }
            }
            tx.checked(body)
        })
        .collect()
}

/// A transaction whose signature and shape have been checked, with its decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    pub id: TxId,
    pub body: TxBody,
    pub signed: SignedTx,
}
