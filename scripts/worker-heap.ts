/**
 * The JS heap used by a Web Worker, after a garbage collection, read through the DevTools
 * protocol (workers have no performance.memory). Shared by `npm run bench` and the e2e leak test.
 */
import type { Browser } from '@playwright/test';

/** Heap bytes of the last worker whose script URL contains `urlPart`; throws if there is none or it does not answer. */
export async function workerHeap(browser: Browser, urlPart: string, timeoutMs = 30_000): Promise<number> {
  const cdp = await browser.newBrowserCDPSession();
  try {
    const { targetInfos } = await cdp.send('Target.getTargets') as { targetInfos: Array<{ targetId: string; type: string; url: string }> };
    const target = targetInfos.filter((t) => t.type === 'worker' && t.url.includes(urlPart)).pop();
    if (!target) throw new Error(`no worker target matching ${urlPart}`);
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false }) as { sessionId: string };
    let nextId = 1;
    const call = (method: string) => new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`${method}: no answer`)), timeoutMs);
      const on = (ev: { sessionId: string; message: string }) => {
        const msg = JSON.parse(ev.message) as { id?: number; result?: Record<string, unknown> };
        if (ev.sessionId !== sessionId || msg.id !== id) return;
        clearTimeout(timer);
        cdp.off('Target.receivedMessageFromTarget', on);
        resolve(msg.result ?? {});
      };
      cdp.on('Target.receivedMessageFromTarget', on);
      void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method }) });
    });
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    await cdp.send('Target.detachFromTarget', { sessionId }).catch(() => undefined);
    return usage.usedSize as number;
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}
