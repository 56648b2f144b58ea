// Node CommonJS entry: `require("tensorshrink")` takes the `require` condition (dist/index.cjs).
const pkg = require("tensorshrink");

import("./core.mjs").then(async ({ smoke }) => {
  const result = await smoke(pkg.init, { pkg });
  console.log("SMOKE_RESULT " + JSON.stringify(result));
}).catch((e) => {
  console.error(e && e.stack || e);
  process.exit(1);
});
