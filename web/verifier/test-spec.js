// node --test: the rules audit.md states beyond the worked example (parse before format, later records' evidence,
// status.stale, headlines, max-age, the declaration subject, exact u64 in JSON), on edited copies of the example and
// on a synthetic chain signed with the RFC 8032 test keys of protocol.md §7.2.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyBundle, verifyStatus, verifyCheckpoint, verifyExtension, documentSha256 } from './verify.js';
import { fromBase64, toBase64, fromHex, toHex, Writer } from './bytes.js';
import { decodeCertificate } from './codec.js';
import { message, verifySignature } from './crypto.js';
import { concerns, verifyTx } from './records.js';
import { leafHash, nodeHash, verifyConsistency, verifyInclusion } from './merkle.js';
import { dir, read, GENESIS, BUNDLE, VALID, ABSENT, DOC, edit, b64edit, flipHex, expectFail } from './support.js';

// ==== The spec as audit.md now states it (parse before format, later evidence, status.stale, headlines,
// ==== max-age, the declaration subject, exact u64 in JSON) ====

// ---- audit.md §2.1: parse before format ----

const rawBundle = (f) => { const o = JSON.parse(BUNDLE); return f(o) ?? JSON.stringify(o); };
const parseFormatCases = [
  ['format left out', 'parse', (o) => { delete o.format; }],
  ['version left out', 'parse', (o) => { delete o.version; }],
  ['format a number', 'parse', (o) => { o.format = 1; }],
  ['format null', 'parse', (o) => { o.format = null; }],
  ['version a string', 'parse', (o) => { o.version = '1'; }],
  ['version 1.0', 'parse', (o) => JSON.stringify(o).replace('"version":1,', '"version":1.0,')],
  ['version 1e0', 'parse', (o) => JSON.stringify(o).replace('"version":1,', '"version":1e0,')],
  ['version -1', 'parse', (o) => { o.version = -1; }],
  ['version 2^32', 'parse', (o) => { o.version = 4294967296; }],
  ['version 2^32 − 1', 'format', (o) => { o.version = 4294967295; }],
  ['version 0', 'format', (o) => { o.version = 0; }],
  ['another format string', 'format', (o) => { o.format = 'clearance-status-proof'; }],
  ['another format string and an unknown field', 'parse', (o) => { o.format = 'clearance-status-proof'; o.subject = null; }],
  ['version 2 and a field left out deep inside', 'parse', (o) => { o.version = 2; delete o.validator_set_changes[2].adopted[0].approvals[0].log_path; }],
];
for (const [name, step, f] of parseFormatCases) {
  test(`parse before format (audit.md §2.1): ${name} → ${step}`, () => expectFail(verifyBundle(rawBundle(f), GENESIS), step));
}

test('parse before format: a status proof given as a bundle, a checkpoint as a status proof', () => {
  expectFail(verifyBundle(VALID, GENESIS), 'parse');
  const o = JSON.parse(BUNDLE);
  const cp = { format: 'clearance-checkpoint', version: 1, chain_id: o.chain_id, height: 34, log_size: 32,
    log_root: '50d3969f7380b5957ed408eeac528690ce54c38a94e0fb78e8678e104fea4a23', head: o.anchor };
  expectFail(verifyStatus(JSON.stringify(cp), GENESIS), 'parse');
  expectFail(verifyCheckpoint(JSON.stringify({ ...cp, format: 'clearance-consistency-proof' }), GENESIS), 'format');
});

// ---- audit.md §3.1 10d/10e: a full `later` (64) that left out the status's record ----

test('64 later records: the order check still runs before 10d/10e', () => {
  // 64 copies of the revocation are not in strictly increasing log order, so this fails at later[1].order. A full
  // `later` that reaches 10d/10e needs 65 certificate records, which the example files do not have (README).
  const o = JSON.parse(BUNDLE);
  o.later = new Array(64).fill(o.later[0]);
  expectFail(verifyBundle(JSON.stringify(o), GENESIS), 'later[1].order');
});

// ---- audit.md §5: headlines, record summaries, set_by/set_at ----

