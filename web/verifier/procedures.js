// The shared procedures of audit.md §3: verify_commit (protocol.md §6.4), CERTIFIED, RECORD, FOLLOW / ADOPTED /
// LOGGED (§3.4) and STATUS (§3.5). Each failure throws Fail(step, reason) with the step name audit.md gives; each
// pass is appended to ctx.steps so a caller can show every step, in the order the reference code performs them.

import { equalBytes, shortHex, toHex } from './bytes.js';
import { decodeCertificate, decodeHeader, decodeStateValue, decodeValidatorSet, decodeVote, makeSet } from './codec.js';
import { message, taggedHash, verifySignature } from './crypto.js';
import { MAX_PATH, leafHash, verifyInclusion, verifyStateProof } from './merkle.js';
import { Fail, changeLine, decodeEquivocation, verifyTx } from './records.js';

export const MAX_SET_CHANGES = 4096, MAX_ADOPTED = 256, MAX_APPROVALS = 256;

const quorum = (n) => n - Math.floor((n - 1) / 3);
const pass = (ctx, step, detail) => ctx.steps.push(detail === undefined ? { step, ok: true } : { step, ok: true, detail });

/** SET_AT(x): the last entry of SETS whose first height is at most x; the genesis set below height 1. */
export function setAt(ctx, x) {
  let s = ctx.SETS[0].set;
  for (const e of ctx.SETS) if (e.from <= x) s = e.set;
  return s;
}

/** protocol.md §6.4, checks 0 to 6 in order. Returns the signers in certificate order; throws Error(reason). */
export function verifyCommit(C, set, h, cert) {
  const hd = h.header;
  if (!equalBytes(hd.chain_id, C)) throw new Error(`header is for chain ${toHex(hd.chain_id)}`);
  if (cert.height !== hd.height) throw new Error(`certificate for height ${cert.height}, header of height ${hd.height}`);
  if (!equalBytes(cert.block_hash, h.hash)) throw new Error(`certificate for block ${shortHex(cert.block_hash)}, the header hashes to ${shortHex(h.hash)}`);
  if (!equalBytes(set.hash, hd.validator_set_hash))
    throw new Error(`header names validator set ${shortHex(hd.validator_set_hash)}, the set given hashes to ${shortHex(set.hash)}`);
  const n = set.entries.length;
  if (cert.precommits.length > n) throw new Error(`${cert.precommits.length} precommits for a set of ${n}`);
  const signers = [];
  cert.precommits.forEach((pc, i) => {
    let v;
    try { v = decodeVote(pc.vote); } catch (e) { throw new Error(`precommit ${i} does not decode: ${e.message}`); }
    if (!equalBytes(v.chain_id, C)) throw new Error(`precommit ${i} is for another chain`);
    const key = set.byMember.get(v.validator);
    if (!key) throw new Error(`precommit ${i} is by ${v.validator}, not a member of the set`);
    const bad = verifySignature(key, pc.signature, message('clearance/v1/vote', pc.vote));
    if (bad) throw new Error(`precommit ${i} by ${v.validator}: ${bad}`);
    if (v.kind !== 'precommit' || v.height !== cert.height || v.round !== cert.round || v.block === null || !equalBytes(v.block, cert.block_hash))
      throw new Error(`precommit ${i} by ${v.validator} is not a precommit for this height, round and block`);
    if (signers.includes(v.validator)) throw new Error(`${v.validator} signed twice`);
    signers.push(v.validator);
  });
  if (signers.length < quorum(n)) throw new Error(`${signers.length} signers of ${n}; a quorum is ${quorum(n)}`);
  return signers;
}

/** Decode a header; `check` adds the chain check (CERTIFIED does it, FOLLOW leaves it to verify_commit). */
function header(ctx, step, bytes, check) {
  let hd;
  try { hd = decodeHeader(bytes); } catch (e) { throw new Fail(step, `the header does not decode: ${e.message}`); }
  if (check && !equalBytes(hd.chain_id, ctx.C)) throw new Fail(step, `the header is for chain ${toHex(hd.chain_id)}`);
  return { header: hd, bytes, hash: taggedHash('clearance/v1/header', bytes) };
}

function commit(ctx, step, set, h, certBytes) {
  let cert;
  try { cert = decodeCertificate(certBytes); } catch (e) { throw new Fail(step, `the certificate does not decode: ${e.message}`); }
  try { return verifyCommit(ctx.C, set, h, cert); } catch (e) { throw new Fail(step, e.message); }
}

