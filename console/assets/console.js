// evledger console: verification in the browser, and small conveniences
// (copy buttons, local times, key pinning). Every check is done here, on
// bytes this module fetched or the page shows, against the keys the
// auditor pinned: the server is trusted for nothing shown as verified.
import * as v from './verify.js';

const PINS = { key: 'evledger.logKey', witnesses: 'evledger.witnesses', quorum: 'evledger.quorum' };

function pinned() {
  const key = localStorage.getItem(PINS.key);
  let witnesses = [];
  try { witnesses = JSON.parse(localStorage.getItem(PINS.witnesses) || '[]'); } catch { witnesses = []; }
  const quorum = Number(localStorage.getItem(PINS.quorum) || '0');
  return { key, witnesses, quorum };
}

async function pin(key, witnesses = [], quorum = 0) {
  await v.parseVerifierKey(key); // throws on a malformed key
  for (const w of witnesses) await v.parseVerifierKey(w);
  localStorage.setItem(PINS.key, key);
  localStorage.setItem(PINS.witnesses, JSON.stringify(witnesses));
  localStorage.setItem(PINS.quorum, String(quorum));
}

function pageData(name) {
  const el = document.querySelector(`#page-data [data-name="${name}"]`);
  return el ? el.dataset.value : null;
}

// ---- the badge ---------------------------------------------------------

const badge = {
  el: () => document.getElementById('badge'),
  steps: [],
  start(title) {
    const el = this.el();
    if (!el) return;
    this.steps = [];
    el.className = 'badge checking';
    el.dataset.state = 'checking';
    el.querySelector('.badge-title').textContent = title;
    document.getElementById('badge-detail').textContent = '';
    document.getElementById('badge-steps').replaceChildren();
  },
  step(text, ok = true) {
    const li = document.createElement('li');
    li.className = ok ? 'ok' : 'bad';
    li.textContent = text;
    document.getElementById('badge-steps')?.append(li);
  },
  finish(state, title, detail) {
    const el = this.el();
    if (!el) return;
    el.className = `badge ${state}`;
    el.dataset.state = state;
    const icon = { verified: '✓', announced: '!', failed: '✗' }[state] || '?';
    el.querySelector('.badge-title').textContent = `${icon} ${title}`;
    document.getElementById('badge-detail').textContent = detail;
  },
  fail(error) {
    // Anything but a VerifyError is the browser's: a fetch that failed, or
    // WebCrypto without Ed25519 (NotSupportedError).
    const step = error instanceof v.VerifyError ? error.step
      : error?.name === 'NotSupportedError' ? 'browser' : 'fetch';
    this.el()?.setAttribute('data-failed-step', step);
    this.step(`${stepName(step)}: ${error.message}`, false);
    this.finish('failed', `Verification FAILED at: ${stepName(step)}`,
      `${error.message}. Do not rely on what this page shows until this is explained.`);
  },
};

const STEP_NAMES = {
  'key-format': 'reading the pinned key',
  'checkpoint-format': 'reading the checkpoint',
  'checkpoint-signature': 'checkpoint signature',
  'origin': 'checkpoint origin',
  'cosignature': 'witness cosignature',
  'quorum': 'witness quorum',
  'shown-values': 'what the page shows',
  'leaf-hash': 'leaf hash',
  'inclusion': 'inclusion proof',
  'consistency': 'consistency proof',
  'proof-format': 'reading the proof',
  'encoding': 'reading the data',
  'fetch': 'fetching what to verify',
  'browser': 'this browser (it lacks WebCrypto Ed25519)',
};
const stepName = (step) => STEP_NAMES[step] || step;

// Which key to verify against: the pinned one, or the one the server
// announces (which proves only that the server signed it).
function trustAnchor() {
  const pins = pinned();
  if (pins.key) return { ...pins, pinned: true };
  return { key: pageData('announced-key'), witnesses: [], quorum: 0, pinned: false };
}

async function fetchText(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new v.VerifyError('fetch', `${url} answered ${response.status}`);
  return response.text();
}

