// SPDX-License-Identifier: Apache-2.0
// 48: the sign-in pages in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core from tests/peers): the bootstrap admin signs in, is sent to TOTP
// enrolment (its group requires MFA), enrols with codes computed here from the secret
// shown on the page (RFC 6238), signs out, signs in again with the second factor and
// lands on the dashboard. axe-core runs on every page: violations of labels and colour
// contrast fail the test, others are reported. Screenshots (desktop and phone) go to
// $FB_ARTIFACTS. Run by 48-browser.py, which starts the server and passes:
//   FB_BASE_URL, FB_USER, FB_PASSWORD, FB_PEERS (the tests/peers directory),
//   FB_ARTIFACTS, FB_RECOVERY_PATH (a recovery link's path and query, optional).
// Prints one line per step; exits 0 when every step passed, 1 otherwise.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { env as envOf, peersRequire, ok, fail, expect, done, launch } from './browser.mjs';

const env = (name) => envOf('48-browser', name);
const base = env('FB_BASE_URL');
const user = env('FB_USER');
const password = env('FB_PASSWORD');
const peers = env('FB_PEERS');
const artifacts = env('FB_ARTIFACTS');
const recoveryPath = process.env.FB_RECOVERY_PATH || '';

const require = peersRequire(peers);
const { chromium } = require('playwright-core');
const axePath = require.resolve('axe-core/axe.min.js');

// Rules whose violations fail the test (issue 4: labels and contrast); others are reported.
const FAILING_RULES = new Set(['label', 'label-title-only', 'color-contrast', 'button-name',
  'input-button-name', 'form-field-multiple-labels']);

// ---- RFC 6238 -------------------------------------------------------------------------

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0, value = 0;
  const out = [];
  for (const c of s.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${c}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function totp(secret, stepOffset = 0, now = Date.now() / 1000) {
  const counter = BigInt(Math.floor(now / 30) + stepOffset);
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(counter);
  const mac = crypto.createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(off) & 0x7fffffff) % 1000000;
  return String(code).padStart(6, '0');
}

// The RFC 6238 appendix B vector (SHA-1, T = 59 s, 8 digits 94287082 -> 6 digits 287082).
{
  const key = Buffer.from('12345678901234567890').toString('hex');
  const b32 = (() => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    const bytes = Buffer.from(key, 'hex');
    let bits = 0, value = 0, out = '';
    for (const b of bytes) {
      value = (value << 8) | b;
      bits += 8;
      while (bits >= 5) {
        out += alphabet[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
    return out;
  })();
  if (totp(b32, 0, 59) !== '287082') {
    console.error('48-browser: the TOTP implementation of the test is wrong');
    process.exit(2);
  }
}

async function freshStep(margin = 3) {
  const left = 30 - ((Date.now() / 1000) % 30);
  if (left < margin) await new Promise((r) => setTimeout(r, (left + 0.1) * 1000));
}

// ---- the run --------------------------------------------------------------------------

const report = [];

async function axeCheck(page, name) {
  await page.addScriptTag({ path: axePath });
  const res = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    await axe.run(document, { resultTypes: ['violations'] }));
  const bad = res.violations.filter((v) => FAILING_RULES.has(v.id));
  const other = res.violations.filter((v) => !FAILING_RULES.has(v.id));
  for (const v of other) {
    console.log(`note axe ${name}: ${v.id} (${v.impact}): ${v.help} ` +
      `[${v.nodes.map((n) => n.target.join(' ')).join(', ')}]`);
  }
  for (const v of bad) {
    fail(`axe ${name}: ${v.id}: ${v.help} ` +
      `[${v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`).join('; ')}]`);
  }
  if (bad.length === 0) ok(`axe ${name}: no label or contrast violation (${other.length} other)`);
  report.push({ page: name, violations: res.violations.map((v) => v.id) });
}

async function shoot(page, name) {
  const file = path.join(artifacts, `48-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  // The same page on a phone.
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(artifacts, `48-${name}-phone.png`), fullPage: true });
  await page.setViewportSize(size);
  // Readable on a phone: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize(size);
  expect(overflow <= 390, `${name}: fits a 390 px wide phone (scroll width ${overflow})`);
}

async function visit(page, name) {
  await axeCheck(page, name);
  await shoot(page, name);
}

