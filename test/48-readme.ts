// Every README snippet runs as written: the ```sh and ```ts blocks are extracted from README.md; the
// self-contained ones run (sh: `npx tensorshrink ...` lines as `node dist/cli.js ...` in a scratch
// directory holding the files they name, made from stories260K; ts: with "tensorshrink" mapped to
// src/index.ts) and must exit 0. The rest are listed in SKIP with the reason; a SKIP entry that no
// longer matches any snippet fails the test (the list stays honest). Skips with a message without
// ../shared/models/stories260K.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, SHARED } from "./_util";

const CLI = path.join(ROOT, "dist/cli.js");
const README = readFileSync(path.join(ROOT, "README.md"), "utf8");

/** Snippets that cannot run as they stand, by a substring of the snippet, with the reason. */
const SKIP: [string, string][] = [
  ["npm install", "installs packages / runs the whole suite (would touch the shared node_modules)"],
  ["npm i tensorshrink", "installs packages"],
  ["npm i node-llama-cpp", "installs packages"],
  ["npm test", "runs the whole suite"],
  ["npm run build", "rebuilds the package (the test runs against the build)"],
  ["bash .ci/run", "CI: installs chromium, npm ci"],
  ["npx tsc -p .", "type check of the whole repository (run separately)"],
  ["./hf-llama-dir", "needs a Hugging Face model directory (test/34, test/44 cover HF inputs)"],
  ["kjv3M.bin", "kjv3M over all of calib.txt: minutes of CPU (test/78 runs the same imatrix path)"],
  ["tensorshrink teacher model.gguf", "synopsis with optional parts in brackets (test/81 runs teacher)"],
  ["const x = new Float32Array(4096 * 4096)", "uses `imatrix` defined elsewhere; fragment of the API overview"],
  ["quantizeIntN(engine, x", "fragment: uses `engine` and `x` from the snippet above"],
  ["Tokenizer.fromGguf(await readGguf", "fragment: uses `text` defined elsewhere"],
  ["LlamaModel.open(engine, \"kjv3M-f32.gguf\"", "needs kjv3M converted to kjv3M-f32.gguf, and is a tour of the API with free variables"],
  ["distillLoss(engine, {", "fragment: uses teacher/student logits defined elsewhere"],
  ["npx esbuild worker.js", "Workers bundling recipe for a user's Worker project (test/53 bundles and runs docs/workers in workerd)"],
  ["cp node_modules/tensorshrink/dist/tensorshrink.wasm", "Workers bundling recipe (test/53 runs it in workerd)"],
  ["npx workerd serve workerd.capnp", "starts a server that runs until stopped (test/53 runs it with a bounded request loop)"],
  ["const rep = await quantizeModel(engine, source, sink, {", "fragment: uses engine/source/sink and calibration tokens from the API overview (test/55, test/56 run the methods)"],
  ["pruneScores(e, w, rows, cols", "fragment: uses a weight matrix and statistics defined elsewhere (test/58, test/59 run the pruning API)"],
];

interface Snippet { lang: "sh" | "ts"; line: number; text: string }
const snippets: Snippet[] = [];
for (const m of README.matchAll(/```(sh|ts)\n([\s\S]*?)```/g)) snippets.push({ lang: m[1] as "sh" | "ts", line: README.slice(0, m.index).split("\n").length, text: m[2] });

