// `tensorshrink web [--port N]`: serves the web app on 127.0.0.1 until Ctrl-C.
import { TensorshrinkError } from "../errors";
import { serveWeb } from "../web/serve";
import type { Args } from "./main";

/** Runs the static server for dist/web; resolves (exit code 0) when SIGINT/SIGTERM stops it. */
export async function runWeb(a: Args): Promise<number> {
  if (a._.length) throw new TensorshrinkError("E_RANGE", `unexpected argument "${a._[0]}"; usage: tensorshrink web [--port N]`);
  const t = a.opts.get("--port")?.at(-1);
  const port = t === undefined ? 8080 : /^[0-9]{1,5}$/.test(t) && Number(t) <= 65535 ? Number(t) : NaN;
  if (!Number.isInteger(port)) throw new TensorshrinkError("E_RANGE", `--port must be a plain decimal integer from 0 to 65535, got "${t}"`, { option: "--port", value: t });
  const s = await serveWeb({ port });
  process.stdout.write(`tensorshrink web app: ${s.url}  (127.0.0.1 only; Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => { process.off("SIGINT", stop); process.off("SIGTERM", stop); s.close().then(resolve); };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  return 0;
}
