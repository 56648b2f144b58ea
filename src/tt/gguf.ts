/**
 * TT embeddings stored in GGUF (cores as tensors, `tensorshrink.tt.*` metadata) and read back exactly.
 *
 * Metadata (all written, in this order):
 * - `general.type` str "tensorshrink.tt" (not a model: llama.cpp does not load this file)
 * - `tensorshrink.tt.version` u32 = 1
 * - `tensorshrink.tt.tensor` str: the decomposed tensor's name (e.g. "token_embd.weight")
 * - `tensorshrink.tt.mode` str: "matrix" or "mps"
 * - `tensorshrink.tt.rows`, `tensorshrink.tt.cols` u32: the table's shape (rows = tokens = ne[1], cols = ne[0])
 * - `tensorshrink.tt.row_dims`, `tensorshrink.tt.col_dims` arr[u32]: the digits m_k, n_k (mps: row_dims all 1)
 * - `tensorshrink.tt.eps` f32 (0 when only a rank cap was given), `tensorshrink.tt.max_rank` u32 (0 = none)
 * - `tensorshrink.tt.rel_error` f32: measured ‖A − Â‖_F / ‖A‖_F
 * - matrix mode: `tensorshrink.tt.ranks` arr[u32], the d + 1 ranks
 * - extra keys the caller passes (e.g. `general.architecture`, `general.name` of the source)
 * Tensors (F32 / I32, 32-byte aligned):
 * - matrix mode: `<tensor>.tt_core.<k>` for k = 0 … d−1, ne [r_{k+1}, n_k, m_k, r_k] (row-major [r_k, m_k, n_k, r_{k+1}])
 * - mps: `<tensor>.tt_mps.ranks` I32 ne [d + 1, rows] (token t's ranks in row t) and
 *   `<tensor>.tt_mps.cores` F32 ne [total] (token t's d cores [r_k, n_k, r_{k+1}] in order, tokens in order)
 * Matrix-mode row-side parts (written only when present; see TtEmbeddingParts):
 * - `tensorshrink.tt.dense_rows` u32 (written when > 0), `<tensor>.tt_map` I32 ne [rows] (row → slot),
 *   `<tensor>.tt_dense` F32 ne [cols, dense_rows], `<tensor>.tt_row_scale` F32 ne [rows]
 * Core storage (`coreType`, matrix mode): "f32" (default, as above), "f16" (same ne, F16) or "q8_0"
 * (llama.cpp's blocks: 34 bytes per 32 values; core k flattened to ne [Π shape rounded up to 32], zero padded,
 * its shape given by the ranks and digits). The dense rows follow the core type (q8_0 when cols is a multiple of
 * 32, else f16; ne [cols, dense_rows]). Reading f16 / q8_0 values gives their decoded f32 values; writing
 * those back in the same type reproduces the file bit for bit. Map and row scales stay I32 / F32.
 */
import { TensorshrinkError } from "../errors";
import { ggufArray, ggufGet, ggufKV, readGgufTensorBytes, writeGguf, type GgufFile, type GgufKV, type GgufTensorSpec } from "../formats/gguf";
import type { ByteSink } from "../formats/source";
import type { KernelHost } from "../quant/general";
import { checkParts, TtEmbedding, type TtEmbeddingParts } from "./embedding";
import { decodeF16, encodeF16 } from "../formats/half";

/** Options of {@link writeTtGguf}. */
export interface WriteTtOptions {
  /** Name of the decomposed tensor (default "token_embd.weight"). */
  tensor?: string;
  /** Truncation used (for the record). */
  eps?: number;
  maxRank?: number;
  /** Measured relative error (default: computed from `original` when given, else 0). */
  relError?: number;
  /** Extra metadata appended after the tt keys. */
  metadata?: GgufKV[];
  /** Storage of the matrix-mode cores: "f32" (default), "f16" or "q8_0" (needs `codec`). */
  coreType?: TtCoreType;
  /** The engine (anything with ggml `quantize`), for coreType "q8_0". */
  codec?: TtCodec;
}

/** Storage type of TT cores in GGUF. */
export type TtCoreType = "f32" | "f16" | "q8_0";

/** ggml block codec (an initialized Engine is one): q8_0 quantize for writing, dequantize for reading. */
export interface TtCodec {
  quantize(x: Float32Array, opts: { type: "q8_0"; rows: number; cols: number; name?: string }): Uint8Array;
  dequantize(bytes: Uint8Array, opts: { type: "q8_0"; rows: number; cols: number }): Float32Array;
}

const pad32 = (n: number) => Math.ceil(n / 32) * 32;

/** Bytes of `n` core values stored as `type` (q8_0: ⌈n/32⌉ blocks of 34 bytes), without GGUF header/alignment. */
export function ttCoreBytes(n: number, type: TtCoreType): number {
  return type === "f32" ? 4 * n : type === "f16" ? 2 * n : (pad32(n) / 32) * 34;
}

