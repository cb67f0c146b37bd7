// The verify page: a document (and optionally a bundle saved earlier) verified in this browser, against the genesis
// file the user loaded and pinned, never one fetched from the node. The verifier is web/verifier, the second,
// independent implementation of docs/audit.md. (This page's code itself comes from the node: the footer says so,
// and points to the CLI for a check that trusts no node at all.)

import { api, dropZone, errorNotice, h, notice, readBytes, show, when } from './ui.js';
import { verifyBundle, verifyStatus } from '../verifier/verify.js';
import { loadGenesis } from '../verifier/genesis.js';
import { sha256, verifySignature } from '../verifier/crypto.js';
import { fromHex, toHex } from '../verifier/bytes.js';

const PINNED = 'clearance.genesis';
const enc = encodeURIComponent;
// A proof fetched from the node now must be recent: an older anchor is a node replaying old news (a bundle from
// before a revocation). A saved bundle has no such limit; its verdict says as of when.
const FETCHED_MAX_AGE_MS = 10 * 60 * 1000;

// Each verification started here gets a number; only the latest one may write its verdict, whichever finishes
// last (a slow answer for an earlier document must not replace a later document's verdict).
let latest = 0;

export function verifyPage(_arg, params) {
  const genesisBox = h('section', { 'aria-label': 'Genesis file' });
  const result = h('section', { 'aria-live': 'polite', 'aria-label': 'Verdict' });
  let documentFile = null;
  let bundleFile = null;
  const what = h('p', { class: 'muted' });
  const clear = h('button', {
    type: 'button', class: 'secondary', hidden: true,
    onclick: () => { documentFile = null; bundleFile = null; latest++; result.replaceChildren(); describe(); },
  }, 'Clear the dropped files');
  const describe = () => {
    const parts = [documentFile ? `document: ${documentFile.name}` : null, bundleFile ? `saved bundle: ${bundleFile.name}` : null].filter(Boolean);
    what.textContent = parts.join(' · ') || 'Nothing dropped yet.';
    clear.hidden = parts.length === 0;
  };
  describe();
  const run = () => verifyDropped(result, documentFile, bundleFile);
  const read = (file, f) => f(file).catch((e) => result.replaceChildren(errorNotice(new Error(`${file.name} could not be read: ${e.message}`))));
  show(
    h('h1', {}, 'Verify a document'),
    h('p', {}, 'Drop the certificate document. This browser computes its SHA-256, fetches a proof from the node and checks the members\u2019 signatures on it here, against the genesis file you pinned.'),
    genesisBox,
    dropZone('Drop the document here, or press to choose it', (file) => read(file, async () => {
      documentFile = { bytes: await readBytes(file), name: file.name };
      describe();
      run();
    }), undefined, 'document'),
    h('p', {}, h('small', {}, 'Optional: a proof bundle saved earlier (verified without asking the node):')),
    dropZone('Drop a saved bundle (.json) here, or press to choose it', (file) => read(file, async () => {
      bundleFile = { text: await file.text(), name: file.name };
      describe();
      run();
    }), '.json,application/json', 'bundle'),
    h('p', {}, what, ' ', clear),
    result);
  renderGenesis(genesisBox, () => { result.replaceChildren(); run(); });
  setTimeout(warmUp, 0);
  if (params.get('record')) verifyRecord(result, params.get('record'));
  else if (params.get('issuer') && params.get('number')) verifyCertificateStatus(result, params.get('issuer'), params.get('number'));
}

