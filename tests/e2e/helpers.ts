/**
 * Shared helpers for the Playwright specs.
 */
import { expect, type Page, type Request } from '@playwright/test';
import { BASE_URL } from './env';

export const HARNESS = '/tests/e2e/pages/harness.html';

/** A fresh IndexedDB name, so specs never share history. */
let counter = 0;
export const freshDb = (label: string): string => `e2e-${label}-${Date.now().toString(36)}-${++counter}`;

/** Collects page errors and console errors (page and workers) for a test to print or check. */
export function watchConsole(page: Page): { errors: string[] } {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  return { errors };
}

/** Opens the harness page and waits until `window.harness` is there. */
export async function openHarness(page: Page): Promise<void> {
  await page.goto(HARNESS);
  await expect(page.locator('#status')).toHaveText('ready');
}

export interface LoggedRequest { url: string; method: string; postData: string | null; resourceType: string }

/** Logs every request of the page and its workers (Chromium reports worker requests through the page and context). */
export function logRequests(page: Page): LoggedRequest[] {
  const log: LoggedRequest[] = [];
  const seen = new Set<Request>();
  const add = (r: Request) => {
    if (seen.has(r)) return;
    seen.add(r);
    log.push({ url: r.url(), method: r.method(), postData: r.postData(), resourceType: r.resourceType() });
  };
  page.on('request', add);
  page.context().on('request', add);
  page.on('websocket', (ws) => log.push({ url: ws.url(), method: 'WEBSOCKET', postData: null, resourceType: 'websocket' }));
  return log;
}

/**
 * Checks the log: same-origin GETs of known static paths only, no bodies, no query strings
 * (except `allowedQuery` on the document itself), no item id or query text anywhere in a URL.
 */
export function expectOnlyStaticAssetRequests(log: LoggedRequest[], opts: { allowedPaths: RegExp[]; secrets: string[]; documentPath: string; allowedQuery?: RegExp }): void {
  expect(log.length).toBeGreaterThan(0);
  for (const r of log) {
    const u = new URL(r.url);
    const what = `${r.method} ${r.url}`;
    if (u.protocol === 'data:' || u.protocol === 'blob:') continue;
    expect(r.method, what).toBe('GET');
    expect(r.postData, what).toBeNull();
    expect(u.origin, what).toBe(BASE_URL);
    expect(opts.allowedPaths.some((re) => re.test(u.pathname)), `${what}: not a known static path`).toBe(true);
    if (u.pathname === opts.documentPath && u.search) expect(u.search, what).toMatch(opts.allowedQuery ?? /^$/);
    else expect(u.search, `${what}: query string`).toBe('');
    expect(u.hash, what).toBe('');
    for (const s of opts.secrets) expect(decodeURIComponent(r.url), `${what} carries "${s}"`).not.toContain(s);
  }
}

/** Waits until the demo shop has started; fails at once, with the page's error text, if it could not. */
export async function waitForDemo(page: Page): Promise<void> {
  await expect(page.locator('body')).not.toHaveAttribute('data-state', 'loading', { timeout: 120_000 });
  const state = await page.locator('body').getAttribute('data-state');
  if (state !== 'ready') throw new Error(`The demo did not start: ${await page.locator('#error').innerText()}`);
}