/**
 * Payload bytes of a TT embedding stored with `type` (cores; dense rows in the same type, see the file comment;
 * map i32 and row scales f32), without the GGUF header and alignment. Compare with rows·cols·4 (the F32 table).
 */
export function ttStoredBytes(tt: TtEmbedding, type: TtCoreType): number {
  const p = tt.parts;
  const dense = p.dense ? (denseType(type, p.cols) === "f32" ? 4 : denseType(type, p.cols) === "f16" ? 2 : 34 / 32) * p.dense.length : 0;
  return p.cores.reduce((s, c) => s + (p.mode === "matrix" ? ttCoreBytes(c.length, type) : 4 * c.length), 0) + dense + 4 * ((p.map?.length ?? 0) + (p.rowScale?.length ?? 0)) + (p.mode === "mps" ? 4 * p.ranks.length : 0);
}

/**
 * The embedding with its cores rounded through a storage type (f16 or q8_0 encode + decode; f32: unchanged),
 * i.e. exactly the cores {@link readTtGguf} returns for a file written with that coreType — for judging quality.
 */
export function roundTtCores(host: KernelHost, tt: TtEmbedding, type: TtCoreType, codec?: TtCodec): TtEmbedding {
  if (type === "f32") return tt;
  const p = tt.parts;
  if (p.mode !== "matrix") throw new TensorshrinkError("E_RANGE", `tt core type ${type} is for matrix mode only`, { type });
  const cores = p.cores.map((c, k) => decodeCore(encodeCore(c, type, codec, k), type, c.length, codec));
  const dt = denseType(type, p.cols);
  const dense = p.dense && dt !== "f32" ? decodeDense(encodeDense(p.dense, dt, p.cols, codec), dt, p.cols, codec) : p.dense;
  return TtEmbedding.fromParts(host, { ...p, cores, dense });
}

/** Storage type of the dense rows for a core type: q8_0 needs cols % 32 == 0 (else f16). */
const denseType = (t: TtCoreType, cols: number): TtCoreType => (t === "q8_0" && cols % 32 ? "f16" : t);

function encodeDense(x: Float32Array, t: TtCoreType, cols: number, codec?: TtCodec): Uint8Array {
  if (t === "f32") return bytesOf(x);
  if (t === "f16") return encodeF16(x);
  if (!codec || typeof codec.quantize !== "function") throw new TensorshrinkError("E_RANGE", "tt core type q8_0 needs a codec (the engine)", {});
  return codec.quantize(x, { type: "q8_0", rows: x.length / cols, cols, name: "tt dense rows" });
}

function decodeDense(b: Uint8Array, t: TtCoreType, cols: number, codec?: TtCodec): Float32Array {
  if (t === "f16") return decodeF16(b);
  if (!codec || typeof codec.dequantize !== "function") throw new TensorshrinkError("E_UNSUPPORTED", "reading q8_0 tt rows needs a host that can dequantize (the engine)", {});
  return codec.dequantize(b, { type: "q8_0", rows: (b.length / 34) * 32 / cols, cols });
}

function encodeCore(c: Float32Array, type: TtCoreType, codec: TtCodec | undefined, k: number): Uint8Array {
  if (type === "f16") return encodeF16(c);
  if (type !== "q8_0") throw new TensorshrinkError("E_RANGE", `tt core type must be f32, f16 or q8_0, got ${String(type)}`, { type });
  if (!codec || typeof codec.quantize !== "function") throw new TensorshrinkError("E_RANGE", "tt core type q8_0 needs a codec (the engine)", {});
  const x = new Float32Array(pad32(c.length));
  x.set(c);
  return codec.quantize(x, { type: "q8_0", rows: 1, cols: x.length, name: `tt core ${k}` });
}

function decodeCore(b: Uint8Array, type: TtCoreType, n: number, codec: TtCodec | undefined): Float32Array {
  if (type === "f16") return decodeF16(b);
  if (!codec || typeof codec.dequantize !== "function") throw new TensorshrinkError("E_UNSUPPORTED", "reading q8_0 tt cores needs a host that can dequantize (the engine)", {});
  return codec.dequantize(b, { type: "q8_0", rows: 1, cols: pad32(n) }).slice(0, n);
}

const bytesOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Writes a TT embedding as GGUF (see the file comment for the layout). File size ≈ header + 4 · params bytes
 * (+ 4 (d + 1) rows for mps ranks). The sink is aborted on error (nothing half-written).
 * @returns bytes written.
 */
