// Plain-JS distillation losses over full logits (the bench's yardstick): float64 Math.exp/log, the
// same math as assembly/nn/loss.ts. loss[t] and grad row t = d loss[t] / d student[t, :].
// kind: "fkl" | "rkl" | "jsd" | "tv"; invTau = 1 / temperature.
export function distillLossJs(loss, grad, teacher, student, T, V, kind, invTau, beta, scratch = new Float64Array(V)) {
  let sum = 0;
  const lb = Math.log(beta), l1b = Math.log(1 - beta);
  for (let r = 0; r < T; r++) {
    const o = r * V;
    let mt = -Infinity, ms = -Infinity;
    for (let i = 0; i < V; i++) { if (teacher[o + i] > mt) mt = teacher[o + i]; if (student[o + i] > ms) ms = student[o + i]; }
    let st = 0, ss = 0;
    for (let i = 0; i < V; i++) { st += Math.exp((teacher[o + i] - mt) * invTau); ss += Math.exp((student[o + i] - ms) * invTau); }
    const lst = Math.log(st), lss = Math.log(ss);
    let L = 0, G = 0;
    for (let i = 0; i < V; i++) {
      const a = (teacher[o + i] - mt) * invTau - lst, b = (student[o + i] - ms) * invTau - lss;
      const pt = Math.exp(a), ps = Math.exp(b);
      if (kind === "fkl") { L += pt * (a - b); grad[o + i] = (ps - pt) * invTau; continue; }
      let g;
      if (kind === "rkl") { g = b - a; L += ps * g; }
      else if (kind === "jsd") {
        const x = lb + a, y = l1b + b, hi = Math.max(x, y), lm = hi + Math.log1p(Math.exp(Math.min(x, y) - hi));
        L += beta * pt * (a - lm) + (1 - beta) * ps * (b - lm);
        g = (1 - beta) * (b - lm);
      } else { const d = ps - pt; L += 0.5 * Math.abs(d); g = d > 0 ? 0.5 : d < 0 ? -0.5 : 0; }
      G += ps * g;
      scratch[i] = ps;
      grad[o + i] = g;
    }
    if (kind !== "fkl") {
      if (kind === "rkl") G = L;
      for (let i = 0; i < V; i++) grad[o + i] = scratch[i] * (grad[o + i] - G) * invTau;
    }
    if (kind !== "tv") L = Math.max(L, 0);
    loss[r] = L;
    sum += L;
  }
  return sum;
}

// Plain-JS top-k forward KL (the bench's yardstick for the top-k kernel): student collapsed onto the
// k teacher tokens + "rest", teacher tempered with its rest mass spread evenly over the V - k others.
export function distillTopkFklJs(loss, grad, ids, lps, rest, student, T, V, k, invTau) {
  let sum = 0;
  const mark = new Uint8Array(V);
  for (let r = 0; r < T; r++) {
    const o = r * V, ko = r * k;
    let ms = -Infinity;
    for (let i = 0; i < V; i++) if (student[o + i] > ms) ms = student[o + i];
    let S = 0, SR = 0;
    for (let i = 0; i < k; i++) mark[ids[ko + i]] = 1;
    for (let i = 0; i < V; i++) { const e = Math.exp((student[o + i] - ms) * invTau); grad[o + i] = e; S += e; if (!mark[i]) SR += e; }
    const lnS = Math.log(S), lrR = SR > 0 ? Math.log(SR) - lnS : -Infinity;
    const nR = V - k, aR = nR > 0 && rest[r] > -Infinity ? Math.log(nR) + (rest[r] - Math.log(nR)) * invTau : -Infinity;
    let am = aR;
    for (let i = 0; i < k; i++) am = Math.max(am, lps[ko + i] * invTau);
    let sq = Math.exp(aR - am);
    for (let i = 0; i < k; i++) sq += Math.exp(lps[ko + i] * invTau - am);
    const lnq = am + Math.log(sq), lqR = aR - lnq;
    let L = lqR > -Infinity ? Math.exp(lqR) * (lqR - lrR) : 0;
    const c = SR > 0 ? (1 - Math.exp(lqR - lrR)) * invTau / S : 0;
    for (let i = 0; i < V; i++) grad[o + i] = mark[i] ? 0 : grad[o + i] * c;
    for (let i = 0; i < k; i++) {
      const id = ids[ko + i], lr = (student[o + id] - ms) * invTau - lnS, lq = lps[ko + i] * invTau - lnq;
      L += Math.exp(lq) * (lq - lr);
      grad[o + id] = (Math.exp(lr) - Math.exp(lq)) * invTau;
      mark[id] = 0;
    }
    loss[r] = Math.max(L, 0);
    sum += loss[r];
  }
  return sum;
}
