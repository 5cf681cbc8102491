/**
 * Cache Storage for Node (which has none): the subset of the DOM API the model cache uses
 * (open, has, delete, keys; match, put), keeping bodies as bytes. The real one is exercised in
 * Chromium by tests/e2e/faults/loading.spec.ts. `failPuts` makes every put throw a
 * QuotaExceededError, as a full origin does.
 */
import type { ModelFileStore } from '../../src/model/file-store.js';

class MemoryCache {
  readonly entries = new Map<string, { body: Uint8Array; headers: [string, string][] }>();
  constructor(private readonly owner: MemoryCacheStorage) {}

  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    const e = this.entries.get(String(request instanceof Request ? request.url : request));
    return e && new Response(e.body.slice(), { headers: e.headers });
  }

  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    if (this.owner.putDelayMs > 0) await new Promise((r) => setTimeout(r, this.owner.putDelayMs));
    if (this.owner.failPuts) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    const body = new Uint8Array(await response.arrayBuffer());
    this.entries.set(String(request instanceof Request ? request.url : request), { body, headers: [...response.headers] });
  }
}

export class MemoryCacheStorage {
  readonly caches = new Map<string, MemoryCache>();
  failPuts = false;
  /** Each put waits this long first (a slow disk: the write spans timer turns). */
  putDelayMs = 0;

  async open(name: string): Promise<MemoryCache> {
    let c = this.caches.get(name);
    if (!c) this.caches.set(name, c = new MemoryCache(this));
    return c;
  }

  async has(name: string): Promise<boolean> { return this.caches.has(name); }
  async delete(name: string): Promise<boolean> { return this.caches.delete(name); }
  async keys(): Promise<string[]> { return [...this.caches.keys()]; }

  /** As the model cache takes it. */
  get storage(): CacheStorage { return this as unknown as CacheStorage; }
}

/**
 * The origin-private file system for Node (which has none), as the model cache takes it
 * (src/model/file-store.ts). The real one is exercised in Chromium by tests/e2e/faults/loading.spec.ts.
 * `failWrites` makes every write throw a QuotaExceededError.
 */
export class MemoryFileStore implements ModelFileStore {
  readonly files = new Map<string, Map<string, Uint8Array>>();
  failWrites = false;
  reads = 0;

  async read(dir: string, name: string, onReading?: () => void): Promise<Uint8Array | undefined> {
    const f = this.files.get(dir)?.get(name);
    if (!f) return undefined;
    this.reads++;
    onReading?.();
    return f.slice();
  }

  async write(dir: string, name: string, bytes: Uint8Array): Promise<void> {
    if (this.failWrites) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    let d = this.files.get(dir);
    if (!d) this.files.set(dir, d = new Map());
    d.set(name, bytes.slice());
  }

  async removeDir(dir: string): Promise<void> { this.files.delete(dir); }
  async dirs(prefix: string): Promise<string[]> { return [...this.files.keys()].filter((d) => d.startsWith(prefix)); }
}
