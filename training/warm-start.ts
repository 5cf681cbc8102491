/**
 * Warm start (`train --init-from DIR`): the first weights of a training run taken from an earlier
 * model folder instead of a fresh initialisation, so a model for a changed catalog starts from what
 * the earlier one learned.
 *
 * Rows of the id-indexed tables (item, and for the multi-task model category and brand embeddings)
 * are matched by shop id through the two vocabularies: a known id keeps its learned row, a new id
 * gets the row a cold start would give it (the same seed's `initWeights`), an id the new data lacks
 * is dropped. In the multi-task model a new item's vector is its id row plus its category, brand and
 * price rows, so the learned content tables give new items a start. Every other weight is copied
 * when its shape matches. A different architecture or model shape is a `WarmStartError`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initWeights, weightShapes, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';
import type { LoadedModel, ModelVocab } from '../src/model/artifacts.js';
import { loadModelDir } from './node-io.js';
import { UsageError } from './cli.js';

/** Why a warm start was refused. */
export type WarmStartErrorCode = 'WARM_START_NOT_A_MODEL' | 'WARM_START_ARCHITECTURE' | 'WARM_START_SHAPE';

/** A refused `--init-from`: the folder is no model, or its architecture or shape differs from the run's. Exit code 2 in the commands. */
export class WarmStartError extends UsageError {
  readonly code: WarmStartErrorCode;
  constructor(code: WarmStartErrorCode, message: string) {
    super(message);
    this.name = 'WarmStartError';
    this.code = code;
  }
}

/** The model shape fields a warm start needs equal, with the flag that sets each. */
export const SHAPE_FLAGS = { hiddenDim: 'hidden', numBlocks: 'blocks', numHeads: 'heads', ffnDim: 'ffn', maxLen: 'max-len' } as const;
export type ShapeKey = keyof typeof SHAPE_FLAGS;

/** How the ids of one table moved from the earlier model to this run. */
export interface IdMapping {
  /** Ids in both: their learned rows are kept. */
  kept: number;
  /** Ids new in this run: rows as a cold start initialises them. */
  added: number;
  /** Ids of the earlier model this run's data lacks. */
  dropped: number;
}

/** What a warm start took from the earlier model (printed, and kept in training.json and the model card). */
export interface WarmStartReport {
  from: string;
  modelVersion: string;
  architecture: string;
  items: IdMapping;
  categories?: IdMapping;
  brands?: IdMapping;
  /** Weights copied whole. */
  copied: string[];
  /** Tables whose rows were matched by id. */
  remapped: string[];
  /** Weights left at a fresh initialisation (their shape changed, or the earlier model lacks them). */
  fresh: string[];
}

/** Reads an earlier model folder; a missing or unreadable one is a `WarmStartError`. Caller disposes its weights. */
export function readInitModel(dir: string): LoadedModel {
  if (!fs.existsSync(path.join(dir, 'model.json'))) {
    throw new WarmStartError('WARM_START_NOT_A_MODEL', `--init-from ${dir}: no model.json there; pass the folder an earlier \`scenerec train --out\` wrote (model.json, weights.bin, vocab.json)`);
  }
  try {
    return loadModelDir(dir);
  } catch (e) {
    throw new WarmStartError('WARM_START_NOT_A_MODEL', `--init-from ${dir}: cannot read the model (${(e as Error).message}); pass a complete model folder (model.json, weights.bin, vocab.json)`);
  }
}

/** The architecture name of a model config. */
export const architectureOf = (config: SasRecConfig): 'sasrec' | 'sasrec-mtl' => (config.features ? 'sasrec-mtl' : 'sasrec');

/** Refuses a warm start from a model of another architecture (`a`: the earlier model's, `b`: this run's). */
export function checkArchitecture(a: 'sasrec' | 'sasrec-mtl', b: 'sasrec' | 'sasrec-mtl', from: string): void {
  if (a === b) return;
  const model = a === 'sasrec-mtl' ? 'mtl' : 'sasrec';
  throw new WarmStartError('WARM_START_ARCHITECTURE', `--init-from ${from} is a ${a} model and this run trains ${b}: pass --model ${model}${model === 'mtl' ? ' (with --items)' : ''} (npm run train: --arch ${model}) to continue it, or train without --init-from`);
}

/**
 * Refuses a warm start across architectures, model shapes or task heads, with a message that says
 * which flags to pass.
 */
