/**
 * Imports a Node built-in (node:fs/promises, node:os, ...) through a non-literal specifier, so that
 * bundlers targeting browsers or workerd (esbuild, webpack, Vite) leave it alone; it only runs where
 * a file system exists (Node, Deno, Bun).
 */
export function nodeBuiltin<T = any>(name: string): Promise<T> {
  return import(/* webpackIgnore: true */ /* @vite-ignore */ name);
}
