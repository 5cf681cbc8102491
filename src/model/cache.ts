/**
 * The model file cache: Cache Storage (shared by the page and its workers on one origin), one
 * cache per model URL and version, named `scenerec-model:<model.json URL>#<modelVersion>`.
 * A version's cache is complete when it holds model.json: that file is put last.
 *
 * Why Cache Storage and not IndexedDB: it stores the responses as they came (bytes, no structured
 * clone of a multi-MB ArrayBuffer), it is in every worker, and it keeps the model files out of the
 * history database's schema (clearing the model cache never touches the shopper's history).
 *
 * The weight files' bytes go to the origin-private file system where there is one (./file-store.ts:
 * read back faster on a later visit); their Cache Storage entry is then a marker naming the file,
 * under a key of its own (`filesFormUrl`): an SDK that reads only bodies never finds a marker where
 * it expects the weights (it misses, and caches its own copy beside), and a cache written before
 * this form (the bodies under the files' URLs) is still read.
 *
 * Every operation here is soft: a missing `caches`, a quota error or a broken entry makes it a
 * cache miss (reported as `error`), never a failed load. No TF.js here: the page entry imports
 * `clearModelCache`.
 */
import { MODEL_CACHE_PREFIX, MODEL_CACHE_UNUSED_DAYS } from '../contract/defaults.js';
import { defaultModelFileStore, MODEL_FILES_PREFIX, modelFilesDir, type ModelFileStore } from './file-store.js';

/** The Cache Storage of this realm, or null (Node, an opaque origin, some private modes). */
export function defaultCacheStorage(): CacheStorage | null {
  try {
    const c = (globalThis as { caches?: CacheStorage }).caches;
    return c && typeof c.open === 'function' ? c : null;
  } catch {
    return null; // a getter that throws (SecurityError in some private modes)
  }
}

