/**
 * The transformer forward of a recommend call and the scoring of its output against the catalog
 * (worker side). Two paths give the same numbers: the fused CPU forward (src/model/fused.ts), set up
 * only on CPU backends and only if it reproduces the TF.js forward at load, and the TF.js ops of
 * src/model/sasrec.ts (GPU backends, or when the fused path is unavailable or failed its self-check).
 */
import * as tf from '@tensorflow/tfjs';
import { REASON_ITEMS } from '../contract/defaults.js';
import { DeviceLostError } from '../contract/errors.js';
import { isCpuBackend, type ForwardInfo, type SceneName } from '../contract/protocol.js';
import type { ModelHeader, ModelVocab } from '../model/artifacts.js';
import { REPEAT_FEATURES, repeatFeatures, SCENE_CODES, sceneCode, servedObjectives, type ContentIndexer, type ContentIndices } from '../model/features.js';
import { FusedForward, type FusedTokens } from '../model/fused.js';
import { ensureItemTensor, type HostItemTable } from '../model/item-table.js';
import { featureInput, sequenceInput, type HistoryStep } from '../model/inputs.js';
import { lastHidden, taskQueries, type SasRecConfig, type WeightMap } from '../model/sasrec.js';
import type { ScoreRequest } from '../retrieval/matrix.js';
import type { ObjectiveScores } from '../ranking/rank.js';
import type { BackendSelection } from './backend.js';
import type { Catalog } from './catalog.js';

const NO_CONTENT: ContentIndices = Object.freeze({ category: 0, brand: 0, price: 0 });

/** Largest difference from the TF.js forward the load-time self-check accepts (the unit tests demand 1e-4). */
const FUSED_SELF_CHECK_TOLERANCE = 1e-3;

/** What the forward needs from the loaded model. */
export interface ForwardModel {
  header: ModelHeader;
  vocab: ModelVocab;
  weights: WeightMap;
  /** Feature models: shop metadata -> content indices. */
  content?: ContentIndexer;
  /** The item embedding held once in a kernel's memory, when `weights` has no itemEmbedding tensor (CPU backends' fused path). */
  hostItemTable?: HostItemTable;
}

/** The history a forward reads (src/model/inputs.ts builds both). */
export interface ForwardInput {
  /** Model indices of interactions, oldest first (single-objective models). */
  sequence: readonly number[];
  /** Interactions with event type and scene (feature models). */
  steps: readonly HistoryStep[];
}

/** Scores of one forward against the catalog. */
export interface ModelRun {
  /** The catalog rows `scores` refer to (the top candidates of a large catalog), or undefined for every row. */
  rows?: Int32Array;
  /** Raw score per row (or per entry of `rows`): the click head (the only head of a single-objective model). */
  scores: Float32Array;
  /** Feature models: raw score per catalog row for each head, by the objective it serves (favorite: satisfaction). */
  heads?: ObjectiveScores & { click: Float32Array };
  /** History item ids the last position attends to most. */
  becauseOf: string[];
  /** Model input length used (0: the model read nothing). */
  used: number;
}

export const EMPTY_RUN: Readonly<ModelRun> = Object.freeze({ scores: new Float32Array(0), becauseOf: [], used: 0 });

export interface ForwardHooks {
  /** 'auto' (fused on CPU backends when its self-check passes; default) or 'tfjs'. */
  forward?: 'auto' | 'tfjs';
  /** Tests only: sees (and may alter) the fused path before its load-time self-check. */
  fusedTamper?: (f: FusedForward) => void;
}

export class ForwardRunner {
  /** The fused forward (CPU backends), or null: TF.js ops. */
  private fused: FusedForward | null = null;
  private forwardInfo: ForwardInfo = { path: 'tfjs', reason: 'not set up yet' };
  private readonly repeatWeights?: Float32Array;
  /** The objective of each head, in the model's head order (click first: validateHeader checks it). */
  readonly objectives: ReturnType<typeof servedObjectives>;
  /** Set once the backend's device is lost; calls waiting on a readback are told through `lossListeners`. */
  private lostReason: string | null = null;
  private readonly lossListeners = new Set<(reason: string) => void>();