/** A sh block's commands: continuation lines (starting with spaces) joined, comments removed. */
function shCommands(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    if (!raw.trim()) continue;
    if (/^\s/.test(raw) && out.length) { out[out.length - 1] += " " + raw.trim(); continue; }
    out.push(raw);
  }
  return out.map((c) => c.replace(/\s+#\s.*$/, "").replace(/\s+#\s.*$/, "").trim()).filter((c) => !c.startsWith("#"));
}

const skipReason = (s: string) => SKIP.find(([k]) => s.includes(k))?.[1];

test("the skip list names only snippets that exist", () => {
  for (const [k] of SKIP) assert.ok(README.includes(k), `SKIP entry "${k}" matches no README text: remove it`);
});

const CKPT = path.join(SHARED, "models/stories260K/stories260K.bin"), TOK = path.join(SHARED, "models/stories260K/tok512.bin");
if (!existsSync(CKPT) || !existsSync(TOK)) {
  console.log("SKIP: ../shared/models/stories260K not found; the README snippets need it");
} else {
  const dir = mkdtempSync(path.join(tmpdir(), "ts-readme-"));
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd: dir, encoding: "utf8", timeout: 120_000 });
  const must = (args: string[]) => { const r = cli(args); if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`); };
  // the files the snippets name
  copyFileSync(CKPT, path.join(dir, "stories260K.bin"));
  copyFileSync(TOK, path.join(dir, "tok512.bin"));
  must(["quantize", "stories260K.bin", "model-f32.gguf", "F32", "--tokenizer", "tok512.bin"]);
  for (const f of ["model.gguf", "base.gguf"]) copyFileSync(path.join(dir, "model-f32.gguf"), path.join(dir, f));
  must(["quantize", "model-f32.gguf", "model-q8.gguf", "Q8_0"]);
  must(["quantize", "model-f32.gguf", "model-q4.gguf", "Q4_0"]);
  must(["quantize", "model-f32.gguf", "out.gguf", "Q4_K_M"]);
  const story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun.\n";
  writeFileSync(path.join(dir, "sample.txt"), story.repeat(4));
  writeFileSync(path.join(dir, "calib.txt"), story.repeat(8));
  must(["imatrix", "model.gguf", "--text", "calib.txt", "--ctx", "64", "-o", "imatrix.gguf"]);

  const ran: string[] = [], skipped: string[] = [];
  for (const s of snippets) {
    if (s.lang === "sh") {
      for (const cmd of shCommands(s.text)) {
        const why = skipReason(cmd);
        if (why) { skipped.push(`README:${s.line} ${cmd.slice(0, 60)} — ${why}`); continue; }
        if (/(^|\s)\[/.test(cmd)) { skipped.push(`README:${s.line} ${cmd.slice(0, 60)} — synopsis (optional parts in brackets)`); continue; }
        test(`README:${s.line}: ${cmd}`, () => {
          assert.ok(/^(npx )?tensorshrink /.test(cmd), `not a tensorshrink command: ${cmd}`);
          const line = cmd.replace(/^(npx )?tensorshrink /, `"${process.execPath}" "${CLI}" `);
          const r = spawnSync("sh", ["-c", line], { cwd: dir, encoding: "utf8", timeout: 120_000 });
          assert.is(r.status, 0, `${cmd}\n${r.stderr}`);
          if (/\s(\S+\.gguf)\s+(\S+\.gguf)\s/.test(cmd) && cmd.includes(" quantize ")) rmSync(path.join(dir, "out.gguf"), { force: true });
          if (cmd.includes("quantize model-f32.gguf out.gguf")) must(["quantize", "model-f32.gguf", "out.gguf", "Q4_K_M"]); // later lines read out.gguf
        });
        ran.push(cmd);
      }
    } else {
      const why = skipReason(s.text);
      if (why) { skipped.push(`README:${s.line} ts — ${why}`); continue; }
      test(`README:${s.line}: ts snippet runs`, () => {
        const file = path.join(dir, `snippet-${s.line}.mts`);
        writeFileSync(file, s.text.replace(/from "tensorshrink"/g, `from ${JSON.stringify(pathToFileURL(path.join(ROOT, "src/index.ts")).href)}`));
        const r = spawnSync(process.execPath, ["--import", pathToFileURL(path.join(ROOT, "node_modules/tsx/dist/loader.mjs")).href, file], { cwd: dir, encoding: "utf8", timeout: 120_000 });
        assert.is(r.status, 0, `README line ${s.line}: exit ${r.status} ${r.signal ?? ""}\n${r.stderr.slice(-1500)}`);
      });
      ran.push(`ts@${s.line}`);
    }
  }
  test("most snippets ran", () => {
    console.log(`  README: ${ran.length} commands/snippets run, ${skipped.length} skipped:\n    ${skipped.join("\n    ")}`);
    assert.ok(ran.length >= 12, `only ${ran.length} ran`);
  });
  test.after(() => rmSync(dir, { recursive: true, force: true }));
}
test.run();
