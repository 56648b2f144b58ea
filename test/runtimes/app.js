// Browser app, bundled by esbuild (platform browser) and loaded by browser.html.
import { init } from "tensorshrink";
import { smoke } from "./core.mjs";

smoke(init, { url: new URL("tensorshrink.wasm", location.href).href }).then(
  (r) => { window.__smoke = { ok: true, result: r }; },
  (e) => { window.__smoke = { ok: false, error: String(e && e.stack || e) }; },
);
