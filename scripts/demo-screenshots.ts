/**
 * Screenshots of the built demo shop for the README (docs/img/demo-*.png), in Debian's Chromium.
 *
 *   npx vite build && npx tsx scripts/demo-screenshots.ts [--port 4420] [--out docs/img]
 *
 * Serves dist/ with `vite preview`, starts a fresh browser profile, views two products and carts
 * one (so the lists have a history to explain), then shoots the home page at 1280 px (with the
 * home list's "Why these?" open) and 390 px wide, a product page at 390 px and the settings drawer
 * at 1280 px. Viewport-sized PNGs: the pages are mostly flat colour and compress small.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Page } from '@playwright/test';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const root = resolve(import.meta.dirname, '..');
const port = Number(arg('port', process.env.SCENEREC_E2E_PORT ?? '4420'));
const outDir = resolve(root, arg('out', 'docs/img'));
const base = `http://localhost:${port}`;

const server = spawn(process.execPath, ['node_modules/vite/bin/vite.js', 'preview', '--port', String(port), '--strictPort'], { cwd: root, stdio: 'ignore' });

async function waitForServer(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/demo/`)).ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`vite preview did not answer on ${base}`);
}

async function ready(page: Page): Promise<void> {
  await page.locator('body[data-state=ready]').waitFor({ timeout: 120_000 });
  await page.locator('.recs[data-ready]').first().waitFor();
  await page.waitForTimeout(400);
}

try {
  mkdirSync(outDir, { recursive: true });
  await waitForServer();
  const browser = await chromium.launch({
    executablePath: process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/demo/?backend=wasm`);
  await ready(page);
  // A short visit: two products viewed, one carted, back home.
  for (const n of [2, 5]) {
    await page.locator('a.brand').click();
    await ready(page);
    await page.locator('#catalog-grid .product-link').nth(n).click();
    await ready(page);
  }
  await page.locator('#add-to-cart').click();
  await page.locator('a.brand').click();
  await ready(page);
  await page.locator('.shelf[data-shelf=home] .why-toggle').click(); // the list's explanation, open
  await page.screenshot({ path: resolve(outDir, 'demo-home-1280.png') });
  await page.locator('#settings-toggle').click();
  await page.waitForTimeout(400);
  await page.locator('#settings-drawer').screenshot({ path: resolve(outDir, 'demo-settings-1280.png') }); // the drawer only: a smaller file
  await page.keyboard.press('Escape');

  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await ready(page);
  await page.screenshot({ path: resolve(outDir, 'demo-home-390.png') });
  await page.locator('.recs[data-scene=home] .product-link').first().click();
  await ready(page);
  await page.screenshot({ path: resolve(outDir, 'demo-product-390.png') });
  await browser.close();
  console.log(`wrote ${outDir}/demo-{home-1280,settings-1280,home-390,product-390}.png`);
} finally {
  server.kill();
}
