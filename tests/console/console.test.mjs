// The console in a real browser: Playwright's library driving Debian's
// Chromium against a real ledger (started by tests/e2e_console.rs, which
// passes what it set up in the environment). Steps run in order; the first
// failure exits 1 naming the step.
//
// Environment:
//   EVLEDGER_URL               the ledger
//   EVLEDGER_KEY               its verifier key
//   EVLEDGER_DIGEST            a subject digest (sha256:<hex>) of entry EVLEDGER_DIGEST_INDEX
//   EVLEDGER_DIGEST_INDEX      that entry's index
//   EVLEDGER_ENTRIES           entries in the log
//   EVLEDGER_WORKFLOW          a workflow with two contract revisions and attestations
//   EVLEDGER_FORK_CHECKPOINT   a checkpoint signed by the same key over other entries
//   EVLEDGER_OTHER_CHECKPOINT  a checkpoint of the same origin signed by another key
//   EVLEDGER_SIGNED_SIZE       a tree size at which the ledger signed a checkpoint
//   EVLEDGER_PACK_OUT          where to save the pack downloaded from the UI
//   EVLEDGER_SCREENSHOTS       where to write the 1280×800 screenshots
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const URL_ = env('EVLEDGER_URL');
const KEY = env('EVLEDGER_KEY');
const SHOTS = env('EVLEDGER_SCREENSHOTS');
mkdirSync(SHOTS, { recursive: true });

function check(condition, message) {
  if (!condition) throw new Error(message);
}

