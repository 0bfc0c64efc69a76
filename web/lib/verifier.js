// verifier.js: the independent trellis proof verifier (docs/proof-format.md).
//
// One ES module shared by the Node command (web/verify.js) and the static
// page (web/verify.html, where build.js inlines it). It owns the whole
// check: a strict JSON reader (duplicate and unknown keys refused), a small
// protobuf wire decoder (unknown fields and wrong wire types refused), the
// Merkle audit path, the commit certificates, the record signatures, the
// retraction rule and the trace witness rules. It does no I/O and holds no
// cryptography of its own: the caller passes `crypto`, an object with
//   sha256(bytes) -> Promise<Uint8Array(32)>
//   ed25519Verify(pub32, msg, sig64) -> Promise<boolean>   (RFC 8032, pure)
//   schnorrVerify(pub32, msg, sig64) -> Promise<boolean>   (BIP-340, any message length)
// (node:crypto / WebCrypto for the first two, @noble/curves for the third).
//
// Written from the format document alone, not from the C sources: where the
// two disagree, one of them has a bug, and t0610 / t0620 are there to say so.
//
// verifyProof() resolves to a report object, or rejects with a ProofError
// whose message is the one-line reason.

/* ==== Errors and limits ==== */

export class ProofError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProofError';
  }
}

function fail(msg) {
  throw new ProofError(msg);
}

export const LIMITS = Object.freeze({
  proofBytes: 64 * 1024 * 1024,
  blocks: 10000,
  records: 100000,
  path: 64,
  steps: 10000,
  idBytes: 1024,
  headerBytes: 4096,        // a header is 8 small fields (~130 bytes in practice)
  certificateBytes: 64 * 1024, // as the ledger (LDG_CERT_BYTES_MAX): at most n votes of ~70 bytes
  consortiumBytes: 4 * 1024 * 1024, // as the C reader (TR_CONSORTIUM_FILE_MAX)
  recordBytesDefault: 256 * 1024,
});

const ALG_ED25519 = 1;
const ALG_SECP256K1 = 2;
const ALG_NAMES = { ed25519: ALG_ED25519, secp256k1: ALG_SECP256K1 };

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/* ==== Bytes ==== */

export function hex(b) {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function be64(v) {
  const out = new Uint8Array(8);
  let x = BigInt.asUintN(64, v);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INV = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();

// Standard base64 with padding (RFC 4648 section 4), canonical only: no
// whitespace, no missing padding, and the unused bits of the last character
// must be zero (so one byte string has exactly one text form).
export function b64decode(s, what) {
  if (typeof s !== 'string') fail(`${what}: not a string`);
  if (s.length % 4 !== 0) fail(`${what}: malformed base64`);
  let pad = 0;
  if (s.endsWith('==')) pad = 2;
  else if (s.endsWith('=')) pad = 1;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    const v = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      if (last && c === 61 /* = */ && j >= 4 - pad) { v[j] = 0; continue; }
      const d = c < 128 ? B64_INV[c] : -1;
      if (d < 0) fail(`${what}: malformed base64`);
      v[j] = d;
    }
    const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    if (last && pad === 2) {
      if (n & 0xffff) fail(`${what}: malformed base64 (non-zero padding bits)`);
      out[o++] = n >> 16;
    } else if (last && pad === 1) {
      if (n & 0xff) fail(`${what}: malformed base64 (non-zero padding bits)`);
      out[o++] = n >> 16;
      out[o++] = (n >> 8) & 0xff;
    } else {
      out[o++] = n >> 16;
      out[o++] = (n >> 8) & 0xff;
      out[o++] = n & 0xff;
    }
  }
  return out;
}

/* ==== Strict JSON ==== */

// A JSON number keeps its text: JS numbers cannot hold every integer exactly.
class JsonNumber {
  constructor(text) {
    this.text = text;
    this.isInteger = /^-?(0|[1-9][0-9]*)$/.test(text);
  }
}