async function checkCheckpoint(note, anchor) {
  if (!anchor.key) throw new v.VerifyError('key-format', 'no key to verify against');
  const checkpoint = await v.verifyCheckpoint(note, anchor.key, {
    witnesses: anchor.witnesses, quorum: anchor.quorum,
  });
  badge.step(`checkpoint for ${checkpoint.size} entries signed by ${(await v.parseVerifierKey(anchor.key)).name}` +
    (anchor.pinned ? ' (your pinned key)' : ' (the key this server announces)'));
  const valid = checkpoint.cosignatures.filter((c) => c.valid);
  if (checkpoint.cosignatures.length) {
    badge.step(`${valid.length} of ${checkpoint.cosignatures.length} pinned witnesses cosigned (quorum ${anchor.quorum}): ` +
      checkpoint.cosignatures.map((c) => `${c.name} ${c.valid ? 'yes' : 'no'}`).join(', '));
  }
  return checkpoint;
}

function conclude(anchor, what) {
  if (anchor.pinned) {
    badge.finish('verified', 'Verified against your pinned key', what);
  } else {
    badge.finish('announced', 'Signature valid for the key this server announces: pin it to trust it',
      `${what} Anyone running a server can announce a key; pin the log's key from a source you trust.`);
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Pin this key';
    button.addEventListener('click', async () => { await pin(anchor.key); location.reload(); });
    badge.el()?.append(button);
  }
}

const equalBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

// ---- pages -------------------------------------------------------------

async function verifyOverview() {
  const anchor = trustAnchor();
  badge.start('Verifying the checkpoint…');
  const note = document.getElementById('checkpoint-text').textContent;
  const checkpoint = await checkCheckpoint(note, anchor);
  const shownSize = pageData('tree-size');
  const shownRoot = pageData('root');
  if (String(checkpoint.size) !== shownSize || v.bytesToHex(checkpoint.rootHash) !== shownRoot) {
    throw new v.VerifyError('shown-values',
      `the page shows ${shownSize} entries with root ${shownRoot}, the signed checkpoint says ${checkpoint.size} with ${v.bytesToHex(checkpoint.rootHash)}`);
  }
  badge.step('the size and root shown are the signed ones');
  conclude(anchor, `This page's checkpoint (${checkpoint.size} entries) is signed.`);
}

async function verifyEntry() {
  const anchor = trustAnchor();
  const index = pageData('index');
  badge.start(`Verifying entry ${index}…`);
  const proof = v.parseTlogProof(await fetchText(`/api/v1/log/entries/${index}?format=tlog-proof`));
  const checkpoint = await checkCheckpoint(proof.checkpoint, anchor);
  if (String(proof.index) !== index) {
    throw new v.VerifyError('inclusion', `the proof is for index ${proof.index}, this page shows ${index}`);
  }
  const shown = new TextEncoder().encode(document.getElementById('leaf-bytes').textContent);
  if (!proof.extra || !equalBytes(proof.extra, shown)) {
    throw new v.VerifyError('leaf-hash', 'the leaf bytes shown are not the bytes the proof is for');
  }
  const leafHash = await v.leafHash(shown);
  if (v.bytesToHex(leafHash) !== pageData('leaf-hash')) {
    throw new v.VerifyError('leaf-hash', `the leaf hash shown is not SHA-256(0x00 || leaf) = ${v.bytesToHex(leafHash)}`);
  }
  badge.step(`leaf hash of the bytes shown: ${v.bytesToHex(leafHash)}`);
  await v.verifyInclusion({ index: proof.index, size: checkpoint.size, leafHash, proof: proof.hashes, root: checkpoint.rootHash });
  badge.step(`inclusion proof (${proof.hashes.length} hashes) leads to the signed root of ${checkpoint.size} entries`);
  conclude(anchor, `Entry ${index} as shown is in the log.`);
}

