/**
 * Per-layer sizes in GGUF metadata, for structured pruning. llama.cpp reads `<arch>.feed_forward_length`,
 * `<arch>.attention.head_count` and `<arch>.attention.head_count_kv` as a number or a per-layer array
 * (llama_model_loader::get_key_or_arr, for every architecture), but only `deci` (llama_model_deci, written for
 * NVIDIA's pruned Llama-3.1-Nemotron models) builds each layer's tensors and graph with that layer's values;
 * `llama` sizes every layer like layer 0 and refuses a file whose layers differ (wrong tensor extents). So:
 * - all layers equal: scalars, the architecture unchanged;
 * - layers differ: i32 arrays of block_count values and `general.architecture = deci`, every `llama.*` key
 *   renamed `deci.*` (deci's graph is llama's: RMSNorm, RoPE "norm", SwiGLU, GQA; the tensor names are the same).
 * `attention.key_length` / `value_length` are always written: llama.cpp's default head size is
 * embedding_length / head_count of layer 0, which pruning changes.
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, ggufArray, type GgufKV } from "../formats/gguf";

/** Per-layer sizes to write (nLayer values each). */
export interface LayerSizes {
  heads: readonly number[];
  headsKv: readonly number[];
  ff: readonly number[];
  /** Values per attention head (key_length = value_length). */
  headDim: number;
}

const uniform = (v: readonly number[]) => v.every((x) => x === v[0]);

/** Whether the sizes need per-layer arrays (and so the deci architecture). */
export function needsPerLayer(s: LayerSizes): boolean {
  return !(uniform(s.heads) && uniform(s.headsKv) && uniform(s.ff));
}

/**
 * The metadata of `md` (architecture `arch`) with the sizes of `s` (see the file header). Errors: E_UNSUPPORTED
 * when the layers differ and the architecture is not llama or deci (qwen2's biases and qwen3's q/k norms have no
 * deci equivalent in llama.cpp).
 */
export function withLayerSizes(md: readonly GgufKV[], arch: string, s: LayerSizes): { metadata: GgufKV[]; arch: string } {
  const per = needsPerLayer(s);
  if (per && arch !== "llama" && arch !== "deci") throw new TensorshrinkError("E_UNSUPPORTED", `the pruned layers differ in size, which llama.cpp loads only as architecture deci (from llama); ${arch} has no per-layer equivalent: use the same fraction in every layer`, { arch });
  const out = per ? "deci" : arch;
  const rename = (k: string) => (k.startsWith(arch + ".") ? out + k.slice(arch.length) : k);
  const sizes = new Map<string, GgufKV>();
  const put = (k: string, v: readonly number[]) => sizes.set(`${out}.${k}`, per ? ggufKV(`${out}.${k}`, "arr", ggufArray("i32", v)) : ggufKV(`${out}.${k}`, "u32", v[0]));
  put("feed_forward_length", s.ff);
  put("attention.head_count", s.heads);
  put("attention.head_count_kv", s.headsKv);
  sizes.set(`${out}.attention.key_length`, ggufKV(`${out}.attention.key_length`, "u32", s.headDim));
  sizes.set(`${out}.attention.value_length`, ggufKV(`${out}.attention.value_length`, "u32", s.headDim));
  const metadata: GgufKV[] = [];
  for (const kv of md) {
    if (kv.key === "general.architecture") { metadata.push(ggufKV(kv.key, "str", out)); continue; }
    const k = rename(kv.key);
    const rep = sizes.get(k);
    if (rep) { metadata.push(rep); sizes.delete(k); } else metadata.push(k === kv.key ? kv : { ...kv, key: k });
  }
  // keys the input lacked go after the other `<arch>.*` keys
  let at = metadata.length;
  for (let i = metadata.length - 1; i >= 0; i--) if (metadata[i].key.startsWith(out + ".")) { at = i + 1; break; }
  metadata.splice(at, 0, ...sizes.values());
  return { metadata, arch: out };
}
