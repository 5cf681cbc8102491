/**
 * Where the model cache (./cache.ts) keeps the bytes of a model's weight files: the origin-private
 * file system (OPFS). Cache Storage hands a cached body to a worker through the browser process in
 * chunks; on a later visit, a hundred-megabyte weight file read back that way took longer in
 * Chromium than the same bytes read as an OPFS File (scripts/bench-storage-read.ts measures both). Cache
 * Storage still holds every version's entries and decides what is complete (./cache.ts); a weight
 * file stored here is a marker there.
 *
 * Reads go through the File API in a second, short-lived worker (`FileReaderHelper`), whose buffer is
 * transferred back: a File read in the calling worker advances only when that thread is idle, and a
 * model load keeps it busy (the catalog check, the vocabulary) in slices, and a large file then takes
 * many times longer than from the helper (scripts/bench-storage-read.ts measures both). Where no helper starts
 * (no Worker in this realm, a content security policy without blob: workers) the calling worker reads.
 * A synchronous access handle copies faster on an idle machine but holds the worker's thread for the
 * copy; the returning visit of a large catalog was slower that way (docs/benchmarks.md). Writes use a writable
 * stream, off the calling thread too (a worker that serves lists after its load is not held for the
 * copy); a synchronous access handle only where there is no writable stream (Safari).
 *
 * Everything is soft, as in the cache: no OPFS (Node, some private modes) is `null`, a failed read
 * or write throws to the cache, which reports it and falls back to the network or to no cache.
 * No TF.js here: the page entry's `clearModelCache` uses it.
 */

import { FILE_READER_START_MS } from '../contract/defaults.js';

/** OPFS directory names of cached model versions start with this. */
export const MODEL_FILES_PREFIX = 'scenerec-model-';

/** Files of model versions, one directory per cached version. */
export interface ModelFileStore {
  /** The bytes of `dir/name`, or undefined when there is no such file; `onReading` once the bytes are being read. */
  read(dir: string, name: string, onReading?: () => void): Promise<Uint8Array | undefined>;
  /** Writes `dir/name` (the directory made when missing), replacing an earlier file. */
  write(dir: string, name: string, bytes: Uint8Array): Promise<void>;
  /** Removes `dir` and its files; nothing when there is none. */
  removeDir(dir: string): Promise<void>;
  /** The directory names that start with `prefix`. */
  dirs(prefix: string): Promise<string[]>;
}

