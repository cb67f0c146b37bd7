#!/usr/bin/env node
// Command line mirroring `clearance verify` (audit.md §6). Exit status as audit.md §6 documents for the reference
// CLI: 0 verified and good (or nothing to judge), 3 verified but not good, 2 verification failed (or --max-age, or a
// malformed command line), 1 the command could not run (unreadable file, invalid genesis).

import fs from 'node:fs';
import { loadGenesis } from './genesis.js';
import { toJson, verifyBundle, verifyCheckpoint, verifyExtension, verifyStatus } from './verify.js';

const USAGE = `usage:
  node cli.js bundle FILE --genesis G [--document DOC] [--max-age AGE] [--json]
  node cli.js status FILE --genesis G [--max-age AGE] [--json]
  node cli.js checkpoint FILE --genesis G [--json]
  node cli.js extension KEPT_CHECKPOINT CONSISTENCY_PROOF --genesis G [--json]
AGE is seconds, or a number followed by s, m, h or d.`;

function usage(msg) { process.stderr.write(`error: ${msg}\n${USAGE}\n`); process.exit(2); }
function cannotRun(msg) { process.stderr.write(`error: ${msg}\n`); process.exit(1); }

function parseAge(s) {
  const m = /^([0-9]+)([smhd]?)$/.exec(s);
  if (!m) usage(`invalid --max-age ${JSON.stringify(s)}`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]] * 1000;
}

function parseArgs(argv) {
  const [cmd, ...rest] = argv;
  const out = { cmd, files: [], json: false };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    const val = () => { if (i + 1 >= rest.length) usage(`${a} needs a value`); return rest[++i]; };
    if (a === '--genesis') out.genesis = val();
    else if (a === '--document') out.document = val();
    else if (a === '--max-age') out.maxAgeMs = parseAge(val());
    else if (a === '--json') out.json = true;
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else out.files.push(a);
  }
  const want = { bundle: 1, status: 1, checkpoint: 1, extension: 2 }[cmd];
  if (!want) usage(`unknown command ${JSON.stringify(cmd ?? '')}`);
  if (out.files.length !== want) usage(`${cmd} takes ${want} file(s)`);
  if (out.document && cmd !== 'bundle') usage('--document applies to bundle only');
  out.genesis ??= process.env.CLEARANCE_GENESIS;
  if (!out.genesis) usage('--genesis is required');
  return out;
}

const readFile = (p) => { try { return fs.readFileSync(p); } catch (e) { cannotRun(`cannot read ${p}: ${e.message}`); } };

const args = parseArgs(process.argv.slice(2));
const genesis = readFile(args.genesis);
try { loadGenesis(genesis); } catch (e) { cannotRun(`invalid genesis ${args.genesis}: ${e.message}`); }
const files = args.files.map(readFile);
const opts = { maxAgeMs: args.maxAgeMs };
let r;
if (args.cmd === 'bundle') r = verifyBundle(files[0], genesis, { ...opts, document: args.document ? readFile(args.document) : undefined });
else if (args.cmd === 'status') r = verifyStatus(files[0], genesis, opts);
else if (args.cmd === 'checkpoint') r = verifyCheckpoint(files[0], genesis);
else r = verifyExtension(files[0], files[1], genesis);

if (!r.ok) {
  if (!args.json) process.stdout.write(`NOT VERIFIED\nfailed step ${r.step}\nreason       ${r.message}\n`);
  process.stdout.write(toJson({ verified: false, step: r.step, reason: r.message }) + '\n');
  process.exit(2);
}
if (!args.json) process.stdout.write(r.text + '\n');
const line = args.cmd === 'bundle' || args.cmd === 'status'
  ? { verified: true, status: r.status, good: r.good, verdict: r.verdict }
  : { verified: true, verdict: r.verdict };
process.stdout.write(toJson(line) + '\n'); // u64 values above 2^53 as exact JSON numbers
process.exit(r.good === false ? 3 : 0);
