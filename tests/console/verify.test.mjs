// Tests of console/assets/verify.js: `node --test tests/console/` (Node 20+).
//
// Checked against the independent reference vectors (Go's sumdb/tlog and
// sumdb/note) in <root>/shared/vectors, or $EVLEDGER_VECTORS, and against
// fixtures/cosigned.json, made with this repo's Rust code (see its "about").

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import * as v from '../../console/assets/verify.js';

const vectorsDir = process.env.EVLEDGER_VECTORS
  ? pathToFileURL(process.env.EVLEDGER_VECTORS.replace(/\/*$/, '/'))
  : new URL('../../../shared/vectors/', import.meta.url);
const readJson = async (url) => JSON.parse(await readFile(url, 'utf8'));
const tlog = await readJson(new URL('tlog_vectors.json', vectorsDir));
const notes = await readJson(new URL('note_vectors.json', vectorsDir));
const fx = await readJson(new URL('fixtures/cosigned.json', import.meta.url));

// ---------------------------------------------------------------- helpers

const { hexToBytes: hex, bytesToHex, base64ToBytes, bytesToBase64 } = v;
const utf8 = (s) => new TextEncoder().encode(s);
const concat = (...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));
const sha256 = async (b) => new Uint8Array(await crypto.subtle.digest('SHA-256', b));
const flipBit = (bytes, bit) => {
  const out = Uint8Array.from(bytes);
  out[(bit >> 3) % out.length] ^= 1 << (bit & 7);
  return out;
};
const leafHashes = tlog.leaf_hashes.map(hex);
const root = (size) => hex(tlog.roots[String(size)]);

/** Asserts that `fn` throws or rejects with a VerifyError of `step` (and a message matching `message`). */
async function rejects(step, fn, message = /./) {
  await assert.rejects(async () => fn(), (e) => {
    assert.ok(e instanceof v.VerifyError, `expected a VerifyError, got ${e?.stack ?? e}`);
    assert.equal(e.step, step, `wrong step for: ${e.message}`);
    assert.ok(e.message.length > 10, 'the message says what failed');
    assert.match(e.message, message);
    return true;
  });
}

/** A verifier key for `publicKey` under `name`, with the right key hash. */
async function makeVkey(name, type, publicKey) {
  const key = concat([type], publicKey);
  const hash = (await sha256(concat(utf8(name + '\n'), key))).slice(0, 4);
  return `${name}+${bytesToHex(hash)}+${bytesToBase64(key)}`;
}

/** An Ed25519 note signer from a signer key PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>. */
async function noteSigner(skey) {
  const [, name, hash, b64] = /^PRIVATE\+KEY\+([^+]+)\+([0-9a-f]{8})\+(.*)$/.exec(skey);
  const [type, ...seed] = base64ToBytes(b64);
  const pkcs8 = concat(hex('302e020100300506032b657004220420'), seed);
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const { x } = await crypto.subtle.exportKey('jwk', key);
  return {
    name, type, seed: Uint8Array.from(seed), keyHash: hex(hash),
    publicKey: new Uint8Array(Buffer.from(x, 'base64url')),
    /** The signed note of `body` with this key's signature line. */
    async sign(body) {
      const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, utf8(body)));
      return `${body}\n— ${name} ${bytesToBase64(concat(hex(hash), sig))}\n`;
    },
  };
}

/** `note` with the first signature line by `name` rewritten by `edit(bytes)`. */
function editSignature(note, name, edit) {
  const prefix = `— ${name} `;
  const lines = note.split('\n');
  const i = lines.findIndex((l) => l.startsWith(prefix));
  assert.ok(i >= 0, `no signature line by ${name}`);
  lines[i] = prefix + bytesToBase64(edit(Uint8Array.from(base64ToBytes(lines[i].slice(prefix.length)))));
  return lines.join('\n');
}
const lineOf = (note, name) => note.split('\n').find((l) => l.startsWith(`— ${name} `)) + '\n';
const dropLine = (note, name) => note.replace(lineOf(note, name), '');

/** RFC 9162 MTH of a list of leaf hashes (power-of-two split). */
async function subtreeRoot(hashes) {
  if (hashes.length === 1) return hashes[0];
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return v.nodeHash(await subtreeRoot(hashes.slice(0, k)), await subtreeRoot(hashes.slice(k)));
}

// ---------------------------------------------------------------- encodings

