// The part of @noble/curves that the verifier needs: BIP-340 Schnorr
// verification over secp256k1. build.js bundles it into
// vendor/noble-secp256k1.js (an ES module) so that the page and the Node
// command load nothing from the network or from node_modules.
export { schnorr } from '@noble/curves/secp256k1.js';