async function verifyConsistency(event) {
  event?.preventDefault();
  const anchor = trustAnchor();
  const form = document.getElementById('consistency-form');
  const saved = form.elements.saved.value.trim();
  const second = Number(form.elements.second.value);
  badge.start('Verifying consistency…');
  let older;
  if (saved) {
    older = await checkCheckpoint(saved + '\n'.repeat(saved.endsWith('\n') ? 0 : 1), anchor);
  } else {
    const first = Number(form.elements.first.value);
    older = await checkCheckpoint(await fetchText(`/api/v1/log/checkpoints/${first}`), anchor);
  }
  const newer = await checkCheckpoint(await fetchText(`/api/v1/log/checkpoints/${second}`), anchor);
  if (older.size > newer.size) {
    throw new v.VerifyError('consistency', `the older checkpoint (${older.size}) is larger than the newer (${newer.size})`);
  }
  const answer = JSON.parse(await fetchText(`/api/v1/log/proof/consistency?firstSize=${older.size}&lastSize=${newer.size}`));
  try {
    await v.verifyConsistency({
      size1: older.size, size2: newer.size, root1: older.rootHash, root2: newer.rootHash,
      proof: answer.hashes.map(v.hexToBytes),
    });
  } catch (error) {
    if (error instanceof v.VerifyError) {
      error.message = `the tree of ${newer.size} entries does not extend the tree of ${older.size} you gave (${error.message}): a fork, or a forged proof`;
    }
    throw error;
  }
  badge.step(`consistency proof (${answer.hashes.length} hashes): the tree of ${newer.size} entries extends the tree of ${older.size}`);
  conclude(anchor, `The log at ${newer.size} entries extends the log at ${older.size}: nothing was changed or removed.`);
}

function keysPage() {
  const form = document.getElementById('pin-form');
  const status = document.getElementById('pin-status');
  const pins = pinned();
  form.elements.key.value = pins.key || '';
  form.elements.witnesses.value = pins.witnesses.join('\n');
  form.elements.quorum.value = String(pins.quorum);
  status.textContent = pins.key ? `Pinned: ${pins.key}` : 'No key pinned: pages verify against the key the server announces, and say so.';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const witnesses = form.elements.witnesses.value.split('\n').map((s) => s.trim()).filter(Boolean);
    try {
      await pin(form.elements.key.value.trim(), witnesses, Number(form.elements.quorum.value || '0'));
      status.textContent = `Pinned: ${form.elements.key.value.trim()}`;
    } catch (error) {
      status.textContent = `Not pinned: ${error.message}`;
    }
  });
  document.getElementById('unpin').addEventListener('click', () => {
    Object.values(PINS).forEach((k) => localStorage.removeItem(k));
    status.textContent = 'Pinned keys forgotten.';
    form.reset();
  });
}

// ---- conveniences ------------------------------------------------------

function copyButtons() {
  for (const button of document.querySelectorAll('button.copy')) {
    button.hidden = false;
    button.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = 'Copied';
      } catch {
        const selection = getSelection();
        selection.selectAllChildren(button.previousElementSibling);
        button.textContent = 'Selected: press Ctrl+C';
      }
      setTimeout(() => { button.textContent = 'Copy'; }, 2000);
    });
  }
}

function localTimes() {
  for (const el of document.querySelectorAll('time[datetime]')) {
    const local = document.createElement('span');
    local.className = 'local';
    local.textContent = `(${new Date(el.getAttribute('datetime')).toLocaleString()} local)`;
    el.after(local);
  }
}

async function pinFromLink() {
  const key = new URLSearchParams(location.search).get('key');
  if (!key) return;
  try {
    await pin(key, pinned().witnesses, pinned().quorum);
  } catch (error) {
    alert(`The key in this link is not a verifier key: ${error.message}`);
  }
}

async function main() {
  await pinFromLink();
  copyButtons();
  localTimes();
  const page = document.body.dataset.page;
  const run = async (check) => { try { await check(); } catch (error) { badge.fail(error); } };
  if (page === 'overview') await run(verifyOverview);
  if (page === 'entries' && pageData('index') !== null) await run(verifyEntry);
  if (page === 'keys') keysPage();
  if (page === 'consistency') {
    document.getElementById('consistency-form').addEventListener('submit', (e) => run(() => verifyConsistency(e)));
    if (new URLSearchParams(location.search).has('first')) await run(verifyConsistency);
  }
}

main();
