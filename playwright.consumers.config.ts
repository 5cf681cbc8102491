/**
 * The consumer tests (tests/consumers/): the packed package installed into apps a shop would write,
 * built by vite and webpack or used without a bundler, in Debian's Chromium. `npm run test:consumers`.
 * One browser, headless; the set-up packs, installs and builds once (tests/consumers/setup.ts).
 */
import { defineConfig } from '@playwright/test';

const CHROMIUM = process.env.SCENEREC_CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: 'tests/consumers',
  testMatch: '*.spec.ts',
  globalSetup: './tests/consumers/setup.ts',
  workers: 1,
  fullyParallel: false,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  outputDir: 'test-results/consumers',
  use: {
    headless: true,
    trace: 'off',
    browserName: 'chromium',
    launchOptions: {
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    },
  },
});
