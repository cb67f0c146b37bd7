// Byte helpers and the canonical binary reader (protocol.md §1). Everything here treats its input as hostile.

export class DecodeError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // ignoreBOM: a BOM is data, not framing
const utf8enc = new TextEncoder();

export const encodeUtf8 = (s) => utf8enc.encode(s);
export function decodeUtf8(b) {
  try { return utf8.decode(b); } catch { throw new DecodeError('invalid UTF-8'); }
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

const HEX = '0123456789abcdef';
export function toHex(b) {
  let s = '';
  for (const x of b) s += HEX[x >> 4] + HEX[x & 15];
  return s;
}

/** Exactly `len` bytes of hex, either case (protocol.md §9). Returns null when malformed. */
export function fromHex(s, len) {
  if (typeof s !== 'string' || s.length !== 2 * len || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

/** "8bf9…1d87": the abbreviation the reference CLI prints in reasons. */
export const shortHex = (b) => { const h = toHex(b); return `${h.slice(0, 4)}…${h.slice(-4)}`; };

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64REV = new Map([...B64].map((c, i) => [c, i]));

/** Standard base64 with canonical `=` padding and zero unused bits; no whitespace (audit.md §2.1). Null if bad. */
export function fromBase64(s) {
  if (typeof s !== 'string' || s.length % 4 !== 0) return null;
  let pad = 0;
  if (s.endsWith('==')) pad = 2; else if (s.endsWith('=')) pad = 1;
  const body = s.length - pad;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let acc = 0, bits = 0, o = 0;
  for (let i = 0; i < body; i++) {
    const v = B64REV.get(s[i]);
    if (v === undefined) return null;
    acc = (acc << 6) | v; bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 0xff; }
    acc &= (1 << bits) - 1;
  }
  // Non-zero leftover bits would give a second spelling of the same bytes.
  if (acc !== 0) return null;
  return o === out.length ? out : null;
}

export function toBase64(b) {
  let s = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    s += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    s += i + 1 < b.length ? B64[(n >> 6) & 63] : '=';
    s += i + 2 < b.length ? B64[n & 63] : '=';
  }
  return s;
}

/** Little-endian writer for the few things the verifier must encode itself (state keys, genesis). */
export class Writer {
  constructor() { this.parts = []; }
  u8(x) { this.parts.push(Uint8Array.of(x)); return this; }
  u16(x) { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, x, true); this.parts.push(b); return this; }
  u32(x) { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, x >>> 0, true); this.parts.push(b); return this; }
  u64(x) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(x), true); this.parts.push(b); return this; }
  raw(b) { this.parts.push(b); return this; }
  bytes(b) { return this.u64(b.length).raw(b); }
  string(s) { return this.bytes(encodeUtf8(s)); }
  vec(items, f) { this.u64(items.length); for (const it of items) f(this, it); return this; }
  done() { return concat(...this.parts); }
}

/**
 * Reader over one canonical value. Every length and count is checked against what is left before it is used, so a
 * hostile prefix can neither over-read nor make us allocate. u64 values come back as BigInt.
 */
export class Reader {
  constructor(bytes, limit, what) {
    if (bytes.length > limit) throw new DecodeError(`${what} is ${bytes.length} bytes, above the limit of ${limit}`);
    this.b = bytes; this.o = 0; this.what = what;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n) {
    if (n > this.b.length - this.o) throw new DecodeError(`${this.what} is truncated`);
  }
  u8() { this.need(1); return this.b[this.o++]; }
  u16() { this.need(2); const v = this.dv.getUint16(this.o, true); this.o += 2; return v; }
  u32() { this.need(4); const v = this.dv.getUint32(this.o, true); this.o += 4; return v; }
  u64() { this.need(8); const v = this.dv.getBigUint64(this.o, true); this.o += 8; return v; }
  raw(n) { this.need(n); const v = this.b.subarray(this.o, this.o + n); this.o += n; return v; }
  len() {
    const n = this.u64();
    if (n > BigInt(this.b.length - this.o)) throw new DecodeError(`${this.what}: length prefix ${n} exceeds the input`);
    return Number(n);
  }
  bytes() { return this.raw(this.len()); }
  string() { return decodeUtf8(this.bytes()); }
  option(f) {
    const t = this.u8();
    if (t === 0) return null;
    if (t === 1) return f(this);
    throw new DecodeError(`${this.what}: option tag ${t}`);
  }
  vec(f) {
    const n = this.len(); // every element takes at least one byte, so n <= remaining is a sound bound
    const out = [];
    for (let i = 0; i < n; i++) out.push(f(this));
    return out;
  }
  variant(names, what) {
    const i = this.u32();
    if (i >= names.length) throw new DecodeError(`${what}: unknown variant ${i}`);
    return names[i];
  }
  end() {
    if (this.o !== this.b.length) throw new DecodeError(`${this.what} has ${this.b.length - this.o} trailing bytes`);
  }
}

/** Decode exactly one value with `f`, enforcing the size limit and the no-trailing-bytes rule (protocol.md §1.3). */
export function decodeExact(bytes, limit, what, f) {
  const r = new Reader(bytes, limit, what);
  const v = f(r);
  r.end();
  return v;
}
