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
    id: toHex(tx.id), kind: tx.record.kind, summary: r.evidenceLine ?? summarize(tx.record), member: tx.member,
    member_name: ctx.names.get(tx.member) ?? tx.member, submitter: toHex(tx.body.submitter), sequence: tx.body.sequence,
    height: block.header.height, time: fmtTimestamp(block.header.time), log_index: r.log_index,
    signers: signerList(ctx, block.signers),
  };
}

export function subjectJson(S) {
  if (S.kind === 'certificate') return { certificate: { issuer: S.issuer, number: S.number } };
  if (S.kind === 'aeo') return { aeo: { operator: S.operator, programme: S.programme } };
  return { decision: { record: toHex(S.record) } };
}

function subjectLine(S) {
  if (S.kind === 'certificate') return `certificate ${S.number} of ${S.issuer}`;
  if (S.kind === 'aeo') return `operator ${S.operator} in the AEO programme of ${S.programme}`;
  return `decision ${toHex(S.record)}`;
}

export const GOOD = new Set(['valid', 'active', 'in_force']);

/**
 * StatusSummary from the proven state value `v` (null: no entry). `setBy` is { member, time } of the record that
 * set the status when the file carries it. `recog` is { member, recognised, via_mra } or null.
 */
export function statusSummary(ctx, S, v, anchor, setBy, recog) {
  let status, record = null, replaced_by = null, superseded_by = null;
  if (!v) status = 'not_recorded';
  else if (v.kind === 'Certificate') { status = v.status; record = toHex(v.record); replaced_by = v.replaced_by ? { ...v.replaced_by } : null; }
  else if (v.kind === 'Aeo') { status = v.standing; record = toHex(v.record); }
  else { status = v.superseded_by ? 'superseded' : 'in_force'; superseded_by = v.superseded_by ? toHex(v.superseded_by) : null; }
  const good = recog ? recog.recognised : GOOD.has(status);
  const asOf = `as of ${fmtMinute(anchor.header.time)} (height ${anchor.header.height}, certified by ${anchor.signers.join(', ')})`;
  let head;
  if (status === 'not_recorded') {
    const what = S.kind === 'certificate' ? `certificate ${S.number} of ${S.issuer}`
      : S.kind === 'aeo' ? `AEO standing of ${S.operator} in the programme of ${S.programme}` : `decision ${toHex(S.record)}`;
    head = `NOT RECORDED: no ${what} ${asOf}`;
  } else {
    const word = status.replace('_', ' ').toUpperCase();
    const by = status === 'replaced' ? ` by ${replaced_by.number} of ${replaced_by.issuer}`
      : status === 'superseded' ? ` by ${superseded_by}` : '';
    const on = !GOOD.has(status) && setBy && status !== 'replaced' && status !== 'superseded' ? ` on ${fmtMinute(setBy.time)} by ${setBy.member}` : '';
    head = `${word}${by}${on}${by || on ? ',' : ''} ${asOf}`;
  }
  if (recog) head += recog.recognised ? `; recognised by ${recog.member}` : `; not shown to be recognised by ${recog.member}`;
  return {
    subject: subjectJson(S), status, good, headline: head, subject_line: subjectLine(S), as_of: headSummary(ctx, anchor),
    record, set_by: setBy ? setBy.member : null, set_at: setBy ? fmtTimestamp(setBy.time) : null, replaced_by, superseded_by,
    recognised_by: recog ? recog.member : null, recognised: recog ? recog.recognised : null, via_mra: recog ? recog.via_mra : null,
  };
}

/** BigInt → number (or string beyond 2^53), so JSON.stringify works and u64 values stay exact. */
export function plain(x) {
  if (typeof x === 'bigint') return x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString();
  if (Array.isArray(x)) return x.map(plain);
  if (x && typeof x === 'object') {
    const o = {};
    for (const [k, v] of Object.entries(x)) if (k !== 'subject_line') o[k] = plain(v);
    return o;
  }
  return x;
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
