/** URL helpers shared by the page client and the engine (no TF.js here: the page bundle imports this). */

/** Makes `url` absolute against `base` (or the current location) when possible; otherwise returns it unchanged. */
export function resolveUrl(url: string, base?: string): string {
  try {
    return new URL(url).href;
  } catch { /* relative */ }
  const b = base ?? (globalThis as { location?: { href?: string } }).location?.href;
  if (b) {
    try {
      return new URL(url, b).href;
    } catch { /* base unusable */ }
  }
  return url;
}

/** Resolves a path relative to the file `fileUrl` (a URL, or a plain path in Node). */
export function resolveRelative(fileUrl: string, relative: string): string {
  try {
    return new URL(relative, fileUrl).href;
  } catch {
    return fileUrl.slice(0, fileUrl.lastIndexOf('/') + 1) + relative;
  }
}
