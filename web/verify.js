#!/usr/bin/env node
// verify.js: the independent trellis proof verifier, for Node.js (>= 20).
//
//   node web/verify.js [--json] consortium.json PROOF|-
//   node web/verify.js --each LIST      (tests: LIST lines "CONSORTIUM<TAB>PROOF";
//                                        prints "STATUS<TAB>REASON" for each)
//
// Exit 0 and print what it verified; exit 5 with one line "verify-proof:
// REASON" on stderr when the proof does not verify; exit 1 on a usage
// error, 2 when a file cannot be read. The check itself is lib/verifier.js
// (shared with verify.html); here are only the platform's SHA-256 and
// Ed25519 (node:crypto) and BIP-340 from the vendored @noble/curves build
// (vendor/noble-secp256k1.js, made by build.js from package-lock.json).
// See docs/verifier.md.
import { readFileSync } from 'node:fs';
import { verifyProof, reportLines, ProofError } from './lib/verifier.js';
import { nodeCrypto } from './lib/node-crypto.js';

function usage() {
  process.stderr.write('usage: node web/verify.js [--json] consortium.json PROOF|-\n       node web/verify.js --each LIST\n');
  process.exit(1);
}

// --each: one process for many checks (the tests run hundreds). Each line
// gets the exit status that a run of its own would give (0 or 5, 2 for an
// unreadable file) and the reason.
async function each(listFile) {
  const lines = readFileSync(listFile === '-' ? 0 : listFile, 'utf8').split('\n').filter((l) => l !== '');
  const out = [];
  for (const l of lines) {
    const [c, p] = l.split('\t');
    let cons;
    let proof;
    try {
      cons = new Uint8Array(readFileSync(c));
      proof = new Uint8Array(readFileSync(p));
    } catch (e) {
      out.push(`2\tcannot read: ${e.code || e.message}`);
      continue;
    }
    try {
      await verifyProof(cons, proof, nodeCrypto);
      out.push('0\tok');
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      out.push(`5\t${e.message.replace(/[\t\n]/g, ' ')}`);
    }
  }
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
}

async function main(argv) {
  if (argv[0] === '--each') {
    if (argv.length !== 2) usage();
    return each(argv[1]);
  }
  let json = false;
  const files = [];
  for (const a of argv) {
    if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') usage();
    else if (a.startsWith('-') && a !== '-') usage();
    else files.push(a);
  }
  if (files.length !== 2) usage();
  const read = (f) => {
    try {
      return new Uint8Array(readFileSync(f === '-' ? 0 : f));
    } catch (e) {
      process.stderr.write(`verify-proof: cannot read '${f}': ${e.code || e.message}\n`);
      process.exit(2);
    }
  };
  const cons = read(files[0]);
  const proof = read(files[1]);
  let rep;
  try {
    rep = await verifyProof(cons, proof, nodeCrypto);
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    if (json) process.stdout.write(JSON.stringify({ ok: false, reason: e.message }) + '\n');
    process.stderr.write(`verify-proof: ${e.message}\n`);
    process.exit(5);
  }
  if (json) {
    process.stdout.write(JSON.stringify(toJson(rep), null, 2) + '\n');
  } else {
    for (const l of reportLines(rep)) process.stdout.write(l + '\n');
  }
}

function toJson(rep) {
  return {
    ok: true,
    chain_id: rep.chainId,
    n: rep.n,
    f: rep.f,
    records: rep.records.map((r) => ({
      event_id: r.eventId, signer: r.signer, height: Number(r.height), position: r.position,
      type: r.event.type, event_time: r.event.event_time,
      error_declaration: r.event.error_declaration,
      retracted_by: r.retractedBy,
    })),
    trace: rep.trace && {
      direction: rep.trace.direction,
      steps: rep.trace.steps.map((s) => ({
        id: s.id, parent: s.parent, relation: s.relation, records: s.records, retracted: s.retracted,
      })),
    },
  };
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`verify-proof: internal error: ${e && e.stack ? e.stack : e}\n`);
  process.exit(70);
});
