// SPDX-License-Identifier: Apache-2.0
// 52: signing in with headless Chromium when TLS ends at a proxy (issue 10 finding 3):
// server.public_url is https://, the pages are reached over plain http on loopback
// (which Chromium treats as a secure context, as the proxy's https origin would be).
// The cookies must be accepted as Secure __Host- cookies (Path=/, no Domain, else the
// browser drops them and sign-in loops), the dashboard reached, and signing out must
// remove the session cookie. Run by 52-trusted-proxies.py with FB_BASE_URL, FB_USER,
// FB_PASSWORD, FB_PEERS. Prints one line per step; exits 0 when every step passed.

import { env as envOf, peersRequire, expect, fail, done, launch } from './browser.mjs';

const env = (name) => envOf('52-proxy-browser', name);
const base = env('FB_BASE_URL');
const user = env('FB_USER');
const password = env('FB_PASSWORD');
const require = peersRequire(env('FB_PEERS'));
const { chromium } = require('playwright-core');

const pathOf = (page) => new URL(page.url()).pathname;

async function main() {
  const browser = await launch(chromium);
  const { page } = browser;
  try {
    await page.goto(`${base}/`);
    expect(pathOf(page) === '/login', `/ sends to /login (at ${page.url()})`);
    let cookies = await browser.context.cookies();
    const pre = cookies.find((c) => c.name === '__Host-fb_session_pre');
    expect(pre !== undefined, `the pre-session cookie is kept as __Host-fb_session_pre (${
      cookies.map((c) => c.name).join(', ')})`);
    expect(pre !== undefined && pre.secure && pre.path === '/' && pre.httpOnly,
      'it is Secure, HttpOnly, Path=/');
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    expect(pathOf(page) === '/', `signed in: the dashboard (at ${page.url()})`);
    cookies = await browser.context.cookies();
    const sess = cookies.find((c) => c.name === '__Host-fb_session');
    expect(sess !== undefined && sess.secure && sess.path === '/' && sess.sameSite === 'Lax',
      'the session cookie is a Secure __Host- cookie, SameSite=Lax');
    expect(!cookies.some((c) => c.name === 'fb_session'), 'no unprefixed session cookie');
    await page.reload();
    expect(pathOf(page) === '/', 'the session holds on the next request');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForLoadState();
    expect((await page.locator('h1').textContent()).includes('You have signed out'), 'signed out');
    cookies = await browser.context.cookies();
    expect(!cookies.some((c) => c.name === '__Host-fb_session'), 'the session cookie is gone');
    await page.goto(`${base}/`);
    expect(pathOf(page) === '/login', 'the dashboard needs signing in again');
  } catch (e) {
    fail(`unexpected: ${e.stack || e}`);
  } finally {
    await browser.close();
  }
  done();
}

main();
