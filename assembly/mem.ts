// Heap for the facade: TLSF from the AssemblyScript runtime. Kernels never allocate;
// they take pointers handed out here (16-byte aligned).

/** Allocates `size` bytes, 16-byte aligned. Returns the pointer. */
export function ts_alloc(size: usize): usize {
  return heap.alloc(size);
}

/** Frees a block returned by ts_alloc. */
export function ts_free(ptr: usize): void {
  heap.free(ptr);
}

/** memory.copy of n bytes (the benchmark's bandwidth yardstick). */
export function ts_memcpy(dst: usize, src: usize, n: usize): void {
  memory.copy(dst, src, n);
}