// parseJson(text): RFC 8259 JSON; duplicate object keys and trailing data
// refused. Objects become Maps (key order kept), numbers JsonNumbers.
export function parseJson(text, what) {
  let i = 0;
  let depth = 0;
  const err = (m) => {
    // line and column of i
    let line = 1;
    let col = 1;
    for (let k = 0; k < i && k < text.length; k++) {
      if (text.charCodeAt(k) === 10) { line++; col = 1; } else col++;
    }
    fail(`${what}: line ${line} column ${col}: ${m}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') return object();
    if (c === '[') return array();
    if (c === '"') return string();
    if (c === 't' && text.startsWith('true', i)) { i += 4; return true; }
    if (c === 'f' && text.startsWith('false', i)) { i += 5; return false; }
    if (c === 'n' && text.startsWith('null', i)) { i += 4; return null; }
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    return err(i >= text.length ? 'unexpected end of input' : 'unexpected character');
  };
  const number = () => {
    const m = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r) err('malformed number');
    i += r[0].length;
    return new JsonNumber(r[0]);
  };
  const string = () => {
    i++; // "
    let out = '';
    let start = i;
    for (;;) {
      if (i >= text.length) err('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 34) { out += text.slice(start, i); i++; return out; }
      if (c < 0x20) err('control character in string');
      if (c === 92) {
        out += text.slice(start, i);
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const u = (k) => {
              const h = text.slice(k, k + 4);
              if (!/^[0-9a-fA-F]{4}$/.test(h)) err('malformed \\u escape');
              return parseInt(h, 16);
            };
            let cp = u(i);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
              if (text[i] !== '\\' || text[i + 1] !== 'u') err('lone surrogate in \\u escape');
              const lo = u(i + 2);
              if (lo < 0xdc00 || lo > 0xdfff) err('lone surrogate in \\u escape');
              i += 6;
              cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) err('lone surrogate in \\u escape');
            if (cp === 0) err('\\u0000 in string');
            out += String.fromCodePoint(cp);
            break;
          }
          default: i -= 1; err('malformed escape');
        }
        start = i;
      } else i++;
    }
  };
  const array = () => {
    if (++depth > 64) err('nested too deeply');
    i++;
    const out = [];
    ws();
    if (text[i] === ']') { i++; depth--; return out; }
    for (;;) {
      out.push(value());
      ws();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === ']') { i++; depth--; return out; }
      err("expected ',' or ']'");
    }
  };
  const object = () => {
    if (++depth > 64) err('nested too deeply');
    i++;
    const out = new Map();
    ws();
    if (text[i] === '}') { i++; depth--; return out; }
    for (;;) {
      ws();
      if (text[i] !== '"') err('expected a key');
      const k = string();
      if (out.has(k)) err(`duplicate object key '${k}'`);
      ws();
      if (text[i] !== ':') err("expected ':'");
      i++;
      out.set(k, value());
      ws();
      if (text[i] === ',') { i++; continue; }
      if (text[i] === '}') { i++; depth--; return out; }
      err("expected ',' or '}'");
    }
  };
  ws();
  if (text[i] !== '{' && text[i] !== '[') err('expected an object or an array');
  const v = value();
  ws();
  if (i !== text.length) err('trailing data after the JSON value');
  return v;
}

function decodeUtf8(bytes, what) {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return fail(`${what}: not valid UTF-8`);
  }
}

// JSON shape helpers: every key required (optional ones listed), no others.
function obj(v, what, required, optional = []) {
  if (!(v instanceof Map)) fail(`${what}: not an object`);
  for (const k of v.keys()) {
    if (!required.includes(k) && !optional.includes(k)) fail(`${what}: unknown key '${k}'`);
  }
  for (const k of required) if (!v.has(k)) fail(`${what}: missing key '${k}'`);
  return v;
}

function arr(v, what) {
  if (!Array.isArray(v)) fail(`${what}: not an array`);
  return v;
}

function u32(v, what) {
  if (!(v instanceof JsonNumber) || !v.isInteger) fail(`${what}: not an integer`);
  if (v.text.startsWith('-') && v.text !== '-0') fail(`${what}: negative`); // -0 is 0 (as jansson reads it)
  if (v.text.replace('-', '').length > 10 || Number(v.text) > 0xffffffff) fail(`${what}: too large`);
  return Math.abs(Number(v.text));
}

function str(v, what) {
  if (typeof v !== 'string') fail(`${what}: not a string`);
  return v;
}

/* ==== Protobuf wire decoding ==== */

// A schema maps field number -> [name, kind, repeated?, subschema?].
// kinds: 'u32' 'u64' 'i64' 'bool' 'enum' (varints), 'bytes' 'string'
// 'msg' (length-delimited). Repeated u32 also accepts the packed form.
// Unknown field numbers and wrong wire types are refused. A non-repeated
// field seen twice keeps the last value (protobuf's rule); a repeated one
// appends.

function readVarint(buf, pos, what) {
  let v = 0n;
  let shift = 0n;
  for (let k = 0; k < 10; k++) {
    if (pos >= buf.length) fail(`${what}: truncated varint`);
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if (!(b & 0x80)) return [BigInt.asUintN(64, v), pos];
  }
  return fail(`${what}: varint longer than 10 bytes`);
}

function scalar(kind, v) {
  switch (kind) {
    case 'u32':
    case 'enum':
      return Number(BigInt.asUintN(32, v));
    case 'bool':
      return v !== 0n;
    case 'i64':
      return BigInt.asIntN(64, v);
    default:
      return v; // u64: BigInt
  }
}

export function decodeMessage(buf, schema, what) {
  const out = {};
  for (const [, [name, kind, rep]] of Object.entries(schema)) {
    if (rep) out[name] = [];
    else if (kind === 'u64' || kind === 'i64') out[name] = 0n;
    else if (kind === 'u32' || kind === 'enum') out[name] = 0;
    else if (kind === 'bool') out[name] = false;
    else if (kind === 'bytes') out[name] = new Uint8Array(0);
    else if (kind === 'string') out[name] = '';
    else out[name] = null;
  }
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos, what);
    const field = Number(key >> 3n);
    const wt = Number(key & 7n);
    if (key >> 3n === 0n || key >> 3n > 0x1fffffffn) fail(`${what}: invalid field number`);
    const spec = schema[field];
    if (!spec) fail(`${what}: unknown field ${field}`);
    const [name, kind, rep, sub] = spec;
    const varintKind = kind !== 'bytes' && kind !== 'string' && kind !== 'msg';
    if (varintKind && wt === 0) {
      let v;
      [v, pos] = readVarint(buf, pos, what);
      if (rep) out[name].push(scalar(kind, v));
      else out[name] = scalar(kind, v);
    } else if (wt === 2) {
      let len;
      [len, pos] = readVarint(buf, pos, what);
      if (len > BigInt(buf.length - pos)) fail(`${what}: field ${field} overruns the message`);
      const body = buf.subarray(pos, pos + Number(len));
      pos += Number(len);
      if (varintKind) {
        if (!rep) fail(`${what}: field ${field} has the wrong wire type`);
        let p = 0;
        while (p < body.length) {
          let v;
          [v, p] = readVarint(body, p, what);
          out[name].push(scalar(kind, v));
        }
      } else {
        let v;
        if (kind === 'bytes') v = body;
        else if (kind === 'string') v = decodeUtf8(body, `${what}: field ${field}`);
        else v = decodeMessage(body, sub, `${what}: field ${field}`);
        if (rep) out[name].push(v);
        else if (kind === 'msg' && out[name]) out[name] = mergeMessages(out[name], v);
        else out[name] = v;
      }
    } else {
      fail(`${what}: field ${field} has the wrong wire type`);
    }
  }
  return out;
}

function mergeMessages(a, b) {
  // protobuf merges a non-repeated sub-message seen twice. Only Proof.trace
  // can hit this, and only in the binary form.
  const out = { ...a };
  for (const k of Object.keys(b)) {
    if (Array.isArray(a[k])) out[k] = a[k].concat(b[k]);
    else out[k] = b[k];
  }
  return out;
}

const QUANTITY = { 1: ['epc_class', 'string'], 2: ['quantity', 'string'], 3: ['uom', 'string'] };
const PARTY = { 1: ['type', 'string'], 2: ['id', 'string'] };
const BIZ_TRANSACTION = { 1: ['type', 'string'], 2: ['id', 'string'] };

export const SCHEMA = {
  BlockHeader: {
    1: ['chain_id', 'bytes'], 2: ['height', 'u64'], 3: ['prev_hash', 'bytes'],
    4: ['records_root', 'bytes'], 5: ['record_count', 'u32'], 6: ['view', 'u64'],
    7: ['proposer', 'u32'], 8: ['time_ms', 'u64'],
  },
  CommitCertificate: {
    1: ['view', 'u64'], 2: ['height', 'u64'], 3: ['block_hash', 'bytes'],
    4: ['votes', 'msg', true, { 1: ['replica', 'u32'], 2: ['signature', 'bytes'] }],
  },
  Record: { 1: ['event', 'bytes'], 2: ['signer', 'u32'], 3: ['alg', 'enum'], 4: ['signature', 'bytes'] },
  Event: {
    1: ['json', 'bytes'], 2: ['type', 'string'], 3: ['event_time', 'string'],
    4: ['event_time_ms', 'i64'], 5: ['event_time_zone_offset', 'string'],
    6: ['action', 'string'], 7: ['biz_step', 'string'], 8: ['disposition', 'string'],
    9: ['read_point', 'string'], 10: ['biz_location', 'string'],
    11: ['epcs', 'string', true], 12: ['quantities', 'msg', true, QUANTITY],
    13: ['parent_id', 'string'], 14: ['child_epcs', 'string', true],
    15: ['child_quantities', 'msg', true, QUANTITY], 16: ['input_epcs', 'string', true],
    17: ['input_quantities', 'msg', true, QUANTITY], 18: ['output_epcs', 'string', true],
    19: ['output_quantities', 'msg', true, QUANTITY], 20: ['transformation_id', 'string'],
    21: ['sources', 'msg', true, PARTY], 22: ['destinations', 'msg', true, PARTY],
    23: ['biz_transactions', 'msg', true, BIZ_TRANSACTION], 24: ['event_hash', 'string'],
    25: ['error_declaration', 'bool'], 26: ['error_reason', 'string'],
    27: ['declaration_time', 'string'], 28: ['corrective_event_ids', 'string', true],
    29: ['event_id', 'string'], 30: ['ilmd_lot', 'string'], 31: ['context', 'bytes'],
  },
  Proof: {
    1: ['version', 'u32'],
    2: ['blocks', 'msg', true, { 1: ['header', 'bytes'], 2: ['certificate', 'bytes'] }],
    3: ['records', 'msg', true, {
      1: ['record', 'bytes'], 2: ['block', 'u32'], 3: ['position', 'u32'], 4: ['path', 'bytes', true],
    }],
    4: ['trace', 'msg', false, {
      1: ['direction', 'u32'],
      2: ['steps', 'msg', true, { 1: ['id', 'string'], 2: ['parent', 'u32'], 3: ['records', 'u32', true] }],
    }],
  },
};

/* ==== The consortium file ==== */

export async function readConsortium(bytes, crypto) {
  if (bytes.length > LIMITS.consortiumBytes) fail('consortium file: too large');
  const chainId = await crypto.sha256(bytes);
  const doc = parseJson(decodeUtf8(bytes, 'consortium file'), 'consortium file');
  if (!(doc instanceof Map)) fail('consortium file: not an object');
  const partners = arr(doc.get('partners'), 'consortium file: partners');
  const nv = doc.get('n');
  if (nv === undefined) fail("consortium file: missing key 'n'");
  const n = u32(nv, 'consortium file: n');
  if (n < 1 || n !== partners.length) fail(`consortium file: n is ${n} but it lists ${partners.length} partners`);
  const f = Math.floor((n - 1) / 3);
  if (doc.has('f') && u32(doc.get('f'), 'consortium file: f') !== f) {
    fail(`consortium file: f is not floor((n - 1) / 3) = ${f}`);
  }
  const list = partners.map((p, i) => {
    const w = `consortium file: partner ${i}`;
    if (!(p instanceof Map)) fail(`${w}: not an object`);
    const name = str(p.get('name'), `${w}: name`);
    const algName = str(p.get('alg'), `${w}: alg`);
    const alg = ALG_NAMES[algName];
    if (!alg) fail(`${w}: unknown alg '${algName}'`);
    const key = b64decode(p.get('key'), `${w}: key`);
    if (key.length !== 32) fail(`${w}: key is not 32 bytes`);
    return { index: i, name, algName, alg, key };
  });
  let recordMax = LIMITS.recordBytesDefault;
  const params = doc.get('params');
  if (params instanceof Map && params.has('record_max_bytes')) {
    recordMax = u32(params.get('record_max_bytes'), 'consortium file: params.record_max_bytes');
  }
  // ceil((n + f + 1) / 2): two quorums share f + 1 partners (2f+1 when n = 3f+1);
  // the same rule as common/consortium.c tr_consortium_quorum
  return { chainId, n, f, quorum: Math.floor((n + f + 2) / 2), partners: list, recordMax };
}

/* ==== Reading a proof (either form) into one shape ==== */

function readJsonProof(text) {
  const doc = parseJson(text, 'proof');
  obj(doc, 'proof', ['format', 'version', 'blocks', 'records'], ['trace']);
  if (doc.get('format') !== 'trellis-proof') fail("proof: format is not 'trellis-proof'");
  const version = u32(doc.get('version'), 'proof: version');
  if (version !== 1) fail(`proof: version ${version} is not 1`);
  const blocks = arr(doc.get('blocks'), 'proof: blocks');
  const records = arr(doc.get('records'), 'proof: records');
  if (blocks.length > LIMITS.blocks) fail(`proof: more than ${LIMITS.blocks} blocks`);
  if (records.length > LIMITS.records) fail(`proof: more than ${LIMITS.records} records`);
  const out = { version, blocks: [], records: [], trace: null };
  blocks.forEach((b, i) => {
    const w = `block ${i}`;
    obj(b, w, ['header', 'certificate']);
    out.blocks.push({
      header: b64decode(b.get('header'), `${w}: header`),
      certificate: b64decode(b.get('certificate'), `${w}: certificate`),
    });
  });
  records.forEach((r, i) => {
    const w = `record ${i}`;
    obj(r, w, ['record', 'block', 'position', 'path']);
    const path = arr(r.get('path'), `${w}: path`);
    if (path.length > LIMITS.path) fail(`${w}: path longer than ${LIMITS.path} hashes`);
    out.records.push({
      record: b64decode(r.get('record'), `${w}: record`),
      block: u32(r.get('block'), `${w}: block`),
      position: u32(r.get('position'), `${w}: position`),
      path: path.map((p, k) => b64decode(p, `${w}: path[${k}]`)),
    });
  });
  if (doc.has('trace')) {
    const t = obj(doc.get('trace'), 'trace', ['direction', 'steps']);
    const dir = str(t.get('direction'), 'trace: direction');
    if (dir !== 'up' && dir !== 'down') fail(`trace: direction '${dir}' is not 'up' or 'down'`);
    const steps = arr(t.get('steps'), 'trace: steps');
    if (steps.length > LIMITS.steps) fail(`trace: more than ${LIMITS.steps} steps`);
    out.trace = {
      direction: dir,
      steps: steps.map((s, i) => {
        const w = `trace step ${i}`;
        obj(s, w, ['id', 'parent', 'records']);
        const pv = s.get('parent');
        let parent;
        if (i === 0) {
          if (pv !== null) fail(`${w}: the root's parent is not null`);
          parent = null;
        } else {
          if (pv === null) fail(`${w}: parent is null (only the root's may be)`);
          parent = u32(pv, `${w}: parent`);
        }
        return {
          id: str(s.get('id'), `${w}: id`),
          parent,
          records: arr(s.get('records'), `${w}: records`).map((x, k) => u32(x, `${w}: records[${k}]`)),
        };
      }),
    };
  }
  return out;
}