/** The OPFS directory of one cache name (a URL and a version: characters OPFS names may not hold). */
export async function modelFilesDir(cacheName: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(cacheName));
  return MODEL_FILES_PREFIX + [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

interface SyncAccessHandle {
  write(buffer: Uint8Array, options?: { at?: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}
type SyncCapable = FileSystemFileHandle & { createSyncAccessHandle?: () => Promise<SyncAccessHandle> };

const isNotFound = (e: unknown) => (e as { name?: string } | null)?.name === 'NotFoundError';

/** OPFS as a ModelFileStore. */
class OpfsFileStore implements ModelFileStore {
  constructor(private readonly root: FileSystemDirectoryHandle) {}

  private async file(dir: string, name: string, create: boolean): Promise<SyncCapable | undefined> {
    try {
      const d = await this.root.getDirectoryHandle(dir, { create });
      return await d.getFileHandle(name, { create }) as SyncCapable;
    } catch (e) {
      if (!create && (isNotFound(e) || (e as { name?: string })?.name === 'TypeMismatchError')) return undefined;
      throw e;
    }
  }

  async read(dir: string, name: string, onReading?: () => void): Promise<Uint8Array | undefined> {
    const fh = await this.file(dir, name, false);
    if (!fh) return undefined;
    const body = readFileBytes(await fh.getFile());
    onReading?.();
    return new Uint8Array(await body);
  }

  async write(dir: string, name: string, bytes: Uint8Array): Promise<void> {
    const fh = (await this.file(dir, name, true))!;
    if (typeof fh.createWritable === 'function') {
      const w = await fh.createWritable();
      try {
        await w.write(bytes as unknown as BufferSource);
        await w.close(); // the file changes only here, all at once
      } catch (e) {
        await w.abort().catch(() => undefined);
        throw e;
      }
      return;
    }
    if (typeof fh.createSyncAccessHandle !== 'function') throw new Error('this realm cannot write to the origin-private file system');
    const h = await fh.createSyncAccessHandle();
    try {
      h.truncate(0);
      const n = h.write(bytes, { at: 0 });
      if (n !== bytes.byteLength) throw new DOMException(`wrote ${n} of ${bytes.byteLength} bytes of ${name}`, 'QuotaExceededError');
      h.flush();
    } finally {
      h.close();
    }
  }

  async removeDir(dir: string): Promise<void> {
    try {
      await this.root.removeEntry(dir, { recursive: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  async dirs(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const [name, handle] of (this.root as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (handle.kind === 'directory' && name.startsWith(prefix)) out.push(name);
    }
    return out;
  }
}

/** The helper's code: reads each File it is sent and transfers the bytes back (or says why not). */
const READER_SOURCE = `postMessage({ ready: true });
onmessage = (e) => { const { n, file } = e.data;
  file.arrayBuffer().then((b) => postMessage({ n, b }, [b]), (err) => postMessage({ n, error: String(err && err.message || err) })); };`;

/**
 * A worker that reads Files for this one, started on the first read and ended once no read is left.
 * A read it cannot make (it did not start, it failed) is made by the calling thread instead, so the
 * helper only ever changes where the copy happens.
 */
class FileReaderHelper {
  private worker: Worker | undefined;
  private broken = false;
  private seq = 0;
  private readonly pending = new Map<number, { file: File; resolve: (b: ArrayBuffer) => void; reject: (e: unknown) => void }>();

  read(file: File): Promise<ArrayBuffer> {
    const worker = this.start();
    if (!worker) return file.arrayBuffer();
    return new Promise<ArrayBuffer>((resolve, reject) => {
      const n = ++this.seq;
      this.pending.set(n, { file, resolve, reject });
      try {
        worker.postMessage({ n, file });
      } catch {
        this.fail();
      }
    });
  }

  private start(): Worker | undefined {
    if (this.worker || this.broken) return this.worker;
    let url: string | undefined;
    try {
      if (typeof Worker !== 'function' || typeof Blob !== 'function' || typeof URL.createObjectURL !== 'function') throw new Error('no Worker');
      url = URL.createObjectURL(new Blob([READER_SOURCE], { type: 'text/javascript' }));
      const w = new Worker(url);
      // A helper that never says it started (blocked without an error event) gives its reads back.
      const started = setTimeout(() => this.fail(), FILE_READER_START_MS);
      w.onmessage = (e: MessageEvent<{ ready?: true; n: number; b?: ArrayBuffer; error?: string }>) => {
        if (e.data.ready) clearTimeout(started); else this.settle(e.data);
      };
      // A helper that could not start (a content security policy) or died: its reads are made here.
      w.onerror = (e) => { e.preventDefault?.(); this.fail(); };
      w.onmessageerror = () => this.fail();
      this.worker = w;
    } catch {
      this.broken = true;
    } finally {
      if (url) URL.revokeObjectURL(url);
    }
    return this.worker;
  }

  private settle({ n, b, error }: { n: number; b?: ArrayBuffer; error?: string }): void {
    const p = this.pending.get(n);
    if (!p) return;
    this.pending.delete(n);
    // A read the helper could not make is made here (the File's own error, if it has one, is then the one given).
    if (b instanceof ArrayBuffer) p.resolve(b); else { void error; p.file.arrayBuffer().then(p.resolve, p.reject); }
    if (this.pending.size === 0) this.stop();
  }

  private fail(): void {
    this.broken = true;
    const left = [...this.pending.values()];
    this.pending.clear();
    this.stop();
    for (const p of left) p.file.arrayBuffer().then(p.resolve, p.reject);
  }

  private stop(): void {
    this.worker?.terminate();
    this.worker = undefined;
  }
}

const helper = new FileReaderHelper();

/** A File's bytes, read by the helper worker where one starts (see the file's comment), else here. */
export function readFileBytes(file: File): Promise<ArrayBuffer> {
  return helper.read(file);
}

/**
 * The OPFS store of this realm, or null where there is none (Node, no secure context, a browser
 * without OPFS, a private mode that refuses it).
 */
export async function defaultModelFileStore(): Promise<ModelFileStore | null> {
  try {
    const storage = (globalThis as { navigator?: { storage?: StorageManager } }).navigator?.storage;
    if (typeof storage?.getDirectory !== 'function' || typeof crypto?.subtle?.digest !== 'function') return null;
    return new OpfsFileStore(await storage.getDirectory());
  } catch {
    return null;
  }
}
