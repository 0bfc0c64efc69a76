// page-driver.js: runs web/verify.html in headless Chromium (playwright-core
// against the system's /usr/bin/chromium) on a list of cases, for
// tests/integration/t0620-proof-web.t.
//
//   node page-driver.js verify.html cases.json
//
// cases.json: [{"name", "consortium": FILE, "proof": FILE, "how": "file"|"paste"}]
// "file" gives both files through the page's file pickers (exact bytes),
// "paste" types the proof's text into its box (and picks the consortium).
// Prints one line per case: NAME TAB ok|failed TAB REASON, then a line
// "requests N" with the number of network requests the page tried (every
// request but the page's own file:// URL is refused and counted).
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

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
  for (const c of cases) {
    await page.goto(url);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    await page.setInputFiles('#consortium-file', c.consortium);
    if (c.how === 'paste') await page.fill('#proof-text', readFileSync(c.proof, 'utf8'));
    else await page.setInputFiles('#proof-file', c.proof);
    await page.click('#verify');
    await page.waitForSelector('#verdict[data-verdict="ok"], #verdict[data-verdict="failed"]', { timeout: 60000 });
    const verdict = await page.getAttribute('#verdict', 'data-verdict');
    const reason = (await page.textContent('#reason')).replace(/\s+/g, ' ').trim();
    let extra = '';
    if (verdict === 'ok') {
      const rows = await page.locator('#records tr.record').count();
      const steps = await page.locator('#trace li.step:not(.root)').count();
      const retracted = await page.locator('#records td.status', { hasText: 'retracted by' }).count();
      extra = ` [records ${rows}, trace steps ${steps}, retracted ${retracted}]`;
    }
    process.stdout.write(`${c.name}\t${verdict}\t${reason}${extra}\n`);
    if (c.screenshot) await page.screenshot({ path: c.screenshot, fullPage: true });
  }
  if (errors.length) process.stdout.write(`errors ${errors.length}: ${errors.join(' | ')}\n`);
} finally {
  await browser.close();
}
process.stdout.write(`requests ${requests}\n`);
