/**
 * Downloads and checks a scenerec model (model.json + weight shards + vocab.json).
 * Every failure becomes a ModelLoadError whose message names the URL and what to do.
 */
import * as tf from '@tensorflow/tfjs';
import {
  validateHeader, validateVocab, weightsFromArtifacts, type LoadedModel, type ModelVocab,
} from './artifacts.js';
import { weightShapes, type FeatureConfig } from './sasrec.js';
import { ModelLoadError } from '../contract/errors.js';
import { resolveRelative } from '../util/url.js';

export interface LoadModelOptions {
  /** Replaces the global fetch (Node tests read files through it). */
  fetch?: typeof fetch;
  /** Download progress of the weights, 0..1. */
  onProgress?: (fraction: number) => void;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const DEPLOY_HINT = 'Check that modelUrl points to a model.json your app serves, with its weights and vocab.json next to it.';

/** Loads and validates a model. The caller owns (and disposes) the returned weights. */
export async function loadModel(url: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const maybeFetch = options.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (!maybeFetch) throw new ModelLoadError('No fetch function is available to download the model; pass one.', { url });
  const fetchFn: typeof fetch = maybeFetch;
  // tf.io calls fetchFunc as a method of its own object; a bare window.fetch would throw "Illegal invocation".
  const fetchFunc = ((input: RequestInfo | URL, init?: RequestInit) => fetchFn(input, init)) as typeof fetch;

  let artifacts: tf.io.ModelArtifacts;
  try {
    const handler = tf.io.http(url, { fetchFunc, onProgress: options.onProgress });
    artifacts = await handler.load!(); // http handlers always implement load
  } catch (e) {
    const m = message(e);
    const htmlHint = /parse model JSON/i.test(m) ? ' (a server that answers unknown paths with index.html causes this)' : '';
    throw new ModelLoadError(`Could not load the model from ${url}: ${m}${htmlHint}. ${DEPLOY_HINT}`, { url, cause: m });
  }

  let header;
  try {
    header = validateHeader(artifacts.userDefinedMetadata);
  } catch (e) {
    throw new ModelLoadError(`${url} is not a usable scenerec model: ${message(e)}.`, { url, cause: message(e) });
  }

  let weights;
  try {
    // tidy: if the check throws part-way, the tensors decoded so far are released too.
    weights = tf.tidy(() => weightsFromArtifacts(artifacts, weightShapes(header.config)));
  } catch (e) {
    throw new ModelLoadError(`The weights of ${url} do not match its header: ${message(e)}. Re-export the model.`, { url, cause: message(e) });
  }

  const vocabUrl = resolveRelative(url, header.vocabPath);
  try {
    const vocab = await loadVocab(vocabUrl, fetchFunc, header.config.numItems, header.config.features);
    return { header, vocab, weights: weights.weights, weightBytes: weights.weightBytes };
  } catch (e) {
    tf.dispose(Object.values(weights.weights));
    throw e;
  }
}

async function loadVocab(vocabUrl: string, fetchFunc: typeof fetch, numItems: number, features?: FeatureConfig): Promise<ModelVocab> {
  let json: unknown;
  try {
    const res = await fetchFunc(vocabUrl);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    json = await res.json();
  } catch (e) {
    throw new ModelLoadError(`Could not load the model vocabulary from ${vocabUrl}: ${message(e)}. ${DEPLOY_HINT}`, { url: vocabUrl, cause: message(e) });
  }
  let vocab: ModelVocab;
  try {
    vocab = validateVocab(json, numItems, features);
    const seen = new Set<string>();
    for (let i = 1; i < vocab.itemIds.length; i++) {
      const id = vocab.itemIds[i];
      if (typeof id !== 'string' || id.length === 0) throw new Error(`vocab.json itemIds[${i}] is not a non-empty string`);
      if (seen.has(id)) throw new Error(`vocab.json lists the item id "${id}" twice`);
      seen.add(id);
      const p = vocab.popularity[i];
      if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) throw new Error(`vocab.json popularity[${i}] is not a non-negative number`);
    }
  } catch (e) {
    throw new ModelLoadError(`${vocabUrl} is not a valid vocabulary for this model: ${message(e)}.`, { url: vocabUrl, cause: message(e) });
  }
  return vocab;
}