function message(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** The key of the last-use record in a version's cache (a URL that is never fetched). */
const usedKey = (modelUrl: string) => `${modelUrl}?scenerec-last-used`;
/** When model.json was last fetched from the network and matched this version. */
const checkedKey = (modelUrl: string) => `${modelUrl}?scenerec-last-checked`;

const urlPrefix = (modelUrl: string) => `${MODEL_CACHE_PREFIX}${modelUrl}#`;

/** The header of a marker entry: the name of the file store's file that holds the body. */
const STORED_IN = 'X-Scenerec-Stored-In';
/** The marker's byte count of that file (a shorter file is refused). */
const STORED_BYTES = 'X-Scenerec-Stored-Bytes';

/** Names the marker form; a new form gets a new name (and so a new key). */
const FILES_FORM = 'scenerec-opfs-v1';
/** The cache key of a file's marker (a URL that is never fetched). */
const filesFormUrl = (url: string): string => `${url}?${FILES_FORM}`;

/** A file to cache; `bytes` (a weight file) goes to the file store when there is one. */
export interface CacheFile {
  url: string;
  body: BodyInit;
  type: string;
  bytes?: Uint8Array;
}

/** One model URL's cached versions. */
export class ModelCache {
  /** The first failure of a cache operation in this load, if any. */
  error?: string;

  private readonly files: Promise<ModelFileStore | null>;

  /** `files`: where weight files' bytes go (default: this realm's OPFS, if any; null: Cache Storage only). */
  constructor(private readonly storage: CacheStorage | null, private readonly modelUrl: string, files?: ModelFileStore | null) {
    if (!storage) this.error = 'Cache Storage is not available here';
    this.files = !storage ? Promise.resolve(null) : files !== undefined ? Promise.resolve(files) : defaultModelFileStore();
  }

  get available(): boolean {
    return this.storage !== null;
  }

  private fail(what: string, e: unknown): undefined {
    this.error ??= `${what}: ${message(e)}`;
    return undefined;
  }

  private name(version: string): string {
    return `${urlPrefix(this.modelUrl)}${version}`;
  }

  private dirs = new Map<string, Promise<string>>();

  /** The file store's directory of a version (a digest: computed once). */
  private dir(version: string): Promise<string> {
    let d = this.dirs.get(version);
    if (!d) this.dirs.set(version, d = modelFilesDir(this.name(version)));
    return d;
  }

  /**
   * The cached model.json text of this URL (the newest complete version) and when it was last
   * confirmed by the network (ms since the epoch; 0 if never), or undefined.
   */
  async manifest(): Promise<{ version: string; text: string; checkedAt: number } | undefined> {
    if (!this.storage) return undefined;
    try {
      const prefix = urlPrefix(this.modelUrl);
      const names = (await this.storage.keys()).filter((n) => n.startsWith(prefix));
      for (const name of names.reverse()) {
        const cache = await this.storage.open(name);
        const res = await cache.match(this.modelUrl);
        if (!res) continue;
        const checked = await cache.match(checkedKey(this.modelUrl));
        const checkedAt = checked ? Number(await checked.text()) : 0;
        return { version: name.slice(prefix.length), text: await res.text(), checkedAt: Number.isFinite(checkedAt) ? checkedAt : 0 };
      }
      return undefined;
    } catch (e) {
      return this.fail('reading the cached model.json', e);
    }
  }

  /** The cached response of `url` in `version`'s cache, or undefined. */
  async get(version: string, url: string): Promise<Response | undefined> {
    if (!this.storage) return undefined;
    try {
      if (!(await this.storage.has(this.name(version)))) return undefined;
      return await (await this.storage.open(this.name(version))).match(url);
    } catch (e) {
      return this.fail('reading the model cache', e);
    }
  }

  /** A cached weight file's response: its marker (see `bytes`), else its body under its own URL; or undefined. */
  async getFile(version: string, url: string): Promise<Response | undefined> {
    return (await this.get(version, filesFormUrl(url))) ?? this.get(version, url);
  }

  /**
   * The bytes of a cached response `get` or `getFile` returned: its body, or the file store's file a marker names.
   * @throws Error when that file is missing or shorter than the marker says (a broken copy: the
   *   caller drops the version)
   */
  async bytes(version: string, res: Response, onReading?: () => void): Promise<Uint8Array> {
    const name = res.headers.get(STORED_IN);
    if (name === null) {
      const body = res.arrayBuffer();
      onReading?.();
      return new Uint8Array(await body);
    }
    const files = await this.files;
    if (!files) throw new Error('the cached weights are in the origin-private file system, which this realm cannot read');
    const bytes = await files.read(await this.dir(version), name, onReading);
    if (!bytes) throw new Error(`the cached file ${name} is missing from the origin-private file system`);
    const expected = Number(res.headers.get(STORED_BYTES));
    if (bytes.byteLength !== expected) throw new Error(`the cached file ${name} holds ${bytes.byteLength} bytes, not ${expected}`);
    return bytes;
  }

  /**
   * Stores a complete version (model.json last), then evicts this URL's other versions and other
   * URLs' models unused for MODEL_CACHE_UNUSED_DAYS. Returns true when stored.
   */
  async put(version: string, files: CacheFile[], manifestText: string): Promise<boolean> {
    if (!this.storage) return false;
    const name = this.name(version);
    const store = await this.files;
    try {
      // Opened first: the cache's name is listed before its files exist (see `evict`'s sweep).
      const cache = await this.storage.open(name);
      const dir = store ? await this.dir(version) : '';
      if (store) await store.removeDir(dir); // a copy of this version that was dropped while written
      for (const [i, f] of files.entries()) {
        if (store && f.bytes) {
          const file = `file-${i}.bin`;
          await store.write(dir, file, f.bytes);
          await cache.put(filesFormUrl(f.url), new Response('', { headers: { 'Content-Type': f.type, [STORED_IN]: file, [STORED_BYTES]: String(f.bytes.byteLength) } }));
        } else {
          await cache.put(f.url, new Response(f.body, { headers: { 'Content-Type': f.type } }));
        }
      }
      await cache.put(usedKey(this.modelUrl), new Response(String(Date.now())));
      await cache.put(checkedKey(this.modelUrl), new Response(String(Date.now())));
      await cache.put(this.modelUrl, new Response(manifestText, { headers: { 'Content-Type': 'application/json' } }));
    } catch (e) {
      // A half-written version (quota) must not be found later.
      try { await this.storage.delete(name); } catch { /* nothing more to do */ }
      try { if (store) await store.removeDir(await this.dir(version)); } catch { /* nothing more to do */ }
      this.fail('storing the model in the cache', e);
      return false;
    }
    await this.evict(version);
    return true;
  }

  /**
   * Records that `version` was loaded now (keeps it from the unused-model eviction) and, when
   * `checked`, that the network's model.json named it just now.
   */
  async touch(version: string, checked = false): Promise<void> {
    if (!this.storage) return;
    try {
      const cache = await this.storage.open(this.name(version));
      await cache.put(usedKey(this.modelUrl), new Response(String(Date.now())));
      if (checked) await cache.put(checkedKey(this.modelUrl), new Response(String(Date.now())));
    } catch (e) {
      this.fail('updating the model cache', e);
    }
    await this.evict(version);
  }

  /** Drops a version (a cached copy that failed its checks). */
  async drop(version: string): Promise<void> {
    try {
      await this.storage?.delete(this.name(version));
      const store = await this.files;
      if (store) await store.removeDir(await this.dir(version));
    } catch (e) {
      this.fail('evicting from the model cache', e);
    }
  }

  private async evict(keep: string): Promise<void> {
    if (!this.storage) return;
    try {
      const store = await this.files;
      // Listed before the caches: a version whose files are listed was opened before them (`put`).
      const dirs = store ? await store.dirs(MODEL_FILES_PREFIX) : [];
      const mine = urlPrefix(this.modelUrl);
      const oldest = Date.now() - MODEL_CACHE_UNUSED_DAYS * 86_400_000;
      const kept = new Set<string>();
      for (const name of await this.storage.keys()) {
        if (!name.startsWith(MODEL_CACHE_PREFIX)) continue;
        let gone = false;
        if (name !== this.name(keep)) {
          if (name.startsWith(mine)) gone = true;
          else {
            const url = name.slice(MODEL_CACHE_PREFIX.length, name.indexOf('#', MODEL_CACHE_PREFIX.length));
            const used = await (await this.storage.open(name)).match(usedKey(url));
            const at = used ? Number(await used.text()) : 0;
            gone = !(at >= oldest);
          }
        }
        if (gone) await this.storage.delete(name);
        else if (store) kept.add(await modelFilesDir(name));
      }
      // The files of versions no cache lists (evicted, cleared, or a write that died half-way).
      for (const dir of dirs) if (!kept.has(dir)) await store!.removeDir(dir);
    } catch (e) {
      this.fail('evicting old models from the cache', e);
    }
  }
}

/**
 * Deletes every cached model file (all URLs and versions) of this origin, in Cache Storage and the
 * origin-private file system; the shopper's history is untouched. Works without a loaded model, on
 * the page or in a worker. Resolves with the number of model versions removed (0 where Cache
 * Storage is unavailable).
 */
export async function clearModelCache(storage: CacheStorage | null = defaultCacheStorage()): Promise<number> {
  return clearCachedModels(storage, storage ? await defaultModelFileStore() : null);
}

/** clearModelCache with the file store given (tests). */
export async function clearCachedModels(storage: CacheStorage | null, files: ModelFileStore | null): Promise<number> {
  let removed = 0;
  if (storage) {
    for (const name of await storage.keys()) {
      if (name.startsWith(MODEL_CACHE_PREFIX) && await storage.delete(name)) removed++;
    }
  }
  if (files) for (const dir of await files.dirs(MODEL_FILES_PREFIX)) await files.removeDir(dir);
  return removed;
}
