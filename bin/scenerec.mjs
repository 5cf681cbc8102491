#!/usr/bin/env node
// The `scenerec` command of the package: the bundle `npm run build:cli` writes (plain Node, no tsx).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/cli/scenerec.mjs', import.meta.url);
if (!existsSync(fileURLToPath(bundle))) {
  console.error('error: dist/cli/scenerec.mjs is missing; in a checkout of scenerec run `npm run build:cli` (or use `npx tsx scripts/scenerec.ts`)');
  process.exit(1);
}
await import(bundle.href);
