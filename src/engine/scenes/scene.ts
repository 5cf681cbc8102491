/**
 * What a scene is (worker side): one `recommend(ctx, request)` over the engine's state. The scenes
 * live in the registry of ./index.ts; adding a scene is adding a file there (plus its request type
 * in src/contract/protocol.ts, its defaults in DEFAULT_REQUESTS and its own fields in SCENE_REQUESTS,
 * src/contract/options.ts).
 */
import type { ResolvedEngineConfig, ResolvedRequestMap } from '../../contract/options.js';
import type { RankReason, RecommendedItem, SceneName, ShopRules, StoredEvent } from '../../contract/protocol.js';
import type { HistoryView } from '../../model/inputs.js';
import { composeAdjust, type FeedbackView } from '../../ranking/feedback.js';
import { tailAdjust } from '../../ranking/long-tail.js';
import {
  blendObjectives, rankCandidates, rankScored, scoringDepth, type CandidateSource, type RankCandidate, type RankedList, type ScoreAdjust,
} from '../../ranking/rank.js';
import type { Catalog } from '../catalog.js';
import type { ForwardInput, ForwardRunner, ModelRun } from '../forward.js';
import { AFFINITY_BLEND_BELOW_USED, SHORT_LIST_RETRIES, SHORT_LIST_RETRY_FACTOR } from '../../contract/defaults.js';
import type { HistoryStep } from '../../model/inputs.js';
import {
  affinityBlendWeight, affinityKeys, affinityProfile, affinityReason, affinityScore, hasAffinity,
  type AffinityEvent, type AffinityEventType, type AffinityProfile,
} from '../../ranking/affinity.js';

/** What a scene reads: the engine's state for one call. */
export interface SceneContext {
  catalog: Catalog;
  /** The shopper's history, as the model reads it. */
  history: HistoryView;
  /** The stored history events, oldest first (the history lists read them; shared, do not change). */
  events: readonly StoredEvent[];
  /** Impressions and dismissals as of this call (hidden items, score factors). */
  feedback: FeedbackView;
  forward: ForwardRunner;
  /** Item id -> model index. */
  modelIndex: ReadonlyMap<string, number>;
  /** A feature model: it can score an item it never saw from its content. */
  contentModel: boolean;
  options: Pick<ResolvedEngineConfig, 'excludePurchased' | 'excludeInCart'>;
  /** Ranking builds only the candidates it can pick (EngineHooks.candidateShortcut; default on). */
  shortcut: boolean;
}

/** A scene's answer: the list, and how many history items the model read. */
export interface SceneList {
  items: RecommendedItem[];
  used: number;
}

export interface Scene<S extends SceneName> {
  readonly name: S;
  recommend(ctx: SceneContext, request: ResolvedRequestMap[S]): Promise<SceneList>;
}

/**
 * Ids a list never shows: dismissed items, the cart, purchased items (home and product). Per-request
 * rules.excludeInCart / excludePurchased override the engine options.
 */
export function exclusions(ctx: SceneContext, scene: SceneName, rules: ShopRules, extra: Iterable<string> = []): Set<string> {
  const out = new Set<string>(extra);
  for (const id of ctx.feedback.hidden) out.add(id);
  if (rules.excludeInCart ?? ctx.options.excludeInCart) for (const id of ctx.history.cart) out.add(id);
  const purchased = rules.excludePurchased ?? (ctx.options.excludePurchased && (scene === 'home' || scene === 'product'));
  if (purchased) for (const id of ctx.history.purchased) out.add(id);
  return out;
}

/**
 * The score factors of a request: feedback (exposure discount, dismissed neighbours) and long-tail
 * exposure; undefined when none applies (ranking then runs as without them).
 */
export function feedbackAdjust(ctx: SceneContext, req: { exposureDiscount: number; tailExposure: number }): ScoreAdjust | undefined {
  const cat = ctx.catalog;
  const popularity = (c: { itemId: string }) => {
    const pos = cat.posById.get(c.itemId);
    return pos === undefined ? 0 : cat.popScore[pos];
  };
  return composeAdjust(ctx.feedback.adjust(req.exposureDiscount), tailAdjust(popularity, req.tailExposure));
}

/** A model run as ranking's candidate source: rows of the catalog, with popular fill and pin lookup. */
export function candidateSource(ctx: SceneContext, run: ModelRun, reason: RankReason): CandidateSource {
  const cat = ctx.catalog;
  const rows = run.rows;
  return {
    heads: run.heads ?? { click: run.scores },
    candidate: (r, relevance) => cat.candidateAt(cat.posOfRow[rows ? rows[r] : r], relevance, reason),
    popular: () => cat.popular({ kind: 'popular' }),
    lookup: (id) => cat.lookup(id),
  };
}

/** Ranks a prebuilt list with popular fill and pin lookup from the catalog. */
export function rankWithFill(ctx: SceneContext, candidates: Iterable<ReturnType<Catalog['candidateAt']>>, req: ResolvedRequestMap['home'], exclude: Set<string>): SceneList {
  const cat = ctx.catalog;
  return {
    items: rankCandidates(candidates, {
      ...req, exclude, adjust: feedbackAdjust(ctx, req), popular: () => cat.popular({ kind: 'popular' }), lookup: (id) => cat.lookup(id),
    }),
    used: 0,
  };
}

/** Behaviour codes of history steps (src/model/features.ts BEHAVIOUR_CODES) as affinity's event types. */
const AFFINITY_TYPE_OF_BEHAVIOUR: Record<number, AffinityEventType> = { 1: 'view', 2: 'favorite', 3: 'cart', 4: 'purchase' };