test('the bundle status summary: set_by/set_at of the revocation, decision null, summary lines of §5', () => {
  const v = verifyBundle(BUNDLE, GENESIS).verdict;
  assert.equal(v.status.set_by, 'KZ');
  assert.equal(v.status.set_at, '2026-11-30T13:55:17.006Z');
  assert.equal(v.status.decision, null);
  assert.deepEqual(v.status.subject, { certificate: { issuer: 'KZ', number: 'KZ-PC-2026-000001' } });
  assert.equal(v.record.summary, 'phytosanitary KZ-PC-2026-000001 issued by KZ');
  assert.equal(v.later[0].summary, 'certificate KZ-PC-2026-000001 of KZ revoked from 2026-11-29');
});

test('a status proof of a revoked certificate has no SET: "REVOKED, as of …"', () => {
  // The bundle's status section is the revoked entry; a status proof file carries the same entry without records.
  const o = JSON.parse(VALID), b = JSON.parse(BUNDLE);
  o.subject = { certificate: { issuer: 'KZ', number: 'KZ-PC-2026-000001' } };
  o.status = b.status;
  const r = verifyStatus(JSON.stringify(o), GENESIS);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.headline, 'REVOKED, as of 2026-11-30 13:55 UTC (height 34, certified by CN, DE, TJ)');
  assert.equal(r.verdict.status.set_by, null);
  assert.equal(r.verdict.status.set_at, null);
});

import { summarize } from './records.js';
import { statusSummary, toJson, plain } from './verdict.js';

test('record summary lines of audit.md §5, by kind', () => {
  const date = { y: 2026, m: 1, d: 5 };
  const cert = { cert_type: 'origin', number: 'KZ-CO-1-A1', issuer: 'KZ' };
  assert.equal(summarize({ kind: 'certificate_amend', content: { replaces: { issuer: 'KZ', number: 'KZ-CO-1' }, certificate: cert } }),
    'origin KZ-CO-1 of KZ amended as KZ-CO-1-A1');
  assert.equal(summarize({ kind: 'clearance_decision', content: { declaration: { mrn: '26KZ00000000000018', ucr: 'UCR-1' }, office: 'KZ000001', decision: 'documents_required' } }),
    'documents required of declaration MRN 26KZ00000000000018, UCR UCR-1 at office KZ000001');
  assert.equal(summarize({ kind: 'clearance_decision', content: { declaration: { mrn: null, ucr: 'UCR-1' }, office: 'KZ000001', decision: 'released' } }),
    'released of declaration UCR UCR-1 at office KZ000001');
  assert.equal(summarize({ kind: 'aeo_status', content: { operator: 'KZ123', programme: 'KZ', transition: 'reinstated', effective_on: date } }),
    'AEO reinstated of operator KZ123 in the programme of KZ, from 2026-01-05');
  assert.equal(summarize({ kind: 'submitter_key_register', content: {} }), 'submitter key register');
  assert.equal(summarize({ kind: 'mra_withdraw', content: {} }), 'mra withdraw');
});

