/**
 * The model file cache: Cache Storage (shared by the page and its workers on one origin), one
 * cache per model URL and version, named `scenerec-model:<model.json URL>#<modelVersion>`.
 * A version's cache is complete when it holds model.json: that file is put last.
 *
 * Why Cache Storage and not IndexedDB: it stores the responses as they came (bytes, no structured
 * clone of a multi-MB ArrayBuffer), it is in every worker, and it keeps the model files out of the
 * history database's schema (clearing the model cache never touches the shopper's history).
 *
 * Every operation here is soft: a missing `caches`, a quota error or a broken entry makes it a
 * cache miss (reported as `error`), never a failed load. No TF.js here: the page entry imports
 * `clearModelCache`.
 */
import { MODEL_CACHE_PREFIX, MODEL_CACHE_UNUSED_DAYS } from '../contract/defaults.js';

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

/** One model URL's cached versions. */
export class ModelCache {
  /** The first failure of a cache operation in this load, if any. */
  error?: string;

  constructor(private readonly storage: CacheStorage | null, private readonly modelUrl: string) {
    if (!storage) this.error = 'Cache Storage is not available here';
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

  /**
   * Stores a complete version (model.json last), then evicts this URL's other versions and other
   * URLs' models unused for MODEL_CACHE_UNUSED_DAYS. Returns true when stored.
   */
  async put(version: string, files: Array<{ url: string; body: BodyInit; type: string }>, manifestText: string): Promise<boolean> {
    if (!this.storage) return false;
    const name = this.name(version);
    try {
      const cache = await this.storage.open(name);
      for (const f of files) await cache.put(f.url, new Response(f.body, { headers: { 'Content-Type': f.type } }));
      await cache.put(usedKey(this.modelUrl), new Response(String(Date.now())));
      await cache.put(checkedKey(this.modelUrl), new Response(String(Date.now())));
      await cache.put(this.modelUrl, new Response(manifestText, { headers: { 'Content-Type': 'application/json' } }));
    } catch (e) {
      // A half-written version (quota) must not be found later.
      try { await this.storage.delete(name); } catch { /* nothing more to do */ }
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
    try { await this.storage?.delete(this.name(version)); } catch (e) { this.fail('evicting from the model cache', e); }
  }

  private async evict(keep: string): Promise<void> {
    if (!this.storage) return;
    try {
      const mine = urlPrefix(this.modelUrl);
      const oldest = Date.now() - MODEL_CACHE_UNUSED_DAYS * 86_400_000;
      for (const name of await this.storage.keys()) {
        if (!name.startsWith(MODEL_CACHE_PREFIX) || name === this.name(keep)) continue;
        if (name.startsWith(mine)) { await this.storage.delete(name); continue; }
        const url = name.slice(MODEL_CACHE_PREFIX.length, name.indexOf('#', MODEL_CACHE_PREFIX.length));
        const used = await (await this.storage.open(name)).match(usedKey(url));
        const at = used ? Number(await used.text()) : 0;
        if (!(at >= oldest)) await this.storage.delete(name);
      }
    } catch (e) {
      this.fail('evicting old models from the cache', e);
    }
  }
}

/**
 * Deletes every cached model file (all URLs and versions) of this origin; the shopper's history is
 * untouched. Works without a loaded model, on the page or in a worker. Resolves with the number of
 * model versions removed (0 where Cache Storage is unavailable).
 */
export async function clearModelCache(storage: CacheStorage | null = defaultCacheStorage()): Promise<number> {
  if (!storage) return 0;
  let removed = 0;
  for (const name of await storage.keys()) {
    if (name.startsWith(MODEL_CACHE_PREFIX) && await storage.delete(name)) removed++;
  }
  return removed;
}
