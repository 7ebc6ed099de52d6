'use strict';
// Opens a summary page in Debian's Chromium (headless, through puppeteer-core), checks that it
// renders with no script and no request beyond the file itself, saves a screenshot, and
// prints what the page shows as one JSON object for the Python test to compare.
//   node summary-page.js PAGE.html SCREENSHOT.png
const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');
const puppeteer = createRequire(path.join(__dirname, '..', '..', 'emulator', 'package.json'))('puppeteer-core');

async function main() {
  const [page_path, shot] = process.argv.slice(2);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'credreport-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--user-data-dir=${profile}`],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const url = 'file://' + path.resolve(page_path);
    const requests = [];
    const dialogs = [];
    const errors = [];
    page.on('request', (r) => { if (r.url() !== url) requests.push(r.url()); });
    page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
    page.on('pageerror', (e) => errors.push(String(e)));
    const resp = await page.goto(url, { waitUntil: 'load' });
    const shown = await page.evaluate(() => {
      const count = (sel) => {
        const out = {};
        for (const el of document.querySelectorAll(sel)) {
          const key = el.dataset.check || el.dataset.severity || el.dataset.count;
          out[key] = Number(el.dataset.count);
          if (el.dataset.count && !el.dataset.check && !el.dataset.severity) out[key] = Number(el.textContent.replace(/,/g, ''));
        }
        return out;
      };
      const rows = (list) => [...document.querySelectorAll(`table[data-list="${list}"] tbody tr`)]
        .map((tr) => ({ account: tr.dataset.account, check: tr.dataset.check,
          cells: [...tr.querySelectorAll('td')].map((td) => td.textContent) }));
      const chart = document.querySelector('svg[data-chart="by-check"]');
      const box = chart ? chart.getBoundingClientRect() : null;
      return {
        title: document.title,
        status: document.querySelector('[data-status]').dataset.status,
        cards: count('.cards > .card > .n[data-count]:not([data-severity])'),
        severities: count('[data-severity][data-count]'),
        chart: chart ? count('svg[data-chart="by-check"] text[data-check]') : null,
        chart_size: box ? [box.width, box.height] : null,
        checks: rows('checks'),
        failed: rows('failed'),
        accounts: rows('accounts'),
        new_rows: rows('new').length,
        resolved_rows: rows('resolved').length,
        baseline: (document.querySelector('[data-baseline]') || {}).dataset?.baseline ?? null,
        scripts: document.querySelectorAll('script').length,
        text: document.body.innerText,
        width: document.documentElement.scrollWidth,
      };
    });
    await page.screenshot({ path: shot, fullPage: true });
    shown.http_status = resp ? resp.status() : null;
    shown.requests = requests;
    shown.dialogs = dialogs;
    shown.errors = errors;
    process.stdout.write(JSON.stringify(shown) + '\n');
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
