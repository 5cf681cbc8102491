/** Node-side file handling for training and evaluation: datasets, model artifacts, checkpoints. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { DataFormatError, parseDataset, type SequenceDataset } from './data.js';
import {
  formatVersionOf, MODEL_FORMAT, serializeModel, validateHeader, validateVocab, weightsFromArtifacts,
  type LoadedModel, type ModelHeader, type ModelVocab,
} from '../src/model/artifacts.js';
import { modelSequence, type SequenceOptions } from '../src/model/inputs.js';
import { weightShapes, type SasRecConfig, type WeightMap } from '../src/model/sasrec.js';
import type { Checkpoint, TrainState } from './train.js';

/** Picks the fastest Node backend measured here (wasm; the pure-JS cpu backend is far slower for training). */
export async function setNodeBackend(name = 'wasm'): Promise<string> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`TF.js backend "${name}" could not be initialised`);
  await tf.ready();
  return tf.getBackend();
}

export function readDataset(file: string, format: string): SequenceDataset {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataFormatError(file, 0, `cannot read file: ${(e as Error).message}`);
  }
  return parseDataset(text, format, file);
}

/** Options of `modelSequences`: the featuriser's repeat rule, and the vocabulary the sequences index. */
export interface ModelSequencesOptions extends Partial<SequenceOptions> {
  /** The model's items (index 0 = padding); items outside it are dropped. Default: every item of the log. */
  itemIds?: readonly string[];
}

/**
 * Each user's log as a single-objective model's sequence, through the featuriser
 * (src/model/inputs.ts `modelSequence`, the serving rule unless `repeats` says otherwise). A step's
 * behaviour is the highest of its events (a click then a cart of one item is a cart step), its date
 * the first event's. `unknownItems` counts the interactions dropped for items outside `itemIds`.
 */
export function modelSequences(ds: SequenceDataset, options: ModelSequencesOptions = {}): { dataset: SequenceDataset; unknownItems: number } {
  const itemIds = options.itemIds ?? ds.itemIds;
  let modelOf: (i: number) => number | undefined = (i) => (i > 0 ? i : undefined);
  if (options.itemIds) {
    const index = new Map<string, number>();
    itemIds.forEach((id, i) => { if (i > 0) index.set(id, i); });
    const map = ds.itemIds.map((id) => index.get(id));
    modelOf = (i) => map[i];
  }
  const sequences: Int32Array[] = [];
  const behaviours: Uint8Array[] = [];
  const dates: Int32Array[] = [];
  let total = 0;
  let unknown = 0;
  ds.sequences.forEach((s, u) => {
    const { ids, stepOf } = modelSequence(s, modelOf, options);
    const b = new Uint8Array(ids.length);
    const d = new Int32Array(ids.length);
    const rawB = ds.behaviours[u];
    const rawD = ds.dates?.[u];
    for (let i = s.length - 1; i >= 0; i--) {
      const k = stepOf[i];
      if (k < 0) { unknown++; continue; }
      b[k] = Math.max(b[k], rawB[i]);
      if (rawD) d[k] = rawD[i];
    }
    sequences.push(Int32Array.from(ids)); behaviours.push(b); dates.push(d);
    total += ids.length;
  });
  return {
    dataset: {
      ...ds, sequences, behaviours, dates: ds.dates ? dates : undefined,
      itemIds: [...itemIds], numItems: itemIds.length - 1, numInteractions: total,
    },
    unknownItems: unknown,
  };
}

/**
 * The single-objective trainer's sequences: the vocabulary is the items with at least `minItemCount`
 * steps (counted over the sequences with every item known), in first-seen order; the sequences are
 * then built over it by `modelSequences`.
 */
export function trainingSequences(ds: SequenceDataset, minItemCount: number, options: Partial<SequenceOptions> = {}): SequenceDataset {
  const all = modelSequences(ds, options).dataset;
  if (minItemCount <= 1) return all;
  const counts = new Int32Array(all.numItems + 1);
  for (const s of all.sequences) for (const i of s) counts[i]++;
  const itemIds = all.itemIds.filter((_, i) => i === 0 || counts[i] >= minItemCount);
  return modelSequences(ds, { ...options, itemIds }).dataset;
}

