// Entry points: the algorithms of audit.md §3.1 (bundle), §3.5 (status proof), §3.2 (checkpoint) and §3.3
// (extension). Each returns { ok, step, message, steps, ... } and never throws on bad input: a failure names the
// first failing step exactly as audit.md §4 does, because that name is what two implementations must agree on.

import { encodeUtf8, equalBytes, toHex } from './bytes.js';
import { sha256 } from './crypto.js';
import { stateKeyBytes } from './codec.js';
import { GenesisError, loadGenesis } from './genesis.js';
import { parseFile } from './files.js';
import { Fail, changesSubject, concerns, subjectOf } from './records.js';
import { certified, follow, record, status } from './procedures.js';
import { verifyConsistency, MAX_PATH } from './merkle.js';
import { headSummary, plain, recordSummary, renderVerdict, statusSummary, toJson } from './verdict.js';
import { fmtTimestamp } from './ids.js';

export const MAX_LATER_RECORDS = 64;
export { renderVerdict, plain, toJson };

const toBytes = (x) => (typeof x === 'string' ? encodeUtf8(x) : x);

/** Step 0 for every file kind. */
function start(genesisText) {
  const steps = [];
  let g;
  try { g = loadGenesis(genesisText); } catch (e) {
    throw new Fail('genesis', e instanceof GenesisError ? e.message : String(e.message));
  }
  let S0;
  try { S0 = g.makeS0(); } catch (e) { throw new Fail('genesis', `the genesis members do not form a validator set: ${e.message}`); }
  steps.push({ step: 'genesis', ok: true, detail: `chain ${g.chainName} ${toHex(g.chainId)}` });
  return { C: g.chainId, chainName: g.chainName, delay: g.delay, names: g.names, S0, SETS: [{ from: 1n, set: S0 }], steps };
}

function newSets(ctx) { ctx.SETS = [{ from: 1n, set: ctx.S0 }]; }

function chain(ctx, f) {
  if (!equalBytes(f.chain_id, ctx.C)) throw new Fail('chain', `the file is for chain ${toHex(f.chain_id)}, the genesis makes ${toHex(ctx.C)}`);
  ctx.steps.push({ step: 'chain', ok: true });
}

/** Runs `body`, turning a Fail into the failure result. Other exceptions are bugs and propagate. */
function run(genesisText, body) {
  let ctx = null;
  try {
    ctx = start(genesisText);
    return { ok: true, ...body(ctx), steps: ctx.steps };
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    const steps = ctx ? ctx.steps : [];
    steps.push({ step: e.step, ok: false, detail: e.reason });
    return { ok: false, step: e.step, message: e.reason, steps };
  }
}

function checkMaxAge(ctx, anchor, options) {
  if (options?.maxAgeMs === undefined || options.maxAgeMs === null) return;
  const now = BigInt(options.now ?? Date.now());
  const age = now - anchor.header.time;
  if (age > BigInt(options.maxAgeMs))
    throw new Fail('max-age', `the anchor is from ${fmtTimestamp(anchor.header.time)}, older than the maximum age of ${options.maxAgeMs / 1000} s`);
  ctx.steps.push({ step: 'max-age', ok: true });
}

function stateValueKind(S) { return { certificate: 'Certificate', aeo: 'Aeo', decision: 'Decision', declaration: 'Record' }[S.kind]; }

/**
 * audit.md §3.1. options: { document?: Uint8Array|string (the document file's bytes), maxAgeMs?, now? }.
 */
