// SPDX-License-Identifier: Apache-2.0
// What the headless Chromium drivers (48-browser.mjs, 68-saml-browser.mjs) share:
// their settings from the environment, step reporting, and a fresh browser.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

// The environment variable name, which the driver's caller must set (exit 2 otherwise).
export function env(tag, name) {
  const v = process.env[name];
  if (v === undefined || v === '') {
    console.error(`${tag}: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

// require() resolving from the pinned npm packages of tests/peers (FB_PEERS).
export function peersRequire(peers) {
  return createRequire(path.join(peers, 'package.json'));
}

// One line per step: "ok   ..." or "FAIL ..."; done() prints the summary and exits.
let failures = 0;
export function ok(msg) {
  console.log(`ok   ${msg}`);
}
export function fail(msg) {
  failures++;
  console.log(`FAIL ${msg}`);
}
export function expect(cond, msg) {
  if (cond) ok(msg);
  else fail(msg);
}
export function done() {
  console.log(failures === 0 ? 'browser: all steps passed' : `browser: ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
}

// The AWS stand-in's JSON verdict shown on page (acs.py), or {ok: false, error} when it is not JSON.
export async function standinVerdict(page) {
  const body = await page.locator('body').innerText();
  try {
    return JSON.parse(body);
  } catch (e) {
    return { ok: false, error: `not JSON: ${body.slice(0, 300)}` };
  }
}

// A full-page screenshot FB_ARTIFACTS/<prefix>-<name>.png; nothing when FB_ARTIFACTS is unset.
export async function shot(page, prefix, name) {
  const dir = process.env.FB_ARTIFACTS || '';
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${prefix}-${name}.png`), fullPage: true });
}

// A browser with its own throw-away profile: { context, page, close() }; 15 s per step.
export async function launch(chromium, options = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fb-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ...options,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(15000); // a step that waits longer on a busy machine has failed
  return {
    context,
    page,
    close: async () => {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