export async function saveModel(
  dir: string,
  config: SasRecConfig,
  weights: WeightMap,
  vocab: ModelVocab,
  weightDtype: 'float32' | 'float16',
  tag: string,
): Promise<{ header: ModelHeader; bytes: number }> {
  fs.mkdirSync(dir, { recursive: true });
  const order = weightShapes(config).map(([n]) => n);
  const header: ModelHeader = {
    format: MODEL_FORMAT, formatVersion: formatVersionOf(config), modelVersion: 'pending', architecture: config.features ? 'sasrec-mtl' : 'sasrec',
    config: { ...config, dropout: config.dropout }, vocabPath: 'vocab.json', weightDtype,
  };
  let files = await serializeModel(header, vocab, weights, order);
  // The version is a content hash, so a changed model always gets a new cache key.
  const hash = crypto.createHash('sha256').update(files['weights.bin']).update(files['vocab.json']).digest('hex').slice(0, 12);
  header.modelVersion = `${tag}-${hash}`;
  files = await serializeModel(header, vocab, weights, order);
  fs.writeFileSync(path.join(dir, 'model.json'), files['model.json']);
  fs.writeFileSync(path.join(dir, 'vocab.json'), files['vocab.json']);
  fs.writeFileSync(path.join(dir, 'weights.bin'), files['weights.bin']);
  return { header, bytes: files['weights.bin'].byteLength + Buffer.byteLength(files['vocab.json']) + Buffer.byteLength(files['model.json']) };
}

export function loadModelDir(dir: string): LoadedModel {
  const file = path.join(dir, 'model.json');
  if (!fs.existsSync(file)) throw new Error(`${file} not found: --model must be a folder with model.json, weights.bin, vocab.json`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const header = validateHeader(json.userDefinedMetadata);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const data = Buffer.concat(buffers);
  const artifacts: tf.io.ModelArtifacts = {
    weightSpecs: specs,
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
  };
  const { weights, weightBytes } = weightsFromArtifacts(artifacts, weightShapes(header.config));
  const vocab = validateVocab(JSON.parse(fs.readFileSync(path.join(dir, header.vocabPath), 'utf8')), header.config.numItems, header.config.features);
  return { header, vocab, weights, weightBytes };
}

// ---- checkpoints: weights, best weights and Adam slots in one TF.js weights file, plus JSON state ----

export async function saveCheckpoint(dir: string, ckpt: Checkpoint, meta: Record<string, unknown>): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const named: tf.NamedTensorMap = {};
  for (const [k, t] of Object.entries(ckpt.weights)) named[`w/${k}`] = t;
  for (const [k, t] of Object.entries(ckpt.best)) named[`b/${k}`] = t;
  for (const n of ckpt.optimizer) named[`o/${n.name}`] = n.tensor;
  const { data, specs } = await tf.io.encodeWeights(named);
  const tmp = path.join(dir, 'weights.bin.tmp');
  fs.writeFileSync(tmp, Buffer.from(data as ArrayBuffer));
  fs.writeFileSync(path.join(dir, 'checkpoint.json.tmp'), JSON.stringify({ state: ckpt.state, specs, meta }));
  // Rename last so an interrupted save never leaves a half-written checkpoint.
  fs.renameSync(tmp, path.join(dir, 'weights.bin'));
  fs.renameSync(path.join(dir, 'checkpoint.json.tmp'), path.join(dir, 'checkpoint.json'));
  // Adam's getWeights() returns its live slot variables (and a fresh iteration count): only that one is ours.
  ckpt.optimizer.filter((n) => n.name === 'iter').forEach((n) => n.tensor.dispose());
}

export function loadCheckpoint(dir: string): { ckpt: Checkpoint; meta: Record<string, unknown> } | undefined {
  const file = path.join(dir, 'checkpoint.json');
  if (!fs.existsSync(file)) return undefined;
  const { state, specs, meta } = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    state: TrainState; specs: tf.io.WeightsManifestEntry[]; meta: Record<string, unknown>;
  };
  const buf = fs.readFileSync(path.join(dir, 'weights.bin'));
  const named = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), specs);
  const weights: WeightMap = {};
  const best: WeightMap = {};
  const optimizer: Array<{ name: string; tensor: tf.Tensor }> = [];
  for (const [k, t] of Object.entries(named)) {
    if (k.startsWith('w/')) weights[k.slice(2)] = t;
    else if (k.startsWith('b/')) best[k.slice(2)] = t;
    else optimizer.push({ name: k.slice(2), tensor: t });
  }
  return { ckpt: { state, weights, best, optimizer }, meta };
}

/** Items' interaction counts, as vocab popularity. */
export function vocabFor(ds: SequenceDataset): ModelVocab {
  const popularity = new Array<number>(ds.numItems + 1).fill(0);
  for (const s of ds.sequences) for (const i of s) popularity[i]++;
  return { itemIds: ds.itemIds, popularity };
}
