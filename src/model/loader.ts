/**
 * Downloads and checks a scenerec model (model.json + weight shards + vocab.json), through the
 * model cache (./cache.ts). Every failure becomes a typed error whose message names the URL and
 * what to do: ModelLoadError (HTTP status, stall, timeout, bad files, non-finite weights), or
 * AbortError when the caller's signal ended the load.
 */
import * as tf from '@tensorflow/tfjs';
import {
  findNonFinite, NonFiniteWeightsError, specBytes, validateHeader, validateVocab, weightsFromArtifactsInSlices, type LoadedModel, type ModelHeader, type ModelVocab,
} from './artifacts.js';
import { defaultCacheStorage, ModelCache } from './cache.js';
import type { ModelFileStore } from './file-store.js';
import { LoadDeadline } from './deadline.js';
import { weightShapes, type FeatureConfig } from './sasrec.js';
import { DEFAULT_ENGINE_OPTIONS, MODEL_CACHE_REVALIDATE_MS } from '../contract/defaults.js';
import { ModelLoadError, ScenerecError } from '../contract/errors.js';
import type { ModelCacheInfo, ModelCacheMode } from '../contract/protocol.js';
import { yieldToEventLoop, YIELD_EVERY_ITEMS } from '../util/clock.js';
import { resolveRelative } from '../util/url.js';
import { VocabIndex } from './vocab-index.js';
import { vocabCacheUrl, vocabFromCacheText, vocabToCacheText } from './vocab-cache-form.js';

/** Bytes of the weight files received so far (from the network or the cache), and their total. */
export interface DownloadProgress {
  loadedBytes: number;
  totalBytes: number;
}

export interface LoadModelOptions {
  /** Replaces the global fetch (Node tests read files through it). */
  fetch?: typeof fetch;
  /** Download progress of the weights. */
  onProgress?: (p: DownloadProgress) => void;
  /** The load's bound (caller's signal, timeoutMs); none by default. */
  deadline?: LoadDeadline;
  /** A file that receives no data for this long fails. */
  stallTimeoutMs?: number;
  /** Default 'cache-first' (DEFAULT_ENGINE_OPTIONS.modelCache). */
  cache?: ModelCacheMode;
  /** Replaces the realm's Cache Storage (null: none). */
  caches?: CacheStorage | null;
  /** Replaces the realm's origin-private file system for the cached weight files (null: none; see ./file-store.ts). */
  files?: ModelFileStore | null;
  /**
   * Decode an id-only model's float32 or float16 item embedding straight into a HostItemTable
   * (LoadedModel.hostItemTable) instead of a tensor: the CPU backends' fused path (default false).
   * A promise is awaited only once the files are here, before the weights are decoded: the caller
   * starts the download while it still chooses the backend (decoding makes tensors on the backend in
   * use, so it must wait for that choice; a rejection ends the load with that error).
   */
  hostItemTable?: boolean | Promise<boolean>;
  /**
   * Leave the write of a newly downloaded model into the cache to the caller: `loadModel` resolves
   * once the model is decoded, with `cache.storing` true, and the result's `writeCache()` writes it
   * (then `cache.stored` and `cache.error` say how it went). Default false: written before resolving.
   */
  deferCacheWrite?: boolean;
  /**
   * Completes the vocabulary's id index once the vocabulary is parsed (while the weights still
   * arrive; awaited before `loadModel` resolves): the engine lends it its catalog's id map when the
   * catalog lists the vocabulary's items in order (VocabIndex.complete). Default: the vocabulary's
   * own ids are indexed (`index.index()`).
   */
  indexVocab?: (index: VocabIndex) => Promise<void>;
  /**
   * Called once the model's files are being read: from the cache, every file's read is in flight;
   * else as the first network request goes out. A caller with work of its own on this thread (the
   * engine's catalog check) starts it then, so the cache's many small asynchronous steps (Cache
   * Storage, OPFS) do not each wait behind a slice of it. Also called when the load ends before that.
   */
  onReadsStarted?: () => void;
}

