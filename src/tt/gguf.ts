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
 */
import { TensorshrinkError } from "../errors";
import { ggufArray, ggufGet, ggufKV, readGgufTensorBytes, writeGguf, type GgufFile, type GgufKV, type GgufTensorSpec } from "../formats/gguf";
import type { ByteSink } from "../formats/source";
import type { KernelHost } from "../quant/general";
import { checkParts, TtEmbedding, type TtEmbeddingParts } from "./embedding";

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
    ...(opts.metadata ?? []),
  ];
  let specs: GgufTensorSpec[], data: (Float32Array | Int32Array)[];
  if (p.mode === "matrix") {
    specs = p.cores.map((_, k) => ({ name: `${name}.tt_core.${k}`, ne: [p.ranks[k + 1]!, p.colDims[k]!, p.rowDims[k]!, p.ranks[k]!], type: "f32" }));
    data = p.cores;
  } else {
    specs = [{ name: `${name}.tt_mps.ranks`, ne: [d + 1, p.rows], type: "i32" }, { name: `${name}.tt_mps.cores`, ne: [p.cores[0]!.length], type: "f32" }];
    data = [p.ranks, p.cores[0]!];
  }
  const layout = await writeGguf(sink, md, specs, (_s, i) => bytesOf(data[i]!));
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
export async function readTtGguf(host: KernelHost, file: GgufFile): Promise<TtFile> {
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
  let parts: TtEmbeddingParts;
  if (mode === "matrix") {
    const ranks = Int32Array.from(arr("tensorshrink.tt.ranks"));
    if (ranks.length !== d + 1 || rowDims.length !== d) throw bad(`${ranks.length} ranks / ${rowDims.length} row digits for ${d} column digits`);
    const cores: Float32Array[] = [];
    for (let k = 0; k < d; k++) cores.push((await get(`${tensor}.tt_core.${k}`, "f32", [ranks[k + 1]!, colDims[k]!, rowDims[k]!, ranks[k]!])) as Float32Array);
    parts = { mode, rows, cols, rowDims, colDims, ranks, cores };
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
