/**
 * Random-access byte sources and sequential byte sinks, runtime-agnostic.
 *
 * - Sources: a file (Node/Deno/Bun through `node:fs/promises`, imported lazily so browsers and
 *   workerd never load it), a `Blob`/`File` (`Blob.slice`), an HTTP(S) URL (range requests,
 *   206 verified) and an in-memory `Uint8Array`. Readers only ever ask for the bytes they need, so
 *   a 10 GB model is never in memory.
 * - Sinks: a file written to `<out>.tmp-<pid>-<random>` and renamed on `commit()` (deleted on `abort()`,
 *   never overwriting an input), memory (chunks collected) and a `WritableStream` (browsers).
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError, isTensorshrinkError } from "../errors";

/** A random-access, read-only sequence of bytes. */
export interface ByteSource {
  /** Total length in bytes. */
  readonly size: number;
  /** A human-readable name (path, URL, file name) used in error messages. */
  readonly name: string;
  /**
   * Read exactly `length` bytes starting at byte `offset`.
   * @throws TensorshrinkError `E_TRUNCATED` (details.offset = first missing byte) when the range ends past `size`, `E_IO` on I/O errors.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Release the underlying handle, if any. Idempotent. */
  close?(): Promise<void>;
  /** The absolute file path for file sources (used by file sinks to refuse overwriting an input). */
  readonly path?: string;
}

function checkRange(src: { size: number; name: string }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new TensorshrinkError("E_RANGE", `invalid read range offset=${offset} length=${length} in ${src.name}`, { offset, length, file: src.name });
  }
  if (offset + length > src.size) {
    const at = Math.max(offset, src.size);
    throw new TensorshrinkError("E_TRUNCATED", `${src.name} ends at byte ${src.size}, but ${length} bytes are needed at byte offset ${offset}`, { offset: at, length, size: src.size, file: src.name });
  }
}

/**
 * A source over bytes already in memory (no copy: returned views share `bytes`).
 * @param bytes the whole file.
 * @param name used in error messages.
 */
