// The live feed: records as they are committed (the node's event stream), filtered by member, kind and operator.

import { KIND_WORDS, h, kindWords, notice, recordLink, show, when } from './ui.js';

const KEEP = 200;

export function feedPage(_arg, params) {
  const list = h('ul', { class: 'feed', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  const state = h('p', { role: 'status', class: 'muted' }, 'Connecting…');
  const field = (name, label, control) => h('label', {}, label, control);
  const member = h('input', { name: 'member', value: params.get('member') ?? '', placeholder: 'KZ', size: 4 });
  const operator = h('input', { name: 'operator', value: params.get('operator') ?? '', placeholder: 'KZ123456789012' });
  const kind = h('select', { name: 'kind' }, h('option', { value: '' }, 'Any kind'),
    Object.entries(KIND_WORDS).map(([k, w]) => h('option', { value: k, selected: params.get('kind') === k }, w)));
  const form = h('form', {
    class: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const [k, el] of [['member', member], ['kind', kind], ['operator', operator]]) if (el.value.trim()) q.set(k, el.value.trim());
      location.hash = `#/feed?${q}`;
    },
  }, field('member', 'Member', member), field('kind', 'Kind', kind), field('operator', 'Operator', operator),
  h('button', { type: 'submit' }, 'Filter'));
  show(h('h1', {}, 'Live feed'), form, state, list);

  const q = new URLSearchParams();
  for (const k of ['member', 'kind', 'operator']) if (params.get(k)) q.set(k, params.get(k));
  const source = new EventSource(`/v1/events${q.size ? `?${q}` : ''}`);
  source.onopen = () => { state.textContent = 'Connected: new records appear here as they are committed.'; };
  source.onerror = () => {
    // A refused request (a filter the node does not accept) closes the stream for good; a dropped one retries.
    state.textContent = source.readyState === EventSource.CLOSED
      ? 'The node refused this stream: check the filters (a member is a two-letter code, an operator an operator id).'
      : 'The node\'s event stream is not reachable; retrying…';
  };
  const add = (e) => {
    let r;
    try { r = JSON.parse(e.data); } catch { return; }
    list.prepend(h('li', {}, recordLink(r.id), ' ', h('strong', {}, kindWords(r.kind)), ` by ${r.member}`,
      h('span', { class: 'muted' }, ` · height ${r.height} · ${when(r.time)}`)));
    while (list.children.length > KEEP) list.lastChild.remove();
  };
  for (const k of Object.keys(KIND_WORDS)) source.addEventListener(k, add);
  source.addEventListener('lagged', (e) => {
    let missed = '?';
    try { missed = JSON.parse(e.data).missed; } catch { /* still say it */ }
    list.prepend(h('li', {}, notice(`This page fell behind and missed ${missed} records.`)));
  });
  return () => source.close();
}
