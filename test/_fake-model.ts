// A small fake forward pass for the calibration tests: it fills each linear-layer input with deterministic
// values (a function of token, position, layer and column) in wasm memory and calls the ForwardHooks as the
// forward-pass contract says (q/k/v share one input, gate/up another, MoE: one call per expert with its rows).
// Every input it hands out is also recorded (copied) so tests can compute references in plain JS.
import type { Engine } from "../src/index";

export interface FakeOptions { nLayer?: number; nEmbd?: number; nFf?: number; nVocab?: number; nExpert?: number; nExpertUsed?: number }

export class FakeModel {
  readonly config: { nLayer: number; nEmbd: number; nFf: number; nVocab: number; bos: number; addBos: boolean; nExpert: number; nExpertUsed: number };
  /** Recorded inputs: key "tensors|expert" -> rows (copies). */
  log = new Map<string, Array<{ call: number; x: Float32Array }>>();
  /** Recorded block input/output pairs per layer. */
  layers: Array<Array<[Float32Array, Float32Array]>> = [];
  calls = 0;
  private p = 0;
  private cap = 0;
  constructor(private engine: Engine, o: FakeOptions = {}, readonly maxT = 64) {
    this.config = { nLayer: o.nLayer ?? 2, nEmbd: o.nEmbd ?? 20, nFf: o.nFf ?? 36, nVocab: o.nVocab ?? 50, bos: 1, addBos: true, nExpert: o.nExpert ?? 0, nExpertUsed: o.nExpertUsed ?? 0 };
    this.cap = 3 * maxT * Math.max(this.config.nEmbd, this.config.nFf) * 4;
    this.p = engine.alloc(this.cap); // allocated once, before any forward call (hooks never allocate)
    for (let l = 0; l < this.config.nLayer; l++) this.layers.push([]);
  }
  value(tok: number, pos: number, layer: number, site: number, j: number): number {
    const s = Math.sin(tok * 12.9898 + pos * 78.233 + layer * 37.719 + site * 4.581 + j * 0.731) * 43758.5453;
    const f = s - Math.floor(s) - 0.5;
    return Math.fround(f * (1 + (j % 5)) * (j === 3 ? 8 : 1));
  }
  async forward(tokens: Int32Array | number[], opts: { pos?: number; logits?: string; hooks?: any; signal?: AbortSignal } = {}): Promise<Float32Array> {
    this.calls++;
    const T = tokens.length, { nLayer, nEmbd, nFf, nExpert, nExpertUsed } = this.config;
    if (T > this.maxT) throw new Error("fake: too many tokens");
    const h = opts.hooks ?? {};
    const pos0 = opts.pos ?? 0;
    const emit = (layer: number, tensors: string[], cols: number, site: number, rows: number[], expert?: number) => {
      const mem = new Float32Array(this.engine.exports.memory.buffer, this.p, rows.length * cols);
      rows.forEach((r, i) => { for (let j = 0; j < cols; j++) mem[i * cols + j] = this.value(tokens[r]!, pos0 + r, layer, site, j); });
      const key = tensors.join(",") + "|" + (expert ?? "");
      if (!this.log.has(key)) this.log.set(key, []);
      this.log.get(key)!.push({ call: this.calls, x: mem.slice() });
      h.linearInput?.({ layer, tensors, x: mem, ptr: this.p, rows: rows.length, cols, expert });
    };
    const all = [...Array(T).keys()];
    for (let l = 0; l < nLayer; l++) {
      emit(l, [`blk.${l}.attn_q.weight`, `blk.${l}.attn_k.weight`, `blk.${l}.attn_v.weight`], nEmbd, 0, all);
      emit(l, [`blk.${l}.attn_output.weight`], nEmbd, 1, all);
      if (nExpert > 0) {
        // route token r to experts (tok + r) % nExpert, ... (nExpertUsed of them); expert nExpert-1 never used
        const used = Math.max(1, nExpert - 1);
        for (let e = 0; e < nExpert; e++) {
          const rows = all.filter((r) => { for (let k = 0; k < nExpertUsed; k++) if ((tokens[r]! + r + k) % used === e) return true; return false; });
          if (!rows.length) continue;
          emit(l, [`blk.${l}.ffn_gate_exps.weight`, `blk.${l}.ffn_up_exps.weight`], nEmbd, 2 + e, rows, e);
          emit(l, [`blk.${l}.ffn_down_exps.weight`], nFf, 20 + e, rows, e);
        }
      } else {
        emit(l, [`blk.${l}.ffn_gate.weight`, `blk.${l}.ffn_up.weight`], nEmbd, 2, all);
        emit(l, [`blk.${l}.ffn_down.weight`], nFf, 3, all);
      }
      if (h.layer) {
        const base = this.p + T * nFf * 4 + 64;
        const inp = new Float32Array(this.engine.exports.memory.buffer, base, T * nEmbd);
        const out = new Float32Array(this.engine.exports.memory.buffer, base + T * nEmbd * 4, T * nEmbd);
        for (let r = 0; r < T; r++) for (let j = 0; j < nEmbd; j++) { inp[r * nEmbd + j] = this.value(tokens[r]!, pos0 + r, l, 40, j); out[r * nEmbd + j] = inp[r * nEmbd + j]! + 0.5 * this.value(tokens[r]!, pos0 + r, l, 41, j); }
        this.layers[l]!.push([inp.slice(), out.slice()]);
        h.layer({ layer: l, input: inp, output: out, T, C: nEmbd });
      }
    }
    emit(-1, ["output.weight"], nEmbd, 50, all);
    return new Float32Array(0);
  }
  dispose() { this.engine.free(this.p); }
}
