// Node ESM, Deno and Bun entry: resolves "tensorshrink" through node_modules (the `exports` map).
import * as pkg from "tensorshrink";
import { smoke } from "./core.mjs";

const result = await smoke(pkg.init, { pkg });
// Which file the runtime picked from the package's `exports` map (the `import` condition).
result.resolved = import.meta.resolve("tensorshrink");
console.log("SMOKE_RESULT " + JSON.stringify(result));
