#!/usr/bin/env node
// The differential check of issue 18: the same files, valid and tampered, go to this verifier and to the Rust
// one (`clearance --json verify`), which must agree on every file: verified or not, and when not, the failing
// step; when verified, the status and whether it is good. A disagreement is a spec bug (or a bug in one of the
// two) until shown otherwise.
//
//   node differential.js --clearance PATH/TO/clearance [--examples DIR] [--report FILE] [--limit N]
//
// The tampered files are made from the worked example's files (docs/audit-example): every leaf of the JSON is
// changed (the first and the last hex digit, a bit of every 16th byte of base64 bytes and of the last, a number
// by one, a boolean, a text),
// every field is left out, and every array loses its last element and gets its first twice.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { verifyBundle, verifyStatus } from './verify.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const out = { examples: path.join(here, '../../docs/audit-example'), limit: Infinity };
  for (let i = 0; i < argv.length; i++) {
    const val = () => argv[++i];
    if (argv[i] === '--clearance') out.clearance = val();
    else if (argv[i] === '--examples') out.examples = val();
    else if (argv[i] === '--report') out.report = val();
    else if (argv[i] === '--limit') out.limit = Number(val());
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!out.clearance) throw new Error('--clearance PATH (the Rust CLI) is required');
  return out;
}

const HEX = /^[0-9a-f]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Every way to tamper with `value` at `where`: [description, new value] pairs; `undefined` deletes. */
function leafMutations(value) {
  if (typeof value === 'boolean') return [['negated', !value]];
  if (typeof value === 'number') return [['plus one', value + 1], ...(value > 0 ? [['minus one', value - 1]] : [])];
  if (typeof value !== 'string') return [];
  if (HEX.test(value) && value.length >= 2 && value.length % 2 === 0) {
    const flip = (c) => (c === '0' ? '1' : '0');
    return [
      ['last hex digit changed', value.slice(0, -1) + flip(value[value.length - 1])],
      ['first hex digit changed', flip(value[0]) + value.slice(1)],
    ];
  }
  if (BASE64.test(value) && value.length % 4 === 0 && value.length >= 8) {
    const bytes = Buffer.from(value, 'base64');
    // Every 16th byte and the last: each field of a header, a certificate or a transaction gets hit.
    const positions = new Set([bytes.length - 1]);
    for (let at = 0; at < bytes.length; at += 16) positions.add(at);
    return [...positions].map((at) => {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x01;
      return [`bit flipped in byte ${at} of ${bytes.length}`, copy.toString('base64')];
    });
  }
  return [['text changed', `${value}X`]];
}

/** All tampered copies of `doc`: [path, description, new document]. */
function* mutations(doc) {
  function* walk(node, at) {
    if (Array.isArray(node)) {
      if (node.length > 0) {
        yield [at, 'last element removed', (d) => get(d, at).pop()];
        yield [at, 'first element repeated', (d) => get(d, at).splice(1, 0, structuredClone(get(d, at)[0]))];
      }
      for (let i = 0; i < node.length; i++) yield* walk(node[i], [...at, i]);
    } else if (node !== null && typeof node === 'object') {
      for (const key of Object.keys(node)) {
        yield [[...at, key], 'field left out', (d) => { delete get(d, at)[key]; }];
        yield* walk(node[key], [...at, key]);
      }
    } else {
      for (const [what, v] of leafMutations(node)) {
        yield [at, what, (d) => { get(d, at.slice(0, -1))[at[at.length - 1]] = v; }];
      }
    }
  }
  const get = (d, at) => at.reduce((n, k) => n[k], d);
  for (const [at, what, apply] of walk(doc, [])) {
    const copy = structuredClone(doc);
    apply(copy);
    yield [at.join('.') || '(root)', what, copy];
  }
}

/** What the Rust CLI says of a file: { verified, step, status, good }. */
function rust(clearance, kind, file, genesis) {
  const run = spawnSync(clearance, ['--json', 'verify', '--genesis', genesis, `--${kind}`, file], {
    encoding: 'utf8',
  });
  if (run.status !== 0 && run.status !== 2 && run.status !== 3) {
    return { error: `exit ${run.status}: ${run.stderr.trim().split('\n')[0]}` };
  }
  const out = JSON.parse(run.stdout);
  if (out.verified === false) return { verified: false, step: out.step };
  return { verified: true, status: out.status ?? null, good: out.good ?? null };
}

/** What this verifier says of the same bytes. */
function js(kind, bytes, genesisText) {
  const r = kind === 'bundle' ? verifyBundle(bytes, genesisText) : verifyStatus(bytes, genesisText);
  if (!r.ok) return { verified: false, step: r.step };
  return { verified: true, status: r.status ?? null, good: r.good ?? null };
}

function same(a, b) {
  if (a.error || b.error || a.verified !== b.verified) return false;
  return a.verified ? a.status === b.status && a.good === b.good : a.step === b.step;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const genesisPath = path.join(args.examples, 'genesis.json');
  const genesisText = fs.readFileSync(genesisPath);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-differential-'));
  const files = [
    ['bundle', 'bundle.json'],
    ['status', 'status-valid.json'],
    ['status', 'status-absent.json'],
  ];
  const disagreements = [];
  let compared = 0;
  try {
    for (const [kind, name] of files) {
      const original = JSON.parse(fs.readFileSync(path.join(args.examples, name), 'utf8'));
      const cases = [['(none)', 'untampered', original], ...mutations(original)];
      for (const [at, what, doc] of cases) {
        if (compared >= args.limit) break;
        const text = JSON.stringify(doc);
        const file = path.join(dir, 'case.json');
        fs.writeFileSync(file, text);
        const r = rust(args.clearance, kind, file, genesisPath);
        const j = js(kind, Buffer.from(text), genesisText);
        compared += 1;
        if (!same(r, j)) disagreements.push({ file: name, at, what, rust: r, js: j });
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const byPair = new Map();
  for (const d of disagreements) {
    const key = `rust ${d.rust.step ?? d.rust.status ?? d.rust.error} / js ${d.js.step ?? d.js.status}`;
    byPair.set(key, (byPair.get(key) ?? 0) + 1);
  }
  console.log(`compared ${compared} files: ${compared - disagreements.length} agree, ${disagreements.length} disagree`);
  for (const [pair, n] of [...byPair].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(5)}  ${pair}`);
  for (const d of disagreements.slice(0, 20)) {
    console.log(`  ${d.file} ${d.at} (${d.what}): rust ${JSON.stringify(d.rust)} js ${JSON.stringify(d.js)}`);
  }
  if (args.report) fs.writeFileSync(args.report, JSON.stringify({ compared, disagreements }, null, 2));
  process.exit(disagreements.length === 0 ? 0 : 1);
}

main();