/** Procedure CERTIFIED(p, c). */
export function certified(ctx, p, c) {
  const h = header(ctx, `${p}.header`, c.header, true);
  pass(ctx, `${p}.header`, `height ${h.header.height}`);
  h.signers = commit(ctx, `${p}.certificate`, setAt(ctx, h.header.height), h, c.certificate);
  pass(ctx, `${p}.certificate`, `signed by ${h.signers.join(', ')}`);
  return h;
}

function inclusion(step, leaf, index, size, path, root) {
  if (path.length > MAX_PATH) throw new Fail(step, `a path of ${path.length} hashes, at most ${MAX_PATH}`);
  const bad = verifyInclusion(leaf, index, size, path, root);
  if (bad) throw new Fail(step, bad);
}

/** Procedure RECORD(s, r, A), steps 1 to 7 (step 7 for an evidence record, in `record` and `later[i]` alike). */
export function record(ctx, s, r, A) {
  const tx = verifyTx(`${s}.decode`, r.signed_tx, ctx.C);
  pass(ctx, `${s}.decode`, `${tx.record.kind} ${toHex(tx.id)}`);
  const B = certified(ctx, `${s}.block`, r.block);
  const L = leafHash(r.signed_tx);
  inclusion(`${s}.tx-inclusion`, L, r.tx_index, BigInt(B.header.tx_count), r.tx_path, B.header.tx_root);
  pass(ctx, `${s}.tx-inclusion`);
  const bh = B.header, ah = A.header;
  if (bh.height > ah.height) throw new Fail(`${s}.block.header`, `the block of height ${bh.height} is above the anchor's ${ah.height}`);
  if (bh.height === ah.height && !equalBytes(B.hash, A.hash)) throw new Fail(`${s}.block.header`, `another block than the anchor at height ${bh.height}`);
  const lo = bh.log_size > BigInt(bh.tx_count) ? bh.log_size - BigInt(bh.tx_count) : 0n;
  if (r.log_index < lo || r.log_index >= bh.log_size)
    throw new Fail(`${s}.block.header`, `log index ${r.log_index} is outside what block ${bh.height} appended [${lo}, ${bh.log_size})`);
  pass(ctx, `${s}.block.header`, 'log index within the block');
  inclusion(`${s}.log-inclusion`, L, r.log_index, ah.log_size, r.log_path, ah.log_root);
  pass(ctx, `${s}.log-inclusion`);
  if (tx.record.kind === 'evidence') checkEvidence(ctx, `${s}.evidence`, tx.record, bh.height);
  return { tx, block: B, log_index: r.log_index };
}

/**
 * RECORD step 7: the messages of an evidence record verify under SET_AT(min(h, B.height)). The claimed height only
 * selects the set; it is not checked against the block. Both messages are known to decode, to be comparable and to
 * conflict (a record shape check, so `s.decode` already refused anything else). For each message in turn: chain
 * id, signer in the set, signature.
 */
export function checkEvidence(ctx, step, rec, blockHeight) {
  const eq = rec.content.equivocation;
  let e;
  try { e = decodeEquivocation(eq); } catch (err) { throw new Fail(step, err.message); }
  const h = e.a.height;
  const hh = h < blockHeight ? h : blockHeight;
  const set = setAt(ctx, hh);
  const tag = eq.kind === 'double_vote' ? 'clearance/v1/vote' : 'clearance/v1/proposal';
  for (const [which, m, d] of [['first', eq.first, e.a], ['second', eq.second, e.b]]) {
    if (!equalBytes(d.chain_id, ctx.C)) throw new Fail(step, `the ${which} message is for chain ${toHex(d.chain_id)}`);
    const signer = eq.kind === 'double_vote' ? d.validator : d.proposer;
    const key = set.byMember.get(signer);
    if (!key) throw new Fail(step, `the ${which} message is signed by ${signer}, not in the set in force at height ${hh}`);
    const bad = verifySignature(key, m.signature, message(tag, m.bytes));
    if (bad) throw new Fail(step, `the ${which} message does not verify: ${bad}`);
  }
  pass(ctx, step);
}

/** Procedure LOGGED(t, r, P). */
function logged(ctx, t, r, P) {
  const tx = verifyTx(`${t}.decode`, r.signed_tx, ctx.C);
  pass(ctx, `${t}.decode`);
  inclusion(`${t}.log-inclusion`, leafHash(r.signed_tx), r.log_index, P.header.log_size, r.log_path, P.header.log_root);
  pass(ctx, `${t}.log-inclusion`);
  return tx;
}