describe('encodings', () => {
  test('hex and base64 round-trip', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = crypto.getRandomValues(new Uint8Array(n));
      assert.deepEqual(hex(bytesToHex(bytes)), bytes);
      assert.deepEqual(base64ToBytes(bytesToBase64(bytes)), bytes);
    }
    assert.equal(bytesToHex(hex('00ABff')), '00abff');
  });

  test('malformed hex and non-canonical base64 are rejected', async () => {
    for (const bad of ['abc', 'zz', '0x00', ' 00']) await rejects('encoding', () => hex(bad));
    // Unpadded, non-zero padding bits, white space, base64url, stray padding.
    for (const bad of ['AAA', 'AB==', 'AAF=', 'AA AA', 'AAAA\n', '-_-_', '====', 'A===', 'AA=A']) {
      await rejects('encoding', () => base64ToBytes(bad));
    }
  });
});

// ---------------------------------------------------------------- Merkle tree vectors

describe('reference vectors: Merkle tree (tlog_vectors.json)', () => {
  test('leaf hashes of "evidence-leaf-<i>"', async () => {
    assert.equal(leafHashes.length, 1000);
    for (const [i, want] of leafHashes.entries()) {
      assert.deepEqual(await v.leafHash(utf8(`evidence-leaf-${i}`)), want, `leaf ${i}`);
    }
  });

  test('roots of every tree size from 1 to 1000', async () => {
    assert.equal(Object.keys(tlog.roots).length, 1000);
    const stack = []; // roots of the perfect subtrees, largest first: [hash, leaves]
    for (const [i, h] of leafHashes.entries()) {
      stack.push([h, 1]);
      while (stack.length > 1 && stack.at(-1)[1] === stack.at(-2)[1]) {
        const [[r, n], [l]] = [stack.pop(), stack.pop()];
        stack.push([await v.nodeHash(l, r), 2 * n]);
      }
      let r = stack.at(-1)[0];
      for (let j = stack.length - 2; j >= 0; j--) r = await v.nodeHash(stack[j][0], r);
      assert.deepEqual(r, root(i + 1), `root of size ${i + 1}`);
    }
  });

  test('tiles at size 1000 hold the leaf hashes and the 256-leaf subtree roots', async () => {
    assert.equal(tlog.tiles_at_size_1000.length, 5);
    for (const tile of tlog.tiles_at_size_1000) {
      const data = hex(tile.data_hex);
      assert.equal(data.length, 32 * tile.width, tile.c2sp_path);
      for (let j = 0; j < tile.width; j++) {
        const n = tile.index * 256 + j;
        const want = tile.level === 0 ? leafHashes[n] : await subtreeRoot(leafHashes.slice(256 * n, 256 * n + 256));
        assert.deepEqual(data.slice(32 * j, 32 * j + 32), want, `${tile.c2sp_path} hash ${j}`);
      }
    }
  });

  test(`all ${tlog.inclusion.length} inclusion proofs verify`, async () => {
    for (const [k, { index, tree_size: size, proof }] of tlog.inclusion.entries()) {
      // Alternate Number and BigInt arguments: both are accepted.
      const n = k % 2 ? (x) => BigInt(x) : (x) => x;
      await v.verifyInclusion({ index: n(index), size: n(size), leafHash: leafHashes[index], proof: (proof ?? []).map(hex), root: root(size) });
    }
  });

  test('tampered inclusion proofs are rejected', async () => {
    const zero = new Uint8Array(32);
    for (const { index, tree_size: size, proof: p } of tlog.inclusion) {
      const proof = (p ?? []).map(hex);
      const good = { index, size, leafHash: leafHashes[index], proof, root: root(size) };
      const bad = (change, message) => rejects('inclusion', () => v.verifyInclusion({ ...good, ...change }), message);
      for (let j = 0; j < proof.length; j++) {
        await bad({ proof: proof.with(j, flipBit(proof[j], 37 * j + index)) }); // a flipped bit in each hash
      }
      await bad({ leafHash: flipBit(good.leafHash, index) });
      await bad({ root: flipBit(good.root, size) });
      await bad({ index: index + 1 }); // wrong index (or beyond the tree)
      if (index > 0) await bad({ index: index - 1 });
      if (size < 1000) await bad({ size: size + 1, root: root(size + 1) }); // wrong size, its true root
      if (size > 1) await bad({ size: size - 1, root: root(size - 1) });
      const length = new RegExp(`has ${proof.length + 1} hashes; .* has ${proof.length}$`);
      if (proof.length) await bad({ proof: proof.slice(0, -1) }, /hashes/); // truncated
      await bad({ proof: [...proof, zero] }, length); // extended
      await bad({ proof: [zero, ...proof] }, length);
      await bad({ index: size }, /^index \d+ is beyond the tree of size \d+$/);
      await bad({ index: size + 5 }, /beyond/);
    }
  });

  test(`all ${tlog.consistency.length} consistency proofs verify`, async () => {
    for (const { old_size: size1, new_size: size2, proof } of tlog.consistency) {
      await v.verifyConsistency({ size1, size2, root1: root(size1), root2: root(size2), proof: (proof ?? []).map(hex) });
    }
  });

  test('tampered consistency proofs are rejected', async () => {
    const zero = new Uint8Array(32);
    for (const { old_size: size1, new_size: size2, proof: p } of tlog.consistency) {
      const proof = (p ?? []).map(hex);
      const good = { size1, size2, root1: root(size1), root2: root(size2), proof };
      const bad = (change, message) => rejects('consistency', () => v.verifyConsistency({ ...good, ...change }), message);
      for (let j = 0; j < proof.length; j++) {
        await bad({ proof: proof.with(j, flipBit(proof[j], 41 * j + size1)) });
      }
      await bad({ root1: flipBit(good.root1, size1) });
      await bad({ root2: flipBit(good.root2, size2) });
      if (size1 < size2) await bad({ size1: size2, size2: size1, root1: good.root2, root2: good.root1 }, /larger than/);
      if (size1 > 1) await bad({ size1: size1 - 1, root1: root(size1 - 1) });
      if (size1 < size2) await bad({ size1: size1 + 1, root1: root(size1 + 1) });
      if (size2 < 1000) await bad({ size2: size2 + 1, root2: root(size2 + 1) });
      if (proof.length) await bad({ proof: proof.slice(0, -1) }, /hashes/);
      if (proof.length) await bad({ proof: proof.slice(1) }, /hashes/);
      await bad({ proof: [...proof, zero] }, /hashes/);
    }
  });

  test('consistency edge cases: the empty tree and equal sizes', async () => {
    const empty = await sha256(new Uint8Array(0));
    await v.verifyConsistency({ size1: 0, size2: 1000, root1: empty, root2: root(1000), proof: [] });
    await v.verifyConsistency({ size1: 0, size2: 7, root2: root(7), proof: [] }); // root1 may be left out
    await v.verifyConsistency({ size1: 0, size2: 0, root1: empty, root2: empty, proof: [] });
    await rejects('consistency', () => v.verifyConsistency({ size1: 0, size2: 2, root2: root(2), proof: [leafHashes[0]] }));
    await rejects('consistency', () => v.verifyConsistency({ size1: 0, size2: 2, root1: root(1), root2: root(2), proof: [] }));
    await v.verifyConsistency({ size1: 9, size2: 9, root1: root(9), root2: root(9), proof: [] });
    await rejects('consistency', () => v.verifyConsistency({ size1: 9, size2: 9, root1: root(9), root2: root(8), proof: [] }));
    await rejects('consistency', () => v.verifyConsistency({ size1: 9, size2: 9, root1: root(9), root2: root(9), proof: [root(9)] }));
    await rejects('consistency', () => v.verifyConsistency({ size1: 10, size2: 9, root1: root(10), root2: root(9), proof: [] }));
  });
});

