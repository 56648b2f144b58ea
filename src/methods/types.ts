/**
 * The method seam (DESIGN.md "A method seam in the pipeline"): what a compression method is to
 * {@link quantizeModel}. A {@link TensorMethod} turns one whole f32 tensor into bytes of its target
 * type (or into modified f32 weights that RTN then quantizes, plus an optional mask and extra tensors);
 * a {@link LayerMethod} changes several tensors of one block together (scale folding, channel pruning).
 * Methods declare what they need (activation statistics) and the shapes of any extra tensors before any
 * data flows, because the GGUF header is written first.
 */
import type { Engine } from "../engine/engine";
import type { ActInput, ActStats } from "../calib/stats";

/** What a method is asked about before data flows (one tensor of the output plan). */
export interface TensorInfo {
  /** GGUF tensor name, e.g. "blk.0.attn_q.weight". */
  name: string;
  /** ggml extents (ne[0] = values per row = input width). */
  ne: readonly number[];
  /** Output type the recipe chose ("q4_K", "q6_K", "f16", "f32" = dense output, ...). */
  targetType: string;
  /** Transformer block of the tensor (-1 for token_embd / output / output_norm). */
  layer: number;
}

/** Activation statistics a method needs (a calibrated sweep runs when any method needs any). */
export interface MethodNeeds {
  /** Σx² per input column (the importance matrix). */
  sumSq?: boolean;
  /** Σ|x| per input column (AWQ). */
  sumAbs?: boolean;
  /** The Gram matrix XᵀX of the tensor's input (GPTQ, SparseGPT): cols² × 8 bytes per distinct input. */
  gram?: boolean;
}

/** An extra tensor a method adds to the file (LoRA factors, TT cores, masks as tensors). */
export interface ExtraTensorSpec {
  name: string;
  ne: number[];
  /** ggml type name of `data` as written. */
  type: string;
}

/** Input of {@link TensorMethod.apply}. */
export interface TensorMethodContext {
  engine: Engine;
  name: string;
  layer: number;
  ne: readonly number[];
  targetType: string;
  /** The tensor as f32, rows × cols row-major (cols = ne[0]); the method may modify it in place. */
  weight: Float32Array;
  /** Statistics of the tensor's input (from the calibrated sweep or given stats), when collected. */
  stats?: ActInput;
  /** Per-column importance (the user's imatrix, else Σx²/count from the sweep), or null. */
  imatrix?: Float32Array | null;
  signal?: AbortSignal;
  /** The bytes (targetType) the previous method of this tensor's chain returned, if any (e.g. gptq's, for `search`). */
  bytes?: Uint8Array;
}

/** Output of {@link TensorMethod.apply}: `bytes` (already targetType), or `weight` (then quantized by RTN). */
export interface TensorMethodResult {
  /** rows × rowBytes(targetType, cols) bytes, the tensor's data as written. */
  bytes?: Uint8Array;
  /** Modified f32 weights (rows × cols), quantized with llama.cpp's RTN to targetType by the pipeline. */
  weight?: Float32Array;
  /** One byte per weight (1 = kept) for pruning methods; not written to the GGUF (reported back). */
  mask?: Uint8Array;
  /** Extra tensors, exactly those {@link TensorMethod.outputShapes} declared (names, ne, type). */
  extra?: { name: string; ne: number[]; type: string; data: Uint8Array }[];
  /** Free-form per-tensor figures for the report (e.g. damping used, error before/after). */
  info?: Record<string, number | string>;
}

/** A per-tensor compression method. */
export interface TensorMethod {
  readonly kind?: "tensor";
  /** Short name recorded in `quantize.method` ("rtn", "gptq", ...). */
  readonly name: string;
  /** true, or the reason the method does not apply (the tensor then goes the plain RTN path). */
  appliesTo(t: TensorInfo): true | string;
  needs?: MethodNeeds;
  /** Extra tensors this method adds for `t` (declared before data flows; default none). */
  outputShapes?(t: TensorInfo): ExtraTensorSpec[];
  apply(ctx: TensorMethodContext): Promise<TensorMethodResult>;
}

/** Input of {@link LayerMethod.applyLayer}. */
export interface LayerMethodContext {
  engine: Engine;
  layer: number;
  /** Every f32 tensor of the block by GGUF name (norms included), rows × cols; may be modified in place. */
  weights: Map<string, Float32Array>;
  /** ggml extents by name. */
  shapes: Map<string, readonly number[]>;
  /** Output types by name (the plan's). */
  targetTypes: Map<string, string>;
  /** Statistics of this block's inputs (collected on the outputs of the already-compressed blocks). */
  stats?: ActStats;
  /** Runs the block with the given weights over the calibration streams and returns the outputs (one per chunk). */
  runBlock?(weights: Map<string, Float32Array>): Promise<Float32Array[]>;
  /** The block's calibration inputs (one [T, nEmbd] stream per chunk). */
  inputs?: Float32Array[];
  /** The current statistics of a tensor's input (after any {@link scaleInputs}), as the tensor methods will see them. */
  statsFor?(tensor: string): ActInput | undefined;
  /** The importance vector the tensor path will quantize `tensor` with (the user's imatrix, else the sweep's Σx²/count; rescaled). */
  imatrixFor?(tensor: string): Float32Array | null;
  /**
   * Declares that the input of `tensors` (all readers of one input) became x / s per column (a folded
   * scale, AWQ): their statistics (Σx², Σ|x|, XᵀX) and the user's imatrix entries are rescaled for every
   * later step (tensor methods, the written imatrix-weighted RTN). The weights themselves the method changes.
   */
  scaleInputs?(tensors: readonly string[], s: Float32Array): void;
  /** Names of the tensor methods that will run on `tensor` after the layer methods (e.g. ["gptq"]; [] = RTN). */
  tensorChain?(tensor: string): string[];
  signal?: AbortSignal;
}

/** A method over the tensors of one block (runs before the block's tensor methods). */
export interface LayerMethod {
  readonly kind: "layer";
  readonly name: string;
  needs?: MethodNeeds;
  /** Returns the modified weights (a subset of ctx.weights is fine: others stay as they are). */
  applyLayer(ctx: LayerMethodContext): Promise<Map<string, Float32Array>>;
}

/** A method in a method list: an object, or a built-in's name ("rtn", "gptq"). */
export type MethodSpec = TensorMethod | LayerMethod | string;

/** Whether a spec object is a layer method. */
export function isLayerMethod(m: TensorMethod | LayerMethod): m is LayerMethod {
  return (m as LayerMethod).kind === "layer";
}
