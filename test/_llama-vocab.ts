// Test helper: llama.cpp's own vocabulary fixtures (models/ggml-vocab-*.gguf + .inp/.out, the expected ids
// of llama.cpp's test-tokenizer-0) taken from the llama.cpp source bundle node-llama-cpp ships
// (node_modules/node-llama-cpp/llama/gitRelease.bundle), extracted once with git into the OS temp dir.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "./_util";

const BUNDLE = path.join(ROOT, "node_modules/node-llama-cpp/llama/gitRelease.bundle");

/** One llama.cpp tokenizer test case: text and the ids llama.cpp produces (add_special = false, parse_special = false). */
export interface VocabCase { text: string; ids: number[] }

/**
 * Directory holding ggml-vocab-<name>.gguf(.inp/.out) for `names`, or a string saying why not (no bundle, no git).
 */
export function llamaVocabDir(names: readonly string[]): { dir: string } | { skip: string } {
  if (!existsSync(BUNDLE)) return { skip: `no ${BUNDLE}` };
  const heads = spawnSync("git", ["bundle", "list-heads", BUNDLE], { encoding: "utf8" });
  if (heads.status !== 0) return { skip: `git cannot read the llama.cpp bundle: ${heads.error?.message ?? heads.stderr}` };
  const sha = heads.stdout.trim().split(/\s+/)[0]!;
  const dir = path.join(tmpdir(), `tensorshrink-llama-vocab-${sha.slice(0, 12)}`);
  const files = names.flatMap((n) => [`ggml-vocab-${n}.gguf`, `ggml-vocab-${n}.gguf.inp`, `ggml-vocab-${n}.gguf.out`]);
  if (files.every((f) => existsSync(path.join(dir, f)))) return { dir };
  mkdirSync(dir, { recursive: true });
  const git = path.join(dir, `.git-${process.pid}`);
  try {
    const run = (args: string[], enc: "utf8" | "buffer" = "utf8") => {
      const r = spawnSync("git", ["--git-dir", git, ...args], { encoding: enc as any, maxBuffer: 64 << 20 });
      if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    spawnSync("git", ["init", "-q", "--bare", git]);
    run(["fetch", "-q", BUNDLE, `${sha}:refs/heads/bundle`]);
    for (const f of files) {
      const out = spawnSync("git", ["--git-dir", git, "show", `${sha}:models/${f}`], { maxBuffer: 64 << 20 });
      if (out.status !== 0) continue; // e.g. a vocab without .inp/.out
      writeFileSync(path.join(dir, f + ".tmp"), out.stdout);
      renameSync(path.join(dir, f + ".tmp"), path.join(dir, f));
    }
  } catch (e) {
    return { skip: `extracting llama.cpp vocab files failed: ${(e as Error).message}` };
  } finally {
    rmSync(git, { recursive: true, force: true });
  }
  return { dir };
}

/** The .inp/.out cases of one vocabulary (llama.cpp's test-tokenizer-0 format). */
export function vocabCases(dir: string, name: string): VocabCase[] {
  const base = path.join(dir, `ggml-vocab-${name}.gguf`);
  if (!existsSync(base + ".inp") || !existsSync(base + ".out")) return [];
  const inp = readFileSync(base + ".inp", "utf8").split("\n__ggml_vocab_test__\n");
  inp.pop(); // text after the last separator
  const out = readFileSync(base + ".out", "utf8").split("\n");
  return inp.map((text, i) => ({ text, ids: out[i]!.trim() === "" ? [] : out[i]!.trim().split(/\s+/).map(Number) }));
}

/** Unicode / whitespace / digits / emoji / CJK / combining marks / control characters / special-token texts. */
export const TORTURE_CASES: readonly string[] = [
  "", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \r\n \n\t x", "\t\tHello", "a  b   c    d\n\n\n e",
  "Hello world", " Hello world", "Hello World!", "Hello, world!", "  leading and trailing  ", "\u00a0nbsp\u00a0\u2003em\u3000ideo",
  "\u0085nel\u0085", "\ufeffBOM", "\u200bzero\u200bwidth\u200d", "\u2028line\u2029para",
  "0 1 12 123 1234 12345 123456 1234567 3.14159 -42 1,000,000 ٣٤٥ ²³ Ⅻ ½",
  "I'm you're he's she'll we've they'd IT'S I'LL 'tis ' s ''", "don't DON'T won't y'all",
  "🦙 llama.cpp 🚀🚀 👨‍👩‍👧‍👦 🇫🇷 ✔️ ❤️‍🔥", "日本語のテキスト、中文文本。한국어 텍스트", "Ελληνικά Русский текст עִבְרִית العربية हिन्दी ไทย",
  "e\u0301 a\u0300\u0323 n\u0303 Z\u0351\u0352\u0353\u0354\u0355algo", "\u0000\u0001\u0002\u001b[31mred\u001b[0m\u007f", "tab\there\vvt\fff\rcr",
  "<s> </s> <unk> <s>text</s> <|endoftext|> <|begin_of_text|> <|eot_id|> <|im_start|>user",
  "𝐀𝐁𝐂 𝕏 𝒜 😀😃 𠀀𠀁 \u{10FFFD}", "new in Unicode 16/17: \u0897 \u1ACF \u{1FAE9} \u{105C0}\u{105C1} \u{11380}",
  "((([{<>}]))) !!! ??? ... --- *** ### $$$ %%% &&& ^^^ ~~~ ||| ``` '''", "C++ std::vector<int> x = {1, 2, 3}; // comment\n\tif (x) return;",
  "https://example.com/path?query=1&b=2#frag user@example.com", "   \n   \n", "end with spaces   ",
];
/** All torture cases in one text, one per line. */
export const TORTURE = TORTURE_CASES.join("\n");
