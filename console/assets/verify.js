// verify.js: checks evledger checkpoints and proofs in the browser, trusting
// nothing the server says beyond what its keys signed.
//
// Formats: C2SP signed-note, tlog-checkpoint, tlog-cosignature (cosignature/v1)
// and tlog-proof; RFC 9162 §2.1 Merkle trees (RFC 6962 hashing).
// No dependencies: WebCrypto only (SHA-256, Ed25519), in browsers and Node 20.
//
// All 64-bit quantities (tree sizes, indexes, timestamps) are returned as
// BigInt; functions taking them accept a BigInt or a safe-integer Number.
// Every check that fails throws (or rejects with) a VerifyError whose `step`
// names what failed.

const NOTE_ED25519 = 0x01; // signed-note Ed25519 key type
const COSIGNATURE_V1 = 0x04; // tlog-cosignature Ed25519 key type
const MAX_NOTE_SIZE = 64 * 1024; // as evledger's CheckpointVerifier
const MAX_NOTE_SIGNATURES = 100; // as signed-note parsers
const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
const MAX_TLOG_PROOF_SIZE = 256 * 1024;
const MAX_PROOF_HASHES = 63;
const U64_MAX = (1n << 64n) - 1n;
const I64_MAX = (1n << 63n) - 1n;

/** A failed check. `step` is a short machine name of what failed:
 * 'key-format', 'checkpoint-format', 'origin', 'checkpoint-signature',
 * 'cosignature', 'quorum', 'proof-format', 'leaf-hash', 'inclusion',
 * 'consistency' or 'encoding'; `message` says what exactly. */
export class VerifyError extends Error {
  /** @param {string} step @param {string} message */
  constructor(step, message) {
    super(message);
    this.name = 'VerifyError';
    this.step = step;
  }
}

function fail(step, message) {
  throw new VerifyError(step, message);
}

// ---------------------------------------------------------------- encodings

const utf8 = (text) => new TextEncoder().encode(text);

