// The search page: a certificate (issuer and number), an operator's AEO standing (and its recognition by a
// member), a declaration (MRN or UCR), a record id, or a document, hashed in this browser.

import { api, dropZone, errorNotice, h, notice, readBytes, recordLink, recordTable, show, statusPill } from './ui.js';
import { sha256 } from '../verifier/crypto.js';
import { toHex } from '../verifier/bytes.js';

const FORMS = {
  certificate: { label: 'Certificate', fields: [['issuer', 'Issuing member', 'KZ'], ['number', 'Certificate number', 'KZ-PC-2026-000123']] },
  operator: { label: 'Operator (AEO)', fields: [['operator', 'Operator id', 'KZ123456789012'], ['recognised_by', 'Recognised by member (optional)', 'DE']] },
  declaration: { label: 'Declaration', fields: [['mrn', 'MRN', '26KZ00000000000429'], ['ucr', 'or UCR', '']] },
  record: { label: 'Record id', fields: [['id', 'Record id (64 hex digits)', '']] },
  document: { label: 'Document', fields: [] },
};

let dropped = 0;

export function searchPage(_arg, params) {
  const kind = Object.hasOwn(FORMS, params.get('kind') ?? '') ? params.get('kind') : 'certificate';
  const results = h('div', { 'aria-live': 'polite' });
  const select = h('select', { name: 'kind', onchange: () => { location.hash = `#/search?kind=${select.value}`; } },
    Object.entries(FORMS).map(([k, f]) => h('option', { value: k, selected: k === kind }, f.label)));
  const inputs = FORMS[kind].fields.map(([name, label, example]) =>
    h('label', {}, label, h('input', { name, value: params.get(name) ?? '', placeholder: example, autocomplete: 'off' })));
  const form = h('form', {
    class: 'search', role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const q = new URLSearchParams({ kind });
      for (const input of form.querySelectorAll('input')) if (input.value.trim()) q.set(input.name, input.value.trim());
      location.hash = `#/search?${q}`;
    },
  }, h('label', {}, 'Find', select), inputs, kind === 'document' ? null : h('button', { type: 'submit' }, 'Search'));
  const parts = [h('h1', {}, 'Search'), form];
  if (kind === 'document') {
    parts.push(h('p', {}, 'Drop a document: this browser computes its SHA-256 and asks the node which records commit to it. The document itself is not sent.'),
      dropZone('Drop the document here, or press to choose a file', async (file) => {
        // Only the latest file's answer is shown, whichever answer arrives last.
        const mine = ++dropped;
        let digest;
        try { digest = toHex(sha256(await readBytes(file))); } catch (e) {
          results.replaceChildren(errorNotice(new Error(`${file.name} could not be read: ${e.message}`)));
          return;
        }
        if (mine !== dropped) return;
        results.replaceChildren(notice(`SHA-256 of ${file.name}: `, h('span', { class: 'mono' }, digest)));
        const found = await answer(() => documentResults(digest));
        if (mine === dropped) results.append(found);
      }, undefined, 'document'));
  }
  parts.push(results);
  show(...parts);
  if (kind !== 'document' && [...params.keys()].some((k) => k !== 'kind')) {
    results.replaceChildren(notice('Searching…'));
    answer(() => RESULTS[kind](params)).then((r) => results.replaceChildren(r));
  }
}

async function answer(f) {
  try { return await f(); } catch (e) { return errorNotice(e); }
}

const enc = encodeURIComponent;

const RESULTS = {
  async certificate(p) {
    const c = await api(`/v1/certificates/${enc(p.get('issuer') ?? '')}/${enc(p.get('number') ?? '')}`);
    return h('section', {},
      h('h2', {}, `Certificate ${c.number} of ${c.issuer}`),
      h('p', {}, 'Status (the node\'s answer; verify it to have it proven): ', statusPill(c.status),
        c.replaced_by ? [' by ', h('a', { href: `#/search?kind=certificate&issuer=${enc(c.replaced_by.issuer)}&number=${enc(c.replaced_by.number)}` }, c.replaced_by.number)] : null),
      h('p', {}, h('a', { href: `#/verify?issuer=${enc(c.issuer)}&number=${enc(c.number)}` }, 'Verify its status against the genesis file')),
      h('h2', {}, 'History'), recordTable(c.history));
  },
  async operator(p) {
    const op = enc(p.get('operator') ?? '');
    const by = p.get('recognised_by');
    // Recognition by the member asked for, or by every member: one answer per member.
    const members = by ? [by] : (await api('/v1/members')).members.map((m) => m.id);
    const views = await Promise.all(members.map((m) => api(`/v1/aeo/${op}?recognised_by=${enc(m)}`)));
    const a = views[0];
    const recognised = (i, programme) => views[i].programmes.find((x) => x.programme === programme)?.recognised;
    return h('section', {},
      h('h2', {}, `Operator ${a.operator}`),
      a.programmes.length ? h('table', {},
        h('thead', {}, h('tr', {}, h('th', {}, 'Programme'), h('th', {}, 'Standing'), h('th', {}, 'Type'),
          members.map((m) => h('th', {}, `Recognised by ${m}`)))),
        h('tbody', {}, a.programmes.map((x) => h('tr', {}, h('td', {}, x.programme), h('td', {}, statusPill(x.standing)),
          h('td', {}, x.aeo_type ?? ''), members.map((m, i) => h('td', {}, recognised(i, x.programme) ? 'yes' : 'no'))))))
        : notice('No AEO status recorded for this operator.'),
      h('p', { class: 'muted' }, 'Recognised: the member\u2019s own programme, or another under an active MRA between the two that covers the type; only an active standing is recognised.'),
      h('h2', {}, 'History'), recordTable(a.history));
  },
  async declaration(p) {
    const q = p.get('mrn') ? `mrn=${enc(p.get('mrn'))}` : `ucr=${enc(p.get('ucr') ?? '')}`;
    const d = await api(`/v1/declarations?${q}`);
    const current = Array.isArray(d.current) ? d.current : d.current ? [d.current] : [];
    return h('section', {},
      h('h2', {}, `Declaration ${p.get('mrn') ?? p.get('ucr')}`),
      current.length ? h('p', {}, 'Current decision: ', current.map((id) => [recordLink(id), ' '])) : null,
      h('h2', {}, 'Decisions'), recordTable(d.decisions));
  },
  async record(p) {
    location.hash = `#/record/${enc(p.get('id') ?? '')}`;
    return notice('Opening the record…');
  },
};

async function documentResults(digest) {
  const d = await api(`/v1/documents/${digest}`);
  if (!d.records.length) return notice('No record commits to this document on this node.');
  return h('section', {}, h('h2', {}, 'Records that commit to this document'), recordTable(d.records),
    h('p', {}, h('a', { href: '#/verify' }, 'Verify the document'), ' to have its status proven.'));
}
