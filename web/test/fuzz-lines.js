// fuzz-lines.js: the partner lines of the fixed consortium of the C fuzz
// targets (tests/fuzz/common.c: partners p0..p3, p3 secp256k1, seeds of
// 32 bytes 0x11, 0x22, 0x33, 0x44, addresses 127.0.0.1:7000+i), so that
// `trellis consortium create` makes the same file and t0610 can run both
// verifiers on tests/fuzz/corpus/proof.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { schnorr } from '../vendor/noble-secp256k1.js';

for (let i = 0; i < 4; i++) {
  const seed = new Uint8Array(32).fill(0x11 * (i + 1));
  let alg = 'ed25519';
  let pub;
  if (i === 3) {
    alg = 'secp256k1';
    pub = Buffer.from(schnorr.getPublicKey(seed));
  } else {
    const d = Buffer.from(seed).toString('base64url');
    const k = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d, x: '' }, format: 'jwk' });
    pub = Buffer.from(createPublicKey(k).export({ format: 'jwk' }).x, 'base64url');
  }
  process.stdout.write(`p${i} ${alg}:${pub.toString('base64')} 127.0.0.1:${7000 + i}\n`);
}
