/** The scenerec command end to end on small generated logs in each format: train -> eval -> inspect, and its exit codes. */
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../training/scenerec-cli.js';
import { makeSyntheticLog, DEFAULT_SYNTHETIC, type SyntheticOptions } from '../../scripts/make-synthetic-log.js';
import { setNodeBackend } from '../../training/node-io.js';
import { pathToFileURL } from 'node:url';
import 'fake-indexeddb/auto';
import { createEngine } from '../../src/engine/index.js';
import { fileFetch } from './helpers.js';
import { torchPython, writeSeqs } from '../../training/torch/python.js';

const ROOT = path.resolve(__dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scenerec-cmd-'));
const TINY = ['--epochs', '1', '--hidden', '8', '--blocks', '1', '--ffn', '8', '--negatives', '16', '--max-len', '10', '--eval-max-users', '60'];

async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, (l) => out.push(l), (l) => err.push(l));
  return { code, out, err: err.join('\n') };
}
const lastJson = (out: string[]) => JSON.parse(out[out.length - 1]);

function makeLog(format: SyntheticOptions['format'], time: SyntheticOptions['time']) {
  const file = path.join(dir, `events-${format}.${format}`);
  const items = path.join(dir, `items-${format}.csv`);
  makeSyntheticLog({ ...DEFAULT_SYNTHETIC, events: 2500, users: 60, items: 90, days: 6, format, time, seed: 3 }, file, items);
  return { file, items };
}

