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
//   node client.js mock <artifactFile> <identity> <issuer> <outFile>
//     plays Fulcio, its CT log and a TSA offline (@sigstore/mock) for a
//     certificate bundle, as sigstore-python requires one: a P-256 key, a
//     certificate for it (SAN URI <identity>, Fulcio's OIDC issuer
//     extensions, an embedded SCT), its signature over the artifact and an
//     RFC 3161 timestamp over that signature; writes them, and the CA, CT
//     log and TSA keys a trust config needs, as JSON (base64 DER).
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

async function mock(artifactPath, identity, issuer, outFile) {
  const { initializeCA, initializeCTLog, initializeTSA } = require('@sigstore/mock');
  const generate = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b64 = (bytes) => Buffer.from(bytes).toString('base64');
  const ctLog = await initializeCTLog(generate());
  const ca = await initializeCA(generate(), ctLog);
  const tsa = await initializeTSA(generate());
  const signer = generate();
  const certificate = await ca.issueCertificate({
    publicKey: signer.publicKey.export({ type: 'spki', format: 'der' }),
    subjectAltName: identity,
    extensions: [
      // Fulcio's OIDC issuer: the first extension raw, its successor a UTF8String.
      { oid: '1.3.6.1.4.1.57264.1.1', value: issuer, legacy: true },
      { oid: '1.3.6.1.4.1.57264.1.8', value: issuer },
    ],
  });
  const artifact = fs.readFileSync(artifactPath);
  // ECDSA over SHA-256 of the artifact, DER: what a hashedrekord logs.
  const signature = crypto.sign('sha256', artifact, signer.privateKey);
  // Sigstore clients timestamp the signature.
  const timestamp = await tsa.timestamp({
    artifactHash: crypto.createHash('sha256').update(signature).digest(),
    hashAlgorithmOID: '2.16.840.1.101.3.4.2.1',
    nonce: crypto.randomInt(1, 2 ** 31),
    policyOID: '1.3.6.1.4.1.57264.2',
    certReq: true,
  });
  fs.writeFileSync(outFile, JSON.stringify({
    certificate: b64(certificate),
    signature: b64(signature),
    digest: b64(crypto.createHash('sha256').update(artifact).digest()),
    timestamp: b64(timestamp),
    caRoot: b64(ca.rootCertificate),
    ctLogKey: b64(ctLog.publicKey),
    ctLogId: b64(ctLog.logID),
    tsaRoot: b64(tsa.rootCertificate),
    tsaIntermediate: b64(tsa.intCertificate),
  }));
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'sign' && args.length === 4) return sign(...args);
  if (command === 'verify' && (args.length === 3 || args.length === 4)) return verify(...args);
  if (command === 'mock' && args.length === 4) return mock(...args);
  throw new Error('usage: client.js sign <rekorUrl> <message|dsse> <artifact> <outDir> | verify <root> <bundle> <key> [artifact] | mock <artifact> <identity> <issuer> <out>');
}

main().then(
  () => console.log('ok'),
  (e) => {
    console.error(`failed: ${e.code || e.name}: ${e.message}${e.cause ? ` (${e.cause.message || e.cause})` : ''}`);
    process.exit(1);
  },
);
