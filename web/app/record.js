// A record's page: its fields in plain words, where it was committed, and links to what it concerns.

import { api, errorNotice, h, kindWords, notice, recordLink, recordTable, show, statusPill, when, words } from './ui.js';

const enc = encodeURIComponent;

export function recordPage(id) {
  const body = h('div', { 'aria-live': 'polite' }, notice('Loading…'));
  show(h('h1', {}, 'Record'), body);
  api(`/v1/records/${enc(id)}`)
    .then(async (r) => {
      body.replaceChildren(...render(r));
      const [kind, content] = Object.entries(r.record)[0];
      const status = h('section', { 'aria-live': 'polite' }, notice('Loading its status…'));
      body.append(status);
      try {
        status.replaceChildren(...await subjectStatus(r.id, kind, content));
      } catch (e) {
        status.replaceChildren(errorNotice(e));
      }
    })
    .catch((e) => body.replaceChildren(errorNotice(e)));
}

/** The current status and the history of what the record is about: its certificate, operator or declaration. */
async function subjectStatus(id, kind, c) {
  if (kind.startsWith('certificate_')) {
    const cert = c.certificate;
    const x = await api(`/v1/certificates/${enc(cert.issuer)}/${enc(cert.number)}`);
    return [h('h2', {}, `Status of certificate ${x.number}`),
      h('p', {}, statusPill(x.status), x.replaced_by ? [' by ', certLink(x.replaced_by, x.replaced_by.number)] : null),
      h('h2', {}, 'History'), recordTable(x.history)];
  }
  if (kind === 'aeo_status') {
    const x = await api(`/v1/aeo/${enc(c.operator)}`);
    return [h('h2', {}, `AEO standing of ${x.operator}`),
      h('p', {}, x.programmes.map((p) => [`${p.programme}'s programme: `, statusPill(p.standing), ' '])),
      h('h2', {}, 'History'), recordTable(x.history)];
  }
  if (kind === 'clearance_decision') {
    const q = c.declaration.mrn ? `mrn=${enc(c.declaration.mrn)}` : `ucr=${enc(c.declaration.ucr)}`;
    const x = await api(`/v1/declarations?${q}`);
    const current = x.current.includes(id);
    return [h('h2', {}, 'Status of this decision'),
      h('p', {}, statusPill(current ? 'in_force' : 'superseded'), current ? '' : [' — current: ', x.current.map((d) => [recordLink(d), ' '])]),
      h('h2', {}, 'Every decision on the declaration'), recordTable(x.decisions)];
  }
  return [];
}

function render(r) {
  const [kind, content] = Object.entries(r.record)[0];
  return [
    h('p', {}, h('strong', {}, kindWords(kind)), ` by ${r.member}, committed ${when(r.time)}`),
    h('dl', { class: 'fields' },
      h('dt', {}, 'Record id'), h('dd', { class: 'mono' }, r.id),
      h('dt', {}, 'Block'), h('dd', {}, `height ${r.height}, transaction ${r.index}, log index ${r.log_index}`),
      h('dt', {}, 'Submitted by key'), h('dd', { class: 'mono' }, r.submitter),
      fields(content)),
    h('h2', {}, 'Related'),
    h('ul', {}, related(kind, content).map((x) => h('li', {}, x))),
    h('p', {}, h('a', { href: `#/verify?record=${enc(r.id)}` }, 'Verify this record against the genesis file')),
  ];
}

/** Every field, nested objects flattened with their path, lists joined. */
function fields(obj, prefix = '') {
  const out = [];
  for (const [k, v] of Object.entries(obj)) {
    const name = prefix ? `${prefix} › ${words(k)}` : words(k);
    if (v === null || v === undefined) continue;
    if (Array.isArray(v) && v.some((x) => typeof x === 'object')) {
      v.forEach((x, i) => out.push(...fields(x, `${name} ${i + 1}`)));
    } else if (typeof v === 'object' && !Array.isArray(v)) {
      out.push(...fields(v, name));
    } else {
      const text = Array.isArray(v) ? v.join(', ') : String(v);
      out.push(h('dt', {}, name), h('dd', { class: /^[0-9a-f]{64}$/.test(text) ? 'mono' : null }, text));
    }
  }
  return out;
}

const certLink = (c, text) =>
  h('a', { href: `#/search?kind=certificate&issuer=${enc(c.issuer)}&number=${enc(c.number)}` }, text ?? `Certificate ${c.number} of ${c.issuer}`);
const operatorLink = (op) => h('a', { href: `#/search?kind=operator&operator=${enc(op)}` }, `Operator ${op}`);

function related(kind, c) {
  const out = [];
  if (c.certificate?.number) out.push(certLink(c.certificate));
  if (c.certificate?.issuer && c.certificate?.number === undefined) out.push(certLink(c.certificate));
  if (c.replaces) out.push(['Replaces ', certLink(c.replaces)]);
  for (const op of [c.operator, c.certificate?.exporter, c.certificate?.importer]) if (op) out.push(operatorLink(op));
  if (c.declaration?.mrn) out.push(h('a', { href: `#/search?kind=declaration&mrn=${enc(c.declaration.mrn)}` }, `Declaration MRN ${c.declaration.mrn}`));
  if (c.declaration?.ucr) out.push(h('a', { href: `#/search?kind=declaration&ucr=${enc(c.declaration.ucr)}` }, `Declaration UCR ${c.declaration.ucr}`));
  for (const lc of c.linked_certificates ?? []) out.push(['Linked: ', certLink(lc)]);
  for (const x of [c.supersedes, c.proposal, c.mra].filter((x) => typeof x === 'string')) out.push(['Refers to record ', recordLink(x)]);
  if (!out.length) out.push(`A ${kindWords(kind).toLowerCase()} record: nothing else on the ledger is linked from it.`);
  return out;
}