  constructor(private readonly model: ForwardModel, private readonly selection: BackendSelection, hooks: ForwardHooks = {}) {
    if (model.content) this.repeatWeights = model.weights.repeatWeights.dataSync() as Float32Array;
    this.objectives = servedObjectives(model.header.config.features?.tasks);
    this.setUp(hooks);
    // The TF.js forward reads the item tensor: made from the host table where the fused path does not run.
    if (!this.fused) ensureItemTensor(model);
    void selection.deviceLost.then((reason) => {
      this.lostReason = reason;
      for (const l of [...this.lossListeners]) l(reason);
      this.lossListeners.clear();
    });
  }

  /** Which path runs and why (EngineInfo.forward). */
  get info(): ForwardInfo {
    return { ...this.forwardInfo };
  }

  /**
   * CPU backends: the fused forward, used only if it reproduces the TF.js forward on two check
   * histories (full length and short; feature models with side inputs) within
   * FUSED_SELF_CHECK_TOLERANCE. Otherwise, and on GPU backends, the TF.js ops.
   */
  private setUp(hooks: ForwardHooks): void {
    const backend = this.selection.backend;
    if (!isCpuBackend(backend)) {
      this.forwardInfo = { path: 'tfjs', reason: `${backend}: GPU backends run the TF.js forward` };
      return;
    }
    if (hooks.forward === 'tfjs') {
      this.forwardInfo = { path: 'tfjs', reason: 'tfjs forward asked for (EngineHooks.forward)' };
      return;
    }
    const cfg = this.model.header.config;
    let fused: FusedForward;
    try {
      fused = FusedForward.create(cfg, this.model.weights, { itemTable: this.model.hostItemTable });
      hooks.fusedTamper?.(fused);
    } catch (e) {
      this.forwardInfo = { path: 'tfjs', reason: `fused forward unavailable: ${e instanceof Error ? e.message : String(e)}` };
      return;
    }
    const L = cfg.maxLen;
    const n = Math.min(cfg.numItems, L);
    const full = new Int32Array(L);
    for (let i = 0; i < n; i++) full[L - n + i] = 1 + ((i * 7919) % cfg.numItems);
    const short = new Int32Array(L);
    for (let i = 0; i < Math.min(3, n); i++) short[L - 1 - i] = 1 + ((i * 104_729 + 11) % cfg.numItems);
    let diff = 0;
    try {
      for (const ids of [full, short]) {
        let tokens: Record<keyof FusedTokens, Int32Array> | undefined;
        if (this.model.content && cfg.features) {
          const c = this.model.content;
          const col = (pick: (m: number, j: number) => number) => Int32Array.from(ids, (m, j) => (m === 0 ? 0 : pick(m, j)));
          tokens = {
            category: col((m) => c.ofModelItem(m).category), brand: col((m) => c.ofModelItem(m).brand), price: col((m) => c.ofModelItem(m).price),
            behaviour: col((_, j) => 1 + (j % cfg.features!.numBehaviours)), scene: col((_, j) => 1 + (j % cfg.features!.numScenes)),
          };
        }
        diff = Math.max(diff, fused.compareWithTfjs(ids, tokens, cfg.features ? SCENE_CODES.cart : undefined));
      }
    } catch (e) {
      this.forwardInfo = { path: 'tfjs', reason: `fused forward self-check failed: ${e instanceof Error ? e.message : String(e)}` };
      return;
    }
    if (!(diff <= FUSED_SELF_CHECK_TOLERANCE)) {
      this.forwardInfo = { path: 'tfjs', reason: `fused forward self-check failed: max abs diff ${diff.toExponential(2)} from the TF.js forward (tolerance ${FUSED_SELF_CHECK_TOLERANCE})`, selfCheckMaxAbsDiff: diff };
      return;
    }
    this.fused = fused;
    this.forwardInfo = {
      path: 'fused', kernel: fused.kernel, selfCheckMaxAbsDiff: diff,
      reason: `fused (${fused.kernel}): self-check against the TF.js forward at load, max abs diff ${diff.toExponential(2)}`,
    };
  }

