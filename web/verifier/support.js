// Shared by the node --test files: the worked example's files and small helpers to tamper with them.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBase64, toBase64 } from './bytes.js';

const dir = fileURLToPath(new URL('../../docs/audit-example/', import.meta.url));
const read = (f) => fs.readFileSync(dir + f, 'utf8');
const GENESIS = read('genesis.json'), BUNDLE = read('bundle.json'), VALID = read('status-valid.json'), ABSENT = read('status-absent.json');
const DOC = fs.readFileSync(dir + 'document.txt');

// The example values are small integers, so JSON.parse is a safe way to edit copies here.
const edit = (text, f) => { const o = JSON.parse(text); f(o); return JSON.stringify(o, null, 2); };
const b64edit = (s, f) => { const b = fromBase64(s); f(b); return toBase64(b); };
const flipHex = (h, i = 10) => h.slice(0, i) + (h[i] === '0' ? '1' : '0') + h.slice(i + 1);

function expectFail(r, step, reasonPart) {
  assert.equal(r.ok, false, `expected failure at ${step}, got success`);
  assert.equal(r.step, step, `expected step ${step}, got ${r.step}: ${r.message}`);
  if (reasonPart) assert.ok(r.message.includes(reasonPart), `reason "${r.message}" lacks "${reasonPart}"`);
}

export { dir, read, GENESIS, BUNDLE, VALID, ABSENT, DOC, edit, b64edit, flipHex, expectFail };