export function verifyBundle(bundleJsonText, genesisJsonText, options = {}) {
  return run(genesisJsonText, (ctx) => {
    const f = parseFile(toBytes(bundleJsonText), 'clearance-proof-bundle', ctx.steps);
    chain(ctx, f);
    const changes = follow(ctx, f.validator_set_changes);
    const A = certified(ctx, 'anchor', f.anchor);
    const rec = record(ctx, 'record', f.record, A);

    let document = null;
    if (options.document !== undefined && options.document !== null) {
      const r = rec.tx.record;
      if (r.kind !== 'certificate_issue' && r.kind !== 'certificate_amend') throw new Fail('document', `a ${r.kind} record commits to no document`);
      const d = sha256(toBytes(options.document));
      if (!equalBytes(d, r.content.certificate.document_sha256))
        throw new Fail('document', `the document's SHA-256 is ${toHex(d)}, the record commits to ${toHex(r.content.certificate.document_sha256)}`);
      document = { sha256: toHex(d), matches: true };
      ctx.steps.push({ step: 'document', ok: true });
    }

    if (f.later.length > MAX_LATER_RECORDS) throw new Fail('later', `${f.later.length} later records, at most ${MAX_LATER_RECORDS}`);
    ctx.steps.push({ step: 'later', ok: true, detail: `${f.later.length} later records` });
    const later = [];
    f.later.forEach((lr, i) => {
      const s = `later[${i}]`;
      const x = record(ctx, s, lr, A);
      const prev = i === 0 ? rec.log_index : later[i - 1].log_index;
      if (x.log_index <= prev) throw new Fail(`${s}.order`, `log index ${x.log_index} is not after ${prev}`);
      ctx.steps.push({ step: `${s}.order`, ok: true });
      if (!concerns(rec.tx.record, x.tx.record)) throw new Fail(`${s}.relation`, `a ${x.tx.record.kind} that does not concern the bundle's ${rec.tx.record.kind}`);
      ctx.steps.push({ step: `${s}.relation`, ok: true });
      later.push(x);
    });

    const S = subjectOf(rec.tx);
    let st = null;
    if (!S) {
      if (f.status !== null) throw new Fail('status', `a status section on a ${rec.tx.record.kind} record, which has no status`);
      ctx.steps.push({ step: 'status', ok: true, detail: 'no status for this kind' });
    } else {
      if (f.status === null) throw new Fail('status', `a ${rec.tx.record.kind} record without a status section`);
      ctx.steps.push({ step: 'status', ok: true });
      const v = status(ctx, 'status', f.status, stateKeyBytes(S), A.header.state_root);
      if (v && v.kind !== stateValueKind(S)) throw new Fail('status.value', `a ${v.kind} value for a ${S.kind} subject`);
      ctx.steps.push({ step: 'status.value', ok: true });
      if (!v) throw new Fail('status.absent', 'the proof shows no entry for the subject the record itself created');
      ctx.steps.push({ step: 'status.absent', ok: true });
      const all = [rec, ...later];
      const R = v.kind === 'Decision' ? v.superseded_by : v.record;
      let at = -1, setBy = null;
      if (R) {
        at = all.findIndex((x) => equalBytes(x.tx.id, R));
        if (at < 0 && later.length < MAX_LATER_RECORDS)
          throw new Fail('status.record', `the status was set by record ${toHex(R)}, which the bundle does not carry`);
        if (at >= 0) setBy = { member: all[at].tx.member, time: all[at].block.header.time };
      }
      ctx.steps.push({ step: 'status.record', ok: true });
      // The records after R: those after it in the file; for a decision in force (no R), and for an R that a full
      // `later` left out (older than every later record), every later record (audit.md §3.1 10e).
      const after = R && at >= 0 ? all.slice(at + 1) : later;
      const stale = after.find((x) => changesSubject(x.tx.record, S));
      if (stale) throw new Fail('status.stale', `the proven status predates record ${toHex(stale.tx.id)} (log index ${stale.log_index}), which changes it`);
      ctx.steps.push({ step: 'status.stale', ok: true });
      st = statusSummary(ctx, S, v, A, { setBy });
    }
    checkMaxAge(ctx, A, options);
    const verdict = {
      chain_id: toHex(ctx.C), chain_name: ctx.chainName, record: recordSummary(ctx, rec), document,
      later: later.map((x) => recordSummary(ctx, x)), anchor: headSummary(ctx, A), validator_set_changes: changes, status: st,
    };
    return { status: st?.status ?? null, good: st ? st.good : null, headline: st?.headline ?? null, verdict: plain(verdict), text: renderVerdict(verdict, 'bundle') };
  });
}

