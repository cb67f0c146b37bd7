//! The verification algorithm of `docs/audit.md` §3. Each failure names the step that failed.

use super::describe::describe;
use super::sets::SetChain;
use super::status::{Known, bundle_status, decided, prove, recognise, summarize};
use super::verdict::*;
use super::*;
use crate::block::HeaderView;
use crate::genesis::Genesis;
use crate::ids::CountryCode;
use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion};
use crate::record::{CertificateRef, DeclarationRef, Record};
use crate::tx::{SignedTx, TxBody};
use crate::validator::ValidatorSet;
use crate::vote::{CommitCertificate, verify_commit};

/// The genesis facts every check needs.
struct Chain<'a> {
    genesis: &'a Genesis,
    id: Hash32,
    genesis_set: ValidatorSet,
    /// The sets the file proves; the genesis set alone until `follow`.
    sets: SetChain,
}

impl<'a> Chain<'a> {
    fn new(genesis: &'a Genesis) -> Result<Chain<'a>, AuditError> {
        let set = genesis.validator_set().map_err(|e| {
            fail(
                "genesis",
                format!("the genesis has no valid validator set: {e}"),
            )
        })?;
        Ok(Chain {
            genesis,
            id: genesis.chain_id(),
            sets: SetChain::genesis(set.clone()),
            genesis_set: set,
        })
    }

    /// Takes in the file's validator-set changes, each checked against the set before it.
    fn follow(&mut self, changes: &[ValidatorSetChange]) -> Result<(), AuditError> {
        let delay = self.genesis.params.membership_delay_blocks.into();
        self.sets = SetChain::follow(&self.id, self.genesis_set.clone(), delay, changes)?;
        Ok(())
    }

    fn name(&self, member: &CountryCode) -> String {
        self.genesis
            .members
            .iter()
            .find(|m| &m.id == member)
            .map_or_else(|| member.to_string(), |m| m.name.as_str().to_string())
    }

    fn check_file_header(
        &self,
        format: &str,
        expected_format: &str,
        version: u32,
        chain_id: &Hash32,
    ) -> Result<(), AuditError> {
        if format != expected_format || version != VERSION {
            return Err(fail(
                "format",
                format!(
                    "this is {format:?} version {version}; expected {expected_format:?} version {VERSION}"
                ),
            ));
        }
        if *chain_id != self.id {
            return Err(fail(
                "chain",
                format!(
                    "the file is for chain {chain_id}; the genesis given is chain {}",
                    self.id
                ),
            ));
        }
        Ok(())
    }

    /// Decodes a header and checks that a quorum of the set in force at its height signed it.
    fn certified(
        &self,
        step: &str,
        c: &CertifiedHeader,
    ) -> Result<(HeaderView, HeadSummary), AuditError> {
        let view = HeaderView::from_bytes(c.header.as_slice())
            .map_err(|e| fail(format!("{step}.header"), e))?;
        if view.header.chain_id != self.id {
            return Err(fail(
                format!("{step}.header"),
                format!(
                    "the header is for chain {}; the genesis given is chain {}",
                    view.header.chain_id, self.id
                ),
            ));
        }
        let certificate = CommitCertificate::from_bytes(c.certificate.as_slice())
            .map_err(|e| fail(format!("{step}.certificate"), e))?;
        let signers = verify_commit(
            &self.id,
            self.sets.at(view.header.height),
            &view,
            &certificate,
        )
        .map_err(|e| fail(format!("{step}.certificate"), e))?;
        let summary = HeadSummary {
            height: view.header.height,
            time: view.header.time,
            block_hash: view.hash,
            log_size: view.header.log_size,
            log_root: view.header.log_root,
            signers: signers
                .iter()
                .map(|m| Signer {
                    member: m.clone(),
                    name: self.name(m),
                })
                .collect(),
        };
        Ok((view, summary))
    }

    /// Checks one record against its block and the anchor.
    fn record(
        &self,
        step: &str,
        proof: &RecordProof,
        anchor: &HeaderView,
    ) -> Result<(TxBody, RecordSummary), AuditError> {
        let signed = SignedTx::from_bytes(proof.signed_tx.as_slice())
            .map_err(|e| fail(format!("{step}.decode"), e))?;
        let tx = signed
            .verify(&self.id)
            .map_err(|e| fail(format!("{step}.decode"), e))?;
        let (block, head) = self.certified(&format!("{step}.block"), &proof.block)?;
        let leaf = leaf_hash(proof.signed_tx.as_slice());
        check_path(&format!("{step}.tx-inclusion"), &proof.tx_path)?;
        verify_inclusion(
            &leaf,
            proof.tx_index,
            u64::from(block.header.tx_count),
            &proof.tx_path,
            &block.header.tx_root,
        )
        .map_err(|e| {
            fail(
                format!("{step}.tx-inclusion"),
                format!(
                    "not transaction {} of block {}: {e}",
                    proof.tx_index, head.height
                ),
            )
        })?;
        let a = &anchor.header;
        if block.header.height > a.height
            || (block.header.height == a.height && block.hash != anchor.hash)
            || proof.log_index >= block.header.log_size
            || proof.log_index
                < block
                    .header
                    .log_size
                    .saturating_sub(u64::from(block.header.tx_count))
        {
            return Err(fail(
                format!("{step}.block.header"),
                format!(
                    "block {} (log size {}) cannot hold log index {} below the anchor at height {}",
                    block.header.height, block.header.log_size, proof.log_index, a.height
                ),
            ));
        }
        check_path(&format!("{step}.log-inclusion"), &proof.log_path)?;
        verify_inclusion(
            &leaf,
            proof.log_index,
            a.log_size,
            &proof.log_path,
            &a.log_root,
        )
        .map_err(|e| {
            fail(
                format!("{step}.log-inclusion"),
                format!(
                    "not entry {} of the record log of {} entries at height {}: {e}",
                    proof.log_index, a.log_size, a.height
                ),
            )
        })?;
        if let Record::Evidence(r) = &tx.body.record {
            // What the ledger checked, checked again: both messages under the set in force at their height, which
            // the genesis file and the file's set changes give.
            let height = r
                .equivocation
                .claimed()
                .map_or(0, |o| o.height)
                .min(block.header.height);
            r.equivocation
                .verify(&self.id, self.sets.at(height))
                .map_err(|e| fail(format!("{step}.evidence"), e))?;
        }
        let member = tx.body.record.acting_member();
        let summary = RecordSummary {
            id: tx.id,
            kind: tx.body.record.kind().to_string(),
            summary: describe(&tx.body.record),
            member_name: self.name(&member),
            member,
            submitter: tx.body.submitter,
            sequence: tx.body.sequence,
            height: head.height,
            time: head.time,
            log_index: proof.log_index,
            signers: head.signers,
        };
        Ok((tx.body, summary))
    }
}

pub(super) fn check_path(step: &str, path: &[Hash32]) -> Result<(), AuditError> {
    if path.len() > MAX_PATH {
        return Err(fail(
            step,
            format!(
                "the path has {} hashes; no log needs more than {MAX_PATH}",
                path.len()
            ),
        ));
    }
    Ok(())
}

fn parse<T: serde::de::DeserializeOwned>(file: &[u8], what: &str) -> Result<T, AuditError> {
    if file.len() > MAX_FILE_BYTES {
        return Err(fail(
            "parse",
            format!(
                "the file is {} bytes; a {what} is at most {MAX_FILE_BYTES}",
                file.len()
            ),
        ));
    }
    serde_json::from_slice(file).map_err(|e| fail("parse", format!("not a valid {what}: {e}")))
}

/// Verifies a proof bundle (`docs/audit.md` §3.1) against `genesis`, and `document` against the record's
/// `document_sha256` when one is given.
pub fn verify_bundle(
    genesis: &Genesis,
    file: &[u8],
    document: Option<&[u8]>,
) -> Result<Verdict, AuditError> {
    let mut chain = Chain::new(genesis)?;
    let bundle: ProofBundle = parse(file, "proof bundle")?;
    chain.check_file_header(
        &bundle.format,
        BUNDLE_FORMAT,
        bundle.version,
        &bundle.chain_id,
    )?;
    chain.follow(&bundle.validator_set_changes)?;
    let (anchor_view, anchor) = chain.certified("anchor", &bundle.anchor)?;
    let (body, record) = chain.record("record", &bundle.record, &anchor_view)?;

    let document = match document {
        None => None,
        Some(bytes) => {
            let Some(expected) = document_hash(&body.record) else {
                return Err(fail(
                    "document",
                    format!("a {} record commits to no document", body.record.kind()),
                ));
            };
            let sha256 = Hash32::sha256(bytes);
            if sha256 != expected {
                return Err(fail(
                    "document",
                    format!(
                        "the document's SHA-256 is {sha256}; the record commits to {expected}: it is not the \
                         certified document"
                    ),
                ));
            }
            Some(DocumentCheck {
                sha256,
                matches: true,
            })
        }
    };

    if bundle.later.len() > MAX_LATER_RECORDS {
        return Err(fail(
            "later",
            format!(
                "{} later records; a bundle carries at most {MAX_LATER_RECORDS}",
                bundle.later.len()
            ),
        ));
    }
    let subject = Subject::of(&body.record);
    let mut last_index = record.log_index;
    let mut later = Vec::with_capacity(bundle.later.len());
    let mut carried = vec![(record.id, body.record.clone())];
    for (i, proof) in bundle.later.iter().enumerate() {
        let step = format!("later[{i}]");
        let (later_body, summary) = chain.record(&step, proof, &anchor_view)?;
        if summary.log_index <= last_index {
            return Err(fail(
                format!("{step}.order"),
                format!(
                    "log index {} does not come after {last_index}",
                    summary.log_index
                ),
            ));
        }
        if !subject
            .as_ref()
            .is_some_and(|s| s.concerns(&later_body.record))
        {
            return Err(fail(
                format!("{step}.relation"),
                format!(
                    "this {} record is not about the bundle's record",
                    later_body.record.kind()
                ),
            ));
        }
        last_index = summary.log_index;
        carried.push((summary.id, later_body.record));
        later.push(summary);
    }
    let known: Vec<Known> = std::iter::once(&record)
        .chain(&later)
        .map(|r| Known {
            id: r.id,
            member: r.member.clone(),
            time: r.time,
        })
        .collect();
    let status = bundle_status(
        &bundle,
        &body.record,
        &record.id,
        &anchor_view,
        &anchor,
        &carried,
        &known,
    )?;

    Ok(Verdict {
        chain_id: chain.id,
        chain_name: genesis.chain_name.as_str().to_string(),
        record,
        document,
        later,
        anchor,
        validator_set_changes: chain.sets.changes,
        status,
    })
}

/// Verifies a status proof (`docs/audit.md` §3.5): the subject's state entry, or its absence, under the state
/// root of a certified head.
pub fn verify_status(genesis: &Genesis, file: &[u8]) -> Result<StatusVerdict, AuditError> {
    let mut chain = Chain::new(genesis)?;
    let proof: StatusFile = parse(file, "status proof")?;
    chain.check_file_header(&proof.format, STATUS_FORMAT, proof.version, &proof.chain_id)?;
    chain.follow(&proof.validator_set_changes)?;
    let (anchor_view, anchor) = chain.certified("anchor", &proof.anchor)?;
    let value = prove(
        "status",
        &proof.subject.key(),
        &proof.status,
        &anchor_view.header.state_root,
    )?;
    let aeo_type = match &value {
        Some(crate::rules::StateValue::Aeo(a)) => Some(a.aeo_type),
        _ => None,
    };
    let mut status = summarize("status", &proof.subject, value, &anchor, &[])?;
    if let Some(recognition) = &proof.recognition {
        recognise(
            &mut status,
            recognition,
            &anchor_view.header.state_root,
            aeo_type,
        )?;
    }
    decided(
        &mut status,
        proof.decision.as_ref(),
        &anchor_view.header.state_root,
    )?;
    Ok(StatusVerdict {
        chain_id: chain.id,
        chain_name: genesis.chain_name.as_str().to_string(),
        status,
        validator_set_changes: chain.sets.changes,
    })
}

/// Verifies a checkpoint (`docs/audit.md` §3.2): a quorum of the set in force at its height signed its head.
pub fn verify_checkpoint(genesis: &Genesis, file: &[u8]) -> Result<CheckpointVerdict, AuditError> {
    let mut chain = Chain::new(genesis)?;
    let head = checkpoint_head(&mut chain, file)?;
    Ok(CheckpointVerdict {
        chain_id: chain.id,
        chain_name: genesis.chain_name.as_str().to_string(),
        old: None,
        head,
        validator_set_changes: chain.sets.changes,
    })
}

fn checkpoint_head(chain: &mut Chain<'_>, file: &[u8]) -> Result<HeadSummary, AuditError> {
    let checkpoint: Checkpoint = parse(file, "checkpoint")?;
    chain.check_file_header(
        &checkpoint.format,
        CHECKPOINT_FORMAT,
        checkpoint.version,
        &checkpoint.chain_id,
    )?;
    chain.follow(&checkpoint.validator_set_changes)?;
    let (_, head) = chain.certified("head", &checkpoint.head)?;
    if (head.height, head.log_size, head.log_root)
        != (checkpoint.height, checkpoint.log_size, checkpoint.log_root)
    {
        return Err(fail(
            "head.fields",
            format!(
                "the file says height {}, log size {}, root {}; its certified header says height {}, log size {}, \
                 root {}",
                checkpoint.height,
                checkpoint.log_size,
                checkpoint.log_root,
                head.height,
                head.log_size,
                head.log_root
            ),
        ));
    }
    Ok(head)
}

/// Verifies that the ledger grew from a kept checkpoint to the new head of a consistency proof
/// (`docs/audit.md` §3.3), and returns both heads.
pub fn verify_extension(
    genesis: &Genesis,
    checkpoint: &[u8],
    consistency: &[u8],
) -> Result<CheckpointVerdict, AuditError> {
    let mut chain = Chain::new(genesis)?;
    let old = checkpoint_head(&mut chain, checkpoint)?;
    let proof: ConsistencyProof = parse(consistency, "consistency proof")?;
    chain.check_file_header(
        &proof.format,
        CONSISTENCY_FORMAT,
        proof.version,
        &proof.chain_id,
    )?;
    // The proof carries the changes from genesis to its new head; the old head is checked under them too.
    chain.follow(&proof.validator_set_changes)?;
    let (_, from) = chain.certified("old", &proof.old)?;
    if from.block_hash != old.block_hash {
        return Err(fail(
            "old.header",
            format!(
                "the proof starts at block {} (height {}); the checkpoint is block {} (height {})",
                from.block_hash, from.height, old.block_hash, old.height
            ),
        ));
    }
    let (_, head) = chain.certified("new", &proof.new)?;
    if head.height == old.height && head.block_hash != old.block_hash {
        return Err(fail(
            "new.header",
            format!(
                "two different blocks are certified at height {}: more than a third of the members signed \
                 conflicting blocks",
                head.height
            ),
        ));
    }
    if head.height < old.height {
        return Err(fail(
            "new.header",
            format!(
                "the new head is height {}, below the checkpoint's {}",
                head.height, old.height
            ),
        ));
    }
    check_path("consistency", &proof.proof)?;
    verify_consistency(
        old.log_size,
        head.log_size,
        &old.log_root,
        &head.log_root,
        &proof.proof,
    )
    .map_err(|e| {
        fail(
            "consistency",
            format!(
                "the log of {} entries at height {} is not a prefix of the log of {} entries at height {}: {e}",
                old.log_size, old.height, head.log_size, head.height
            ),
        )
    })?;
    Ok(CheckpointVerdict {
        chain_id: chain.id,
        chain_name: genesis.chain_name.as_str().to_string(),
        old: Some(old),
        head,
        validator_set_changes: chain.sets.changes,
    })
}

/// Whether `later` is about the certificate, AEO operator (in the same programme) or declaration of `subject`:
/// the records a bundle may carry as later status. Nodes and verifiers use this one definition.
pub fn concerns(subject: &Record, later: &Record) -> bool {
    Subject::of(subject).is_some_and(|s| s.concerns(later))
}

/// What later records may be about: the certificate, operator or declaration of the bundle's record.
enum Subject {
    Certificates(Vec<CertificateRef>),
    Aeo {
        operator: crate::ids::OperatorId,
        programme: CountryCode,
    },
    Declaration(DeclarationRef),
}

impl Subject {
    fn of(record: &Record) -> Option<Subject> {
        match record {
            Record::CertificateIssue(_)
            | Record::CertificateAmend(_)
            | Record::CertificateRevoke(_) => Some(Subject::Certificates(certificate_refs(record))),
            Record::AeoStatus(r) => Some(Subject::Aeo {
                operator: r.operator.clone(),
                programme: r.programme.clone(),
            }),
            Record::ClearanceDecision(r) => Some(Subject::Declaration(r.declaration.clone())),
            _ => None,
        }
    }

