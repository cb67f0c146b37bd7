// The web application in a real browser (Debian's chromium, driven by playwright-core) against a real 4-member
// network started by scripts/testnet in a temporary directory: every page, every kind of search, a document
// verified VALID and then REVOKED, a tampered bundle refused at its step, and a record arriving in the live feed.
// Screenshots and a report (page weight, time to interactive, verification time) go to results/browser/.
// If the browser cannot start, this fails: it is never skipped.

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/clearance-target');
const clearance = join(target, 'debug/clearance');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const basePort = Number(process.env.BROWSER_BASE_PORT ?? 27800);
const out = join(root, 'results/browser');
const dir = mkdtempSync(join(tmpdir(), 'clearance-browser-'));
const work = mkdtempSync(join(tmpdir(), 'clearance-browser-files-'));
mkdirSync(out, { recursive: true });
// Screenshots of an earlier run must not pass for this one's.
for (const f of readdirSync(out)) if (f.endsWith('.png') || f === 'report.json') rmSync(join(out, f));

const log = (...a) => console.log('==>', ...a);
const testnet = (...args) =>
  execFileSync(join(root, 'scripts/testnet'), args, { stdio: ['ignore', 'inherit', 'inherit'], timeout: 900_000 });

/** Submits a record (JSON text) with a key file through the CLI, and returns its id once committed. */
function submit(api, key, recordText) {
  const file = join(work, `record-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(file, recordText);
  const res = JSON.parse(execFileSync(clearance, ['--node', api, '--json', 'submit', file, '--key', key], { timeout: 60_000 }).toString());
  return res.tx_id;
}

async function waitFor(what, f, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function accepted(api, id) {
  await waitFor(`record ${id} to be accepted`, async () => (await (await fetch(`${api}/v1/txs/${id}`)).json()).status === 'accepted');
}

async function main() {
  log(`starting a 4-member network in ${dir}`);
  testnet('up', '--dir', dir, '--base-port', String(basePort));
  const net = JSON.parse(readFileSync(join(dir, 'testnet.json'), 'utf8'));
  const kz = net.members.find((m) => m.id === 'KZ');
  const api = kz.api_url;
  const report = { commit: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root }).toString().trim() };

  log(`launching ${chromiumPath}`);
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  let page = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // A console error is a script error or a refusal by the page's CSP; failed requests are expected (not found,
    // the node stopped at the end) and each is checked where it happens.
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    const shot = (name) => page.screenshot({ path: join(out, `${name}.png`), fullPage: true });

    // The network page, first load: what it weighs and when it is interactive.
    await page.goto(`${api}/#/network`);
    await page.getByText('Members (4)').waitFor();
    await page.getByText('Latest blocks').waitFor();
    report.first_load = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource').filter((r) => !r.name.includes('/v1/'));
      return {
        bytes_transferred: nav.transferSize + res.reduce((n, r) => n + r.transferSize, 0),
        files: res.length + 1,
        dom_interactive_ms: Math.round(nav.domInteractive),
        dom_content_loaded_ms: Math.round(nav.domContentLoadedEventEnd),
      };
    });
    log('first load', JSON.stringify(report.first_load));
    for (const id of ['KZ', 'DE', 'CN', 'UZ']) await page.getByRole('cell', { name: id, exact: true }).first().waitFor();
    await shot('network');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot('network-phone');
    await page.setViewportSize({ width: 1200, height: 900 });

    // Each kind of search, on the testnet's sample records.
    await page.goto(`${api}/#/search?kind=certificate&issuer=KZ&number=KZ-PC-2026-000123`);
    await page.getByRole('heading', { name: 'Certificate KZ-PC-2026-000123 of KZ' }).waitFor();
    await page.getByText('Replaced', { exact: true }).waitFor();
    await shot('search-certificate');
    await page.goto(`${api}/#/search?kind=operator&operator=KZ123456789012&recognised_by=DE`);
    await page.getByRole('heading', { name: 'Operator KZ123456789012' }).waitFor();
    await page.getByText('Suspended', { exact: true }).waitFor();
    await shot('search-operator');
    await page.goto(`${api}/#/search?kind=declaration&mrn=26KZ00000000000429`);
    await page.getByText('Current decision:').waitFor();
    await shot('search-declaration');
    // The record page, from a link in the results.
    await page.locator('td a.mono').first().click();
    await page.getByText('Record id').waitFor();
    await page.getByText('Declaration MRN 26KZ00000000000429').waitFor();
    await page.getByRole('heading', { name: 'Every decision on the declaration' }).waitFor();
    // Nothing on the page is an element printed as text (a link shown as its address).
    assert.doesNotMatch(await page.locator('main').innerText(), /https?:\/\//);
    await shot('record');
    // Recognition of an operator's standing by every member, one column each.
    await page.goto(`${api}/#/search?kind=operator&operator=KZ123456789012`);
    for (const m of ['CN', 'DE', 'KZ', 'UZ']) await page.locator('th', { hasText: `Recognised by ${m}` }).waitFor();
    // The record-id search opens the record's page.
    const recordId = (await (await fetch(`${api}/v1/records?limit=1`)).json()).records[0].id;
    await page.goto(`${api}/#/search?kind=record`);
    await page.fill('input[name=id]', recordId);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText(recordId, { exact: true }).waitFor();
    // Not found: a clear error, not a blank page.
    await page.goto(`${api}/#/search?kind=certificate&issuer=KZ&number=KZ-PC-2026-999999`);
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /Not found/);

    // A certificate of our own, committing to a document this test writes.
    const document = join(work, 'certificate.pdf');
    writeFileSync(document, `Phytosanitary certificate ${randomBytes(8).toString('hex')}\n`);
    const digest = createHash('sha256').update(readFileSync(document)).digest('hex');
    const number = `KZ-PC-2026-${String(700000 + Math.floor(Math.random() * 99999))}`;
    const issue = readFileSync(join(root, 'client/examples/01_certificate_issue.json'), 'utf8')
      .replaceAll('KZ-PC-2026-000123', number)
      .replace(/"document_sha256": "[0-9a-f]{64}"/, `"document_sha256": "${digest}"`);
    await accepted(api, submit(api, kz.agency_key, issue));

    // The document, looked up by its hash in the browser.
    await page.goto(`${api}/#/search?kind=document`);
    await page.setInputFiles('input[name=document]', document);
    await page.getByText('Records that commit to this document').waitFor();
    await shot('search-document');

    // Verify: pin the genesis file, drop the document, read the verdict.
    await page.goto(`${api}/#/verify`);
    await page.getByText('First, pin the genesis file.').waitFor();
    // Another chain's genesis (the same file with another name, so another chain id): the page says so.
    const other = join(work, 'other-genesis.json');
    writeFileSync(other, readFileSync(net.genesis, 'utf8').replace('"clearance-local-testnet"', '"another-chain"'));
    await page.setInputFiles('input[name=genesis]', other);
    await page.getByText('Wrong genesis:').waitFor();
    await shot('verify-wrong-genesis');
    await page.getByRole('button', { name: 'Replace' }).click();
    await page.setInputFiles('input[name=genesis]', net.genesis);
    await page.getByText('Pinned genesis:').waitFor();
    await page.setInputFiles('input[name=document]', document);
    const banner = page.locator('.banner');
    const bannerText = () => banner.innerText({ timeout: 500 }).catch(() => '');
    await waitFor('the VALID verdict', async () => /^VALID as of /.test(await bannerText()));
    assert.match(await bannerText(), new RegExp(`About: certificate ${number} of KZ`));
    report.verify_ms_valid = Number(await page.locator('[data-verify-ms]').getAttribute('data-verify-ms'));
    await page.getByText("The document’s SHA-256").waitFor();
    await shot('verify-valid');
    // The same verification, warm, 20 times in the page: the figure for "a bundle verifies in ≤ 50 ms".
    const validRecords = await (await fetch(`${api}/v1/documents/${digest}`)).json();
    const validBundle = await (await fetch(`${api}/v1/proofs/records/${validRecords.records[0].id}`)).text();
    report.verify_warm = await page.evaluate(async ([bundleText, genesisText]) => {
      const { verifyBundle } = await import('/verifier/verify.js');
      const times = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const r = verifyBundle(bundleText, genesisText);
        times.push(performance.now() - started);
        if (!r.ok) throw new Error(`the bundle did not verify: ${r.step}: ${r.message}`);
      }
      times.sort((a, b) => a - b);
      return { runs: times.length, median_ms: Number(times[10].toFixed(1)), max_ms: Number(times[19].toFixed(1)), bundle_bytes: bundleText.length };
    }, [validBundle, readFileSync(net.genesis, 'utf8')]);
    log('verification in the browser', JSON.stringify({ cold_ms: report.verify_ms_valid, ...report.verify_warm }));

    // Revoked: the same document now shows REVOKED.
    const revoke = readFileSync(join(root, 'client/examples/03_certificate_revoke.json'), 'utf8').replace('KZ-PC-2026-000123-A1', number);
    await accepted(api, submit(api, kz.agency_key, revoke));
    await page.setInputFiles('input[name=document]', document);
    await waitFor('the REVOKED verdict', async () => /^REVOKED/.test(await bannerText()));
    assert.match(await bannerText(), new RegExp(`About: certificate ${number} of KZ`));
    report.verify_ms_revoked = Number(await page.locator('[data-verify-ms]').getAttribute('data-verify-ms'));
    await shot('verify-revoked');

    // A tampered bundle is refused at the step that catches it.
    const records = await (await fetch(`${api}/v1/documents/${digest}`)).json();
    const bundle = await (await fetch(`${api}/v1/proofs/records/${records.records[0].id}`)).text();
    const tampered = bundle.replace(/"tx_index": ?(\d+)/, (_, n) => `"tx_index": ${Number(n) + 1}`);
    assert.notEqual(tampered, bundle, 'the bundle has a tx_index to tamper with');
    const tamperedFile = join(work, 'tampered.json');
    writeFileSync(tamperedFile, tampered);
    await page.setInputFiles('input[name=bundle]', tamperedFile);
    await waitFor('the refusal', async () => /^NOT VERIFIED: failed step record\./.test(await bannerText()));
    report.tampered_step = (await bannerText()).replace('NOT VERIFIED: failed step ', '');
    // Cleared, a document no record commits to is not found on the node, and said to be the node's word.
    await page.getByRole('button', { name: 'Clear the dropped files' }).click();
    const unknown = join(work, 'unknown.pdf');
    writeFileSync(unknown, 'a document never recorded');
    await page.setInputFiles('input[name=document]', unknown);
    await waitFor('NOT FOUND ON THIS NODE', async () => /^NOT FOUND ON THIS NODE/.test(await bannerText()));
    await page.getByText('not a proof').waitFor();
    await shot('verify-tampered');

    // The live feed: a record committed now appears.
    await page.goto(`${api}/#/feed?member=KZ`);
    await page.getByText('Connected:').waitFor();
    const another = issue.replaceAll(number, `${number}-B`).replace(/"document_sha256": "[0-9a-f]{64}"/, `"document_sha256": "${'ab'.repeat(32)}"`);
    const id = submit(api, kz.agency_key, another);
    await page.locator(`ul.feed a[href="#/record/${id}"]`).waitFor({ timeout: 30_000 });
    await shot('feed');

    // The node goes away under an open page: the page says so.
    testnet('down', '--dir', dir);
    await page.evaluate(() => { location.hash = '#/search?kind=certificate&issuer=KZ&number=KZ-PC-2026-000123'; });
    await page.getByText('Node unreachable:').waitFor();
    await shot('node-unreachable');

    assert.deepEqual(errors, [], 'no script error on any page');
    writeFileSync(join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    log(`passed; screenshots and report.json in ${out}`);
    console.log(JSON.stringify(report));
  } catch (e) {
    // What the page showed when it failed, for the CI log's reader.
    if (page) await page.screenshot({ path: join(out, 'failure.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await browser.close();
  }
}

try {
  await main();
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  try { testnet('down', '--dir', dir, '--purge'); } catch (e) { console.error(`stopping the network: ${e.message}`); }
  rmSync(work, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
