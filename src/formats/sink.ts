/**
 * Sequential byte sinks, runtime-agnostic: a file written to `<out>.tmp-<pid>-<random>` and renamed on
 * `commit()` (deleted on `abort()`, never overwriting an input), memory (chunks collected) and a
 * `WritableStream` (browsers). Re-exported by ./source.ts.
 */
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import { concatBytes } from "./bytes";
import { fileIdentityOf, ioError, nodeFs, nodePath } from "./node-fs";
import type { ByteSource } from "./source";

/** A sequential writer. Nothing is visible at the destination until `commit()`; `abort()` removes everything. */
export interface ByteSink {
  /** Append bytes. The chunk may be reused by the caller after the promise resolves. */
  write(chunk: Uint8Array): Promise<void>;
  /** Bytes written so far. */
  readonly bytesWritten: number;
  /** Finish: flush, close and make the output visible (file sinks rename the temporary file). */
  commit(): Promise<void>;
  /** Give up: close and delete the temporary output. Idempotent; safe after a failed write. */
  abort(reason?: unknown): Promise<void>;
  /**
   * @internal Optional (file sinks in Node/Deno/Bun): the temporary file, for writers on other threads
   * that put byte ranges into it by position (see `skip`). Creates the file. Its `dev`/`ino` let such a
   * writer check it opened this very file.
   */
  target?(): Promise<{ path: string; dev: number; ino: number }>;
  /**
   * @internal Optional, with `target`: advance past `n` bytes at the current position that another
   * writer puts into the target file (the sink never writes them). `commit()` checks the file's size.
   */
  skip?(n: number): Promise<void>;
}

/** An in-memory sink; `bytes()` returns the concatenation after (or before) `commit()`. */
export interface MemorySink extends ByteSink {
  /** The bytes written so far, concatenated (one copy). */
  bytes(): Uint8Array;
}

/** Collects chunks in memory (tests, small models, browser downloads). Chunks are copied. */
export function memorySink(): MemorySink {
  const chunks: Uint8Array[] = [];
  let n = 0;
  let state: "open" | "committed" | "aborted" = "open";
  return {
    get bytesWritten() { return n; },
    async write(chunk: Uint8Array) {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `memory sink is ${state}`, {});
      chunks.push(chunk.slice());
      n += chunk.byteLength;
    },
    async commit() { state = "committed"; },
    async abort() { state = "aborted"; chunks.length = 0; n = 0; },
    bytes() {
      if (chunks.length === 1) return chunks[0]!;
      const out = concatBytes(chunks);
      chunks.length = 0;
      chunks.push(out);
      return out;
    },
  };
}

/** Options of {@link openFileSink}. */
export interface FileSinkOptions {
  /**
   * Files that must never be overwritten: every file the job reads (for a model from `openModel`,
   * pass its `files`). Compared after resolving symlinks and by device + inode (hard links).
   */
  inputs?: Array<string | ByteSource | undefined>;
  /** Allow replacing an existing output file (default true; inputs are protected regardless). */
  overwrite?: boolean;
  /** Write buffer in bytes (default 1 MiB). */
  bufferBytes?: number;
}

/** A file sink: a ByteSink plus the path of its temporary file. */
export interface FileSink extends ByteSink {
  /**
   * The temporary file (`<output>.tmp-<pid>-<random>`, created at the first flush). A process that
   * must exit at once (a second Ctrl-C) may unlink it synchronously; see also {@link removeStaleTempFiles}.
   */
  readonly tempPath: string;
}