test('headlines of audit.md §5 for every subject and status', () => {
  const ctx = { names: new Map() };
  const anchor = { header: { time: BigInt(Date.parse('2026-12-31T13:55:59.999Z')), height: 7n }, hash: new Uint8Array(32), signers: ['CN', 'DE'] };
  anchor.header.log_root = new Uint8Array(32); anchor.header.log_size = 0n;
  const AS_OF = 'as of 2026-12-31 13:55 UTC (height 7, certified by CN, DE)';
  const R = new Uint8Array(32).fill(0xab), R2 = new Uint8Array(32).fill(0xcd);
  const setBy = { member: 'KZ', time: BigInt(Date.parse('2026-12-31T13:40:00.000Z')) };
  const cert = { kind: 'certificate', issuer: 'KZ', number: 'KZ-1' };
  const aeo = { kind: 'aeo', operator: 'KZ123', programme: 'KZ' };
  const dec = { kind: 'decision', record: R };
  const decl = { kind: 'declaration', declaration: { ucr: 'UCR-1' }, member: 'DE' };
  const H = (S, v, o) => statusSummary(ctx, S, v, anchor, o).headline;
  assert.equal(H(cert, { kind: 'Certificate', status: 'valid', record: R, replaced_by: null }, { setBy }), `VALID ${AS_OF}`);
  assert.equal(H(cert, { kind: 'Certificate', status: 'revoked', record: R, replaced_by: null }, { setBy }), `REVOKED on 2026-12-31 13:40 UTC by KZ, ${AS_OF}`);
  assert.equal(H(cert, { kind: 'Certificate', status: 'replaced', record: R, replaced_by: { issuer: 'KZ', number: 'KZ-1-A1' } }, { setBy }),
    `REPLACED by KZ-1-A1 of KZ on 2026-12-31 13:40 UTC by KZ, ${AS_OF}`);
  assert.equal(H(cert, { kind: 'Certificate', status: 'replaced', record: R, replaced_by: null }), `REPLACED, ${AS_OF}`);
  assert.equal(H(cert, null), `NOT RECORDED: no certificate KZ-1 of KZ ${AS_OF}`);
  assert.equal(H(aeo, { kind: 'Aeo', standing: 'suspended', aeo_type: 'aeoc', record: R }, { setBy }), `AEO SUSPENDED in KZ's programme on 2026-12-31 13:40 UTC by KZ, ${AS_OF}`);
  assert.equal(H(aeo, { kind: 'Aeo', standing: 'active', aeo_type: 'aeoc', record: R }), `AEO ACTIVE in KZ's programme, ${AS_OF}`);
  assert.equal(H(aeo, { kind: 'Aeo', standing: 'active', aeo_type: 'aeoc', record: R }, { recog: { member: 'DE', recognised: true, via_mra: toHex(R2) } }),
    `AEO ACTIVE in KZ's programme; recognised by DE under MRA cdcdcdcd, ${AS_OF}`);
  assert.equal(H(aeo, { kind: 'Aeo', standing: 'active', aeo_type: 'aeoc', record: R }, { recog: { member: 'KZ', recognised: true, via_mra: null } }),
    `AEO ACTIVE in KZ's programme; recognised by KZ, its own programme, ${AS_OF}`);
  assert.equal(H(aeo, { kind: 'Aeo', standing: 'active', aeo_type: 'aeoc', record: R }, { recog: { member: 'DE', recognised: false, via_mra: null } }),
    `AEO ACTIVE in KZ's programme; NOT shown recognised by DE (no active MRA covering it in this proof), ${AS_OF}`);
  assert.equal(H(aeo, { kind: 'Aeo', standing: 'revoked', aeo_type: 'aeoc', record: R }, { recog: { member: 'DE', recognised: false, via_mra: null } }),
    `AEO REVOKED in KZ's programme; not recognised by DE, ${AS_OF}`);
  assert.equal(H(aeo, null, { recog: { member: 'DE', recognised: false, via_mra: null } }), `NOT RECORDED: no operator KZ123 in KZ's AEO programme ${AS_OF}`);
  assert.equal(H(dec, { kind: 'Decision', superseded_by: null }), `IN FORCE ${AS_OF}`);
  assert.equal(H(dec, { kind: 'Decision', superseded_by: R2 }), `SUPERSEDED by decision ${toHex(R2)}, ${AS_OF}`);
  assert.equal(H(dec, null), `NOT RECORDED: no clearance decision ${toHex(R)} ${AS_OF}`);
  const dv = (decision, superseded_by = null) => ({ kind: 'Decision', declaration: { mrn: null, ucr: 'UCR-1' }, member: 'DE', decision, superseded_by });
  const s1 = statusSummary(ctx, decl, { kind: 'Record', record: R }, anchor, { decision: dv('documents_required') });
  assert.equal(s1.headline, `DOCUMENTS REQUIRED by DE on the declaration with UCR UCR-1 (decision abababab), ${AS_OF}`);
  assert.deepEqual([s1.status, s1.good, s1.decision, s1.record, s1.set_by], ['documents_required', false, 'documents_required', toHex(R), null]);
  const s2 = statusSummary(ctx, decl, { kind: 'Record', record: R }, anchor, { decision: dv('released') });
  assert.deepEqual([s2.status, s2.good], ['released', true]);
  assert.equal(s2.headline, `RELEASED by DE on the declaration with UCR UCR-1 (decision abababab), ${AS_OF}`);
  const s3 = statusSummary(ctx, decl, { kind: 'Record', record: R }, anchor, { decision: dv('released', R2) });
  assert.deepEqual([s3.status, s3.good, s3.superseded_by], ['superseded', false, toHex(R2)]);
  assert.equal(s3.headline, `SUPERSEDED by DE on the declaration with UCR UCR-1 (decision abababab), ${AS_OF}`);
  assert.equal(H(decl, null), `NOT RECORDED: no decision of DE on the declaration with UCR UCR-1 ${AS_OF}`);
  // A superseded decision: set_by/set_at null even when the bundle carries the superseding record.
  const s4 = statusSummary(ctx, dec, { kind: 'Decision', superseded_by: R2 }, anchor, { setBy });
  assert.deepEqual([s4.record, s4.set_by, s4.set_at, s4.superseded_by], [null, null, null, toHex(R2)]);
});

