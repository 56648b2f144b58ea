/**
 * The llama forward pass on the engine's wasm SIMD kernels (assembly/nn): token embedding, blocks of
 * RMSNorm → grouped-query attention with RoPE and an f32 KV cache → RMSNorm → SwiGLU FFN (dense, or
 * Mixtral-style top-k experts), final norm and head — the graph llama.cpp builds for `llama`; for
 * `qwen2` plus the q/k/v biases, for `qwen3` plus the per-head q/k RMSNorms, both with NEOX rope; for
 * `gemma2` / `gemma3` the √n_embd embedding scale, post-attention / post-FFN norms, GELU(tanh) gated FFN
 * (llama.cpp's f16 table with activations "llama.cpp"), query scale, attention and final soft-capping and
 * sliding-window layers with their rope base; for `phi3` the fused attn_qkv and gate_up ffn_up.
 *
 * Memory (wasm, bytes):
 *   KV cache       2 · nLayer · nCtx · nHeadKv · headDim · 4
 *   activations    4 · T · (3·nEmbd + 2·nHead·headDim + 2·nFf + nVocab [logits "all"; 1 row for "last"]) + small
 *   weights        resident: 4 × all parameters (after first use);
 *                  stream:   4 × max(one block's parameters, token_embd, output) (one block at a time)
 * Activations come from one arena reused by every call, so memory is flat across forwards.
 */
import { TensorshrinkError } from "../errors";
import type { Engine } from "../engine/engine";
import type { ModelSource } from "../model/source";
import { openModel, type ModelInput } from "../model/open";
import { llamaConfigFromMetadata, blockTensorNames, blockWeightValues, type LlamaConfig } from "./config";
import { Arena } from "./arena";
import { WeightStore, type WeightProvider } from "./weights";

/** Hooks of {@link LlamaModel.forward}: see each member. Views are valid only during the call. */
export interface ForwardHooks {
  /**
   * Called once per distinct linear-layer input, before the matmuls that read it. `tensors` names every
   * GGUF weight that reads this input (["blk.0.attn_q.weight","blk.0.attn_k.weight","blk.0.attn_v.weight"],
   * ["blk.0.ffn_gate.weight","blk.0.ffn_up.weight"], ["blk.0.attn_output.weight"], ["blk.0.ffn_down.weight"],
   * ["output.weight"] — "token_embd.weight" when the output is tied; Phi-3's fused ["blk.0.attn_qkv.weight"] and
   * ["blk.0.ffn_up.weight"] instead of the q/k/v and gate/up lists). `x` is [rows, cols] f32 row-major; `ptr`
   * its byte address in engine wasm memory (x is a view of it: copy or reduce it inside the hook; do not
   * allocate wasm memory in the hook). MoE: one call per expert with the rows routed to it and `expert` set
   * (tensors = ["blk.N.ffn_gate_exps.weight","blk.N.ffn_up_exps.weight"], then ["blk.N.ffn_down_exps.weight"]);
   * the router input is reported with the attention-norm style call ["blk.N.ffn_gate_inp.weight"] first.
   */
  linearInput?(ev: { layer: number; tensors: string[]; x: Float32Array; ptr: number; rows: number; cols: number; expert?: number }): void;
  /** Called after each transformer block with its input and output residual streams [T, nEmbd]. */
  layer?(ev: { layer: number; input: Float32Array; output: Float32Array; T: number; C: number }): void;
}

/** Options of {@link LlamaModel.open}. */
export interface LlamaOpenOptions {
  /** KV cache length in tokens (default min(nCtxTrain, 2048)); the f32 cache takes 2·nLayer·nCtx·nHeadKv·headDim·4 bytes at open. */
  nCtx?: number;
  /** "resident" keeps weights loaded after first use; "stream" loads one block at a time. Default: resident when all f32 weights fit in 1 GiB. */
  weights?: "resident" | "stream";
  /**
   * Emulate llama.cpp's default f16 KV cache (default false: f32 cache): K and V rounded to f16 in the cache,
   * and, as ggml converts the f32 operand of an f16 mat_mul, q and the softmax probabilities rounded to f16.
   */
  kvF16?: boolean;
  /** Replaces weights by name (modified weights for calibration); see {@link WeightProvider}. */
  weightProvider?: WeightProvider;
  /** "simd" (default) or "ref": the scalar twin kernels (slow; for testing). */
  kernel?: "simd" | "ref";
  /**
   * "f32" (default): matmul activations stay f32 (the model's exact math with dequantized weights).
   * "llama.cpp": before each matmul with a stored non-f32 weight, round the activations the way llama.cpp's
   * CPU backend converts them to the weight type's vec_dot_type (f16 → f16, bf16 → bf16, q4_0/q4_1/q5_0/
   * q5_1/q8_0/iq4_nl/mxfp4 → q8_0 blocks of 32, k-quants / iq4_xs / tq → q8_K blocks of 256), so logits of a
   * quantized GGUF track llama.cpp's closely. See act_quant_forward.
   */
  activations?: "f32" | "llama.cpp";
}

