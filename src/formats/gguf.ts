/**
 * GGUF v3 reader and writer (llama.cpp's model file format), streaming and hardened.
 *
 * Layout (little-endian): magic `GGUF`, version u32, tensor count u64, key/value count u64,
 * key/values (key string, value type u32, value), tensor infos (name string, n_dims u32, n_dims
 * u64 extents in ggml `ne` order, ggml type u32, offset u64 relative to the data section),
 * zero padding to `general.alignment` (default 32), tensor data (each tensor padded to the alignment).
 *
 * The reader pulls the header through a bounded window (64 KiB reads), validates every count and
 * length against limits and the file size before allocating, and throws `TensorshrinkError`
 * (`E_FORMAT` / `E_TRUNCATED`) with `details.offset` = the byte offset of the offending field.
 * The writer emits the header, then streams tensor data in tensor by tensor, so a whole model
 * is never in memory.
 */
export * from "./gguf-types";
export * from "./gguf-read";
export * from "./gguf-write";