/** The shopper's content profile from history steps (oldest first), read through the catalog's metadata. */
export function shopperAffinity(ctx: SceneContext, steps: readonly HistoryStep[]): AffinityProfile {
  const cat = ctx.catalog;
  const events: AffinityEvent[] = [];
  for (const s of steps) {
    const type = AFFINITY_TYPE_OF_BEHAVIOUR[s.behaviour];
    if (type) events.push({ itemId: s.itemId, type });
  }
  return affinityProfile(events, (id) => {
    const pos = cat.posById.get(id);
    return pos === undefined || !cat.given ? undefined : cat.items.at(pos);
  });
}

/** History steps about catalog items the model never saw (the part of the history only affinity can read). */
function unseenInCatalog(ctx: SceneContext, steps: readonly HistoryStep[]): number {
  let n = 0;
  for (const s of steps) if (s.m === 0 && ctx.catalog.posById.has(s.itemId)) n++;
  return n;
}

/** True when a run's scores cannot tell the rows apart (every row the same score). */
function constantScores(run: ModelRun): boolean {
  const x = run.scores;
  for (let i = 1; i < x.length; i++) if (x[i] !== x[0]) return false;
  return true;
}

/**
 * A list by the shopper's content affinity (src/ranking/affinity.ts), optionally blended with a
 * model run: score = (1 - weight) * model relevance + weight * affinity. Candidates: the catalog
 * items of the profile's categories and brands (most popular first within each), plus the model's
 * scored rows when blended; each item's reason is its larger part's (its affinity reason, or `blend.reason`).
 */
export function affinityList(
  ctx: SceneContext, profile: AffinityProfile, req: ResolvedRequestMap['home'], exclude: Set<string>,
  blend?: { run: ModelRun; weight: number; reason: RankReason }, adjust: ScoreAdjust | undefined = feedbackAdjust(ctx, req),
): SceneList {
  const cat = ctx.catalog;
  const weight = blend?.weight ?? 1;
  const out = new Map<number, RankCandidate>();
  const affinityOf = (pos: number): { score: number; reason?: RankReason } => {
    const item = cat.items.at(pos);
    return { score: affinityScore(profile, item), reason: affinityReason(profile, item.id, item) };
  };
  if (blend && !constantScores(blend.run)) {
    const rel = blendObjectives(blend.run.heads ?? { click: blend.run.scores }, req.objectives);
    const rows = blend.run.rows;
    for (let r = 0; r < rel.length; r++) {
      const pos = cat.posOfRow[rows ? rows[r] : r];
      const a = affinityOf(pos);
      const model = (1 - weight) * rel[r];
      const aff = weight * a.score;
      out.set(pos, cat.candidateAt(pos, model + aff, aff > model && a.reason ? a.reason : blend.reason));
    }
  }
  const keys = affinityKeys(profile);
  for (const [field, values] of [['category', keys.categories], ['brand', keys.brands]] as const) {
    for (const value of values) {
      for (const pos of cat.positionsWith(field, value)) {
        if (out.has(pos)) continue;
        const a = affinityOf(pos);
        out.set(pos, cat.candidateAt(pos, weight * a.score, a.reason!));
      }
    }
  }
  return {
    items: rankCandidates(out.values(), { ...req, exclude, adjust, unique: true, popular: () => cat.popular({ kind: 'popular' }), lookup: (id) => cat.lookup(id) }),
    used: blend?.run.used ?? 0,
  };
}

/**
 * A list from the model's scores for a history: one ranking call per scoring round. On a large
 * catalog only the best rows are scored; when the rules starve them (the list needed popular fill),
 * the scene scores deeper, at most SHORT_LIST_RETRIES times.
 */
export async function personalList(
  ctx: SceneContext, input: ForwardInput, req: ResolvedRequestMap['home'], exclude: Set<string>,
  reasonFor: (becauseOf: string[]) => RankReason, scene: SceneName, adjust: ScoreAdjust | undefined = feedbackAdjust(ctx, req),
): Promise<SceneList> {
  const cat = ctx.catalog;
  let n = scoringDepth(req.k);
  let retries = SHORT_LIST_RETRIES;
  for (;;) {
    const run = await ctx.forward.run(input, cat, scene, cat.scoreRequest(n));
    // History about items the model never saw: the shopper's content affinity leads (model read
    // nothing) or is blended in (model read only a few events), see AFFINITY_BLEND_BELOW_USED.
    const weight = affinityBlendWeight(run.used, unseenInCatalog(ctx, input.steps), AFFINITY_BLEND_BELOW_USED);
    if (weight > 0) {
      const profile = shopperAffinity(ctx, input.steps);
      if (hasAffinity(profile)) {
        return affinityList(ctx, profile, req, exclude, run.used > 0 ? { run, weight, reason: reasonFor(run.becauseOf) } : undefined, adjust);
      }
    }
    if (run.used === 0) {
      // The model read nothing: popular items, on a large catalog only as deep as its scores would go
      // (the rest as fill, pins by lookup), so that a million rows are not ranked for a new shopper.
      const head = cat.popular({ kind: 'popular' }, cat.popularHead(scoringDepth(req.k)));
      return { items: rankCandidates(head, { ...req, exclude, adjust, popular: () => cat.popular({ kind: 'popular' }), lookup: (id) => cat.lookup(id) }), used: 0 };
    }
    const ranked: RankedList = rankScored(candidateSource(ctx, run, reasonFor(run.becauseOf)), { ...req, exclude, adjust, shortcut: ctx.shortcut });
    if (!run.rows || ranked.filled === 0 || retries-- === 0 || n >= cat.rows) return { items: ranked.items, used: run.used };
    n = Math.min(n * SHORT_LIST_RETRY_FACTOR, cat.rows);
  }
}