function pathOf(page) {
  return new URL(page.url()).pathname;
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  // No JavaScript on our side: the pages must work without it.
  const browser = await launch(chromium);
  const page = browser.page;
  page.setDefaultTimeout(15000);
  try {
    // 1. The sign-in page; a wrong password first.
    await page.goto(`${base}/`);
    expect(pathOf(page) === '/login', `/ sends to /login (at ${page.url()})`);
    await visit(page, '01-login');
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    expect((await page.getByRole('alert').textContent()).includes('Wrong username or password'),
      'a wrong password gets a clear message');
    await visit(page, '02-login-failed');

    // 2. The right password: the admin's group requires MFA, so enrolment comes first.
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    expect(pathOf(page) === '/mfa/enrol', `sent to enrolment before anything else (at ${page.url()})`);
    await visit(page, '03-enrol');
    const secret = (await page.locator('#totp-secret').textContent()).replace(/\s/g, '');
    expect(/^[A-Z2-7]{32}$/.test(secret), 'the secret is shown as base32 text');
    const uri = await page.locator('#totp-uri').textContent();
    expect(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`),
      'the otpauth:// URI is shown');
    expect(await page.locator('.qr svg').count() === 1, 'the QR code is an inline SVG');
    await freshStep();
    await page.getByLabel('Code from the app').fill(totp(secret));
    await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
    await page.waitForLoadState();
    expect((await page.locator('h1').textContent()).includes('Two-step verification is on'),
      'enrolment confirmed');
    const codes = await page.locator('#recovery-codes li').count();
    expect(codes === 10, `ten recovery codes shown (${codes})`);
    await visit(page, '04-recovery-codes');
    await page.getByRole('link', { name: 'Continue' }).click();
    await page.waitForLoadState();
    expect(pathOf(page) === '/', `then the dashboard (at ${page.url()})`);
    await visit(page, '05-dashboard');

    // 3. Sign out (a POST with its CSRF token).
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForLoadState();
    expect((await page.locator('h1').textContent()).includes('You have signed out'), 'signed out');
    await visit(page, '06-signed-out');
    await page.goto(`${base}/`);
    expect(pathOf(page) === '/login', 'the dashboard needs signing in again');

    // 4. Sign in again: password, then the second factor.
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    expect(pathOf(page) === '/login/mfa', `asked for the second factor (at ${page.url()})`);
    await visit(page, '07-second-factor');
    const valid = new Set([totp(secret, -1), totp(secret, 0), totp(secret, 1), totp(secret, 2)]);
    let wrong = 0;
    while (valid.has(String(wrong).padStart(6, '0'))) wrong++;
    await page.getByLabel('Authentication code').fill(String(wrong).padStart(6, '0'));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForLoadState();
    expect((await page.getByRole('alert').textContent()).includes('not right'),
      'a wrong code gets a clear message');
    await visit(page, '08-second-factor-failed');
    // The enrolment used this step's code; the next step's is within the drift allowed.
    await page.getByLabel('Authentication code').fill(totp(secret, 1));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForLoadState();
    expect(pathOf(page) === '/', `landed on the dashboard (at ${page.url()})`);
    expect((await page.locator('h1').textContent()).trim() === 'Applications',
      'the dashboard lists applications');
    expect((await page.textContent('body')).includes('no applications for you to open yet'),
      'with a friendly message while there are none');

    // 5. Change the password from the dashboard: a wrong current one first (issue 10).
    await page.getByRole('link', { name: 'Change your password' }).click();
    await page.waitForLoadState();
    expect(pathOf(page) === '/account/password', `the password form (at ${page.url()})`);
    await visit(page, '11-password');
    const newPassword = `${password}-changed-in-the-browser`;
    await page.getByLabel('Current password').fill('not the password');
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('New password again').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForLoadState();
    expect((await page.getByRole('alert').textContent()).includes('not right'),
      'a wrong current password gets a clear message');
    await visit(page, '12-password-refused');
    await page.getByLabel('Current password').fill(password);
    await page.getByLabel('New password', { exact: true }).fill(newPassword);
    await page.getByLabel('New password again').fill(newPassword);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForLoadState();
    expect((await page.locator('h1').textContent()).includes('Password changed'),
      'the password is changed');
    await visit(page, '13-password-changed');
    await page.goto(`${base}/`);
    expect(pathOf(page) === '/', `this browser stays signed in (at ${page.url()})`);

    // 6. A page that does not exist: the site's own 404 page.
    const missing = await page.goto(`${base}/no/such/page`);
    expect(missing.status() === 404, `404 for a missing page (${missing.status()})`);
    expect((await page.locator('h1').textContent()).includes('Page not found'),
      'the 404 page is the site\'s page');
    await visit(page, '14-not-found');

    // 7. The confirm page of /logout, and a recovery link's form (a look does not use it).
    await page.goto(`${base}/logout`);
    await visit(page, '09-logout-confirm');
    if (recoveryPath !== '') {
      await page.goto(`${base}${recoveryPath}`);
      expect((await page.locator('h1').textContent()).includes('Choose a new password'),
        'the recovery form');
      await visit(page, '10-recover');
    }
  } catch (e) {
    fail(`step threw: ${e.stack || e}`);
    try {
      await page.screenshot({ path: path.join(artifacts, '48-error.png'), fullPage: true });
    } catch (e2) { /* the browser may be gone */ }
  } finally {
    await browser.close();
  }
  fs.writeFileSync(path.join(artifacts, '48-axe.json'), JSON.stringify(report, null, 2));
  done();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