export async function writeTtGguf(sink: ByteSink, tt: TtEmbedding, opts: WriteTtOptions = {}): Promise<number> {
  const p = tt.parts, name = opts.tensor ?? "token_embd.weight", d = p.colDims.length;
  const u32s = (xs: ArrayLike<number>) => ggufArray("u32", Array.from(xs));
  const md: GgufKV[] = [
    ggufKV("general.type", "str", "tensorshrink.tt"),
    ggufKV("tensorshrink.tt.version", "u32", 1),
    ggufKV("tensorshrink.tt.tensor", "str", name),
    ggufKV("tensorshrink.tt.mode", "str", p.mode),
    ggufKV("tensorshrink.tt.rows", "u32", p.rows),
    ggufKV("tensorshrink.tt.cols", "u32", p.cols),
    ggufKV("tensorshrink.tt.row_dims", "arr", u32s(p.rowDims)),
    ggufKV("tensorshrink.tt.col_dims", "arr", u32s(p.colDims)),
    ggufKV("tensorshrink.tt.eps", "f32", opts.eps ?? 0),
    ggufKV("tensorshrink.tt.max_rank", "u32", Number.isFinite(opts.maxRank) ? opts.maxRank! : 0),
    ggufKV("tensorshrink.tt.rel_error", "f32", opts.relError ?? 0),
    ...(p.mode === "matrix" ? [ggufKV("tensorshrink.tt.ranks", "arr", u32s(p.ranks))] : []),
    ...(p.denseRows ? [ggufKV("tensorshrink.tt.dense_rows", "u32", p.denseRows)] : []),
    ...(opts.metadata ?? []),
  ];
  const ct = opts.coreType ?? "f32";
  if (ct !== "f32" && p.mode !== "matrix") throw new TensorshrinkError("E_RANGE", `tt core type ${ct} is for matrix mode only`, { type: ct });
  let specs: GgufTensorSpec[], data: Uint8Array[];
  if (p.mode === "matrix") {
    specs = p.cores.map((c, k) => ({ name: `${name}.tt_core.${k}`, ne: ct === "q8_0" ? [pad32(c.length)] : [p.ranks[k + 1]!, p.colDims[k]!, p.rowDims[k]!, p.ranks[k]!], type: ct }));
    data = p.cores.map((c, k) => (ct === "f32" ? bytesOf(c) : encodeCore(c, ct, opts.codec, k)));
    if (p.map) { specs.push({ name: `${name}.tt_map`, ne: [p.rows], type: "i32" }); data.push(bytesOf(p.map)); }
    if (p.denseRows) { const dt = denseType(ct, p.cols); specs.push({ name: `${name}.tt_dense`, ne: [p.cols, p.denseRows], type: dt }); data.push(encodeDense(p.dense!, dt, p.cols, opts.codec)); }
    if (p.rowScale) { specs.push({ name: `${name}.tt_row_scale`, ne: [p.rows], type: "f32" }); data.push(bytesOf(p.rowScale)); }
  } else {
    specs = [{ name: `${name}.tt_mps.ranks`, ne: [d + 1, p.rows], type: "i32" }, { name: `${name}.tt_mps.cores`, ne: [p.cores[0]!.length], type: "f32" }];
    data = [bytesOf(p.ranks), bytesOf(p.cores[0]!)];
  }
  const layout = await writeGguf(sink, md, specs, (_s, i) => data[i]!);
  return layout.fileSize;
}

/** A TT file read back: the embedding and what the metadata records. */
export interface TtFile {
  tt: TtEmbedding;
  tensor: string;
  eps: number;
  maxRank: number;
  relError: number;
}

/**
 * Reads a TT embedding written by {@link writeTtGguf} from a parsed GGUF (`readGguf`): the cores come back bit for bit.
 * @throws TensorshrinkError `E_FORMAT` (not a TT file, a key or tensor missing or of the wrong type/shape), `E_SHAPE`, `E_NONFINITE`.
 */