/** Decodes hex (either case) into bytes; throws VerifyError('encoding'). */
export function hexToBytes(hex) {
  if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(hex)) {
    fail('encoding', 'not an even number of hex digits');
  }
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** Encodes bytes as lowercase hex. */
export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Encodes bytes as standard, padded base64. */
export function bytesToBase64(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// Strict standard base64: padded, no whitespace, canonical padding bits
// (what Rust's base64 STANDARD engine accepts). Returns null if not.
function decodeBase64(text) {
  const re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  if (typeof text !== 'string' || !re.test(text)) return null;
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return bytesToBase64(bytes) === text ? bytes : null;
}

/** Decodes strict standard base64 (padded, canonical); throws VerifyError('encoding'). */
export function base64ToBytes(text) {
  return decodeBase64(text) ?? fail('encoding', 'not canonical padded base64');
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

// A canonical decimal u64 (no sign, no leading zeros), as BigInt; else null.
function parseU64(text) {
  if (typeof text !== 'string' || !/^(?:0|[1-9][0-9]*)$/.test(text)) return null;
  const n = BigInt(text);
  return n <= U64_MAX ? n : null;
}

// A u64 argument: a BigInt or a Number that is a safe integer.
function toU64(value, step, what) {
  if (typeof value === 'number' && Number.isSafeInteger(value)) value = BigInt(value);
  if (typeof value !== 'bigint' || value < 0n || value > U64_MAX) {
    fail(step, `${what} must be an integer from 0 to 2^64-1 (a BigInt, or a Number below 2^53)`);
  }
  return value;
}

function toHash(value, step, what) {
  if (!(value instanceof Uint8Array) || value.length !== 32) {
    fail(step, `${what} must be a Uint8Array of 32 bytes`);
  }
  return value;
}

function toHashes(proof, step) {
  if (!Array.isArray(proof)) fail(step, 'the proof must be an array of 32-byte hashes');
  return proof.map((h, i) => toHash(h, step, `proof hash ${i}`));
}

// ---------------------------------------------------------------- keys

// A signed-note key name: non-empty, no Unicode white space, no '+'.
const isKeyName = (name) => /^[^\p{White_Space}+]+$/u.test(name);

/** Parses a signed-note verifier key `<name>+<8 hex key hash>+<base64(type || public key)>`
 * of type 0x01 (Ed25519 note signatures) or 0x04 (cosignature/v1 witness),
 * checking the key hash SHA-256(name || "\n" || type || public key)[:4].
 * Resolves to {name, keyHash, type, publicKey}; rejects with VerifyError('key-format'). */
export async function parseVerifierKey(vkey) {
  if (typeof vkey !== 'string') fail('key-format', 'a verifier key must be a string');
  const text = vkey.trim();
  const bad = (why) => fail('key-format', `verifier key ${JSON.stringify(text.slice(0, 120))}: ${why}`);
  // The base64 part may itself hold '+': split off the first two fields only.
  const [, name, hashHex, keyB64] = /^([^+]*)\+([^+]*)\+(.*)$/.exec(text) ?? bad('expected <name>+<key hash>+<base64 key>');
  const key = decodeBase64(keyB64);
  if (!isKeyName(name)) bad('the name is empty or holds white space');
  if (!/^[0-9a-f]{8}$/.test(hashHex)) bad('the key hash is not 8 lowercase hex digits');
  if (key === null) bad('the key is not base64');
  if (key.length !== 33) bad(`the key is ${key.length} bytes, not 33 (a type byte and an Ed25519 public key)`);
  const type = key[0];
  if (type !== NOTE_ED25519 && type !== COSIGNATURE_V1) {
    bad(`unknown key type 0x${bytesToHex([type])} (expected 0x01 or 0x04)`);
  }
  const keyHash = (await sha256(concat(utf8(name + '\n'), key))).slice(0, 4);
  if (!equalBytes(keyHash, hexToBytes(hashHex))) {
    bad(`the key hash ${hashHex} does not match the key (which hashes to ${bytesToHex(keyHash)})`);
  }
  return { name, keyHash, type, publicKey: key.slice(1) };
}

const keyLabel = (key) => `${key.name}+${bytesToHex(key.keyHash)}`;

async function ed25519Verify(key, signature, message) {
  let publicKey;
  try {
    publicKey = await crypto.subtle.importKey('raw', key.publicKey, { name: 'Ed25519' }, false, ['verify']);
  } catch {
    fail('key-format', `key ${keyLabel(key)} is not a valid Ed25519 public key`);
  }
  if (signature.length !== 64) return false;
  return crypto.subtle.verify({ name: 'Ed25519' }, publicKey, signature, message).catch(() => false);
}

// ---------------------------------------------------------------- notes and checkpoints

/** Splits a signed note (string, or UTF-8 bytes) into its body (the text up
 * to and including the newline before the last blank line: what signatures
 * cover) and its signature lines `— <name> <base64(key hash || signature)>`.
 * Returns {body, signatures: [{name, keyHash, signature}]}; throws VerifyError('checkpoint-format'). */
export function parseNote(text) {
  const bad = (why) => fail('checkpoint-format', `malformed signed note: ${why}`);
  if (text instanceof Uint8Array) {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(text);
    } catch {
      bad('not UTF-8');
    }
  }
  if (typeof text !== 'string') bad('not text');
  if (utf8(text).length > MAX_NOTE_SIZE) bad(`larger than ${MAX_NOTE_SIZE} bytes`);
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) bad('it holds a control character other than newline');
  // Like Go's note.Open and Rust's signed_note: the *last* blank line.
  const split = text.lastIndexOf('\n\n');
  if (split < 0) bad('no blank line before the signatures');
  const block = text.slice(split + 2);
  if (!block.endsWith('\n')) bad('the last signature line does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) bad(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures = lines.map((line, i) => {
    const [, name, b64] = /^\u2014 ([^ ]*) (.*)$/u.exec(line) ?? [];
    const bytes = decodeBase64(b64);
    if (name === undefined || !isKeyName(name) || bytes === null || bytes.length < 5) {
      bad(`signature line ${i + 1} is not "— <key name> <base64 signature>"`);
    }
    return { name, keyHash: bytes.slice(0, 4), signature: bytes.slice(4) };
  });
  return { body: text.slice(0, split + 1), signatures };
}

/** Parses a C2SP tlog-checkpoint body: origin line, decimal tree size, base64
 * root hash, then non-empty extension lines, each ending in a newline.
 * Returns {origin, size (BigInt), rootHash, extensions}; throws VerifyError('checkpoint-format'). */
export function parseCheckpoint(body) {
  const bad = (why) => fail('checkpoint-format', `malformed checkpoint: ${why}`);
  if (typeof body !== 'string' || !body.endsWith('\n')) bad('it does not end in a newline');
  const [origin, sizeLine, rootLine, ...extensions] = body.slice(0, -1).split('\n');
  if (rootLine === undefined) bad('fewer than three lines (origin, size, root hash)');
  if (origin === '') bad('the origin line is empty');
  const size = parseU64(sizeLine);
  if (size === null) bad(`the tree size ${JSON.stringify(sizeLine)} is not a decimal below 2^64 without leading zeros`);
  const rootHash = decodeBase64(rootLine);
  if (rootHash === null || rootHash.length !== 32) bad('the root hash is not 32 bytes of base64');
  if (extensions.includes('')) bad('an extension line is empty');
  return { origin, size, rootHash, extensions };
}

