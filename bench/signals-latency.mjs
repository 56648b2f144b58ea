// How fast a CLI job stops on a signal: starts `node <cli.js> <args...>`, sends SIGNAL after DELAY ms, prints the
// exit code (or the killing signal), the milliseconds from the signal to the exit, and the job's stderr.
//   node bench/signals-latency.mjs <cli.js> <delay-ms> <SIGNAL> -- <command args...>
// e.g. (bench/SIGNALS.md): node bench/signals-latency.mjs dist/cli.js 4000 SIGINT -- imatrix ../shared/models/kjv3M/kjv3M.bin
//        --tokenizer ../shared/models/kjv3M/tok512.bin --threads 1 --text calib-20k.txt --ctx 64 -o /tmp/im.gguf
import { spawn } from "node:child_process";

const [cli, delay, sig, sep, ...args] = process.argv.slice(2);
if (!cli || !delay || !sig || sep !== "--") { console.error("usage: node bench/signals-latency.mjs <cli.js> <delay-ms> <SIGNAL> -- <command args...>"); process.exit(2); }
const t0 = Date.now();
const c = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "ignore", "pipe"] });
let err = "";
c.stderr.on("data", (d) => (err += `[${Date.now() - t0} ms] ${d}`));
let sent = 0;
setTimeout(() => { sent = Date.now(); c.kill(sig); }, Number(delay));
c.on("exit", (code, killed) => console.log(`exit code ${code}, killed by ${killed}, ${sent ? `${Date.now() - sent} ms after the signal` : "before the signal"}\n${err.trim()}`));
