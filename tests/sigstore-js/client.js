// The Sigstore JavaScript clients, as a Sigstore user runs them against
// evledger (driven by tests/e2e_sigstore.rs):
//
//   node client.js sign <rekorUrl> <message|dsse> <artifactFile> <outDir>
//     signs with a new ECDSA P-256 key (the only kind sigstore-js's Rekor
//     v2 writer describes correctly), logs through evledger's Rekor v2 API
//     with @sigstore/sign, and writes <outDir>/bundle.json (the bundle the
//     client built from evledger's answer) and <outDir>/key.json
//     ({hint, spki}: the key's fingerprint and SubjectPublicKeyInfo).
//   node client.js verify <trustedRoot.json> <bundle.json> <key.json> [artifactFile]
//     verifies offline with @sigstore/verify, trusting only the given root
//     and key; exits 0 if it verifies, 1 (with the failure) if not.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

async function sign(rekorUrl, mode, artifactPath, outDir) {
  const { MessageSignatureBundleBuilder, DSSEBundleBuilder, RekorWitness } = require('@sigstore/sign');
  const { bundleToJSON } = require('@sigstore/bundle');
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  // The hint evledger's own bundles give: the key's fingerprint.
  const hint = crypto.createHash('sha256').update(spki).digest('hex');
  const signer = {
    async sign(data) {
      return {
        signature: crypto.sign('sha256', data, privateKey),
        key: { $case: 'publicKey', publicKey: pem, hint },
      };
    },
  };
  const witnesses = [new RekorWitness({ rekorBaseURL: rekorUrl, majorApiVersion: 2, timeout: 20000, retry: 0 })];
  const dsse = mode === 'dsse';
  const Builder = dsse ? DSSEBundleBuilder : MessageSignatureBundleBuilder;
  const artifact = { data: fs.readFileSync(artifactPath) };
  if (dsse) artifact.type = 'application/vnd.in-toto+json';
  const bundle = await new Builder({ signer, witnesses }).create(artifact);
  fs.writeFileSync(path.join(outDir, 'bundle.json'), JSON.stringify(bundleToJSON(bundle)));
  fs.writeFileSync(path.join(outDir, 'key.json'), JSON.stringify({ hint, spki: spki.toString('base64') }));
}

function verify(rootPath, bundlePath, keyPath, artifactPath) {
  const { bundleFromJSON } = require('@sigstore/bundle');
  const { TrustedRoot } = require('@sigstore/protobuf-specs');
  const { toSignedEntity, toTrustMaterial, Verifier } = require('@sigstore/verify');
  const root = TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(rootPath, 'utf8')));
  const { hint, spki } = JSON.parse(fs.readFileSync(keyPath, 'utf8'));
  const trust = toTrustMaterial(root, { [hint]: { rawBytes: Buffer.from(spki, 'base64') } });
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const entity = toSignedEntity(bundle, artifactPath ? fs.readFileSync(artifactPath) : undefined);
  // A tile log gives no timestamps: only the log's proof is asked for.
  new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 0, timestampThreshold: 0 }).verify(entity);
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'sign' && args.length === 4) return sign(...args);
  if (command === 'verify' && (args.length === 3 || args.length === 4)) return verify(...args);
  throw new Error('usage: client.js sign <rekorUrl> <message|dsse> <artifact> <outDir> | verify <root> <bundle> <key> [artifact]');
}

main().then(
  () => console.log('ok'),
  (e) => {
    console.error(`failed: ${e.code || e.name}: ${e.message}${e.cause ? ` (${e.cause.message || e.cause})` : ''}`);
    process.exit(1);
  },
);
