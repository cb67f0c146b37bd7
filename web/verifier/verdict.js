// Verdict objects (audit.md §5) and the human text of the CLI (audit.md §6, §7). Summaries and headlines are "not
// stable" in the reference; they follow the examples in audit.md as closely as the examples go.

import { toHex } from './bytes.js';
import { fmtMinute, fmtTimestamp } from './ids.js';
import { summarize } from './records.js';

export const signerList = (ctx, members) => members.map((m) => ({ member: m, name: ctx.names.get(m) ?? m }));

export function headSummary(ctx, h) {
  const hd = h.header;
  return {
    height: hd.height, time: fmtTimestamp(hd.time), block_hash: toHex(h.hash), log_size: hd.log_size,
    log_root: toHex(hd.log_root), signers: signerList(ctx, h.signers),
  };
}

export function recordSummary(ctx, r) {
  const { tx, block } = r;
  return {
    id: toHex(tx.id), kind: tx.record.kind, summary: summarize(tx.record), member: tx.member,
    member_name: ctx.names.get(tx.member) ?? tx.member, submitter: toHex(tx.body.submitter), sequence: tx.body.sequence,
    height: block.header.height, time: fmtTimestamp(block.header.time), log_index: r.log_index,
    signers: signerList(ctx, block.signers),
  };
}

export function subjectJson(S) {
  if (S.kind === 'certificate') return { certificate: { issuer: S.issuer, number: S.number } };
  if (S.kind === 'aeo') return { aeo: { operator: S.operator, programme: S.programme } };
  if (S.kind === 'declaration') return { declaration: { declaration: { ...S.declaration }, member: S.member } };
  return { decision: { record: toHex(S.record) } };
}

/** DECL of audit.md §5: `MRN <mrn>` or `UCR <ucr>`. */
const declLine = (d) => (d.mrn !== undefined ? `MRN ${d.mrn}` : `UCR ${d.ucr}`);

/** DESC of audit.md §5: the subject in words (also the second line of the CLI text, §6). */
export function subjectLine(S) {
  if (S.kind === 'certificate') return `certificate ${S.number} of ${S.issuer}`;
  if (S.kind === 'aeo') return `operator ${S.operator} in ${S.programme}'s AEO programme`;
  if (S.kind === 'declaration') return `decision of ${S.member} on the declaration with ${declLine(S.declaration)}`;
  return `clearance decision ${toHex(S.record)}`;
}

export const GOOD = new Set(['valid', 'active', 'in_force']);

/**
 * StatusSummary (audit.md §5) from the proven state value `v` (null: no entry). Options: `setBy` { member, time }
 * of the record that set a certificate's or AEO standing's status when the file carries it; `recog`
 * { member, recognised, via_mra } for an AEO standing asked with a member; `decision` the `Decision` state value
 * that a declaration's entry names.
 */
export function statusSummary(ctx, S, v, anchor, { setBy = null, recog = null, decision = null } = {}) {
  let status, record = null, replaced_by = null, superseded_by = null, decisionName = null;
  if (!v) status = 'not_recorded';
  else if (S.kind === 'certificate') { status = v.status; record = toHex(v.record); replaced_by = v.replaced_by ? { ...v.replaced_by } : null; }
  else if (S.kind === 'aeo') { status = v.standing; record = toHex(v.record); }
  else if (S.kind === 'declaration') {
    record = toHex(v.record);
    decisionName = decision.decision;
    status = decision.superseded_by ? 'superseded' : decision.decision;
    superseded_by = decision.superseded_by ? toHex(decision.superseded_by) : null;
  } else { status = v.superseded_by ? 'superseded' : 'in_force'; superseded_by = v.superseded_by ? toHex(v.superseded_by) : null; }
  // set_by/set_at only for a certificate's or AEO standing's record that the file carries (audit.md §5).
  if (!(S.kind === 'certificate' || S.kind === 'aeo') || !v) setBy = null;
  const good = recog ? recog.recognised : S.kind === 'declaration' ? status === 'released' : GOOD.has(status);
  const T = fmtMinute;
  const AS_OF = `as of ${T(anchor.header.time)} (height ${anchor.header.height}, certified by ${anchor.signers.join(', ')})`;
  const SET = setBy ? ` on ${T(setBy.time)} by ${setBy.member}` : '';
  const WORD = status.replaceAll('_', ' ').toUpperCase();
  let head;
  if (status === 'not_recorded') head = `NOT RECORDED: no ${subjectLine(S)} ${AS_OF}`;
  else if (S.kind === 'certificate' && status === 'replaced')
    head = `REPLACED${replaced_by ? ` by ${replaced_by.number} of ${replaced_by.issuer}` : ''}${SET}, ${AS_OF}`;
  else if (S.kind === 'declaration')
    head = `${WORD} by ${S.member} on the declaration with ${declLine(S.declaration)} (decision ${record.slice(0, 8)}), ${AS_OF}`;
  else if (S.kind === 'decision' && status === 'superseded') head = `SUPERSEDED by decision ${superseded_by}, ${AS_OF}`;
  else if (S.kind === 'aeo') {
    let REC = '';
    if (recog) {
      if (recog.recognised) REC = recog.via_mra ? `; recognised by ${recog.member} under MRA ${recog.via_mra.slice(0, 8)}` : `; recognised by ${recog.member}, its own programme`;
      else REC = status === 'active' ? `; NOT shown recognised by ${recog.member} (no active MRA covering it in this proof)` : `; not recognised by ${recog.member}`;
    }
    head = `AEO ${WORD} in ${S.programme}'s programme${SET}${REC}, ${AS_OF}`;
  } else if (good) head = `${WORD} ${AS_OF}`;
  else head = `${WORD}${SET}, ${AS_OF}`;
  return {
    subject: subjectJson(S), status, good, headline: head, subject_line: subjectLine(S), as_of: headSummary(ctx, anchor),
    record, set_by: setBy ? setBy.member : null, set_at: setBy ? fmtTimestamp(setBy.time) : null, replaced_by, superseded_by,
    recognised_by: recog ? recog.member : null, recognised: recog ? recog.recognised : null, via_mra: recog ? recog.via_mra : null,
    decision: decisionName,
  };
}

