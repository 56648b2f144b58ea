/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib/PNG/gzip), table-driven. */
let TABLE: Uint32Array | null = null;

function table(): Uint32Array {
  if (TABLE) return TABLE;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return (TABLE = t);
}

/** Continues a CRC-32 over `bytes` (start with crc = 0). crc32(ASCII "123456789") = 0xCBF43926. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table();
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