  /**
   * Scores the catalog for a history. Feature models read `input.steps` (event types, scenes) and
   * score each head for the request `scene`; the others read `input.sequence`. Leaves no tensors behind.
   */
  async run(input: ForwardInput, cat: Catalog, scene: SceneName, request: ScoreRequest = cat.scoreRequest()): Promise<ModelRun> {
    if (this.model.content) return this.runFeatureModel(input.steps, cat, scene);
    const cfg: SasRecConfig = this.model.header.config;
    const seq = input.sequence.slice(-cfg.maxLen);
    if (!cat.matrix || seq.length === 0) return EMPTY_RUN;
    const row = sequenceInput(seq, cfg.maxLen);
    if (this.fused) {
      const out = this.fused.run(row);
      const scored = await cat.matrix.score(out.hidden, request);
      const run: ModelRun = { scores: scored.scores[0], becauseOf: this.attributions(seq, out.attention), used: seq.length };
      if (scored.rows) run.rows = scored.rows;
      return run;
    }
    const ids = tf.tensor2d(row, [1, cfg.maxLen], 'int32');
    let hiddenT: tf.Tensor | undefined;
    let attnT: tf.Tensor | undefined;
    try {
      const { hidden, attention } = lastHidden(cfg, this.model.weights, ids, { returnAttention: true });
      hiddenT = hidden;
      try {
        attnT = tf.tidy(() => (attention ? attention.mean(1).reshape([-1]) : tf.zeros([cfg.maxLen])));
      } finally {
        attention?.dispose();
      }
    } catch (e) {
      hiddenT?.dispose();
      throw e;
    } finally {
      ids.dispose();
    }
    try {
      const [scored, attn] = await this.raceDeviceLoss(Promise.all([cat.matrix.score(hiddenT, request), attnT!.data()]));
      const out: ModelRun = { scores: scored.scores[0], becauseOf: this.attributions(seq, attn as Float32Array), used: seq.length };
      if (scored.rows) out.rows = scored.rows;
      return out;
    } finally {
      hiddenT.dispose();
      attnT!.dispose();
    }
  }

  /** The multi-task model: one score vector per head (click, cart, purchase and, when the model has it, favorite). */
  private async runFeatureModel(allSteps: readonly HistoryStep[], cat: Catalog, scene: SceneName): Promise<ModelRun> {
    const cfg: SasRecConfig = this.model.header.config;
    const content = this.model.content!;
    // History items the model never saw are masked positions carrying their catalog content (the serving rule, src/model/inputs.ts).
    const x = featureInput(allSteps, cfg.maxLen, content, {
      unknownContent: (s) => { const pos = cat.given ? cat.posById.get(s.itemId) : undefined; return pos === undefined ? NO_CONTENT : content.ofMetadata(cat.items.at(pos)); },
    });
    if (!cat.matrix || x.length === 0) return EMPTY_RUN;
    if (this.fused) {
      const out = this.fused.run(x.ids, x, sceneCode(scene));
      const scored = await cat.matrix.score(out.queries, { kind: 'all' });
      return this.featureRun(scored.scores, allSteps, cat, x.known, out.attention);
    }
    const L = cfg.maxLen;
    let scoresT: tf.Tensor | undefined;
    let attnT: tf.Tensor | undefined;
    try {
      [scoresT, attnT] = tf.tidy(() => {
        const t = (a: Int32Array) => tf.tensor2d(a, [1, L], 'int32');
        const tokens = { category: t(x.category), brand: t(x.brand), price: t(x.price), behaviour: t(x.behaviour), scene: t(x.scene) };
        const { hidden, attention } = lastHidden(cfg, this.model.weights, t(x.ids), { returnAttention: true, tokens });
        const q = taskQueries(cfg, this.model.weights, hidden, tf.tensor1d([sceneCode(scene)], 'int32'));
        const scores = q.reshape([cfg.features!.tasks.length, cfg.hiddenDim]);
        const attn = attention ? attention.mean(1).reshape([-1]) : tf.zeros([L]);
        attention?.dispose(); // forward() keeps it, so this tidy would not release it
        return [scores, attn];
      });
    } catch (e) {
      scoresT?.dispose();
      throw e;
    }
    try {
      const [scored, attn] = await this.raceDeviceLoss(Promise.all([cat.matrix.score(scoresT, { kind: 'all' }), attnT!.data()]));
      return this.featureRun(scored.scores, allSteps, cat, x.known, attn as Float32Array);
    } finally {
      scoresT.dispose();
      attnT!.dispose();
    }
  }