// Checks a cosignature/v1 signature (timestamp || Ed25519 signature over
// "cosignature/v1\ntime <timestamp>\n" || body); returns the timestamp.
async function verifyCosignature(key, sig, body) {
  const who = `the cosignature by witness ${keyLabel(key)}`;
  if (sig.length !== 72) fail('cosignature', `${who} is ${sig.length} bytes, not 72 (a timestamp and a signature)`);
  const timestamp = new DataView(sig.buffer, sig.byteOffset, 8).getBigUint64(0);
  if (timestamp > I64_MAX) fail('cosignature', `${who} has a timestamp beyond 2^63-1`);
  const message = utf8(`cosignature/v1\ntime ${timestamp}\n${body}`);
  if (!(await ed25519Verify(key, sig.slice(8), message))) {
    fail('cosignature', `${who} (time ${timestamp}) does not verify over this checkpoint`);
  }
  return timestamp;
}

/** Verifies a signed checkpoint note against the pinned log key (a type 0x01
 * verifier key whose name must be the checkpoint's origin) and, optionally,
 * `quorum` of the `witnesses` (type 0x04 verifier keys; one public key counts
 * once, under its first name). As evledger's CheckpointVerifier does:
 * signatures by unknown keys are ignored (and listed), only the first
 * signature per key counts, and a bad signature by a trusted key fails.
 * Resolves to {origin, size, rootHash, body, cosignatures, unknownSignatures,
 * quorumMet}, `cosignatures` holding one {name, timestamp, valid} per trusted
 * witness (timestamp null when it did not cosign); rejects with VerifyError. */
export async function verifyCheckpoint(noteText, logKey, { witnesses = [], quorum = 0 } = {}) {
  const log = await parseVerifierKey(logKey);
  if (log.type !== NOTE_ED25519) fail('key-format', `log key ${keyLabel(log)} is not an Ed25519 note key (type 0x01)`);
  const trusted = [];
  for (const vkey of witnesses) {
    const key = await parseVerifierKey(vkey);
    if (key.type !== COSIGNATURE_V1) fail('key-format', `witness key ${keyLabel(key)} is not a cosignature/v1 key (type 0x04)`);
    if (!trusted.some((t) => equalBytes(t.publicKey, key.publicKey))) trusted.push(key);
  }
  if (!Number.isSafeInteger(quorum) || quorum < 0) fail('quorum', 'the quorum must be a non-negative integer');
  if (quorum > trusted.length) {
    fail('quorum', `a quorum of ${quorum} needs more than the ${trusted.length} distinct trusted witness(es)`);
  }

  const { body, signatures } = parseNote(noteText);
  const checkpoint = parseCheckpoint(body);
  if (checkpoint.origin !== log.name) {
    fail('origin', `the checkpoint's origin ${JSON.stringify(checkpoint.origin)} is not the log key's name ${JSON.stringify(log.name)}`);
  }

  const bodyBytes = utf8(body);
  const seen = new Set();
  const unknown = new Map(); // key label -> name
  const cosigned = new Map(); // witness key -> timestamp
  let logSigned = false;
  for (const sig of signatures) {
    const label = keyLabel(sig);
    const key = [log, ...trusted].find((k) => k.name === sig.name && equalBytes(k.keyHash, sig.keyHash));
    if (!key) {
      unknown.set(label, sig.name);
    } else if (!seen.has(label)) {
      seen.add(label);
      if (key === log) {
        if (!(await ed25519Verify(log, sig.signature, bodyBytes))) {
          fail('checkpoint-signature', `the signature by the log key ${label} does not verify over this checkpoint`);
        }
        logSigned = true;
      } else {
        cosigned.set(key, await verifyCosignature(key, sig.signature, body));
      }
    }
  }
  if (!logSigned) {
    const others = unknown.size ? `; it is signed only by ${[...unknown.keys()].join(', ')}` : '';
    fail('checkpoint-signature', `the checkpoint has no signature by the log key ${keyLabel(log)}${others}`);
  }
  if (cosigned.size < quorum) {
    fail('quorum', `the checkpoint is cosigned by ${cosigned.size} of the trusted witnesses; the quorum is ${quorum}`);
  }
  return {
    origin: checkpoint.origin,
    size: checkpoint.size,
    rootHash: checkpoint.rootHash,
    body,
    cosignatures: trusted.map((k) => ({ name: k.name, timestamp: cosigned.get(k) ?? null, valid: cosigned.has(k) })),
    unknownSignatures: [...unknown.values()],
    quorumMet: cosigned.size >= quorum,
  };
}

