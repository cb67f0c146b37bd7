// The network page: this node's view of the members, its head, and the latest blocks, refreshed every 2 s.

import { api, errorNotice, h, notice, shortId, show, when } from './ui.js';

const EVERY_MS = 2000;
const RECENT_BLOCKS = 8;

export function networkPage() {
  const heading = h('h1', {}, 'Network');
  const body = h('div', {}, notice('Loading…'));
  show(heading, body);
  let timer = null;
  let stopped = false;
  const blocks = new Map();
  const refresh = async () => {
    try {
      const [status, members] = await Promise.all([api('/v1/status'), api('/v1/members')]);
      const want = [];
      for (let height = status.height; height > 0 && want.length < RECENT_BLOCKS; height--) want.push(height);
      await Promise.all(want.filter((x) => !blocks.has(x)).map(async (x) => blocks.set(x, await api(`/v1/blocks/${x}`))));
      for (const x of [...blocks.keys()]) if (!want.includes(x)) blocks.delete(x);
      if (!stopped) body.replaceChildren(...render(status, members, want.map((x) => blocks.get(x))));
    } catch (e) {
      if (!stopped) body.replaceChildren(errorNotice(e));
    }
    if (!stopped) timer = setTimeout(refresh, EVERY_MS);
  };
  refresh();
  return () => { stopped = true; clearTimeout(timer); };
}

function render(status, members, blocks) {
  const connected = new Set(status.peers);
  const memberRows = members.members.map((m) => {
    const self = m.id === status.member;
    const state = self ? 'this node' : connected.has(m.peer_id) ? 'connected' : 'not connected';
    return h('tr', {},
      h('td', {}, h('strong', {}, m.id)),
      h('td', {}, m.name),
      h('td', {}, h('span', { class: `pill ${state === 'not connected' ? 'bad' : 'good'}` }, state)),
      h('td', { class: 'wide mono' }, shortId(m.peer_id)));
  });
  const blockRows = blocks.map((b) => h('tr', {},
    h('td', {}, `${b.height}`),
    h('td', {}, b.header.proposer),
    h('td', {}, `${b.header.tx_count}`),
    h('td', {}, when(b.header.time)),
    h('td', { class: 'wide mono' }, shortId(b.hash))));
  return [
    h('dl', { class: 'fields' },
      h('dt', {}, 'Chain'), h('dd', {}, `${status.chain_name} `, h('span', { class: 'mono muted' }, status.chain_id)),
      h('dt', {}, 'This node'), h('dd', {}, `${status.moniker}${status.member ? ` (member ${status.member})` : ''}`),
      h('dt', {}, 'Height'), h('dd', {}, `${status.height}`, status.syncing ? ' (catching up)' : ''),
      h('dt', {}, 'Head time'), h('dd', {}, when(status.head_time)),
      h('dt', {}, 'Records'), h('dd', {}, `${status.log_size}`),
      h('dt', {}, 'Peers'), h('dd', {}, `${status.peers.length}`),
      h('dt', {}, 'Pending transactions'), h('dd', {}, `${status.mempool_txs}`)),
    h('h2', {}, `Members (${members.members.length})`),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Member'), h('th', {}, 'Administration'),
      h('th', {}, 'Link'), h('th', { class: 'wide' }, 'Peer'))), h('tbody', {}, memberRows)),
    h('h2', {}, 'Latest blocks'),
    blocks.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Height'), h('th', {}, 'Proposer'),
      h('th', {}, 'Transactions'), h('th', {}, 'Time'), h('th', { class: 'wide' }, 'Hash'))), h('tbody', {}, blockRows))
      : notice('No blocks yet.'),
  ];
}