export interface LoadedModelFiles extends LoadedModel {
  cache: ModelCacheInfo;
  /** Item id -> model index (1-based), completed while the weights arrived (see `indexVocab`). */
  modelIndex: VocabIndex;
  /**
   * Writes the downloaded model into the cache, once however often it is called, and settles (never
   * rejects) when that is done; settles at once when there is nothing left to write.
   */
  writeCache: () => Promise<void>;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const DEPLOY_HINT = 'Check that modelUrl points to a model.json your app serves, with its weights and vocab.json next to it.';

/**
 * One file's bytes, read with a stall timer between chunks, under the load's deadline; a local copy
 * (the cache's) is read in one piece by `whole`.
 */
async function readFile(
  url: string,
  open: (signal: AbortSignal) => Promise<Response>,
  o: {
    deadline: LoadDeadline; stallMs: number; onBytes?: (n: number) => void; expected?: number;
    whole?: (res: Response, onReading: () => void) => Promise<Uint8Array>;
    /** With `whole`: called once the local copy's bytes are being read. */
    onReading?: () => void;
  },
): Promise<Uint8Array> {
  const ctrl = new AbortController();
  const onEnd = () => ctrl.abort();
  o.deadline.signal.addEventListener('abort', onEnd, { once: true });
  // A fetch (or body) that ignores its signal still ends: every wait races this.
  const ended = new Promise<never>((_, reject) => ctrl.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
  ended.catch(() => undefined);
  let received = 0;
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    if (Number.isFinite(o.stallMs)) timer = setTimeout(() => { stalled = true; ctrl.abort(); }, o.stallMs);
  };
  const of = () => `${received}${o.expected !== undefined ? ` of ${o.expected}` : ''} bytes received`;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    if (o.deadline.signal.aborted) ctrl.abort();
    arm();
    const res = await Promise.race([open(ctrl.signal), ended]);
    if (!res.ok) {
      throw new ModelLoadError(`HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for ${url}. ${DEPLOY_HINT}`, { url, status: res.status });
    }
    const chunks: Uint8Array[] = [];
    if (o.whole) {
      // A local copy (Cache Storage, OPFS): read in one piece, without a JS step per chunk or a second
      // copy to join the chunks; the load's deadline still bounds it.
      clearTimeout(timer);
      const buf = await Promise.race([o.whole(res, () => o.onReading?.()), ended]);
      chunks.push(buf);
      received = buf.byteLength;
      o.onBytes?.(buf.byteLength);
    } else if (res.body) {
      reader = res.body.getReader();
      for (;;) {
        const { done, value } = await Promise.race([reader.read(), ended]);
        if (done) break;
        chunks.push(value);
        received += value.byteLength;
        arm();
        o.onBytes?.(value.byteLength);
      }
    } else {
      const buf = new Uint8Array(await Promise.race([res.arrayBuffer(), ended]));
      chunks.push(buf);
      received = buf.byteLength;
      o.onBytes?.(buf.byteLength);
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(received);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.byteLength; }
    return out;
  } catch (e) {
    if (stalled) {
      throw new ModelLoadError(
        `The download of ${url} stalled: no data for ${o.stallMs} ms (${of()}). Check the connection or the server; stallTimeoutMs sets this bound.`,
        { url, receivedBytes: received, expectedBytes: o.expected, stallTimeoutMs: o.stallMs },
      );
    }
    if (o.deadline.reason) throw o.deadline.error(`downloading ${url}: ${of()}`, { url, receivedBytes: received, expectedBytes: o.expected });
    if (e instanceof ScenerecError) throw e;
    if (o.whole) throw new ModelLoadError(`Could not read the cached copy of ${url}: ${message(e)}.`, { url, cause: message(e) });
    throw new ModelLoadError(`Could not download ${url}: ${message(e)} (${of()}). ${DEPLOY_HINT}`, { url, receivedBytes: received, cause: message(e) });
  } finally {
    clearTimeout(timer);
    o.deadline.signal.removeEventListener('abort', onEnd);
    if (ctrl.signal.aborted) reader?.cancel().catch(() => undefined);
  }
}

interface ManifestFile {
  text: string;
  header: ModelHeader;
  weightSpecs: tf.io.WeightsManifestEntry[];
  /** Shard URLs in order, and the bytes the manifest declares for all of them. */
  shardUrls: string[];
  weightBytes: number;
  vocabUrl: string;
}

