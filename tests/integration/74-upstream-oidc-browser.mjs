// SPDX-License-Identifier: Apache-2.0
// 74: the AWS console way in through an upstream OpenID provider, in headless Chromium:
// the AWS start URL while signed out -> fedbroker's login page -> the upstream's button ->
// oidc-provider's login and consent pages -> back through /upstream/corp/callback -> the
// auto-posted SAMLResponse to the AWS stand-in ACS, whose verdict must carry a Role built
// from the upstream's groups. Run by 74-upstream-oidc.py, which passes:
//   FB_BASE_URL, FB_PEERS, FB_ACS_URL, FB_BUTTON (the upstream button's text),
//   FB_ARTIFACTS (screenshots; optional).
// Prints one line per step; exits 0 when every step passed, 1 otherwise.

import { env as envOf, peersRequire, expect, done, launch, shot as screenshot } from './browser.mjs';

const env = (name) => envOf('74-upstream-oidc-browser', name);
const base = env('FB_BASE_URL');
const peers = env('FB_PEERS');
const acsUrl = env('FB_ACS_URL');
const button = env('FB_BUTTON');

const require = peersRequire(peers);
const { chromium } = require('playwright-core');

const shot = (page, name) => screenshot(page, '74', name);

// The OP's certificate is the test fixture's (fedbroker itself checks it with oidc.ca_file).
const browser = await launch(chromium, { ignoreHTTPSErrors: true });
const page = browser.page;
page.setDefaultTimeout(20000);
try {
  await page.goto(`${base}/saml/idp/init/aws`);
  await page.waitForLoadState();
  expect(new URL(page.url()).pathname === '/login', `signed out: the login page (${page.url()})`);
  await shot(page, 'login');
  await page.getByRole('link', { name: button }).click();
  await page.waitForSelector('input[name="login"]');
  expect(!page.url().startsWith(base), `at the upstream's login page (${page.url()})`);
  await page.fill('input[name="login"]', 'alice');
  await page.fill('input[name="password"]', 'any');
  await shot(page, 'op-login');
  await page.click('button[type="submit"]');
  await page.waitForLoadState();
  const posted = page.waitForRequest((r) => r.url() === acsUrl && r.method() === 'POST');
  const landed = page.waitForURL(acsUrl, { timeout: 20000 });
  // The consent page (first sign-in of this user at this client).
  await shot(page, 'op-consent');
  await page.click('button[type="submit"]');
  const req = await posted;
  await landed;
  const form = new URLSearchParams(req.postData() || '');
  expect(form.has('SAMLResponse'), 'the form POSTed a SAMLResponse to the ACS');
  const body = await page.locator('body').innerText();
  let verdict = {};
  try {
    verdict = JSON.parse(body);
  } catch (e) {
    verdict = { ok: false, error: `not JSON: ${body.slice(0, 300)}` };
  }
  expect(verdict.ok === true, `the stand-in accepted it (${verdict.error || 'all rules ok'})`);
  expect(Array.isArray(verdict.roles) && verdict.roles.length > 0, 'with a Role');
  await shot(page, 'acs');
} catch (e) {
  expect(false, e.message.split('\n')[0]);
  await shot(page, 'error').catch(() => {});
} finally {
  await browser.close();
}
done();
