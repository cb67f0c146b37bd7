// node --test: the worked example of audit.md §7 and tamperings, each expected at the step audit.md names.

import { test } from 'node:test';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { verifyBundle, verifyStatus, verifyCheckpoint, verifyExtension, documentSha256 } from './verify.js';
import { fromBase64, toBase64, fromHex, toHex, Writer } from './bytes.js';
import { decodeCertificate } from './codec.js';
import { message, verifySignature } from './crypto.js';
import { concerns, verifyTx } from './records.js';
import { leafHash, nodeHash, verifyConsistency, verifyInclusion } from './merkle.js';
import { dir, read, GENESIS, BUNDLE, VALID, ABSENT, DOC, edit, b64edit, flipHex, expectFail } from './support.js';


// ---- protocol.md §10 vectors, so a failure below can be told from a broken primitive ----

test('protocol.md §10.1 signature and §10.4 Merkle vectors', () => {
  const vote = fromHex('aa'.repeat(32) + '0100000000000000' + '00000000' + '01000000' + '01' + 'bb'.repeat(32) + '0200000000000000' + '4445', 91);
  const sig = fromHex('b46d5f3d57f93d33320c5b8331660b658ac72389fea044803c3e398c102e59ecf83eadeec26a90d7d1d066c4ab0f6e8d04cd31ab98de9e6fe7730500faee0d0e', 64);
  const pk = fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 32);
  assert.equal(verifySignature(pk, sig, message('clearance/v1/vote', vote)), null);
  // S + L is the classic malleation; the rule must refuse it (protocol.md §3.4 check 2).
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  let S = 0n; for (let i = 63; i >= 32; i--) S = (S << 8n) | BigInt(sig[i]);
  const s2 = sig.slice(); let x = S + L; for (let i = 32; i < 64; i++) { s2[i] = Number(x & 0xffn); x >>= 8n; }
  assert.equal(verifySignature(pk, s2, message('clearance/v1/vote', vote)), 'non-canonical S');
  // The identity point as a key is weak; its y = 1 encoding with the sign bit set is also non-canonical.
  const id = new Uint8Array(32); id[0] = 1;
  assert.equal(verifySignature(id, sig, vote), 'public key is weak');
  const e = (s) => new TextEncoder().encode(s);
  const [a, b, c] = ['a', 'b', 'c'].map((s) => leafHash(e(s)));
  const abc = nodeHash(nodeHash(a, b), c);
  assert.equal(toHex(abc), '36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1');
  assert.equal(verifyInclusion(c, 2n, 3n, [nodeHash(a, b)], abc), null);
  assert.equal(verifyConsistency(1n, 3n, a, abc, [b, c]), null);
  assert.equal(verifyConsistency(2n, 3n, nodeHash(a, b), abc, [c]), null);
});

// ---- audit.md §7: the three example files ----