function parseManifest(url: string, text: string): ManifestFile {
  let json: { userDefinedMetadata?: unknown; weightsManifest?: tf.io.WeightsManifestConfig };
  try {
    json = JSON.parse(text);
  } catch (e) {
    const htmlHint = /^\s*</.test(text) ? ' (it looks like HTML: a server that answers unknown paths with index.html causes this)' : '';
    throw new ModelLoadError(`Could not load the model from ${url}: cannot parse model JSON${htmlHint}: ${message(e)}. ${DEPLOY_HINT}`, { url, cause: message(e) });
  }
  let header: ModelHeader;
  try {
    header = validateHeader(json?.userDefinedMetadata);
  } catch (e) {
    throw new ModelLoadError(`${url} is not a usable scenerec model: ${message(e)}.`, { url, cause: message(e) });
  }
  const groups = json.weightsManifest;
  if (!Array.isArray(groups) || groups.length === 0) throw new ModelLoadError(`${url} has no weightsManifest. Re-export the model.`, { url });
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const shardUrls: string[] = [];
  let weightBytes = 0;
  try {
    for (const g of groups) {
      for (const p of g.paths) shardUrls.push(resolveRelative(url, p));
      for (const w of g.weights) { weightSpecs.push(w); weightBytes += specBytes(w); }
    }
  } catch (e) {
    throw new ModelLoadError(`${url} has a malformed weightsManifest: ${message(e)}. Re-export the model.`, { url, cause: message(e) });
  }
  return { text, header, weightSpecs, shardUrls, weightBytes, vocabUrl: resolveRelative(url, header.vocabPath) };
}

/** Decodes and checks the weights; the returned tensors are the caller's. */
async function decodeWeights(url: string, m: ManifestFile, data: Uint8Array, hostItemTable: boolean): Promise<Pick<LoadedModel, 'weights' | 'weightBytes' | 'itemTable' | 'hostItemTable'>> {
  if (data.byteLength !== m.weightBytes) {
    throw new ModelLoadError(
      `The weight files of ${url} hold ${data.byteLength} bytes; its weightsManifest declares ${m.weightBytes}. Upload the weights that belong to this model.json.`,
      { url, receivedBytes: data.byteLength, expectedBytes: m.weightBytes },
    );
  }
  const buffer = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength
    ? data.buffer as ArrayBuffer : data.slice().buffer;
  // Not under tf.tidy: it would walk the returned item table value by value. weightsFromArtifacts
  // releases what it decoded when it throws; it finds non-finite values while decoding, and then
  // findNonFinite says where.
  try {
    return await weightsFromArtifactsInSlices({ weightSpecs: m.weightSpecs, weightData: buffer }, weightShapes(m.header.config), {
      hostItemTable: hostItemTable && !m.header.config.features,
    });
  } catch (e) {
    const bad = e instanceof NonFiniteWeightsError ? findNonFinite(buffer, m.weightSpecs) : undefined;
    if (bad) {
      const more = bad.rows > 1 ? ` (${bad.rows} rows of it hold one)` : '';
      throw new ModelLoadError(
        `The weights of ${url} are broken: weight "${bad.name}" has a non-finite value (${bad.value}) at row ${bad.row}, column ${bad.column}${more}. Re-train or re-export the model.`,
        { url, tensor: bad.name, row: bad.row, column: bad.column, rows: bad.rows },
      );
    }
    throw new ModelLoadError(`The weights of ${url} do not match its header: ${message(e)}. Re-export the model.`, { url, cause: message(e) });
  }
}

/** The checked vocabulary and its id index (item id -> model index), not yet completed (VocabIndex.complete). */
async function parseVocab(vocabUrl: string, text: string, numItems: number, features?: FeatureConfig, cachedForm = false): Promise<{ vocab: ModelVocab; index: VocabIndex }> {
  let json: unknown;
  try {
    // The model cache's copy is in its own form (./vocab-cache-form.ts), the served file is JSON.
    json = cachedForm ? vocabFromCacheText(text) : JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(`Could not load the model vocabulary from ${vocabUrl}: ${message(e)}. ${DEPLOY_HINT}`, { url: vocabUrl, cause: message(e) });
  }
  let vocab: ModelVocab;
  try {
    vocab = validateVocab(json, numItems, features);
    const ids = vocab.itemIds;
    for (let i0 = 1; i0 < ids.length; i0 += YIELD_EVERY_ITEMS) {
      if (i0 > 1) await yieldToEventLoop(); // a worker answers pings meanwhile
      const i1 = Math.min(ids.length, i0 + YIELD_EVERY_ITEMS);
      for (let i = i0; i < i1; i++) {
        const id = ids[i];
        if (typeof id !== 'string' || id.length === 0) throw new Error(`vocab.json itemIds[${i}] is not a non-empty string`);
        const p = vocab.popularity[i];
        if (typeof p !== 'number' || !Number.isFinite(p) || p < 0) throw new Error(`vocab.json popularity[${i}] is not a non-negative number`);
      }
    }
  } catch (e) {
    throw new ModelLoadError(`${vocabUrl} is not a valid vocabulary for this model: ${message(e)}.`, { url: vocabUrl, cause: message(e) });
  }
  return { vocab, index: new VocabIndex(vocab.itemIds, vocabUrl) };
}

