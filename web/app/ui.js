// Shared helpers of the web application: building elements (text only, never HTML from data), calling the
// node's API with errors people can read, and dates in the reader's time zone with UTC beside them.

/** An element: h('a', { href: '#/x' }, 'text', child…). Strings become text nodes, never markup. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the page's content. */
export function show(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat().filter(Boolean));
  return main;
}

/** An error the API answered with (`code` and `message`), or that the node could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** GET `path` on this node; `text: true` returns the body as text (a proof file must be verified as received). */
export async function api(path, { text = false } = {}) {
  let res;
  try {
    res = await fetch(path, { headers: { accept: 'application/json' } });
  } catch (e) {
    throw new ApiError(0, 'NODE_UNREACHABLE', `The node did not answer (${e.message}). Is it running?`);
  }
  const body = await res.text();
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = body.slice(0, 300) || res.statusText;
    try {
      const e = JSON.parse(body);
      code = e.code ?? code;
      message = e.message ?? message;
    } catch { /* not JSON: keep the text */ }
    throw new ApiError(res.status, code, message);
  }
  return text ? body : JSON.parse(body);
}

/** A notice for an error: what happened, in a sentence, with its code. */
export function errorNotice(e) {
  if (e instanceof ApiError) {
    const what = e.status === 404 ? 'Not found' : e.status === 0 ? 'Node unreachable' : 'The node refused the request';
    return h('div', { class: 'notice error', role: 'alert' }, h('strong', {}, `${what}: `), e.message, ' ',
      h('span', { class: 'muted mono' }, `(${e.code})`));
  }
  return h('div', { class: 'notice error', role: 'alert' }, h('strong', {}, 'Error: '), String(e?.message ?? e));
}

export const notice = (...text) => h('div', { class: 'notice', role: 'status' }, ...text);

/** A ledger timestamp ("2026-11-29T08:34:00.000Z") in the reader's time zone, with UTC beside it. */
export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const local = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  return `${local} (${iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '')} UTC)`;
}

export const shortId = (id) => (id ? `${id.slice(0, 8)}…${id.slice(-4)}` : '');
export const recordLink = (id) => h('a', { href: `#/record/${encodeURIComponent(id)}`, class: 'mono' }, shortId(id));

/** A kind of record, in words. */
export const KIND_WORDS = {
  certificate_issue: 'Certificate issued',
  certificate_amend: 'Certificate amended or replaced',
  certificate_revoke: 'Certificate revoked',
  clearance_decision: 'Clearance decision',
  aeo_status: 'AEO status',
  mra_propose: 'MRA proposed',
  mra_accept: 'MRA accepted',
  mra_withdraw: 'MRA withdrawn',
  submitter_key_register: 'Submitter key registered',
  submitter_key_revoke: 'Submitter key revoked',
  membership_propose: 'Membership change proposed',
  membership_approve: 'Membership change approved',
  evidence: 'Evidence of misbehaviour',
};
export const kindWords = (k) => (Object.hasOwn(KIND_WORDS, k) ? KIND_WORDS[k] : String(k).replaceAll('_', ' '));

/** A field name in words: "valid_until" → "Valid until". */
export const words = (k) => { const s = k.replaceAll('_', ' '); return s.charAt(0).toUpperCase() + s.slice(1); };

/** A line of a list of records: kind, member, time, link. */
export function recordRow(r) {
  return h('tr', {},
    h('td', {}, recordLink(r.id)),
    h('td', {}, kindWords(r.kind)),
    h('td', {}, r.member),
    h('td', { class: 'wide' }, `${r.height}`),
    h('td', {}, when(r.time)));
}

export function recordTable(records) {
  if (!records.length) return notice('No records.');
  return h('table', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Record'), h('th', {}, 'What'), h('th', {}, 'Member'),
      h('th', { class: 'wide' }, 'Height'), h('th', {}, 'Committed'))),
    h('tbody', {}, records.map(recordRow)));
}

/** A drop zone that also opens a file chooser (click, Enter or Space); calls `onfile(file)`. `name` names its input. */
export function dropZone(label, onfile, accept, name) {
  // Cleared after each file, so that the same file chosen again (after a revocation, say) is read again.
  const input = h('input', {
    type: 'file', hidden: true, accept, name,
    onchange: () => { const f = input.files[0]; input.value = ''; if (f) onfile(f); },
  });
  const zone = h('div', {
    class: 'drop', tabindex: 0, role: 'button', 'aria-label': label,
    onclick: () => input.click(),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } },
    ondragover: (e) => { e.preventDefault(); zone.classList.add('over'); },
    ondragleave: () => zone.classList.remove('over'),
    ondrop: (e) => { e.preventDefault(); zone.classList.remove('over'); const f = e.dataTransfer.files[0]; if (f) onfile(f); },
  }, label, input);
  return zone;
}

export const readBytes = async (file) => new Uint8Array(await file.arrayBuffer());

/** A status in words, green when it is one a script may accept. */
export function statusPill(status) {
  const good = ['valid', 'active', 'in_force', 'released'].includes(status);
  return h('span', { class: `pill ${good ? 'good' : 'bad'}` }, words(status ?? 'unknown'));
}