// ---- audit.md §3.5 Freshness ----

test('--max-age: status proof files too, checked last, strictly greater, a future anchor passes', () => {
  const t = Date.parse('2026-11-30T13:55:17.006Z');
  expectFail(verifyStatus(VALID, GENESIS, { maxAgeMs: 1000, now: t + 1001 }), 'max-age');
  assert.equal(verifyStatus(VALID, GENESIS, { maxAgeMs: 1000, now: t + 1000 }).ok, true);
  assert.equal(verifyStatus(VALID, GENESIS, { maxAgeMs: 0, now: t - 86400e3 }).ok, true);
  // Another failing step wins over an old anchor.
  expectFail(verifyStatus(edit(VALID, (o) => { o.status.value = b64edit(o.status.value, (b) => { b[8] ^= 1; }); }), GENESIS, { maxAgeMs: 0, now: t + 1e9 }), 'status.value');
  expectFail(verifyBundle(edit(BUNDLE, (o) => { o.later = []; }), GENESIS, { maxAgeMs: 0, now: t + 1e9 }), 'status.record');
  const r = verifyStatus(VALID, GENESIS, { maxAgeMs: 0, now: t + 1 });
  assert.equal(r.steps.at(-1).step, 'max-age');
});

// ---- audit.md §2.1/§5: u64 values above 2^53 are exact JSON numbers ----

test('verdict JSON writes u64 values above 2^53 as exact numbers, never strings', () => {
  const v = plain({ height: 18446744073709551615n, log_size: 9007199254740993n, log_index: 5n, t: 'x', n: null, a: [1n, 2n ** 60n] });
  assert.equal(v.log_index, 5);
  assert.equal(toJson(v), '{"height":18446744073709551615,"log_size":9007199254740993,"log_index":5,"t":"x","n":null,"a":[1,1152921504606846976]}');
  const r = verifyBundle(BUNDLE, GENESIS);
  assert.deepEqual(JSON.parse(toJson(r.verdict)), JSON.parse(JSON.stringify(r.verdict)));
});

// ---- A synthetic one-member chain: the genesis of protocol.md §7.2, whose validator key (RFC 8032 §7.1 test 1)
// ---- and submitter key (test 3) have published secret keys, so these tests can sign headers, votes and records.

import * as ed from './node_modules/@noble/ed25519/index.js';
import { sha512 } from './node_modules/@noble/hashes/sha2.js';
import { makeSet, stateKeyBytes } from './codec.js';
import { taggedHash } from './crypto.js';
import { mrnCheckDigit } from './ids.js';
import { checkEvidence } from './procedures.js';
import { loadGenesis } from './genesis.js';
ed.hashes.sha512 = sha512;

