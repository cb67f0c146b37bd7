// A strict JSON reader, because JSON.parse silently keeps the last of repeated keys and rounds u64 integers, and the
// files must reject repeated fields and carry u64 values exactly (audit.md §2.1, protocol.md §9).

import { fromBase64, fromHex } from './bytes.js';

export class ParseError extends Error {}

/** A JSON number kept as its text, so integers above 2^53 survive. */
export class JsonNumber {
  constructor(text) { this.text = text; }
}

export function parseJson(text) {
  let i = 0;
  const fail = (m) => { throw new ParseError(`${m} at offset ${i}`); };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  function value(depth) {
    if (depth > 128) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map();
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = string();
        if (obj.has(k)) fail(`repeated field "${k}"`);
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i++;
        obj.set(k, value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected character');
    i += m[0].length;
    return new JsonNumber(m[0]);
  }
  function string() {
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i];
      const code = c.charCodeAt(0);
      if (c === '"') { i++; return out; }
      if (code < 0x20) fail('control character in string');
      if (c !== '\\') { out += c; i++; continue; }
      const e = text[i + 1];
      i += 2;
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (e in simple) { out += simple[e]; continue; }
      if (e !== 'u') fail('bad escape');
      const u = hex4();
      if (u >= 0xd800 && u < 0xdc00) {
        // A lone surrogate is not a Unicode scalar value; the Rust side cannot hold it in a String either.
        if (text[i] !== '\\' || text[i + 1] !== 'u') fail('lone surrogate');
        i += 2;
        const lo = hex4();
        if (lo < 0xdc00 || lo >= 0xe000) fail('lone surrogate');
        out += String.fromCharCode(u, lo);
      } else if (u >= 0xdc00 && u < 0xe000) fail('lone surrogate');
      else out += String.fromCharCode(u);
    }
  }
  function hex4() {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('bad \\u escape');
    i += 4;
    return parseInt(h, 16);
  }
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing characters after the JSON value');
  return v;
}

// ---- Typed field readers. Each names the JSON path so a parse failure says where it is. ----

const typeName = (v) => v === null ? 'null' : v instanceof Map ? 'object' : Array.isArray(v) ? 'array'
  : v instanceof JsonNumber ? 'number' : typeof v;

/**
 * Read a JSON object with exactly the given fields. `spec` maps name → [reader, mode] where mode is 'req' (must be
 * present), 'opt' (missing or null reads as null) or a default value used when the field is left out.
 */
export function obj(v, path, spec) {
  if (!(v instanceof Map)) throw new ParseError(`${path}: expected an object, found ${typeName(v)}`);
  for (const k of v.keys()) if (!(k in spec)) throw new ParseError(`${path}: unknown field "${k}"`);
  const out = {};
  for (const [k, [reader, mode]] of Object.entries(spec)) {
    const p = `${path}.${k}`;
    if (!v.has(k)) {
      if (mode === 'req') throw new ParseError(`${p}: missing field`);
      out[k] = mode === 'opt' ? null : mode();
      continue;
    }
    const x = v.get(k);
    out[k] = mode === 'opt' && x === null ? null : reader(x, p);
  }
  return out;
}

export function str(v, path) {
  if (typeof v !== 'string') throw new ParseError(`${path}: expected a string, found ${typeName(v)}`);
  return v;
}

export function u64(v, path) {
  if (!(v instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(v.text))
    throw new ParseError(`${path}: expected an unsigned integer`);
  const n = BigInt(v.text);
  if (n >= 1n << 64n) throw new ParseError(`${path}: integer out of range`);
  return n;
}

export function u32(v, path) {
  const n = u64(v, path);
  if (n > 0xffffffffn) throw new ParseError(`${path}: integer out of range for u32`);
  return Number(n);
}

export function hash32(v, path) {
  const b = fromHex(str(v, path), 32);
  if (!b) throw new ParseError(`${path}: expected 64 hex digits`);
  return b;
}

export function bytes(v, path) {
  const b = fromBase64(str(v, path));
  if (!b) throw new ParseError(`${path}: invalid or non-canonical base64`);
  return b;
}

export function arr(itemReader) {
  return (v, path) => {
    if (!Array.isArray(v)) throw new ParseError(`${path}: expected an array, found ${typeName(v)}`);
    return v.map((x, i) => itemReader(x, `${path}[${i}]`));
  };
}

/** An externally tagged enum: a bare string for unit variants, or a one-key object. */
export function tagged(v, path, units, structs) {
  if (typeof v === 'string') {
    if (units.includes(v)) return { tag: v, value: null };
    throw new ParseError(`${path}: unknown variant "${v}"`);
  }
  if (!(v instanceof Map) || v.size !== 1) throw new ParseError(`${path}: expected one variant`);
  const [[k, x]] = v;
  if (!(k in structs)) throw new ParseError(`${path}: unknown variant "${k}"`);
  return { tag: k, value: structs[k](x, `${path}.${k}`) };
}