export function checkWarmStart(prev: SasRecConfig, next: SasRecConfig, from: string): void {
  checkArchitecture(architectureOf(prev), architectureOf(next), from);
  const diff = (Object.keys(SHAPE_FLAGS) as ShapeKey[]).filter((k) => prev[k] !== next[k]);
  if (diff.length > 0) {
    const want = diff.map((k) => `--${SHAPE_FLAGS[k]} ${prev[k]}`).join(' ');
    const got = diff.map((k) => `--${SHAPE_FLAGS[k]} ${next[k]}`).join(' ');
    throw new WarmStartError('WARM_START_SHAPE', `--init-from ${from} has another model shape (${want}; this run: ${got}): pass ${want} (or leave these flags out: they default to the earlier model's), or train without --init-from`);
  }
  const ta = prev.features?.tasks.join(',') ?? '';
  const tb = next.features?.tasks.join(',') ?? '';
  if (ta !== tb) throw new WarmStartError('WARM_START_SHAPE', `--init-from ${from} has task heads ${ta} and this run ${tb}: train without --init-from`);
}

/** The earlier model's shape, as defaults for the flags a warm-started run leaves out. */
export function shapeOf(config: SasRecConfig): Pick<SasRecConfig, ShapeKey> {
  return { hiddenDim: config.hiddenDim, numBlocks: config.numBlocks, numHeads: config.numHeads, ffnDim: config.ffnDim, maxLen: config.maxLen };
}

/** Copies the rows of `from` (ids `fromIds`) into `into` (ids `intoIds`) where the id is in both; index 0 (padding / unknown) as well. */
function remapRows(into: Float32Array, intoIds: readonly string[], from: Float32Array, fromIds: readonly string[], d: number): IdMapping {
  const index = new Map<string, number>();
  fromIds.forEach((id, j) => { if (j > 0) index.set(id, j); });
  into.set(from.subarray(0, d), 0);
  let kept = 0;
  for (let i = 1; i < intoIds.length; i++) {
    const j = index.get(intoIds[i]);
    if (j === undefined) continue;
    into.set(from.subarray(j * d, (j + 1) * d), i * d);
    kept++;
  }
  return { kept, added: intoIds.length - 1 - kept, dropped: fromIds.length - 1 - kept };
}

/**
 * The first weights of a warm-started run of `config` over `vocab`, from the earlier model `prev`
 * (checked with `checkWarmStart`). Rows of new ids and weights that cannot be copied are those of
 * `initWeights(config, seed)`, as a cold start has them. Caller disposes the returned weights.
 */
export function warmStartWeights(prev: LoadedModel, config: SasRecConfig, vocab: ModelVocab, seed: number, from: string): { weights: WeightMap; report: WarmStartReport } {
  checkWarmStart(prev.header.config, config, from);
  const fresh = initWeights(config, seed);
  const d = config.hiddenDim;
  const report: WarmStartReport = {
    from, modelVersion: prev.header.modelVersion, architecture: architectureOf(config),
    items: { kept: 0, added: 0, dropped: 0 }, copied: [], remapped: [], fresh: [],
  };
  const tables: Record<string, { next: readonly string[]; prev: readonly string[]; key: 'items' | 'categories' | 'brands' }> = {
    itemEmbedding: { next: vocab.itemIds, prev: prev.vocab.itemIds, key: 'items' },
  };
  if (vocab.features && prev.vocab.features) {
    tables.categoryEmbedding = { next: vocab.features.categoryIds, prev: prev.vocab.features.categoryIds, key: 'categories' };
    tables.brandEmbedding = { next: vocab.features.brandIds, prev: prev.vocab.features.brandIds, key: 'brands' };
  }
  const out: WeightMap = {};
  for (const [name, shape] of weightShapes(config)) {
    const old = prev.weights[name];
    const table = tables[name];
    if (table && old) {
      const rows = fresh[name].dataSync() as Float32Array;
      const into = Float32Array.from(rows);
      report[table.key] = remapRows(into, table.next, old.dataSync() as Float32Array, table.prev, d);
      out[name] = tf.tensor2d(into, shape as [number, number]);
      report.remapped.push(name);
    } else if (old && old.shape.length === shape.length && old.shape.every((s, i) => s === shape[i])) {
      out[name] = old.clone();
      report.copied.push(name);
    } else {
      out[name] = fresh[name].clone();
      report.fresh.push(name);
    }
  }
  tf.dispose(Object.values(fresh));
  return { weights: out, report };
}

/** One line for the console and the model card. */
export function describeWarmStart(r: WarmStartReport): string {
  const m = (x: IdMapping, what: string) => `${what} ${x.kept} kept, ${x.added} added, ${x.dropped} dropped`;
  const parts = [m(r.items, 'items')];
  if (r.categories) parts.push(m(r.categories, 'categories'));
  if (r.brands) parts.push(m(r.brands, 'brands'));
  const fresh = r.fresh.length ? `; started fresh (shape changed): ${r.fresh.join(', ')}` : '';
  return `warm start from ${r.from} (${r.architecture} ${r.modelVersion}): ${parts.join('; ')}; ${r.copied.length} other weights copied${fresh}`;
}
