// Fake language models for the eval tests: logits are a deterministic function of (previous token, position)
// plus a per-model perturbation, so base and candidate differ a little, as a quantized model does.
export class FakeLM {
  readonly config: { nVocab: number; bos: number; nCtxTrain: number };
  calls = 0;
  constructor(nVocab = 40, private noise = 0, private seed = 0) { this.config = { nVocab, bos: 1, nCtxTrain: 64 }; }
  async forward(tokens: Int32Array | number[], opts: { pos?: number; logits?: string } = {}): Promise<Float32Array> {
    this.calls++;
    const V = this.config.nVocab, T = tokens.length, out = new Float32Array(T * V);
    for (let t = 0; t < T; t++) for (let i = 0; i < V; i++) {
      const a = Math.sin(tokens[t]! * 1.7 + i * 0.37 + ((opts.pos ?? 0) + t) * 0.05) * 3 + (i === (tokens[t]! * 3 + 1) % V ? 4 : 0);
      const n = this.noise ? Math.sin(this.seed * 13.1 + t * 7.7 + i * 3.3 + tokens[t]! * 0.9) * this.noise : 0;
      out[t * V + i] = a + n;
    }
    return out;
  }
}
