// page-driver.js: runs web/verify.html in headless Chromium (playwright-core
// against the system's /usr/bin/chromium) on a list of cases, for
// tests/integration/t0620-proof-web.t.
//
//   node page-driver.js verify.html cases.json
//
// cases.json: [{"name", "consortium": FILE, "proof": FILE, "how": "file"|"paste"|"drop"|"ui"}]
// "file" gives both files to the page's file pickers (exact bytes; the
// page's own change handlers read them), "paste" puts the proof's text into
// its box and presses Verify, "drop" drops the proof file on its box, "ui" does what "file" does through
// Playwright's setInputFiles and clicks (slower: several round trips).
// Prints one line per case: NAME TAB ok|failed TAB REASON, then a line
// "requests N" with the number of network requests the page tried (every
// request but the page's own file:// URL is refused and counted).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

// In the page: what it shows once a check has ended.
function readResult() {
  const q = (s) => document.querySelectorAll(s);
  return {
    verdict: document.getElementById('verdict').dataset.verdict,
    reason: document.getElementById('reason').textContent,
    rows: q('#records tr.record').length,
    steps: q('#trace li.step:not(.root)').length,
    retracted: [...q('#records td.status')].filter((e) => e.textContent.includes('retracted by')).length,
  };
}

// In the page: Clear, give the consortium file to its picker, the proof to
// its picker ("file") or its text box ("paste", then Verify), wait for the
// verdict.
async function runCase({ how, cons, proof }) {
  const bytes = (b64) => Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const give = (id, b64, name) => {
    const dt = new DataTransfer();
    dt.items.add(new File([bytes(b64)], name));
    const input = document.getElementById(id);
    input.files = dt.files;
    input.dispatchEvent(new Event('change'));
  };
  const verdict = document.getElementById('verdict');
  document.getElementById('clear').click();
  give('consortium-file', cons, 'consortium.json');
  if (how === 'drop') {
    // a file dropped on the proof's box (the consortium file was picked)
    const dt = new DataTransfer();
    dt.items.add(new File([bytes(proof)], 'proof.json'));
    const zone = document.getElementById('proof-zone');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  } else if (how === 'paste') {
    const ta = document.getElementById('proof-text');
    ta.value = new TextDecoder().decode(bytes(proof));
    ta.dispatchEvent(new Event('input'));
    document.getElementById('verify').click();
  } else {
    give('proof-file', proof, 'proof');
  }
  const t0 = Date.now();
  while (verdict.dataset.verdict !== 'ok' && verdict.dataset.verdict !== 'failed') {
    if (Date.now() - t0 > 60000) throw new Error('no verdict within 60 s');
    await new Promise((res) => setTimeout(res, 2));
  }
  return window.__readResult(); // readResult, installed by addInitScript
}

const [page_, casesFile] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const url = pathToFileURL(resolve(page_)).href;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  timeout: 60000,
});
let requests = 0;
try {
  const context = await browser.newContext({ offline: true });
  await context.route('**/*', (route) => {
    if (route.request().url() === url) return route.continue();
    requests++;
    process.stderr.write(`page requested ${route.request().url()}\n`);
    return route.abort();
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.addInitScript({ content: `window.__readResult = ${readResult.toString()};` });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
  for (const c of cases) {
    let r;
    if (c.how === 'ui') {
      // through Playwright's own file picker and click
      await page.click('#clear');
      await page.setInputFiles('#consortium-file', c.consortium);
      await page.setInputFiles('#proof-file', c.proof);
      await page.click('#verify');
      await page.waitForSelector('#verdict[data-verdict="ok"], #verdict[data-verdict="failed"]', { timeout: 60000 });
      r = await page.evaluate(readResult);
    } else {
      // one round trip: the files given to the page's inputs as a drop or a
      // pick would (their change / input handlers run as for a person)
      r = await page.evaluate(runCase, {
        how: c.how,
        cons: readFileSync(c.consortium).toString('base64'),
        proof: readFileSync(c.proof).toString('base64'),
      });
    }
    const { verdict, reason, rows, steps, retracted } = r;
    const extra = verdict === 'ok' ? ` [records ${rows}, trace steps ${steps}, retracted ${retracted}]` : '';
    process.stdout.write(`${c.name}\t${verdict}\t${reason.replace(/\s+/g, ' ').trim()}${extra}\n`);
    if (c.screenshot) await page.screenshot({ path: c.screenshot, fullPage: true });
  }
  if (errors.length) process.stdout.write(`errors ${errors.length}: ${errors.join(' | ')}\n`);
} finally {
  await browser.close();
}
process.stdout.write(`requests ${requests}\n`);
