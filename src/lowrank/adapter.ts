/**
 * LoRA adapter files for factors W_delta = B·A (B [out, r], A [r, in] row-major):
 * - GGUF LoRA as llama.cpp's llama-adapter.cpp loads it beside a (quantized) base: metadata
 *   `general.architecture` = the base's, `general.type = "adapter"`, `adapter.type = "lora"`,
 *   `adapter.lora.alpha` (f32); tensors `<base tensor>.lora_a` with ne [in, r] (= A's bytes) and
 *   `<base tensor>.lora_b` with ne [r, out] (= B's bytes), F32 (or F16 / Q8_0: {@link GgufLoraOptions.tensorType}). llama.cpp requires
 *   lora_a.ne[0] = base.ne[0], lora_b.ne[1] = base.ne[1], lora_a.ne[1] = lora_b.ne[0], and computes
 *   y = W′x + s·B(Ax) with s = scale · alpha / r (alpha = 0 means s = scale). We write alpha = r, so s = 1.
 * - PEFT (`adapter_model.safetensors` + `adapter_config.json`) for transformers / vLLM, with HF llama names
 *   `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` [r, in] and `...lora_B.weight` [out, r].
 *   GGUF stores q/k rows in Meta's rope order (adjacent pairs); HF's q_proj/k_proj rows are permuted (first
 *   halves, then second halves of each head), so lora_B rows of q/k are un-permuted for PEFT.
 * - The low-rank replacement factors (W ≈ B·A, not W + B·A) as one safetensors file with tensors
 *   `<gguf name>.lowrank_A` [r, in] and `<gguf name>.lowrank_B` [out, r] (metadata format=tensorshrink.lowrank).
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, writeGguf, type GgufKV } from "../formats/gguf";
import { encodeSafetensors, type SafetensorsInput } from "../formats/safetensors";
import type { ByteSink } from "../formats/source";
import type { Matrix } from "../linalg/matrix";
import { encodeF16 } from "../formats/half";

/** One adapted weight. */
export interface AdapterLayer {
  /** GGUF name of the base weight, e.g. "blk.0.attn_q.weight". */
  name: string;
  /** [r, in]. */
  A: Matrix;
  /** [out, r]. */
  B: Matrix;
}

/** Shape of a base weight in ggml order (ne[0] = in, ne[1] = out). */
export interface BaseShape { name: string; ne: readonly number[] }

/**
 * Checks every layer against the base's tensors: the weight exists, is 2-D, in = ne[0], out = ne[1], and B·A chains.
 * @throws TensorshrinkError `E_SHAPE` naming the tensor and both shapes.
 */
export function checkAdapterShapes(layers: readonly AdapterLayer[], base: readonly BaseShape[]): void {
  const byName = new Map(base.map((t) => [t.name, t]));
  for (const l of layers) {
    const t = byName.get(l.name);
    if (!t) throw new TensorshrinkError("E_SHAPE", `adapter tensor ${l.name}: the base has no tensor of that name`, { tensor: l.name });
    if (l.B.cols !== l.A.rows) throw new TensorshrinkError("E_SHAPE", `adapter tensor ${l.name}: B is ${l.B.rows}×${l.B.cols} and A is ${l.A.rows}×${l.A.cols} (ranks differ)`, { tensor: l.name });
    const ok = t.ne.length >= 2 && t.ne.slice(2).every((v) => v === 1) && t.ne[0] === l.A.cols && t.ne[1] === l.B.rows;
    if (!ok) throw new TensorshrinkError("E_SHAPE", `adapter tensor ${l.name}: the factors make a [${l.B.rows}, ${l.A.cols}] (out, in) weight, the base's is ne [${t.ne.join(", ")}]`, { tensor: l.name, ne: [...t.ne], out: l.B.rows, in: l.A.cols });
  }
}

const f32Bytes = (m: Matrix) => new Uint8Array(m.data.buffer.slice(m.data.byteOffset, m.data.byteOffset + m.data.byteLength));

/** Options of {@link writeGgufLora}. */
export interface GgufLoraOptions {
  /** The base's `general.architecture` (e.g. "llama"). */
  architecture: string;
  /** `adapter.lora.alpha`; default: the rank (llama.cpp scale = alpha / r = 1). Mixed ranks: pass 0 (scale 1 for every tensor). */
  alpha?: number;
  /** Base tensor shapes: when given, checked first (nothing is written on mismatch). */
  base?: readonly BaseShape[];
  /** Extra metadata (e.g. `general.name`, `tensorshrink.eora.*`). */
  metadata?: GgufKV[];
  /**
   * Storage type of the factors: "f32" (default, 4 bytes/value), "f16" (2) or "q8_0" (34 bytes per 32 values,
   * llama.cpp's bytes; needs `quantizer`). q8_0 needs the row length (lora_a: in, lora_b: r) to be a multiple
   * of 32: a tensor whose row is not (e.g. lora_b at r = 8 or 16) is written in f16. llama.cpp loads all three.
   */
  tensorType?: AdapterTensorType;
  /** The engine (anything with `quantize(x, { type, rows, cols })`), for tensorType "q8_0". */
  quantizer?: { quantize(x: Float32Array, opts: { type: "q8_0"; rows: number; cols: number; name?: string }): Uint8Array };
}

