/**
 * The mask file written by `tensorshrink prune --mask-out F`: safetensors with one U8 tensor per pruned weight,
 * named like the weight, holding its packed bitmask — ⌈rows·cols/8⌉ bytes, weight i (row-major, rows = outputs)
 * is bit (i & 7) of byte (i >> 3), least significant bit first, 1 = kept (numpy:
 * `np.unpackbits(b, bitorder="little")[:rows*cols].reshape(rows, cols)`). `__metadata__` holds
 * format = "tensorshrink-mask-1", bit_order = "little", and "<name>.shape" = "rows,cols" for every tensor.
 */
import { TensorshrinkError } from "../errors";

/** One entry of a mask file. */
export interface MaskEntry { name: string; rows: number; cols: number; bits: Uint8Array }

/** Encodes a mask file (see the file header). */
export function encodeMaskFile(entries: readonly MaskEntry[], meta: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  const md: Record<string, string> = { format: "tensorshrink-mask-1", bit_order: "little", ...meta };
  let off = 0;
  for (const e of entries) {
    const n = (e.rows * e.cols + 7) >> 3;
    if (e.bits.length !== n) throw new TensorshrinkError("E_SHAPE", `mask of ${e.name}: ${e.bits.length} bytes, expected ${n} for ${e.rows} x ${e.cols}`, { tensor: e.name });
    header[e.name] = { dtype: "U8", shape: [n], data_offsets: [off, off + n] };
    md[`${e.name}.shape`] = `${e.rows},${e.cols}`;
    off += n;
  }
  let json = JSON.stringify({ __metadata__: md, ...header });
  while ((8 + json.length) % 8) json += " ";
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let p = 8 + hb.length;
  for (const e of entries) { out.set(e.bits, p); p += e.bits.length; }
  return out;
}