describe('64-bit sizes and argument checks', () => {
  test('proofs in trees far beyond 2^32 leaves verify (BigInt arithmetic)', async () => {
    const [x, leaf] = [leafHashes[1], leafHashes[2]];
    // The last leaf of a tree of 2^40 + 1: its one proof hash is the left 2^40-leaf subtree.
    const size = 2n ** 40n + 1n;
    await v.verifyInclusion({ index: size - 1n, size, leafHash: leaf, proof: [x], root: await v.nodeHash(x, leaf) });
    await v.verifyConsistency({ size1: size - 1n, size2: size, root1: x, root2: await v.nodeHash(x, leaf), proof: [leaf] });
    // The last leaf of a full tree of 2^62 leaves: 62 left siblings.
    const proof = leafHashes.slice(0, 62);
    let r = leaf;
    for (const p of proof) r = await v.nodeHash(p, r);
    await v.verifyInclusion({ index: 2n ** 62n - 1n, size: 2n ** 62n, leafHash: leaf, proof, root: r });
    await rejects('inclusion', () => v.verifyInclusion({ index: 2n ** 62n - 2n, size: 2n ** 62n, leafHash: leaf, proof, root: r }));
    await rejects('inclusion', () => v.verifyInclusion({ index: 2n ** 63n, size: 2n ** 64n - 1n, leafHash: leaf, proof, root: r }));
  });

  test('bad arguments are rejected, never rounded', async () => {
    const good = { index: 0, size: 1, leafHash: leafHashes[0], proof: [], root: root(1) };
    await v.verifyInclusion(good);
    for (const change of [
      { index: 2 ** 53 }, { index: -1 }, { index: 0.5 }, { index: '0' }, { size: 2n ** 64n },
      { leafHash: leafHashes[0].slice(1) }, { root: tlog.roots['1'] }, { proof: 'x' }, { proof: [null] },
    ]) {
      await rejects('inclusion', () => v.verifyInclusion({ ...good, ...change }));
    }
    await rejects('leaf-hash', () => v.leafHash('evidence-leaf-0'));
    await rejects('encoding', () => v.nodeHash(leafHashes[0], new Uint8Array(31)));
  });
});

