/**
 * End-to-end tests in Debian's Chromium (/usr/bin/chromium; never `npx playwright install`).
 *
 * The web server is `vite preview` of the production build: run `vite build` first
 * (`npm run test:e2e` does both). Two browser set-ups:
 * - `webgpu`: with --enable-unsafe-webgpu, which gives a WebGPU adapter on this GPU-less machine
 *   (SwiftShader, software). Every spec except the fallback one.
 * - `no-webgpu`: the same flags without --enable-unsafe-webgpu, so there is no WebGPU adapter:
 *   the 'auto' fallback spec.
 */
import { defineConfig } from '@playwright/test';
import { BASE_URL, PORT } from './tests/e2e/env';

const CHROMIUM = process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium';
const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export default defineConfig({
  testDir: 'tests/e2e',
  testMatch: '*.spec.ts',
  // SwiftShader is slow and this machine has 2 cores: one browser at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: BASE_URL,
    headless: true,
    trace: 'off',
    screenshot: 'only-on-failure',
    viewport: { width: 1280, height: 900 },
  },
  webServer: {
    command: `node node_modules/vite/bin/vite.js preview --port ${PORT} --strictPort`,
    url: `${BASE_URL}/tests/e2e/pages/harness.html`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
  },
  projects: [
    {
      name: 'webgpu',
      testIgnore: 'fallback.spec.ts',
      use: {
        browserName: 'chromium',
        launchOptions: { executablePath: CHROMIUM, args: ['--enable-unsafe-webgpu', ...COMMON_ARGS] },
      },
    },
    {
      name: 'no-webgpu',
      testMatch: 'fallback.spec.ts',
      use: {
        browserName: 'chromium',
        launchOptions: { executablePath: CHROMIUM, args: COMMON_ARGS },
      },
    },
  ],
});
