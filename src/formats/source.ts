/**
 * Random-access byte sources and sequential byte sinks, runtime-agnostic.
 *
 * - Sources: a file (Node/Deno/Bun through `node:fs/promises`, imported lazily so browsers and
 *   workerd never load it), a `Blob`/`File` (`Blob.slice`), an HTTP(S) URL (range requests,
 *   206 verified) and an in-memory `Uint8Array`. Readers only ever ask for the bytes they need, so
 *   a 10 GB model is never in memory.
 * - Sinks (./sink.ts, re-exported here): a file written to `<out>.tmp-<pid>-<random>` and renamed on
 *   `commit()` (deleted on `abort()`, never overwriting an input), memory (chunks collected) and a
 *   `WritableStream` (browsers).
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError } from "../errors";
import { fileIdentities, ioError, nodeFs, nodePath, notRegular } from "./node-fs";

export { fileIdentityOf, type FileIdentity } from "./node-fs";
export { memorySink, openFileSink, writableStreamSink, checkOutputNotInput, removeStaleTempFiles } from "./sink";
export type { ByteSink, MemorySink, FileSinkOptions, FileSink } from "./sink";

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


/**
 * @internal `f()`'s result; when it throws, `src` is closed first (a failing close is ignored: the
 * first error is the one to report) and the error rethrown.
 */
export async function closingOnError<T>(src: ByteSource, f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    await src.close?.().catch(() => undefined);
    throw e;
  }
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