function readBinaryProof(bytes) {
  const p = decodeMessage(bytes, SCHEMA.Proof, 'proof');
  if (p.version !== 1) fail(`proof: version ${p.version} is not 1`);
  if (p.blocks.length > LIMITS.blocks) fail(`proof: more than ${LIMITS.blocks} blocks`);
  if (p.records.length > LIMITS.records) fail(`proof: more than ${LIMITS.records} records`);
  const out = { version: 1, blocks: p.blocks, records: [], trace: null };
  p.records.forEach((r, i) => {
    if (r.path.length > LIMITS.path) fail(`record ${i}: path longer than ${LIMITS.path} hashes`);
    out.records.push(r);
  });
  if (p.trace) {
    const d = p.trace.direction;
    if (d !== 1 && d !== 2) fail(`trace: direction ${d} is not 1 (up) or 2 (down)`);
    if (p.trace.steps.length > LIMITS.steps) fail(`trace: more than ${LIMITS.steps} steps`);
    out.trace = {
      direction: d === 1 ? 'up' : 'down',
      steps: p.trace.steps.map((s, i) => {
        if (i === 0 && s.parent !== 0) fail('trace step 0: the root\'s parent is not 0');
        return { id: s.id, parent: i === 0 ? null : s.parent, records: s.records };
      }),
    };
  }
  return out;
}

