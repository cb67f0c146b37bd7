// The JSON file formats of audit.md §2. Only shape is checked here (step `parse`, and `format` for the format and
// version fields); every limit that audit.md assigns to a later step is left to that step.

import { encodeUtf8 } from './bytes.js';
import { ParseError, arr, bytes, hash32, obj, parseJson, str, tagged, u32, u64 } from './json.js';
import { isValidId } from './ids.js';
import { Fail } from './records.js';

export const MAX_FILE_BYTES = 4194304;

const certified = (v, p) => obj(v, p, { header: [bytes, 'req'], certificate: [bytes, 'req'] });
const path = arr(hash32); // length limit (64) is checked by the step that uses the path
const recordProof = (v, p) => obj(v, p, {
  signed_tx: [bytes, 'req'], block: [certified, 'req'], tx_index: [u64, 'req'], tx_path: [path, 'req'],
  log_index: [u64, 'req'], log_path: [path, 'req'],
});
const logged = (v, p) => obj(v, p, { signed_tx: [bytes, 'req'], log_index: [u64, 'req'], log_path: [path, 'req'] });
const adoptedChange = (v, p) => obj(v, p, { proposal: [logged, 'req'], approvals: [arr(logged), 'req'] });
const setChange = (v, p) => obj(v, p, {
  height: [u64, 'req'], validator_set: [bytes, 'req'], proof: [certified, 'req'], adopting: [certified, 'req'],
  adopted: [arr(adoptedChange), 'req'],
});
const terminal = (v, p) => tagged(v, p, ['empty'], {
  present: (x, q) => obj(x, q, { value: [hash32, 'req'] }),
  other: (x, q) => obj(x, q, { key: [hash32, 'req'], value: [hash32, 'req'] }),
});
const entryProof = (v, p) => {
  const e = obj(v, p, {
    value: [bytes, 'opt'],
    proof: [(x, q) => obj(x, q, { siblings: [arr(hash32), 'req'], terminal: [terminal, 'req'] }), 'req'],
  });
  const t = e.proof.terminal;
  return { value: e.value, siblings: e.proof.siblings, terminal: { tag: t.tag, ...(t.value ?? {}) } };
};
const ident = (kind) => (v, p) => { if (!isValidId(kind, str(v, p))) throw new ParseError(`${p}: invalid ${kind}`); return v; };
const subject = (v, p) => {
  const t = tagged(v, p, [], {
    certificate: (x, q) => obj(x, q, { issuer: [ident('country'), 'req'], number: [ident('certificate_number'), 'req'] }),
    aeo: (x, q) => obj(x, q, { operator: [ident('operator_id'), 'req'], programme: [ident('country'), 'req'] }),
    decision: (x, q) => obj(x, q, { record: [hash32, 'req'] }),
    declaration: (x, q) => obj(x, q, { declaration: [declarationId, 'req'], member: [ident('country'), 'req'] }),
  });
  return { kind: t.tag, ...t.value };
};
/** `DeclarationId` (protocol.md §2.2, §2.8): `{"mrn": M}` or `{"ucr": U}`, read as { mrn } or { ucr }. */
function declarationId(v, p) {
  const t = tagged(v, p, [], { mrn: ident('mrn'), ucr: ident('ucr') });
  return { [t.tag]: t.value };
}
/** The `decision` section of a declaration's status proof (audit.md §2.8). */
const decisionSection = (v, p) => obj(v, p, { record: [hash32, 'req'], status: [entryProof, 'req'] });
const recognition = (v, p) => obj(v, p, {
  member: [ident('country'), 'req'],
  mra: [(x, q) => obj(x, q, { record: [hash32, 'req'], status: [entryProof, 'req'] }), 'opt'],
});

const SCHEMAS = {
  'clearance-proof-bundle': {
    kind: 'proof bundle',
    fields: {
      format: [str, 'req'], version: [u32, 'req'], chain_id: [hash32, 'req'], record: [recordProof, 'req'],
      later: [arr(recordProof), 'req'], anchor: [certified, 'req'], validator_set_changes: [arr(setChange), 'req'],
      status: [entryProof, 'opt'],
    },
  },
  'clearance-status-proof': {
    kind: 'status proof',
    fields: {
      format: [str, 'req'], version: [u32, 'req'], chain_id: [hash32, 'req'], subject: [subject, 'req'],
      status: [entryProof, 'req'], anchor: [certified, 'req'], validator_set_changes: [arr(setChange), 'req'],
      recognition: [recognition, 'opt'], decision: [decisionSection, 'opt'],
    },
  },
  'clearance-checkpoint': {
    kind: 'checkpoint',
    fields: {
      format: [str, 'req'], version: [u32, 'req'], chain_id: [hash32, 'req'], height: [u64, 'req'],
      log_size: [u64, 'req'], log_root: [hash32, 'req'], head: [certified, 'req'],
      validator_set_changes: [arr(setChange), () => []],
    },
  },
  'clearance-consistency-proof': {
    kind: 'consistency proof',
    fields: {
      format: [str, 'req'], version: [u32, 'req'], chain_id: [hash32, 'req'], old: [certified, 'req'],
      new: [certified, 'req'], proof: [arr(hash32), 'req'], validator_set_changes: [arr(setChange), () => []],
    },
  },
};

/**
 * Steps 1 and 2 of every file kind (audit.md §2.1): size, then the whole file read into the expected shape
 * (`parse`: a file of another kind, a missing `format`, a non-string `format` or a `version` that is not a plain
 * integer 0 to 2^32 − 1 fail here), and only then the values of `format` and `version` (`format`).
 */
export function parseFile(input, format, steps) {
  const { kind, fields } = SCHEMAS[format];
  const b = typeof input === 'string' ? encodeUtf8(input) : input;
  if (b.length > MAX_FILE_BYTES) throw new Fail('parse', `the ${kind} file is ${b.length} bytes, above ${MAX_FILE_BYTES}`);
  let f;
  try {
    const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    f = obj(parseJson(text), kind, fields);
  } catch (e) { throw new Fail('parse', `not a valid ${kind}: ${e.message}`); }
  steps.push({ step: 'parse', ok: true });
  if (f.format !== format) throw new Fail('format', `not a ${kind}: format ${JSON.stringify(f.format)}, expected "${format}"`);
  if (f.version !== 1) throw new Fail('format', `${kind} version ${f.version}, this verifier reads version 1`);
  steps.push({ step: 'format', ok: true });
  return f;
}
