// Node CommonJS entry: `require("tensorshrink")` takes the `require` condition (dist/index.cjs).
const { init } = require("tensorshrink");

import("./core.mjs").then(async ({ smoke }) => {
  const result = await smoke(init);
  console.log("SMOKE_RESULT " + JSON.stringify(result));
}).catch((e) => {
  console.error(e && e.stack || e);
  process.exit(1);
});