test('bundle.json verifies: REVOKED, exit-3 kind of verdict, document matches', () => {
  const r = verifyBundle(BUNDLE, GENESIS, { document: DOC });
  assert.equal(r.ok, true, r.message);
  assert.equal(r.status, 'revoked');
  assert.equal(r.good, false);
  assert.equal(r.headline, 'REVOKED on 2026-11-30 13:55 UTC by KZ, as of 2026-11-30 13:55 UTC (height 34, certified by CN, DE, TJ)');
  const v = r.verdict;
  assert.equal(v.chain_id, '403698af97e999541ea23be069d3b23154d6a12cc58f0acce352740f4d490844');
  assert.equal(v.record.id, '778c7325081c15a618153be5fd70498f9c31fd181a0f0a483b0bece0e4e61bb0');
  assert.equal(v.record.height, 2);
  assert.deepEqual(v.record.signers.map((s) => s.member), ['CN', 'DE', 'UZ']);
  assert.equal(v.document.sha256, 'cba1c16035eca5706eb4e0af22c99b94c1f2b76278497aa8e93f2d0ba8a96223');
  assert.equal(v.later.length, 1);
  assert.equal(v.later[0].id, 'c9a6ccf57e79bc6543c919709fe2735e6921acc2acc0f880bfaa8fc22423acf8');
  assert.equal(v.later[0].log_index, 31);
  assert.equal(v.status.record, 'c9a6ccf57e79bc6543c919709fe2735e6921acc2acc0f880bfaa8fc22423acf8');
  assert.deepEqual(v.validator_set_changes.map((c) => [c.height, c.adopted_at, c.members.join(','), c.certified_by.join(',')]), [
    [7, 5, 'CN,DE,KZ,TJ,UZ', 'CN,KZ,UZ'], [14, 12, 'CN,DE,KZ,TJ', 'CN,DE,KZ,TJ'], [20, 18, 'CN,DE,KZ,TJ', 'CN,DE,KZ']]);
  assert.deepEqual(v.validator_set_changes.map((c) => c.adopted[0].approved_by.join(',')), ['CN,DE,KZ', 'CN,DE,KZ,TJ', 'CN,DE,KZ']);
  assert.equal(v.anchor.height, 34);
  assert.equal(v.anchor.log_size, 32);
  assert.equal(v.anchor.log_root, '50d3969f7380b5957ed408eeac528690ce54c38a94e0fb78e8678e104fea4a23');
  assert.deepEqual(v.anchor.signers.map((s) => `${s.member}:${s.name}`), [
    'CN:General Administration of Customs of China', 'DE:German Customs Administration', 'TJ:TJ']);
  assert.equal(documentSha256(DOC), v.document.sha256);
});

test('bundle.json text output equals the one quoted in audit.md §7', () => {
  const doc = fs.readFileSync(fileURLToPath(new URL('../../docs/audit.md', import.meta.url)), 'utf8');
  const start = doc.indexOf('REVOKED on 2026-11-30');
  const endMark = '             certified by General Administration of Customs of China (CN), German Customs Administration (DE), TJ (TJ)';
  const quoted = doc.slice(start, doc.indexOf(endMark, start) + endMark.length);
  assert.equal(verifyBundle(BUNDLE, GENESIS, { document: DOC }).text, quoted);
});

test('status-valid.json verifies: VALID', () => {
  const r = verifyStatus(VALID, GENESIS);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.status, 'valid');
  assert.equal(r.good, true);
  assert.equal(r.headline, 'VALID as of 2026-11-30 13:55 UTC (height 34, certified by CN, DE, TJ)');
  assert.equal(r.verdict.status.record, 'c67764620fb1045f7b6e8b9e502e441c83df88fce3d9bc234763e264b5c5b7cd');
  assert.ok(r.text.startsWith('VALID as of 2026-11-30 13:55 UTC (height 34, certified by CN, DE, TJ)\n  certificate KZ-PC-2026-000006 of KZ\n  set by record c67764620fb1045f7b6e8b9e502e441c83df88fce3d9bc234763e264b5c5b7cd\n'));
});

test('status-absent.json verifies: NOT RECORDED', () => {
  const r = verifyStatus(ABSENT, GENESIS);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.status, 'not_recorded');
  assert.equal(r.good, false);
  assert.ok(r.text.startsWith('NOT RECORDED: no certificate KZ-PC-2026-999999 of KZ as of 2026-11-30 13:55 UTC (height 34, certified by CN, DE, TJ)\n  certificate KZ-PC-2026-999999 of KZ\n'));
});

// ---- audit.md §7 failure table, row by row ----

