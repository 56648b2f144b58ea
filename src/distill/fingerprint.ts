/**
 * Fingerprints stored in teacher files: 16 bytes (the first half of a SHA-256, via WebCrypto, present
 * in Node >= 20, Deno, Bun, browsers and workerd). Not a security feature: they let a consumer check
 * that a teacher file was recorded with the model and tokenizer it is about to use.
 */
import { TensorshrinkError } from "../errors";
import { ggufValueToJSON } from "../formats/gguf";
import type { ModelSource } from "../model/source";
import { concatBytes } from "../formats/bytes";

/** First 16 bytes of SHA-256 over the concatenation of `parts`. */
export async function fingerprint16(parts: Uint8Array[]): Promise<Uint8Array> {
  const subtle = (globalThis as any).crypto?.subtle;
  if (!subtle) throw new TensorshrinkError("E_UNSUPPORTED", "no WebCrypto (crypto.subtle) in this runtime for fingerprints");
  return new Uint8Array(await subtle.digest("SHA-256", concatBytes(parts))).slice(0, 16);
}

/** Raw bytes hashed from the start of each tensor (64 KiB). */
const SAMPLE = 64 << 10;

/**
 * Model and tokenizer fingerprints of a model source (a GGUF file, a converted llama2.c checkpoint, ...).
 * model: SHA-256 of the canonical JSON of the metadata and tensor list (name, type, shape) plus the
 * first 64 KiB of every tensor's stored bytes (reads at most 64 KiB per tensor).
 * tokenizer: SHA-256 of the canonical JSON of every `tokenizer.*` key (sorted by key).
 */
export async function modelFingerprints(m: ModelSource): Promise<{ model: Uint8Array; tokenizer: Uint8Array }> {
  const te = new TextEncoder();
  const kvs = (f: (k: string) => boolean) => JSON.stringify([...m.metadata].filter((kv) => f(kv.key)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((kv) => [kv.key, kv.type, ggufValueToJSON(kv.value)]));
  const parts: Uint8Array[] = [te.encode(kvs(() => true)), te.encode(JSON.stringify(m.tensors.map((t) => [t.name, t.type, t.ne])))];
  for (const t of m.tensors) {
    const rowBytes = (await t.readRawRows(0, 1)).length;
    const rows = Math.max(1, Math.min(Math.ceil(SAMPLE / Math.max(1, rowBytes)), t.ne.slice(1).reduce((a, b) => a * b, 1)));
    parts.push((await t.readRawRows(0, rows)).subarray(0, SAMPLE));
  }
  const model = await fingerprint16(parts);
  const tokenizer = await fingerprint16([te.encode(kvs((k) => k.startsWith("tokenizer.")))]);
  return { model, tokenizer };
}
