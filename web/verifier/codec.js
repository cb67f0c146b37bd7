// Decoders for the canonical structures of protocol.md §2 that the verifier reads, and the encoders it needs for
// values it must hash itself (state keys, validator sets). Field order is declaration order; see the tables there.

import { DecodeError, Writer, decodeExact, equalBytes, toHex } from './bytes.js';
import { checkDate, checkId, checkRoles, checkTimestamp } from './ids.js';
import { taggedHash, validateKey } from './crypto.js';

export const LIMIT = {
  SIGNED_TX: 65536, TX_BODY: 65536, HEADER: 1024, VOTE: 512, COMMIT: 262144, VALIDATOR_SET: 65536,
  GENESIS: 4194304,
};
export const MAX_VALIDATORS = 128;

const id = (kind) => (r) => checkId(kind, r.string());
const cc = id('country');
const text = id('text');
const hash = (r) => r.raw(32);
const date = (r) => checkDate(r.u16(), r.u8(), r.u8());
const timestamp = (r) => checkTimestamp(r.u64());
const certRef = (r) => ({ issuer: cc(r), number: id('certificate_number')(r) });

export const CERT_TYPES = ['origin', 'phytosanitary', 'aeo', 'licence', 'other'];
const PROCEDURES = ['import', 'export', 'transit', 'warehousing', 'temporary_admission', 'inward_processing', 'outward_processing', 'other'];
const DECISIONS = ['accepted', 'released', 'hold', 'documents_required', 'inspect_physical', 'inspect_documentary', 'rejected', 'cancelled'];
export const AEO_TYPES = ['aeoc', 'aeos', 'both'];
const AEO_TRANSITIONS = ['granted', 'suspended', 'reinstated', 'revoked', 'annulled', 'expired'];
export const RECORD_KINDS = ['certificate_issue', 'certificate_amend', 'certificate_revoke', 'clearance_decision',
  'aeo_status', 'mra_propose', 'mra_accept', 'mra_withdraw', 'submitter_key_register', 'submitter_key_revoke',
  'membership_propose', 'membership_approve', 'evidence'];

function certBody(r) {
  return {
    cert_type: r.variant(CERT_TYPES, 'cert_type'), number: id('certificate_number')(r), issuer: cc(r),
    authority: text(r), issued_on: date(r), valid_until: r.option(date), exporter: r.option(id('operator_id')),
    importer: r.option(id('operator_id')), origin_country: cc(r), destination_country: cc(r),
    hs_codes: r.vec(id('hs_code')), document_sha256: hash(r),
  };
}

function memberInfo(r) {
  return { id: cc(r), name: text(r), validator_key: r.raw(32), peer_id: r.raw(32), addresses: r.vec(text) };
}

function membershipChange(r) {
  const kind = r.variant(['admit', 'remove', 'rotate_validator_key', 'rotate_network_key'], 'membership change');
  if (kind === 'admit') return { kind, member: memberInfo(r), submitter_key: r.raw(32) };
  if (kind === 'remove') return { kind, member: cc(r) };
  if (kind === 'rotate_validator_key') return { kind, member: cc(r), new_key: r.raw(32) };
  return { kind, member: cc(r), new_peer_id: r.raw(32) };
}

const signedMsg = (r) => ({ bytes: r.bytes(), signature: r.raw(64) });

const CONTENT = {
  certificate_issue: (r) => ({ certificate: certBody(r) }),
  certificate_amend: (r) => ({ replaces: certRef(r), certificate: certBody(r), reason: text(r) }),
  certificate_revoke: (r) => ({ certificate: certRef(r), effective_on: date(r), reason_code: id('reason_code')(r), reason: text(r) }),
  clearance_decision: (r) => ({
    declaration: { mrn: r.option(id('mrn')), ucr: r.option(id('ucr')) }, office: id('customs_office')(r),
    procedure: r.variant(PROCEDURES, 'procedure'), decision: r.variant(DECISIONS, 'decision'),
    decided_at: timestamp(r), linked_certificates: r.vec(certRef), supersedes: r.option(hash),
    reason_code: r.option(id('reason_code')),
  }),
  aeo_status: (r) => ({
    operator: id('operator_id')(r), programme: cc(r), aeo_type: r.variant(AEO_TYPES, 'aeo_type'),
    transition: r.variant(AEO_TRANSITIONS, 'transition'), effective_on: date(r), reason_code: r.option(id('reason_code')),
  }),
  mra_propose: (r) => ({ proposer: cc(r), partner: cc(r), covers: r.variant(AEO_TYPES, 'covers'), effective_on: date(r) }),
  mra_accept: (r) => ({ proposal: hash(r), acceptor: cc(r) }),
  mra_withdraw: (r) => ({ proposal: hash(r), member: cc(r), reason: text(r) }),
  submitter_key_register: (r) => ({ member: cc(r), key: r.raw(32), roles: checkRoles(r.u32()), label: text(r) }),
  submitter_key_revoke: (r) => ({ member: cc(r), key: r.raw(32), reason: text(r) }),
  membership_propose: (r) => ({ proposer: cc(r), change: membershipChange(r), reason: text(r) }),
  membership_approve: (r) => ({ proposal: hash(r), member: cc(r) }),
  evidence: (r) => {
    const reporter = cc(r);
    const kind = r.variant(['double_vote', 'double_proposal'], 'equivocation');
    return { reporter, equivocation: { kind, first: signedMsg(r), second: signedMsg(r) } };
  },
};

