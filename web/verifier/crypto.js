// Domain-separated hashing (protocol.md §3.1) and the signature rule of protocol.md §3.4/§3.5, written out with
// point arithmetic instead of a library's verify(), because the rule (cofactored equation, canonical and
// non-small-order R, canonical non-weak keys) matches no library's default exactly.

import { Point, sha256, sha512 } from './deps.js';
import { concat, encodeUtf8, equalBytes } from './bytes.js';

export const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const P = 2n ** 255n - 19n;

export const message = (tag, bytes) => concat(encodeUtf8(tag), Uint8Array.of(0), bytes);
export const taggedHash = (tag, bytes) => sha256(message(tag, bytes));
export { sha256 };

function leInt(b) {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

/**
 * protocol.md §3.5 step 1 only: low 255 bits as y (reduced mod p), bit 255 the sign of x, reject when x² has no
 * root. noble's lenient (zip215) decoding is exactly this; canonicity is a separate step for keys, and a
 * different, weaker one for R.
 */
function decodePoint(b) {
  try { return Point.fromBytes(b, true); } catch { return null; }
}

const isSmallOrder = (pt) => pt.multiply(8n, false).is0();

/** PublicKey::validate (protocol.md §3.5). Returns { ok, reason, point }. */
export function validateKey(key) {
  if (!(key instanceof Uint8Array) || key.length !== 32) return { ok: false, reason: 'malformed' };
  const pt = decodePoint(key);
  if (!pt) return { ok: false, reason: 'malformed' };
  if (isSmallOrder(pt)) return { ok: false, reason: 'weak' };
  // Re-encoding refuses y ≥ p and the "negative zero" x, so one point has one key encoding (§11 note 8).
  if (!equalBytes(pt.toBytes(), key)) return { ok: false, reason: 'malformed' };
  return { ok: true, point: pt };
}

const keyCache = new Map();
function cachedKey(key) {
  const h = String.fromCharCode(...key);
  let v = keyCache.get(h);
  if (!v) { v = validateKey(key); if (keyCache.size < 4096) keyCache.set(h, v); }
  return v;
}

/** The single-signature rule of protocol.md §3.4, checks 1 to 6 in order. Returns null when valid, else a reason. */
export function verifySignature(key, sig, msg) {
  const k = cachedKey(key);
  if (!k.ok) return `public key is ${k.reason}`;
  if (sig.length !== 64) return 'signature is not 64 bytes';
  const Rb = sig.subarray(0, 32);
  const S = leInt(sig.subarray(32, 64));
  if (S >= L) return 'non-canonical S';
  const Ry = leInt(Rb) & ((1n << 255n) - 1n);
  if (Ry >= P) return 'non-canonical R';
  const R = decodePoint(Rb);
  if (!R) return 'R is not a curve point';
  if (isSmallOrder(R)) return 'R is of small order';
  // R and A enter the hash exactly as given, never re-encoded.
  const kk = leInt(sha512(concat(Rb, key, msg))) % L;
  const lhs = Point.BASE.multiply(S, false).subtract(R).subtract(k.point.multiply(kk, false));
  return lhs.multiply(8n, false).is0() ? null : 'signature does not verify';
}
