// tamper.js: makes damaged copies of a proof for tests/integration/t0610
// and t0620 (both verifiers must agree on every one).
//
//   node tamper.js consortium.json PROOF.json OUTDIR PREFIX
//
// Writes OUTDIR/PREFIX-NAME.json (or .bin) and prints one line per copy:
//   NAME EXPECTED FILE
// EXPECTED is the exit status docs/proof-format.md asks for (5, or 0 for
// the few changes that leave a valid proof). The damage is done on the
// JSON form, on the decoded bytes of its base64 fields, and on the binary
// form when PROOF.bin sits next to PROOF.json.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [consFile, proofFile, outDir, prefix] = process.argv.slice(2);
const cons = JSON.parse(readFileSync(consFile, 'utf8'));
const f = Math.floor((cons.n - 1) / 3);
const q = Math.floor((cons.n + f + 2) / 2); // the quorum (2f+1 when n = 3f+1)
const text = readFileSync(proofFile, 'utf8');
const good = JSON.parse(text);
const out = [];

function emit(name, expected, data, ext = 'json') {
  const file = join(outDir, `${prefix}-${name}.${ext}`);
  writeFileSync(file, typeof data === 'string' ? data : data instanceof Uint8Array ? data : JSON.stringify(data, null, 1));
  out.push(`${name} ${expected} ${file}`);
}
const clone = () => structuredClone(good);
const variant = (name, expected, fn) => { const d = clone(); fn(d); emit(name, expected, d); };

/* ---- protobuf: top-level fields with their byte ranges */
function varintAt(b, p) {
  let v = 0n; let s = 0n;
  for (;;) { const x = b[p++]; v |= BigInt(x & 0x7f) << s; s += 7n; if (!(x & 0x80)) return [v, p]; }
}
function fields(b) {
  const out = [];
  let p = 0;
  while (p < b.length) {
    const start = p;
    let key; [key, p] = varintAt(b, p);
    const wt = Number(key & 7n);
    const field = Number(key >> 3n);
    let len = 0;
    if (wt === 0) { [, p] = varintAt(b, p); } else if (wt === 2) {
      let l; [l, p] = varintAt(b, p); len = Number(l); p += len;
    } else throw new Error('unexpected wire type');
    out.push({ field, wt, start, end: p });
  }
  return out;
}
const cat = (...parts) => Uint8Array.from(Buffer.concat(parts.map((x) => Buffer.from(x))));
const dec = (s) => new Uint8Array(Buffer.from(s, 'base64'));
const enc = (b) => Buffer.from(b).toString('base64');
function flip(b64, at) {
  const b = dec(b64);
  if (b.length === 0) return null;
  const i = Math.min(b.length - 1, Math.max(0, at < 0 ? b.length + at : at));
  b[i] ^= 0x04;
  return enc(b);
}

/* ---- byte flips inside every base64 field (first, middle, last byte) */
const spots = [0, 0.5, -1];
// (the first and the last block and record: the others are damaged alike)
const ends = (i, n) => i === 0 || i === n - 1;
good.blocks.forEach((blk, i) => {
  if (!ends(i, good.blocks.length)) return;
  for (const k of ['header', 'certificate']) {
    const n = dec(blk[k]).length;
    spots.forEach((s, j) => {
      const at = s === -1 ? -1 : Math.floor(s * n);
      variant(`flip-block${i}-${k}-${j}`, 5, (d) => { d.blocks[i][k] = flip(blk[k], at); });
    });
  }
});
good.records.forEach((r, i) => {
  if (!ends(i, good.records.length)) return;
  const n = dec(r.record).length;
  for (const at of [0, 3, Math.floor(n / 3), Math.floor(n / 2), n - 70, n - 1]) {
    variant(`flip-record${i}-at${at}`, 5, (d) => { d.records[i].record = flip(r.record, at); });
  }
  r.path.forEach((p, k) => variant(`flip-record${i}-path${k}`, 5, (d) => { d.records[i].path[k] = flip(p, 7); }));
});

/* ---- a character of the base64 text replaced by another valid one */
variant('b64-char-header', 5, (d) => {
  const s = d.blocks[0].header; const m = s.length >> 1;
  d.blocks[0].header = s.slice(0, m) + (s[m] === 'A' ? 'B' : 'A') + s.slice(m + 1);
});
variant('b64-invalid-char', 5, (d) => { d.records[0].record = '*' + d.records[0].record.slice(1); });
{
  const padded = [['header', good.blocks[0].header], ['certificate', good.blocks[0].certificate]].find(([, v]) => v.endsWith('='));
  if (padded) variant('b64-no-padding', 5, (d) => { d.blocks[0][padded[0]] = padded[1].replace(/=+$/, ''); });
  // the unused bits of the last base64 character set (same bytes, another text)
  const rec = good.records[0].record;
  if (rec.endsWith('=')) {
    const k = rec.replace(/=+$/, '').length - 1;
    const B = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const v = B.indexOf(rec[k]) | 1;
    variant('b64-padding-bits', 5, (d) => { d.records[0].record = rec.slice(0, k) + B[v] + rec.slice(k + 1); });
  }
}