// RFC 8032's first test vector (empty message). The first signature checks after the page opens take several
// times longer than later ones (the engine compiles the big-integer curve code as it first runs): checking this
// one while the reader looks for the document keeps that out of the verification they wait for.
const WARM_UP = {
  key: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

function warmUp() {
  const key = fromHex(WARM_UP.key, 32);
  const signature = fromHex(WARM_UP.signature, 64);
  for (let i = 0; i < 4; i++) {
    if (verifySignature(key, signature, new Uint8Array(0)) !== null) throw new Error('the warm-up signature does not verify');
  }
}

function pinned() {
  const text = localStorage.getItem(PINNED);
  if (!text) return null;
  try { return { text, g: loadGenesis(text) }; } catch { return null; }
}

function renderGenesis(box, changed) {
  const p = pinned();
  const load = dropZone('Drop the genesis file here, or press to choose it', async (file) => {
    const text = await file.text();
    try {
      loadGenesis(text);
    } catch (e) {
      box.replaceChildren(errorNotice(new Error(`That is not a valid genesis file: ${e.message}`)), load);
      return;
    }
    localStorage.setItem(PINNED, text);
    renderGenesis(box, changed);
    changed();
  }, '.json,application/json', 'genesis');
  if (!p) {
    box.replaceChildren(h('div', { class: 'notice' }, h('strong', {}, 'First, pin the genesis file. '),
      'Use the copy your administration gave you (the same file the node was started with), not one from this page: it is what the proofs are checked against. It stays in this browser.'), load);
    return;
  }
  const shown = h('p', {}, 'Pinned genesis: ', h('strong', {}, p.g.chainName), ' ',
    h('span', { class: 'mono muted' }, toHex(p.g.chainId)), ' ',
    h('button', { type: 'button', class: 'secondary', onclick: () => { localStorage.removeItem(PINNED); renderGenesis(box, changed); changed(); } }, 'Replace'));
  box.replaceChildren(shown);
  checkNodeChain(box, shown, p);
}

async function checkNodeChain(box, shown, p) {
  try {
    const s = await api('/v1/status');
    // Only for the genesis still shown: another may have been pinned meanwhile.
    if (!shown.isConnected) return;
    if (s.chain_id !== toHex(p.g.chainId)) {
      box.append(h('div', { class: 'notice error', role: 'alert' }, h('strong', {}, 'Wrong genesis: '),
        `this node runs chain ${s.chain_name} (${s.chain_id}), not the pinned ${p.g.chainName}. Its proofs will not verify against the pinned file.`));
    }
  } catch { /* offline: a saved bundle still verifies */ }
}

/** Verifies what was dropped: a saved bundle (with the document, if one was dropped too), or the document. */
async function verifyDropped(out, document, bundle) {
  const mine = ++latest;
  const p = pinned();
  if (!p) { out.replaceChildren(notice('Pin the genesis file first.')); return; }
  if (!document && !bundle) return;
  const from = [document ? `the document ${document.name}` : null, bundle ? `the saved bundle ${bundle.name}` : null].filter(Boolean).join(' and ');
  out.replaceChildren(notice(`Verifying ${from}…`));
  if (bundle) {
    verifyAndShow(out, mine, 'bundle', () => verifyBundle(bundle.text, p.text, document ? { document: document.bytes } : {}), bundle.text, from);
    return;
  }
  const digest = toHex(sha256(document.bytes));
  try {
    const found = await api(`/v1/documents/${digest}`);
    if (mine !== latest) return;
    if (!found.records.length) {
      out.replaceChildren(h('div', { class: 'banner warn', role: 'status' }, `NOT FOUND ON THIS NODE: ${document.name}`),
        h('p', {}, `No record on this node commits to a document with SHA-256 ${digest}. This is the node\u2019s answer, not a proof: a document is found by its hash only, and a node that is still catching up may not have it yet.`));
      return;
    }
    // The latest record that commits to it: an amendment carries the same document forward.
    const record = found.records.reduce((a, b) => (b.log_index > a.log_index ? b : a));
    const text = await api(`/v1/proofs/records/${enc(record.id)}`, { text: true });
    if (mine !== latest) return;
    verifyAndShow(out, mine, 'bundle', () => verifyBundle(text, p.text, { document: document.bytes, maxAgeMs: FETCHED_MAX_AGE_MS }), text, from);
  } catch (e) {
    if (mine === latest) out.replaceChildren(errorNotice(e));
  }
}

async function verifyRecord(out, id) {
  const mine = ++latest;
  const p = pinned();
  if (!p) { out.replaceChildren(notice('Pin the genesis file first, then open this page again.')); return; }
  try {
    const text = await api(`/v1/proofs/records/${enc(id)}`, { text: true });
    if (mine === latest) verifyAndShow(out, mine, 'bundle', () => verifyBundle(text, p.text, { maxAgeMs: FETCHED_MAX_AGE_MS }), text, 'the link you opened, not a file you dropped');
  } catch (e) { if (mine === latest) out.replaceChildren(errorNotice(e)); }
}

async function verifyCertificateStatus(out, issuer, number) {
  const mine = ++latest;
  const p = pinned();
  if (!p) { out.replaceChildren(notice('Pin the genesis file first, then open this page again.')); return; }
  try {
    const text = await api(`/v1/proofs/status/certificates/${enc(issuer)}/${enc(number)}`, { text: true });
    if (mine === latest) verifyAndShow(out, mine, 'status', () => verifyStatus(text, p.text, { maxAgeMs: FETCHED_MAX_AGE_MS }), text, 'the link you opened, not a file you dropped');
  } catch (e) { if (mine === latest) out.replaceChildren(errorNotice(e)); }
}

/** Runs `verify` (one of the verifier's functions) and shows its result, with how long it took. */
function verifyAndShow(out, mine, kind, verify, fileText, from) {
  if (mine !== latest) return;
  const started = performance.now();
  let r;
  try {
    r = verify();
  } catch (e) {
    out.replaceChildren(errorNotice(new Error(`The verifier stopped on this file: ${e.message}`)));
    return;
  }
  showVerdict(out, kind, r, fileText, performance.now() - started, from);
}

/** A verifier's result: the status and what it is about first, then who certified it, then every step. */
function showVerdict(out, kind, r, fileText, ms, from) {
  const timing = h('p', { class: 'muted', 'data-verify-ms': ms.toFixed(1) }, `Checked in this browser in ${ms.toFixed(1)} ms.`);
  const steps = h('ol', { class: 'steps' }, r.steps.map((s) =>
    h('li', { class: s.ok ? null : 'failed' }, `${s.ok ? '✓' : '✗'} ${s.step}`, s.detail ? h('span', { class: 'muted' }, ` — ${s.detail}`) : null)));
  const source = h('p', {}, `Verified: ${from}.`);
  if (!r.ok) {
    out.replaceChildren(h('div', { class: 'banner bad', role: 'alert' }, `NOT VERIFIED: failed step ${r.step}`),
      source, h('p', {}, r.message), timing, h('h2', {}, 'Steps'), steps);
    return;
  }
  const save = h('button', {
    type: 'button', class: 'secondary',
    onclick: () => {
      const a = h('a', { href: URL.createObjectURL(new Blob([fileText], { type: 'application/json' })), download: `${kind}.json` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    },
  }, 'Save this proof file');
  const v = r.verdict;
  const anchor = v.anchor ?? v.status?.as_of;
  const about = v.status ? aboutSubject(v.status.subject) : `${v.record.kind.replaceAll('_', ' ')} record ${v.record.id}`;
  const headline = r.headline ?? 'VERIFIED (this kind of record has no status)';
  out.replaceChildren(
    h('div', { class: `banner ${r.good === false ? 'bad' : r.good ? 'good' : 'warn'}`, role: 'status' },
      h('div', {}, headline), h('div', { class: 'about' }, `About: ${about}`)),
    source,
    anchor ? h('p', {}, `As of ${when(anchor.time)}, height ${anchor.height}; certified by `,
      h('strong', {}, anchor.signers.map((s) => `${s.name ?? s.member} (${s.member})`).join(', ')), '.') : null,
    v.document ? h('p', {}, `The document\u2019s SHA-256 ${v.document.sha256} matches the record.`) : null,
    timing, save,
    h('h2', {}, 'Every step'), steps,
    h('details', {}, h('summary', {}, 'The verdict as the command line prints it'), h('pre', { class: 'verdict' }, r.text)));
}

/** A status's subject in words, as audit.md §5 writes it (DESC). */
function aboutSubject(subject) {
  const [kind, x] = Object.entries(subject)[0];
  if (kind === 'certificate') return `certificate ${x.number} of ${x.issuer}`;
  if (kind === 'aeo') return `operator ${x.operator} in ${x.programme}'s AEO programme`;
  if (kind === 'declaration') {
    const d = x.declaration;
    return `decision of ${x.member} on the declaration with ${d.mrn !== undefined && d.mrn !== null ? `MRN ${d.mrn}` : `UCR ${d.ucr}`}`;
  }
  return `clearance decision ${x.record}`;
}
