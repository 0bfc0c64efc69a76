// mkproof.js: builds trellis proofs in JavaScript for the verifier's unit
// tests (web/test/verifier.test.js): keys, Events, Records, blocks with an
// RFC 6962 Merkle tree, commit certificates, and the JSON proof form of
// docs/proof-format.md. Test code only: the real proofs come from
// `trellis prove` (tests/integration/t0610-proof-js.t).
import { createHash, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { schnorr } from '../vendor/noble-secp256k1.js';

export const sha256 = (b) => new Uint8Array(createHash('sha256').update(b).digest());
const enc = new TextEncoder();

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/* ==== protobuf encoding ==== */

export function varint(v) {
  let x = BigInt(v);
  const out = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return Uint8Array.from(out);
}

export const fVarint = (n, v) => (BigInt(v) === 0n ? new Uint8Array(0) : concat(varint(n << 3), varint(v)));
export const fBytes = (n, b) => {
  if (typeof b === 'string') b = enc.encode(b);
  return b.length === 0 ? new Uint8Array(0) : concat(varint((n << 3) | 2), varint(b.length), b);
};
const fBytesAlways = (n, b) => concat(varint((n << 3) | 2), varint(b.length), b);

const QFIELDS = { quantities: 12, child_quantities: 15, input_quantities: 17, output_quantities: 19 };
const SFIELDS = {
  type: 2, event_time: 3, event_time_zone_offset: 5, action: 6, biz_step: 7, read_point: 9,
  biz_location: 10, parent_id: 13, transformation_id: 20, event_hash: 24, ilmd_lot: 30,
};
const RFIELDS = { epcs: 11, child_epcs: 14, input_epcs: 16, output_epcs: 18 };

export function encodeEvent(e) {
  const parts = [fBytes(1, e.json || JSON.stringify({ type: e.type || 'ObjectEvent', eventTime: e.event_time }))];
  for (const [k, n] of Object.entries(SFIELDS)) if (e[k]) parts.push(fBytes(n, e[k]));
  for (const [k, n] of Object.entries(RFIELDS)) for (const s of e[k] || []) parts.push(fBytesAlways(n, enc.encode(s)));
  for (const [k, n] of Object.entries(QFIELDS)) {
    for (const q of e[k] || []) parts.push(fBytesAlways(n, concat(fBytes(1, q), fBytes(2, '1'))));
  }
  if (e.error_declaration) parts.push(fVarint(25, 1));
  if (e.extra) parts.push(e.extra);
  return concat(...parts);
}

/* ==== keys and signatures ==== */

export function makePartner(name, alg = 'ed25519') {
  if (alg === 'secp256k1') {
    const sk = schnorr.utils.randomSecretKey();
    const pub = schnorr.getPublicKey(sk);
    return { name, alg, pub, sign: (m) => schnorr.sign(m, sk) };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url'));
  return { name, alg, pub, sign: (m) => new Uint8Array(nodeSign(null, m, privateKey)) };
}

export function consortium(partners) {
  const n = partners.length;
  const doc = {
    version: 1,
    partners: partners.map((p, i) => ({
      name: p.name, alg: p.alg, key: Buffer.from(p.pub).toString('base64'),
      address: `127.0.0.1:${7001 + i}`, locations: [],
    })),
    n,
    f: Math.floor((n - 1) / 3),
    params: { block_max_records: 2000, block_max_bytes: 4194304, block_max_wait_ms: 20, record_max_bytes: 262144 },
  };
  const bytes = enc.encode(JSON.stringify(doc, null, 2) + '\n');
  return { bytes, chainId: sha256(bytes), n, f: doc.f, partners };
}

export function makeRecord(cons, signer, event) {
  const ev = encodeEvent(event);
  const p = cons.partners[signer];
  const sig = p.sign(concat(enc.encode('trellis/event/v1'), cons.chainId, ev));
  const alg = p.alg === 'ed25519' ? 1 : 2;
  return { bytes: concat(fBytes(1, ev), fVarint(2, signer), fVarint(3, alg), fBytes(4, sig)), ev };
}

/* ==== Merkle (RFC 6962) ==== */

const leafHash = (b) => sha256(concat(Uint8Array.of(0), b));
const nodeHash = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
function split(n) { let k = 1; while (k * 2 < n) k *= 2; return k; }
export function mth(leaves) {
  if (leaves.length === 1) return leafHash(leaves[0]);
  const k = split(leaves.length);
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}
export function auditPath(m, leaves) {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  if (m < k) return auditPath(m, leaves.slice(0, k)).concat([mth(leaves.slice(k))]);
  return auditPath(m - k, leaves.slice(k)).concat([mth(leaves.slice(0, k))]);
}

/* ==== blocks ==== */

function be64(v) {
  const out = new Uint8Array(8);
  let x = BigInt(v);
  for (let i = 7; i >= 0; i--) { out[i] = Number(x & 0xffn); x >>= 8n; }
  return out;
}

// makeBlock(cons, height, recordBytes[], {voters, view}) -> {header, certificate, hash}
export function makeBlock(cons, height, records, opt = {}) {
  const view = opt.view || 0;
  const header = concat(fBytes(1, cons.chainId), fVarint(2, height), fBytes(3, cons.chainId),
    fBytes(4, mth(records)), fVarint(5, records.length), fVarint(6, view), fVarint(7, 0),
    fVarint(8, 1767225600000 + height));
  const hash = sha256(header);
  const voters = opt.voters || [...Array(2 * cons.f + 1).keys()];
  const msg = concat(enc.encode('trellis/commit/v1'), cons.chainId, be64(view), be64(height), hash);
  const votes = voters.map((v) => fBytesAlways(4, concat(fVarint(1, v), fBytes(2, cons.partners[v].sign(msg)))));
  const certificate = concat(fVarint(1, view), fVarint(2, height), fBytes(3, hash), ...votes);
  return { header, certificate, hash, records };
}

const b64 = (b) => Buffer.from(b).toString('base64');

// proofJson(blocks, picks: [{block, position}], trace) -> JSON text
export function proofJson(blocks, picks, trace) {
  const doc = {
    format: 'trellis-proof',
    version: 1,
    blocks: blocks.map((b) => ({ header: b64(b.header), certificate: b64(b.certificate) })),
    records: picks.map(({ block, position }) => ({
      record: b64(blocks[block].records[position]), block, position,
      path: auditPath(position, blocks[block].records).map(b64),
    })),
  };
  if (trace) doc.trace = trace;
  return JSON.stringify(doc, null, 1);
}