// ---------------------------------------------------------------- Merkle proofs (RFC 9162 §2.1)

/** RFC 6962 leaf hash: SHA-256(0x00 || bytes). */
export async function leafHash(bytes) {
  if (!(bytes instanceof Uint8Array)) fail('leaf-hash', 'the leaf must be a Uint8Array');
  return sha256(concat([0x00], bytes));
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export async function nodeHash(left, right) {
  toHash(left, 'encoding', 'the left hash');
  toHash(right, 'encoding', 'the right hash');
  return sha256(concat([0x01], left, right));
}

const bitLength = (n) => (n === 0n ? 0 : n.toString(2).length);
const onesCount = (n) => n.toString(2).replaceAll('0', '').length;
const trailingZeros = (n) => n.toString(2).length - 1 - n.toString(2).lastIndexOf('1');

// Hashes in the inclusion proof of leaf `index` (< size): the path below the
// point where index and size-1 diverge, then one per left sibling above it.
function inclusionProofLength(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return inner + onesCount(index >> BigInt(inner));
}

// Hashes in the consistency proof from size1 to size2 (0 < size1 < size2).
function consistencyProofLength(size1, size2) {
  const inner = bitLength((size1 - 1n) ^ (size2 - 1n));
  const border = onesCount((size1 - 1n) >> BigInt(inner));
  const powerOfTwo = (size1 & (size1 - 1n)) === 0n;
  return inner - trailingZeros(size1) + border + (powerOfTwo ? 0 : 1);
}

/** Verifies that `leafHash` is leaf `index` of the tree of `size` leaves with
 * root `root`, by the audit path `proof` (RFC 9162 §2.1.3.2).
 * Resolves if so; rejects with VerifyError('inclusion'). */
export async function verifyInclusion({ index, size, leafHash, proof, root }) {
  const step = 'inclusion';
  index = toU64(index, step, 'the index');
  size = toU64(size, step, 'the tree size');
  leafHash = toHash(leafHash, step, 'the leaf hash');
  root = toHash(root, step, 'the root');
  proof = toHashes(proof, step);
  if (index >= size) fail(step, `index ${index} is beyond the tree of size ${size}`);
  const want = inclusionProofLength(index, size);
  if (proof.length !== want) {
    fail(step, `the proof has ${proof.length} hashes; one for index ${index} in a tree of size ${size} has ${want}`);
  }
  let fn = index;
  let sn = size - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0n) fail(step, 'the proof is too long'); // unreachable after the length check
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) [fn, sn] = [fn >> 1n, sn >> 1n];
    } else {
      r = await nodeHash(r, p);
    }
    [fn, sn] = [fn >> 1n, sn >> 1n];
  }
  if (sn !== 0n) fail(step, 'the proof is too short'); // unreachable after the length check
  if (!equalBytes(r, root)) {
    fail(step, `the proof leads to root ${bytesToHex(r)}, not the expected ${bytesToHex(root)}`);
  }
}

/** Verifies that the tree of `size1` leaves with root `root1` is a prefix of
 * the tree of `size2` leaves with root `root2` (RFC 9162 §2.1.4.2). When
 * size1 is 0 the proof is empty and root1, if given, must be SHA-256("").
 * Resolves if so; rejects with VerifyError('consistency'). */