let current = '';
async function step(name, fn) {
  current = name;
  const started = Date.now();
  await fn();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

// A proxy in front of the real ledger that forges what the browser is
// sent: `mode` picks the lie.
function forgingProxy(mode) {
  const upstream = new URL(URL_);
  const server = http.createServer((req, res) => {
    const forward = http.request({
      host: upstream.hostname, port: upstream.port, path: req.url, method: req.method,
      headers: { ...req.headers, host: upstream.host, 'accept-encoding': 'identity' },
    }, (answer) => {
      const chunks = [];
      answer.on('data', (c) => chunks.push(c));
      answer.on('end', () => {
        let body = Buffer.concat(chunks).toString('utf8');
        body = forge(mode, req.url, body);
        const headers = { ...answer.headers };
        delete headers['content-length'];
        res.writeHead(answer.statusCode, headers);
        res.end(body);
      });
    });
    req.pipe(forward);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function forge(mode, url, body) {
  if (mode === 'proof' && url.includes('format=tlog-proof')) {
    // Flip one bit of the first proof hash: the first line after `index N`.
    const lines = body.split('\n');
    const at = lines.findIndex((l) => l.startsWith('index ')) + 1;
    const bytes = Buffer.from(lines[at], 'base64');
    bytes[0] ^= 1;
    lines[at] = bytes.toString('base64');
    return lines.join('\n');
  }
  if (mode === 'checkpoint' && (url === '/' || url.startsWith('/?'))) {
    // Replace the checkpoint the overview shows with one another key signed.
    const other = env('EVLEDGER_OTHER_CHECKPOINT');
    return body.replace(/(<pre class="note" id="checkpoint-text">)[^<]*(<\/pre>)/, `$1${other}$2`);
  }
  return body;
}

const badgeState = (page) => page.locator('#badge').getAttribute('data-state');

async function waitBadge(page, expected) {
  await page.waitForFunction(
    () => ['verified', 'announced', 'failed'].includes(document.getElementById('badge')?.dataset.state),
    null, { timeout: 15000 });
  const state = await badgeState(page);
  const text = await page.locator('#badge').innerText();
  check(state === expected, `badge is ${state}, expected ${expected}: ${text}`);
  return text;
}

async function shot(page, name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false });
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await step('the overview verifies against the key the server announces, and says so', async () => {
    await page.goto(`${URL_}/`);
    const text = await waitBadge(page, 'announced');
    check(text.includes('pin it to trust it'), text);
  });

  await step('pin the log key on the keys page', async () => {
    await page.goto(`${URL_}/keys`);
    await page.fill('#log-key', KEY);
    await page.click('#pin-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('pin-status').textContent.startsWith('Pinned:'));
    await shot(page, 'keys');
  });

  await step('the overview verifies against the pinned key', async () => {
    await page.goto(`${URL_}/`);
    const text = await waitBadge(page, 'verified');
    check(text.includes('Verified against your pinned key'), text);
    await shot(page, 'overview');
  });

  await step('keyboard: the skip link is the first stop and leads to the content', async () => {
    await page.goto(`${URL_}/entries`);
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => document.activeElement.textContent);
    check(focused === 'Skip to content', `first tab stop is ${focused}`);
    await page.keyboard.press('Enter');
    const id = await page.evaluate(() => document.activeElement.id);
    check(id === 'main', `skip link focused ${id}`);
  });

  let entryHref;
  await step('search by a subject digest finds the entry', async () => {
    await page.goto(`${URL_}/search`);
    await page.fill('#hash', env('EVLEDGER_DIGEST'));
    await page.click('form.search button[type=submit]');
    await page.waitForSelector('table.entries');
    const links = await page.locator('table.entries tbody tr td:first-child a').allInnerTexts();
    check(links.includes(env('EVLEDGER_DIGEST_INDEX')), `results ${links}`);
    entryHref = `/entries/${env('EVLEDGER_DIGEST_INDEX')}`;
    await shot(page, 'search');
  });

  await step('the entry page verifies leaf, inclusion and checkpoint against the pinned key', async () => {
    await page.click(`a[href="${entryHref}"]`);
    const text = await waitBadge(page, 'verified');
    check(text.includes('inclusion proof'), text);
    check(text.includes('leaf hash of the bytes shown'), text);
    await shot(page, 'entry');
  });

  await step('page through every entry, newest first, by cursor', async () => {
    await page.goto(`${URL_}/entries`);
    const seen = new Set();
    let pages = 0;
    for (;;) {
      pages += 1;
      const indexes = (await page.locator('table.entries tbody tr td:first-child a').allInnerTexts()).map(Number);
      for (let i = 1; i < indexes.length; i++) check(indexes[i] === indexes[i - 1] - 1, `page ${pages} is not newest first: ${indexes}`);
      indexes.forEach((i) => seen.add(i));
      if (pages === 1) await shot(page, 'entries');
      const older = page.locator('a[rel=next]');
      if ((await older.count()) === 0) break;
      await older.click();
      await page.waitForLoadState();
    }
    const total = Number(env('EVLEDGER_ENTRIES'));
    check(seen.size === total, `saw ${seen.size} distinct entries of ${total} in ${pages} pages`);
    check(seen.has(0) && seen.has(total - 1), 'first or last entry missing');
  });

  await step('the workflow shows its revisions, a diff and its attestations', async () => {
    await page.goto(`${URL_}/workflows`);
    await shot(page, 'workflows');
    await page.goto(`${URL_}/workflows/${env('EVLEDGER_WORKFLOW')}?from=1&to=2`);
    const diff = await page.locator('figure.diff').innerText();
    check(diff.includes('Revision 1 → revision 2'), diff);
    check(/^\+ /m.test(diff) || /^- /m.test(diff), `no change marked: ${diff}`);
    const checks = await page.locator('span.pass').count();
    check(checks >= 1, 'no attestation shown as passing its contract');
    check((await page.locator('#robots-h').count()) === 0, 'robot accounts shown to an anonymous visitor');
    await shot(page, 'workflow');
  });

  await step('an evidence pack downloads from the workflow page', async () => {
    const download = page.waitForEvent('download');
    await page.click('form.pack button:not([formaction])');
    const file = await download;
    await file.saveAs(env('EVLEDGER_PACK_OUT'));
  });

  await step('the consistency page accepts an honest extension', async () => {
    await page.goto(`${URL_}/consistency`);
    await page.fill('#first', env('EVLEDGER_SIGNED_SIZE'));
    await page.fill('#second', env('EVLEDGER_ENTRIES'));
    await page.click('#check');
    const text = await waitBadge(page, 'verified');
    check(text.includes('extends'), text);
    await shot(page, 'consistency');
  });

  await step('the consistency page rejects a fork signed by the same key', async () => {
    await page.goto(`${URL_}/consistency`);
    await page.fill('#second', env('EVLEDGER_ENTRIES'));
    await page.fill('#saved', env('EVLEDGER_FORK_CHECKPOINT'));
    await page.click('#check');
    const text = await waitBadge(page, 'failed');
    const failed = await page.locator('#badge').getAttribute('data-failed-step');
    check(failed === 'consistency', `failed at ${failed}: ${text}`);
    check(text.includes('fork'), text);
  });

  check(errors.length === 0, `the pages logged errors: ${errors.join('; ')}`);

  await step('a forged inclusion proof fails the entry badge at the inclusion step', async () => {
    const proxy = await forgingProxy('proof');
    const base = `http://127.0.0.1:${proxy.address().port}`;
    // Pinned through a ?key= link: storage is per origin.
    await page.goto(`${base}/entries/${env('EVLEDGER_DIGEST_INDEX')}?key=${encodeURIComponent(KEY)}`);
    const text = await waitBadge(page, 'failed');
    const failed = await page.locator('#badge').getAttribute('data-failed-step');
    check(failed === 'inclusion', `failed at ${failed}: ${text}`);
    check(text.includes('FAILED'), text);
    proxy.close();
  });

  await step('a checkpoint signed by another key fails the overview badge at the signature', async () => {
    const proxy = await forgingProxy('checkpoint');
    const base = `http://127.0.0.1:${proxy.address().port}`;
    await page.goto(`${base}/?key=${encodeURIComponent(KEY)}`);
    const text = await waitBadge(page, 'failed');
    const failed = await page.locator('#badge').getAttribute('data-failed-step');
    check(failed === 'checkpoint-signature', `failed at ${failed}: ${text}`);
    proxy.close();
  });

  await step('without JavaScript every page has its content, and says nothing is verified', async () => {
    const noJs = await browser.newContext({ viewport: { width: 1280, height: 800 }, javaScriptEnabled: false });
    const plain = await noJs.newPage();
    await plain.goto(`${URL_}/`);
    const overview = await plain.locator('main').innerText();
    check(overview.includes('Latest checkpoint') && overview.includes(KEY.split('+')[0]), overview.slice(0, 400));
    check(overview.includes('JavaScript is off') && overview.includes('Not verified'), overview.slice(0, 400));
    await plain.goto(`${URL_}${entryHref}`);
    const entry = await plain.locator('main').innerText();
    check(entry.includes('Raw leaf') && entry.includes('Inclusion proof'), entry.slice(0, 400));
    check(entry.includes('nothing is verified'), entry.slice(0, 400));
    await plain.goto(`${URL_}/search?hash=${encodeURIComponent(env('EVLEDGER_DIGEST'))}`);
    check((await plain.locator('table.entries tbody tr').count()) >= 1, 'search without JavaScript found nothing');
    await shot(plain, 'no-javascript');
    await noJs.close();
  });

  await step('a narrow window (split screen) keeps the content readable', async () => {
    await page.setViewportSize({ width: 640, height: 800 });
    await page.goto(`${URL_}${entryHref}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `the page scrolls sideways by ${overflow}px at 640px`);
  });
} catch (error) {
  console.error(`FAIL ${current}: ${error.message}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