/** Procedure ADOPTED(s, A, P, AH, V, CUR). Returns W as a Map member → key, and the summaries. */
function adopted(ctx, s, A, P, AH, V, CUR) {
  if (A.length < 1 || A.length > MAX_ADOPTED) throw new Fail(`${s}.adopted`, `${A.length} adopted proposals (1 to ${MAX_ADOPTED})`);
  pass(ctx, `${s}.adopted`);
  const W = new Map(CUR.entries.map((e) => [e.member, e.key]));
  const out = [];
  let prevLast = -1n;
  A.forEach((ak, k) => {
    const t = `${s}.adopted[${k}]`;
    const R = logged(ctx, `${t}.proposal`, ak.proposal, P);
    const ch = R.record.kind === 'membership_propose' ? R.record.content.change : null;
    if (!ch || ch.kind === 'rotate_network_key') throw new Fail(`${t}.proposal.kind`, `a ${ch ? 'rotate_network_key proposal' : R.record.kind} changes no validator set`);
    pass(ctx, `${t}.proposal.kind`);
    const proposer = R.record.content.proposer;
    const removed = ch.kind === 'remove' ? ch.member : null;
    const COUNT = new Set(removed === proposer ? [] : [proposer]);
    if (ak.approvals.length > MAX_APPROVALS) throw new Fail(`${t}.approvals`, `${ak.approvals.length} approvals, at most ${MAX_APPROVALS}`);
    pass(ctx, `${t}.approvals`);
    let last = ak.proposal.log_index;
    ak.approvals.forEach((ap, j) => {
      const u = `${t}.approvals[${j}]`;
      const x = logged(ctx, u, ap, P);
      if (x.record.kind !== 'membership_approve' || !equalBytes(x.record.content.proposal, R.id))
        throw new Fail(`${u}.relation`, `not an approval of proposal ${toHex(R.id)}`);
      COUNT.add(x.record.content.member);
      pass(ctx, `${u}.relation`);
      if (ap.log_index <= last) throw new Fail(`${u}.order`, `log index ${ap.log_index} is not after ${last}`);
      pass(ctx, `${u}.order`);
      last = ap.log_index;
    });
    if (last <= prevLast) throw new Fail(`${t}.order`, `its last record is at log index ${last}, not after the previous proposal's ${prevLast}`);
    pass(ctx, `${t}.order`);
    prevLast = last;
    const ah = AH.header;
    const lo = ah.log_size > BigInt(ah.tx_count) ? ah.log_size - BigInt(ah.tx_count) : 0n;
    if (last < lo || last >= ah.log_size) {
      const span = lo < ah.log_size ? `appended log entries ${lo} to ${ah.log_size - 1n}` : 'appended no log entries';
      throw new Fail(`${t}.block`, `its last record is at log index ${last}; the adopting block of height ${ah.height} ${span}`);
    }
    pass(ctx, `${t}.block`);
    for (const m of [...COUNT]) if (!V.byMember.has(m) || m === removed) COUNT.delete(m);
    const counted = [...COUNT].sort();
    const n = V.entries.length;
    if (counted.length < quorum(n))
      throw new Fail(`${t}.quorum`, `${counted.length} counted approvals (${counted.join(', ')}) of the ${n} members in force at the adopting height; adoption needs ${quorum(n)}`);
    pass(ctx, `${t}.quorum`, `${counted.length} of ${n}`);
    if (ch.kind === 'admit') {
      if (W.has(ch.member.id)) throw new Fail(`${t}.change`, `${ch.member.id} is already in the set`);
      W.set(ch.member.id, ch.member.validator_key);
    } else {
      if (!W.has(ch.member)) throw new Fail(`${t}.change`, `${ch.member} is not in the set`);
      if (ch.kind === 'remove') W.delete(ch.member); else W.set(ch.member, ch.new_key);
    }
    pass(ctx, `${t}.change`);
    out.push({ proposal: toHex(R.id), change: changeLine(ch), proposer, approved_by: counted });
  });
  return { W, adopted: out };
}

