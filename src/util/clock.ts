/** Milliseconds from a monotonic clock where there is one (performance.now), else the wall clock. */
export const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Lets the realm's event loop run (a worker answers the page's liveness pings) between the long
 * steps of a load: a macrotask, so pending messages are handled before the next step.
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Items a load loop handles between two yields (a few tens of ms of work at most). */
export const YIELD_EVERY_ITEMS = 65_536;
