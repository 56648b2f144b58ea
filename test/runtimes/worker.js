// workerd entry, bundled by esbuild with conditions ["workerd"]: "tensorshrink" resolves to
// dist/index.workerd.js, which imports ./tensorshrink.wasm as a compiled wasm module.
import * as pkg from "tensorshrink";
import { smoke } from "./core.mjs";

export default {
  async fetch() {
    try {
      const result = await smoke(pkg.init, { pkg });
      return new Response("SMOKE_RESULT " + JSON.stringify(result), { headers: { "content-type": "text/plain" } });
    } catch (e) {
      return new Response("SMOKE_ERROR " + String(e && e.stack || e), { status: 500 });
    }
  },
};
