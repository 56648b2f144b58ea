/**
 * The error plot of the web app: SQNR (dB) of every quantized tensor against its layer, drawn as an
 * inline SVG string (no chart library). Pure function of the report rows, so it is tested in Node.
 */
import { esc } from "./format";

/** One point: a tensor name and its SQNR in dB (null: copied unchanged, not drawn). */
export interface SqnrPoint { name: string; type: string; sqnrDb: number | null }

/** Tensor kinds, each with its own colour (Okabe–Ito palette: distinguishable with colour blindness). */
export const KINDS: ReadonlyArray<{ kind: string; test: RegExp; color: string }> = [
  { kind: "attn_q", test: /attn_q\./, color: "#0072B2" },
  { kind: "attn_k", test: /attn_k\./, color: "#56B4E9" },
  { kind: "attn_v", test: /attn_v\./, color: "#009E73" },
  { kind: "attn_output", test: /attn_output\./, color: "#E69F00" },
  { kind: "ffn_gate", test: /ffn_gate/, color: "#D55E00" },
  { kind: "ffn_up", test: /ffn_up/, color: "#CC79A7" },
  { kind: "ffn_down", test: /ffn_down/, color: "#000000" },
  { kind: "other", test: /./, color: "#8a8a8a" },
];

/** Layer of a tensor name ("blk.12.ffn_up.weight" → 12), -1 for non-layer tensors (token_embd, output). */
export function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/**
 * SVG (width × height px) with x = layer (non-layer tensors in a column on the left), y = SQNR in dB,
 * one dot per tensor coloured by kind (with a `<title>` tooltip naming tensor, type and dB), the
 * per-layer mean as a line, axes, ticks and a legend. `role="img"` and an `aria-label` summarise it.
 */
export function sqnrPlotSvg(points: readonly SqnrPoint[], width = 760, height = 300): string {
  const pts = points.filter((p) => p.sqnrDb !== null && Number.isFinite(p.sqnrDb));
  if (!pts.length) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="60" role="img" aria-label="No quantized tensors to plot"><text x="8" y="30" font-size="14">No quantized tensors: nothing to plot.</text></svg>`;
  }
  const layers = pts.map((p) => layerOf(p.name));
  const maxLayer = Math.max(0, ...layers);
  const hasOther = layers.some((l) => l < 0);
  const cols = maxLayer + 1 + (hasOther ? 1 : 0);
  const vals = pts.map((p) => p.sqnrDb as number);
  let lo = Math.floor((Math.min(...vals) - 1) / 5) * 5, hi = Math.ceil((Math.max(...vals) + 1) / 5) * 5;
  if (hi - lo < 10) { lo -= 5; hi += 5; }
  const L = 52, R = 150, T = 14, B = 40;
  const pw = width - L - R, ph = height - T - B;
  const xOf = (layer: number) => L + ((layer < 0 ? 0 : layer + (hasOther ? 1 : 0)) + 0.5) * (pw / cols);
  const yOf = (v: number) => T + ph - ((v - lo) / (hi - lo)) * ph;
  const out: string[] = [];
  const label = `SQNR per tensor by layer: ${pts.length} tensors, ${Math.min(...vals).toFixed(1)} to ${Math.max(...vals).toFixed(1)} dB`;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(label)}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push(`<title>${esc(label)}</title>`);
  // grid and y ticks
  const step = (hi - lo) / 5 >= 5 ? Math.ceil((hi - lo) / 5 / 5) * 5 : 2;
  for (let v = lo; v <= hi + 1e-9; v += step) {
    const y = yOf(v).toFixed(1);
    out.push(`<line x1="${L}" x2="${L + pw}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${L - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#222">${v}</text>`);
  }
  out.push(`<text x="14" y="${T + ph / 2}" transform="rotate(-90 14 ${T + ph / 2})" text-anchor="middle" fill="#222">SQNR (dB)</text>`);
  // x ticks: every layer when few, else about 12
  const every = Math.max(1, Math.ceil((maxLayer + 1) / 12));
  if (hasOther) out.push(`<text x="${xOf(-1).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle" fill="#222">other</text>`);
  for (let l = 0; l <= maxLayer; l += every) out.push(`<text x="${xOf(l).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle" fill="#222">${l}</text>`);
  out.push(`<text x="${L + pw / 2}" y="${height - 6}" text-anchor="middle" fill="#222">layer</text>`);
  out.push(`<line x1="${L}" x2="${L}" y1="${T}" y2="${T + ph}" stroke="#222"/><line x1="${L}" x2="${L + pw}" y1="${T + ph}" y2="${T + ph}" stroke="#222"/>`);
  // per-layer mean line
  const sum = new Map<number, { s: number; n: number }>();
  pts.forEach((p, i) => { const l = layers[i]; if (l < 0) return; const a = sum.get(l) ?? { s: 0, n: 0 }; a.s += p.sqnrDb as number; a.n++; sum.set(l, a); });
  const line = [...sum.entries()].sort((a, b) => a[0] - b[0]).map(([l, a]) => `${xOf(l).toFixed(1)},${yOf(a.s / a.n).toFixed(1)}`);
  if (line.length > 1) out.push(`<polyline points="${line.join(" ")}" fill="none" stroke="#666" stroke-width="1.5" stroke-dasharray="5 3"/>`);
  // dots, jittered within the layer's column by kind so they do not hide each other
  const colW = pw / cols;
  pts.forEach((p, i) => {
    const k = KINDS.findIndex((x) => x.test.test(p.name));
    const dx = ((k - (KINDS.length - 1) / 2) / KINDS.length) * Math.min(colW * 0.8, 40);
    out.push(`<circle cx="${(xOf(layers[i]) + dx).toFixed(1)}" cy="${yOf(p.sqnrDb as number).toFixed(1)}" r="${cols > 60 ? 2 : 3.5}" fill="${KINDS[k].color}"><title>${esc(`${p.name} (${p.type}): ${(p.sqnrDb as number).toFixed(2)} dB`)}</title></circle>`);
  });
  // legend (only kinds present)
  const present = KINDS.filter((k) => pts.some((p) => KINDS.find((x) => x.test.test(p.name)) === k));
  present.forEach((k, i) => {
    const y = T + 8 + i * 18;
    out.push(`<circle cx="${L + pw + 16}" cy="${y}" r="4.5" fill="${k.color}"/><text x="${L + pw + 26}" y="${y}" dominant-baseline="middle" fill="#222">${k.kind}</text>`);
  });
  const y = T + 8 + present.length * 18;
  out.push(`<line x1="${L + pw + 10}" x2="${L + pw + 22}" y1="${y}" y2="${y}" stroke="#666" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${L + pw + 26}" y="${y}" dominant-baseline="middle" fill="#222">layer mean</text>`);
  out.push("</svg>");
  return out.join("");
}
