/** Ports and headers of the consumer tests (set SCENEREC_CONSUMER_PORT to move the block of ports). */
const BASE = Number(process.env.SCENEREC_CONSUMER_PORT ?? 4410);

export const CONSUMERS = {
  viteDev: { port: BASE + 1 },
  viteBuild: { port: BASE + 2 },
  webpackProd: { port: BASE + 3 },
  webpackDev: { port: BASE + 4 },
  static: { port: BASE + 5 },
  isolated: { port: BASE + 6 },
} as const;

export type ConsumerUrls = Record<keyof typeof CONSUMERS, string>;

/**
 * The isolated page's headers: cross-origin isolation, and the Content-Security-Policy of
 * docs/install.md ('wasm-unsafe-eval' for the wasm backend and the SDK's SIMD kernels).
 */
export const ISOLATION_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Content-Security-Policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'",
};
