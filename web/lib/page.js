// page.js: the browser side of web/verify.html.
//
// Reads the consortium file and the proof from a file picker, a drop or a
// paste, runs lib/verifier.js with WebCrypto (SHA-256, Ed25519) and the
// vendored @noble/curves (BIP-340), and shows the verdict, the reason, the
// events and the trace tree. build.js bundles this file, the verifier and
// the vendored library into verify.html, which therefore loads nothing:
// it works from a file:// URL with no network.
//
// State for tests and scripts: #verdict gets data-verdict="ok" or "failed"
// once a check ends (data-verdict="" while none has run), #reason the
// one-line reason.
import { verifyProof, reportLines, ProofError, hex } from './verifier.js';
import { schnorr } from '../vendor/noble-secp256k1.js';

const subtle = globalThis.crypto && globalThis.crypto.subtle;
const edKeys = new Map();

const webCrypto = {
  sha256: async (b) => new Uint8Array(await subtle.digest('SHA-256', b)),
  ed25519Verify: async (pub, msg, sig) => {
    const k = hex(pub);
    let key = edKeys.get(k);
    if (!key) {
      try {
        key = await subtle.importKey('raw', pub, { name: 'Ed25519' }, false, ['verify']);
      } catch (e) {
        if (e && e.name === 'NotSupportedError') throw new Error('this browser has no Ed25519 in WebCrypto');
        return false; // not a valid public key
      }
      edKeys.set(k, key);
    }
    return subtle.verify({ name: 'Ed25519' }, key, sig, msg);
  },
  schnorrVerify: async (pub, msg, sig) => {
    try {
      return schnorr.verify(sig, msg, pub);
    } catch {
      return false;
    }
  },
};

const $ = (id) => document.getElementById(id);

// Each input keeps the exact bytes of a loaded file until the text is edited.
const inputs = {
  consortium: { bytes: null, name: '' },
  proof: { bytes: null, name: '' },
};

function isText(bytes) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return false;
  }
  return !bytes.includes(0);
}

function load(which, bytes, name) {
  const st = inputs[which];
  st.bytes = bytes;
  st.name = name;
  const ta = $(`${which}-text`);
  if (isText(bytes) && bytes.length <= 8 * 1024 * 1024) {
    ta.value = new TextDecoder().decode(bytes);
  } else {
    ta.value = '';
    ta.placeholder = `${name}: binary, ${bytes.length} bytes (loaded as is)`;
  }
  $(`${which}-source`).textContent = `${name} (${bytes.length} bytes, exact file bytes)`;
  maybeVerify();
}

function current(which) {
  const st = inputs[which];
  if (st.bytes) return st.bytes;
  const t = $(`${which}-text`).value;
  return t.trim() === '' ? null : new TextEncoder().encode(t);
}

async function readFile(file) {
  return new Uint8Array(await file.arrayBuffer());
}

function wire(which) {
  const ta = $(`${which}-text`);
  const fileInput = $(`${which}-file`);
  const zone = $(`${which}-zone`);
  ta.addEventListener('input', () => {
    inputs[which].bytes = null;
    $(`${which}-source`).textContent = ta.value ? 'pasted text (UTF-8)' : '';
    ta.placeholder = ta.dataset.placeholder;
  });
  fileInput.addEventListener('change', async () => {
    if (fileInput.files.length) load(which, await readFile(fileInput.files[0]), fileInput.files[0].name);
  });
  for (const ev of ['dragenter', 'dragover']) {
    zone.addEventListener(ev, (e) => {
      e.preventDefault();
      zone.classList.add('over');
    });
  }
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) load(which, await readFile(f), f.name);
    else {
      const t = e.dataTransfer.getData('text/plain');
      if (t) {
        ta.value = t;
        ta.dispatchEvent(new Event('input'));
        maybeVerify();
      }
    }
  });
}

function maybeVerify() {
  if (current('consortium') && current('proof')) run();
}