const bundleCases = [
  ['change a base64 character of record.signed_tx', 'record.decode', null, (o) => {
    const s = o.record.signed_tx, i = 200; o.record.signed_tx = s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  }],
  ['change a hex digit of record.log_path', 'record.log-inclusion', null, (o) => { o.record.log_path[1] = flipHex(o.record.log_path[1]); }],
  // audit.md §7 quotes "8bf9…1d87" and "44c0…b380": stale values from an earlier run of the example (README, spec gaps).
  ['delete the last validator-set change', 'anchor.certificate', 'header names validator set 4641…0bb6, the set given hashes to 0995…73e4',
    (o) => { o.validator_set_changes.pop(); }],
  ['set validator_set_changes[0].height to 8', 'validator-set[0].proof.header', 'the proof is the header of height 6; a set taking effect at 8 is announced by height 7',
    (o) => { o.validator_set_changes[0].height = 8; }],
  ['give change 1 the set of change 2', 'validator-set[1].set', null, (o) => { o.validator_set_changes[1].validator_set = o.validator_set_changes[2].validator_set; }],
  ["delete DE's approval of TJ", 'validator-set[0].adopted[0].quorum', '2 counted approvals (CN, KZ) of the 4 members in force at the adopting height; adoption needs 3',
    (o) => { o.validator_set_changes[0].adopted[0].approvals.shift(); }],
  ['delete the approval that adopted TJ', 'validator-set[0].adopted[0].block', 'its last record is at log index 2; the adopting block of height 5 appended log entries 3 to 3',
    (o) => { o.validator_set_changes[0].adopted[0].approvals.pop(); }],
  ['give change 2 the adopting header of change 1', 'validator-set[2].adopting.header', 'the header of height 12; a set taking effect at 20 is adopted at height 18',
    (o) => { o.validator_set_changes[2].adopting = o.validator_set_changes[1].adopting; }],
  ['empty adopted list', 'validator-set[2].adopted', null, (o) => { o.validator_set_changes[2].adopted = []; }],
  ['leave out the revocation', 'status.record', null, (o) => { o.later = []; }],
  ['delete status', 'status', null, (o) => { delete o.status; }],
  ['the status of status-absent.json', 'status.proof', null, (o) => { o.status = JSON.parse(ABSENT).status; }],
  // The brief's tamperings.
  ['flip a byte of the record signature', 'record.decode', 'signature', (o) => { o.record.signed_tx = b64edit(o.record.signed_tx, (b) => { b[b.length - 40] ^= 1; }); }],
  ['flip a byte of a precommit signature of the anchor', 'anchor.certificate', 'does not verify', (o) => {
    o.anchor.certificate = b64edit(o.anchor.certificate, (b) => { b[b.length - 10] ^= 1; });
  }],
  ['flip a byte of a later record signature', 'later[0].decode', null, (o) => { o.later[0].signed_tx = b64edit(o.later[0].signed_tx, (b) => { b[b.length - 1] ^= 0x20; }); }],
  ['flip a byte of the anchor header (its log_root)', 'anchor.certificate', 'hashes to', (o) => { o.anchor.header = b64edit(o.anchor.header, (b) => { b[170] ^= 1; }); }],
  ['flip a hash byte of the status terminal', 'status.proof', null, (o) => { o.status.proof.terminal.present.value = flipHex(o.status.proof.terminal.present.value); }],
  ['flip a status sibling hash', 'status.proof', null, (o) => { o.status.proof.siblings[3] = flipHex(o.status.proof.siblings[3]); }],
  ['flip a byte of the status value', 'status.value', null, (o) => { o.status.value = b64edit(o.status.value, (b) => { b[10] ^= 1; }); }],
  ['change the height in the anchor header', 'anchor.certificate', null, (o) => { o.anchor.header = b64edit(o.anchor.header, (b) => { b[32] ^= 1; }); }],
  ['change later[0].log_index', 'later[0].block.header', null, (o) => { o.later[0].log_index = 30; }],
  ['change record.tx_index', 'record.tx-inclusion', null, (o) => { o.record.tx_index = 1; }],
  ['drop a signer from the anchor certificate', 'anchor.certificate', '2 signers of 4; a quorum is 3', (o) => { o.anchor.certificate = dropPrecommit(o.anchor.certificate); }],
  ['drop a signer from the announcing header of change 0', 'validator-set[0].proof.certificate', null, (o) => {
    o.validator_set_changes[0].proof.certificate = dropPrecommit(o.validator_set_changes[0].proof.certificate);
  }],
  ['swap two record.log_path siblings', 'record.log-inclusion', null, (o) => { const p = o.record.log_path; [p[0], p[1]] = [p[1], p[0]]; }],
  ['swap two status siblings', 'status.proof', null, (o) => { const p = o.status.proof.siblings; [p[0], p[1]] = [p[1], p[0]]; }],
  ['swap approvals of change 0', 'validator-set[0].adopted[0].approvals[1].order', null, (o) => { o.validator_set_changes[0].adopted[0].approvals.reverse(); }],
  ['later record repeated', 'later[1].order', null, (o) => { o.later.push(o.later[0]); }],
  ['path longer than 64', 'record.log-inclusion', 'at most 64', (o) => { o.record.log_path = new Array(65).fill(o.record.log_path[0]); }],
  ['another chain id', 'chain', null, (o) => { o.chain_id = flipHex(o.chain_id); }],
  ['wrong format', 'format', null, (o) => { o.format = 'clearance-checkpoint'; }],
  ['version 2', 'format', null, (o) => { o.version = 2; }],
  ['unknown field', 'parse', null, (o) => { o.extra = 1; }],
  ['uppercase hex is accepted', null, null, (o) => { o.chain_id = o.chain_id.toUpperCase(); }],
];

