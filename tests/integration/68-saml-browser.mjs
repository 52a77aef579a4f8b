// SPDX-License-Identifier: Apache-2.0
// 68: the AWS console way in, in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core from tests/peers): sign in locally, click the AWS app on the dashboard,
// and let the broker's auto-submitting form POST the SAMLResponse to the AWS stand-in ACS
// (tests/peers/aws/acs.py), which validates it with a SAML library and AWS's rules and
// answers with a JSON verdict. A second run with JavaScript off uses the form's button.
// Run by 68-saml-browser.py, which starts both servers and passes:
//   FB_BASE_URL, FB_USER, FB_PASSWORD, FB_PEERS (tests/peers), FB_ACS_URL (the stand-in),
//   FB_APP_NAME (the dashboard link's text), FB_ARTIFACTS (screenshots; optional).
// Prints one line per step; exits 0 when every step passed, 1 otherwise.

import {
  env as envOf, peersRequire, expect, done, launch, shot as screenshot, standinVerdict,
} from './browser.mjs';

const env = (name) => envOf('68-saml-browser', name);
const base = env('FB_BASE_URL');
const user = env('FB_USER');
const password = env('FB_PASSWORD');
const peers = env('FB_PEERS');
const acsUrl = env('FB_ACS_URL');
const appName = env('FB_APP_NAME');

const require = peersRequire(peers);
const { chromium } = require('playwright-core');

const shot = (page, name) => screenshot(page, '68', name);

// One sign-in and one click on the AWS app; javaScript false: the <noscript> button.
async function run(javaScript) {
  const tag = javaScript ? 'script' : 'noscript';
  const browser = await launch(chromium, { javaScriptEnabled: javaScript });
  const page = browser.page;
  page.setDefaultTimeout(20000);
  const csp = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) csp.push(m.text());
  });
  try {
    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    expect(new URL(page.url()).pathname === '/', `${tag}: signed in, on the dashboard (${page.url()})`);
    await shot(page, `${tag}-dashboard`);
    const link = page.getByRole('link', { name: appName });
    const listed = await link.count() === 1;
    expect(listed, `${tag}: the dashboard lists "${appName}"`);
    const posted = page.waitForRequest((r) => r.url() === acsUrl && r.method() === 'POST');
    const landed = page.waitForURL(acsUrl, { timeout: 20000 });
    if (listed) {
      const href = await link.getAttribute('href');
      expect(/\/saml\/idp\/init\/[a-z0-9_-]+$/.test(href || ''), `${tag}: it links the start URL (${href})`);
      await link.click();
    } else {
      // Still check the rest of the way in (already failed above): the start URL itself.
      await page.goto(`${base}/saml/idp/init/aws`);
    }
    if (!javaScript) {
      await page.waitForLoadState();
      await shot(page, `${tag}-form`);
      await page.getByRole('button').first().click();
    }
    const req = await posted;
    await landed;
    const form = new URLSearchParams(req.postData() || '');
    expect(form.has('SAMLResponse'), `${tag}: the form POSTed a SAMLResponse to the ACS`);
    const verdict = await standinVerdict(page);
    expect(verdict.ok === true, `${tag}: the stand-in accepted it (${verdict.error || 'all rules ok'})`);
    expect(Array.isArray(verdict.roles) && verdict.roles.length > 0, `${tag}: with a Role`);
    expect(csp.length === 0, `${tag}: no Content-Security-Policy refusal (${csp.join(' | ')})`);
    await shot(page, `${tag}-acs`);
  } catch (e) {
    expect(false, `${tag}: ${e.message.split('\n')[0]}`);
    await shot(page, `${tag}-error`).catch(() => {});
  } finally {
    await browser.close();
  }
}

await run(true);
await run(false);
done();
