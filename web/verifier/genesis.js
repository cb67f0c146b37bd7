// The genesis file (protocol.md §2.7, §7): parse the JSON carrier strictly, validate in the order of §7.4, encode
// canonically and hash to the chain id. The JSON text itself is never hashed.

import { Writer, encodeUtf8, equalBytes, fromHex, toHex } from './bytes.js';
import { ParseError, arr, obj, parseJson, str, u32 } from './json.js';
import { ROLE_NAMES, isValidId, parseTimestamp } from './ids.js';
import { taggedHash, validateKey } from './crypto.js';
import { LIMIT, makeSet } from './codec.js';

export class GenesisError extends Error {
  constructor(code, msg) { super(`${code}: ${msg}`); this.code = code; }
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const PEER_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20);

/** libp2p peer-id text → the 32 key bytes (protocol.md §8.4). Null when it is not such an id. */
export function parsePeerId(s) {
  if (typeof s !== 'string' || s.length === 0 || s.length > 64) return null;
  let n = 0n, zeros = 0;
  for (const c of s) { if (c === '1' && n === 0n) zeros++; else break; }
  for (const c of s) {
    const v = B58.indexOf(c);
    if (v < 0) return null;
    n = n * 58n + BigInt(v);
  }
  const body = [];
  while (n > 0n) { body.unshift(Number(n & 0xffn)); n >>= 8n; }
  const out = Uint8Array.from([...new Array(zeros).fill(0), ...body]);
  if (out.length !== 38 || !equalBytes(out.subarray(0, 6), PEER_PREFIX)) return null;
  return out.slice(6);
}

const PARAMS = ['timeout_propose_ms', 'timeout_prevote_ms', 'timeout_precommit_ms', 'timeout_delta_ms', 'heartbeat_ms',
  'max_clock_drift_ms', 'max_block_txs', 'max_block_bytes', 'max_tx_bytes', 'membership_delay_blocks', 'membership_proposal_ttl_s'];

function ident(kind) {
  return (v, p) => { if (!isValidId(kind, str(v, p))) throw new ParseError(`${p}: invalid ${kind}`); return v; };
}
function key(v, p) { const b = fromHex(str(v, p), 32); if (!b) throw new ParseError(`${p}: expected 64 hex digits`); return b; }
function peer(v, p) { const b = parsePeerId(str(v, p)); if (!b) throw new ParseError(`${p}: not a libp2p ed25519 peer id`); return b; }
function roles(v, p) {
  const names = arr(str)(v, p);
  let bits = 0;
  for (const n of names) {
    const i = ROLE_NAMES.indexOf(n);
    if (i < 0) throw new ParseError(`${p}: unknown role "${n}"`);
    if (bits & (1 << i)) throw new ParseError(`${p}: role "${n}" listed twice`);
    bits |= 1 << i;
  }
  return bits;
}

const memberInfo = (v, p) => obj(v, p, {
  id: [ident('country'), 'req'], name: [ident('text'), 'req'], validator_key: [key, 'req'], peer_id: [peer, 'req'],
  addresses: [arr(ident('text')), 'req'],
});