const decoder = new TextDecoder();

/**
 * Loads and validates a model, through the model cache. The caller owns (and disposes) the
 * returned weights. A cached copy that fails its checks is evicted and fetched again.
 */
export async function loadModel(url: string, options: LoadModelOptions = {}): Promise<LoadedModelFiles> {
  let started = false;
  const readsStarted = () => {
    if (started) return;
    started = true;
    try { options.onReadsStarted?.(); } catch { /* the caller's callback must not break the load */ }
  };
  try {
    return await loadModelFiles(url, options, readsStarted);
  } finally {
    readsStarted(); // a load that ended before its reads
  }
}

async function loadModelFiles(url: string, options: LoadModelOptions, readsStarted: () => void): Promise<LoadedModelFiles> {
  const maybeFetch = options.fetch ?? (typeof fetch === 'function' ? fetch : undefined);
  if (!maybeFetch) throw new ModelLoadError('No fetch function is available to download the model; pass one.', { url });
  const fetchFn: typeof fetch = maybeFetch;
  const deadline = options.deadline ?? new LoadDeadline();
  const stallMs = options.stallTimeoutMs ?? DEFAULT_ENGINE_OPTIONS.stallTimeoutMs;
  const mode = options.cache ?? DEFAULT_ENGINE_OPTIONS.modelCache;
  const cache = mode === 'off' ? undefined : new ModelCache(options.caches === undefined ? defaultCacheStorage() : options.caches, url, options.files);
  const info: ModelCacheInfo = { mode, hit: false, manifest: 'network', stored: false };
  // Called as a plain function: a bare window.fetch called as a method of another object throws "Illegal invocation".
  // A network request is a wait for this thread: the caller's own work can start (`onReadsStarted`).
  const network = (u: string) => (signal: AbortSignal) => { readsStarted(); return fetchFn(u, { signal }); };
  const text = (u: string, open: (s: AbortSignal) => Promise<Response>, o: { whole?: (res: Response, onReading: () => void) => Promise<Uint8Array>; onReading?: () => void } = {}) =>
    readFile(u, open, { deadline, stallMs, ...o }).then((b) => decoder.decode(b));

  // model.json: it names the version, so it decides which cached files may be used.
  let manifestText: string | undefined;
  if (mode === 'cache-first') {
    const cached = await cache?.manifest();
    if (cached && Date.now() - cached.checkedAt < MODEL_CACHE_REVALIDATE_MS) {
      manifestText = cached.text;
      info.manifest = 'cache';
    }
  }
  if (manifestText === undefined) {
    try {
      manifestText = await text(url, network(url));
    } catch (e) {
      const cached = deadline.reason ? undefined : await cache?.manifest();
      if (!cached) throw e;
      manifestText = cached.text; // offline (or the server is down): the last complete cached version
      info.manifest = 'cache';
      info.error = `model.json from the cache: ${message(e)}`;
    }
  }
  const m = parseManifest(url, manifestText);
  const version = m.header.modelVersion;

  // The vocabulary in the cache's own form, else (a cache written before that form) its JSON copy.
  const [cachedVocab, cachedShards] = cache?.available
    ? await Promise.all([
      cache.get(version, vocabCacheUrl(m.vocabUrl)).then(async (r) => (r ? { res: r, form: true } : { res: await cache.get(version, m.vocabUrl), form: false })),
      Promise.all(m.shardUrls.map((u) => cache.getFile(version, u))),
    ])
    : [undefined, []];
  const cached = cachedVocab ? [...cachedShards, cachedVocab.res] : [];
  const sources: Array<'cache' | 'network'> = cached.length > 0 && cached.every((r) => r !== undefined) ? ['cache', 'network'] : ['network'];

  for (const source of sources) {
    const opener = (u: string, i: number) => (source === 'cache' ? async () => cached[i]! : network(u));
    const whole = source === 'cache' ? (res: Response, onReading: () => void) => cache!.bytes(version, res, onReading) : undefined;
    // From the cache, `onReadsStarted` once the vocabulary and every weight file are being read.
    let toStart = m.shardUrls.length + 1;
    const onReading = source === 'cache' ? () => { if (--toStart === 0) readsStarted(); } : undefined;
    let loaded = 0;
    const onBytes = (n: number) => { loaded += n; options.onProgress?.({ loadedBytes: loaded, totalBytes: m.weightBytes }); };
    options.onProgress?.({ loadedBytes: 0, totalBytes: m.weightBytes });
    let weights: LoadedModel['weights'] | undefined;
    try {
      // The vocabulary (the smaller file, there first) is parsed and checked while the weights
      // still arrive: the download is the network's time, the parse this thread's.
      const vocabRead = text(m.vocabUrl, opener(m.vocabUrl, m.shardUrls.length), { whole, onReading });
      // Parsed once the caller's backend is chosen (when `hostItemTable` is a promise): the parse is
      // this thread's work, and a backend's start (the 'auto' probe's timings) should not share it.
      const vocabParsed = Promise.all([vocabRead, options.hostItemTable]).then(async ([t]) => {
        const parsed = await parseVocab(m.vocabUrl, t, m.header.config.numItems, m.header.config.features, source === 'cache' && cachedVocab?.form);
        await (options.indexVocab ? options.indexVocab(parsed.index) : parsed.index.index());
        return parsed;
      });
      vocabParsed.catch(() => undefined); // awaited below; a weight failure first must not leave it unhandled
      const readShard = (i: number) => readFile(m.shardUrls[i], opener(m.shardUrls[i], i), { deadline, stallMs, onBytes, expected: m.weightBytes, whole, onReading });
      let shards: Uint8Array[] = [];
      if (source === 'cache') {
        // Local copies: all read at once (no connection limits or stall timers to share).
        const reads = m.shardUrls.map((_, i) => readShard(i));
        for (const r of reads) r.catch(() => undefined); // awaited together just below
        shards = await Promise.all(reads);
      } else {
        for (let i = 0; i < m.shardUrls.length; i++) shards.push(await readShard(i));
      }
      const [vocabText, { vocab, index }] = await Promise.all([vocabRead, vocabParsed]);
      const total = shards.reduce((n, s) => n + s.byteLength, 0);
      const data = shards.length === 1 ? shards[0] : new Uint8Array(total);
      if (shards.length > 1) { let at = 0; for (const s of shards) { data.set(s, at); at += s.byteLength; } }
      // The files are here; the backend the weights are decoded for may still be starting.
      const decoded = await decodeWeights(url, m, data, (await options.hostItemTable) === true);
      weights = decoded.weights;
      await yieldToEventLoop();
      let writeCache = () => Promise.resolve();
      if (source === 'cache') {
        info.hit = true;
        await cache!.touch(version, info.manifest === 'network');
      } else if (cache) {
        const files = m.shardUrls.map((u, i) => ({ url: u, body: shards[i] as BodyInit, type: 'application/octet-stream', bytes: shards[i] }));
        // The vocabulary in the cache's own form (read back without parsing a million ids from JSON), made at write time.
        const vocabFile = () => vocabToCacheText(vocab).then((t) => (t === undefined
          ? { url: m.vocabUrl, body: vocabText as BodyInit, type: 'application/json' }
          : { url: vocabCacheUrl(m.vocabUrl), body: t as BodyInit, type: 'text/plain' }));
        let written: Promise<void> | undefined;
        writeCache = () => (written ??= vocabFile().then((v) => cache.put(version, [...files, v], m.text)).then((stored) => {
          info.stored = stored;
          if (cache.error) info.error ??= cache.error;
        }, () => undefined).finally(() => { delete info.storing; }));
        if (options.deferCacheWrite) info.storing = true;
        else await writeCache();
      }
      if (cache?.error) info.error ??= cache.error;
      return {
        header: m.header, vocab, modelIndex: index, weights, weightBytes: decoded.weightBytes, itemTable: decoded.itemTable, hostItemTable: decoded.hostItemTable,
        cache: info, writeCache,
      };
    } catch (e) {
      if (weights) tf.dispose(Object.values(weights));
      // A cached copy that fails its checks is dropped, and the network tried once.
      if (source === 'cache' && !deadline.reason && !(e instanceof ScenerecError && e.code === 'ABORTED')) {
        info.error = `the cached copy was refused and evicted: ${message(e)}`;
        await cache!.drop(version);
        continue;
      }
      throw e;
    }
  }
  throw new ModelLoadError(`Could not load the model from ${url}.`, { url }); // not reached: the network source returns or throws
}