/** The acting member of a record (protocol.md §2.2). */
export function actingMember(rec) {
  const c = rec.content;
  switch (rec.kind) {
    case 'certificate_issue': return c.certificate.issuer;
    case 'certificate_amend': return c.replaces.issuer;
    case 'certificate_revoke': return c.certificate.issuer;
    case 'clearance_decision': return c.office.slice(0, 2);
    case 'aeo_status': return c.programme;
    case 'mra_propose': return c.proposer;
    case 'mra_accept': return c.acceptor;
    case 'mra_withdraw': case 'submitter_key_register': case 'submitter_key_revoke': case 'membership_approve': return c.member;
    case 'membership_propose': return c.proposer;
    default: return c.reporter;
  }
}

/** `SignedTx` = Bytes body ‖ Signature (protocol.md §2.1). */
export const decodeSignedTx = (b) =>
  decodeExact(b, LIMIT.SIGNED_TX, 'signed transaction', (r) => ({ body: r.bytes(), signature: r.raw(64) }));

export function decodeTxBody(b) {
  return decodeExact(b, LIMIT.TX_BODY, 'transaction body', (r) => {
    const chain_id = hash(r), submitter = r.raw(32), sequence = r.u64();
    const kind = r.variant(RECORD_KINDS, 'record');
    return { chain_id, submitter, sequence, record: { kind, content: CONTENT[kind](r) } };
  });
}

export function decodeHeader(b) {
  return decodeExact(b, LIMIT.HEADER, 'header', (r) => ({
    chain_id: hash(r), height: r.u64(), time: timestamp(r), parent_hash: hash(r), proposer: cc(r),
    tx_count: r.u32(), tx_root: hash(r), results_root: hash(r), log_size: r.u64(), log_root: hash(r),
    validator_set_hash: hash(r), next_validator_set_hash: hash(r), state_root: hash(r),
  }));
}

export function decodeVote(b) {
  return decodeExact(b, LIMIT.VOTE, 'vote', (r) => ({
    chain_id: hash(r), height: r.u64(), round: r.u32(), kind: r.variant(['prevote', 'precommit'], 'vote kind'),
    block: r.option(hash), validator: cc(r),
  }));
}

export function decodeProposal(b) {
  return decodeExact(b, LIMIT.VOTE, 'proposal', (r) => ({
    chain_id: hash(r), height: r.u64(), round: r.u32(), valid_round: r.option((x) => x.u32()),
    block_hash: hash(r), proposer: cc(r),
  }));
}

export function decodeCertificate(b) {
  return decodeExact(b, LIMIT.COMMIT, 'commit certificate', (r) => ({
    height: r.u64(), round: r.u32(), block_hash: hash(r),
    precommits: r.vec((x) => ({ vote: x.bytes(), signature: x.raw(64) })),
  }));
}

/** The set rules of protocol.md §6.1, shared by decoding and by building a set from entries. Throws DecodeError. */
export function checkValidatorSet(entries) {
  if (entries.length < 1 || entries.length > MAX_VALIDATORS) throw new DecodeError(`a validator set of ${entries.length} validators (1 to ${MAX_VALIDATORS})`);
  const keys = new Set();
  for (let i = 0; i < entries.length; i++) {
    const { member, key } = entries[i];
    if (i > 0 && !(entries[i - 1].member < member)) throw new DecodeError(`validator set members not in strictly ascending order at ${member}`);
    const v = validateKey(key);
    if (!v.ok) throw new DecodeError(`validator key of ${member} is ${v.reason}`);
    const h = toHex(key);
    if (keys.has(h)) throw new DecodeError(`validator key ${h} used twice`);
    keys.add(h);
  }
  return entries;
}

