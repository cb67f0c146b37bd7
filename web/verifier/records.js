// SignedTx verification (protocol.md §5.2 steps 1 to 6), the record shape checks (§2.2), and the record relations
// that audit.md §3.1 steps 9c, 10 and §3.4 need.

import { equalBytes, toHex } from './bytes.js';
import { decodeProposal, decodeSignedTx, decodeTxBody, decodeVote, actingMember } from './codec.js';
import { message, taggedHash, validateKey, verifySignature } from './crypto.js';
import { fmtDate } from './ids.js';

export class Fail extends Error {
  constructor(step, reason) { super(`${step}: ${reason}`); this.step = step; this.reason = reason; }
}

const dateCmp = (a, b) => (a.y - b.y) || (a.m - b.m) || (a.d - b.d);

function checkMemberInfo(m) {
  const v = validateKey(m.validator_key);
  if (!v.ok) return `validator key is ${v.reason}`;
  const p = validateKey(m.peer_id);
  if (!p.ok) return `network key is ${p.reason}`;
  if (m.addresses.length > 8) return 'more than 8 addresses';
  if (new Set(m.addresses).size !== m.addresses.length) return 'an address listed twice';
  if (m.addresses.some((a) => !a.startsWith('/'))) return 'an address not starting with "/"';
  if (equalBytes(m.peer_id, m.validator_key)) return 'network key equals validator key';
  return null;
}

function checkCertBody(c) {
  if (c.hs_codes.length > 100) return 'more than 100 HS codes';
  if (new Set(c.hs_codes).size !== c.hs_codes.length) return 'an HS code listed twice';
  if (c.valid_until && dateCmp(c.valid_until, c.issued_on) < 0) return 'valid_until before issued_on';
  return null;
}

/** Decode both messages of an equivocation and check they conflict (the Equivocation table of §2.2). */
export function decodeEquivocation(eq) {
  if (eq.kind === 'double_vote') {
    const a = decodeVote(eq.first.bytes), b = decodeVote(eq.second.bytes);
    const same = equalBytes(a.chain_id, b.chain_id) && a.validator === b.validator && a.height === b.height
      && a.round === b.round && a.kind === b.kind;
    const diff = (a.block === null) !== (b.block === null) || (a.block && b.block && !equalBytes(a.block, b.block));
    return { a, b, signer: a.validator, conflict: same && diff };
  }
  const a = decodeProposal(eq.first.bytes), b = decodeProposal(eq.second.bytes);
  const same = equalBytes(a.chain_id, b.chain_id) && a.proposer === b.proposer && a.height === b.height && a.round === b.round;
  const diff = !equalBytes(a.block_hash, b.block_hash) || a.valid_round !== b.valid_round;
  return { a, b, signer: a.proposer, conflict: same && diff };
}

function shapeCheck(rec) {
  const c = rec.content;
  switch (rec.kind) {
    case 'certificate_issue': return checkCertBody(c.certificate);
    case 'certificate_amend': return checkCertBody(c.certificate) ?? (c.certificate.issuer !== c.replaces.issuer ? 'the new certificate has another issuer' : null);
    case 'clearance_decision': {
      if (!c.declaration.mrn && !c.declaration.ucr) return 'declaration has neither MRN nor UCR';
      if (c.linked_certificates.length > 32) return 'more than 32 linked certificates';
      const s = new Set(c.linked_certificates.map((x) => `${x.issuer}/${x.number}`));
      return s.size !== c.linked_certificates.length ? 'a linked certificate listed twice' : null;
    }
    case 'aeo_status':
      return !c.reason_code && !['granted', 'reinstated'].includes(c.transition) ? 'reason_code required' : null;
    case 'mra_propose': return c.proposer === c.partner ? 'proposer equals partner' : null;
    case 'submitter_key_register': {
      const v = validateKey(c.key);
      if (!v.ok) return `key is ${v.reason}`;
      return c.roles === 0 ? 'no roles' : null;
    }
    case 'evidence': {
      let e;
      try { e = decodeEquivocation(c.equivocation); } catch (err) { return `evidence message: ${err.message}`; }
      return e.conflict ? null : 'the two messages do not conflict';
    }
    case 'membership_propose': {
      const ch = c.change;
      if (ch.kind === 'admit') {
        const m = checkMemberInfo(ch.member);
        if (m) return m;
        const s = validateKey(ch.submitter_key);
        if (!s.ok) return `submitter key is ${s.reason}`;
        if (equalBytes(ch.submitter_key, ch.member.validator_key) || equalBytes(ch.submitter_key, ch.member.peer_id))
          return 'submitter key equals a node key';
        return null;
      }
      if (ch.kind === 'rotate_validator_key') { const v = validateKey(ch.new_key); return v.ok ? null : `new key is ${v.reason}`; }
      if (ch.kind === 'rotate_network_key') { const v = validateKey(ch.new_peer_id); return v.ok ? null : `new network key is ${v.reason}`; }
      return null;
    }
    default: return null;
  }
}

/**
 * RECORD step 1 / LOGGED step 1: decode and verify a SignedTx for chain `C`. Throws Fail(step). Returns the
 * decoded transaction with its id; `bytes` are the exact SignedTx bytes (the log leaf).
 */
