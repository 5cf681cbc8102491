/** Node-side file handling for training and evaluation: datasets, model artifacts, checkpoints. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { DataFormatError, parseDataset, type SequenceDataset } from './data.js';
import {
  MODEL_FORMAT, MODEL_FORMAT_VERSION, serializeModel, validateHeader, validateVocab, weightsFromArtifacts,
  type LoadedModel, type ModelHeader, type ModelVocab,
} from '../src/model/artifacts.js';
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

/** Collapses immediate repeats of the same item (a click then a cart of one item is one step), as the SDK does. */
export function collapseRepeats(ds: SequenceDataset): SequenceDataset {
  const sequences: Int32Array[] = [];
  const behaviours: Uint8Array[] = [];
  let total = 0;
  ds.sequences.forEach((s, u) => {
    const b = ds.behaviours[u];
    const os: number[] = [];
    const ob: number[] = [];
    for (let i = 0; i < s.length; i++) {
      if (os.length && os[os.length - 1] === s[i]) { ob[ob.length - 1] = Math.max(ob[ob.length - 1], b[i]); continue; }
      os.push(s[i]); ob.push(b[i]);
    }
    sequences.push(Int32Array.from(os)); behaviours.push(Uint8Array.from(ob));
    total += os.length;
  });
  return { ...ds, sequences, behaviours, dates: undefined, numInteractions: total };
}

/** Re-indexes a dataset into a model's vocabulary (items the model does not know are dropped). */
export function remapToVocab(ds: SequenceDataset, vocab: ModelVocab): { dataset: SequenceDataset; unknownItems: number } {
  const index = new Map<string, number>();
  vocab.itemIds.forEach((id, i) => { if (i > 0) index.set(id, i); });
  let unknown = 0;
  const sequences = ds.sequences.map((s) => {
    const out: number[] = [];
    for (const i of s) { const m = index.get(ds.itemIds[i]); if (m === undefined) unknown++; else out.push(m); }
    return Int32Array.from(out);
  });
  return { dataset: { ...ds, sequences, itemIds: vocab.itemIds, numItems: vocab.itemIds.length - 1 }, unknownItems: unknown };
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
    format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, modelVersion: 'pending', architecture: config.features ? 'sasrec-mtl' : 'sasrec',
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
