/**
 * Fingerprints stored in teacher files: 16 bytes (the first half of a SHA-256, via WebCrypto, present
 * in Node >= 20, Deno, Bun, browsers and workerd). Not a security feature: they let a consumer check
 * that a teacher file was recorded with the model and tokenizer it is about to use.
 */
import { TensorshrinkError } from "../errors";
import { ggufValueToJSON, type GgufFile } from "../formats/gguf";

/** First 16 bytes of SHA-256 over the concatenation of `parts`. */
export async function fingerprint16(parts: Uint8Array[]): Promise<Uint8Array> {
  const subtle = (globalThis as any).crypto?.subtle;
  if (!subtle) throw new TensorshrinkError("E_UNSUPPORTED", "no WebCrypto (crypto.subtle) in this runtime for fingerprints");
  const n = parts.reduce((a, p) => a + p.length, 0);
  const all = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { all.set(p, o); o += p.length; }
  return new Uint8Array(await subtle.digest("SHA-256", all)).slice(0, 16);
}

/** Bytes of tensor data hashed from each end of the data section (8 MiB + 8 MiB). */
const SAMPLE = 8 << 20;

/**
 * Model and tokenizer fingerprints of a GGUF file.
 * model: SHA-256 of the header (metadata + tensor infos, bytes [0, dataOffset)), the file size and
 * the first and last 8 MiB of tensor data (reads at most ~16 MiB + header).
 * tokenizer: SHA-256 of the canonical JSON of every `tokenizer.*` key (sorted by key) and the vocab size.
 */
export async function ggufFingerprints(g: GgufFile): Promise<{ model: Uint8Array; tokenizer: Uint8Array }> {
  const src = g.source;
  const head = await src.read(0, g.dataOffset);
  const dataLen = src.size - g.dataOffset;
  const first = await src.read(g.dataOffset, Math.min(SAMPLE, dataLen));
  const lastStart = Math.max(g.dataOffset + first.length, src.size - SAMPLE);
  const last = await src.read(lastStart, src.size - lastStart);
  const size = new Uint8Array(8);
  new DataView(size.buffer).setBigUint64(0, BigInt(src.size), true);
  const model = await fingerprint16([head, size, first, last]);
  const tok = [...g.kv.values()].filter((kv) => kv.key.startsWith("tokenizer.")).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((kv) => [kv.key, kv.type, ggufValueToJSON(kv.value)]);
  const tokenizer = await fingerprint16([new TextEncoder().encode(JSON.stringify(tok))]);
  return { model, tokenizer };
}
