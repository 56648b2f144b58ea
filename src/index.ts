// Public API re-exports only.
export { init } from "./engine/init";
export { hasSimd, type InitOptions } from "./engine/load";
export { Engine, StreamQuantizer, type QuantizeOptions, type DequantizeOptions, type ErrorStats } from "./engine/engine";
export { WasmTensor } from "./engine/tensor";
export { TensorshrinkError, isTensorshrinkError, type ErrorCode } from "./errors";
export { QUANT_TYPES, lookupType, type TypeInfo, type QuantTypeName } from "./quant/types";