function dropPrecommit(certB64) {
  const c = decodeCertificate(fromBase64(certB64));
  const w = new Writer().u64(c.height).u32(c.round).raw(c.block_hash);
  w.vec(c.precommits.slice(1), (x, p) => x.bytes(p.vote).raw(p.signature));
  return toBase64(w.done());
}

for (const [name, step, reason, f] of bundleCases) {
  test(`bundle tampering: ${name}`, () => {
    const r = verifyBundle(edit(BUNDLE, f), GENESIS);
    if (step === null) { assert.equal(r.ok, true, r.message); return; }
    expectFail(r, step, reason);
  });
}

// The example carries no record with a block proof that is about another subject, so step 9c is tested directly.
test('step 9c relation: a membership record does not concern a certificate issue; the revocation does', () => {
  const o = JSON.parse(BUNDLE);
  const issue = verifyTx('t', fromBase64(o.record.signed_tx), fromHex(o.chain_id, 32));
  const revoke = verifyTx('t', fromBase64(o.later[0].signed_tx), fromHex(o.chain_id, 32));
  const prop = verifyTx('t', fromBase64(o.validator_set_changes[0].adopted[0].proposal.signed_tx), fromHex(o.chain_id, 32));
  assert.equal(concerns(issue.record, revoke.record), true);
  assert.equal(concerns(issue.record, prop.record), false);
  assert.equal(concerns(prop.record, issue.record), false);
});

test('bundle: repeated field is a parse failure, not last-one-wins', () => {
  const text = BUNDLE.replace('"version": 1,', '"version": 1,\n  "version": 1,');
  expectFail(verifyBundle(text, GENESIS), 'parse');
});

test('bundle: non-canonical base64 padding bits are refused at parse', () => {
  const o = JSON.parse(BUNDLE);
  const s = o.status.value; // ends with "=": the last data character has 2 unused bits
  const i = s.length - 2;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  o.status.value = s.slice(0, i) + alphabet[alphabet.indexOf(s[i]) | 1] + s.slice(i + 1);
  expectFail(verifyBundle(JSON.stringify(o), GENESIS), 'parse');
});

test('bundle: wrong document fails at step document', () => {
  expectFail(verifyBundle(BUNDLE, GENESIS, { document: 'certificate 2' }), 'document');
});

test('bundle: --max-age refuses an old anchor', () => {
  const now = Date.parse('2026-12-01T00:00:00Z');
  expectFail(verifyBundle(BUNDLE, GENESIS, { maxAgeMs: 3600e3, now }), 'max-age');
  assert.equal(verifyBundle(BUNDLE, GENESIS, { maxAgeMs: 86400e3, now }).ok, true);
});

test('bundle: over 4 MiB fails at parse before JSON', () => {
  expectFail(verifyBundle(BUNDLE + ' '.repeat(4194304), GENESIS), 'parse');
});