/* ---- indexes */
variant('position-plus-1', 5, (d) => { d.records[0].position += 1; });
variant('position-huge', 5, (d) => { d.records[0].position = 4294967296; });
variant('position-negative', 5, (d) => { d.records[0].position = -1; });
emit('position-real', 5, text.replace(/"position": ?(\d+)/, '"position": $1.0'));
variant('position-string', 5, (d) => { d.records[0].position = String(d.records[0].position); });
variant('block-plus-1', 5, (d) => { d.records[0].block = d.blocks.length; });
variant('path-drop', 5, (d) => { if (d.records[0].path.length) d.records[0].path.pop(); else d.records[0].path.push(enc(new Uint8Array(32))); });
variant('path-extra', 5, (d) => { d.records[0].path.push(enc(new Uint8Array(32))); });
variant('path-short-hash', 5, (d) => { d.records[0].path.push(enc(new Uint8Array(31))); });

/* ---- structure and keys */
variant('unknown-key-top', 5, (d) => { d.comment = 'x'; });
variant('unknown-key-block', 5, (d) => { d.blocks[0].height = 1; });
variant('unknown-key-record', 5, (d) => { d.records[0].event_id = 'x'; });
emit('duplicate-key', 5, text.replace('"version": 1', '"version": 1, "version": 1'));
variant('missing-path', 5, (d) => { delete d.records[0].path; });
variant('version-2', 5, (d) => { d.version = 2; });
variant('format-other', 5, (d) => { d.format = 'trellis-proof-v2'; });
variant('no-records', 5, (d) => { d.records = []; });
variant('no-blocks', 5, (d) => { d.blocks = []; d.records = []; });
variant('block-twice', 5, (d) => { d.blocks.push(d.blocks[0]); });
emit('trailing-data', 5, text + '{}');
emit('not-json', 5, text.slice(0, text.length >> 1));
// JSON spellings that change nothing (the same proof) and some that are refused
emit('crlf', 0, text.replace(/\n/g, '\r\n'));
emit('escaped-key', 0, text.replace('"format"', '"\\u0066ormat"'));
emit('block-minus-0', 0, text.replace(/"block": ?0/, '"block": -0'));
emit('bom', 5, '\ufeff' + text);
emit('top-array', 5, `[${text}]`);
emit('index-too-big', 5, text.replace(/"block": ?0/, '"block": 99999999999999999999999'));
emit('nul-in-string', 5, text.replace('"trellis-proof"', '"trellis-proof\\u0000"'));
variant('b64url', 5, (d) => {
  const h = d.blocks[0].header;
  d.blocks[0].header = h.includes('+') ? h.replace('+', '-') : h.includes('/') ? h.replace('/', '_') : '-' + h.slice(1);
});

/* ---- certificates: one vote short of the quorum, a partner twice, an unknown field, another view */
good.blocks.forEach((blk, i) => {
  if (!ends(i, good.blocks.length)) return;
  const c = dec(blk.certificate);
  const fs = fields(c);
  const votes = fs.filter((x) => x.field === 4);
  const rest = fs.filter((x) => x.field !== 4);
  const build = (vs, extra = []) => enc(cat(...rest.map((x) => c.subarray(x.start, x.end)),
    ...vs.map((x) => c.subarray(x.start, x.end)), ...extra));
  variant(`block${i}-votes-2f`, 5, (d) => { d.blocks[i].certificate = build(votes.slice(0, q - 1)); });
  if (votes.length > 1) {
    variant(`block${i}-vote-twice`, 5, (d) => { d.blocks[i].certificate = build([...votes.slice(0, -1), votes[0]]); });
  }
  variant(`block${i}-votes-all-but-one-dup`, 5, (d) => { d.blocks[i].certificate = build([...votes, votes[0]]); });
  variant(`block${i}-cert-unknown-field`, 5, (d) => { d.blocks[i].certificate = build(votes, [Uint8Array.of(0x48, 0x01)]); });
  variant(`block${i}-cert-other-view`, 5, (d) => {
    const noView = rest.filter((x) => x.field !== 1);
    d.blocks[i].certificate = enc(cat(Uint8Array.of(0x08, 0x07), ...noView.map((x) => c.subarray(x.start, x.end)),
      ...votes.map((x) => c.subarray(x.start, x.end))));
  });
  if (votes.length > q) {
    // more votes than the quorum: dropping one still leaves a valid certificate
    variant(`block${i}-votes-quorum`, 0, (d) => { d.blocks[i].certificate = build(votes.slice(0, q)); });
  }
});