function validate(g) {
  const fail = (code, m) => { throw new GenesisError(code, m); };
  if (g.members.length === 0 || g.members.length > 128) fail('GENESIS_MEMBER_COUNT', `${g.members.length} members`);
  const ids = new Set(), vkeys = new Set(), pkeys = new Set();
  for (const m of g.members) {
    if (ids.has(m.id)) fail('GENESIS_DUPLICATE', `member ${m.id} twice`);
    ids.add(m.id);
    const vk = validateKey(m.validator_key), pk = validateKey(m.peer_id);
    if (!vk.ok) fail('GENESIS_BAD_MEMBER', `validator key of ${m.id} is ${vk.reason}`);
    if (!pk.ok) fail('GENESIS_BAD_MEMBER', `network key of ${m.id} is ${pk.reason}`);
    if (m.addresses.length > 8 || m.addresses.some((a) => !a.startsWith('/')) || new Set(m.addresses).size !== m.addresses.length)
      fail('GENESIS_BAD_MEMBER', `addresses of ${m.id}`);
    if (equalBytes(m.peer_id, m.validator_key)) fail('GENESIS_BAD_MEMBER', `${m.id}: network key equals validator key`);
    if (vkeys.has(toHex(m.validator_key))) fail('GENESIS_DUPLICATE', `validator key of ${m.id}`);
    if (pkeys.has(toHex(m.peer_id))) fail('GENESIS_DUPLICATE', `peer id of ${m.id}`);
    vkeys.add(toHex(m.validator_key)); pkeys.add(toHex(m.peer_id));
  }
  for (const p of pkeys) if (vkeys.has(p)) fail('GENESIS_BAD_MEMBER', 'a network key is a validator key');
  if (g.submitters.length > 4096) fail('GENESIS_BAD_SUBMITTER', 'more than 4096 submitters');
  const skeys = new Set();
  for (const s of g.submitters) {
    if (!ids.has(s.member)) fail('GENESIS_BAD_SUBMITTER', `${s.member} is not a member`);
    const v = validateKey(s.key);
    if (!v.ok) fail('GENESIS_BAD_SUBMITTER', `submitter key is ${v.reason}`);
    if (s.roles === 0) fail('GENESIS_BAD_SUBMITTER', 'no roles');
    const h = toHex(s.key);
    if (vkeys.has(h) || pkeys.has(h)) fail('GENESIS_BAD_SUBMITTER', 'submitter key is a node key');
    if (skeys.has(h)) fail('GENESIS_DUPLICATE', `submitter key ${h} twice`);
    skeys.add(h);
  }
  const q = g.params;
  const within = (x, a, b) => x >= a && x <= b;
  const ok = within(q.timeout_propose_ms, 10, 600000) && within(q.timeout_prevote_ms, 10, 600000)
    && within(q.timeout_precommit_ms, 10, 600000) && q.timeout_delta_ms <= 600000
    && within(q.heartbeat_ms, q.timeout_propose_ms, 3600000) && q.max_clock_drift_ms <= 600000
    && within(q.max_tx_bytes, 1, 65536) && q.max_block_bytes >= q.max_tx_bytes && q.max_block_bytes <= 16777216
    && within(q.max_block_txs, 1, 100000) && within(q.membership_delay_blocks, 2, 10000)
    && within(q.membership_proposal_ttl_s, 60, 31622400);
  if (!ok) fail('GENESIS_BAD_PARAMS', 'a consensus parameter is out of range');
}

function encode(g) {
  const w = new Writer().string(g.chain_name).u64(g.genesis_time);
  for (const p of PARAMS) w.u32(g.params[p]);
  w.vec(g.members, (x, m) => x.string(m.id).string(m.name).raw(m.validator_key).raw(m.peer_id).vec(m.addresses, (y, a) => y.string(a)));
  w.vec(g.submitters, (x, s) => x.string(s.member).raw(s.key).u32(s.roles).string(s.label));
  return w.done();
}

/**
 * Load a genesis JSON text (string or bytes). Returns { chainId, chainName, delay, S0, names } or throws
 * GenesisError. `names` maps member id → genesis name: the only names a verifier knows (audit.md §5).
 */
export function loadGenesis(input) {
  const textBytes = typeof input === 'string' ? encodeUtf8(input) : input;
  if (textBytes.length > LIMIT.GENESIS) throw new GenesisError('GENESIS_TOO_LARGE', `${textBytes.length} bytes`);
  let g;
  try {
    const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    g = obj(parseJson(text), 'genesis', {
      chain_name: [ident('chain_name'), 'req'],
      genesis_time: [(v, p) => { const t = parseTimestamp(str(v, p)); if (t === null) throw new ParseError(`${p}: bad timestamp`); return t; }, 'req'],
      params: [(v, p) => obj(v, p, Object.fromEntries(PARAMS.map((n) => [n, [u32, 'req']]))), 'req'],
      members: [arr(memberInfo), 'req'],
      submitters: [arr((v, p) => obj(v, p, { member: [ident('country'), 'req'], key: [key, 'req'], roles: [roles, 'req'], label: [ident('text'), 'req'] })), 'req'],
    });
  } catch (e) {
    throw new GenesisError('GENESIS_MALFORMED', e.message);
  }
  validate(g);
  const bytes = encode(g);
  if (bytes.length > LIMIT.GENESIS) throw new GenesisError('GENESIS_MALFORMED', 'canonical bytes above the limit');
  const chainId = taggedHash('clearance/v1/genesis', bytes);
  const entries = g.members.map((m) => ({ member: m.id, key: m.validator_key })).sort((a, b) => (a.member < b.member ? -1 : 1));
  return {
    chainId, chainName: g.chain_name, delay: BigInt(g.params.membership_delay_blocks), names: new Map(g.members.map((m) => [m.id, m.name])),
    entries, makeS0: () => makeSet(entries),
  };
}
