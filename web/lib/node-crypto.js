// node-crypto.js: the verifier's cryptography under Node.js: SHA-256 and
// Ed25519 from node:crypto (OpenSSL), BIP-340 from the vendored
// @noble/curves build (vendor/noble-secp256k1.js). See lib/verifier.js for
// the interface.
import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { schnorr } from '../vendor/noble-secp256k1.js';

const edKeys = new Map();
function edKey(pub) {
  const k = Buffer.from(pub).toString('base64url');
  let key = edKeys.get(k);
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: k }, format: 'jwk' });
    edKeys.set(k, key);
  }
  return key;
}

export const nodeCrypto = {
  sha256: async (b) => new Uint8Array(createHash('sha256').update(b).digest()),
  ed25519Verify: async (pub, msg, sig) => {
    try {
      return nodeVerify(null, msg, edKey(pub), sig);
    } catch {
      return false;
    }
  },
  schnorrVerify: async (pub, msg, sig) => {
    try {
      return schnorr.verify(sig, msg, pub);
    } catch {
      return false;
    }
  },
};