/* ---- several records: order, retraction dropped */
if (good.records.length > 1 && !good.trace) {
  variant('records-swapped', 5, (d) => { [d.records[0], d.records[1]] = [d.records[1], d.records[0]]; });
  variant('retraction-dropped', 0, (d) => {
    const used = new Set([d.records[0].block]);
    d.records = d.records.slice(0, 1);
    d.blocks = d.blocks.filter((_, k) => used.has(k));
    d.records[0].block = 0;
  });
  variant('record-twice', 5, (d) => { d.records.push(d.records[0]); });
}
if (good.records.length === 1 && !good.trace) variant('record-twice', 5, (d) => { d.records.push(d.records[0]); });

/* ---- trace bundles */
if (good.trace) {
  const steps = good.trace.steps;
  variant('trace-direction', 5, (d) => { d.trace.direction = d.trace.direction === 'up' ? 'down' : 'up'; });
  variant('trace-direction-bad', 5, (d) => { d.trace.direction = 'sideways'; });
  variant('trace-unknown-key', 5, (d) => { d.trace.depth = 16; });
  variant('trace-step-unknown-key', 5, (d) => { d.trace.steps[1].relation = 'input'; });
  variant('trace-root-parent-0', 5, (d) => { d.trace.steps[0].parent = 0; });
  variant('trace-root-records', 5, (d) => { d.trace.steps[0].records = [0]; });
  variant('trace-no-steps', 5, (d) => { d.trace.steps = []; });
  const last = steps.length - 1;
  variant('trace-last-id', 5, (d) => { d.trace.steps[last].id += 'X'; });
  variant('trace-root-id', 5, (d) => { d.trace.steps[0].id += 'X'; });
  variant('trace-last-parent-self', 5, (d) => { d.trace.steps[last].parent = last; });
  variant('trace-last-parent-null', 5, (d) => { d.trace.steps[last].parent = null; });
  variant('trace-last-no-records', 5, (d) => { d.trace.steps[last].records = []; });
  variant('trace-last-record-out', 5, (d) => { d.trace.steps[last].records = [d.records.length]; });
  variant('trace-last-records-3', 5, (d) => { d.trace.steps[last].records = [0, 0, 0]; });
  // a step whose parent is moved to another step is no longer witnessed
  // (unless both steps have the same identifier)
  for (let s = 2; s < steps.length; s++) {
    const np = steps[s].parent === 0 ? 1 : 0;
    if (steps[np].id !== steps[steps[s].parent].id) {
      variant(`trace-step${s}-reparented`, 5, (d) => { d.trace.steps[s].parent = np; });
      break;
    }
  }
  // a step given the record of another step that links other identifiers
  for (let s = 1; s < steps.length; s++) {
    const t = steps.findIndex((x, k) => k > 0 && x.records.join() !== steps[s].records.join() &&
      (x.id !== steps[s].id || steps[x.parent].id !== steps[steps[s].parent].id));
    if (t > 0) {
      variant(`trace-step${s}-records-of-${t}`, 5, (d) => { d.trace.steps[s].records = steps[t].records.slice(); });
      break;
    }
  }
  // drop the last step: its record is then on no step (unless another uses it)
  const lastRecs = steps[last].records;
  const usedElsewhere = lastRecs.every((r) => steps.some((x, k) => k !== last && x.records.includes(r)));
  variant('trace-last-step-dropped', usedElsewhere ? 0 : 5, (d) => { d.trace.steps.pop(); });
  // a retraction no step links: dropping it leaves a valid (less telling) bundle
  const lastRec = good.records.length - 1;
  if (lastRec > 0 && !steps.some((x) => x.records.includes(lastRec))) {
    variant('trace-retraction-dropped', 0, (d) => {
      d.records.pop();
      const used = new Set(d.records.map((r) => r.block));
      if (!used.has(d.blocks.length - 1)) d.blocks.pop();
    });
  }
  // a step of two events (one transformation) left with one of them
  const two = steps.findIndex((x) => x.records.length === 2);
  if (two > 0) {
    variant(`trace-step${two}-one-of-two`, 5, (d) => { d.trace.steps[two].records.pop(); });
    variant(`trace-step${two}-same-record-twice`, 5, (d) => {
      d.trace.steps[two].records[1] = d.trace.steps[two].records[0];
    });
  }
  emit('trace-parent-real', 5, text.replace(/"parent": ?0(\s*[,}])/, '"parent": 0.0$1'));
}

/* ---- the binary form next to the JSON one */
const binFile = proofFile.replace(/\.json$/, '.bin');
if (existsSync(binFile)) {
  const bin = new Uint8Array(readFileSync(binFile));
  emit('binary-good', 0, bin, 'bin');
  const n = bin.length;
  for (const at of [0, 1, 5, Math.floor(n / 3), Math.floor((2 * n) / 3), n - 1]) {
    const b = Uint8Array.from(bin);
    b[at] ^= 0x01;
    emit(`binary-flip-at${at}`, 5, b, 'bin');
  }
  emit('binary-truncated', 5, bin.subarray(0, n - 1), 'bin');
  emit('binary-unknown-field', 5, cat(bin, Uint8Array.of(0x48, 0x01)), 'bin');
}

process.stdout.write(out.join('\n') + '\n');