/** Storage types of GGUF LoRA factors. */
export type AdapterTensorType = "f32" | "f16" | "q8_0";

/** The ggml type a factor of `rows` x `cols` (row length cols) is written in for a requested adapter type. */
export function adapterTensorType(type: AdapterTensorType, cols: number): AdapterTensorType {
  return type === "q8_0" && cols % 32 !== 0 ? "f16" : type;
}

/** Bytes of one factor of rows x cols in a storage type (q8_0: 34 per 32 values). */
export function adapterTensorBytes(type: AdapterTensorType, rows: number, cols: number): number {
  const t = adapterTensorType(type, cols);
  return t === "f32" ? 4 * rows * cols : t === "f16" ? 2 * rows * cols : (rows * cols / 32) * 34;
}

/**
 * Writes a GGUF LoRA adapter llama.cpp loads (`llama_adapter_lora_init`, node-llama-cpp's `lora` option).
 * File size ≈ header + r·(in + out) bytes per layer times 4 (f32), 2 (f16) or 34/32 (q8_0; f16 for rows not a multiple of 32), 32-byte aligned.
 * @returns bytes written.
 * @throws TensorshrinkError `E_SHAPE` (base mismatch, ranks), `E_RANGE` (no layers, alpha); the sink is aborted on error.
 */
export async function writeGgufLora(sink: ByteSink, layers: readonly AdapterLayer[], opts: GgufLoraOptions): Promise<number> {
  try {
    if (!layers.length) throw new TensorshrinkError("E_RANGE", "an adapter needs at least one layer", {});
    if (opts.base) checkAdapterShapes(layers, opts.base);
    const ranks = new Set(layers.map((l) => l.A.rows));
    const alpha = opts.alpha ?? (ranks.size === 1 ? layers[0]!.A.rows : 0);
    if (!Number.isFinite(alpha) || alpha < 0) throw new TensorshrinkError("E_RANGE", `alpha must be finite and ≥ 0, got ${alpha}`, { alpha });
    if (alpha !== 0 && ranks.size > 1) throw new TensorshrinkError("E_RANGE", `one alpha for ranks ${[...ranks].join(", ")} scales each tensor differently: pass alpha 0 (scale 1)`, {});
    const md: GgufKV[] = [
      ggufKV("general.architecture", "str", opts.architecture),
      ggufKV("general.type", "str", "adapter"),
      ggufKV("adapter.type", "str", "lora"),
      ggufKV("adapter.lora.alpha", "f32", alpha),
      ...(opts.metadata ?? []),
    ];
    const tt = opts.tensorType ?? "f32";
    if (tt !== "f32" && tt !== "f16" && tt !== "q8_0") throw new TensorshrinkError("E_RANGE", `adapter tensor type must be f32, f16 or q8_0, got ${String(tt)}`, { type: tt });
    if (tt === "q8_0" && !opts.quantizer) throw new TensorshrinkError("E_RANGE", "adapter tensor type q8_0 needs a quantizer (the engine)", {});
    for (const l of layers) for (const m of [l.A, l.B]) for (let i = 0; i < m.data.length; i++) {
      if (!Number.isFinite(m.data[i]!)) throw new TensorshrinkError("E_NONFINITE", `adapter tensor ${l.name}: non-finite factor value ${m.data[i]} at row ${Math.floor(i / m.cols)}, column ${i % m.cols}`, { tensor: l.name });
    }
    const specs = layers.flatMap((l) => [
      { name: `${l.name}.lora_a`, ne: [l.A.cols, l.A.rows], type: adapterTensorType(tt, l.A.cols) },
      { name: `${l.name}.lora_b`, ne: [l.B.cols, l.B.rows], type: adapterTensorType(tt, l.B.cols) },
    ]);
    const encode = (m: Matrix, type: string, name: string) =>
      type === "f32" ? f32Bytes(m) : type === "f16" ? encodeF16(m.data) : opts.quantizer!.quantize(m.data, { type: "q8_0", rows: m.rows, cols: m.cols, name });
    const layout = await writeGguf(sink, md, specs, (s, i) => encode(i % 2 ? layers[i >> 1]!.B : layers[i >> 1]!.A, s.type as string, s.name));
    return layout.fileSize ?? sink.bytesWritten;
  } catch (e) {
    await sink.abort(e);
    throw e;
  }
}

