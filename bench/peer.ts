/**
 * The onnxruntime-web peer of the bench page: the bench model exported to ONNX
 * (scripts/bench-peer.ts, scripts/onnx/sasrec.ts) run by onnxruntime-web's wasm backend (SIMD, one
 * thread, on the page's main thread, no proxy worker), loaded from /bench-ort/ on the bench server.
 * A call is the fair equivalent of a scenerec home call at diversity 0: history ids -> model rows
 * (through the vocabulary) -> forward over the real positions -> every row's score, the rows the
 * catalog cannot show at -Infinity -> TopK in the graph -> item ids.
 */
import type * as Ort from 'onnxruntime-web';

export interface PeerOptions {
  /** The exported graph. */
  onnxUrl: string;
  /** The scenerec model it was exported from: its vocab.json (row -> item id) and config.maxLen. */
  modelUrl: string;
}

export interface Peer {
  /** Top-k item ids for a history (item ids, oldest first), and the ms the runtime took for it. */
  recommend(history: readonly string[], k: number): Promise<{ ids: string[]; ms: number }>;
  /** InferenceSession.create (fetch and graph set-up included) -> first list, ms. */
  coldMs: number;
  version: string;
  dispose(): Promise<void>;
}

let ortModule: Promise<typeof Ort> | undefined;
function loadOrt(): Promise<typeof Ort> {
  // A runtime URL, not a bundled import: the page build stays free of onnxruntime-web, and its
  // wasm files are the package's own, as served next to it.
  ortModule ??= import(/* @vite-ignore */ `${location.origin}/bench-ort/ort.wasm.min.mjs`).then((ort: typeof Ort) => {
    ort.env.wasm.wasmPaths = `${location.origin}/bench-ort/`;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    return ort;
  });
  return ortModule;
}

export async function createPeer(o: PeerOptions): Promise<Peer> {
  const ort = await loadOrt();
  const modelUrl = new URL(o.modelUrl, location.href);
  const { itemIds } = (await (await fetch(new URL('vocab.json', modelUrl))).json()) as { itemIds: string[] };
  const model = (await (await fetch(modelUrl)).json()) as { userDefinedMetadata: { scenerec: { config: { maxLen: number } } } };
  const maxLen = model.userDefinedMetadata.scenerec.config.maxLen;
  const rowOf = new Map(itemIds.map((id, r) => [id, r]));
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(o.onnxUrl, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const recommend = async (history: readonly string[], k: number) => {
    const t = performance.now();
    const rows = history.map((id) => rowOf.get(id)).filter((r): r is number => r !== undefined).slice(-maxLen);
    const ids = BigInt64Array.from(rows, BigInt);
    const pos = BigInt64Array.from(rows, (_, i) => BigInt(maxLen - rows.length + i));
    const out = await session.run({
      ids: new ort.Tensor('int64', ids, [ids.length]), pos: new ort.Tensor('int64', pos, [pos.length]), k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    }, ['indices']);
    const list = Array.from(out.indices.data as BigInt64Array, (r) => itemIds[Number(r)]);
    out.indices.dispose();
    return { ids: list, ms: performance.now() - t };
  };
  await recommend(itemIds.slice(1, 2), 10);
  const coldMs = performance.now() - t0;
  return { recommend, coldMs, version: ort.env.versions.web ?? '?', dispose: () => session.release() };
}
