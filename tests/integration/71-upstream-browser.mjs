// SPDX-License-Identifier: Apache-2.0
// 71: the login page with upstreams in headless Chromium (playwright-core from tests/peers):
// the buttons and the email box are there and labelled, axe-core finds no label or contrast
// violation, the page fits a phone, and typing an address of an upstream's domain goes to
// that upstream's start URL. Run by 71-upstream-login.py, which passes FB_BASE_URL,
// FB_PEERS and FB_ARTIFACTS. Exits 0 when every step passed.

import { env as envOf, peersRequire, ok, fail, expect, done, launch, shot } from './browser.mjs';

const env = (name) => envOf('71-upstream-browser', name);
const base = env('FB_BASE_URL');
const require = peersRequire(env('FB_PEERS'));
const { chromium } = require('playwright-core');
const axePath = require.resolve('axe-core/axe.min.js');
const FAILING_RULES = new Set(['label', 'label-title-only', 'color-contrast', 'button-name',
  'input-button-name', 'form-field-multiple-labels', 'link-name', 'duplicate-id']);

async function axeCheck(page, name) {
  await page.addScriptTag({ path: axePath });
  // eslint-disable-next-line no-undef
  const res = await page.evaluate(async () => await axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => FAILING_RULES.has(v.id));
  for (const v of res.violations.filter((v) => !FAILING_RULES.has(v.id)))
    console.log(`note axe ${name}: ${v.id} (${v.impact}): ${v.help}`);
  for (const v of bad)
    fail(`axe ${name}: ${v.id}: ${v.help} [${v.nodes.map((n) => n.target.join(' ')).join(', ')}]`);
  if (bad.length === 0) ok(`axe ${name}: no label or contrast violation`);
}

async function main() {
  const browser = await launch(chromium);
  const page = browser.page;
  page.setDefaultTimeout(15000);
  try {
    await page.goto(`${base}/login`);
    await axeCheck(page, 'login-upstreams');
    await shot(page, '71', 'login-upstreams');
    expect(await page.getByRole('link', { name: 'Sign in with Corp <SSO> & Co' }).count() === 1,
      'a button per upstream, with its display name');
    await page.setViewportSize({ width: 390, height: 844 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 390, `fits a 390 px wide phone (scroll width ${width})`);
    await page.setViewportSize({ width: 1280, height: 800 });
    // Home-realm discovery: the domain picks the upstream. The start answers 501 until the
    // protocol end is built in, or redirects away: either way the URL names the upstream.
    await page.getByLabel('Work email').fill('ann@example.com');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname === '/upstream/corp/start' ||
      !page.url().startsWith(base), `the email goes to corp's start (at ${page.url()})`);
    await page.goto(`${base}/login?email=eve%40unknown.example`);
    expect((await page.getByRole('alert').textContent()).includes('unknown.example'),
      'an unknown domain gets a clear message');
    await axeCheck(page, 'login-unknown-domain');
  } finally {
    await browser.close();
  }
}

main().then(done, (e) => {
  fail(`exception: ${e.stack || e}`);
  done();
});
