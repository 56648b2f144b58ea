/** Evaluation and calibration texts: strict UTF-8 decoding with the failing byte offset named. */
import { TensorshrinkError } from "../errors";

/**
 * Decodes a text file's bytes as UTF-8 (a leading BOM is dropped).
 * @throws TensorshrinkError `E_ENCODING` naming the file and the byte offset of the first invalid sequence.
 */
export function decodeText(bytes: Uint8Array, name = "<text>"): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // find the first offending byte (the decoder does not say): decode growing prefixes at sequence starts
    let off = 0;
    for (let i = 0; i < bytes.length;) {
      const b = bytes[i]!;
      const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      let ok = n > 0 && i + n <= bytes.length;
      if (ok && n > 1) { try { new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(i, i + n)); } catch { ok = false; } }
      if (!ok) { off = i; break; }
      i += n;
    }
    throw new TensorshrinkError("E_ENCODING", `${name} is not UTF-8 text: invalid byte 0x${bytes[off]?.toString(16).padStart(2, "0")} at byte offset ${off}`, { file: name, offset: off });
  }
}

/** Split a text into documents on a separator (default `<|endoftext|>`), trimmed, empty ones dropped. */
export function splitDocuments(text: string, separator = "<|endoftext|>"): string[] {
  return text.split(separator).map((s) => s.trim()).filter((s) => s.length > 0);
}
