/**
 * scenerec against its onnxruntime-web peer (./peer.ts) in one page: same weights, same histories,
 * calls interleaved. Per history length: the shopper's history is replaced by that many views, the
 * top-10 of both is compared first (a mismatch is reported, never hidden), then `calls` pairs run
 * alternately (which side goes first alternates too, so neither always meets a cold cache).
 * scenerec's call is `home.recommend({ k: 10, diversity: 0 })`: its time in the worker
 * (RecommendResult.latencyMs) and as the page sees it; the peer's is session.run with its inputs
 * and output read, on the page's thread.
 */
import type { Recommender } from '../src/index';
import type { Peer } from './peer';
import { stat, type Stat } from './stat';

export interface PeerCase {
  onnxUrl: string;
  /** Interleaved pairs per history length. */
  calls: number;
  historyLengths: number[];
}

export interface PeerRun {
  historyLength: number;
  /** History positions scenerec's model read (RecommendResult.historyUsed). */
  historyUsed: number;
  top10Same: boolean;
  scenerecTop10: string[];
  peerTop10: string[];
  scenerec: { worker: Stat; roundTrip: Stat };
  peer: Stat;
  /** Peer median ÷ scenerec worker median. */
  ratio: number;
}

export interface PeerResult { version: string; coldMs: number; runs: PeerRun[] }

const K = 10;

export async function comparePeer(rec: Recommender, peer: Peer, pool: readonly string[], c: PeerCase): Promise<PeerRun[]> {
  const runs: PeerRun[] = [];
  const home = () => rec.scene('home').recommend({ k: K, diversity: 0 });
  for (const len of c.historyLengths) {
    if (pool.length < len) throw new Error(`the history pool has ${pool.length} items, fewer than ${len}`);
    const history = pool.slice(0, len);
    await rec.clearHistory();
    await rec.track(history.map((itemId) => ({ type: 'view' as const, itemId })));
    const first = await home();
    const p = await peer.recommend(history, K);
    const mine = first.items.map((i) => i.itemId);
    for (let i = 0; i < 3; i++) { await home(); await peer.recommend(history, K); }
    const worker: number[] = [];
    const roundTrip: number[] = [];
    const theirs: number[] = [];
    const timeMine = async () => { const t = performance.now(); const r = await home(); roundTrip.push(performance.now() - t); worker.push(r.latencyMs); };
    const timeTheirs = async () => { theirs.push((await peer.recommend(history, K)).ms); };
    for (let i = 0; i < c.calls; i++) {
      if (i % 2 === 0) { await timeMine(); await timeTheirs(); } else { await timeTheirs(); await timeMine(); }
    }
    const s = { worker: stat(worker), roundTrip: stat(roundTrip) };
    const q = stat(theirs);
    runs.push({
      historyLength: len, historyUsed: first.historyUsed, top10Same: mine.length === p.ids.length && mine.every((id, i) => id === p.ids[i]),
      scenerecTop10: mine, peerTop10: p.ids, scenerec: s, peer: q, ratio: q.median / s.worker.median,
    });
  }
  return runs;
}
