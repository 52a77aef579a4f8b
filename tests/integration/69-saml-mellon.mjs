// SPDX-License-Identifier: Apache-2.0
// 69: mod_auth_mellon (Apache, mellon's default NameID settings) as the service provider,
// in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core from
// tests/peers): open mellon's protected page, sign in at fedbroker, land on the page with
// the attributes (a CGI echoing MELLON_* as JSON), then mellon's logout ends both sessions.
// Run by 69-saml-mellon.py, which starts both servers and passes:
//   FB_BASE_URL (fedbroker), FB_SP_URL (Apache), FB_USER, FB_PASSWORD, FB_PEERS,
//   FB_ARTIFACTS (screenshots; optional).
// Prints one line per step, and "env: {...}" with what the protected page showed;
// exits 0 when every step passed, 1 otherwise.

import zlib from 'node:zlib';
import { env as envOf, peersRequire, expect, done, launch, shot as screenshot } from './browser.mjs';

const env = (name) => envOf('69-saml-mellon', name);
const base = env('FB_BASE_URL');
const sp = env('FB_SP_URL');
const user = env('FB_USER');
const password = env('FB_PASSWORD');
const peers = env('FB_PEERS');

const require = peersRequire(peers);
const { chromium } = require('playwright-core');

const shot = (page, name) => screenshot(page, '69', name);

// The JSON the protected page (the CGI) shows, or {} with the reason logged.
async function pageEnv(page) {
  const body = await page.locator('body').innerText();
  try {
    return JSON.parse(body);
  } catch (e) {
    console.log(`not JSON at ${page.url()}: ${body.slice(0, 300)}`);
    return {};
  }
}

const protectedUrl = `${sp}/protected/env`;
const browser = await launch(chromium);
const page = browser.page;
page.setDefaultTimeout(20000);
try {
  // SP-initiated: mellon sends the browser to fedbroker with its AuthnRequest.
  await page.goto(protectedUrl);
  await page.waitForLoadState();
  expect(page.url().startsWith(base), `mellon sent the browser to fedbroker (${page.url()})`);
  await shot(page, 'login');
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  const posted = page.waitForRequest((r) => r.url() === `${sp}/mellon/postResponse` && r.method() === 'POST');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const req = await posted;
  const form = new URLSearchParams(req.postData() || '');
  expect(form.has('SAMLResponse'), 'the Response was POSTed to mellon\'s ACS');
  await page.waitForURL(protectedUrl);
  const got = await pageEnv(page);
  console.log(`env: ${JSON.stringify(got)}`);
  await shot(page, 'protected');
  expect(got.MELLON_mail === 'alice@example.com', `the mail attribute arrived (${got.MELLON_mail})`);
  expect(got.MELLON_displayName === 'Alice Liddell', `the displayName attribute arrived (${got.MELLON_displayName})`);
  expect(typeof got.MELLON_NAME_ID === 'string' && got.MELLON_NAME_ID.length > 0, `a NameID (${got.MELLON_NAME_ID})`);
  expect(got.REMOTE_USER === got.MELLON_NAME_ID, `mellon's user is the NameID (${got.REMOTE_USER})`);

  // A second visit: mellon's session, no trip to fedbroker.
  await page.goto(protectedUrl);
  expect((await pageEnv(page)).MELLON_NAME_ID === got.MELLON_NAME_ID, 'mellon keeps its session');

  // mellon's logout: a LogoutRequest to fedbroker, its LogoutResponse back, then ReturnTo.
  const back = `${sp}/signed-out.html`;
  const sloSeen = page.waitForRequest((r) => r.url().startsWith(`${base}/saml/idp/slo?`));
  await page.goto(`${sp}/mellon/logout?ReturnTo=${encodeURIComponent(back)}`);
  const slo = new URL((await sloSeen).url());
  expect(slo.searchParams.has('SAMLRequest') && slo.searchParams.has('Signature'),
    'mellon sent a signed LogoutRequest (Redirect binding)');
  const lr = zlib.inflateRawSync(Buffer.from(slo.searchParams.get('SAMLRequest') || '', 'base64')).toString();
  expect(lr.includes(`>${got.MELLON_NAME_ID}</`), 'it names the NameID fedbroker issued');
  expect(/<(\w+:)?SessionIndex>_[0-9a-f]{40}<\//.test(lr), 'and the SessionIndex');
  await page.waitForURL(back);
  expect(/Signed out/.test(await page.locator('body').innerText()), 'back at ReturnTo');
  await shot(page, 'signed-out');

  // Both sessions ended: mellon asks fedbroker again, which wants a password.
  await page.goto(protectedUrl);
  await page.waitForLoadState();
  expect(page.url().startsWith(base), `mellon's session ended (${page.url()})`);
  expect(await page.getByLabel('Password').count() === 1, 'fedbroker\'s session ended: its sign-in form');
  await page.goto(`${base}/`);
  expect(await page.getByLabel('Password').count() === 1, 'fedbroker\'s dashboard asks for a sign-in');
} catch (e) {
  expect(false, e.message.split('\n')[0]);
  await shot(page, 'error').catch(() => {});
} finally {
  await browser.close();
}
done();
