/**
 * Formatting and escaping helpers of the web app (no DOM): sizes, rates, durations, HTML escaping.
 */

/** Bytes as "1.23 MB" (1 MB = 1e6 bytes), "512 B" below 1 kB. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "?";
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e8 ? 2 : 1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** Seconds as "42 s", "3 min 05 s", "1 h 02 min"; "?" when unknown. */
export function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** Escapes text for HTML element content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** Rate and remaining time of a job: f32 input MB/s (1e6 bytes) and ETA in seconds. */
export function rateAndEta(doneBytes: number, totalBytes: number, elapsedMs: number): { mbPerSecond: number; etaSeconds: number } {
  const s = elapsedMs / 1000;
  const rate = s > 0 ? doneBytes / s : 0;
  return { mbPerSecond: rate / 1e6, etaSeconds: rate > 0 ? (totalBytes - doneBytes) / rate : NaN };
}

/** The output file name for an input name and ftype: "model-Q4_K_M.gguf". */
export function outputName(input: string, ftype: string): string {
  const base = (input.split(/[\\/]/).filter(Boolean).pop() || "model").replace(/\.(gguf|bin|safetensors)$/i, "").replace(/-(F32|F16|BF16)$/i, "");
  return `${base.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 120) || "model"}-${ftype}.gguf`;
}
