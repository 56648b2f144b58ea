/** Byte-array helpers shared by the writers. */

/** The concatenation of `parts` in one new Uint8Array (Σ lengths bytes). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
