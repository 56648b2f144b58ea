// Browser app, bundled by esbuild (platform browser) and loaded by browser.html.
import * as pkg from "tensorshrink";
import { smoke } from "./core.mjs";

smoke(pkg.init, { pkg, url: new URL("tensorshrink.wasm", location.href).href, modelUrl: new URL("model-f32.gguf", location.href).href }).then(
  (r) => { window.__smoke = { ok: true, result: r }; },
  (e) => { window.__smoke = { ok: false, error: String(e && e.stack || e) }; },
);