// ---------------------------------------------------------------- signed note vectors

describe('reference vectors: signed note (note_vectors.json)', () => {
  test('the note parses into its body and one signature', () => {
    const { body, signatures } = v.parseNote(notes.signed_note);
    assert.equal(body, notes.checkpoint_body);
    assert.equal(signatures.length, 1);
    assert.equal(signatures[0].name, 'log.example/evidence');
    assert.equal(bytesToHex(signatures[0].keyHash), 'aff48047');
    assert.equal(signatures[0].signature.length, 64);
    const cp = v.parseCheckpoint(body);
    assert.deepEqual(cp, { origin: 'log.example/evidence', size: 1000n, rootHash: root(1000), extensions: [] });
  });

  test('the body ends at the last blank line (as Go\'s note.Open)', () => {
    const sig = lineOf(notes.signed_note, 'log.example/evidence');
    const { body, signatures } = v.parseNote(`text\n\nwith a blank line\n\n${sig}`);
    assert.equal(body, 'text\n\nwith a blank line\n');
    assert.equal(signatures.length, 1);
  });

  test('the verifier key parses, and the signer key matches it', async () => {
    const key = await v.parseVerifierKey(notes.verifier_key);
    assert.equal(key.name, 'log.example/evidence');
    assert.equal(bytesToHex(key.keyHash), 'aff48047');
    assert.equal(key.type, 0x01);
    assert.equal(key.publicKey.length, 32);
    const signer = await noteSigner(notes.signer_key);
    assert.deepEqual([signer.name, signer.type, signer.keyHash], [key.name, key.type, key.keyHash]);
    assert.deepEqual(signer.seed, new Uint8Array(32), 'the all-zero test seed');
    assert.deepEqual(signer.publicKey, key.publicKey);
    // Ed25519 is deterministic: re-signing the body gives the vector's note.
    assert.equal(await signer.sign(notes.checkpoint_body), notes.signed_note);
  });

  test('the signed note verifies', async () => {
    for (const note of [notes.signed_note, utf8(notes.signed_note)]) {
      const r = await v.verifyCheckpoint(note, notes.verifier_key);
      assert.equal(r.origin, 'log.example/evidence');
      assert.equal(r.size, 1000n);
      assert.deepEqual(r.rootHash, root(1000));
      assert.equal(r.body, notes.checkpoint_body);
      assert.deepEqual(r.cosignatures, []);
      assert.deepEqual(r.unknownSignatures, []);
      assert.equal(r.quorumMet, true);
    }
    // Surrounding white space of a pasted key is ignored (as the Rust code does).
    await v.verifyCheckpoint(notes.signed_note, ` ${notes.verifier_key}\n`);
  });

  test('wrong keys are rejected', async () => {
    const { publicKey } = await v.parseVerifierKey(fx.log_key);
    const sameNameOtherKey = await makeVkey('log.example/evidence', 0x01, publicKey);
    await rejects('checkpoint-signature', () => v.verifyCheckpoint(notes.signed_note, sameNameOtherKey));
    await rejects('origin', () => v.verifyCheckpoint(notes.signed_note, fx.log_key));
  });

  test('malformed verifier keys are rejected', async () => {
    const [name, hash, b64] = notes.verifier_key.split('+');
    const key = base64ToBytes(b64);
    const badHash = hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    for (const bad of [
      `${name}+${badHash}+${b64}`, // key hash that does not match
      `${name}+${hash.toUpperCase()}+${b64}`,
      `${name}+${hash}0+${b64}`,
      `${name}+${hash}`,
      `${name}${hash}${b64}`,
      `+${hash}+${b64}`,
      `log example+${hash}+${b64}`,
      `${name}+${hash}+${b64.slice(0, -1)}`,
      `${name}+${hash}+${bytesToBase64(key.slice(0, 32))}`,
      `${name}+${hash}+${bytesToBase64(concat(key, [0]))}`,
      await makeVkey(name, 0x02, key.slice(1)), // unknown type, right hash
      42,
    ]) {
      await rejects('key-format', () => v.parseVerifierKey(bad));
    }
    await rejects('key-format', () => v.verifyCheckpoint(notes.signed_note, `${name}+${badHash}+${b64}`));
  });

  test('tampered notes are rejected', async () => {
    const note = notes.signed_note;
    const badSig = editSignature(note, 'log.example/evidence', (b) => flipBit(b, 200));
    await rejects('checkpoint-signature', () => v.verifyCheckpoint(badSig, notes.verifier_key));
    await rejects('checkpoint-signature', () => v.verifyCheckpoint(note.replace('\n1000\n', '\n1001\n'), notes.verifier_key));
    const otherRoot = bytesToBase64(root(999));
    await rejects('checkpoint-signature', () => v.verifyCheckpoint(note.replace(/\n[^\n]+=\n\n/, `\n${otherRoot}\n\n`), notes.verifier_key));
    // A signature by another key (here the fixture's other log, over this body).
    const other = v.parseNote(fx.note_signed_only_by_other_key).body === fx.body;
    assert.ok(other);
    await rejects('checkpoint-signature', () => v.verifyCheckpoint(fx.note_signed_only_by_other_key, fx.log_key));
  });

  test('signatures by unknown keys are ignored and reported', async () => {
    const foreign = lineOf(fx.note_with_unknown_signature, 'other.example/log');
    for (const note of [notes.signed_note + foreign, notes.signed_note.replace('\n\n', `\n\n${foreign}`)]) {
      const r = await v.verifyCheckpoint(note, notes.verifier_key);
      assert.deepEqual(r.unknownSignatures, ['other.example/log']);
    }
  });

  test('malformed notes are rejected', async () => {
    const note = notes.signed_note;
    const sigLine = lineOf(note, 'log.example/evidence');
    for (const bad of [
      note.slice(0, -1), // no final newline
      notes.checkpoint_body, // no signatures
      notes.checkpoint_body + '\n', // blank line, no signatures
      note.replace('\n\n', '\n'), // no blank line
      note.replaceAll('\n', '\r\n'),
      note.replace('log.example/evidence\n', 'log.example/evidence\t\n'),
      note.replace('— ', '- '), // hyphen, not em dash
      note.replace('— ', '—'),
      note + '\n',
      note + 'trailing text\n',
      note.replace(/ [^ ]+\n$/, ' AAAA\n'), // signature shorter than 5 bytes
      note.replace(/ [^ ]+\n$/, ' !!!!\n'),
      note + sigLine.repeat(100), // more than 100 signatures
      'x'.repeat(64 * 1024) + note,
      new Uint8Array([0xff, 0x0a, 0x0a]),
      null,
    ]) {
      await rejects('checkpoint-format', () => v.verifyCheckpoint(bad, notes.verifier_key));
    }
  });

  test('checkpoint bodies signed by the right key are still checked', async () => {
    const signer = await noteSigner(notes.signer_key);
    const [, size, hash] = notes.checkpoint_body.split('\n');
    const signed = (body) => signer.sign(body);
    // Extension lines are fine and returned.
    const ext = await v.verifyCheckpoint(await signed(`${notes.checkpoint_body}ext one\nt 2\n`), notes.verifier_key);
    assert.deepEqual(v.parseCheckpoint(ext.body).extensions, ['ext one', 't 2']);
    // An origin that is not the key's name.
    await rejects('origin', async () => v.verifyCheckpoint(await signed(`log.example/other\n${size}\n${hash}\n`), notes.verifier_key));
    for (const body of [
      `log.example/evidence\n0${size}\n${hash}\n`,
      `log.example/evidence\n+${size}\n${hash}\n`,
      `log.example/evidence\n18446744073709551616\n${hash}\n`,
      `log.example/evidence\n${size}\n${hash.slice(0, -1)}\n`,
      `log.example/evidence\n${size}\n${bytesToBase64(new Uint8Array(31))}\n`,
      `log.example/evidence\n${size}\n`,
      `\n${size}\n${hash}\n`,
    ]) {
      await rejects('checkpoint-format', async () => v.verifyCheckpoint(await signed(body), notes.verifier_key));
    }
  });

  test('checkpoint bodies parse per C2SP tlog-checkpoint', async () => {
    const h = bytesToBase64(root(3));
    assert.equal(v.parseCheckpoint(`o\n18446744073709551615\n${h}\n`).size, 2n ** 64n - 1n);
    assert.equal(v.parseCheckpoint(`o\n0\n${h}\n`).size, 0n);
    assert.deepEqual(v.parseCheckpoint(`o o\n3\n${h}\na\nb c\n`).extensions, ['a', 'b c']);
    for (const bad of [`o\n3\n${h}`, `o\n3\n${h}\na\n\n`, `o\n3\n${h}\n\nb\n`, `o\n3\n`, `o\n3 \n${h}\n`, `o\n1e3\n${h}\n`]) {
      await rejects('checkpoint-format', () => v.parseCheckpoint(bad));
    }
  });
});