export const encodeValidatorSet = (entries) =>
  new Writer().vec(entries, (w, e) => w.string(e.member).raw(e.key)).done();

/** A validator set with its canonical bytes and hash, the form every caller needs. */
export function makeSet(entries) {
  checkValidatorSet(entries);
  const bytes = encodeValidatorSet(entries);
  return { entries, bytes, hash: taggedHash('clearance/v1/validator-set', bytes), byMember: new Map(entries.map((e) => [e.member, e.key])) };
}

export function decodeValidatorSet(b) {
  const entries = decodeExact(b, LIMIT.VALIDATOR_SET, 'validator set', (r) => r.vec((x) => ({ member: cc(x), key: x.raw(32) })));
  const set = makeSet(entries);
  if (!equalBytes(set.bytes, b)) throw new DecodeError('validator set is not canonical'); // cannot happen; cheap belt
  return set;
}

// ---- State keys and values (protocol.md §2.8) ----

export function stateKeyBytes(subject) {
  const w = new Writer();
  if (subject.kind === 'certificate') w.u32(2).string(subject.issuer).string(subject.number);
  else if (subject.kind === 'decision') w.u32(3).raw(subject.record);
  else if (subject.kind === 'aeo') w.u32(4).string(subject.operator).string(subject.programme);
  else if (subject.kind === 'mra') w.u32(5).raw(subject.record);
  else if (subject.kind === 'declaration') {
    // StateKey::Declaration { declaration: DeclarationId, member } (index 12); DeclarationId 0 = Mrn, 1 = Ucr.
    const d = subject.declaration;
    w.u32(12);
    if (d.mrn !== undefined) w.u32(0).string(d.mrn); else w.u32(1).string(d.ucr);
    w.string(subject.member);
  } else throw new Error(`no state key for ${subject.kind}`);
  return w.done();
}

const VALUE_KINDS = ['Submitter', 'Sequence', 'Certificate', 'Decision', 'Aeo', 'Mra', 'Member', 'Epoch', 'Count',
  'MembershipProposal', 'NodeKey', 'Record'];

const VALUE = {
  Submitter: (r) => ({ member: cc(r), roles: checkRoles(r.u32()), active: bool(r) }),
  Sequence: (r) => ({ sequence: r.u64() }),
  Certificate: (r) => ({ status: r.variant(['valid', 'replaced', 'revoked'], 'certificate status'), record: hash(r), replaced_by: r.option(certRef) }),
  Decision: (r) => ({
    declaration: { mrn: r.option(id('mrn')), ucr: r.option(id('ucr')) }, member: cc(r),
    decision: r.variant(DECISIONS, 'decision'), superseded_by: r.option(hash),
  }),
  Aeo: (r) => ({ standing: r.variant(['active', 'suspended', 'revoked', 'annulled', 'expired'], 'AEO standing'), aeo_type: r.variant(AEO_TYPES, 'aeo_type'), record: hash(r) }),
  Mra: (r) => ({ proposer: cc(r), partner: cc(r), covers: r.variant(AEO_TYPES, 'covers'), status: r.variant(['proposed', 'active', 'withdrawn'], 'MRA status') }),
  Member: (r) => ({ active_from: r.u64(), active_until: r.option((x) => x.u64()) }),
  Epoch: (r) => ({ from_height: r.u64(), members: r.vec(memberInfo), changes: r.vec(hash) }),
  Count: (r) => ({ count: r.u64() }),
  MembershipProposal: (r) => {
    const proposer = cc(r), change = membershipChange(r), expires_at = timestamp(r), approvals = r.vec(cc);
    const st = r.variant(['open', 'adopted'], 'proposal status');
    return { proposer, change, expires_at, approvals, status: st === 'open' ? { kind: st } : { kind: st, effective_height: r.u64() } };
  },
  NodeKey: (r) => ({ member: cc(r), kind: r.variant(['validator', 'network'], 'node key kind'), retired: bool(r) }),
  Record: (r) => ({ record: hash(r) }),
};

function bool(r) {
  const b = r.u8();
  if (b > 1) throw new DecodeError(`bool byte ${b}`);
  return b === 1;
}

export function decodeStateValue(b) {
  return decodeExact(b, LIMIT.GENESIS, 'state value', (r) => {
    const kind = r.variant(VALUE_KINDS, 'state value');
    return { kind, ...VALUE[kind](r) };
  });
}
