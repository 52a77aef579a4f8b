// SPDX-License-Identifier: Apache-2.0
// 76: sign-in through an upstream SAML IdP (pysaml2), end to end in headless Chromium:
// the AWS start URL while signed out -> the login page -> the upstream's button -> the
// IdP's sign-in form -> back to the broker's ACS -> the broker's auto-submitted
// SAMLResponse reaching the AWS stand-in, whose JSON verdict names the Role values.
// Run by 76-upstream-saml-browser.py, which passes:
//   FB_BASE_URL, FB_START_PATH (the AWS start URL's path), FB_BUTTON (the upstream
//   button's text), FB_USER, FB_PASSWORD (at the IdP), FB_PEERS, FB_ACS_URL (the stand-in),
//   FB_ARTIFACTS (screenshots; optional).
// Prints one line per step; exits 0 when every step passed, 1 otherwise.

import {
  env as envOf, peersRequire, expect, done, launch, shot as screenshot, standinVerdict,
} from './browser.mjs';

const env = (name) => envOf('76-upstream-saml-browser', name);
const base = env('FB_BASE_URL');
const startPath = env('FB_START_PATH');
const button = env('FB_BUTTON');
const user = env('FB_USER');
const password = env('FB_PASSWORD');
const peers = env('FB_PEERS');
const acsUrl = env('FB_ACS_URL');

const require = peersRequire(peers);
const { chromium } = require('playwright-core');
const shot = (page, name) => screenshot(page, '76', name);

const browser = await launch(chromium, {});
const page = browser.page;
page.setDefaultTimeout(20000);
try {
  await page.goto(`${base}${startPath}`);
  await page.waitForLoadState();
  expect(new URL(page.url()).pathname === '/login', `signed out: the login page (${page.url()})`);
  await shot(page, 'login');
  const link = page.getByRole('link', { name: button });
  expect(await link.count() === 1, `the login page offers "${button}"`);
  await link.click();
  await page.waitForLoadState();
  expect(page.url().includes('/sso?SAMLRequest='), `at the IdP's sign-in (${page.url().slice(0, 80)})`);
  await shot(page, 'idp');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  const posted = page.waitForRequest((r) => r.url() === acsUrl && r.method() === 'POST');
  const landed = page.waitForURL(acsUrl, { timeout: 20000 });
  await page.getByRole('button', { name: 'Sign in' }).click();
  const req = await posted;
  await landed;
  const form = new URLSearchParams(req.postData() || '');
  expect(form.has('SAMLResponse'), 'the broker POSTed a SAMLResponse to the AWS ACS');
  const verdict = await standinVerdict(page);
  expect(verdict.ok === true, `the stand-in accepted it (${verdict.error || 'all rules ok'})`);
  expect(Array.isArray(verdict.roles) && verdict.roles.length > 0,
    `with Role values (${JSON.stringify(verdict.roles)})`);
  await shot(page, 'acs');
} catch (e) {
  expect(false, e.message.split('\n')[0]);
  await shot(page, 'error').catch(() => {});
} finally {
  await browser.close();
}
done();