/** act_quant_forward kind of llama.cpp's vec_dot_type for a stored weight type (0 = none). */
export function activationKindOf(type: string): number {
  if (type === "f32") return 0;
  if (type === "f16") return 1;
  if (type === "bf16") return 2;
  if (["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "iq4_nl", "mxfp4"].includes(type)) return 3;
  if (/^q[2-6]_K$/.test(type) || ["iq4_xs", "tq1_0", "tq2_0", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"].includes(type)) return 4;
  return 0;
}

/** Options of {@link LlamaModel.forward}. */
export interface ForwardOptions {
  /** Tokens already in the KV cache (0, the default, starts a new sequence). Must be <= the cached count. */
  pos?: number;
  /** "all" (default): logits [T, nVocab]; "last": only the last row; "none": no head (empty result). */
  logits?: "all" | "last" | "none";
  hooks?: ForwardHooks;
  signal?: AbortSignal;
}

const F = 4;

/** A llama-architecture model ready to run on an engine. */
export class LlamaModel {
  readonly config: LlamaConfig;
  /** KV cache length in tokens. */
  readonly nCtx: number;
  private readonly store: WeightStore;
  private readonly arena: Arena;
  private readonly ex: Record<string, any>;
  /** Largest K/V width and query width over the layers (arena sizing); per layer: lkv / lq. */
  private readonly kvDim: number;
  private readonly qDim: number;
  private readonly lkv: number[];
  private readonly lq: number[];
  private kc: number[] = [];
  private vc: number[] = [];
  private past: number[];
  private chain: Promise<unknown> = Promise.resolve();
  private disposed = false;

  private constructor(private readonly engine: Engine, private readonly source: ModelSource, private readonly ownsSource: boolean, cfg: LlamaConfig, opts: LlamaOpenOptions) {
    this.config = cfg;
    this.nCtx = opts.nCtx ?? Math.min(cfg.nCtxTrain, 2048);
    if (!Number.isSafeInteger(this.nCtx) || this.nCtx < 1 || this.nCtx > 1 << 20) throw new TensorshrinkError("E_RANGE", `nCtx must be an integer in 1..${1 << 20}, got ${opts.nCtx}`, { nCtx: opts.nCtx });
    this.kvDim = cfg.nHeadKv * cfg.headDim;
    this.qDim = cfg.nHead * cfg.headDim;
    this.lkv = cfg.layerHeadsKv.map((h) => h * cfg.headDim);
    this.lq = cfg.layerHeads.map((h) => h * cfg.headDim);
    const total = source.tensors.reduce((s, t) => s + t.ne.reduce((a, b) => a * b, 1), 0);
    const mode = opts.weights ?? (total * 4 <= 1 << 30 ? "resident" : "stream");
    if (mode !== "resident" && mode !== "stream") throw new TensorshrinkError("E_RANGE", `weights must be "resident" or "stream", got ${String(mode)}`);
    this.store = new WeightStore(engine, source, mode);
    this.store.provider = opts.weightProvider;
    this.arena = new Arena(engine);
    const k = opts.kernel ?? "simd";
    if (k !== "simd" && k !== "ref") throw new TensorshrinkError("E_RANGE", `kernel must be "simd" or "ref", got ${String(k)}`);
    const suffix = k === "ref" ? "_ref" : "";
    const ex = engine.exports;
    const pick = (n: string) => { const f = ex[n + suffix] ?? ex[n]; if (typeof f !== "function") throw new TensorshrinkError("E_WASM_LOAD", `the wasm module lacks the ${n} kernel (rebuild)`); return f; };
    this.ex = {};
    for (const n of ["matmul_forward", "rmsnorm_forward", "rope_forward", "attention_forward", "swiglu_forward", "add_forward", "moe_gate_forward", "moe_scatter_add", "round_f16_forward",
      "geglu_forward", "softcap_forward", "scale_forward", "attention_ext_forward"]) this.ex[n] = pick(n);
    this.ex.act_quant_forward = pick("act_quant_forward");
    this.ex.gather_rows = pick("gather_rows");
    this.ex.find_nonfinite = pick("find_nonfinite");
    this.kvF16 = !!opts.kvF16;
    const act = opts.activations ?? "f32";
    if (act !== "f32" && act !== "llama.cpp") throw new TensorshrinkError("E_RANGE", `activations must be "f32" or "llama.cpp", got ${String(act)}`);
    this.actLlama = act === "llama.cpp";
    this.validateTensors();
    this.past = new Array(cfg.nLayer).fill(0);
    const kvBytes = (l: number) => this.nCtx * this.lkv[l] * F;
    try {
      for (let l = 0; l < cfg.nLayer; l++) { this.kc.push(engine.alloc(kvBytes(l))); this.vc.push(engine.alloc(kvBytes(l))); }
    } catch (e) {
      this.freeCache();
      if ((e as any)?.code === "E_OOM") throw new TensorshrinkError("E_OOM", `the f32 KV cache for nCtx = ${this.nCtx} needs ${2 * this.lkv.reduce((a, b) => a + b * this.nCtx * F, 0)} bytes of wasm memory, which could not be allocated: pass a smaller nCtx`, { nCtx: this.nCtx, bytes: 2 * this.lkv.reduce((a, b) => a + b * this.nCtx * F, 0) }, { cause: e });
      throw e;
    }
  }
  private readonly kvF16: boolean;
  private readonly actLlama: boolean;
  /** Scratch for rounded activations (arena, set per call when actLlama). */
  private aq = 0;

  /**
   * Opens a GGUF (path / URL / Blob / ByteSource, or a ModelSource such as an openModel() result — a
   * llama2.c checkpoint converts on the fly). Reads only the header; weights load when first used.
   * @throws TensorshrinkError `E_UNSUPPORTED` (architecture, rope scaling), `E_FORMAT` (missing tensor or key, named), `E_SHAPE`.
   */
  static async open(engine: Engine, input: ModelInput | ModelSource, opts: LlamaOpenOptions = {}): Promise<LlamaModel> {
    const isSource = !!input && typeof input === "object" && Array.isArray((input as ModelSource).tensors) && Array.isArray((input as ModelSource).metadata);
    const source = isSource ? (input as ModelSource) : await openModel(input as ModelInput, engine);
    try {
      const cfg = llamaConfigFromMetadata(source.metadata, source.tensors);
      return new LlamaModel(engine, source, !isSource, cfg, opts);
    } catch (e) {
      if (!isSource) await source.close?.();
      throw e;
    }
  }

  /** Tokens in the KV cache (of the last layer run). */
  get cachedTokens(): number { return this.past[this.config.nLayer - 1] ?? 0; }

  /** The weight provider (set or clear it; call {@link invalidateWeights} for tensors already loaded). */
  get weightProvider(): WeightProvider | undefined { return this.store.provider; }
  set weightProvider(p: WeightProvider | undefined) { this.store.provider = p; }

  /** Drops loaded weights (all, or the named ones) so they are read again (through the provider) on next use. */
  invalidateWeights(names?: Iterable<string>): void { if (names) this.store.drop(names); else this.store.clear(); }

  /** Bytes of f32 weights currently in wasm memory. */
  get residentWeightBytes(): number { return this.store.residentBytes; }

  private validateTensors(): void {
    const c = this.config, C = c.nEmbd, s = this.store;
    s.expect("token_embd.weight", [C, c.nVocab]);
    s.expect("output_norm.weight", [C]);
    if (!c.tiedOutput) s.expect("output.weight", [C, c.nVocab]);
    if (c.ropeFreqs) s.expect("rope_freqs.weight", [c.nRot / 2]);
    for (let l = 0; l < c.nLayer; l++) {
      const n = blockTensorNames(c, l);
      s.expect(n.attn_norm, [C]); s.expect(n.ffn_norm, [C]);
      const qd = this.lq[l], kvd = this.lkv[l], ffl = c.layerFf[l];
      if (c.fusedQkv) s.expect(n.attn_qkv!, [C, qd + 2 * kvd]);
      else { s.expect(n.attn_q!, [C, qd]); s.expect(n.attn_k!, [C, kvd]); s.expect(n.attn_v!, [C, kvd]); }
      s.expect(n.attn_output, [qd, C]);
      if (c.postNorms) { s.expect(n.attn_post_norm!, [C]); s.expect(n.ffn_post_norm!, [C]); }
      if (c.qkvBias) { s.expect(n.attn_q_bias!, [qd]); s.expect(n.attn_k_bias!, [kvd]); s.expect(n.attn_v_bias!, [kvd]); }
      if (c.qkNorm) { s.expect(n.attn_q_norm!, [c.headDim]); s.expect(n.attn_k_norm!, [c.headDim]); }
      if (c.attnOutBias) s.expect(n.attn_output_bias!, [C]);
      if (c.ffnDownBias) s.expect(n.ffn_down_bias!, [C]);
      if (c.nExpert > 0) {
        s.expect(n.ffn_gate_inp, [C, c.nExpert]);
        s.expect(n.ffn_gate, [C, c.nFf, c.nExpert]); s.expect(n.ffn_up, [C, c.nFf, c.nExpert]); s.expect(n.ffn_down, [c.nFf, C, c.nExpert]);
      } else if (c.fusedGateUp) {
        s.expect(n.ffn_up, [C, 2 * c.nFf]); s.expect(n.ffn_down, [c.nFf, C]);
      } else {
        s.expect(n.ffn_gate, [C, ffl]); s.expect(n.ffn_up, [C, ffl]); s.expect(n.ffn_down, [ffl, C]);
      }
    }
  }

  private check(): void {
    if (this.disposed) throw new TensorshrinkError("E_DISPOSED", "this LlamaModel was disposed");
    if (this.engine.isDisposed) throw new TensorshrinkError("E_DISPOSED", "the engine of this LlamaModel was disposed");
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.chain.then(fn, fn);
    this.chain = r.catch(() => undefined);
    return r;
  }

  private f32(ptr: number, n: number): Float32Array { return new Float32Array(this.engine.exports.memory.buffer, ptr, n); }

  private tokensOf(tokens: Int32Array | number[]): Int32Array {
    if (!(tokens instanceof Int32Array) && !Array.isArray(tokens)) throw new TensorshrinkError("E_ARG_TYPE", "tokens must be an Int32Array or an array of numbers");
    const t = tokens instanceof Int32Array ? tokens : Int32Array.from(tokens, (v) => (Number.isInteger(v) ? v : NaN));
    if (t.length === 0) throw new TensorshrinkError("E_SHAPE", "tokens is empty");
    for (let i = 0; i < t.length; i++) {
      const v = tokens[i] as number;
      if (!Number.isInteger(v) || v < 0 || v >= this.config.nVocab) throw new TensorshrinkError("E_RANGE", `token id ${v} at index ${i} is out of range 0..${this.config.nVocab - 1}`, { index: i, token: v, nVocab: this.config.nVocab });
    }
    return t;
  }

  private checkPos(pos: number, T: number, layer: number): void {
    if (!Number.isSafeInteger(pos) || pos < 0) throw new TensorshrinkError("E_RANGE", `pos must be a non-negative integer, got ${pos}`, { pos });
    if (pos > this.past[layer]) throw new TensorshrinkError("E_RANGE", `pos ${pos} is beyond the ${this.past[layer]} tokens in the KV cache of layer ${layer}`, { pos, cached: this.past[layer], layer });
    if (pos + T > this.nCtx) throw new TensorshrinkError("E_RANGE", `context of ${pos + T} tokens (pos ${pos} + ${T}) is longer than nCtx = ${this.nCtx}`, { pos, T, nCtx: this.nCtx });
  }

  /** Arena bytes a call over T tokens needs. */
  private arenaBytes(T: number, logitRows: number): number {
    const c = this.config, C = c.nEmbd, k = Math.max(1, c.nExpertUsed);
    const vals = 4 * T * C + 2 * T * this.qDim + 2 * T * c.nFf + logitRows * c.nVocab + this.nCtx + c.nRot +
      (c.nExpert > 0 ? T * c.nExpert + 2 * T * k + c.nExpert + 2 * T + T * C : 0);
    const aq = this.actLlama ? T * Math.max(C, c.nFf, this.qDim) : 0;
    return (vals + aq) * F + 64 * 32;
  }

  /** Takes the activation-rounding scratch for a call over T tokens (after arena.reserve). */
  private takeAq(T: number): void {
    const c = this.config;
    this.aq = this.actLlama ? this.arena.take(T * Math.max(c.nEmbd, c.nFf, this.qDim) * F) : 0;
  }

  // ------------------------------------------------------------------ public API

  /**
   * Runs tokens at positions [pos, pos+T) (pos = tokens already in the KV cache; 0 resets it).
   * @returns logits [T, nVocab] row-major (only the last row with logits "last"; empty with "none").
   * @throws TensorshrinkError `E_RANGE` (token id, context length, pos), `E_NONFINITE` (NaN/Inf in a
   *   block output, named by layer and tensor), `E_ABORTED`, `E_FORMAT` / `E_IO` (weights).
   */
  forward(tokens: Int32Array | number[], opts: ForwardOptions = {}): Promise<Float32Array> {
    return this.serial(() => this.forwardNow(tokens, opts));
  }

  private async forwardNow(tokens: Int32Array | number[], opts: ForwardOptions): Promise<Float32Array> {
    this.check();
    const tok = this.tokensOf(tokens);
    const T = tok.length, C = this.config.nEmbd, pos = opts.pos ?? 0;
    const mode = opts.logits ?? "all";
    if (mode !== "all" && mode !== "last" && mode !== "none") throw new TensorshrinkError("E_RANGE", `logits must be "all", "last" or "none", got ${String(mode)}`);
    for (let l = 0; l < this.config.nLayer; l++) this.checkPos(pos, T, l);
    const rows = mode === "all" ? T : mode === "last" ? 1 : 0;
    this.arena.reserve(this.arenaBytes(T, rows));
    const m0 = this.arena.mark();
    try {
      this.takeAq(T);
      let x = this.arena.take(T * C * F), y = this.arena.take(T * C * F);
      await this.embedInto(x, tok);
      for (let l = 0; l < this.config.nLayer; l++) {
        if (opts.signal?.aborted) throw new TensorshrinkError("E_ABORTED", `forward aborted before layer ${l}`, { layer: l });
        await this.blockInto(l, y, x, T, pos, opts.hooks);
        const t = x; x = y; y = t;
      }
      if (rows === 0) return new Float32Array(0);
      return await this.headFrom(x + (T - rows) * C * F, rows, opts.hooks);
    } finally {
      this.arena.release(m0);
    }
  }

  /**
   * Greedy decoding with the KV cache: the prompt in one batch, then one token per step.
   * @returns the generated token ids (without the prompt); with `stopAtEos` (default true) it stops after
   *   producing EOS (the EOS id is the last element).
   * @throws TensorshrinkError `E_RANGE` when prompt + nTokens exceeds nCtx.
   */
  async generate(prompt: Int32Array | number[], nTokens: number, opts: { stopAtEos?: boolean; signal?: AbortSignal } = {}): Promise<number[]> {
    const p = this.tokensOf(prompt);
    if (!Number.isSafeInteger(nTokens) || nTokens < 0) throw new TensorshrinkError("E_RANGE", `nTokens must be a non-negative integer, got ${nTokens}`);
    if (p.length + nTokens > this.nCtx) throw new TensorshrinkError("E_RANGE", `prompt (${p.length}) + ${nTokens} tokens exceeds nCtx = ${this.nCtx}`, { prompt: p.length, nTokens, nCtx: this.nCtx });
    const out: number[] = [];
    if (nTokens === 0) return out;
    let logits = await this.forward(p, { pos: 0, logits: "last", signal: opts.signal });
    for (let i = 0; i < nTokens; i++) {
      const next = argmaxOf(logits);
      out.push(next);
      if (opts.stopAtEos !== false && next === this.config.eos) break;
      if (i + 1 < nTokens) logits = await this.forward([next], { pos: p.length + i, logits: "last", signal: opts.signal });
    }
    return out;
  }

  /** Layer-granular: the token embeddings [T, nEmbd] (a copy). */
  embed(tokens: Int32Array | number[]): Promise<Float32Array> {
    return this.serial(async () => {
      this.check();
      const tok = this.tokensOf(tokens), n = tok.length * this.config.nEmbd;
      this.arena.reserve(this.arenaBytes(tok.length, 0));
      const m = this.arena.mark();
      try {
        const x = this.arena.take(n * F);
        await this.embedInto(x, tok);
        return this.f32(x, n).slice();
      } finally { this.arena.release(m); }
    });
  }

  /**
   * Layer-granular: runs block `layer` on residual stream `x` [T, nEmbd] at positions [pos, pos+T)
   * (writing that layer's KV cache) and returns its output [T, nEmbd] (a copy). With a weight provider
   * (or {@link invalidateWeights}) the block runs with modified weights.
   */
  runBlock(layer: number, x: Float32Array, opts: { pos?: number; hooks?: ForwardHooks } = {}): Promise<Float32Array> {
    return this.serial(async () => {
      this.check();
      const C = this.config.nEmbd;
      if (!Number.isSafeInteger(layer) || layer < 0 || layer >= this.config.nLayer) throw new TensorshrinkError("E_RANGE", `layer ${layer} is out of range 0..${this.config.nLayer - 1}`, { layer });
      if (!(x instanceof Float32Array) || x.length === 0 || x.length % C !== 0) throw new TensorshrinkError("E_SHAPE", `runBlock input must be a Float32Array of T × ${C} values, got ${x?.length}`, { layer });
      const T = x.length / C, pos = opts.pos ?? 0;
      this.checkPos(pos, T, layer);
      this.arena.reserve(this.arenaBytes(T, 0));
      const m = this.arena.mark();
      try {
        this.takeAq(T);
        const a = this.arena.take(T * C * F), b = this.arena.take(T * C * F);
        this.f32(a, T * C).set(x);
        await this.blockInto(layer, b, a, T, pos, opts.hooks);
        return this.f32(b, T * C).slice();
      } finally { this.arena.release(m); }
    });
  }

  /** Layer-granular: final norm + head over residual rows `x` [rows, nEmbd]; logits [rows, nVocab]. */
  head(x: Float32Array, opts: { hooks?: ForwardHooks } = {}): Promise<Float32Array> {
    return this.serial(async () => {
      this.check();
      const C = this.config.nEmbd;
      if (!(x instanceof Float32Array) || x.length === 0 || x.length % C !== 0) throw new TensorshrinkError("E_SHAPE", `head input must be a Float32Array of rows × ${C} values, got ${x?.length}`);
      const rows = x.length / C;
      this.arena.reserve(this.arenaBytes(rows, rows));
      const m = this.arena.mark();
      try {
        this.takeAq(rows);
        const a = this.arena.take(rows * C * F);
        this.f32(a, rows * C).set(x);
        return await this.headFrom(a, rows, opts.hooks);
      } finally { this.arena.release(m); }
    });
  }

  /** Frees the KV cache, weights and activations (and closes the source when open() opened it). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.engine.isDisposed) { this.store.clear(); this.arena.dispose(); this.freeCache(); }
    this.store.close();
    if (this.ownsSource) void this.source.close?.();
  }

  private freeCache(): void {
    for (const p of [...this.kc, ...this.vc]) this.engine.free(p);
    this.kc = []; this.vc = [];
  }

  // ------------------------------------------------------------------ the graph

  private async embedInto(x: number, tok: Int32Array): Promise<void> {
    const C = this.config.nEmbd, name = "token_embd.weight";
    const resident = this.store.mode === "resident" || this.config.tiedOutput || this.store.provider !== undefined;
    if (resident) {
      const w = await this.store.get(name);
      const u8 = new Uint8Array(this.engine.exports.memory.buffer);
      for (let t = 0; t < tok.length; t++) u8.copyWithin(x + t * C * F, w + tok[t] * C * F, w + (tok[t] + 1) * C * F);
    } else {
      const t = this.store.tensor(name);
      const rowsByTok = new Map<number, Float32Array>();
      for (const id of tok) if (!rowsByTok.has(id)) rowsByTok.set(id, await t.readRows(id, 1));
      for (let i = 0; i < tok.length; i++) this.f32(x + i * C * F, C).set(rowsByTok.get(tok[i])!);
    }
    // Gemma: inp_scaled = ggml_scale(inpL, sqrtf(n_embd))
    if (this.config.embedScale !== 1) this.ex.scale_forward(x, x, tok.length * C, this.config.embedScale);
  }

  private hookLinear(hooks: ForwardHooks | undefined, layer: number, tensors: string[], ptr: number, rows: number, cols: number, expert?: number): void {
    if (!hooks?.linearInput) return;
    const ev: any = { layer, tensors, x: this.f32(ptr, rows * cols), ptr, rows, cols };
    if (expert !== undefined) ev.expert = expert;
    hooks.linearInput(ev);
  }

  private finite(ptr: number, n: number, layer: number, tensor: string, C = this.config.nEmbd): void {
    const i = this.ex.find_nonfinite(ptr, n) as number;
    if (i >= 0) {
      const v = this.f32(ptr + i * F, 1)[0];
      throw new TensorshrinkError("E_NONFINITE", `${v} in the output of ${tensor} (layer ${layer}) at token ${Math.floor(i / C)}, channel ${i % C}`, { layer, tensor, token: Math.floor(i / C), channel: i % C });
    }
  }

  /** x[t, :] += bias for every token (llama.cpp: ggml_add of the 1-D bias, broadcast over tokens). */
  private async addBias(x: number, name: string, T: number, C: number): Promise<void> {
    const b = await this.store.get(name);
    for (let t = 0; t < T; t++) this.ex.add_forward(x + t * C * F, x + t * C * F, b, C);
  }

  /** out[T, OC] = inp[T, Cin] · W[OC, Cin]ᵀ for weight `name` at `w` (llama.cpp activation rounding when enabled). */
  private mm(out: number, inp: number, name: string, w: number, T: number, Cin: number, OC: number): void {
    if (this.actLlama) {
      const kind = activationKindOf(this.store.typeOf(name));
      if (kind !== 0) {
        this.ex.act_quant_forward(this.aq, inp, T * Cin, kind);
        inp = this.aq;
      }
    }
    this.ex.matmul_forward(out, inp, w, 0, T, Cin, OC);
  }

  /** out = block(inp): out and inp are [T, C] in wasm memory. */
  private async blockInto(l: number, out: number, inp: number, T: number, pos: number, hooks: ForwardHooks | undefined): Promise<void> {
    const c = this.config, C = c.nEmbd, ex = this.ex, s = this.store, n = blockTensorNames(c, l);
    const qDim = this.lq[l], kvDim = this.lkv[l], nHead = c.layerHeads[l], nHeadKv = c.layerHeadsKv[l], nFf = c.layerFf[l];
    const m = this.arena.mark();
    try {
      const xb = this.arena.take(T * C * F);
      const q = this.arena.take(T * qDim * F), att = this.arena.take(T * qDim * F);
      const scores = this.arena.take(this.nCtx * F), cs = this.arena.take(c.nRot * F);
      const ff = c.ropeFreqs ? await s.get("rope_freqs.weight") : 0;
      // attention
      ex.rmsnorm_forward(xb, inp, await s.get(n.attn_norm), T, C, c.normEps);
      this.hookLinear(hooks, l, c.fusedQkv ? [n.attn_qkv!] : [n.attn_q!, n.attn_k!, n.attn_v!], xb, T, C);
      const kRow = this.kc[l] + pos * kvDim * F, vRow = this.vc[l] + pos * kvDim * F;
      if (c.fusedQkv) {
        // Phi-3: rows [0, q) of attn_qkv are q, then k, then v (llama.cpp build_qkv views of one matmul)
        const w = await s.get(n.attn_qkv!);
        this.mm(q, xb, n.attn_qkv!, w, T, C, qDim);
        this.mm(kRow, xb, n.attn_qkv!, w + qDim * C * F, T, C, kvDim);
        this.mm(vRow, xb, n.attn_qkv!, w + (qDim + kvDim) * C * F, T, C, kvDim);
      } else {
        this.mm(q, xb, n.attn_q!, await s.get(n.attn_q!), T, C, qDim);
        this.mm(kRow, xb, n.attn_k!, await s.get(n.attn_k!), T, C, kvDim);
        this.mm(vRow, xb, n.attn_v!, await s.get(n.attn_v!), T, C, kvDim);
      }
      if (c.qkvBias) {
        // qwen2: + bias per row (llama.cpp: ggml_add of the 1-D bias, broadcast over tokens)
        const bq = await s.get(n.attn_q_bias!), bk = await s.get(n.attn_k_bias!), bv = await s.get(n.attn_v_bias!);
        for (let t = 0; t < T; t++) {
          const oq = q + t * qDim * F, ok = kRow + t * kvDim * F, ov = vRow + t * kvDim * F;
          ex.add_forward(oq, oq, bq, qDim); ex.add_forward(ok, ok, bk, kvDim); ex.add_forward(ov, ov, bv, kvDim);
        }
      }
      if (c.qkNorm) {
        // qwen3: RMSNorm of every head of q and k (rows of headDim), before rope
        ex.rmsnorm_forward(q, q, await s.get(n.attn_q_norm!), T * nHead, c.headDim, c.normEps);
        ex.rmsnorm_forward(kRow, kRow, await s.get(n.attn_k_norm!), T * nHeadKv, c.headDim, c.normEps);
      }
      // sliding-window layers have their own rope base / scale (llama.cpp get_rope_freq_base / _scale)
      const sw = c.swa[l] === true, base = sw ? c.ropeFreqBaseSwa : c.ropeFreqBase;
      const neox = c.ropeType === "neox" ? 1 : 0, fs = 1 / (sw ? c.ropeScaleLinearSwa : c.ropeScaleLinear);
      ex.rope_forward(q, cs, ff, T, nHead, c.headDim, c.nRot, pos, base, fs, neox);
      ex.rope_forward(kRow, cs, ff, T, nHeadKv, c.headDim, c.nRot, pos, base, fs, neox);
      // Gemma: Qcur = ggml_scale(Qcur, f_attention_scale), then attention with scale 1
      if (c.postNorms) ex.scale_forward(q, q, T * qDim, c.attnScale);
      if (this.kvF16) {
        // llama.cpp's f16 cache: K and V stored as f16; q (the f32 operand of K·q) converted to f16 too
        ex.round_f16_forward(kRow, kRow, T * kvDim); ex.round_f16_forward(vRow, vRow, T * kvDim); ex.round_f16_forward(q, q, T * qDim);
      }
      this.past[l] = pos + T;
      if (c.postNorms) ex.attention_ext_forward(att, q, this.kc[l], this.vc[l], scores, T, pos, nHead, nHeadKv, c.headDim, kvDim, this.kvF16 ? 1 : 0, 1, c.attnSoftcap, sw ? c.slidingWindow : 0);
      else ex.attention_forward(att, q, this.kc[l], this.vc[l], scores, T, pos, nHead, nHeadKv, c.headDim, kvDim, this.kvF16 ? 1 : 0);
      this.hookLinear(hooks, l, [n.attn_output], att, T, qDim);
      this.mm(xb, att, n.attn_output, await s.get(n.attn_output), T, qDim, C);
      if (c.attnOutBias) await this.addBias(xb, n.attn_output_bias!, T, C);
      if (c.postNorms) ex.rmsnorm_forward(xb, xb, await s.get(n.attn_post_norm!), T, C, c.normEps);
      ex.add_forward(out, inp, xb, T * C);
      this.finite(out, T * C, l, n.attn_output);
      // feed-forward
      ex.rmsnorm_forward(xb, out, await s.get(n.ffn_norm), T, C, c.normEps);
      if (c.nExpert > 0) await this.moe(l, n, out, xb, T, hooks);
      else {
        const g = this.arena.take(T * nFf * F), u = this.arena.take(T * nFf * F);
        if (c.fusedGateUp) {
          // Phi-3: ffn_up rows [0, nFf) are the gate, [nFf, 2·nFf) the up projection (ggml_swiglu of one matmul)
          this.hookLinear(hooks, l, [n.ffn_up], xb, T, C);
          const w = await s.get(n.ffn_up);
          this.mm(g, xb, n.ffn_up, w, T, C, nFf);
          this.mm(u, xb, n.ffn_up, w + nFf * C * F, T, C, nFf);
        } else {
          this.hookLinear(hooks, l, [n.ffn_gate, n.ffn_up], xb, T, C);
          this.mm(g, xb, n.ffn_gate, await s.get(n.ffn_gate), T, C, nFf);
          this.mm(u, xb, n.ffn_up, await s.get(n.ffn_up), T, C, nFf);
        }
        if (c.ffnAct === "gelu") ex.geglu_forward(g, g, u, T * nFf, this.actLlama ? 1 : 0);
        else ex.swiglu_forward(g, g, u, T * nFf);
        this.hookLinear(hooks, l, [n.ffn_down], g, T, nFf);
        this.mm(xb, g, n.ffn_down, await s.get(n.ffn_down), T, nFf, C);
        if (c.ffnDownBias) await this.addBias(xb, n.ffn_down_bias!, T, C);
        if (c.postNorms) ex.rmsnorm_forward(xb, xb, await s.get(n.ffn_post_norm!), T, C, c.normEps);
        ex.add_forward(out, out, xb, T * C);
      }
      this.finite(out, T * C, l, n.ffn_down);
      if (hooks?.layer) hooks.layer({ layer: l, input: this.f32(inp, T * C), output: this.f32(out, T * C), T, C });
    } finally {
      this.arena.release(m);
      if (s.mode === "stream") s.drop(Object.values(n));
    }
  }

  /** Mixtral MoE FFN: out += Σ_k w_k · down_e(silu(gate_e(xb)) · up_e(xb)) over each token's top-k experts. */
  private async moe(l: number, n: Record<string, string>, out: number, xb: number, T: number, hooks: ForwardHooks | undefined): Promise<void> {
    const c = this.config, C = c.nEmbd, E = c.nExpert, K = c.nExpertUsed, ex = this.ex;
    const logits = this.arena.take(T * E * F), idx = this.arena.take(T * K * F), w = this.arena.take(T * K * F), probs = this.arena.take(E * F);
    const rowIdx = this.arena.take(T * F), rowW = this.arena.take(T * F), xg = this.arena.take(T * C * F);
    const g = this.arena.take(T * c.nFf * F), u = this.arena.take(T * c.nFf * F);
    this.hookLinear(hooks, l, [n.ffn_gate_inp], xb, T, C);
    this.mm(logits, xb, n.ffn_gate_inp, await this.store.get(n.ffn_gate_inp), T, C, E);
    ex.moe_gate_forward(idx, w, logits, probs, T, E, K);
    const mem = () => this.engine.exports.memory.buffer;
    const gate = await this.store.get(n.ffn_gate), up = await this.store.get(n.ffn_up), down = await this.store.get(n.ffn_down);
    const ew = C * c.nFf * F;
    for (let e = 0; e < E; e++) {
      const I = new Int32Array(mem(), idx, T * K), W = new Float32Array(mem(), w, T * K);
      const RI = new Int32Array(mem(), rowIdx, T), RW = new Float32Array(mem(), rowW, T);
      let r = 0;
      for (let t = 0; t < T; t++) for (let j = 0; j < K; j++) if (I[t * K + j] === e) { RI[r] = t; RW[r] = W[t * K + j]; r++; }
      if (r === 0) continue;
      ex.gather_rows(xg, xb, rowIdx, r, C);
      this.hookLinear(hooks, l, [n.ffn_gate, n.ffn_up], xg, r, C, e);
      this.mm(g, xg, n.ffn_gate, gate + e * ew, r, C, c.nFf);
      this.mm(u, xg, n.ffn_up, up + e * ew, r, C, c.nFf);
      ex.swiglu_forward(g, g, u, r * c.nFf);
      this.hookLinear(hooks, l, [n.ffn_down], g, r, c.nFf, e);
      this.mm(xg, g, n.ffn_down, down + e * ew, r, c.nFf, C);
      ex.moe_scatter_add(out, xg, rowW, rowIdx, r, C);
    }
  }

  /** Final norm and head over `rows` residual rows at x; returns a fresh Float32Array [rows, nVocab]. */
  private async headFrom(x: number, rows: number, hooks: ForwardHooks | undefined): Promise<Float32Array> {
    const c = this.config, C = c.nEmbd, s = this.store;
    const m = this.arena.mark();
    try {
      const xb = this.arena.take(rows * C * F), lo = this.arena.take(rows * c.nVocab * F);
      this.ex.rmsnorm_forward(xb, x, await s.get("output_norm.weight"), rows, C, c.normEps);
      const wname = c.tiedOutput ? "token_embd.weight" : "output.weight";
      this.hookLinear(hooks, c.nLayer, [wname], xb, rows, C);
      this.mm(lo, xb, wname, await s.get(wname), rows, C, c.nVocab);
      if (c.finalSoftcap > 0) this.ex.softcap_forward(lo, lo, rows * c.nVocab, c.finalSoftcap);
      this.finite(lo, rows * c.nVocab, c.nLayer, wname, c.nVocab);
      return this.f32(lo, rows * c.nVocab).slice();
    } finally {
      this.arena.release(m);
      if (s.mode === "stream") s.drop(["output.weight", "output_norm.weight"]);
    }
  }
}

/** Index of the largest value (first on ties). */
export function argmaxOf(x: Float32Array): number {
  let b = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i;
  return b;
}

/** f32 values of one block's weights for `cfg` (see {@link blockWeightValues}); × 4 for bytes. */
export { blockWeightValues };