/** audit.md §3.5 (status proof file), steps 0 to 8, then `max-age`. options: { maxAgeMs?, now? }. */
export function verifyStatus(statusJsonText, genesisJsonText, options = {}) {
  return run(genesisJsonText, (ctx) => {
    const f = parseFile(toBytes(statusJsonText), 'clearance-status-proof', ctx.steps);
    chain(ctx, f);
    const changes = follow(ctx, f.validator_set_changes);
    const A = certified(ctx, 'anchor', f.anchor);
    const S = f.subject;
    const v = status(ctx, 'status', f.status, stateKeyBytes(S), A.header.state_root);
    if (v && v.kind !== stateValueKind(S)) throw new Fail('status.value', `a ${v.kind} value for a ${S.kind} subject`);
    ctx.steps.push({ step: 'status.value', ok: true });
    let recog = null;
    if (f.recognition) {
      if (S.kind !== 'aeo') throw new Fail('recognition', `a recognition section in a status proof of a ${S.kind}`);
      ctx.steps.push({ step: 'recognition', ok: true });
      const M = f.recognition.member;
      let viaMra = null;
      if (f.recognition.mra) {
        const m = f.recognition.mra;
        const mv = status(ctx, 'recognition', m.status, stateKeyBytes({ kind: 'mra', record: m.record }), A.header.state_root);
        if (!mv || mv.kind !== 'Mra') throw new Fail('recognition.value', mv ? `a ${mv.kind} value, not an MRA` : 'the proof shows no MRA');
        ctx.steps.push({ step: 'recognition.value', ok: true });
        if (mv.status !== 'active') throw new Fail('recognition.mra', `the MRA is ${mv.status}`);
        const parties = (mv.proposer === M && mv.partner === S.programme) || (mv.partner === M && mv.proposer === S.programme);
        if (!parties) throw new Fail('recognition.mra', `the MRA is between ${mv.proposer} and ${mv.partner}, not ${M} and ${S.programme}`);
        if (!v) throw new Fail('recognition.mra', 'there is no standing whose type the MRA could cover');
        if (!(mv.covers === 'both' || v.aeo_type === 'both' || mv.covers === v.aeo_type))
          throw new Fail('recognition.mra', `the MRA covers ${mv.covers}, the standing is ${v.aeo_type}`);
        ctx.steps.push({ step: 'recognition.mra', ok: true });
        viaMra = toHex(m.record);
      }
      const active = !!v && v.standing === 'active';
      recog = { member: M, recognised: active && (M === S.programme || viaMra !== null), via_mra: viaMra };
    }
    // Step 8: the decision a declaration's entry names (audit.md §3.5).
    let decision = null;
    if (f.decision && (S.kind !== 'declaration' || !v))
      throw new Fail('decision', S.kind !== 'declaration' ? `a decision section in a status proof of a ${S.kind}` : 'a decision section beside an absence proof');
    if (S.kind === 'declaration' && v) {
      if (!f.decision) throw new Fail('decision', `the declaration's entry names decision ${toHex(v.record)}, which the file does not show`);
      if (!equalBytes(f.decision.record, v.record))
        throw new Fail('decision', `the declaration's entry names decision ${toHex(v.record)}, the file shows ${toHex(f.decision.record)}`);
      ctx.steps.push({ step: 'decision', ok: true });
      const dv = status(ctx, 'decision', f.decision.status, stateKeyBytes({ kind: 'decision', record: v.record }), A.header.state_root);
      if (!dv || dv.kind !== 'Decision') throw new Fail('decision.value', dv ? `a ${dv.kind} value, not a decision` : 'the proof shows no decision');
      ctx.steps.push({ step: 'decision.value', ok: true });
      if (dv.member !== S.member) throw new Fail('decision.declaration', `the decision is ${dv.member}'s, not ${S.member}'s`);
      const id = S.declaration.mrn !== undefined ? ['mrn', S.declaration.mrn] : ['ucr', S.declaration.ucr];
      if (dv.declaration[id[0]] !== id[1])
        throw new Fail('decision.declaration', `the decision is on another declaration than ${id[0].toUpperCase()} ${id[1]}`);
      ctx.steps.push({ step: 'decision.declaration', ok: true });
      decision = dv;
    }
    checkMaxAge(ctx, A, options);
    const st = statusSummary(ctx, S, v, A, { recog, decision });
    const verdict = { chain_id: toHex(ctx.C), chain_name: ctx.chainName, status: st, validator_set_changes: changes };
    return { status: st.status, good: st.good, headline: st.headline, verdict: plain(verdict), text: renderVerdict(verdict, 'status') };
  });
}

