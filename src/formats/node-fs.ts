/**
 * @internal The file-system helpers the file sources (./source.ts) and file sinks (./sink.ts) share:
 * `node:fs/promises` and `node:path` imported lazily (browsers and workerd never load them), typed I/O
 * errors, the refusal of anything but a regular file, and the identity (path, device, inode) of the
 * files {@link openFileSource} opened.
 */
import { nodeBuiltin } from "../engine/node-builtin";
import { TensorshrinkError, isTensorshrinkError } from "../errors";
import type { ByteSource } from "./source";

export async function nodeFs(): Promise<typeof import("node:fs/promises")> {
  try {
    return await nodeBuiltin("node:fs/promises");
  } catch (e) {
    throw new TensorshrinkError("E_UNSUPPORTED", "file paths need node:fs (Node, Deno, Bun); in a browser pass a Blob/File or a URL", {}, { cause: e });
  }
}

export async function nodePath(): Promise<typeof import("node:path")> {
  return await nodeBuiltin("node:path");
}

export function ioError(e: unknown, what: string, file: string): TensorshrinkError {
  if (isTensorshrinkError(e)) return e;
  const code = (e as any)?.code as string | undefined;
  if (code === "EEXIST") return new TensorshrinkError("E_EXISTS", `${what}: ${file} already exists`, { file }, { cause: e });
  return new TensorshrinkError("E_IO", `${what} ${file}: ${(e as Error)?.message ?? String(e)}`, { file, errno: code }, { cause: e });
}

export function fileKind(st: import("node:fs").Stats): string {
  return st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO (named pipe)" : st.isSocket() ? "a socket" : st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : "not a regular file";
}

export function notRegular(path: string, st: import("node:fs").Stats): TensorshrinkError {
  return new TensorshrinkError("E_IO", `${path} is not a regular file (${fileKind(st)}): refusing to read it`, { file: path, kind: fileKind(st) });
}

/** Identity of a file opened by {@link openFileSource}: absolute path plus the stat taken at open. */
export interface FileIdentity { path: string; dev: number; ino: number; size: number }
/** @internal Set by {@link openFileSource} while the source is open. */
export const fileIdentities = new WeakMap<ByteSource, FileIdentity>();

/**
 * @internal The file behind a source made by {@link openFileSource} (null for any other source), so
 * that pool workers can read ranges of it themselves: they open `path` and check `dev`/`ino` first.
 */
export function fileIdentityOf(src: ByteSource): FileIdentity | null {
  return fileIdentities.get(src) ?? null;
}
