// End-to-end flows of the manager console in Debian's Chromium, driven by
// playwright-core, with an axe-core check of every page visited.
//
// Run by server/cmd/shiftsyncd's TestConsoleE2E, which starts a real
// shiftsyncd and gives this script, in its environment:
//
//   SHIFTSYNC_URL            the server's base URL
//   SHIFTSYNC_MANAGER_CODE   a one-time code of the service's manager
//   SHIFTSYNC_WORKER         a support worker; SHIFTSYNC_WORKER_CODE their one-time code
//   SHIFTSYNC_SERVICE        the service; SHIFTSYNC_PERSON the person supported
//   SHIFTSYNC_E2E_ARTIFACTS  where screenshots and downloads are written
//
// When it is ready for a phone to push a prone restraint it prints the line
// "e2e: ready for push" and waits for the line "pushed" on its standard
// input. It exits 0 when every flow passed, 1 otherwise, naming each
// failure. Each flow is one entry of `flows`, run in order in one signed-in
// page; add one there.
import { chromium } from 'playwright-core';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('SHIFTSYNC_URL');
const service = env('SHIFTSYNC_SERVICE');
const person = env('SHIFTSYNC_PERSON');
const artifacts = env('SHIFTSYNC_E2E_ARTIFACTS');
mkdirSync(artifacts, { recursive: true });

// DESIGN.md "Manager console": Debian's Chromium and its launch flags.
const launchFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const failures = [];
const fail = (msg) => { failures.push(msg); console.log(`e2e: FAIL ${msg}`); };
const expect = (ok, msg) => { if (!ok) throw new Error(msg); };

// check screenshots the page as NAME.png and runs axe-core on it: a
// serious or critical violation fails the run.
async function check(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      fail(`axe on ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`);
    }
  }
  console.log(`e2e: page ${name} checked (${result.violations.length} axe violations of any impact)`);
}

async function signIn(page, code) {
  await page.goto(`${base}/console/sign-in`);
  await page.fill('#code', code);
  return Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Sign in")')]);
}

const waitForPush = () => new Promise((resolve) => {
  const lines = createInterface({ input: process.stdin });
  console.log('e2e: ready for push');
  lines.on('line', (line) => { if (line.trim() === 'pushed') { lines.close(); resolve(); } });
});

const day = (d) => d.toISOString().slice(0, 10);