function checkpointSteps(ctx, text) {
  const f = parseFile(toBytes(text), 'clearance-checkpoint', ctx.steps);
  chain(ctx, f);
  const changes = follow(ctx, f.validator_set_changes);
  const H = certified(ctx, 'head', f.head);
  const hd = H.header;
  if (f.height !== hd.height || f.log_size !== hd.log_size || !equalBytes(f.log_root, hd.log_root))
    throw new Fail('head.fields', 'height, log_size or log_root differ from the certified header');
  ctx.steps.push({ step: 'head.fields', ok: true });
  return { H, changes };
}

/** audit.md §3.2. */
export function verifyCheckpoint(checkpointJsonText, genesisJsonText) {
  return run(genesisJsonText, (ctx) => {
    const { H, changes } = checkpointSteps(ctx, checkpointJsonText);
    const verdict = { chain_id: toHex(ctx.C), chain_name: ctx.chainName, old: null, head: headSummary(ctx, H), validator_set_changes: changes };
    return { verdict: plain(verdict), text: renderVerdict(verdict, 'checkpoint') };
  });
}

/** audit.md §3.3: a kept checkpoint and a consistency proof. */
export function verifyExtension(checkpointJsonText, consistencyJsonText, genesisJsonText) {
  return run(genesisJsonText, (ctx) => {
    const { H: K } = checkpointSteps(ctx, checkpointJsonText);
    const p = parseFile(toBytes(consistencyJsonText), 'clearance-consistency-proof', ctx.steps);
    chain(ctx, p);
    newSets(ctx); // P's changes replace K's: they run from genesis to the new head
    const changes = follow(ctx, p.validator_set_changes);
    const O = certified(ctx, 'old', p.old);
    if (!equalBytes(O.hash, K.hash)) throw new Fail('old.header', 'the proof does not start at the kept checkpoint');
    ctx.steps.push({ step: 'old.header', ok: true });
    const N = certified(ctx, 'new', p.new);
    if (N.header.height === O.header.height && !equalBytes(N.hash, O.hash))
      throw new Fail('new.header', `two certified blocks at height ${N.header.height}`);
    if (N.header.height < O.header.height) throw new Fail('new.header', `the new head ${N.header.height} is below the kept ${O.header.height}`);
    ctx.steps.push({ step: 'new.header', ok: true });
    if (p.proof.length > MAX_PATH) throw new Fail('consistency', `a proof of ${p.proof.length} hashes, at most ${MAX_PATH}`);
    const bad = verifyConsistency(O.header.log_size, N.header.log_size, O.header.log_root, N.header.log_root, p.proof);
    if (bad) throw new Fail('consistency', bad);
    ctx.steps.push({ step: 'consistency', ok: true });
    const verdict = { chain_id: toHex(ctx.C), chain_name: ctx.chainName, old: headSummary(ctx, O), head: headSummary(ctx, N), validator_set_changes: changes };
    return { verdict: plain(verdict), text: renderVerdict(plain(verdict), 'extension') };
  });
}

/** Plain SHA-256 of a document (protocol.md §3.3), to compare with a record's document_sha256. */
export const documentSha256 = (bytes) => toHex(sha256(toBytes(bytes)));
