// SPDX-License-Identifier: Apache-2.0
// 79: forward auth in headless Chromium through Debian's nginx (auth_request) and Caddy
// (forward_auth), each configured by `fedbroker integrate` and in front of a small app
// that echoes the headers it receives. Every *.test name resolves to 127.0.0.1. Run by
// 79-forward-auth-proxies.py with FB_WIKI_URL (nginx), FB_TOOLS_URL (Caddy),
// FB_SSO_URL, FB_USER, FB_OTHER, FB_PASSWORD, FB_PEERS. Exits 0 when every step passed.

import { env as envOf, peersRequire, expect, fail, done, launch } from './browser.mjs';

const env = (name) => envOf('79-forward-auth-browser', name);
const wiki = env('FB_WIKI_URL');
const tools = env('FB_TOOLS_URL');
const sso = env('FB_SSO_URL');
const password = env('FB_PASSWORD');
const require = peersRequire(env('FB_PEERS'));
const { chromium } = require('playwright-core');

const opts = { args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--host-resolver-rules=MAP *.test 127.0.0.1'] };

async function signIn(page, user) {
  expect(page.url().startsWith(`${sso}/login`), `sent to sign in at fedbroker (${page.url()})`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState();
}

async function echoed(page) {
  return JSON.parse(await page.locator('body').textContent());
}

// Reloads url until pred(page) holds or 10 s pass (the revocation cache is 2 s).
async function until(page, url, pred) {
  const end = Date.now() + 10000;
  for (;;) {
    await page.goto(url);
    if (await pred(page) || Date.now() > end) return;
    await page.waitForTimeout(200);
  }
}

async function main() {
  const ann = await launch(chromium, opts);
  const bob = await launch(chromium, opts);
  try {
    const { page } = ann;
    await page.goto(`${wiki}/page?x=1`);
    await signIn(page, env('FB_USER'));
    expect(page.url() === `${wiki}/page?x=1`, `back at the app behind nginx (${page.url()})`);
    let h = await echoed(page);
    expect(h['x-forwarded-user'] === env('FB_USER') && h['x-forwarded-groups'] === 'staff',
      `nginx passed the identity headers (${JSON.stringify(h)})`);
    expect(h.path === '/page?x=1', 'the app got the original path');
    await page.goto(`${tools}/x`);
    expect(page.url() === `${tools}/x`, `Caddy: signed in already, straight back (${page.url()})`);
    h = await echoed(page);
    expect(h['x-forwarded-user'] === env('FB_USER') && h['x-forwarded-email'] === ''
      && h['x-forwarded-name'] === '', `Caddy passed the identity headers (${JSON.stringify(h)})`);
    const cookies = await ann.context.cookies();
    const names = cookies.map((c) => `${c.name}@${c.domain}`).sort().join(' ');
    expect(names.includes('fb_session_app@tools.test') && names.includes('fb_session_app@wiki.test'),
      `one host-only app cookie per app host (${names})`);

    const other = bob.page;
    await other.goto(`${wiki}/page`);
    await signIn(other, env('FB_OTHER'));
    expect((await other.locator('body').textContent()).includes('403'),
      `a user outside the app's groups is refused (${other.url()})`);

    await page.goto(`${sso}/`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForLoadState();
    await until(page, `${wiki}/page`, async (p) => p.url().startsWith(`${sso}/login`));
    expect(page.url().startsWith(`${sso}/login`), `signed out: nginx's app asks to sign in (${page.url()})`);
    await until(page, `${tools}/x`, async (p) => p.url().startsWith(`${sso}/login`));
    expect(page.url().startsWith(`${sso}/login`), `signed out: Caddy's app asks to sign in (${page.url()})`);
  } catch (e) {
    fail(`unexpected: ${e.stack || e}`);
  } finally {
    await ann.close();
    await bob.close();
  }
  done();
}

main();