describe('scenerec train / eval / inspect', () => {
  afterAll(() => fs.rmSync(path.join(ROOT, 'dist/.test-cli'), { recursive: true, force: true }));

  for (const [format, time, model] of [['csv', 'seconds', 'auto'], ['tsv', 'ms', 'sasrec'], ['jsonl', 'iso', 'auto']] as const) {
    it(`${format} log (${time} timestamps), model ${model}`, async () => {
      await setNodeBackend('wasm');
      const { file, items } = makeLog(format, time);
      const out = path.join(dir, `model-${format}`);
      // The csv multi-task model keeps the default refit (on); the jsonl one ships the evaluated model (--refit off).
      const refitOn = format === 'csv';
      // The sequence model here on TF.js (the other sequence-model tests take the default trainer: PyTorch where installed).
      const t = await cli(['train', '--data', file, '--items', items, '--out', out, ...TINY, ...(model === 'auto' ? [] : ['--model', model, '--trainer', 'tfjs']), ...(format === 'jsonl' ? ['--refit', 'off'] : [])]);
      expect(t.code, t.err).toBe(0);
      if (model === 'sasrec') expect(t.out).toContain('trainer: TF.js, backend wasm (chosen with --trainer tfjs)');
      const kind = { seconds: 'epoch seconds', ms: 'epoch milliseconds', iso: 'ISO 8601 dates' }[time];
      expect(t.out.join('\n')).toContain(`timestamps look like ${kind}, 2024-03-01 .. 2024-03-06`);
      const arch = model === 'sasrec' ? 'sasrec' : 'sasrec-mtl';
      for (const f of ['model.json', 'weights.bin', 'vocab.json', 'training.json', 'README.md']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
      const card = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
      expect(card).toContain(`architecture \`${arch}\``);
      for (const s of ['## Data', 'Events per type: view', '## Evaluation', '| popularity |', '| item-KNN |', '| model |']) expect(card).toContain(s);
      // 60 shoppers: the card and the output say the figures are too few to compare models.
      expect(card).toMatch(/warning: these figures rest on \d+ held-out shoppers? \(under 100\)/);
      expect(t.out.some((l) => l.startsWith('warning: these figures rest on'))).toBe(true);
      const trained = lastJson(t.out);
      expect(trained.architecture).toBe(arch);
      // The multi-task model's repeat weights are calibrated on the validation day by default, never lowering its objective.
      if (arch === 'sasrec-mtl') {
        expect(card).toContain('Repeat weights calibrated on the validation day');
        const cal = JSON.parse(fs.readFileSync(path.join(out, 'training.json'), 'utf8')).training.calibration;
        for (const h of cal.heads) expect(h.objective.after).toBeGreaterThanOrEqual(h.objective.before);
      }

      const summary = JSON.parse(fs.readFileSync(path.join(out, 'training.json'), 'utf8'));
      if (arch === 'sasrec-mtl' && refitOn) {
        // Refit on every day of the log after the evaluation: more items, a new version, and an eval that refuses the test days.
        const r = summary.training.refit;
        expect(r.throughDay).toBe(20240306);
        expect(r.epochs).toBe(summary.training.bestEpoch);
        expect(r.evaluatedVersion).not.toBe(summary.modelVersion);
        expect(trained.modelVersion).toBe(summary.modelVersion);
        const shipped = JSON.parse(fs.readFileSync(path.join(out, 'vocab.json'), 'utf8')).itemIds as string[];
        expect(r.items).toBe(shipped.length - 1);
        expect(r.items).toBeGreaterThan(summary.data.itemsTrained);
        expect(card).toContain('Refit (--refit on)');
        expect(card).toContain(`Measured on version \`${r.evaluatedVersion}\``);
        const refused = await cli(['eval', '--model', out, '--data', file, '--items', items]);
        expect(refused.code).toBe(2);
        expect(refused.err).toContain('would be in-sample');
      } else {
        expect(summary.training.refit).toBeUndefined();
      }

      // eval reads the log again with the stored mapping and reproduces the card's figures.
      if (!(arch === 'sasrec-mtl' && refitOn)) {
      const e = await cli(['eval', '--model', out, '--data', file, '--items', items, '--eval-max-users', '60']);
      expect(e.code, e.err).toBe(0);
      const ev = lastJson(e.out);
      for (const [k, v] of Object.entries(trained)) if (k.includes('@10')) expect(ev[k], k).toBe(v);
      const hr = Object.keys(ev).filter((k) => k.endsWith('hr@10'));
      expect(hr.length).toBeGreaterThanOrEqual(3);
      for (const k of hr) { expect(ev[k]).toBeGreaterThanOrEqual(0); expect(ev[k]).toBeLessThanOrEqual(1); }
      expect(ev.users).toBeGreaterThan(5);
      // A cap below the shoppers evaluates a seeded sample of that many (either model).
      const capped = await cli(['eval', '--model', out, '--data', file, '--items', items, '--eval-max-users', '20']);
      expect(capped.code, capped.err).toBe(0);
      expect(lastJson(capped.out).users).toBeLessThanOrEqual(20);
      }

      // inspect: the card, then the coverage of a catalog with 30 items the model never saw.
      const catalog = path.join(dir, `catalog-${format}.csv`);
      const rows = fs.readFileSync(items, 'utf8').trim().split('\n');
      const vocab = JSON.parse(fs.readFileSync(path.join(out, 'vocab.json'), 'utf8')).itemIds as string[];
      fs.writeFileSync(catalog, [...rows, ...Array.from({ length: 20 }, (_, i) => `new${i},c0,b0,5,New ${i},1`), ...Array.from({ length: 10 }, (_, i) => `odd${i},zz,zz,5,Odd ${i},1`)].join('\n') + '\n');
      const ins = await cli(['inspect', '--model', out, '--catalog', catalog]);
      expect(ins.code, ins.err).toBe(0);
      expect(ins.out[0]).toContain('# Model card');
      const cov = lastJson(ins.out);
      expect(cov.items).toBe(rows.length - 1 + 30);
      expect(cov.learned).toBe(vocab.length - 1);
      expect(cov.learned + cov.contentOnly + cov.neither).toBe(cov.items);
      if (arch === 'sasrec') expect(cov.contentOnly).toBe(0);
      else { expect(cov.contentOnly).toBeGreaterThanOrEqual(20); expect(cov.neither).toBeGreaterThanOrEqual(10); }
    }, 120_000);
  }

  it('the sequence model holds out only the validation sample\'s last events; eval reproduces the figures on those shoppers', async () => {
    await setNodeBackend('wasm');
    const { file, items } = makeLog('tsv', 'ms');
    const out = path.join(dir, 'model-held');
    const t = await cli(['train', '--data', file, '--items', items, '--out', out, ...TINY, '--model', 'sasrec', '--eval-users', '20']);
    expect(t.code, t.err).toBe(0);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'training.json'), 'utf8'));
    expect(summary.options.holdOut).toBe('validation-sample');
    const trained = lastJson(t.out);
    expect(trained.users).toBeLessThanOrEqual(20); // the sample's shoppers, not every shopper with a test item
    expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).toContain('held out for the 20 shoppers of the validation sample only');
    const e = await cli(['eval', '--model', out, '--data', file, '--items', items, '--eval-max-users', '60']);
    expect(e.code, e.err).toBe(0);
    const ev = lastJson(e.out);
    expect(ev.users).toBe(trained.users);
    for (const [k, v] of Object.entries(trained)) if (k.includes('@10')) expect(ev[k], k).toBe(v);
    // The benchmark protocol on request: every shopper holds out, so more of them are ranked.
    const every = await cli(['train', '--data', file, '--items', items, '--out', path.join(dir, 'model-every'), ...TINY, '--model', 'sasrec', '--eval-users', '20', '--hold-out', 'every-user']);
    expect(every.code, every.err).toBe(0);
    expect(lastJson(every.out).users).toBeGreaterThan(20);
    const bad = await cli(['train', '--data', file, '--out', path.join(dir, 'x'), '--model', 'sasrec', '--hold-out', 'some']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--hold-out must be one of every-user, validation-sample');
  }, 120_000);

  it('train on a log without favourites: a 3-head model (no untrained satisfaction head); a missing cart is warned about', async () => {
    await setNodeBackend('wasm');
    const { file, items } = makeLog('csv', 'seconds');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const noFav = path.join(dir, 'events-nofav.csv');
    fs.writeFileSync(noFav, [lines[0], ...lines.slice(1).filter((l) => !/,favorite,/.test(l))].join('\n') + '\n');
    const out = path.join(dir, 'model-nofav');
    const t = await cli(['train', '--data', noFav, '--items', items, '--out', out, ...TINY, '--skip-eval', '--refit', 'off']);
    expect(t.code, t.err).toBe(0);
    expect(t.out.join('\n')).toContain('no favorite events in the training days: no favorite (satisfaction) head');
    // The epoch lines say the task has no case rather than print a 0 for it.
    expect(t.out.join('\n')).toMatch(/epoch 1\/\d+ loss .*valid NDCG@10 click \d\.\d{3} cart \d\.\d{3} purchase \d\.\d{3} favorite \(no cases\) \(best epoch 1\)/);
    const header = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8')).userDefinedMetadata.scenerec;
    expect(header.config.features.tasks).toEqual(['click', 'cart', 'purchase']);
    // Later, favourites in the log: a warm start from the 3-head model keeps its heads instead of refusing.
    const w = await cli(['train', '--data', file, '--items', items, '--out', path.join(dir, 'model-fav-warm'), '--init-from', out, ...TINY, '--skip-eval', '--refit', 'off']);
    expect(w.code, w.err).toBe(0);
    expect(w.out.join('\n')).toContain(`heads: click, cart, purchase (those of --init-from ${out}`);
    const noCart = path.join(dir, 'events-nocart.csv');
    fs.writeFileSync(noCart, [lines[0], ...lines.slice(1).filter((l) => !/,cart,/.test(l))].join('\n') + '\n');
    const c = await cli(['train', '--data', noCart, '--items', items, '--out', path.join(dir, 'model-nocart'), ...TINY, '--skip-eval', '--refit', 'off']);
    expect(c.code, c.err).toBe(0);
    expect(c.out.join('\n')).toContain('warning: no cart events in the training days: the cart head learns nothing');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model-nocart', 'model.json'), 'utf8')).userDefinedMetadata.scenerec.config.features.tasks).toHaveLength(4);
  }, 120_000);

  it('train --init-from: warm start from a model of the earlier days (both models), provenance, typed refusals', async () => {
    await setNodeBackend('wasm');
    const { file, items } = makeLog('csv', 'seconds');
    // The first 4 of the 6 days, as the export an earlier model was trained on.
    const early = path.join(dir, 'events-early.csv');
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    const cut = Date.parse('2024-03-05T00:00:00Z') / 1000;
    fs.writeFileSync(early, [lines[0], ...lines.slice(1).filter((l) => Number(l.split(',')[3]) < cut)].join('\n') + '\n');
    const vocabOf = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'vocab.json'), 'utf8')).itemIds.slice(1) as string[];
    for (const model of ['sasrec', 'mtl']) {
      const a = path.join(dir, `warm-a-${model}`);
      const b = path.join(dir, `warm-b-${model}`);
      // --refit off: the vocabularies compared are those of the two runs' training days.
      const ta = await cli(['train', '--data', early, '--items', items, '--out', a, '--model', model, ...TINY, '--skip-eval', '--refit', 'off']);
      expect(ta.code, ta.err).toBe(0);
      // No --model: the run follows the earlier model's architecture; the shape flags match.
      const tb = await cli(['train', '--data', file, '--items', items, '--out', b, '--init-from', a, ...TINY, '--skip-eval', '--refit', 'off']);
      expect(tb.code, tb.err).toBe(0);
      const text = tb.out.join('\n');
      expect(text).toContain(`model: ${model} (the architecture of --init-from ${a})`);
      expect(text).toContain('epoch 0 (the warm start, before training)');
      const va = new Set(vocabOf(a));
      const vb = vocabOf(b);
      const kept = vb.filter((id) => va.has(id)).length;
      const counts = { kept, added: vb.length - kept, dropped: va.size - kept };
      expect(counts.added).toBeGreaterThan(0); // the later days bring new items
      expect(text).toContain(`items ${counts.kept} kept, ${counts.added} added, ${counts.dropped} dropped`);
      const summary = JSON.parse(fs.readFileSync(path.join(b, 'training.json'), 'utf8'));
      expect(summary.initFrom.items).toEqual(counts);
      expect(summary.initFrom.from).toBe(a);
      expect(summary.initFrom.modelVersion).toBe(JSON.parse(fs.readFileSync(path.join(a, 'model.json'), 'utf8')).userDefinedMetadata.scenerec.modelVersion);
      expect(summary.training.log[0].epoch).toBe(0);
      expect(fs.readFileSync(path.join(b, 'README.md'), 'utf8')).toContain(`- Warm-started: warm start from ${a}`);
      if (model === 'mtl') {
        expect(summary.initFrom.remapped).toEqual(['itemEmbedding', 'categoryEmbedding', 'brandEmbedding']);
        // A warm start that no epoch beats (a learning rate of 0 keeps its weights) has no epoch count for the refit: the
        // run says so, in training.json and the card, and ships the evaluated model.
        const c = path.join(dir, 'warm-c-mtl');
        const tc = await cli(['train', '--data', file, '--items', items, '--out', c, '--init-from', a, ...TINY, '--lr', '0', '--skip-eval', '--refit', 'on']);
        expect(tc.code, tc.err).toBe(0);
        expect(tc.out.join('\n')).toContain('refit: skipped (the warm start\'s weights validated best');
        const sc = JSON.parse(fs.readFileSync(path.join(c, 'training.json'), 'utf8'));
        expect(sc.training.bestEpoch).toBe(0);
        expect(sc.training.refit).toBeUndefined();
        expect(sc.training.refitSkipped).toContain('no epoch count to repeat');
        expect(fs.readFileSync(path.join(c, 'README.md'), 'utf8')).toContain('Refit (--refit on): skipped: the warm start');
      }
    }
    const seqA = path.join(dir, 'warm-a-sasrec');
    const shape = await cli(['train', '--data', file, '--out', path.join(dir, 'x'), '--init-from', seqA, ...TINY, '--hidden', '16']);
    expect(shape.code).toBe(2);
    expect(shape.err).toContain('has another model shape (--hidden 8; this run: --hidden 16): pass --hidden 8');
    const arch = await cli(['train', '--data', file, '--items', items, '--out', path.join(dir, 'x'), '--init-from', seqA, '--model', 'mtl', ...TINY]);
    expect(arch.code).toBe(2);
    expect(arch.err).toContain('is a sasrec model and this run trains sasrec-mtl: pass --model sasrec');
    const none = await cli(['train', '--data', file, '--out', path.join(dir, 'x'), '--init-from', dir, ...TINY]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('no model.json there');
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  }, 180_000);

  it('an item file without a brand (or category) column gives a multi-task model the engine loads', async () => {
    await setNodeBackend('wasm');
    const { file, items } = makeLog('csv', 'seconds');
    const noBrand = path.join(dir, 'items-no-brand.csv');
    const [head, ...rows] = fs.readFileSync(items, 'utf8').trim().split('\n');
    const keep = head.split(',').map((c, i) => (c === 'brand' ? -1 : i)).filter((i) => i >= 0);
    const fields = (l: string) => l.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/); // commas outside quotes
    fs.writeFileSync(noBrand, [head, ...rows].map((l) => keep.map((i) => fields(l)[i]).join(',')).join('\n') + '\n');
    expect(fs.readFileSync(noBrand, 'utf8')).not.toContain('brand');
    const out = path.join(dir, 'model-no-brand');
    const t = await cli(['train', '--data', file, '--items', noBrand, '--out', out, ...TINY]);
    expect(t.code, t.err).toBe(0);
    expect(lastJson(t.out).architecture).toBe('sasrec-mtl');
    const engine = await createEngine({ modelUrl: pathToFileURL(path.join(out, 'model.json')).href, backend: 'cpu', dbName: `no-brand-${Date.now()}` }, { fetch: fileFetch() });
    try {
      expect((await engine.info()).objectives.length).toBeGreaterThan(0);
      expect((await engine.recommend('home', { k: 5 })).items).toHaveLength(5);
    } finally {
      await engine.dispose();
    }
  }, 120_000);

  it.skipIf(!torchPython())('the sequence model trains on PyTorch by default: any id string survives, same rows as TF.js, the engine serves it', async () => {
    await setNodeBackend('wasm');
    // Ids a shop's export may hold that a whitespace-split log could not: spaces, quotes, commas, non-ASCII.
    const names = Array.from({ length: 40 }, (_, k) => [`SKU ${k}/A`, `"quoted, ${k}"`, `Größe-${k}`, `#${k}\\x`][k % 4]);
    const csvField = (v: string) => `"${v.replace(/"/g, '""')}"`;
    const rows = ['user_id,item_id,event,timestamp'];
    for (let u = 0; u < 50; u++) for (let j = 0; j < 8; j++) rows.push(`u${u},${csvField(names[(u * 3 + j * (1 + (u % 5))) % names.length])},view,${1709287200 + u * 100 + j}`);
    const file = path.join(dir, 'odd-ids.csv');
    fs.writeFileSync(file, rows.join('\n') + '\n');
    const torch = path.join(dir, 'model-torch');
    const t = await cli(['train', '--data', file, '--out', torch, ...TINY, '--eval-users', '20']);
    expect(t.code, t.err).toBe(0);
    const text = t.out.join('\n');
    expect(text).toContain('model: sasrec');
    expect(text).toMatch(/trainer: PyTorch \S+ \(.+, 1 process; --trainer tfjs trains on TF\.js\)/);
    expect(text).toMatch(/epoch 1\/1 loss \d/);
    const summary = JSON.parse(fs.readFileSync(path.join(torch, 'training.json'), 'utf8'));
    expect(summary.training.trainer).toBe('pytorch');
    expect(summary.trainer).toMatch(/^PyTorch /);
    expect(fs.readFileSync(path.join(torch, 'README.md'), 'utf8')).toMatch(/ on PyTorch \S+ \(cpu, 1 process\)/);
    // The same vocabulary, row for row, as the TF.js trainer's (the shop's ids, in the TS reader's order).
    const tfjs = path.join(dir, 'model-tfjs');
    expect((await cli(['train', '--data', file, '--out', tfjs, ...TINY, '--eval-users', '20', '--trainer', 'tfjs'])).code).toBe(0);
    const vocab = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'vocab.json'), 'utf8'));
    expect(vocab(torch)).toEqual(vocab(tfjs));
    expect(new Set(vocab(torch).itemIds.slice(1))).toEqual(new Set(names));
    // Served by the engine: a history of those ids gives a list of them.
    const engine = await createEngine({ modelUrl: pathToFileURL(path.join(torch, 'model.json')).href, backend: 'cpu', dbName: `odd-ids-${Date.now()}` }, { fetch: fileFetch() });
    try {
      for (const id of names.slice(0, 3)) await engine.track({ type: 'view', itemId: id });
      const list = await engine.recommend('home', { k: 5 });
      expect(list.items).toHaveLength(5);
      for (const i of list.items) expect(names).toContain(i.itemId);
    } finally {
      await engine.dispose();
    }
    // A refusal of train.py's is the command's exit code 2, with its message; mtl cannot take --trainer torch.
    const shape = await cli(['train', '--data', file, '--out', path.join(dir, 'x'), '--init-from', torch, ...TINY, '--hidden', '16', '--trainer', 'torch']);
    expect(shape.code).toBe(2);
    expect(shape.err).toContain('pass --hidden 8');
    const { file: multi, items } = makeLog('csv', 'seconds');
    const mtl = await cli(['train', '--data', multi, '--items', items, '--out', path.join(dir, 'x'), ...TINY, '--trainer', 'torch']);
    expect(mtl.code).toBe(2);
    expect(mtl.err).toContain('the multi-task model (mtl) trains on TF.js only');
    expect((await cli(['train', '--data', file, '--out', path.join(dir, 'x'), '--trainer', 'gpu'])).err).toContain('--trainer must be one of auto, torch, tfjs');
    expect(fs.existsSync(path.join(dir, 'x'))).toBe(false);
  }, 120_000);

  it('--trainer auto falls back to TF.js when the PyTorch trainer fails before its first epoch; --trainer torch does not', async () => {
    await setNodeBackend('wasm');
    // A python3 that imports torch but whose train.py run dies at once (a broken install).
    const fake = path.join(dir, 'broken-python');
    fs.writeFileSync(fake, '#!/bin/sh\nif [ "$1" = "-c" ]; then echo 9.9; exit 0; fi\necho "ImportError: libtorch_cpu.so: cannot open shared object file" >&2\nexit 1\n', { mode: 0o755 });
    const { file } = makeLog('csv', 'seconds');
    const before = process.env.SCENEREC_PYTHON;
    process.env.SCENEREC_PYTHON = fake;
    try {
      const auto = await cli(['train', '--data', file, '--out', path.join(dir, 'model-fallback'), ...TINY, '--model', 'sasrec', '--skip-eval']);
      expect(auto.code, auto.err).toBe(0);
      const text = auto.out.join('\n');
      expect(text).toContain('trainer: PyTorch 9.9');
      expect(text).toContain('warning: the PyTorch trainer');
      expect(text).toContain('libtorch_cpu.so');
      expect(text).toContain('trainer: TF.js, backend wasm (the PyTorch trainer failed before its first epoch (above))');
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'model-fallback', 'training.json'), 'utf8')).trainer).toBe('TF.js wasm');
      const forced = await cli(['train', '--data', file, '--out', path.join(dir, 'model-forced'), ...TINY, '--model', 'sasrec', '--skip-eval', '--trainer', 'torch']);
      expect(forced.code).toBe(1);
      expect(forced.err).toContain('Retry with --trainer tfjs');
    } finally {
      if (before === undefined) delete process.env.SCENEREC_PYTHON; else process.env.SCENEREC_PYTHON = before;
    }
  }, 120_000);

  it.skipIf(!torchPython())('the seqs hand-over: every rank of a torchrun reads a contiguous share, together every user once; bad files are refused', () => {
    const seqs = Array.from({ length: 97 }, (_, u) => Array.from({ length: u % 9 === 0 ? 0 : 1 + (u * 5) % 17 }, (_, j) => 1 + ((u + j * 3) % 40)));
    const file = path.join(dir, 'hand-over.seqs');
    writeSeqs(file, seqs);
    const script = `import json, sys; sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'training/torch'))})
from data import read_seqs, DataFormatError
out = {}
for world in (1, 2, 3):
    parts = [read_seqs(sys.argv[1], 41, r, world) for r in range(world)]
    out[world] = {"seqs": [s for p in parts for s in p[0]], "firsts": [p[1] for p in parts], "users": [p[2] for p in parts], "counts": sum(p[3] for p in parts).tolist()}
for names in (40, 41):
    try: read_seqs(sys.argv[1], names); out["names" + str(names)] = "ok"
    except DataFormatError as e: out["names" + str(names)] = str(e)
print(json.dumps(out))`;
    const r = spawnSync(torchPython()!.python, ['-c', script, file], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout);
    const counts = new Array(41).fill(0);
    for (const s of seqs) for (const i of s) counts[i]++;
    for (const w of ['1', '2', '3']) {
      expect(got[w].seqs).toEqual(seqs);
      expect(got[w].users.every((n: number) => n === 97)).toBe(true);
      expect(got[w].counts).toEqual(counts);
      expect(got[w].firsts[0]).toBe(0);
    }
    expect(got['3'].firsts[1]).toBeGreaterThan(0);
    expect(got['3'].firsts[2]).toBeGreaterThan(got['3'].firsts[1]);
    expect(got.names41).toBe('ok');
    expect(got.names40).toContain('an item index outside 1..39');
  });

  it('exits 2 on malformed rows naming file, line and column; --skip-bad skips and counts', async () => {
    const bad = path.join(dir, 'bad.csv');
    fs.writeFileSync(bad, 'user_id,item_id,event,timestamp\nu1,i1,view,1709287200\nu1,i2,view,soon\nu2,i1,view,1709287300\nu2,i2,view,1709287400\nu2,i3,view,1709287500\nu1,i3,view,1709287600\n');
    const r = await cli(['check', '--data', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}:3: column "timestamp"`);
    const s = await cli(['check', '--data', bad, '--skip-bad', '1']);
    expect(s.code, s.err).toBe(0);
    expect(s.out.join('\n')).toContain('dropped rows: 1 malformed: bad-time');
    expect(lastJson(s.out).model).toBe('sasrec');
    expect((await cli(['train', '--data', bad, '--out', path.join(dir, 'x'), '--model', 'gbdt'])).code).toBe(2);
    expect((await cli(['fly'])).code).toBe(2);
  });

  it('runs as a plain Node bundle (no tsx), with the same exit codes', async () => {
    // The options of `npm run build:cli`.
    const outfile = path.join(ROOT, 'dist/.test-cli/scenerec.mjs');
    const { build } = await import('esbuild');
    const b = await build({ entryPoints: [path.join(ROOT, 'scripts/scenerec.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', outfile, logLevel: 'silent' });
    expect(b.errors).toEqual([]);
    const model = path.join(dir, 'model-csv');
    const ins = spawnSync(process.execPath, [outfile, 'inspect', '--model', model], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(ins.status, ins.stderr).toBe(0);
    expect(ins.stdout).toContain('# Model card: model-csv');
    const bad = spawnSync(process.execPath, [outfile, 'check', '--data', path.join(dir, 'bad.csv')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('bad.csv:3: column "timestamp"');
  }, 60_000);
});