// ---------------------------------------------------------------- cosigned fixture (Rust)

describe('cosigned checkpoint (fixtures/cosigned.json, made by evledger-tlog)', () => {
  const [w1, w2] = fx.witness_keys;
  const w1Name = w1.split('+')[0];
  const w2Name = w2.split('+')[0];
  const note = fx.cosigned_note;
  const verify = (n, witnesses, quorum, logKey = fx.log_key) => v.verifyCheckpoint(n, logKey, { witnesses, quorum });

  test('the fixture commits to the tree of the reference vectors', () => {
    assert.match(fx.about, /TEST KEYS ONLY/);
    assert.equal(fx.root_hex, tlog.roots['1000']);
    assert.equal(fx.consistency.root1_hex, tlog.roots[String(fx.consistency.size1)]);
    assert.ok(note.startsWith(fx.signed_note));
    assert.equal(v.parseNote(note).body, fx.body);
  });

  test('it verifies with a quorum of two witnesses', async () => {
    const r = await verify(note, [w1, w2, fx.idle_witness_key], 2);
    assert.equal(r.origin, fx.origin);
    assert.equal(r.size, 1000n);
    assert.deepEqual(r.rootHash, hex(fx.root_hex));
    assert.equal(r.body, fx.body);
    assert.deepEqual(r.cosignatures, [
      { name: w1Name, timestamp: BigInt(fx.timestamps[0]), valid: true },
      { name: w2Name, timestamp: BigInt(fx.timestamps[1]), valid: true },
      { name: fx.idle_witness_key.split('+')[0], timestamp: null, valid: false },
    ]);
    assert.deepEqual(r.unknownSignatures, []);
    assert.equal(r.quorumMet, true);
    // Without a witness policy the cosignatures are just unknown signatures.
    assert.deepEqual((await v.verifyCheckpoint(note, fx.log_key)).unknownSignatures, [w1Name, w2Name]);
    // Signature order does not matter.
    const reordered = fx.body + '\n' + lineOf(note, w2Name) + lineOf(note, fx.origin) + lineOf(note, w1Name);
    assert.equal((await verify(reordered, [w1, w2], 2)).quorumMet, true);
  });

  test('the witness keys parse as cosignature/v1 keys', async () => {
    for (const w of [w1, w2, fx.idle_witness_key]) assert.equal((await v.parseVerifierKey(w)).type, 0x04);
  });

  test('tampered cosignatures are rejected', async () => {
    const timestamp = editSignature(note, w1Name, (b) => flipBit(b, 8 * (4 + 7))); // last timestamp byte
    await rejects('cosignature', () => verify(timestamp, [w1, w2], 1));
    const later = editSignature(note, w1Name, (b) => {
      new DataView(b.buffer).setBigUint64(4, BigInt(fx.timestamps[0]) + 60n);
      return b;
    });
    await rejects('cosignature', () => verify(later, [w1, w2], 2));
    const huge = editSignature(note, w1Name, (b) => {
      new DataView(b.buffer).setBigUint64(4, 2n ** 63n);
      return b;
    });
    await rejects('cosignature', () => verify(huge, [w1, w2], 2));
    await rejects('cosignature', () => verify(editSignature(note, w2Name, (b) => flipBit(b, 8 * 40)), [w1, w2], 1));
    await rejects('cosignature', () => verify(editSignature(note, w2Name, (b) => concat(b.slice(0, 4), b.slice(12))), [w1, w2], 1));
    // A bad signature by a trusted witness fails the note even with no quorum (signed-note rule).
    await rejects('cosignature', () => verify(timestamp, [w1], 0));
    // An altered body breaks the log's signature first.
    await rejects('checkpoint-signature', () => verify(note.replace('\n1000\n', '\n999\n'), [w1, w2], 2));
  });

  test('a quorum that is not met is rejected', async () => {
    await rejects('quorum', () => verify(note, [w1, w2, fx.idle_witness_key], 3));
    await rejects('quorum', () => verify(note, [w1, fx.idle_witness_key], 2));
    await rejects('quorum', () => verify(dropLine(note, w2Name), [w1, w2], 2));
    await rejects('quorum', () => verify(fx.signed_note, [w1, w2], 1));
    await rejects('quorum', () => verify(note, [w1, w2], 3)); // more than the witnesses given
    await rejects('quorum', () => verify(note, [w1, w1], 2)); // one key given twice is one witness
    await rejects('quorum', () => verify(note, [w1], -1));
    assert.equal((await verify(dropLine(note, w2Name), [w1, w2], 1)).quorumMet, true);
  });

  test('cosignatures made here with WebCrypto verify; timestamps beyond 2^63-1 do not', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
    const vkey = await makeVkey('js.example/w', 0x04, publicKey);
    const cosign = async (t) => {
      const sig = await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, utf8(`cosignature/v1\ntime ${t}\n${fx.body}`));
      const ts = new Uint8Array(8);
      new DataView(ts.buffer).setBigUint64(0, t);
      return `— js.example/w ${bytesToBase64(concat(hex(vkey.split('+')[1]), ts, new Uint8Array(sig)))}\n`;
    };
    const max = 2n ** 63n - 1n;
    const r = await verify(note + (await cosign(max)), [w1, vkey], 2);
    assert.deepEqual(r.cosignatures.at(-1), { name: 'js.example/w', timestamp: max, valid: true });
    await rejects('cosignature', async () => verify(note + (await cosign(max + 1n)), [vkey], 1), /2\^63-1/);
  });

  test('one witness key under two names counts once', async () => {
    // cosignature/v1 does not sign the witness name: relabelling a cosignature
    // (new name, recomputed key hash) keeps it valid, for the same public key.
    const { publicKey } = await v.parseVerifierKey(w1);
    const alias = await makeVkey('witness.example/alias', 0x04, publicKey);
    const aliasHash = hex(alias.split('+')[1]);
    const line = lineOf(note, w1Name);
    const sig = base64ToBytes(line.trim().split(' ')[2]);
    const aliasLine = `— witness.example/alias ${bytesToBase64(concat(aliasHash, sig.slice(4)))}\n`;
    const r = await verify(note + aliasLine, [alias], 1);
    assert.deepEqual(r.cosignatures.map((c) => [c.name, c.valid]), [['witness.example/alias', true]]);
    await rejects('quorum', () => verify(note + aliasLine, [w1, alias], 2));
    const once = await verify(note + aliasLine, [w1, alias], 1);
    assert.deepEqual(once.cosignatures.map((c) => c.name), [w1Name]);
    assert.deepEqual(once.unknownSignatures, [w2Name, 'witness.example/alias']);
  });

  test('witness signatures never stand in for the log signature', async () => {
    await rejects('checkpoint-signature', () => verify(dropLine(note, fx.origin), [w1, w2], 2));
    await rejects('checkpoint-signature', () => verify(note, [w1, w2], 2, fx.impostor_log_key));
    await rejects('checkpoint-signature', () => verify(fx.impostor_note, [], 0));
    await rejects('checkpoint-signature', () => verify(fx.note_signed_only_by_other_key, [], 0));
    await rejects('origin', () => verify(note, [], 0, fx.other_log_key));
  });

  test('key types are enforced', async () => {
    await rejects('key-format', () => verify(note, [w1], 1, w1)); // witness key as log key
    await rejects('key-format', () => verify(note, [fx.log_key], 1)); // log key as witness
    const [name, hash, b64] = w1.split('+');
    await rejects('key-format', () => verify(note, [`${name}+${hash.replace(/.$/, (c) => (c === '0' ? '1' : '0'))}+${b64}`], 1));
  });

  test('unknown signatures and repeated lines follow signed-note rules', async () => {
    const r = await verify(fx.note_with_unknown_signature, [], 0);
    assert.deepEqual(r.unknownSignatures, ['other.example/log']);
    // Only the first signature per key counts (as Go's note.Open and Rust's
    // signed_note): a later repeat is skipped, an earlier bad one fails.
    const garbage = lineOf(editSignature(note, fx.origin, (b) => flipBit(b, 100)), fx.origin);
    await verify(note + garbage, [w1, w2], 2);
    await rejects('checkpoint-signature', () => verify(note.replace('\n\n', `\n\n${garbage}`), [w1, w2], 2));
  });

  test('proofs written by the Rust code verify', async () => {
    const c = fx.consistency;
    await v.verifyConsistency({ size1: c.size1, size2: c.size2, root1: hex(c.root1_hex), root2: hex(c.root2_hex), proof: c.proof.map(hex) });
    for (const b of fx.tlog_proofs) {
      await v.verifyInclusion({ index: b.index, size: fx.size, leafHash: await v.leafHash(utf8(b.entry)), proof: b.hashes.map(hex), root: hex(fx.root_hex) });
    }
  });
});