/**
 * Verdict values ready for JSON: u64 values (BigInt) up to 2^53 become numbers; larger ones stay BigInt, which
 * `toJson` writes as exact JSON numbers (audit.md §5: integers are JSON numbers, also above 2^53, never strings).
 */
export function plain(x) {
  if (typeof x === 'bigint') return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(x)) if (k !== 'subject_line') o[k] = plain(v);
    return o;
  }
  return x;
}

/** JSON text of a value that may hold BigInt (written as exact integers), like JSON.stringify otherwise. */
export function toJson(x) {
  if (typeof x === 'bigint') return x.toString();
  if (Array.isArray(x)) return `[${x.map((e) => (e === undefined ? 'null' : toJson(e))).join(',')}]`;
  if (x && typeof x === 'object') {
    const parts = [];
    for (const [k, v] of Object.entries(x)) if (v !== undefined) parts.push(`${JSON.stringify(k)}:${toJson(v)}`);
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(x);
}

const names = (l) => l.map((s) => `${s.name} (${s.member})`).join(', ');

function recordBlock(r, indent) {
  return [
    `${indent}${r.summary}`,
    `${indent}kind         ${r.kind}`,
    `${indent}record id    ${r.id}`,
    `${indent}recorded by  ${r.member_name} (${r.member})`,
    `${indent}committed    height ${r.height} at ${r.time}, log index ${r.log_index}`,
    `${indent}certified by ${names(r.signers)}`,
  ];
}

function changesLines(changes) {
  if (changes.length === 0) return ['members: the genesis set throughout'];
  const out = [`member changes (${changes.length}), each certified by the set before it:`];
  for (const c of changes) {
    out.push(`  from height ${c.height}: ${c.members.join(', ')} (adopted at height ${c.adopted_at}; announced and signed by ${c.certified_by.join(', ')})`);
    for (const a of c.adopted) out.push(`    ${a.change}: proposed by ${a.proposer}, approved by ${a.approved_by.join(', ')} (proposal ${a.proposal})`);
  }
  return out;
}

function statusLines(s) {
  const out = [s.headline, `  ${s.subject_line}`];
  if (s.record) out.push(`  set by record ${s.record}`);
  return out;
}

/** The text `clearance verify` prints for a verified bundle or status proof (audit.md §6). */
export function renderVerdict(v, kind) {
  const out = [];
  if (v.status) out.push(...statusLines(v.status), '');
  out.push(`${v.status ? 'proof VERIFIED' : 'VERIFIED'} on chain ${v.chain_name} (${v.chain_id})`);
  if (kind === 'bundle') {
    out.push('', 'record', ...recordBlock(v.record, '  '));
    out.push(v.document ? `  document     SHA-256 ${v.document.sha256} matches the record` : '  document     not checked (give --document FILE)');
    out.push('');
    if (v.later.length === 0) out.push('later changes: none up to the anchor');
    else { out.push(`later changes (${v.later.length}):`); for (const l of v.later) out.push('', ...recordBlock(l, '  ')); }
    out.push('');
  }
  out.push(...changesLines(v.validator_set_changes));
  const a = kind === 'bundle' || kind === 'status' ? v.anchor ?? v.status.as_of : v.head;
  if (kind === 'extension') out.push(`kept         height ${v.old.height} at ${v.old.time}, log size ${v.old.log_size}, root ${v.old.log_root}`);
  out.push(`${kind === 'bundle' || kind === 'status' ? 'anchor' : 'head  '}       height ${a.height} at ${a.time}, log size ${a.log_size}, root ${a.log_root}`);
  out.push(`             certified by ${names(a.signers)}`);
  return out.join('\n');
}
