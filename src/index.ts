// Public API re-exports only.
export { init } from "./engine/init";
export { hasSimd, type InitOptions } from "./engine/load";
export { Engine, StreamQuantizer, type QuantizeOptions, type DequantizeOptions, type ErrorStats } from "./engine/engine";
export { WasmTensor } from "./engine/tensor";
export { TensorshrinkError, isTensorshrinkError, type ErrorCode } from "./errors";
export { QUANT_TYPES, lookupType, type TypeInfo, type QuantTypeName } from "./quant/types";
export { FTYPES, lookupFtype, planModel, parseRule, type FtypeName, type TensorRule, type TensorPlan, type PlanTensor, type PlanHparams, type PlanOptions } from "./model/recipes";
export { quantizeModel, type QuantizeModelOptions, type QuantizeReport, type TensorReport, type QuantizeProgress } from "./model/quantize";
export { ggufModelSource, hparamsFromMetadata, tensorRows, type ModelSource, type ModelTensor } from "./model/source";
export { syntheticModel, type SyntheticOptions } from "./model/synthetic";
export { openModel, type OpenModelOptions } from "./model/open";
export { readImatrix, encodeLegacyImatrix } from "./formats/imatrix";