export async function verifyConsistency({ size1, size2, root1, root2, proof }) {
  const step = 'consistency';
  size1 = toU64(size1, step, 'the old size');
  size2 = toU64(size2, step, 'the new size');
  root2 = toHash(root2, step, 'the new root');
  proof = toHashes(proof, step);
  if (size1 > size2) fail(step, `the old size ${size1} is larger than the new size ${size2}`);
  const mustBeEmpty = () => {
    if (proof.length) fail(step, `the proof from size ${size1} to ${size2} must be empty; it has ${proof.length} hashes`);
  };
  if (size1 === 0n) {
    mustBeEmpty();
    if (root1 != null && !equalBytes(toHash(root1, step, 'the old root'), await sha256(new Uint8Array(0)))) {
      fail(step, 'the old root is not the empty tree\'s, SHA-256("")');
    }
    return;
  }
  root1 = toHash(root1, step, 'the old root');
  if (size1 === size2) {
    mustBeEmpty();
    if (!equalBytes(root1, root2)) fail(step, `the two roots for the same size ${size1} differ`);
    return;
  }
  const want = consistencyProofLength(size1, size2);
  if (proof.length !== want) {
    fail(step, `the proof has ${proof.length} hashes; one from size ${size1} to ${size2} has ${want}`);
  }
  const path = (size1 & (size1 - 1n)) === 0n ? [root1, ...proof] : proof;
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) [fn, sn] = [fn >> 1n, sn >> 1n];
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) fail(step, 'the proof is too long'); // unreachable after the length check
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) [fn, sn] = [fn >> 1n, sn >> 1n];
    } else {
      sr = await nodeHash(sr, c);
    }
    [fn, sn] = [fn >> 1n, sn >> 1n];
  }
  if (sn !== 0n) fail(step, 'the proof is too short'); // unreachable after the length check
  if (!equalBytes(fr, root1)) {
    fail(step, `the proof leads to old root ${bytesToHex(fr)}, not the expected ${bytesToHex(root1)}`);
  }
  if (!equalBytes(sr, root2)) {
    fail(step, `the proof leads to new root ${bytesToHex(sr)}, not the expected ${bytesToHex(root2)}`);
  }
}

// ---------------------------------------------------------------- tlog-proof bundles

/** Parses a C2SP tlog-proof as evledger writes it (tlog/src/tlog_proof.rs):
 * "c2sp.org/tlog-proof@v1", an optional "extra <base64>" line (evledger puts
 * the entry's leaf bytes there), "index <N>", one base64 proof hash per line,
 * a blank line, then the signed checkpoint note (not checked here).
 * Returns {extra (Uint8Array or null), index (BigInt), hashes, checkpoint}
 * (field names as in the Rust TlogProof);
 * throws VerifyError('proof-format'). */
export function parseTlogProof(text) {
  const bad = (why) => fail('proof-format', `malformed tlog-proof: ${why}`);
  if (typeof text !== 'string') bad('not text');
  if (utf8(text).length > MAX_TLOG_PROOF_SIZE) bad(`larger than ${MAX_TLOG_PROOF_SIZE} bytes`);
  const split = text.indexOf('\n\n');
  if (split < 0) bad('no blank line before the checkpoint');
  const lines = text.slice(0, split).split('\n');
  if (lines[0] !== TLOG_PROOF_HEADER) bad(`the first line is not ${TLOG_PROOF_HEADER}`);
  let n = 1;
  let extra = null;
  if (lines[n]?.startsWith('extra ')) {
    extra = decodeBase64(lines[n++].slice('extra '.length)) ?? bad('extra is not base64');
  }
  const index = lines[n]?.startsWith('index ') ? parseU64(lines[n].slice('index '.length)) : null;
  if (index === null) bad(`line ${n + 1} is not "index <decimal>"`);
  const hashes = lines.slice(n + 1);
  if (hashes.length > MAX_PROOF_HASHES) bad(`more than ${MAX_PROOF_HASHES} proof hashes`);
  return {
    extra,
    index,
    hashes: hashes.map((line, i) => {
      const hash = decodeBase64(line);
      if (hash === null || hash.length !== 32) bad(`proof hash ${i + 1} is not 32 bytes of base64`);
      return hash;
    }),
    checkpoint: text.slice(split + 2),
  };
}

/** Verifies a tlog-proof bundle offline, as `evledger` does: the checkpoint
 * (see verifyCheckpoint for `logKey` and `options`), then the inclusion of
 * `entry` (leaf bytes, or a string taken as UTF-8), or else of the bundle's
 * extra. Resolves to {checkpoint, index, leaf}; rejects with VerifyError
 * ('leaf-hash' if no entry is given or it differs from the bundle's). */
export async function verifyTlogProof(text, logKey, options = {}, entry = undefined) {
  const bundle = parseTlogProof(text);
  const checkpoint = await verifyCheckpoint(bundle.checkpoint, logKey, options);
  if (typeof entry === 'string') entry = utf8(entry);
  if (entry !== undefined && !(entry instanceof Uint8Array)) fail('leaf-hash', 'the entry must be bytes or a string');
  if (entry && bundle.extra && !equalBytes(entry, bundle.extra)) fail('leaf-hash', 'the given entry differs from the one in the bundle');
  const leaf = entry ?? bundle.extra ?? fail('leaf-hash', 'the bundle has no extra data (entry); pass the entry to check');
  await verifyInclusion({
    index: bundle.index,
    size: checkpoint.size,
    leafHash: await leafHash(leaf),
    proof: bundle.hashes,
    root: checkpoint.rootHash,
  });
  return { checkpoint, index: bundle.index, leaf };
}
