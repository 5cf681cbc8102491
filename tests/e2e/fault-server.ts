/**
 * Test-only routes of the e2e server (`vite preview` and `vite`): broken variants of the tiny
 * fixture model, made on the fly from tests/fixtures/tiny-model (nothing big is committed), for
 * tests/e2e/faults/loading.spec.ts.
 *
 * `/faults/<variant>/<file>` serves the fixture's model.json, weights.bin or vocab.json with the
 * variant's fault. A fault that a page.route handler cannot give is the point: a body whose headers
 * are sent and which then never finishes.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import type { Connect, Plugin } from 'vite';

export const FAULTS_PREFIX = '/faults/';
/** Bytes of weights.bin a stalled body sends before it stops. */
export const STALL_BYTES = 4096;
/** The row of itemEmbedding the nan-row variant breaks. */
export const NAN_ROW = 7;

const FIXTURE = resolve(import.meta.dirname, '../fixtures/tiny-model');

interface Manifest { weightsManifest: Array<{ weights: Array<{ name: string; shape: number[] }> }> }

/** Byte offset and row width (floats) of a float32 weight in the fixture's weights.bin. */
function weightAt(name: string): { offset: number; width: number; rows: number } {
  const m = JSON.parse(readFileSync(resolve(FIXTURE, 'model.json'), 'utf8')) as Manifest;
  let offset = 0;
  for (const w of m.weightsManifest.flatMap((g) => g.weights)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    if (w.name === name) return { offset, width: n / w.shape[0], rows: w.shape[0] };
    offset += n * 4;
  }
  throw new Error(`fixture has no weight ${name}`);
}

function withNaN(bytes: Buffer, rows: 'all' | number[]): Buffer {
  const out = Buffer.from(bytes);
  const f = new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4);
  if (rows === 'all') { f.fill(NaN); return out; }
  const e = weightAt('itemEmbedding');
  for (const r of rows) f.fill(NaN, e.offset / 4 + r * e.width, e.offset / 4 + (r + 1) * e.width);
  return out;
}

function send(res: ServerResponse, body: Buffer, type: string): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', body.byteLength);
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

/** Sends the headers and the first STALL_BYTES, then nothing until the client goes away. */
function stall(res: ServerResponse, body: Buffer): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Content-Length', body.byteLength);
  res.setHeader('Cache-Control', 'no-store');
  res.flushHeaders();
  res.write(body.subarray(0, STALL_BYTES));
  const giveUp = setTimeout(() => res.destroy(), 300_000);
  res.on('close', () => clearTimeout(giveUp));
}

type Fault = (file: string, bytes: Buffer, res: ServerResponse) => boolean;

/** The variants: each handles the file it breaks (true) and leaves the others to the plain fixture. */
const FAULTS: Record<string, Fault> = {
  'stall-weights': (file, bytes, res) => file === 'weights.bin' && (stall(res, bytes), true),
  'missing-weights': (file, _bytes, res) => {
    if (file !== 'weights.bin') return false;
    res.statusCode = 404;
    res.end('Not found');
    return true;
  },
  'nan-row': (file, bytes, res) => file === 'weights.bin' && (send(res, withNaN(bytes, [NAN_ROW]), 'application/octet-stream'), true),
  'all-nan': (file, bytes, res) => file === 'weights.bin' && (send(res, withNaN(bytes, 'all'), 'application/octet-stream'), true),
};

const TYPES: Record<string, string> = { 'model.json': 'application/json', 'vocab.json': 'application/json', 'weights.bin': 'application/octet-stream' };

const handle: Connect.NextHandleFunction = (req, res, next) => {
  const path = (req.url ?? '').split('?')[0];
  if (!path.startsWith(FAULTS_PREFIX)) return next();
  const [variant, file, ...rest] = path.slice(FAULTS_PREFIX.length).split('/');
  const fault = FAULTS[variant];
  if (!fault || rest.length > 0 || !(file in TYPES)) {
    res.statusCode = 404;
    res.end('Not found');
    return;
  }
  const bytes = readFileSync(resolve(FIXTURE, file));
  if (!fault(file, bytes, res)) send(res, bytes, TYPES[file]);
};

/** The vite plugin that mounts the fault routes on the dev and the preview server. */
export function faultRoutes(): Plugin {
  return {
    name: 'scenerec-e2e-fault-routes',
    configureServer(server) { server.middlewares.use(handle); },
    configurePreviewServer(server) { server.middlewares.use(handle); },
  };
}
