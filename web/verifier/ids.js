// Identifiers, dates and timestamps (protocol.md §8). These are validated while decoding, so a bad one is a decode
// error, never a later check (protocol.md §1.3 rule 6, §11 note 2).

import { DecodeError, encodeUtf8 } from './bytes.js';

const COUNTRIES = new Set(`AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET EU FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK
HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB
LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU
RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN
TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`.split(/\s+/));

const UPALNUM = /^[A-Z0-9]*$/;

function isoCheckValue(c) {
  if (c >= '0' && c <= '9') return c.charCodeAt(0) - 48;
  const v = 10 + (c.charCodeAt(0) - 65);
  return v + Math.floor((v - 1) / 10);
}

export function mrnCheckDigit(s17) {
  let sum = 0;
  for (let i = 0; i < s17.length; i++) sum += isoCheckValue(s17[i]) * 2 ** i;
  return (sum % 11) % 10;
}

const RULES = {
  country: (s) => s.length === 2 && COUNTRIES.has(s),
  hs_code: (s) => /^[0-9]{6,10}$/.test(s) && (() => { const ch = +s.slice(0, 2); return ch >= 1 && ch <= 97 && ch !== 77; })(),
  mrn: (s) => s.length === 18 && UPALNUM.test(s) && /^[0-9]{2}/.test(s) && COUNTRIES.has(s.slice(2, 4))
    && /[0-9]$/.test(s) && mrnCheckDigit(s.slice(0, 17)) === +s[17],
  ucr: (s) => /^[A-Z0-9\-/+.:]{1,35}$/.test(s),
  customs_office: (s) => /^[A-Z0-9]{8}$/.test(s) && COUNTRIES.has(s.slice(0, 2)),
  operator_id: (s) => /^[A-Z0-9]{3,17}$/.test(s) && COUNTRIES.has(s.slice(0, 2)),
  certificate_number: (s) => /^[A-Za-z0-9][A-Za-z0-9\-/._]{0,49}$/.test(s),
  reason_code: (s) => /^[A-Z0-9_]{1,32}$/.test(s),
  // Unicode definitions, not ASCII ones (protocol.md §11 note 11). V8's Unicode tables may be a different version
  // from Rust's; for the characters in question (Cc, White_Space) they have not changed in years.
  text: (s) => { const n = encodeUtf8(s).length; return n >= 1 && n <= 256 && !/\p{Cc}/u.test(s) && !/^\p{White_Space}|\p{White_Space}$/u.test(s); },
  chain_name: (s) => /^[a-z0-9-]{1,64}$/.test(s),
};

/** Validate identifier `s` of kind `kind`; throws DecodeError (binary) or returns false via `isValidId`. */
export function checkId(kind, s) {
  if (!RULES[kind](s)) throw new DecodeError(`invalid ${kind} ${JSON.stringify(s.slice(0, 80))}`);
  return s;
}
export const isValidId = (kind, s) => typeof s === 'string' && RULES[kind](s);

const daysIn = (y, m) => [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];

export function checkDate(y, m, d) {
  if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m)) throw new DecodeError(`invalid date ${y}-${m}-${d}`);
  return { y, m, d };
}
export const fmtDate = ({ y, m, d }) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;

export const MAX_TIMESTAMP = 253402300800000n;
export function checkTimestamp(ms) {
  if (ms >= MAX_TIMESTAMP) throw new DecodeError(`timestamp ${ms} is not before year 10000`);
  return ms;
}

/** `YYYY-MM-DDTHH:MM:SS.fffZ` (protocol.md §8.5). */
export function fmtTimestamp(ms) {
  const iso = new Date(Number(ms)).toISOString();
  return iso;
}
/** The minute-precision form the CLI headline uses: `2026-11-30 13:55 UTC`. */
export const fmtMinute = (ms) => `${fmtTimestamp(ms).slice(0, 10)} ${fmtTimestamp(ms).slice(11, 16)} UTC`;

/** JSON timestamp input rules of protocol.md §8.5. Returns BigInt ms or null. */
export function parseTimestamp(s) {
  const m = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,3}))?Z$/.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number);
  try { checkDate(y, mo, d); } catch { return null; }
  if (h > 23 || mi > 59 || se > 59) return null;
  const frac = m[7] ? Number(m[7].padEnd(3, '0')) : 0;
  return BigInt(Date.UTC(y, mo - 1, d, h, mi, se)) + BigInt(frac);
}

export const ROLE_NAMES = ['certificates', 'clearance', 'aeo', 'mra', 'key_admin', 'membership'];
export function checkRoles(bits) {
  if (bits & ~0x3f) throw new DecodeError(`roles 0x${bits.toString(16)} has bits outside 0x3F`);
  return bits;
}
