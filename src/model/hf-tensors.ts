/**
 * Lazily read model-plan tensors over safetensors tensors: as stored, with llama.cpp's q/k rope row
 * permutation (convert_hf_to_gguf.py `permute`), or Mixtral / Qwen3-MoE experts stacked into one 3D
 * tensor. Local-file tensors also say where their rows lie (fileRows) so pool workers can read them.
 */
import { TensorshrinkError } from "../errors";
import type { SafetensorsTensor } from "../formats/safetensors";
import { fileIdentityOf } from "../formats/source";
import type { FileRange } from "../engine/pool";
import type { ModelTensor } from "./plan";

const ST_TYPES: Record<string, { type: string; bytes: number }> = { F32: { type: "f32", bytes: 4 }, F16: { type: "f16", bytes: 2 }, BF16: { type: "bf16", bytes: 2 } };

/** fileRows of a safetensors tensor: its rows are contiguous at `offset` of its file (F32/F16/BF16). */
function stFileRows(st: SafetensorsTensor, start: number, count: number): FileRange | null {
  const dt = ST_TYPES[st.dtype], id = dt ? fileIdentityOf(st.source) : null;
  if (!dt || !id || !Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > st.rows) return null;
  const rb = st.rowLength * dt.bytes, offset = st.offset + start * rb;
  if (offset + count * rb > id.size) return null; // the regular read reports the truncation
  return { path: id.path, dev: id.dev, ino: id.ino, offset, type: dt.type, rowBytes: rb };
}

/**
 * Row `r` of the permuted matrix comes from this source row, following convert_hf_to_gguf.py's
 * `permute(w, n_head, n_head_kv)`: `w.reshape(H, 2, D/2, cols).swapaxes(1, 2)` with D = rows / H.
 */
export function hfPermuteSourceRow(r: number, rows: number, heads: number): number {
  const d = rows / heads;
  const half = d / 2;
  const h = Math.floor(r / d);
  const k = r - h * d;
  const i = k >> 1;
  const j = k & 1;
  return h * d + j * half + i;
}

/** @internal A q/k projection with llama.cpp's rope row permutation over `heads` heads ({@link hfPermuteSourceRow}). */
export function permutedTensor(name: string, st: SafetensorsTensor, heads: number): ModelTensor {
  const rows = st.rows;
  const cols = st.rowLength;
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new TensorshrinkError("E_SHAPE", `${st.name}: ${rows} rows cannot be split into ${heads} heads of even size for the rope permutation`, { tensor: st.name });
  }
  const d = rows / heads;
  // Read the whole heads touched by [start, start+count) as stored bytes, then permute rows.
  const readRawRows = async (start: number, count: number) => {
    if (count === 0) return new Uint8Array(0);
    const h0 = Math.floor(start / d);
    const h1 = Math.floor((start + count - 1) / d);
    const src = await st.readBytes(h0 * d, (h1 - h0 + 1) * d);
    const rb = src.byteLength / ((h1 - h0 + 1) * d);
    const out = new Uint8Array(count * rb);
    for (let r = start; r < start + count; r++) {
      const s = hfPermuteSourceRow(r, rows, heads) - h0 * d;
      out.set(src.subarray(s * rb, (s + 1) * rb), (r - start) * rb);
    }
    return out;
  };
  const readRows = async (start: number, count: number) => {
    const out = new Float32Array(count * cols);
    if (count === 0) return out;
    const h0 = Math.floor(start / d);
    const h1 = Math.floor((start + count - 1) / d);
    const src = await st.readRows(h0 * d, (h1 - h0 + 1) * d);
    for (let r = start; r < start + count; r++) {
      const s = hfPermuteSourceRow(r, rows, heads) - h0 * d;
      out.set(src.subarray(s * cols, (s + 1) * cols), (r - start) * cols);
    }
    return out;
  };
  return { name, ne: [cols, rows], sourceDtype: st.dtype, type: st.dtype.toLowerCase(), rowLength: cols, rows, readRows, readRawRows, read: () => readRows(0, rows) };
}

/**
 * Experts stacked into one 3D tensor (Mixtral: experts.E.w1 -> ffn_gate_exps, ne = [cols, rows, E]):
 * row r of the stack is row r % rows of expert floor(r / rows), read from that expert's tensor.
 */
export function stackedTensor(name: string, parts: SafetensorsTensor[]): ModelTensor {
  const first = parts[0]!;
  for (const p of parts) {
    if (p.dtype !== first.dtype || p.rows !== first.rows || p.rowLength !== first.rowLength || p.shape.length !== 2) {
      throw new TensorshrinkError("E_SHAPE", `${name}: expert tensors differ (${first.name} is ${first.dtype} [${first.shape}], ${p.name} is ${p.dtype} [${p.shape}])`, { tensor: p.name });
    }
  }
  const per = first.rows, cols = first.rowLength, rows = per * parts.length;
  const gather = async <T extends Uint8Array | Float32Array>(start: number, count: number, read: (t: SafetensorsTensor, s: number, c: number) => Promise<T>, make: (n: number) => T, unit: number): Promise<T> => {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
      throw new TensorshrinkError("E_RANGE", `tensor ${name}: rows [${start}, ${start + count}) outside [0, ${rows})`, { tensor: name });
    }
    const out = make(count * unit);
    for (let r = start; r < start + count;) {
      const e = Math.floor(r / per), r0 = r - e * per, n = Math.min(per - r0, start + count - r);
      out.set(await read(parts[e]!, r0, n), (r - start) * unit);
      r += n;
    }
    return out;
  };
  const es = first.dtype === "F32" ? 4 : first.dtype === "F64" ? 8 : 2;
  const readRows = (s: number, c: number) => gather(s, c, (t, a, b) => t.readRows(a, b), (n) => new Float32Array(n), cols);
  return {
    name, ne: [cols, per, parts.length], sourceDtype: first.dtype, type: first.dtype.toLowerCase(), rowLength: cols, rows,
    readRows, readRawRows: (s, c) => gather(s, c, (t, a, b) => t.readBytes(a, b), (n) => new Uint8Array(n), cols * es), read: () => readRows(0, rows),
    fileRows: (s, c) => {
      const e = Math.floor(s / per);
      return e >= 0 && e < parts.length && s + c <= (e + 1) * per ? stFileRows(parts[e]!, s - e * per, c) : null;
    },
  };
}

/** @internal A safetensors tensor as stored (1-D tensors become vectors). */
export function stTensor(name: string, st: SafetensorsTensor): ModelTensor {
  const vector = st.shape.length <= 1;
  return {
    name, ne: vector ? [st.rowLength] : [st.rowLength, st.rows], sourceDtype: st.dtype, type: st.dtype.toLowerCase(), rowLength: st.rowLength, rows: vector ? 1 : st.rows,
    readRows: (s, c) => st.readRows(s, c), readRawRows: (s, c) => st.readBytes(s, c), read: () => st.read(),
    fileRows: (s, c) => stFileRows(st, s, c),
  };
}
