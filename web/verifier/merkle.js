// RFC 9162 log proofs (protocol.md §4.3, §4.4) and the sparse state tree (protocol.md §4.5), transcribed from the
// pseudocode so that edge cases (proof too long/short, size 0, equal sizes) behave as specified.

import { sha256 } from './deps.js';
import { concat, equalBytes } from './bytes.js';
import { taggedHash } from './crypto.js';

export const MAX_PATH = 64;
export const MAX_STATE_SIBLINGS = 256;
const EMPTY_ROOT = sha256(new Uint8Array(0));

export const leafHash = (d) => sha256(concat(Uint8Array.of(0), d));
export const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));

/** Sizes and indexes are BigInt (u64). Returns null when the proof holds, else a reason. */
export function verifyInclusion(leaf, index, size, proof, root) {
  if (index >= size) return `index ${index} is not below the tree size ${size}`;
  let fn = index, sn = size - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) return 'proof too long';
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) return 'proof too short';
  if (!equalBytes(r, root)) return 'computed root differs from the expected root';
  return null;
}

const isPow2 = (n) => n > 0n && (n & (n - 1n)) === 0n;

export function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize > newSize) return 'old size above new size';
  if (oldSize === 0n || oldSize === newSize) {
    if (proof.length !== 0) return 'proof must be empty';
    if (oldSize === 0n) return equalBytes(oldRoot, EMPTY_ROOT) ? null : 'old root of an empty log is not SHA-256("")';
    return equalBytes(oldRoot, newRoot) ? null : 'equal sizes with different roots';
  }
  if (proof.length === 0) return 'empty proof';
  const path = isPow2(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1n, sn = newSize - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return 'proof too long';
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr); sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) return 'proof too short';
  if (!equalBytes(fr, oldRoot)) return 'old root differs';
  if (!equalBytes(sr, newRoot)) return 'new root differs';
  return null;
}

const bit = (k, d) => (k[d >> 3] >> (7 - (d & 7))) & 1;
const stateLeaf = (k, v) => taggedHash('clearance/v1/state-leaf', concat(k, v));
const stateNode = (l, r) => taggedHash('clearance/v1/state-node', concat(l, r));

/**
 * Verify a state proof for path `P` against `root` (protocol.md §4.5). `terminal` is
 * { tag: 'present', value } | { tag: 'empty' } | { tag: 'other', key, value }.
 * Returns { error } or { present: valueHash | null }.
 */
export function verifyStateProof(P, siblings, terminal, root) {
  if (siblings.length > MAX_STATE_SIBLINGS) return { error: `${siblings.length} siblings, at most ${MAX_STATE_SIBLINGS}` };
  let h;
  if (terminal.tag === 'present') h = stateLeaf(P, terminal.value);
  else if (terminal.tag === 'empty') h = new Uint8Array(32);
  else {
    if (equalBytes(terminal.key, P)) return { error: 'an absence proof that ends at the asked key itself' };
    for (let d = 0; d < siblings.length; d++)
      if (bit(terminal.key, d) !== bit(P, d)) return { error: `the other entry leaves the asked path at depth ${d}` };
    h = stateLeaf(terminal.key, terminal.value);
  }
  for (let d = siblings.length - 1; d >= 0; d--)
    h = bit(P, d) === 1 ? stateNode(siblings[d], h) : stateNode(h, siblings[d]);
  if (!equalBytes(h, root)) return { error: 'the proof does not lead to the state root' };
  return { present: terminal.tag === 'present' ? terminal.value : null };
}
