// The web application's entry: a router over the location's hash (#/network, #/search, #/record/<id>, #/feed,
// #/verify), so that every page has an address to bookmark and the browser's back button works.

import { api, h } from './ui.js';
import { networkPage } from './network.js';
import { searchPage } from './search.js';
import { recordPage } from './record.js';
import { feedPage } from './feed.js';
import { verifyPage } from './verify.js';

const PAGES = { network: networkPage, search: searchPage, record: recordPage, feed: feedPage, verify: verifyPage };

// A page may start timers or streams; it returns a function that stops them when another page opens.
let stop = null;

function route() {
  // `#main` (the skip link) and other in-page anchors are not routes.
  if (location.hash && !location.hash.startsWith('#/')) return;
  const [path, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...rest] = path.split('/');
  const page = Object.hasOwn(PAGES, name) ? name : 'network';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (stop) stop();
  const params = new URLSearchParams(query);
  let arg = rest.join('/');
  try { arg = decodeURIComponent(arg); } catch { /* a malformed escape: the page says what it cannot find */ }
  stop = PAGES[page](arg, params) ?? null;
  document.getElementById('main').focus({ preventScroll: true });
}

async function chainName() {
  try {
    const s = await api('/v1/status');
    document.getElementById('chain').replaceChildren(h('span', {}, `· ${s.chain_name} · node ${s.moniker}`));
  } catch { /* the network page says so */ }
}

window.addEventListener('hashchange', route);
route();
chainName();