function el(tag, props = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

let runs = 0;

async function run() {
  const cons = current('consortium');
  const proof = current('proof');
  const verdict = $('verdict');
  const reason = $('reason');
  const details = $('details');
  if (!cons || !proof) {
    verdict.dataset.verdict = '';
    verdict.textContent = 'Give both the consortium file and a proof.';
    return;
  }
  const mine = ++runs;
  verdict.dataset.verdict = '';
  verdict.className = 'verdict';
  verdict.textContent = 'checking…';
  reason.textContent = '';
  details.replaceChildren();
  let rep;
  let why = null;
  try {
    rep = await verifyProof(cons, proof, webCrypto);
  } catch (e) {
    why = e instanceof ProofError ? e.message : `cannot verify here: ${e && e.message ? e.message : e}`;
  }
  if (mine !== runs) return; // a newer run started
  if (why !== null) {
    verdict.className = 'verdict failed';
    verdict.textContent = 'FAILED: this proof does not verify';
    reason.textContent = why;
    try {
      details.append(el('p', {}, 'The consortium file given has chain id ', el('code', {}, hex(await webCrypto.sha256(cons))),
        ` (SHA-256 of its ${cons.length} bytes).`));
    } catch { /* no WebCrypto */ }
    verdict.dataset.verdict = 'failed';
    return;
  }
  render(rep, details);
  verdict.className = 'verdict ok';
  const nr = rep.records.length;
  const plural = (k, w) => `${k} ${w}${k === 1 ? '' : 's'}`;
  if (rep.trace) {
    const nsteps = rep.trace.steps.length - 1;
    const nret = rep.trace.steps.filter((s) => s.retracted).length;
    verdict.textContent = `OK: a trace ${rep.trace.direction} of ${plural(nsteps, 'step')} (${plural(nr, 'event')}), ` +
      `every step agreed by the consortium${nret ? `; ${nret} retracted` : ''}`;
  } else {
    verdict.textContent = `OK: the event was agreed by the consortium${rep.records[0].retractedBy.length ? ', and later retracted' : ''}`;
  }
  reason.textContent = reportLines(rep).at(-1);
  verdict.dataset.verdict = 'ok';
}

function render(rep, box) {
  box.append(el('p', {}, `Consortium: ${rep.n} partner${rep.n === 1 ? '' : 's'}, f = ${rep.f}, a block needs ${rep.quorum} signed commit vote${rep.quorum === 1 ? '' : 's'}. Chain id `, el('code', {}, rep.chainId)));
  const rows = rep.records.map((r) => {
    const ev = r.event;
    const status = r.retractedBy.length
      ? el('span', { class: 'bad' }, 'retracted by ', el('code', {}, r.retractedBy.join(', ')))
      : ev.error_declaration ? el('span', { class: 'bad' }, 'error declaration') : 'valid';
    const json = el('details', {}, el('summary', {}, 'event as submitted'),
      el('pre', {}, prettyJson(ev.json)));
    return el('tr', { class: 'record' },
      el('td', {}, String(r.index)),
      el('td', {}, el('code', { class: 'event-id' }, r.eventId), json),
      el('td', {}, ev.type), el('td', {}, ev.event_time),
      el('td', {}, ev.biz_location || ev.read_point || ''),
      el('td', {}, r.signer), el('td', {}, `${r.height} / ${r.position}`),
      el('td', { class: 'status' }, status));
  });
  box.append(el('h2', {}, rep.records.length === 1 ? 'Event' : 'Events'),
    el('table', { id: 'records' },
      el('thead', {}, el('tr', {}, ...['#', 'event id', 'type', 'time', 'where', 'signed by', 'height / position', 'status'].map((h) => el('th', {}, h)))),
      el('tbody', {}, ...rows)));
  if (rep.trace) {
    box.append(el('h2', {}, `Trace ${rep.trace.direction} (${rep.trace.direction === 'up' ? 'where it came from' : 'where it went'})`));
    const lists = new Map();
    const rootUl = el('ul', { id: 'trace' });
    for (const s of rep.trace.steps) {
      let li;
      if (s.index === 0) li = el('li', { class: 'step root' }, el('code', {}, s.id));
      else {
        const evs = s.records.map((x) => rep.records[x]);
        const e0 = evs[0].event;
        const place = [...new Set(evs.map((r) => r.event.biz_location || r.event.read_point).filter(Boolean))].join(', ');
        li = el('li', { class: 'step' + (s.retracted ? ' retracted' : '') },
          el('span', { class: 'relation' }, s.relation), ' ', el('code', {}, s.id),
          ` — ${e0.type} ${e0.event_time}${place ? ' at ' + place : ''}, by ${evs.map((r) => r.signer).join(' + ')}`,
          s.retracted ? el('span', { class: 'bad' }, ' [retracted]') : '');
      }
      const ul = el('ul');
      li.append(ul);
      lists.set(s.index, ul);
      (s.index === 0 ? rootUl : lists.get(s.parent)).append(li);
    }
    box.append(rootUl);
    box.append(el('p', { class: 'note' }, 'A trace bundle proves that every step shown was agreed by the consortium and links what it says it links. It cannot prove that the trace is complete: ask any node (trellis trace) for that.'));
  }
}

function prettyJson(bytes) {
  const t = new TextDecoder().decode(bytes);
  try {
    return JSON.stringify(JSON.parse(t), null, 2);
  } catch {
    return t;
  }
}

wire('consortium');
wire('proof');
$('verify').addEventListener('click', run);
$('clear').addEventListener('click', () => {
  for (const w of ['consortium', 'proof']) {
    inputs[w].bytes = null;
    $(`${w}-text`).value = '';
    $(`${w}-file`).value = '';
    $(`${w}-source`).textContent = '';
  }
  $('verdict').dataset.verdict = '';
  $('verdict').className = 'verdict';
  $('verdict').textContent = 'Give both the consortium file and a proof.';
  $('reason').textContent = '';
  $('details').replaceChildren();
});
if (!subtle) {
  $('verdict').textContent = 'This page needs WebCrypto (a current browser, over file:// or https://).';
}
document.body.dataset.ready = '1';