  /** Per-head scores plus the learned repeat terms of items the shopper met before (seen, recency, carted, purchased). */
  private featureRun(heads: Float32Array[], allSteps: readonly HistoryStep[], cat: Catalog, known: readonly HistoryStep[], attn: Float32Array): ModelRun {
    const w = this.repeatWeights!;
    for (const [itemId, f] of repeatFeatures(allSteps.map((s) => ({ key: s.itemId, behaviour: s.behaviour })))) {
      const r = cat.rowOf(itemId);
      if (r < 0) continue;
      heads.forEach((h, t) => { for (let k = 0; k < REPEAT_FEATURES; k++) h[r] += w[t * REPEAT_FEATURES + k] * f[k]; });
    }
    const byObjective: ObjectiveScores = {};
    this.objectives.forEach((o, t) => { byObjective[o] = heads[t]; });
    const click = heads[0];
    // What the model read: the steps of items it knows (a masked step adds its position, not the item).
    const read = known.filter((s) => s.m > 0).length;
    return { scores: click, heads: { ...byObjective, click }, becauseOf: this.attributions(known.map((s) => (s.m > 0 ? s.itemId : undefined)), attn), used: read };
  }

  /**
   * A GPU readback that never settles after a device loss must not hang the call: it rejects with
   * DeviceLostError once the backend's device is lost (the engine then retries on its fallback).
   * One listener per call, removed when the call settles, so calls do not pile up on the loss promise.
   */
  private raceDeviceLoss<T>(p: Promise<T>): Promise<T> {
    const lostError = (reason: string) => new DeviceLostError(`The GPU device was lost (${reason}); the recommender switches to another backend, retry the call.`, { reason });
    if (this.lostReason !== null) {
      p.catch(() => undefined);
      return Promise.reject(lostError(this.lostReason));
    }
    return new Promise<T>((resolve, reject) => {
      const onLost = (reason: string) => reject(lostError(reason));
      this.lossListeners.add(onLost);
      p.then(resolve, reject).finally(() => this.lossListeners.delete(onLost));
    });
  }

  /** History items the last position attends to most (summed over repeats), best first. */
  private attributions(seq: readonly (number | string | undefined)[], attn: Float32Array): string[] {
    const maxLen = this.model.header.config.maxLen;
    const offset = maxLen - seq.length;
    const weightById = new Map<string, number>();
    seq.forEach((m, j) => {
      if (m === undefined) return; // a masked position: no attention reaches it
      const id = typeof m === 'string' ? m : this.model.vocab.itemIds[m];
      weightById.set(id, (weightById.get(id) ?? 0) + (attn[offset + j] ?? 0));
    });
    return [...weightById.entries()].sort((a, b) => b[1] - a[1]).slice(0, REASON_ITEMS).map(([id]) => id);
  }

  /** Drops the fused path's kernel memory and item-table copy (plain JS: the references are what hold them). */
  dispose(): void {
    this.fused = null;
  }
}