/* ==== RFC 6962 / RFC 9162 audit path ==== */

async function auditRoot(crypto, leaf, index, size, path) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  const one = Uint8Array.of(1);
  for (const p of path) {
    if (sn === 0) return null; // path too long
    if (fn % 2 === 1 || fn === sn) {
      r = await crypto.sha256(concat(one, p, r));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await crypto.sha256(concat(one, r, p));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/* ==== Signatures ==== */

const TAG_EVENT = utf8.encode('trellis/event/v1');
const TAG_COMMIT = utf8.encode('trellis/commit/v1');

async function sigValid(crypto, partner, msg, sig) {
  if (partner.alg === ALG_ED25519) return crypto.ed25519Verify(partner.key, msg, sig);
  return crypto.schnorrVerify(partner.key, msg, sig);
}

/* ==== Trace identifiers (docs/proof-format.md, Trace bundles) ==== */

const KEEP = /[A-Za-z0-9'\-._;=]/;

// enc: percent-decode %XX sequences, then percent-encode every byte except
// A-Z a-z 0-9 ' - . _ ; = as upper-case %XX.
export function encLot(s) {
  const src = utf8.encode(s);
  const raw = [];
  for (let i = 0; i < src.length; i++) {
    const isHex = (c) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
    if (src[i] === 37 && i + 2 < src.length + 0 && isHex(src[i + 1]) && isHex(src[i + 2])) {
      raw.push(parseInt(String.fromCharCode(src[i + 1], src[i + 2]), 16));
      i += 2;
    } else raw.push(src[i]);
  }
  let out = '';
  for (const b of raw) {
    const c = String.fromCharCode(b);
    if (b < 128 && KEEP.test(c)) out += c;
    else out += '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

const ITEM_RE = /^https:\/\/id\.gs1\.org\/01\/([0-9]{14})\/21\/(.+)$/s;

// lot key of item `epc` in event ev, or null
function lotKey(ev, epc) {
  if (!ev.ilmd_lot) return null;
  const m = ITEM_RE.exec(epc);
  if (!m) return null;
  return `https://id.gs1.org/01/${m[1]}/10/${encLot(ev.ilmd_lot)}`;
}

const ids = {
  inputs: (ev) => ev.input_epcs.concat(ev.input_quantities.map((q) => q.epc_class)),
  outputs: (ev) => ev.output_epcs.concat(ev.output_quantities.map((q) => q.epc_class)),
  children: (ev) => ev.child_epcs.concat(ev.child_quantities.map((q) => q.epc_class)),
};

// The relation that witnesses a step from parent identifier P to C, or null.
function witness(direction, P, C, evs) {
  if (evs.some((e) => e.error_declaration)) return null;
  const xfOk = evs.length === 1 ||
    (evs.length === 2 && evs[0].transformation_id !== '' &&
     evs[0].transformation_id === evs[1].transformation_id);
  const anyIn = (role, id) => evs.some((e) => ids[role](e).includes(id));
  if (direction === 'up') {
    if (xfOk && anyIn('inputs', C) && anyIn('outputs', P)) return 'input';
  } else if (xfOk && anyIn('outputs', C) && anyIn('inputs', P)) return 'output';
  if (evs.length !== 1) return null;
  const e = evs[0];
  const kind = e.type === 'AggregationEvent' ? 'content'
    : e.type === 'AssociationEvent' ? 'associated' : null;
  if (kind && e.action !== 'DELETE') {
    const kids = ids.children(e);
    if (direction === 'up' && e.parent_id === P && kids.includes(C)) return kind;
    if (direction === 'down' && e.parent_id === C && kids.includes(P)) {
      return kind === 'content' ? 'container' : 'associated';
    }
  }
  if (direction === 'up' && e.epcs.includes(P) && lotKey(e, P) === C) return 'lot';
  if (direction === 'down' && e.epcs.includes(C) && lotKey(e, C) === P) return 'item';
  return null;
}

/* ==== The check ==== */

// verifyProof(consortiumBytes, proofBytes, crypto) -> report (see below)
export async function verifyProof(consortiumBytes, proofBytes, crypto) {
  const cons = await readConsortium(consortiumBytes, crypto);
  if (proofBytes.length > LIMITS.proofBytes) fail('proof: larger than 64 MiB');
  let k = 0;
  while (k < proofBytes.length && [9, 10, 13, 32].includes(proofBytes[k])) k++;
  const form = proofBytes[k] === 0x7b ? 'json' : 'binary';
  const proof = form === 'json'
    ? readJsonProof(decodeUtf8(proofBytes, 'proof'))
    : readBinaryProof(proofBytes);

  if (proof.blocks.length === 0) fail('proof: no blocks');
  if (proof.records.length === 0) fail('proof: no records');

  // ---- blocks: header, hash, certificate
  const blocks = [];
  let prevHeight = -1n;
  for (let i = 0; i < proof.blocks.length; i++) {
    const w = `block ${i}`;
    const pb = proof.blocks[i];
    if (pb.header.length > LIMITS.headerBytes) fail(`${w}: header too large`);
    if (pb.certificate.length > LIMITS.certificateBytes) fail(`${w}: certificate too large`);
    const h = decodeMessage(pb.header, SCHEMA.BlockHeader, `${w}: header`);
    if (!bytesEqual(h.chain_id, cons.chainId)) fail(`${w}: header is of another chain (not this consortium file)`);
    if (h.height <= prevHeight) fail(`${w}: heights are not strictly increasing`);
    prevHeight = h.height;
    const hash = await crypto.sha256(pb.header);
    const c = decodeMessage(pb.certificate, SCHEMA.CommitCertificate, `${w}: certificate`);
    if (c.height !== h.height) fail(`${w}: certificate is for height ${c.height}, not ${h.height}`);
    if (!bytesEqual(c.block_hash, hash)) fail(`${w}: certificate is for another block hash`);
    if (c.votes.length > cons.n) fail(`${w}: certificate has ${c.votes.length} votes, more than n = ${cons.n}`);
    const msg = concat(TAG_COMMIT, cons.chainId, be64(c.view), be64(c.height), hash);
    const seen = new Set();
    for (let v = 0; v < c.votes.length; v++) {
      const vote = c.votes[v];
      if (vote.replica >= cons.n) fail(`${w}: vote ${v}: replica ${vote.replica} is not a partner`);
      if (seen.has(vote.replica)) fail(`${w}: vote ${v}: partner '${cons.partners[vote.replica].name}' votes twice`);
      seen.add(vote.replica);
      if (vote.signature.length !== 64) fail(`${w}: vote ${v}: signature is not 64 bytes`);
      if (!(await sigValid(crypto, cons.partners[vote.replica], msg, vote.signature))) {
        fail(`${w}: vote ${v}: bad signature by partner '${cons.partners[vote.replica].name}'`);
      }
    }
    if (c.votes.length < cons.quorum) {
      fail(`${w}: certificate has ${c.votes.length} votes, fewer than the quorum of ${cons.quorum}`);
    }
    blocks.push({ header: h, hash, view: c.view, votes: c.votes.length, used: false });
  }

  // ---- records: signature, audit path, event id
  const records = [];
  const eventIds = new Map();
  for (let i = 0; i < proof.records.length; i++) {
    const w = `record ${i}`;
    const pr = proof.records[i];
    if (pr.block >= blocks.length) fail(`${w}: block ${pr.block} is not in the proof`);
    const blk = blocks[pr.block];
    blk.used = true;
    if (pr.position >= blk.header.record_count) {
      fail(`${w}: position ${pr.position} is not below the block's record count ${blk.header.record_count}`);
    }
    if (pr.record.length > cons.recordMax) fail(`${w}: larger than record_max_bytes`);
    const r = decodeMessage(pr.record, SCHEMA.Record, w);
    if (r.signer >= cons.n) fail(`${w}: signer ${r.signer} is not a partner`);
    const signer = cons.partners[r.signer];
    if (r.alg !== signer.alg) fail(`${w}: algorithm ${r.alg} is not partner '${signer.name}''s (${signer.algName})`);
    if (r.signature.length !== 64) fail(`${w}: signature is not 64 bytes`);
    if (r.event.length === 0) fail(`${w}: empty event`);
    const ev = decodeMessage(r.event, SCHEMA.Event, `${w}: event`);
    if (ev.json.length === 0) fail(`${w}: event has no json`);
    if (!(await sigValid(crypto, signer, concat(TAG_EVENT, cons.chainId, r.event), r.signature))) {
      fail(`${w}: bad signature by partner '${signer.name}'`);
    }
    for (const p of pr.path) if (p.length !== 32) fail(`${w}: a path hash is not 32 bytes`);
    const leaf = await crypto.sha256(concat(Uint8Array.of(0), pr.record));
    const root = await auditRoot(crypto, leaf, pr.position, blk.header.record_count, pr.path);
    if (!root || !bytesEqual(root, blk.header.records_root)) {
      fail(`${w}: audit path does not lead to the block's records_root`);
    }
    const id = hex(await crypto.sha256(r.event));
    if (eventIds.has(id)) fail(`${w}: same event as record ${eventIds.get(id)}`);
    eventIds.set(id, i);
    records.push({
      index: i, eventId: id, signer: signer.name, alg: signer.algName,
      height: blk.header.height, position: pr.position, block: pr.block,
      event: ev, retractedBy: [], retracts: null,
    });
  }
  blocks.forEach((b, i) => { if (!b.used) fail(`block ${i}: no record uses it`); });

  // ---- retractions
  // At most one original and one declaration per event hash: the ledger
  // holds no duplicate and no second retraction (docs/proof-format.md).
  const originals = new Map(); // event_hash -> the record that is not a declaration
  const declarations = new Map(); // event_hash -> the declaration
  for (const s of records) {
    if (s.event.event_hash === '') continue;
    const m = s.event.error_declaration ? declarations : originals;
    if (m.has(s.event.event_hash)) {
      fail(`records ${m.get(s.event.event_hash).index} and ${s.index} are ` +
        `${s.event.error_declaration ? 'two retractions' : 'two originals'} of one event hash`);
    }
    m.set(s.event.event_hash, s);
  }
  for (const [h, r] of declarations) {
    const s = originals.get(h);
    if (!s) continue;
    s.retractedBy.push(r.eventId);
    r.retracts = s.index;
  }

  let trace = null;
  if (!proof.trace) {
    for (let i = 1; i < records.length; i++) {
      if (records[i].retracts !== 0) fail(`record ${i}: not a retraction of record 0 (a one-event proof)`);
    }
  } else {
    trace = checkTrace(proof.trace, records);
  }

  return {
    ok: true,
    form,
    chainId: hex(cons.chainId),
    n: cons.n,
    f: cons.f,
    quorum: cons.quorum,
    blocks: blocks.map((b) => ({
      height: b.header.height, hash: hex(b.hash), view: b.view, votes: b.votes,
      recordCount: b.header.record_count, timeMs: b.header.time_ms,
    })),
    records,
    trace,
  };
}

function checkTrace(t, records) {
  const steps = t.steps;
  if (steps.length === 0) fail('trace: no steps');
  const linking = new Set();
  const out = [];
  steps.forEach((s, i) => {
    const w = `trace step ${i}`;
    if (utf8.encode(s.id).length > LIMITS.idBytes) fail(`${w}: identifier longer than ${LIMITS.idBytes} bytes`);
    if (s.id === '') fail(`${w}: empty identifier`);
    if (i === 0) {
      if (s.records.length !== 0) fail(`${w}: the root has records`);
      out.push({ index: 0, id: s.id, parent: null, depth: 0, relation: 'root', records: [], retracted: false });
      return;
    }
    if (s.parent >= i) fail(`${w}: parent ${s.parent} is not an earlier step`);
    if (s.records.length < 1 || s.records.length > 2) fail(`${w}: has ${s.records.length} records, not one or two`);
    for (const r of s.records) if (r >= records.length) fail(`${w}: record ${r} is not in the proof`);
    if (s.records.length === 2 && s.records[0] === s.records[1]) fail(`${w}: names one record twice`);
    const evs = s.records.map((r) => records[r].event);
    const P = steps[s.parent].id;
    const rel = witness(t.direction, P, s.id, evs);
    if (!rel) fail(`${w}: not witnessed: its records do not link '${P}' ${t.direction === 'up' ? 'to its source' : 'to'} '${s.id}'`);
    s.records.forEach((r) => linking.add(r));
    out.push({
      index: i, id: s.id, parent: s.parent, depth: out[s.parent].depth + 1, relation: rel,
      records: s.records.slice(),
      retracted: s.records.some((r) => records[r].retractedBy.length > 0),
    });
  });
  records.forEach((r, i) => {
    if (linking.has(i)) return;
    if (r.retracts === null || !linking.has(r.retracts)) {
      fail(`record ${i}: neither a step's linking event nor a retraction of one`);
    }
  });
  return { direction: t.direction, steps: out };
}

/* ==== What a verifier prints ==== */

function where(ev) {
  return ev.biz_location || ev.read_point || '';
}

// reportLines(report) -> the lines web/verify.js prints (and the page shows)
export function reportLines(rep) {
  const lines = [];
  const byIndex = rep.records;
  for (const r of byIndex) {
    const ev = r.event;
    let l = `event ${r.eventId} signed by ${r.signer} (${r.alg}) at height ${r.height} position ${r.position}: ` +
      `${ev.type || '(no type)'} ${ev.event_time || '(no time)'}`;
    if (ev.error_declaration) l += ' [error declaration]';
    if (r.retractedBy.length) l += ` retracted by ${r.retractedBy.join(', ')}`;
    lines.push(l);
  }
  if (rep.trace) {
    lines.push(`trace ${rep.trace.direction} from ${rep.trace.steps[0].id}:`);
    for (const s of rep.trace.steps) {
      if (s.index === 0) continue;
      const ev = byIndex[s.records[0]].event;
      const signers = s.records.map((x) => byIndex[x].signer).join('+');
      const place = [...new Set(s.records.map((x) => where(byIndex[x].event)).filter(Boolean))].join(', ');
      lines.push(`${'  '.repeat(s.depth)}${s.relation} ${s.id} (${ev.event_time}${place ? ' at ' + place : ''}, by ${signers})` +
        (s.retracted ? ' [retracted]' : ''));
    }
  }
  const nb = rep.blocks.length;
  lines.push(`ok: ${rep.records.length} record${rep.records.length === 1 ? '' : 's'} in ${nb} block${nb === 1 ? '' : 's'}, ` +
    `each agreed by at least ${rep.quorum} of ${rep.n} partners (chain ${rep.chainId})`);
  return lines;
}