/** `.tmp-<pid>-<random>`: the temporary file's suffix, with this process's id (0 where there is none). */
function tempSuffix(): string {
  const pid = typeof process !== "undefined" && Number.isSafeInteger(process.pid) ? process.pid : 0;
  return `.tmp-${pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Whether process `pid` exists (EPERM: it exists, owned by someone else). Unknown -> true (keep the file). */
function pidAlive(pid: number): boolean {
  if (typeof process === "undefined" || typeof process.kill !== "function") return true;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as any)?.code !== "ESRCH";
  }
}

/**
 * Refuses (`E_EXISTS`) an output that is one of `inputs`: the same path after resolving symlinks
 * (realpath of the file, or of its directory when it does not exist yet), or the same device + inode
 * (a hard link, a bind mount). Inputs given as ByteSources from {@link openFileSource} are compared
 * by the identity taken when they were opened.
 */
async function checkNotAnInput(fs: typeof import("node:fs/promises"), p: typeof import("node:path"), path: string, abs: string, inputs: ReadonlyArray<string | ByteSource | undefined>): Promise<void> {
  const real = async (x: string): Promise<string> => {
    try { return await fs.realpath(x); } catch { /* not there (yet) */ }
    try { return p.join(await fs.realpath(p.dirname(x)), p.basename(x)); } catch { return p.resolve(x); }
  };
  const outReal = await real(abs);
  const outSt = await fs.stat(abs).catch(() => null);
  for (const inp of inputs) {
    if (!inp) continue;
    const ip = typeof inp === "string" ? p.resolve(inp) : inp.path;
    if (!ip) continue;
    const refuse = (why: string) => new TensorshrinkError("E_EXISTS", `refusing to write the output ${path}: ${why}, which this job reads`, { file: path, input: ip });
    if ((await real(ip)) === outReal) throw refuse(ip === outReal || ip === abs ? `it is the input ${ip}` : `it resolves to the input ${ip}`);
    if (outSt) {
      const id = typeof inp === "string" ? null : fileIdentityOf(inp);
      const st = id ?? (await fs.stat(ip).catch(() => null));
      if (st && Number(st.dev) === Number(outSt.dev) && Number(st.ino) === Number(outSt.ino)) {
        throw refuse(`it is the same file (device ${Number(outSt.dev)}, inode ${Number(outSt.ino)}: a hard link) as the input ${ip}`);
      }
    }
  }
}

/**
 * Refuses (`E_EXISTS`) writing `path` when it resolves (realpath, or device + inode: hard links) to
 * one of `inputs` — for files a job discovers only after its sink was opened (a model's shards,
 * config.json, an auto-found tokenizer). {@link openFileSink} makes the same check for its `inputs`.
 * @throws TensorshrinkError `E_EXISTS`.
 */
export async function checkOutputNotInput(path: string, inputs: ReadonlyArray<string | ByteSource | undefined>): Promise<void> {
  const fs = await nodeFs();
  const p = await nodePath();
  await checkNotAnInput(fs, p, path, p.resolve(path), inputs);
}

/**
 * Removes temporary files a killed run (SIGKILL, power loss) left for the same output:
 * `<output>.tmp-<pid>-<random>` whose pid is no longer alive. Files of live processes, other outputs
 * and anything not matching the pattern are left alone. Returns the names removed.
 */
export async function removeStaleTempFiles(fs: typeof import("node:fs/promises"), p: typeof import("node:path"), abs: string): Promise<string[]> {
  const dir = p.dirname(abs), base = p.basename(abs);
  let names: string[];
  try { names = await fs.readdir(dir); } catch { return []; }
  const removed: string[] = [];
  for (const n of names) {
    if (!n.startsWith(`${base}.tmp-`)) continue;
    const m = /^\.tmp-([1-9][0-9]{0,9})-[a-z0-9]{1,16}$/.exec(n.slice(base.length));
    if (!m || pidAlive(Number(m[1]))) continue;
    try {
      const st = await fs.lstat(p.join(dir, n));
      if (!st.isFile()) continue;
      await fs.unlink(p.join(dir, n));
      removed.push(n);
    } catch { /* raced with someone else: fine */ }
  }
  return removed;
}

/**
 * A file sink (Node/Deno/Bun): writes `<path>.tmp-<pid>-<random>` next to the output and renames it
 * to `path` on `commit()`; `abort()` deletes it. The temporary file is only created when the first
 * buffered MiB is flushed (or on commit), so a sink abandoned before that leaves nothing. Refuses
 * (`E_EXISTS`) when `path` is one of the inputs, so the input is never touched, and (`E_IO`) at once when
 * `path` is a directory or its directory is missing or unwritable. On open it removes stale temporary
 * files of the same output left by dead processes ({@link removeStaleTempFiles}).
 * @throws TensorshrinkError `E_EXISTS` / `E_IO`.
 */
export async function openFileSink(path: string, opts: FileSinkOptions = {}): Promise<FileSink> {
  const fs = await nodeFs();
  const p = await nodePath();
  const abs = p.resolve(path);
  await checkNotAnInput(fs, p, path, abs, opts.inputs ?? []);
  if (opts.overwrite === false) {
    try {
      await fs.access(abs);
      throw new TensorshrinkError("E_EXISTS", `${path} already exists`, { file: path });
    } catch (e) {
      if (isTensorshrinkError(e)) throw e;
    }
  }
  // The output is checked now, before any work: an existing directory, a missing or unwritable
  // directory fail here rather than at commit() after the whole job.
  const existing = await fs.stat(abs).catch(() => null);
  if (existing?.isDirectory()) throw new TensorshrinkError("E_IO", `cannot write the output ${path}: it is a directory`, { file: path });
  try {
    const dst = await fs.stat(p.dirname(abs));
    if (!dst.isDirectory()) throw new TensorshrinkError("E_IO", `cannot write the output ${path}: ${p.dirname(abs)} is not a directory`, { file: path });
    await fs.access(p.dirname(abs), fs.constants.W_OK);
  } catch (e) {
    throw ioError(e, "cannot write into the directory of", path);
  }
  await removeStaleTempFiles(fs, p, abs);
  const tmp = `${abs}${tempSuffix()}`;
  // The temporary file is created lazily at the first flush, so a sink that is opened and then
  // abandoned before any data reaches the disk leaves nothing behind.
  let fh: import("node:fs/promises").FileHandle | undefined;
  const handle = async () => {
    if (!fh) {
      try {
        fh = await fs.open(tmp, "wx");
      } catch (e) {
        throw ioError(e, "cannot create", tmp);
      }
    }
    return fh;
  };
  const cap = Math.max(4096, opts.bufferBytes ?? 1 << 20);
  const buf = new Uint8Array(cap);
  let used = 0;
  let written = 0; // logical size: bytes written + skipped
  let filePos = 0; // where the next flushed byte goes
  let state: "open" | "committed" | "aborted" = "open";
  // The data reaches the disk while the job runs: every SYNC_EVERY bytes a datasync starts in the
  // background (one at a time), so the fsync in commit() has little left to do.
  const SYNC_EVERY = 64 << 20;
  let unsynced = 0;
  let syncing: Promise<void> | null = null;
  const backgroundSync = (h: import("node:fs/promises").FileHandle, n: number) => {
    unsynced += n;
    if (unsynced < SYNC_EVERY || syncing) return;
    unsynced = 0;
    syncing = h.datasync().catch(() => undefined).then(() => { syncing = null; });
  };
  const writeAll = async (b: Uint8Array) => {
    const h = await handle();
    let o = 0;
    while (o < b.byteLength) {
      const { bytesWritten } = await h.write(b, o, b.byteLength - o, filePos);
      o += bytesWritten;
      filePos += bytesWritten;
    }
    backgroundSync(h, b.byteLength);
  };
  const flush = async () => {
    if (used > 0) {
      await writeAll(buf.subarray(0, used));
      used = 0;
    }
  };
  const sink: FileSink = {
    tempPath: tmp,
    get bytesWritten() { return written; },
    async write(chunk: Uint8Array) {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `output ${path} is ${state}`, { file: path });
      try {
        if (used + chunk.byteLength <= cap) {
          buf.set(chunk, used);
          used += chunk.byteLength;
        } else {
          await flush();
          if (chunk.byteLength >= cap) await writeAll(chunk);
          else { buf.set(chunk, 0); used = chunk.byteLength; }
        }
        written += chunk.byteLength;
      } catch (e) {
        throw ioError(e, "cannot write", tmp);
      }
    },
    async target() {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `output ${path} is ${state}`, { file: path });
      const st = await (await handle()).stat();
      return { path: tmp, dev: Number(st.dev), ino: Number(st.ino) };
    },
    async skip(n: number) {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `output ${path} is ${state}`, { file: path });
      try {
        await flush();
      } catch (e) {
        throw ioError(e, "cannot write", tmp);
      }
      filePos += n;
      written += n;
      if (fh) backgroundSync(fh, n);
    },
    async commit() {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `output ${path} is ${state}`, { file: path });
      try {
        await flush();
        const h = await handle();
        await syncing;
        const size = (await h.stat()).size;
        if (size !== written) throw new TensorshrinkError("E_IO", `${tmp} has ${size} bytes, ${written} were written: refusing to commit ${path}`, { file: path, expected: written, got: size });
        await h.sync().catch(() => undefined);
        await h.close();
        await fs.rename(tmp, abs);
        state = "committed";
      } catch (e) {
        await sink.abort(e);
        throw ioError(e, "cannot finish", path);
      }
    },
    async abort() {
      if (state === "committed" || state === "aborted") return;
      state = "aborted";
      if (fh) {
        await syncing;
        try { await fh.close(); } catch { /* already closed */ }
        try { await fs.unlink(tmp); } catch { /* gone */ }
      }
    },
  };
  return sink;
}

/**
 * A sink over a `WritableStream<Uint8Array>` (browsers: e.g. the File System Access API's
 * `createWritable()`, or a stream into a download). `commit()` closes the stream, `abort()` aborts it
 * (the File System Access API then discards the partial file).
 */
export function writableStreamSink(stream: WritableStream<Uint8Array>): ByteSink {
  const writer = stream.getWriter();
  let n = 0;
  let state: "open" | "committed" | "aborted" = "open";
  return {
    get bytesWritten() { return n; },
    async write(chunk: Uint8Array) {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `stream sink is ${state}`, {});
      try {
        await writer.write(chunk.slice());
      } catch (e) {
        throw new TensorshrinkError("E_IO", `stream write failed: ${(e as Error)?.message ?? e}`, {}, { cause: e });
      }
      n += chunk.byteLength;
    },
    async commit() {
      if (state !== "open") throw new TensorshrinkError("E_DISPOSED", `stream sink is ${state}`, {});
      state = "committed";
      await writer.close();
    },
    async abort(reason?: unknown) {
      if (state !== "open") return;
      state = "aborted";
      try { await writer.abort(reason); } catch { /* ignore */ }
    },
  };
}