const SYN_GENESIS = JSON.stringify({
  chain_name: 'example-chain', genesis_time: '2026-01-01T00:00:00.000Z',
  params: { timeout_propose_ms: 1000, timeout_prevote_ms: 500, timeout_precommit_ms: 500, timeout_delta_ms: 500, heartbeat_ms: 10000,
    max_clock_drift_ms: 2000, max_block_txs: 10000, max_block_bytes: 8388608, max_tx_bytes: 16384, membership_delay_blocks: 2,
    membership_proposal_ttl_s: 604800 },
  members: [{ id: 'KZ', name: 'Kazakhstan State Revenue Committee', validator_key: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    peer_id: '12D3KooWDwTirQce1RRKnasT5fPVFgzXCy6SiRgSwrwPGLC7zE91', addresses: ['/ip4/203.0.113.7/tcp/26656'] }],
  submitters: [{ member: 'KZ', key: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', roles: ['certificates', 'clearance'], label: 'Certificate desk' }],
});
const VAL_SK = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 32);
const SUB_SK = fromHex('c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7', 32);
const SYN = loadGenesis(SYN_GENESIS);
const C = SYN.chainId;
const S0 = makeSet([{ member: 'KZ', key: ed.getPublicKey(VAL_SK) }]);
const Z32 = new Uint8Array(32);
const sign = (sk, tag, bytes) => ed.sign(message(tag, bytes), sk);

function voteBytes({ chain = C, height, round = 0, kind = 1, block, validator = 'KZ' }) {
  const w = new Writer().raw(chain).u64(height).u32(round).u32(kind);
  if (block) w.u8(1).raw(block); else w.u8(0);
  return w.string(validator).done();
}

/** A certified header of `height` with the given roots, signed by KZ alone (n = 1, quorum 1). */
function synHeader({ height = 5n, time = Date.parse('2026-11-30T10:00:00.000Z'), txCount = 0, txRoot = Z32, logSize = 0n, logRoot = Z32, stateRoot = Z32 }) {
  const header = new Writer().raw(C).u64(height).u64(time).raw(Z32).string('KZ').u32(txCount).raw(txRoot).raw(Z32)
    .u64(logSize).raw(logRoot).raw(S0.hash).raw(S0.hash).raw(stateRoot).done();
  assert.equal(header.length, 294);
  const hash = taggedHash('clearance/v1/header', header);
  const vote = voteBytes({ height, block: hash });
  const cert = new Writer().u64(height).u32(0).raw(hash).vec([vote], (w, v) => w.bytes(v).raw(sign(VAL_SK, 'clearance/v1/vote', v))).done();
  return { header: toBase64(header), certificate: toBase64(cert) };
}

/** A sparse Merkle tree of up to two entries (protocol.md §4.5): the root and each key's proof. */
const bit = (k, d) => (k[d >> 3] >> (7 - (d & 7))) & 1;
const sLeaf = (k, v) => taggedHash('clearance/v1/state-leaf', new Uint8Array([...k, ...v]));
const sNode = (l, r) => taggedHash('clearance/v1/state-node', new Uint8Array([...l, ...r]));
function stateTree(entries) { // [[keyBytes, valueBytes], …], 1 or 2 entries
  const e = entries.map(([k, v]) => ({ P: taggedHash('clearance/v1/state-key', k), V: taggedHash('clearance/v1/state-value', v), value: v }));
  const proof = (x, siblings) => ({ value: toBase64(x.value), proof: { siblings: siblings.map(toHex), terminal: { present: { value: toHex(x.V) } } } });
  if (e.length === 1) {
    return { root: sLeaf(e[0].P, e[0].V), proofs: [proof(e[0], [])],
      absent: { proof: { siblings: [], terminal: { other: { key: toHex(e[0].P), value: toHex(e[0].V) } } } } };
  }
  const [a, b] = e;
  let d = 0; while (bit(a.P, d) === bit(b.P, d)) d++;
  let h = bit(a.P, d) ? sNode(sLeaf(b.P, b.V), sLeaf(a.P, a.V)) : sNode(sLeaf(a.P, a.V), sLeaf(b.P, b.V));
  for (let i = d - 1; i >= 0; i--) h = bit(a.P, i) ? sNode(Z32, h) : sNode(h, Z32);
  const sib = (other) => [...new Array(d).fill(Z32), sLeaf(other.P, other.V)];
  return { root: h, proofs: [proof(a, sib(b)), proof(b, sib(a))] };
}

const MRN17 = '26KZ0000000000001';
const MRN = MRN17 + mrnCheckDigit(MRN17);
const DECISIONS = ['accepted', 'released', 'hold', 'documents_required', 'inspect_physical', 'inspect_documentary', 'rejected', 'cancelled'];
const D = taggedHash('test', new Uint8Array([1])), D2 = taggedHash('test', new Uint8Array([2]));
const recordValue = (id) => new Writer().u32(11).raw(id).done();
function decisionValue({ mrn = MRN, ucr = null, member = 'KZ', decision = 'released', supersededBy = null } = {}) {
  const w = new Writer().u32(3);
  if (mrn) w.u8(1).string(mrn); else w.u8(0);
  if (ucr) w.u8(1).string(ucr); else w.u8(0);
  w.string(member).u32(DECISIONS.indexOf(decision));
  if (supersededBy) w.u8(1).raw(supersededBy); else w.u8(0);
  return w.done();
}

/** A declaration status proof file: the declaration's entry names `named`, the decision entry is `dval` of `D`. */
function declarationFile({ subject = { declaration: { declaration: { mrn: MRN }, member: 'KZ' } }, named = D, dval = decisionValue(), f } = {}) {
  const key = stateKeyBytes({ kind: 'declaration', declaration: subject.declaration?.declaration ?? { mrn: MRN }, member: 'KZ' });
  const t = stateTree([[key, recordValue(named)], [stateKeyBytes({ kind: 'decision', record: D }), dval]]);
  const o = { format: 'clearance-status-proof', version: 1, chain_id: toHex(C), subject, status: t.proofs[0],
    anchor: synHeader({ stateRoot: t.root }), validator_set_changes: [], decision: { record: toHex(D), status: t.proofs[1] } };
  if (f) f(o, t);
  return JSON.stringify(o);
}

test('StateKey::Declaration bytes, hand-computed from protocol.md §1 and §2.8', () => {
  const le32 = (n) => [n, 0, 0, 0], le64 = (n) => [n, 0, 0, 0, 0, 0, 0, 0], str = (s) => [...le64(s.length), ...Buffer.from(s)];
  assert.equal(toHex(stateKeyBytes({ kind: 'declaration', declaration: { mrn: MRN }, member: 'DE' })),
    Buffer.from([...le32(12), ...le32(0), ...str(MRN), ...str('DE')]).toString('hex'));
  // 0c000000 01000000 0500000000000000 "UCR-1" 0200000000000000 "KZ"
  assert.equal(toHex(stateKeyBytes({ kind: 'declaration', declaration: { ucr: 'UCR-1' }, member: 'KZ' })),
    '0c000000' + '01000000' + '0500000000000000' + '5543522d31' + '0200000000000000' + '4b5a');
});

test('synthetic chain: the genesis loads and a certified anchor verifies', () => {
  assert.equal(toHex(S0.entries[0].key), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  const r = verifyStatus(declarationFile(), SYN_GENESIS);
  assert.equal(r.ok, true, r.message);
});

test('declaration status proof: RELEASED, good, decision and record fields, headline, JSON subject', () => {
  const r = verifyStatus(declarationFile(), SYN_GENESIS);
  assert.equal(r.ok, true, r.message);
  assert.deepEqual([r.status, r.good], ['released', true]);
  const s = r.verdict.status;
  assert.deepEqual(s.subject, { declaration: { declaration: { mrn: MRN }, member: 'KZ' } });
  assert.deepEqual([s.record, s.decision, s.set_by, s.set_at, s.superseded_by], [toHex(D), 'released', null, null, null]);
  assert.equal(r.headline, `RELEASED by KZ on the declaration with MRN ${MRN} (decision ${toHex(D).slice(0, 8)}), as of 2026-11-30 10:00 UTC (height 5, certified by KZ)`);
  assert.deepEqual(r.steps.map((x) => x.step).slice(-6), ['status.proof', 'status.value', 'decision', 'decision.proof', 'decision.value', 'decision.declaration']);
  assert.ok(r.text.split('\n')[1] === `  decision of KZ on the declaration with MRN ${MRN}`);
});

test('declaration status proof: hold is not good; superseded; by UCR', () => {
  const hold = verifyStatus(declarationFile({ dval: decisionValue({ decision: 'hold' }) }), SYN_GENESIS);
  assert.deepEqual([hold.ok, hold.status, hold.good], [true, 'hold', false]);
  const sup = verifyStatus(declarationFile({ dval: decisionValue({ supersededBy: D2 }) }), SYN_GENESIS);
  assert.deepEqual([sup.ok, sup.status, sup.good, sup.verdict.status.superseded_by], [true, 'superseded', false, toHex(D2)]);
  const subject = { declaration: { declaration: { ucr: 'UCR-1' }, member: 'KZ' } };
  const ucr = verifyStatus(declarationFile({ subject, dval: decisionValue({ mrn: MRN, ucr: 'UCR-1', decision: 'inspect_physical' }) }), SYN_GENESIS);
  assert.deepEqual([ucr.ok, ucr.status, ucr.good], [true, 'inspect_physical', false], ucr.message);
});

test('declaration status proof: never recorded', () => {
  const key = stateKeyBytes({ kind: 'decision', record: D });
  const t = stateTree([[key, decisionValue()]]);
  const o = { format: 'clearance-status-proof', version: 1, chain_id: toHex(C), subject: { declaration: { declaration: { mrn: MRN }, member: 'KZ' } },
    status: t.absent, anchor: synHeader({ stateRoot: t.root }), validator_set_changes: [] };
  const r = verifyStatus(JSON.stringify(o), SYN_GENESIS);
  assert.deepEqual([r.ok, r.status, r.good, r.verdict?.status.decision], [true, 'not_recorded', false, null], r.message);
  assert.equal(r.headline, `NOT RECORDED: no decision of KZ on the declaration with MRN ${MRN} as of 2026-11-30 10:00 UTC (height 5, certified by KZ)`);
  // A decision section beside an absence fails at `decision`; `null` is the same as leaving it out.
  o.decision = { record: toHex(D), status: t.proofs[0] };
  expectFail(verifyStatus(JSON.stringify(o), SYN_GENESIS), 'decision');
  o.decision = null;
  assert.equal(verifyStatus(JSON.stringify(o), SYN_GENESIS).ok, true);
});

const declarationCases = [
  ['decision left out', 'decision', (o) => { delete o.decision; }],
  ['decision null', 'decision', (o) => { o.decision = null; }],
  ['decision.record another id', 'decision', (o) => { o.decision.record = toHex(D2); }],
  ['decision.status of the declaration entry', 'decision.proof', (o) => { o.decision.status = o.status; }],
  ['decision.status flipped sibling', 'decision.proof', (o) => { o.decision.status.proof.siblings[0] = flipHex(o.decision.status.proof.siblings[0]); }],
  ['decision.status value left out', 'decision.value', (o) => { delete o.decision.status.value; }],
  ['decision value a byte flipped', 'decision.value', (o) => { o.decision.status.value = b64edit(o.decision.status.value, (b) => { b[b.length - 2] ^= 1; }); }],
  ['status: the decision entry instead of the declaration', 'status.proof', (o) => { o.status = o.decision.status; }],
  ['recognition on a declaration', 'recognition', (o) => { o.recognition = { member: 'KZ' }; }],
  ['subject of another member', 'status.proof', (o) => { o.subject.declaration.member = 'DE'; }],
  ['subject by UCR', 'status.proof', (o) => { o.subject.declaration.declaration = { ucr: 'UCR-1' }; }],
  ['subject with an invalid MRN', 'parse', (o) => { o.subject.declaration.declaration = { mrn: MRN.slice(0, 17) + ((+MRN[17] + 1) % 10) }; }],
  ['subject with both MRN and UCR', 'parse', (o) => { o.subject.declaration.declaration = { mrn: MRN, ucr: 'UCR-1' }; }],
  ['subject with an unknown field', 'parse', (o) => { o.subject.declaration.office = 'KZ000001'; }],
  ['decision with an unknown field', 'parse', (o) => { o.decision.extra = 1; }],
];
for (const [name, step, f] of declarationCases) {
  test(`declaration status proof: ${name} → ${step}`, () => expectFail(verifyStatus(declarationFile({ f }), SYN_GENESIS), step));
}

test('declaration status proof: the decision is another member\'s, or on another declaration → decision.declaration', () => {
  expectFail(verifyStatus(declarationFile({ dval: decisionValue({ member: 'DE' }) }), SYN_GENESIS), 'decision.declaration');
  expectFail(verifyStatus(declarationFile({ dval: decisionValue({ mrn: null, ucr: 'UCR-1' }) }), SYN_GENESIS), 'decision.declaration');
  // Not a Decision value under the decision key: decision.value.
  expectFail(verifyStatus(declarationFile({ dval: recordValue(D) }), SYN_GENESIS), 'decision.value');
  // The declaration's entry is not a Record value: status.value.
  const t = stateTree([[stateKeyBytes({ kind: 'declaration', declaration: { mrn: MRN }, member: 'KZ' }), decisionValue()]]);
  const o = JSON.parse(declarationFile());
  o.status = t.proofs[0]; o.anchor = synHeader({ stateRoot: t.root });
  expectFail(verifyStatus(JSON.stringify(o), SYN_GENESIS), 'status.value');
});

test('a decision section on a certificate subject fails at decision', () => {
  const o = JSON.parse(VALID);
  o.decision = { record: toHex(D), status: o.status };
  expectFail(verifyStatus(JSON.stringify(o), GENESIS), 'decision');
  o.decision = null;
  assert.equal(verifyStatus(JSON.stringify(o), GENESIS).ok, true);
});

// ---- RECORD step 7 for `record` and `later[i]` (audit.md §3, §3.1 9a) ----

function evidenceTx({ seq, height = 3n, kind = 1, secondChain = C, badSecond = false }) {
  const v1 = voteBytes({ height, kind, block: D }), v2 = voteBytes({ chain: secondChain, height, kind, block: D2 });
  const s2 = sign(VAL_SK, 'clearance/v1/vote', v2);
  if (badSecond) s2[40] ^= 1;
  const body = new Writer().raw(C).raw(ed.getPublicKey(SUB_SK)).u64(seq).u32(12).string('KZ').u32(0)
    .bytes(v1).raw(sign(VAL_SK, 'clearance/v1/vote', v1)).bytes(v2).raw(s2).done();
  return new Writer().bytes(body).raw(sign(SUB_SK, 'clearance/v1/tx', body)).done();
}

/** A bundle of an evidence record with later records, all in one block that is also the anchor. */
function evidenceBundle(txs) {
  const leaves = txs.map(leafHash);
  // A tree of 2 leaves (RFC 9162): root = node(l0, l1); each path is the other leaf.
  const root = leaves.length === 1 ? leaves[0] : nodeHash(leaves[0], leaves[1]);
  const anchor = synHeader({ height: 4n, txCount: txs.length, txRoot: root, logSize: BigInt(txs.length), logRoot: root });
  const proof = (i) => ({ signed_tx: toBase64(txs[i]), block: anchor, tx_index: i, tx_path: leaves.length === 1 ? [] : [toHex(leaves[1 - i])],
    log_index: i, log_path: leaves.length === 1 ? [] : [toHex(leaves[1 - i])] });
  return JSON.stringify({ format: 'clearance-proof-bundle', version: 1, chain_id: toHex(C), record: proof(0),
    later: txs.slice(1).map((_, i) => proof(i + 1)), anchor, validator_set_changes: [] });
}

test('evidence: a verified evidence bundle, its summary line; height above the block selects the set, no failure', () => {
  const r = verifyBundle(evidenceBundle([evidenceTx({ seq: 1n, height: 99n })]), SYN_GENESIS);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.verdict.record.summary, 'KZ signed two conflicting precommits at height 99, round 0; reported by KZ');
  assert.equal(r.verdict.status, null);
  assert.ok(r.steps.some((x) => x.step === 'record.evidence'));
});

test('evidence in later[i] is checked: later[0].evidence for a bad message, else later[0].relation', () => {
  expectFail(verifyBundle(evidenceBundle([evidenceTx({ seq: 1n }), evidenceTx({ seq: 2n, badSecond: true })]), SYN_GENESIS), 'later[0].evidence', 'second');
  expectFail(verifyBundle(evidenceBundle([evidenceTx({ seq: 1n }), evidenceTx({ seq: 2n, kind: 0 })]), SYN_GENESIS), 'later[0].relation');
  expectFail(verifyBundle(evidenceBundle([evidenceTx({ seq: 1n, badSecond: true })]), SYN_GENESIS), 'record.evidence');
});

test('evidence: messages of two chains do not conflict, so the record fails at decode', () => {
  expectFail(verifyBundle(evidenceBundle([evidenceTx({ seq: 1n, secondChain: D2 })]), SYN_GENESIS), 'record.decode');
});

test('RECORD step 7: h\' = min(h, B.height) selects the set', () => {
  const other = makeSet([{ member: 'KZ', key: ed.getPublicKey(SUB_SK) }]);
  const ctx = { C, SETS: [{ from: 1n, set: S0 }, { from: 10n, set: other }], steps: [] };
  const tx = verifyTx('t', evidenceTx({ seq: 1n, height: 15n }), C);
  checkEvidence(ctx, 'record.evidence', tx.record, 8n); // min(15, 8) = 8: the genesis set, whose key signed
  assert.throws(() => checkEvidence(ctx, 'record.evidence', tx.record, 12n), (e) => e.step === 'record.evidence' && e.reason.includes('first'));
  const low = verifyTx('t', evidenceTx({ seq: 1n, height: 3n }), C);
  checkEvidence(ctx, 'record.evidence', low.record, 12n); // min(3, 12) = 3
});