const HF_NAMES: Record<string, string> = {
  attn_q: "self_attn.q_proj", attn_k: "self_attn.k_proj", attn_v: "self_attn.v_proj", attn_output: "self_attn.o_proj",
  ffn_gate: "mlp.gate_proj", ffn_up: "mlp.up_proj", ffn_down: "mlp.down_proj",
};

/**
 * HF llama module path of a GGUF weight: "blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj".
 * @throws TensorshrinkError `E_UNSUPPORTED` for tensors PEFT llama adapters do not name (embeddings, norms, experts).
 */
export function hfModuleName(gguf: string): { module: string; target: string } {
  const m = /^blk\.(\d+)\.([a-z_]+)\.weight$/.exec(gguf);
  const hf = m ? HF_NAMES[m[2]!] : undefined;
  if (!m || !hf) throw new TensorshrinkError("E_UNSUPPORTED", `no HF llama module name for tensor ${gguf}`, { tensor: gguf });
  return { module: `model.layers.${m[1]}.${hf}`, target: hf.split(".")[1]! };
}

/** GGUF (Meta rope order) rows → HF rows for q/k: HF row h·d + j·d/2 + i = GGUF row h·d + 2i + j. */
function unpermuteRows(b: Matrix, nHead: number): Matrix {
  const d = b.rows / nHead, half = d / 2, out = new Float32Array(b.data.length), c = b.cols;
  if (!Number.isInteger(d) || d % 2) throw new TensorshrinkError("E_SHAPE", `cannot un-permute ${b.rows} rows into ${nHead} heads`, {});
  for (let h = 0; h < nHead; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
    out.set(b.data.subarray((h * d + 2 * i + j) * c, (h * d + 2 * i + j + 1) * c), (h * d + j * half + i) * c);
  }
  return { data: out, rows: b.rows, cols: c };
}

/** Options of {@link encodePeftAdapter}. */
export interface PeftOptions {
  /** `base_model_name_or_path` in adapter_config.json. */
  baseModel: string;
  /** Query / KV head counts (for the q/k row permutation GGUF → HF). */
  nHead: number;
  nHeadKv: number;
  /** lora_alpha; default r (scale 1). */
  alpha?: number;
}

/**
 * PEFT adapter files in memory: `adapter_model.safetensors` (F32) and `adapter_config.json`
 * (peft_type LORA, r, lora_alpha, target_modules, bias "none", fan_in_fan_out false).
 * @throws TensorshrinkError `E_UNSUPPORTED` (non-llama tensor names), `E_RANGE` (mixed ranks: PEFT has one r without rank_pattern).
 */
export function encodePeftAdapter(layers: readonly AdapterLayer[], opts: PeftOptions): { safetensors: Uint8Array; config: string } {
  if (!layers.length) throw new TensorshrinkError("E_RANGE", "an adapter needs at least one layer", {});
  const r = layers[0]!.A.rows;
  const rankPattern: Record<string, number> = {};
  const tensors: SafetensorsInput[] = [];
  const targets = new Set<string>();
  for (const l of layers) {
    const { module, target } = hfModuleName(l.name);
    targets.add(target);
    if (l.A.rows !== r) rankPattern[module] = l.A.rows;
    const b = target === "q_proj" ? unpermuteRows(l.B, opts.nHead) : target === "k_proj" ? unpermuteRows(l.B, opts.nHeadKv) : l.B;
    tensors.push({ name: `base_model.model.${module}.lora_A.weight`, dtype: "F32", shape: [l.A.rows, l.A.cols], data: l.A.data });
    tensors.push({ name: `base_model.model.${module}.lora_B.weight`, dtype: "F32", shape: [b.rows, b.cols], data: b.data });
  }
  const config = {
    base_model_name_or_path: opts.baseModel, peft_type: "LORA", task_type: "CAUSAL_LM", r, lora_alpha: opts.alpha ?? r,
    lora_dropout: 0, bias: "none", fan_in_fan_out: false, inference_mode: true, target_modules: [...targets].sort(),
    ...(Object.keys(rankPattern).length ? { rank_pattern: rankPattern } : {}),
  };
  return { safetensors: encodeSafetensors(tensors, { format: "pt" }), config: JSON.stringify(config, null, 2) + "\n" };
}

/** The low-rank replacement factors as one safetensors file (see the file comment for names and shapes). */
export function encodeLowRankFactors(layers: readonly AdapterLayer[], meta: Record<string, string> = {}): Uint8Array {
  const tensors: SafetensorsInput[] = [];
  for (const l of layers) {
    tensors.push({ name: `${l.name}.lowrank_A`, dtype: "F32", shape: [l.A.rows, l.A.cols], data: l.A.data });
    tensors.push({ name: `${l.name}.lowrank_B`, dtype: "F32", shape: [l.B.rows, l.B.cols], data: l.B.data });
  }
  return encodeSafetensors(tensors, { format: "tensorshrink.lowrank", ...meta });
}
