/**
 * The demo's one import of the SDK: every other demo module imports it from here, so switching the
 * demo to the package entry (`from 'scenerec'`) is a one-line change.
 *
 * It also holds the feature detection for SDK additions the demo uses when they are there: the
 * history scenes (`recentlyViewed`, `buyAgain`) and the feedback events (`impression`, `dismiss`).
 * An SDK without them answers with its typed errors (UnknownSceneError, InvalidEventError); the demo
 * reads their stable `name`/`code`, hides what is missing and keeps working.
 */
export * from '../src/index';
import type { RankReason, RecommendedItem, Recommender, RecommendResult, SceneName, TrackEvent } from '../src/index';

/** Scenes the demo shows when the SDK has them. */
export type OptionalScene = 'recentlyViewed' | 'buyAgain';

/** Feedback events the demo reports when the SDK takes them. */
export interface FeedbackEvent { type: 'impression' | 'dismiss'; itemId: string; scene: SceneName | OptionalScene }

/** The reasons of the history scenes (as an SDK with them defines them). */
export type HistoryReason =
  | { kind: 'viewed'; at: number; views: number }
  | { kind: 'boughtBefore'; times: number; lastAt: number; category?: string; categoryTimes?: number };

/** Every reason the demo knows how to word. */
export type AnyReason = RankReason | HistoryReason;

/** A list item with the fields of newer SDKs read as optional. */
export type ListItem = RecommendedItem & { reason: AnyReason; discount?: number };

const errorIs = (e: unknown, name: string, code: string): boolean => {
  const err = e as { name?: unknown; code?: unknown } | null;
  return err?.name === name || err?.code === code;
};

/** True when `e` says the SDK has no such scene. */
export const isUnknownScene = (e: unknown): boolean => errorIs(e, 'UnknownSceneError', 'UNKNOWN_SCENE');
/** True when `e` says the SDK refused the event (e.g. a type it does not know). */
export const isInvalidEvent = (e: unknown): boolean => errorIs(e, 'InvalidEventError', 'INVALID_EVENT');

/**
 * Asks an optional scene for its list; `null` when the SDK does not have the scene (its
 * UnknownSceneError, thrown by `rec.scene()` or by the call). Other errors are thrown.
 */
export async function recommendOptional(rec: Recommender, scene: OptionalScene, request: { k: number }): Promise<RecommendResult | null> {
  try {
    // The cast: older SDK typings do not list the scene; the SDK itself decides (UnknownSceneError).
    return await rec.scene(scene as unknown as 'home').recommend(request);
  } catch (e) {
    if (isUnknownScene(e)) return null;
    throw e;
  }
}

/**
 * Reports feedback events; `false` when the SDK does not take them (InvalidEventError naming the
 * type). Feedback goes in its own `track` call, never mixed with history events, so an older SDK
 * refusing it loses nothing else.
 */
export async function trackFeedback(rec: Recommender, events: FeedbackEvent[]): Promise<boolean> {
  if (events.length === 0) return true;
  try {
    // The cast: older SDK typings do not list the types; the SDK itself decides (InvalidEventError).
    await rec.track(events as unknown as TrackEvent[]);
    return true;
  } catch (e) {
    // Only a refusal of the type itself means "not supported"; any other invalid field is a bug.
    if (isInvalidEvent(e) && (e as { details?: { field?: unknown } }).details?.field === 'type') return false;
    throw e;
  }
}