/** Procedure FOLLOW(L): fills ctx.SETS and returns the SetChangeSummary list. */
export function follow(ctx, L) {
  if (L.length > MAX_SET_CHANGES) throw new Fail('validator-set', `${L.length} validator-set changes, at most ${MAX_SET_CHANGES}`);
  pass(ctx, 'validator-set', `${L.length} changes`);
  const summaries = [];
  L.forEach((ch, i) => {
    const s = `validator-set[${i}]`;
    const { from, set: CUR } = ctx.SETS[ctx.SETS.length - 1];
    if (!(ch.height > from) || !(ch.height > ctx.delay))
      throw new Fail(`${s}.height`, `a change at height ${ch.height} after one at ${from} (and not above membership_delay_blocks ${ctx.delay})`);
    pass(ctx, `${s}.height`);
    let NEW;
    try { NEW = decodeValidatorSet(ch.validator_set); } catch (e) { throw new Fail(`${s}.set`, `the validator set does not decode: ${e.message}`); }
    const hdr = header(ctx, `${s}.proof.header`, ch.proof.header, false);
    if (hdr.header.height + 1n !== ch.height)
      throw new Fail(`${s}.proof.header`, `the proof is the header of height ${hdr.header.height}; a set taking effect at ${ch.height} is announced by height ${ch.height - 1n}`);
    pass(ctx, `${s}.proof.header`);
    const certifiedBy = commit(ctx, `${s}.proof.certificate`, CUR, hdr, ch.proof.certificate);
    pass(ctx, `${s}.proof.certificate`, `signed by ${certifiedBy.join(', ')}`);
    if (!equalBytes(hdr.header.next_validator_set_hash, NEW.hash))
      throw new Fail(`${s}.set`, `the certified header announces set ${shortHex(hdr.header.next_validator_set_hash)}, the file gives ${shortHex(NEW.hash)}`);
    if (equalBytes(NEW.hash, CUR.hash)) throw new Fail(`${s}.set`, 'the set equals the one already in force');
    const a = ch.height - ctx.delay;
    const AH = header(ctx, `${s}.adopting.header`, ch.adopting.header, false);
    if (AH.header.height !== a)
      throw new Fail(`${s}.adopting.header`, `the header of height ${AH.header.height}; a set taking effect at ${ch.height} is adopted at height ${a}`);
    pass(ctx, `${s}.adopting.header`);
    const V = setAt(ctx, a);
    commit(ctx, `${s}.adopting.certificate`, V, AH, ch.adopting.certificate);
    pass(ctx, `${s}.adopting.certificate`);
    const { W, adopted: ad } = adopted(ctx, s, ch.adopted, hdr, AH, V, CUR);
    let made;
    try {
      made = makeSet([...W].map(([member, key]) => ({ member, key })).sort((x, y) => (x.member < y.member ? -1 : 1)));
    } catch (e) { throw new Fail(`${s}.set`, `the adopted changes do not make a valid set: ${e.message}`); }
    if (!equalBytes(made.hash, NEW.hash))
      throw new Fail(`${s}.set`, `the adopted records make set ${shortHex(made.hash)}, the header announces ${shortHex(NEW.hash)}`);
    pass(ctx, `${s}.set`, NEW.entries.map((e) => e.member).join(', '));
    ctx.SETS.push({ from: ch.height, set: NEW });
    summaries.push({ height: ch.height, members: NEW.entries.map((e) => e.member), certified_by: certifiedBy, adopted_at: a, adopted: ad });
  });
  return summaries;
}

/** Procedure STATUS(e, K, root), with the step prefix `p` (`status` or `recognition`). */
export function status(ctx, p, e, keyBytes, root, proofStep = `${p}.proof`, valueStep = `${p}.value`) {
  const P = taggedHash('clearance/v1/state-key', keyBytes);
  const r = verifyStateProof(P, e.siblings, e.terminal, root);
  if (r.error) throw new Fail(proofStep, r.error);
  pass(ctx, proofStep, r.present ? 'entry present' : 'no entry');
  if (!r.present) {
    if (e.value !== null) throw new Fail(valueStep, 'a value for an absence proof');
    pass(ctx, valueStep);
    return null;
  }
  if (e.value === null) throw new Fail(valueStep, 'no value for a present entry');
  if (!equalBytes(taggedHash('clearance/v1/state-value', e.value), r.present)) throw new Fail(valueStep, "the value's hash is not the proof's");
  let v;
  try { v = decodeStateValue(e.value); } catch (err) { throw new Fail(valueStep, `the value does not decode: ${err.message}`); }
  return v; // the caller checks the kind, then records the pass of valueStep
}