export function verifyTx(step, bytes, C) {
  let stx, body;
  try {
    stx = decodeSignedTx(bytes);
    body = decodeTxBody(stx.body);
  } catch (e) { throw new Fail(step, `the transaction does not decode: ${e.message}`); }
  if (!equalBytes(body.chain_id, C)) throw new Fail(step, `the transaction is for chain ${toHex(body.chain_id)}`);
  const bad = verifySignature(body.submitter, stx.signature, message('clearance/v1/tx', stx.body));
  if (bad) throw new Fail(step, `bad transaction signature: ${bad}`);
  if (body.sequence < 1n) throw new Fail(step, 'sequence 0');
  const shape = shapeCheck(body.record);
  if (shape) throw new Fail(step, `the record breaks a shape check: ${shape}`);
  return { bytes, body, record: body.record, id: taggedHash('clearance/v1/tx-id', stx.body), member: actingMember(body.record) };
}

// ---- Relations between records (audit.md §3.1 9c, 10) ----

const refKey = (r) => `${r.issuer}\u0000${r.number}`;

/** The certificates a certificate record names (audit.md §3.1 9c). */
export function namedCertificates(rec) {
  const c = rec.content;
  if (rec.kind === 'certificate_issue') return [{ issuer: c.certificate.issuer, number: c.certificate.number }];
  if (rec.kind === 'certificate_amend') return [c.replaces, { issuer: c.certificate.issuer, number: c.certificate.number }];
  if (rec.kind === 'certificate_revoke') return [c.certificate];
  return null;
}

/** `concerns(base, later)` of audit.md §3.1 step 9c. */
export function concerns(base, later) {
  const nb = namedCertificates(base);
  if (nb) {
    const nl = namedCertificates(later);
    if (!nl) return false;
    const s = new Set(nb.map(refKey));
    return nl.some((r) => s.has(refKey(r)));
  }
  if (base.kind === 'aeo_status')
    return later.kind === 'aeo_status' && later.content.operator === base.content.operator && later.content.programme === base.content.programme;
  if (base.kind === 'clearance_decision') {
    if (later.kind !== 'clearance_decision') return false;
    const a = base.content.declaration, b = later.content.declaration;
    return (a.mrn !== null && b.mrn !== null && a.mrn === b.mrn) || (a.ucr !== null && b.ucr !== null && a.ucr === b.ucr);
  }
  return false;
}

/** The subject of a bundle's record (audit.md §3.1 step 10), or null for kinds without one. */
export function subjectOf(tx) {
  const rec = tx.record, c = rec.content;
  if (rec.kind === 'certificate_issue' || rec.kind === 'certificate_amend')
    return { kind: 'certificate', issuer: c.certificate.issuer, number: c.certificate.number };
  if (rec.kind === 'certificate_revoke') return { kind: 'certificate', issuer: c.certificate.issuer, number: c.certificate.number };
  if (rec.kind === 'aeo_status') return { kind: 'aeo', operator: c.operator, programme: c.programme };
  if (rec.kind === 'clearance_decision') return { kind: 'decision', record: tx.id };
  return null;
}

/** Does record `rec` change subject `S` (audit.md §3.1 step 10e)? */
export function changesSubject(rec, S) {
  if (S.kind === 'certificate') {
    const n = namedCertificates(rec);
    return !!n && n.some((r) => r.issuer === S.issuer && r.number === S.number);
  }
  if (S.kind === 'aeo') return rec.kind === 'aeo_status' && rec.content.operator === S.operator && rec.content.programme === S.programme;
  return rec.kind === 'clearance_decision' && rec.content.supersedes !== null && equalBytes(rec.content.supersedes, S.record);
}

const words = (x) => x.replaceAll('_', ' ');

/** The `summary` line of a record, as audit.md §5 gives it by kind (not stable in the reference). */
export function summarize(rec) {
  const c = rec.content;
  switch (rec.kind) {
    case 'certificate_issue': return `${words(c.certificate.cert_type)} ${c.certificate.number} issued by ${c.certificate.issuer}`;
    case 'certificate_amend':
      return `${words(c.certificate.cert_type)} ${c.replaces.number} of ${c.replaces.issuer} amended as ${c.certificate.number}`;
    case 'certificate_revoke': return `certificate ${c.certificate.number} of ${c.certificate.issuer} revoked from ${fmtDate(c.effective_on)}`;
    case 'clearance_decision': {
      const ids = [];
      if (c.declaration.mrn !== null) ids.push(`MRN ${c.declaration.mrn}`);
      if (c.declaration.ucr !== null) ids.push(`UCR ${c.declaration.ucr}`);
      return `${words(c.decision)} of declaration ${ids.join(', ')} at office ${c.office}`;
    }
    case 'aeo_status':
      return `AEO ${words(c.transition)} of operator ${c.operator} in the programme of ${c.programme}, from ${fmtDate(c.effective_on)}`;
    case 'evidence': {
      const e = decodeEquivocation(c.equivocation); // decodes: the shape check passed
      const what = c.equivocation.kind === 'double_vote' ? `${e.a.kind}s` : 'proposals';
      return `${e.signer} signed two conflicting ${what} at height ${e.a.height}, round ${e.a.round}; reported by ${c.reporter}`;
    }
    default: return words(rec.kind);
  }
}

export function changeLine(ch) {
  if (ch.kind === 'admit') return `admit ${ch.member.id} (${ch.member.name})`;
  if (ch.kind === 'remove') return `remove ${ch.member}`;
  if (ch.kind === 'rotate_validator_key') return `rotate the validator key of ${ch.member} to ${toHex(ch.new_key)}`;
  return `rotate the network key of ${ch.member}`;
}
