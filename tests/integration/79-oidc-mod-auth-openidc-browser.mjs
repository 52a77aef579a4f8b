// SPDX-License-Identifier: Apache-2.0
// 79: headless Chromium signs in to a page that Debian's mod_auth_openidc protects on a
// private Apache, through fedbroker's OpenID provider, then signs out through the
// provider's end_session_endpoint (RP-initiated logout, which mod_auth_openidc starts
// from its redirect URI's ?logout=). Two sites: fedbroker at FB_SSO_URL (localhost),
// Apache at FB_APP_URL (127.0.0.1), so each keeps its own cookies as two real hosts
// would. Run by 79-oidc-mod-auth-openidc.py with FB_SSO_URL, FB_APP_URL, FB_USER,
// FB_PASSWORD, FB_PEERS. Exits 0 when every step passed.

import { env as envOf, peersRequire, expect, fail, done, launch } from './browser.mjs';

const env = (name) => envOf('79-oidc-mod-auth-openidc-browser', name);
const sso = env('FB_SSO_URL');
const app = env('FB_APP_URL');
const user = env('FB_USER');
const require = peersRequire(env('FB_PEERS'));
const { chromium } = require('playwright-core');

const opts = { args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync'] };

async function main() {
  const b = await launch(chromium, opts);
  try {
    const { page } = b;
    await page.goto(`${app}/protected/env`);
    expect(page.url().startsWith(`${sso}/login`),
      `mod_auth_openidc sent the browser to fedbroker, which asks to sign in (${page.url()})`);
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(env('FB_PASSWORD'));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${app}/protected/env`);
    let claims = JSON.parse(await page.locator('body').textContent());
    expect(claims.OIDC_CLAIM_preferred_username === user && claims.AUTH_TYPE === 'openid-connect',
      `Apache served the page with the ID token's claims (${JSON.stringify(claims)})`);
    expect((claims.OIDC_CLAIM_groups || '').includes('staff'), 'the groups claim reached Apache');

    // Signed in at fedbroker now: another visit needs no password (the broker session).
    const names = (await b.context.cookies()).map((c) => `${c.name}@${c.domain}`).join(' ');
    expect(names.includes('fb_session@localhost') && names.includes('@127.0.0.1'),
      `a session at each site (${names})`);

    // RP-initiated logout: mod_auth_openidc -> end_session_endpoint -> back to the app.
    const back = `${app}/signed-out`;
    await page.goto(`${app}/protected/redirect_uri?logout=${encodeURIComponent(back)}`);
    await page.waitForURL((u) => u.href.startsWith(back));
    expect(page.url().startsWith(back), `returned to the registered post_logout_redirect_uri (${page.url()})`);
    const left = (await b.context.cookies()).filter((c) => c.name === 'fb_session');
    expect(left.length === 0, `fedbroker's session cookie is gone (${JSON.stringify(left)})`);
    await page.goto(`${app}/protected/env`);
    expect(page.url().startsWith(`${sso}/login`),
      `after sign-out the page asks to sign in at fedbroker again (${page.url()})`);
  } catch (e) {
    fail(`unexpected: ${e.stack || e}`);
  } finally {
    await b.close();
  }
  done();
}

main();
