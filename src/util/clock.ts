/** Milliseconds from a monotonic clock where there is one (performance.now), else the wall clock. */
export const now = (): number => (typeof performance !== 'undefined' ? performance.now() : Date.now());

/**
 * Lets the realm's event loop run (a worker answers the page's liveness pings) between the long
 * steps of a load: a macrotask, so pending messages are handled before the next step. A message
 * on a MessageChannel rather than setTimeout(0), which browsers clamp to 4 ms once timers nest (each
 * slice of a long load would wait that long for nothing).
 */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => {
  if (typeof MessageChannel !== 'function') { setTimeout(resolve, 0); return; }
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = () => { port1.close(); resolve(); };
  port2.postMessage(null);
});

/** Items a load loop handles between two yields (a few tens of ms of work at most). */
export const YIELD_EVERY_ITEMS = 65_536;