const flows = [
  ['sign in with a code', async (page) => {
    await page.goto(`${base}/console/`);
    expect(page.url().endsWith('/console/sign-in'), `signed out, /console/ went to ${page.url()}`);
    await check(page, 'sign-in');
    await signIn(page, env('SHIFTSYNC_MANAGER_CODE'));
    expect(new URL(page.url()).pathname === '/console/', `after sign-in at ${page.url()}`);
    await check(page, 'home');
  }],
  ['a prone restraint pushed by a phone is an alert within 5 s, acknowledged', async (page) => {
    await waitForPush();
    const pushed = Date.now();
    for (;;) {
      await page.goto(`${base}/console/?service=${service}`);
      if (await page.locator('button:has-text("Acknowledge")').count() > 0) break;
      expect(Date.now() - pushed < 5000, 'no alert 5 s after the push');
      await page.waitForTimeout(200);
    }
    console.log(`e2e: alert shown ${Date.now() - pushed} ms after the push`);
    expect(/prone/i.test(await page.locator('main').innerText()), 'the alert does not say prone');
    await check(page, 'home-alert');
    await page.fill('input[name="note"]', 'Seen; debrief booked for tomorrow');
    await page.click('button:has-text("Acknowledge")');
    await page.waitForSelector('text=acknowledged by', { timeout: 5000 });
    await check(page, 'home-acknowledged');
  }],
  ['a conflict is resolved', async (page) => {
    await page.goto(`${base}/console/conflicts?service=${service}`);
    expect(await page.locator('section.side textarea[name="resolution"]').count() === 1, 'not one open conflict to resolve');
    await check(page, 'conflicts');
    await page.fill('textarea[name="resolution"]', 'Checked with both: it was the kitchen');
    await page.click('button:has-text("Resolve")');
    await page.waitForSelector('text=Resolved by', { timeout: 5000 });
    await page.goto(`${base}/console/conflicts?service=${service}`);
    expect(await page.locator('text=No open conflict.').count() === 1, 'the conflict is still open after resolving');
    await check(page, 'conflicts-resolved');
  }],
  ['an overdue action shows as a breach', async (page) => {
    await page.goto(`${base}/console/actions?service=${service}`);
    expect(await page.locator('.state-breach').count() >= 1, 'the overdue action is not a breach');
    await check(page, 'actions');
    await page.goto(`${base}/console/?service=${service}`);
    expect(/breach/i.test(await page.locator('main').innerText()), 'the home page shows no breach');
  }],
  ['the other review pages', async (page) => {
    for (const [name, path] of [['after-meetings', 'follow-through'], ['rota', 'rota'], ['quarantine', 'quarantine'], ['trends', `trends`]]) {
      await page.goto(`${base}/console/${path}?service=${service}`);
      await check(page, name);
    }
  }],
  ['records and a record', async (page) => {
    await page.goto(`${base}/console/records?service=${service}`);
    await check(page, 'records');
    await Promise.all([page.waitForLoadState('load'), page.locator('main table a').first().click()]);
    expect(page.url().includes('/console/records/'), `record link went to ${page.url()}`);
    await check(page, 'record');
  }],
  ['an evidence pack previewed, downloaded and verified; a changed row named', async (page) => {
    await page.goto(`${base}/console/evidence?service=${service}`);
    await check(page, 'evidence');
    await page.fill('#person', person);
    await page.fill('#from', day(new Date(Date.now() - 7 * 864e5)));
    await page.fill('#to', day(new Date()));
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Preview")')]);
    expect(await page.locator('text=Records in the pack').count() === 1, 'no preview of the pack');
    await check(page, 'evidence-preview');
    const files = {};
    for (const format of ['HTML', 'CSV']) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`a:has-text("Download ${format}")`)]);
      files[format] = join(artifacts, download.suggestedFilename());
      await download.saveAs(files[format]);
      expect(download.suggestedFilename().startsWith(`evidence-${person}-`), `downloaded as ${download.suggestedFilename()}`);
    }
    for (const format of ['HTML', 'CSV']) {
      await page.goto(`${base}/console/evidence?service=${service}`);
      await page.setInputFiles('#pack', files[format]);
      await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Verify")')]);
      expect(await page.locator('h2:has-text("The pack verifies")').count() === 1, `the downloaded ${format} does not verify`);
      await check(page, `evidence-verified-${format.toLowerCase()}`);
    }
    const csv = readFileSync(files.CSV, 'utf8').split('\n');
    const cells = csv[1].split(',');
    cells[6] = cells[6].replace(/[a-z]/, (c) => (c === 'z' ? 'a' : String.fromCharCode(c.charCodeAt(0) + 1)));
    csv[1] = cells.join(',');
    const changed = join(artifacts, 'evidence-changed.csv');
    writeFileSync(changed, csv.join('\n'));
    await page.goto(`${base}/console/evidence?service=${service}`);
    await page.setInputFiles('#pack', changed);
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Verify")')]);
    expect(await page.locator('h2:has-text("The pack does not verify")').count() === 1, 'a changed CSV verifies');
    expect(await page.locator(`td:has-text("${cells[0]}")`).count() === 1, `the changed row's record ${cells[0]} is not named`);
    await check(page, 'evidence-changed');
  }],
  ['people and devices: a code issued with its QR code', async (page) => {
    await page.goto(`${base}/console/people?service=${service}`);
    await check(page, 'people');
    const issue = page.locator(`button[aria-label="Issue code for ${env('SHIFTSYNC_WORKER')}"]`);
    await Promise.all([page.waitForLoadState('load'), issue.click()]);
    expect(await page.locator('.enrolment-qr svg').count() === 1, 'no QR code shown');
    await check(page, 'people-code');
  }],
  ['sign-out ends the session', async (page) => {
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Sign out")')]);
    await page.goto(`${base}/console/`);
    expect(page.url().endsWith('/console/sign-in'), `after sign-out /console/ is at ${page.url()}`);
    await check(page, 'signed-out');
  }],
];

// Flows in a browser of their own.
const alone = [
  ['a support worker is refused the console', async (browser) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, env('SHIFTSYNC_WORKER_CODE'));
    expect(/for your phone/.test(await page.locator('main').innerText()), 'the worker is not told the console is not theirs');
    expect((await context.cookies()).length === 0, 'the worker holds a cookie');
    await page.goto(`${base}/console/`);
    expect(page.url().endsWith('/console/sign-in'), `the worker reached ${page.url()}`);
    await check(page, 'worker-refused');
    await context.close();
  }],
];

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: launchFlags });
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  // A refused request's status is logged as an error too; anything else
  // (a Content-Security-Policy violation, a script error) fails the run.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) fail(`browser console error on ${page.url()}: ${m.text()}`);
  });
  for (const [name, flow] of flows) {
    try {
      await flow(page);
      console.log(`e2e: ok ${name}`);
    } catch (err) {
      fail(`${name}: ${err.message}`);
      await page.screenshot({ path: join(artifacts, `failed-${flows.findIndex((f) => f[0] === name)}.png`), fullPage: true }).catch(() => {});
    }
  }
  for (const [name, flow] of alone) {
    try {
      await flow(browser);
      console.log(`e2e: ok ${name}`);
    } catch (err) {
      fail(`${name}: ${err.message}`);
    }
  }
} finally {
  await browser.close();
}
console.log(`e2e: ${flows.length + alone.length} flows, ${failures.length} failures; artefacts in ${artifacts}`);
process.exit(failures.length === 0 ? 0 : 1);
