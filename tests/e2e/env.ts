/** Where the e2e tests serve the build (`vite preview`); shared by playwright.config.ts and the specs. */
export const PORT = Number(process.env.SCENEREC_E2E_PORT ?? 4317);
export const BASE_URL = `http://localhost:${PORT}`;
