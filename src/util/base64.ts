/** Base64 decoding for the WebAssembly kernels embedded as strings (src/kernels/*.wasm.ts). */

/** The bytes of a base64 string, in a buffer of their own (WebAssembly.validate/instantiate take it). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