export function memorySource(bytes: Uint8Array, name = "<memory>"): ByteSource {
  return {
    size: bytes.byteLength,
    name,
    async read(offset: number, length: number) {
      checkRange(this, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/**
 * A source over a `Blob` or `File` (browsers, Deno, Bun, Node ≥ 20), reading with `Blob.slice`,
 * so only the requested range is materialized.
 */
export function blobSource(blob: Blob, name?: string): ByteSource {
  return {
    size: blob.size,
    name: name ?? ((blob as any).name as string | undefined) ?? "<blob>",
    async read(offset: number, length: number) {
      checkRange(this, offset, length);
      if (length === 0) return new Uint8Array(0);
      const buf = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
      if (buf.byteLength !== length) {
        throw new TensorshrinkError("E_TRUNCATED", `${this.name}: short read of ${buf.byteLength}/${length} bytes at byte offset ${offset}`, { offset: offset + buf.byteLength, file: this.name });
      }
      return buf;
    },
  };
}

async function nodeFs(): Promise<typeof import("node:fs/promises")> {
  try {
    return await nodeBuiltin("node:fs/promises");
  } catch (e) {
    throw new TensorshrinkError("E_UNSUPPORTED", "file paths need node:fs (Node, Deno, Bun); in a browser pass a Blob/File or a URL", {}, { cause: e });
  }
}

async function nodePath(): Promise<typeof import("node:path")> {
  return await nodeBuiltin("node:path");
}

function ioError(e: unknown, what: string, file: string): TensorshrinkError {
  if (isTensorshrinkError(e)) return e;
  const code = (e as any)?.code as string | undefined;
  if (code === "EEXIST") return new TensorshrinkError("E_EXISTS", `${what}: ${file} already exists`, { file }, { cause: e });
  return new TensorshrinkError("E_IO", `${what} ${file}: ${(e as Error)?.message ?? String(e)}`, { file, errno: code }, { cause: e });
}

function fileKind(st: import("node:fs").Stats): string {
  return st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO (named pipe)" : st.isSocket() ? "a socket" : st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : "not a regular file";
}

function notRegular(path: string, st: import("node:fs").Stats): TensorshrinkError {
  return new TensorshrinkError("E_IO", `${path} is not a regular file (${fileKind(st)}): refusing to read it`, { file: path, kind: fileKind(st) });
}

/** Identity of a file opened by {@link openFileSource}: absolute path plus the stat taken at open. */
export interface FileIdentity { path: string; dev: number; ino: number; size: number }
const fileIdentities = new WeakMap<ByteSource, FileIdentity>();

/**
 * @internal The file behind a source made by {@link openFileSource} (null for any other source), so
 * that pool workers can read ranges of it themselves: they open `path` and check `dev`/`ino` first.
 */
export function fileIdentityOf(src: ByteSource): FileIdentity | null {
  return fileIdentities.get(src) ?? null;
}

/**
 * Open a file for random access (Node, Deno, Bun). Call `close()` when done.
 * @param path file path.
 * @throws TensorshrinkError `E_IO` when it cannot be opened.
 */
export async function openFileSource(path: string): Promise<ByteSource> {
  const fs = await nodeFs();
  const p = await nodePath();
  const abs = p.resolve(path);
  // Refuse anything but a regular file before opening it: open() on a FIFO blocks until a writer
  // appears (forever), on a device it may have side effects. O_NONBLOCK closes the race where the
  // path is swapped for a FIFO between stat and open; the fstat below checks what was opened.
  let pre: import("node:fs").Stats;
  try {
    pre = await fs.stat(abs);
  } catch (e) {
    throw ioError(e, "cannot open", path);
  }
  if (!pre.isFile()) throw notRegular(path, pre);
  let fh: import("node:fs/promises").FileHandle;
  try {
    fh = await fs.open(abs, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw ioError(e, "cannot open", path);
  }
  let st: import("node:fs").Stats;
  try {
    st = await fh.stat();
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw ioError(e, "cannot stat", path);
  }
  if (!st.isFile()) {
    await fh.close().catch(() => undefined);
    throw notRegular(path, st);
  }
  let closed = false;
  const info = { size: st.size, name: path };
  const source: ByteSource = {
    size: st.size,
    name: path,
    path: abs,
    async read(offset: number, length: number) {
      checkRange(info, offset, length);
      if (closed) throw new TensorshrinkError("E_DISPOSED", `${path} was closed`, { file: path });
      const buf = new Uint8Array(length);
      let done = 0;
      try {
        while (done < length) {
          const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
          if (bytesRead === 0) {
            throw new TensorshrinkError("E_TRUNCATED", `${path} ended at byte offset ${offset + done} while reading ${length} bytes at ${offset} (file shrank?)`, { offset: offset + done, file: path });
          }
          done += bytesRead;
        }
      } catch (e) {
        throw ioError(e, "cannot read", path);
      }
      return buf;
    },
    async close() {
      if (!closed) {
        closed = true;
        fileIdentities.delete(source);
        await fh.close();
      }
    },
  };
  fileIdentities.set(source, { path: abs, dev: Number(st.dev), ino: Number(st.ino), size: st.size });
  return source;
}

/** Options of {@link openUrlSource}. */
export interface UrlSourceOptions {
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Known size in bytes (skips the size probe). */
  size?: number;
}

/**
 * A source over an HTTP(S) URL, reading with `Range: bytes=a-b` requests. The server must answer
 * 206 Partial Content with the requested range; a 200 (range ignored) is an error, so a huge
 * file is never downloaded whole by accident.
 * @throws TensorshrinkError `E_IO` when the server does not support ranges or fails.
 */
export async function openUrlSource(url: string | URL, opts: UrlSourceOptions = {}): Promise<ByteSource> {
  const f = opts.fetch ?? globalThis.fetch;
  if (typeof f !== "function") throw new TensorshrinkError("E_UNSUPPORTED", "no fetch() in this runtime", { url: String(url) });
  const name = String(url);
  const rangeFetch = async (start: number, endInclusive: number): Promise<Response> => {
    let res: Response;
    try {
      res = await f(name, { headers: { ...(opts.headers ?? {}), Range: `bytes=${start}-${endInclusive}` } });
    } catch (e) {
      throw new TensorshrinkError("E_IO", `fetch ${name} failed: ${(e as Error)?.message ?? e}`, { url: name, offset: start }, { cause: e });
    }
    if (res.status !== 206) {
      try { await res.body?.cancel(); } catch { /* ignore */ }
      if (res.status === 416) {
        throw new TensorshrinkError("E_TRUNCATED", `${name}: range ${start}-${endInclusive} not satisfiable (HTTP 416)`, { url: name, offset: start });
      }
      if (res.status === 404 || res.status === 410) throw new TensorshrinkError("E_IO", `not found: ${name} (HTTP ${res.status})`, { url: name, status: res.status });
      if (res.status === 401 || res.status === 403) throw new TensorshrinkError("E_IO", `access denied: ${name} (HTTP ${res.status}; a private file needs an Authorization header)`, { url: name, status: res.status });
      if (res.status >= 500) throw new TensorshrinkError("E_IO", `server error: ${name} (HTTP ${res.status})`, { url: name, status: res.status });
      throw new TensorshrinkError("E_IO", `${name}: expected HTTP 206 Partial Content for a range request, got ${res.status}${res.status === 200 ? " (server ignores Range)" : ""}`, { url: name, status: res.status, offset: start });
    }
    return res;
  };
  let size = opts.size;
  if (size === undefined) {
    const res = await rangeFetch(0, 0);
    const cr = res.headers.get("content-range");
    try { await res.body?.cancel(); } catch { /* ignore */ }
    const m = cr ? /\/(\d+)\s*$/.exec(cr) : null;
    if (!m) throw new TensorshrinkError("E_IO", `${name}: no total size in Content-Range (${cr ?? "missing"})`, { url: name });
    size = Number(m[1]);
  }
  const info = { size, name };
  return {
    size,
    name,
    async read(offset: number, length: number) {
      checkRange(info, offset, length);
      if (length === 0) return new Uint8Array(0);
      const res = await rangeFetch(offset, offset + length - 1);
      const cr = res.headers.get("content-range");
      if (cr) {
        const m = /bytes\s+(\d+)-(\d+)\//.exec(cr);
        if (!m || Number(m[1]) !== offset || Number(m[2]) !== offset + length - 1) {
          throw new TensorshrinkError("E_IO", `${name}: server returned range ${cr}, asked for ${offset}-${offset + length - 1}`, { url: name, offset });
        }
      }
      const buf = new Uint8Array(await res.arrayBuffer());
      if (buf.byteLength !== length) {
        throw new TensorshrinkError("E_TRUNCATED", `${name}: got ${buf.byteLength} of ${length} bytes at byte offset ${offset}`, { url: name, offset: offset + buf.byteLength });
      }
      return buf;
    },
  };
}

/** Anything {@link openSource} accepts. */
export type SourceInput = ByteSource | Uint8Array | ArrayBuffer | Blob | URL | string;

function isByteSource(x: unknown): x is ByteSource {
  return typeof x === "object" && x !== null && typeof (x as any).read === "function" && typeof (x as any).size === "number";
}

/**
 * Open any supported input as a {@link ByteSource}: a ByteSource (returned as is), bytes, a Blob/File,
 * a URL object or an `http(s)://` string (range requests), or a file path (Node/Deno/Bun).
 */
export async function openSource(input: SourceInput, opts: UrlSourceOptions = {}): Promise<ByteSource> {
  if (isByteSource(input)) return input;
  if (input instanceof Uint8Array) return memorySource(input);
  if (input instanceof ArrayBuffer) return memorySource(new Uint8Array(input));
  if (typeof Blob !== "undefined" && input instanceof Blob) return blobSource(input);
  if (input instanceof URL) {
    if (input.protocol === "file:") {
      const { fileURLToPath } = await nodeBuiltin("node:url");
      return openFileSource(fileURLToPath(input));
    }
    return openUrlSource(input, opts);
  }
  if (typeof input === "string") {
    if (/^https?:\/\//i.test(input)) return openUrlSource(input, opts);
    return openFileSource(input);
  }
  throw new TensorshrinkError("E_ARG_TYPE", "expected a path, URL, Blob, Uint8Array or ByteSource", {});
}

// ---------------------------------------------------------------------------------------------
// Sinks

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
      const out = new Uint8Array(n);
      let o = 0;
      for (const c of chunks) { out.set(c, o); o += c.byteLength; }
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

// ---------------------------------------------------------------------------------------------
// Resolvers: open a file by name relative to a model location (HF directories, sharded weights).

/** Opens a file by name relative to some location (a directory, a base URL, a set of Files). Rejects when absent. */
export type FileResolver = (name: string) => Promise<ByteSource>;

function checkRelName(name: string): void {
  if (name.includes("..") || name.startsWith("/") || name.includes("\\") || name.includes("\0")) {
    throw new TensorshrinkError("E_FORMAT", `refusing to open ${JSON.stringify(name)}: not a plain relative file name`, { file: name });
  }
}

/** Resolve names inside a directory (Node/Deno/Bun). */
export function directoryResolver(dir: string): FileResolver {
  return async (name: string) => {
    checkRelName(name);
    const p = await nodePath();
    return openFileSource(p.join(dir, name));
  };
}

/**
 * Resolve names among in-memory files or Blobs/Files (browsers: the FileList of an
 * `<input type=file webkitdirectory>`; the base name of each `File.name` / `webkitRelativePath` is used).
 */
export function filesResolver(files: Iterable<Blob> | Record<string, Blob | Uint8Array>): FileResolver {
  const map = new Map<string, Blob | Uint8Array>();
  if (Symbol.iterator in (files as object)) {
    for (const f of files as Iterable<Blob>) {
      const n = String((f as any).webkitRelativePath || (f as any).name || "");
      map.set(n.split("/").pop()!, f);
    }
  } else {
    for (const [k, v] of Object.entries(files as Record<string, Blob | Uint8Array>)) map.set(k, v);
  }
  return async (name: string) => {
    const f = map.get(name);
    if (!f) throw new TensorshrinkError("E_IO", `no file named ${name} among the given files`, { file: name });
    return f instanceof Uint8Array ? memorySource(f, name) : blobSource(f, name);
  };
}

/** Resolve names relative to a base URL (a trailing `/` is added), with range requests. */
export function urlResolver(base: string | URL, opts: UrlSourceOptions = {}): FileResolver {
  let b = String(base);
  if (!b.endsWith("/")) b += "/";
  return async (name: string) => {
    checkRelName(name);
    return openUrlSource(new URL(name, b), { ...opts, size: undefined });
  };
}
