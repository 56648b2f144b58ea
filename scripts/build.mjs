// Build: asc (SIMD128) -> binaryen wasm-opt -O3 -> tsup (ESM + CJS + .d.ts) into dist/.
// No network. Usage: node scripts/build.mjs [--wasm-only]
import { execFileSync } from "node:child_process";
import { mkdirSync, copyFileSync, existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = (n) => path.join(root, "node_modules", ".bin", n);
const t0 = Date.now();
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: "inherit" });

mkdirSync(path.join(root, "build"), { recursive: true });
run(process.execPath, [path.join(root, "node_modules/assemblyscript/bin/asc.js"), "assembly/index.ts", "--target", "release"]);
run(bin("wasm-opt"), [
  "build/tensorshrink.asc.wasm", "-O3",
  "--enable-simd", "--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-mutable-globals",
  "-o", "build/tensorshrink.wasm",
]);
console.log(`wasm: ${statSync(path.join(root, "build/tensorshrink.wasm")).size} bytes (${Date.now() - t0} ms)`);
if (process.argv.includes("--wasm-only")) process.exit(0);

const { build } = await import("tsup");
const wasmBundle = (flavor) => ({
  name: "wasm-default-" + flavor,
  setup(b) {
    // From source the engine reads build/tensorshrink.wasm; in the bundle the bytes are inlined
    // (flavor "bundle"), or, for workerd, not at all (the module is imported).
    b.onResolve({ filter: /\/wasm-default$/ }, (args) => ({ path: path.join(args.resolveDir, `wasm-default.${flavor}.ts`) }));
    // The workerd entry imports the module file next to it at run time.
    b.onResolve({ filter: /^\.\/tensorshrink\.wasm$/ }, () => ({ path: "./tensorshrink.wasm", external: true }));
  },
});
const common = { outDir: "dist", target: "es2022", sourcemap: false, silent: true, loader: { ".wasm": "base64" }, noExternal: ["@assemblyscript/loader"], shims: true, splitting: false };
await build({ ...common, entry: { index: "src/index.ts" }, format: ["esm", "cjs"], dts: true, clean: true, platform: "neutral", esbuildPlugins: [wasmBundle("bundle")] });
await build({ ...common, entry: { "index.workerd": "src/index.workerd.ts" }, format: ["esm"], platform: "neutral", esbuildPlugins: [wasmBundle("workerd")] });
if (existsSync(path.join(root, "src/cli/main.ts"))) {
  // The CLI is three files: dist/cli.js (argument parsing and help, ~20 KB) imports
  // dist/cli-commands.js (quantize, inspect, demo) or dist/cli-more.js (the other commands) when a
  // command runs, so `tensorshrink quantize` neither compiles nor initializes the tokenizer,
  // evaluation, pruning, low-rank, teacher or web modules. Each of the two is one self-contained
  // bundle: esbuild's code splitting made ~20 chunks of which quantize loaded 14-21, and the module
  // resolution + link per chunk cost more than it saved (bench/VS-LLAMA.md "Process start-up").
  // All three stay in dist/ itself: the web command finds dist/web beside the running module.
  const cliParts = {
    name: "cli-parts",
    setup(b) {
      b.onResolve({ filter: /^\.\/(commands|more)$/ }, (args) => (args.importer.endsWith(path.join("cli", "main.ts")) ? { path: `./cli-${args.path.slice(2)}.js`, external: true } : undefined));
    },
  };
  // The CLI reads dist/tensorshrink.wasm beside it (wasm-default.cli.ts) rather than inlining it, and
  // is minified (whitespace and syntax; names kept for stack traces): less to read and compile.
  const cli = { ...common, format: ["esm"], platform: "node", minifyWhitespace: true, minifySyntax: true };
  await build({ ...cli, entry: { cli: "src/cli/main.ts" }, esbuildPlugins: [cliParts, wasmBundle("cli")], banner: { js: "#!/usr/bin/env node" } });
  await build({ ...cli, entry: { "cli-commands": "src/cli/commands.ts", "cli-more": "src/cli/more.ts" }, esbuildPlugins: [wasmBundle("cli")] });
}
copyFileSync(path.join(root, "build/tensorshrink.wasm"), path.join(root, "dist/tensorshrink.wasm"));
// The web app (src/web): static files in dist/web, served by `tensorshrink web` or any static host.
// The worker fetches tensorshrink.wasm next to it (no inlined bytes: a smaller script, cached once).
if (existsSync(path.join(root, "src/web/app.ts"))) {
  const esbuild = await import("esbuild");
  mkdirSync(path.join(root, "dist/web"), { recursive: true });
  await esbuild.build({
    entryPoints: { app: "src/web/app.ts", worker: "src/web/worker.ts", sw: "src/web/sw.ts" }, outdir: "dist/web", absWorkingDir: root,
    bundle: true, format: "esm", platform: "browser", target: "es2022", minify: true, logLevel: "warning", legalComments: "none",
    plugins: [wasmBundle("workerd")],
  });
  copyFileSync(path.join(root, "src/web/index.html"), path.join(root, "dist/web/index.html"));
  copyFileSync(path.join(root, "build/tensorshrink.wasm"), path.join(root, "dist/web/tensorshrink.wasm"));
}
console.log(`build done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
