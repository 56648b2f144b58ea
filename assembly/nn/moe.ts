// moe_gate_forward(idx, wout, logits, T, nExpert, k): llama.cpp's llama / mixtral expert routing:
// probs = softmax(logits[t, :]) over nExpert experts, pick the top k (ties: lower index first), then
// renormalize their weights to sum 1. Writes idx[T, k] i32 (expert ids, best first) and wout[T, k] f32.
// Scalar only (nExpert is small: 8 or 16, one call per token batch); the _ref twin is the same code path
// with a plain-loop softmax (softmax_forward_ref), so results agree within 1e-6.
import { softmax_row } from "./activations";

// @ts-ignore: decorator
@inline function topk(idx: usize, wout: usize, p: usize, t: i32, nExpert: i32, k: i32): void {
  const io = idx + (<usize>t * <usize>k << 2), wo = wout + (<usize>t * <usize>k << 2);
  let sum: f32 = 0;
  for (let j = 0; j < k; j++) {
    let best = -1; let bv: f32 = -Infinity;
    for (let e = 0; e < nExpert; e++) {
      const v = load<f32>(p + (<usize>e << 2));
      if (v > bv) { let used = false; for (let q = 0; q < j; q++) if (load<i32>(io + (<usize>q << 2)) == e) { used = true; break; } if (!used) { bv = v; best = e; } }
    }
    store<i32>(io + (<usize>j << 2), best);
    store<f32>(wo + (<usize>j << 2), bv);
    sum += bv;
  }
  for (let j = 0; j < k; j++) store<f32>(wo + (<usize>j << 2), load<f32>(wo + (<usize>j << 2)) / sum);
}

/** `probs` is a scratch of nExpert f32. */
export function moe_gate_forward(idx: usize, wout: usize, logits: usize, probs: usize, T: i32, nExpert: i32, k: i32): void {
  for (let t = 0; t < T; t++) {
    softmax_row(probs, logits + (<usize>t * <usize>nExpert << 2), nExpert);
    topk(idx, wout, probs, t, nExpert, k);
  }
}

export function moe_gate_forward_ref(idx: usize, wout: usize, logits: usize, probs: usize, T: i32, nExpert: i32, k: i32): void {
  for (let t = 0; t < T; t++) {
    const x = logits + (<usize>t * <usize>nExpert << 2);
    let m: f32 = -Infinity;
    for (let e = 0; e < nExpert; e++) m = max<f32>(m, load<f32>(x + (<usize>e << 2)));
    let s: f64 = 0;
    for (let e = 0; e < nExpert; e++) { const v = Mathf.exp(load<f32>(x + (<usize>e << 2)) - m); store<f32>(probs + (<usize>e << 2), v); s += v; }
    for (let e = 0; e < nExpert; e++) store<f32>(probs + (<usize>e << 2), <f32>(<f64>load<f32>(probs + (<usize>e << 2)) / s));
    topk(idx, wout, probs, t, nExpert, k);
  }
}

/**
 * Scaled accumulate for expert outputs: out[r, :] += w[r] · x[r, :] for r < rows, row length n; row r of
 * out is out + rowIdx[r]·n (scatter back to token rows). The _ref twin is bit-identical.
 */
export function moe_scatter_add(out: usize, x: usize, w: usize, rowIdx: usize, rows: i32, n: i32): void {
  for (let r = 0; r < rows; r++) {
    const y = out + (<usize>load<i32>(rowIdx + (<usize>r << 2)) * <usize>n << 2), xr = x + (<usize>r * <usize>n << 2);
    const wv: f32 = load<f32>(w + (<usize>r << 2)), vw = f32x4.splat(wv);
    let i = 0;
    for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v128.load(xr + o), vw))); }
    for (; i < n; i++) { const o = <usize>i << 2; store<f32>(y + o, load<f32>(y + o) + load<f32>(xr + o) * wv); }
  }
}

export function moe_scatter_add_ref(out: usize, x: usize, w: usize, rowIdx: usize, rows: i32, n: i32): void {
  for (let r = 0; r < rows; r++) {
    const y = out + (<usize>load<i32>(rowIdx + (<usize>r << 2)) * <usize>n << 2), xr = x + (<usize>r * <usize>n << 2);
    const wv: f32 = load<f32>(w + (<usize>r << 2));
    for (let i = 0; i < n; i++) { const o = <usize>i << 2; store<f32>(y + o, load<f32>(y + o) + load<f32>(xr + o) * wv); }
  }
}

/** Gather rows: out[r, :] = x[rowIdx[r], :] (n f32 per row). Plain memory.copy; no _ref needed beyond itself. */
export function gather_rows(out: usize, x: usize, rowIdx: usize, rows: i32, n: i32): void {
  const rb = <usize>n << 2;
  for (let r = 0; r < rows; r++) memory.copy(out + <usize>r * rb, x + <usize>load<i32>(rowIdx + (<usize>r << 2)) * rb, rb);
}