    fn concerns(&self, later: &Record) -> bool {
        match (self, later) {
            (Subject::Certificates(refs), _) => {
                certificate_refs(later).iter().any(|r| refs.contains(r))
            }
            (
                Subject::Aeo {
                    operator,
                    programme,
                },
                Record::AeoStatus(r),
            ) => &r.operator == operator && &r.programme == programme,
            (Subject::Declaration(d), Record::ClearanceDecision(r)) => {
                (d.mrn.is_some() && d.mrn == r.declaration.mrn)
                    || (d.ucr.is_some() && d.ucr == r.declaration.ucr)
            }
            _ => false,
        }
    }
}

/// The certificates a record names: the one it issues, replaces, amends into or revokes.
pub fn certificate_refs(record: &Record) -> Vec<CertificateRef> {
    let of = |c: &crate::record::CertificateBody| CertificateRef {
        issuer: c.issuer.clone(),
        number: c.number.clone(),
    };
    match record {
        Record::CertificateIssue(r) => vec![of(&r.certificate)],
        Record::CertificateAmend(r) => vec![r.replaces.clone(), of(&r.certificate)],
        Record::CertificateRevoke(r) => vec![r.certificate.clone()],
        _ => vec![],
    }
}

/// The document hash a record commits to, if any.
fn document_hash(record: &Record) -> Option<Hash32> {
    match record {
        Record::CertificateIssue(r) => Some(r.certificate.document_sha256),
        Record::CertificateAmend(r) => Some(r.certificate.document_sha256),
        _ => None,
    }
}
