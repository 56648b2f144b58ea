/** The method seam: interfaces, the built-in methods, the calibrated sweep, and the pipeline runner. */
export * from "./types";
export { rtnMethod, rtnBytes, rowsOf, bytesOf } from "./rtn";
export { gptqMethod, gptqQuantize, type GptqOptions } from "./gptq";
export { awqMethod, awqPairs, awqFold, rowOutputErrors, type AwqOptions, type AwqPair, type AwqBlockReport } from "./awq";
export { calibratedSweep, calibrationChunks, type SweepOptions, type SweepReport } from "./sweep";
export { BUILTIN_METHODS, resolveMethods, planMethods, checkCalibration, runMethods, layerOf, rescaledInput, type CalibrationInput, type PlannedTensor, type MethodsOutput, type MethodPlan } from "./pipeline";