export async function readTtGguf(host: KernelHost, file: GgufFile, opts: { codec?: TtCodec } = {}): Promise<TtFile> {
  const bad = (msg: string) => new TensorshrinkError("E_FORMAT", `not a tensorshrink TT file: ${msg}`, {});
  if (ggufGet(file, "general.type") !== "tensorshrink.tt") throw bad(`general.type is ${JSON.stringify(ggufGet(file, "general.type"))}, expected "tensorshrink.tt"`);
  if (ggufGet(file, "tensorshrink.tt.version") !== 1) throw bad(`tensorshrink.tt.version ${String(ggufGet(file, "tensorshrink.tt.version"))} is not 1`);
  const str = (k: string) => { const v = ggufGet(file, k); if (typeof v !== "string") throw bad(`${k} missing or not a string`); return v; };
  const num = (k: string) => { const v = ggufGet(file, k); if (typeof v !== "number") throw bad(`${k} missing or not a number`); return v; };
  const arr = (k: string) => {
    const v = ggufGet(file, k);
    if (!v || typeof v !== "object" || !v.items.every((x) => typeof x === "number")) throw bad(`${k} missing or not an array of integers`);
    return v.items as number[];
  };
  const tensor = str("tensorshrink.tt.tensor"), mode = str("tensorshrink.tt.mode");
  if (mode !== "matrix" && mode !== "mps") throw bad(`mode ${mode}`);
  const rows = num("tensorshrink.tt.rows"), cols = num("tensorshrink.tt.cols");
  const rowDims = arr("tensorshrink.tt.row_dims"), colDims = arr("tensorshrink.tt.col_dims");
  const d = colDims.length;
  const get = async (name: string, type: string, ne: number[]) => {
    const t = file.tensors.find((x) => x.name === name);
    if (!t) throw bad(`tensor ${name} missing`);
    if (t.type.name !== type || t.ne.join() !== ne.join()) throw bad(`tensor ${name} is ${t.type.name} [${t.ne.join(", ")}], expected ${type} [${ne.join(", ")}]`);
    const b = await readGgufTensorBytes(file, t);
    const copy = b.slice();
    return type === "i32" ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  };
  const codec = opts.codec ?? (typeof (host as any).dequantize === "function" ? (host as unknown as TtCodec) : undefined);
  /** A matrix-mode core in any core type, decoded to f32. */
  const core = async (k: number, shape: number[]): Promise<Float32Array> => {
    const nm = `${tensor}.tt_core.${k}`, t = file.tensors.find((x) => x.name === nm);
    if (!t) throw bad(`tensor ${nm} missing`);
    const n = shape.reduce((a, b) => a * b, 1), ty = t.type.name;
    if (ty === "f32") return (await get(nm, "f32", shape)) as Float32Array;
    const ne = ty === "q8_0" ? [pad32(n)] : shape;
    if ((ty !== "f16" && ty !== "q8_0") || t.ne.join() !== ne.join()) throw bad(`tensor ${nm} is ${ty} [${t.ne.join(", ")}], expected f32/f16 [${shape.join(", ")}] or q8_0 [${pad32(n)}]`);
    return decodeCore(await readGgufTensorBytes(file, t), ty, n, codec);
  };
  let parts: TtEmbeddingParts;
  if (mode === "matrix") {
    const ranks = Int32Array.from(arr("tensorshrink.tt.ranks"));
    if (ranks.length !== d + 1 || rowDims.length !== d) throw bad(`${ranks.length} ranks / ${rowDims.length} row digits for ${d} column digits`);
    const cores: Float32Array[] = [];
    for (let k = 0; k < d; k++) cores.push(await core(k, [ranks[k + 1]!, colDims[k]!, rowDims[k]!, ranks[k]!]));
    parts = { mode, rows, cols, rowDims, colDims, ranks, cores };
    const has = (n: string) => file.tensors.some((x) => x.name === `${tensor}.${n}`);
    const k0 = ggufGet(file, "tensorshrink.tt.dense_rows");
    if (k0 !== undefined && typeof k0 !== "number") throw bad("tensorshrink.tt.dense_rows is not a number");
    if (has("tt_map")) parts.map = (await get(`${tensor}.tt_map`, "i32", [rows])) as Int32Array;
    if (k0) {
      const t = file.tensors.find((x) => x.name === `${tensor}.tt_dense`), ty = t?.type.name;
      if (!t || !(ty === "f32" || ty === "f16" || ty === "q8_0") || t.ne.join() !== [cols, k0].join()) throw bad(`tensor ${tensor}.tt_dense missing or not f32/f16/q8_0 [${cols}, ${k0}]`);
      parts.denseRows = k0;
      parts.dense = ty === "f32" ? ((await get(`${tensor}.tt_dense`, "f32", [cols, k0])) as Float32Array) : decodeDense(await readGgufTensorBytes(file, t), ty, cols, codec);
    }
    if (has("tt_row_scale")) parts.rowScale = (await get(`${tensor}.tt_row_scale`, "f32", [rows])) as Float32Array;
  } else {
    const rt = file.tensors.find((x) => x.name === `${tensor}.tt_mps.cores`);
    if (!rt) throw bad(`tensor ${tensor}.tt_mps.cores missing`);
    const ranks = (await get(`${tensor}.tt_mps.ranks`, "i32", [d + 1, rows])) as Int32Array;
    const cores = (await get(`${tensor}.tt_mps.cores`, "f32", [rt.ne[0]!])) as Float32Array;
    parts = { mode, rows, cols, rowDims, colDims, ranks, cores: [cores] };
  }
  checkParts(parts);
  const mr = num("tensorshrink.tt.max_rank");
  return { tt: TtEmbedding.fromParts(host, parts), tensor, eps: num("tensorshrink.tt.eps"), maxRank: mr || Infinity, relError: num("tensorshrink.tt.rel_error") };
}
