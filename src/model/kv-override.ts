/**
 * llama-quantize's `--override-kv KEY=TYPE:VALUE` (common's string_parse_kv_override): TYPE is int,
 * float, bool or str. Written as llama_model_quantize writes them: int as u32 of |value|, float as
 * f32, bool, str (at most 127 bytes). Keys at most 127 bytes.
 */
import { TensorshrinkError } from "../errors";
import { ggufKV, type GgufKV } from "../formats/gguf";

const utf8 = new TextEncoder();

/**
 * Parses one `KEY=TYPE:VALUE` override into the GGUF key/value llama-quantize would write.
 * int: a decimal integer (optional sign) within ±2^63 → u32 of |v| (llama.cpp casts, so it is taken
 * modulo 2^32); float: a decimal number → f32; bool: true | false; str: any text up to 127 bytes.
 * Throws E_RANGE naming the override.
 */
export function parseKvOverride(s: string): GgufKV {
  const eq = s.indexOf("=");
  const bad = (why: string) => new TensorshrinkError("E_RANGE", `--override-kv "${s}": ${why} (expected KEY=TYPE:VALUE, TYPE int, float, bool or str, e.g. general.name=str:tiny)`, { override: s });
  if (eq <= 0) throw bad("no KEY=");
  const key = s.slice(0, eq);
  if (utf8.encode(key).length > 127) throw bad("key longer than 127 bytes");
  const rest = s.slice(eq + 1);
  const colon = rest.indexOf(":");
  if (colon < 0) throw bad("no TYPE:");
  const type = rest.slice(0, colon), value = rest.slice(colon + 1);
  switch (type) {
    case "int": {
      if (!/^[+-]?[0-9]{1,19}$/.test(value)) throw bad(`"${value}" is not a decimal integer`);
      let v = BigInt(value);
      if (v < 0n) v = -v;
      if (v >= 1n << 63n) throw bad("integer out of range");
      return ggufKV(key, "u32", Number(v & 0xffffffffn));
    }
    case "float": {
      if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(value)) throw bad(`"${value}" is not a decimal number`);
      return ggufKV(key, "f32", Math.fround(Number(value)));
    }
    case "bool":
      if (value !== "true" && value !== "false") throw bad(`bool must be true or false, got "${value}"`);
      return ggufKV(key, "bool", value === "true");
    case "str":
      if (utf8.encode(value).length > 127) throw bad("string value longer than 127 bytes");
      return ggufKV(key, "str", value);
    default:
      throw bad(`unknown TYPE "${type}"`);
  }
}