test('wrong genesis: another chain', () => {
  const g = edit(GENESIS, (o) => { o.chain_name = 'another-chain'; });
  expectFail(verifyBundle(BUNDLE, g), 'chain');
});

// ---- status proof files ----

const statusCases = [
  ['valid: flip a byte of the value', VALID, 'status.value', (o) => { o.status.value = b64edit(o.status.value, (b) => { b[8] ^= 1; }); }],
  ['valid: drop the value', VALID, 'status.value', (o) => { delete o.status.value; }],
  ['valid: ask about another certificate', VALID, 'status.proof', (o) => { o.subject.certificate.number = 'KZ-PC-2026-000007'; }],
  ['valid: swap siblings', VALID, 'status.proof', (o) => { const p = o.status.proof.siblings; [p[0], p[1]] = [p[1], p[0]]; }],
  ['absent: add a value', ABSENT, 'status.value', (o) => { o.status.value = JSON.parse(VALID).status.value; }],
  ['absent: other key flipped', ABSENT, 'status.proof', (o) => { o.status.proof.terminal.other.key = flipHex(o.status.proof.terminal.other.key, 60); }],
  ['absent: the other key is the asked path', ABSENT, 'status.proof', (o) => { o.status.proof.terminal = 'empty'; }],
  ['absent: recognition on a certificate', ABSENT, 'recognition', (o) => { o.recognition = { member: 'DE' }; }],
  ['absent: an invalid country code in the subject', ABSENT, 'parse', (o) => { o.subject.certificate.issuer = 'UK'; }],
  ['valid: drop a signer of the anchor', VALID, 'anchor.certificate', (o) => { o.anchor.certificate = dropPrecommit(o.anchor.certificate); }],
  ['valid: drop the last validator-set change', VALID, 'anchor.certificate', (o) => { o.validator_set_changes.pop(); }],
  // audit.md §2.1: the whole file is read into the expected shape first, so a file of another kind fails at parse.
  ['valid: a bundle given as a status proof', BUNDLE, 'parse', () => {}],
];

for (const [name, base, step, f] of statusCases) {
  test(`status tampering: ${name}`, () => expectFail(verifyStatus(edit(base, f), GENESIS), step));
}

test('a bundle given as a checkpoint fails at parse (its fields differ), not at format', () => {
  expectFail(verifyCheckpoint(BUNDLE, GENESIS), 'parse');
});

test('an invalid genesis fails at step genesis', () => {
  const g = edit(GENESIS, (o) => { o.members[1].validator_key = o.members[0].validator_key; });
  expectFail(verifyBundle(BUNDLE, g), 'genesis');
});

// There is no example checkpoint or consistency proof in docs/audit-example; build them from the bundle's anchor.
test('checkpoint and extension built from the example anchor', () => {
  const o = JSON.parse(BUNDLE);
  const cp = { format: 'clearance-checkpoint', version: 1, chain_id: o.chain_id, height: 34, log_size: 32,
    log_root: '50d3969f7380b5957ed408eeac528690ce54c38a94e0fb78e8678e104fea4a23', head: o.anchor, validator_set_changes: o.validator_set_changes };
  const r = verifyCheckpoint(JSON.stringify(cp), GENESIS);
  assert.equal(r.ok, true, r.message);
  expectFail(verifyCheckpoint(JSON.stringify({ ...cp, log_size: 33 }), GENESIS), 'head.fields');
  const cons = { format: 'clearance-consistency-proof', version: 1, chain_id: o.chain_id, old: o.anchor, new: o.anchor, proof: [], validator_set_changes: o.validator_set_changes };
  assert.equal(verifyExtension(JSON.stringify(cp), JSON.stringify(cons), GENESIS).ok, true);
  expectFail(verifyExtension(JSON.stringify(cp), JSON.stringify({ ...cons, proof: [cp.log_root] }), GENESIS), 'consistency');
  // Left out, validator_set_changes reads as []: the anchor is then checked against the genesis set and fails.
  const { validator_set_changes: _, ...bare } = cp;
  expectFail(verifyCheckpoint(JSON.stringify(bare), GENESIS), 'head.certificate');
});
