// Test preload (test/run.mjs passes it with --import): uvu prints a failing test's error through
// `err.details.split("\n")`, which assumes an AssertionError's string details. TensorshrinkError's
// `details` is an object, so uvu's printer threw and the failure was counted but never shown. This
// load hook makes uvu print non-string details as JSON instead.
import { register } from "node:module";

register("data:text/javascript," + encodeURIComponent(`
export async function load(url, context, next) {
  const r = await next(url, context);
  if (/\\/uvu\\/dist\\/index\\.(mjs|js)$/.test(url) && r.source) {
    const src = String(r.source).replace("if (details) str += GUTTER + details.split('\\\\n')", "if (details && typeof details !== 'string') details = JSON.stringify(details, (k, v) => typeof v === 'bigint' ? String(v) : v);\\n\\tif (details) str += GUTTER + details.split('\\\\n')");
    return { ...r, source: src };
  }
  return r;
}`));
