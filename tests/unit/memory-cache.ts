/**
 * Cache Storage for Node (which has none): the subset of the DOM API the model cache uses
 * (open, has, delete, keys; match, put), keeping bodies as bytes. The real one is exercised in
 * Chromium by tests/e2e/faults/loading.spec.ts. `failPuts` makes every put throw a
 * QuotaExceededError, as a full origin does.
 */
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