// ---------------------------------------------------------------- tlog-proof bundles

describe('tlog-proof bundles (fixture, written by TlogProof::to_text)', () => {
  const policy = { witnesses: fx.witness_keys, quorum: 2 };

  test('bundles parse', () => {
    for (const b of fx.tlog_proofs) {
      const p = v.parseTlogProof(b.text);
      assert.equal(p.index, BigInt(b.index));
      assert.deepEqual(p.extra, b.has_extra ? utf8(b.entry) : null);
      assert.deepEqual(p.hashes, b.hashes.map(hex));
      assert.equal(p.checkpoint, fx.cosigned_note);
    }
  });

  test('the example of tlog_proof.rs round-trips', () => {
    const [h1, h2] = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    const checkpoint = 'o\n8\nAAAA\n\n— o abc\n';
    const text = `c2sp.org/tlog-proof@v1\nextra bGVhZg==\nindex 7\n${bytesToBase64(h1)}\n${bytesToBase64(h2)}\n\n${checkpoint}`;
    assert.deepEqual(v.parseTlogProof(text), { extra: utf8('leaf'), index: 7n, hashes: [h1, h2], checkpoint });
    assert.deepEqual(v.parseTlogProof('c2sp.org/tlog-proof@v1\nindex 0\n\ncp').hashes, []);
    assert.deepEqual(v.parseTlogProof('c2sp.org/tlog-proof@v1\nextra \nindex 0\n\ncp').extra, new Uint8Array(0));
  });

  test('bundles verify offline, with or without the entry', async () => {
    for (const b of fx.tlog_proofs) {
      const r = await v.verifyTlogProof(b.text, fx.log_key, policy, b.entry);
      assert.equal(r.index, BigInt(b.index));
      assert.deepEqual(r.leaf, utf8(b.entry));
      assert.equal(r.checkpoint.size, 1000n);
      assert.equal(r.checkpoint.quorumMet, true);
      if (b.has_extra) {
        await v.verifyTlogProof(b.text, fx.log_key, policy);
        await rejects('leaf-hash', () => v.verifyTlogProof(b.text, fx.log_key, policy, 'evidence-leaf-1'));
      } else {
        await rejects('leaf-hash', () => v.verifyTlogProof(b.text, fx.log_key, policy));
        await rejects('inclusion', () => v.verifyTlogProof(b.text, fx.log_key, policy, 'evidence-leaf-1'));
      }
    }
  });

  test('tampered bundles are rejected', async () => {
    const b = fx.tlog_proofs.find((p) => p.has_extra && p.hashes.length > 2);
    const lines = b.text.split('\n');
    const at = lines.findIndex((l) => l.startsWith('index ')) + 1;
    const check = (step, text, entry) => rejects(step, () => v.verifyTlogProof(text, fx.log_key, policy, entry));
    await check('inclusion', b.text.replace(`index ${b.index}\n`, `index ${b.index + 1}\n`));
    for (let j = 0; j < b.hashes.length; j++) {
      const flipped = lines.with(at + j, bytesToBase64(flipBit(base64ToBytes(lines[at + j]), j * 11)));
      await check('inclusion', flipped.join('\n'));
    }
    await check('inclusion', lines.toSpliced(at, 1).join('\n')); // a hash removed
    await check('inclusion', lines.toSpliced(at, 0, lines[at]).join('\n')); // a hash repeated
    await check('inclusion', b.text.replace(/^extra .*$/m, `extra ${bytesToBase64(utf8('evidence-leaf-501'))}`));
    await check('cosignature', editSignature(b.text, fx.witness_keys[0].split('+')[0], (s) => flipBit(s, 70)));
    await check('quorum', dropLine(b.text, fx.witness_keys[1].split('+')[0]));
    await check('checkpoint-signature', b.text.replace(fx.body, fx.body.replace('1000', '1001')));
  });

  test('malformed bundles are rejected', async () => {
    const h = bytesToBase64(new Uint8Array(32));
    for (const bad of [
      '', // the cases of tlog_proof.rs's own test, then more
      'c2sp.org/tlog-proof@v2\nindex 1\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex 01\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex x\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex 1\nnot-base64!\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex 1',
      'c2sp.org/tlog-proof@v1\n\ncp',
      'c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex 1\nextra AAAA\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex -1\n\ncp',
      'c2sp.org/tlog-proof@v1\nindex 18446744073709551616\n\ncp',
      `c2sp.org/tlog-proof@v1\nindex 1\n${`${h}\n`.repeat(64)}\ncp`,
      'c2sp.org/tlog-proof@v1\r\nindex 1\r\n\r\ncp',
      `c2sp.org/tlog-proof@v1\nindex 1\n\n${'x'.repeat(256 * 1024)}`,
    ]) {
      await rejects('proof-format', () => v.parseTlogProof(bad));
    }
  });
});
