// verifier.test.js: unit tests of lib/verifier.js on proofs built in
// JavaScript (mkproof.js): every check of docs/proof-format.md, good and
// bad. Run: node --test web/test/   (t0610 runs it too)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verifyProof, parseJson, b64decode, encLot, decodeMessage, SCHEMA, ProofError } from '../lib/verifier.js';
import { nodeCrypto } from '../lib/node-crypto.js';
import {
  makePartner, consortium, makeRecord, makeBlock, proofJson, concat, fBytes, fVarint, varint,
} from './mkproof.js';

const enc = new TextEncoder();
const verify = (cons, text) => verifyProof(cons.bytes, typeof text === 'string' ? enc.encode(text) : text, nodeCrypto);
async function fails(cons, text, re) {
  await assert.rejects(verify(cons, text), (e) => {
    assert.ok(e instanceof ProofError, `not a ProofError: ${e}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}
const mutate = (text, fn) => { const d = JSON.parse(text); fn(d); return JSON.stringify(d); };

const P = [makePartner('farm'), makePartner('packer', 'secp256k1'), makePartner('processor'), makePartner('retailer', 'secp256k1')];
const C = consortium(P);
const other = consortium([makePartner('farm'), ...P.slice(1)]);

function evt(i, extra = {}) {
  return { type: 'ObjectEvent', event_time: `2026-05-01T0${i % 10}:00:00Z`, action: 'OBSERVE', epcs: [`urn:x:${i}`], biz_location: 'urn:loc:1', ...extra };
}

test('base64 and JSON readers are strict', () => {
  assert.deepEqual([...b64decode('AAEC', 'x')], [0, 1, 2]);
  assert.deepEqual([...b64decode('QQ==', 'x')], [65]);
  assert.throws(() => b64decode('QR==', 'x'), /padding bits/);
  assert.throws(() => b64decode('QQ', 'x'), /malformed/);
  assert.throws(() => b64decode('QQ=\n', 'x'), /malformed/);
  assert.throws(() => b64decode('Q-==', 'x'), /malformed/);
  assert.throws(() => parseJson('{"a":1,"a":2}', 'p'), /duplicate object key 'a'/);
  assert.throws(() => parseJson('{"a":1} x', 'p'), /trailing/);
  assert.throws(() => parseJson('{"a":"\\ud800"}', 'p'), /surrogate/);
  assert.throws(() => parseJson('{"a":01}', 'p'), /expected/);
  assert.equal(parseJson('{"a":"\\u00e9\\ud83d\\ude00"}', 'p').get('a'), 'é😀');
});

test('protobuf decoder: unknown fields, wire types, packed', () => {
  const ok = concat(fBytes(1, 'x'), fVarint(2, 5));
  assert.throws(() => decodeMessage(concat(ok, fVarint(9, 1)), SCHEMA.Record, 'r'), /unknown field 9/);
  assert.throws(() => decodeMessage(concat(varint((2 << 3) | 2), varint(1), Uint8Array.of(1)), SCHEMA.Record, 'r'), /wrong wire type/);
  assert.throws(() => decodeMessage(concat(varint((1 << 3) | 0), varint(1)), SCHEMA.Record, 'r'), /wrong wire type/);
  assert.throws(() => decodeMessage(Uint8Array.of(0x0a, 5, 1), SCHEMA.Record, 'r'), /overruns/);
  assert.throws(() => decodeMessage(Uint8Array.of(0x10, 0x80), SCHEMA.Record, 'r'), /truncated/);
  assert.throws(() => decodeMessage(concat(varint((1 << 3) | 5), Uint8Array.of(0, 0, 0, 0)), SCHEMA.Record, 'r'), /wrong wire type/);
  const step = SCHEMA.Proof[4][3][2][3];
  const packed = decodeMessage(concat(fBytes(3, Uint8Array.of(1, 2, 0x80, 1))), step, 's');
  assert.deepEqual(packed.records, [1, 2, 128]);
  const unpacked = decodeMessage(concat(fVarint(3, 4), fVarint(3, 5)), step, 's');
  assert.deepEqual(unpacked.records, [4, 5]);
});

test('lot key encoding', () => {
  assert.equal(encLot('LOT-A'), 'LOT-A');
  assert.equal(encLot('a b/c'), 'a%20b%2Fc');
  assert.equal(encLot('a%2Fb'), 'a%2Fb');
  assert.equal(encLot('a%2fb'), 'a%2Fb');
  assert.equal(encLot('x%zz'), 'x%25zz');
  assert.equal(encLot("A'z;=._-9!"), "A'z;=._-9%21");
  assert.equal(encLot('é'), '%C3%A9');
});

test('one-event proofs verify at every position of trees of 1..9 records', async () => {
  for (let size = 1; size <= 9; size++) {
    const recs = [...Array(size).keys()].map((i) => makeRecord(C, i % 4, evt(i + size * 10)).bytes);
    const b = makeBlock(C, 3, recs, { voters: [3, 0, 2] });
    for (let pos = 0; pos < size; pos++) {
      const rep = await verify(C, proofJson([b], [{ block: 0, position: pos }]));
      assert.equal(rep.records.length, 1);
      assert.equal(rep.records[0].position, pos);
      assert.equal(rep.records[0].signer, P[pos % 4].name);
    }
  }
});

test('one-event proof: every tampering fails', async () => {
  const recs = [0, 1, 2, 3, 4].map((i) => makeRecord(C, i % 4, evt(i)).bytes);
  const b = makeBlock(C, 7, recs, { voters: [0, 1, 2, 3], view: 2 });
  const good = proofJson([b], [{ block: 0, position: 2 }]);
  const rep = await verify(C, good);
  assert.equal(rep.blocks[0].votes, 4);
  await fails(other, good, /another chain/);
  await fails(C, mutate(good, (d) => { d.records[0].position = 3; }), /audit path/);
  await fails(C, mutate(good, (d) => { d.records[0].position = 5; }), /record count/);
  await fails(C, mutate(good, (d) => { d.records[0].block = 1; }), /not in the proof/);
  await fails(C, mutate(good, (d) => { d.records[0].path.pop(); }), /audit path/);
  await fails(C, mutate(good, (d) => { d.records[0].path.push(d.records[0].path[0]); }), /audit path/);
  await fails(C, mutate(good, (d) => { d.records[0].path[0] = Buffer.alloc(31).toString('base64'); }), /32 bytes/);
  await fails(C, mutate(good, (d) => { d.extra = 1; }), /unknown key 'extra'/);
  await fails(C, mutate(good, (d) => { d.records[0].x = 1; }), /unknown key 'x'/);
  await fails(C, mutate(good, (d) => { delete d.format; }), /missing key 'format'/);
  await fails(C, mutate(good, (d) => { d.version = 2; }), /version 2/);
  await fails(C, mutate(good, (d) => { d.records = []; }), /no records/);
  await fails(C, mutate(good, (d) => { d.blocks.push(d.blocks[0]); }), /strictly increasing/);
  await fails(C, good.replace('"position": 2', '"position": 2.0'), /not an integer/);
  await fails(C, good.replace('"position": 2', '"position": -2'), /negative/);
  assert.equal((await verify(C, good.replace('"position": 2', '"position": 2').replace('"block": 0', '"block": -0'))).records[0].block, 0);
  await fails(C, good.replace('"position": 2', '"position": 2, "position": 2'), /duplicate object key/);
  // flip one byte of each decoded field in turn
  const d0 = JSON.parse(good);
  for (const [get, set] of [
    [() => d0.blocks[0].header, (d, v) => { d.blocks[0].header = v; }],
    [() => d0.blocks[0].certificate, (d, v) => { d.blocks[0].certificate = v; }],
    [() => d0.records[0].record, (d, v) => { d.records[0].record = v; }],
    [() => d0.records[0].path[1], (d, v) => { d.records[0].path[1] = v; }],
  ]) {
    const bytes = Buffer.from(get(), 'base64');
    for (let i = 0; i < bytes.length; i += 3) {
      const t = Buffer.from(bytes);
      t[i] ^= 0x01;
      await fails(C, mutate(good, (d) => set(d, t.toString('base64'))));
    }
  }
});

test('certificates: quorum, duplicates, replicas', async () => {
  const recs = [makeRecord(C, 0, evt(1)).bytes];
  const prove = (voters) => proofJson([makeBlock(C, 1, recs, { voters })], [{ block: 0, position: 0 }]);
  await verify(C, prove([0, 1, 2]));
  await verify(C, prove([3, 1, 2]));
  await fails(C, prove([0, 1]), /fewer than the quorum of 3/);
  await fails(C, prove([0, 1, 1]), /votes twice/);
  // a vote signed for another view
  const b0 = makeBlock(C, 1, recs, { voters: [0, 1, 2], view: 0 });
  const swapped = { ...b0, certificate: concat(fVarint(1, 1), b0.certificate) };
  await fails(C, proofJson([swapped], [{ block: 0, position: 0 }]), /bad signature/);
  // more than n votes
  const five = makeBlock(C, 1, recs, { voters: [0, 1, 2, 3] });
  const extra = concat(five.certificate, fBytes(4, concat(fVarint(1, 0), fBytes(2, new Uint8Array(64)))));
  await fails(C, proofJson([{ ...five, certificate: extra }], [{ block: 0, position: 0 }]), /more than n = 4/);
  const bad = concat(b0.certificate, fBytes(4, concat(fVarint(1, 9), fBytes(2, new Uint8Array(64)))));
  await fails(C, proofJson([{ ...b0, certificate: bad }], [{ block: 0, position: 0 }]), /replica 9 is not a partner/);
  // one-partner network: f = 0, one vote
  const solo = consortium([P[1]]);
  const sb = makeBlock(solo, 1, [makeRecord(solo, 0, evt(2)).bytes]);
  const rep = await verifyProof(solo.bytes, enc.encode(proofJson([sb], [{ block: 0, position: 0 }])), nodeCrypto);
  assert.equal(rep.f, 0);
});

test('records: algorithm, signer, unknown event fields, empty json', async () => {
  const ev = evt(1);
  const r = makeRecord(C, 0, ev);
  const prove = (rec) => proofJson([makeBlock(C, 1, [rec])], [{ block: 0, position: 0 }]);
  await verify(C, prove(r.bytes));
  const algSwap = concat(r.bytes.subarray(0, r.bytes.length - 68), fVarint(3, 2), r.bytes.subarray(r.bytes.length - 66));
  await fails(C, prove(algSwap), /algorithm 2/);
  await fails(C, prove(makeRecord(C, 0, { ...ev, extra: fVarint(40, 1) }).bytes), /unknown field 40/);
  await fails(C, prove(makeRecord(C, 0, { ...ev, extra: fVarint(11, 1) }).bytes), /wrong wire type/);
  // accepted: other known fields (event_time_ms, sources) with their wire type
  const ok = makeRecord(C, 0, { ...ev, extra: concat(fVarint(4, 1767225600000), fBytes(21, concat(fBytes(1, 'location'), fBytes(2, 'urn:l')))) });
  await verify(C, prove(ok.bytes));
  const empty = concat(fBytes(1, fBytes(2, 'ObjectEvent')), fVarint(2, 0), fVarint(3, 1), fBytes(4, P[0].sign(new Uint8Array(1))));
  await fails(C, prove(empty), /no json|bad signature/);
});

test('retractions', async () => {
  const orig = makeRecord(C, 0, evt(1, { event_hash: 'ni:///sha-256;aa?ver=CBV2.0' }));
  const decl = makeRecord(C, 0, evt(1, { event_hash: 'ni:///sha-256;aa?ver=CBV2.0', error_declaration: true, event_time: '2026-05-03T00:00:00Z' }));
  const other1 = makeRecord(C, 1, evt(2, { event_hash: 'ni:///sha-256;bb?ver=CBV2.0' }));
  const b1 = makeBlock(C, 1, [orig.bytes, other1.bytes]);
  const b2 = makeBlock(C, 2, [decl.bytes]);
  const rep = await verify(C, proofJson([b1, b2], [{ block: 0, position: 0 }, { block: 1, position: 0 }]));
  assert.equal(rep.records[0].retractedBy.length, 1);
  assert.equal(rep.records[0].retractedBy[0], rep.records[1].eventId);
  await fails(C, proofJson([b1, b2], [{ block: 0, position: 0 }, { block: 0, position: 1 }]), /no record uses it/);
  await fails(C, proofJson([b1], [{ block: 0, position: 0 }, { block: 0, position: 1 }]), /not a retraction of record 0/);
  await fails(C, proofJson([b1], [{ block: 0, position: 0 }, { block: 0, position: 0 }]), /same event as record 0/);
  // the declaration alone is a valid one-event proof
  await verify(C, proofJson([b1, b2].slice(1), [{ block: 0, position: 0 }]));
});

// The farm-to-shelf story as events, for the trace tests.
const LOTA = 'https://id.gs1.org/01/00614141123452/10/FIELD-A';
const LOTB = 'https://id.gs1.org/01/00614141123452/10/FIELD-B';
const PACK1 = 'https://id.gs1.org/01/00614141543212/21/1001';
const PACK2 = 'https://id.gs1.org/01/00614141543212/21/1002';
const PALLET = 'https://id.gs1.org/00/006141411234567890';
const xf = evt(1, { type: 'TransformationEvent', epcs: [], input_quantities: [LOTA, LOTB], output_epcs: [PACK1, PACK2], event_hash: 'h-xf' });
const agg = evt(2, { type: 'AggregationEvent', action: 'ADD', epcs: [], parent_id: PALLET, child_epcs: [PACK1, PACK2], event_hash: 'h-agg' });
const commission = evt(3, { action: 'ADD', epcs: [PACK1], ilmd_lot: 'L 1/2', event_hash: 'h-com' });
const LOTKEY = 'https://id.gs1.org/01/00614141543212/10/L%201%2F2';

function bundle(events, trace) {
  const recs = events.map((e, i) => makeRecord(C, i % 4, e).bytes);
  const b = makeBlock(C, 5, recs);
  return proofJson([b], events.map((_, i) => ({ block: 0, position: i })), trace);
}

test('trace up: content, input, lot; retracted steps marked', async () => {
  const trace = {
    direction: 'up',
    steps: [
      { id: PALLET, parent: null, records: [] },
      { id: PACK1, parent: 0, records: [1] },
      { id: LOTA, parent: 1, records: [0] },
      { id: LOTB, parent: 1, records: [0] },
      { id: LOTKEY, parent: 1, records: [2] },
    ],
  };
  const rep = await verify(C, bundle([xf, agg, commission], trace));
  assert.deepEqual(rep.trace.steps.map((s) => s.relation), ['root', 'content', 'input', 'input', 'lot']);
  const retr = evt(9, { event_hash: 'h-xf', error_declaration: true });
  const rep2 = await verify(C, bundle([xf, agg, commission, retr], trace));
  assert.deepEqual(rep2.trace.steps.map((s) => s.retracted), [false, false, true, true, false]);
  // failures
  const t = (fn) => { const c = structuredClone(trace); fn(c); return c; };
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[2].parent = 0; })), /step 2: not witnessed/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[1].records = [0]; })), /not witnessed/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[4].id = LOTKEY.replace('%20', ' '); })), /not witnessed/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[1].parent = 1; })), /not an earlier step/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[0].parent = 0; })), /root's parent/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[0].records = [0]; })), /root has records/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[1].records = []; })), /not one or two/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[1].records = [7]; })), /not in the proof/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps.pop(); })), /record 2: neither/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.direction = 'sideways'; })), /direction/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[1].extra = 0; })), /unknown key/);
  await fails(C, bundle([xf, agg, commission], t((c) => { c.steps[1].id = 'x'.repeat(1025); })), /longer than 1024/);
  // an aggregation DELETE does not witness containment
  await fails(C, bundle([xf, { ...agg, action: 'DELETE' }, commission], trace), /step 1: not witnessed/);
  // a linking event that is an error declaration
  await fails(C, bundle([xf, { ...agg, error_declaration: true }, commission], trace), /step 1: not witnessed/);
});

test('trace down: output, container, item; two-event transformations', async () => {
  const trace = {
    direction: 'down',
    steps: [
      { id: LOTA, parent: null, records: [] },
      { id: PACK1, parent: 0, records: [0] },
      { id: PALLET, parent: 1, records: [1] },
      { id: PACK2, parent: 0, records: [0] },
    ],
  };
  const rep = await verify(C, bundle([xf, agg], trace));
  assert.deepEqual(rep.trace.steps.map((s) => s.relation), ['root', 'output', 'container', 'output']);
  const item = { direction: 'down', steps: [{ id: LOTKEY, parent: null, records: [] }, { id: PACK1, parent: 0, records: [0] }] };
  assert.equal((await verify(C, bundle([commission], item))).trace.steps[1].relation, 'item');
  const assoc = evt(4, { type: 'AssociationEvent', action: 'ADD', epcs: [], parent_id: 'urn:sensor:1', child_epcs: [PACK2] });
  const ta = { direction: 'down', steps: [{ id: PACK2, parent: null, records: [] }, { id: 'urn:sensor:1', parent: 0, records: [0] }] };
  assert.equal((await verify(C, bundle([assoc], ta))).trace.steps[1].relation, 'associated');
  // one transformation in two events: inputs in one, outputs in the other
  const xin = evt(5, { type: 'TransformationEvent', epcs: [], input_quantities: [LOTA], transformation_id: 'urn:xf:7' });
  const xout = evt(6, { type: 'TransformationEvent', epcs: [], output_epcs: [PACK1], transformation_id: 'urn:xf:7' });
  const t2 = { direction: 'down', steps: [{ id: LOTA, parent: null, records: [] }, { id: PACK1, parent: 0, records: [0, 1] }] };
  assert.equal((await verify(C, bundle([xin, xout], t2))).trace.steps[1].relation, 'output');
  await fails(C, bundle([xin, { ...xout, transformation_id: 'urn:xf:8' }], t2), /not witnessed/);
  await fails(C, bundle([{ ...xin, transformation_id: '' }, { ...xout, transformation_id: '' }], t2), /not witnessed/);
  const t3 = structuredClone(t2);
  t3.steps[1].records = [0, 0];
  await fails(C, bundle([xin, xout], t3), /twice/);
});

test('binary form verifies like the JSON form', async () => {
  const recs = [makeRecord(C, 1, evt(1)).bytes, makeRecord(C, 2, evt(2)).bytes, makeRecord(C, 3, evt(3)).bytes];
  const b = makeBlock(C, 9, recs, { voters: [1, 2, 3] });
  const j = JSON.parse(proofJson([b], [{ block: 0, position: 1 }]));
  const pr = j.records[0];
  const bin = concat(fVarint(1, 1),
    fBytes(2, concat(fBytes(1, b.header), fBytes(2, b.certificate))),
    fBytes(3, concat(fBytes(1, Buffer.from(pr.record, 'base64')), fVarint(2, 0), fVarint(3, 1),
      ...pr.path.map((p) => fBytes(4, Buffer.from(p, 'base64'))))));
  const rep = await verify(C, bin);
  assert.equal(rep.form, 'binary');
  await fails(C, concat(bin, fVarint(9, 1)), /unknown field 9/);
});
