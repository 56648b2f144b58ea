// Public API re-exports only.
export { init } from "./engine/init";
export { hasSimd, type InitOptions } from "./engine/load";
export { Engine, StreamQuantizer, type QuantizeOptions, type DequantizeOptions, type ErrorStats } from "./engine/engine";
export { WasmTensor } from "./engine/tensor";
export { TensorshrinkError, isTensorshrinkError, type ErrorCode } from "./errors";
export { QUANT_TYPES, lookupType, type TypeInfo, type QuantTypeName } from "./quant/types";
export { FTYPES, lookupFtype, planModel, llamaCppTensorOrder, parseRule, type FtypeName, type TensorRule, type TensorPlan, type PlanTensor, type PlanHparams, type PlanOptions } from "./model/recipes";
export { quantizeModel, type QuantizeModelOptions, type QuantizeReport, type TensorReport, type QuantizeProgress } from "./model/quantize";
export { ggufModelSource, hparamsFromMetadata, tensorRows, type ModelSource, type ModelTensor } from "./model/source";
export { syntheticModel, type SyntheticOptions } from "./model/synthetic";
export { openModel, type OpenModelOptions, type ModelInput } from "./model/open";
export { readImatrix, encodeLegacyImatrix, Imatrix } from "./formats/imatrix";
export { quantizeIntN, dequantizeIntN, quantizeNF4, dequantizeNF4, NF4_LEVELS, quantizeFP8, dequantizeFP8, quantizeMXFP4, dequantizeMXFP4, type IntNOptions, type IntNTensor, type NF4Tensor, type FP8Tensor, type FP8Format, type MXFP4Tensor } from "./quant/general";
export { quantizeIntNAsync, dequantizeIntNAsync, quantizeNF4Async, dequantizeNF4Async, quantizeFP8Async, dequantizeFP8Async, quantizeMXFP4Async, dequantizeMXFP4Async } from "./quant/general-async";
export { createIntNQuantizer, createNF4Quantizer, createFP8Quantizer, createMXFP4Quantizer, type GeneralStreamQuantizer } from "./quant/general-stream";
export { readGguf, writeGguf, encodeGgufHeader, readGgufTensorBytes, readGgufTensorRows, ggufGet, ggufKV, ggufArray, ggufValueToJSON, type GgufFile, type GgufKV, type GgufValue, type GgufTensorInfo, type GgufTensorSpec } from "./formats/gguf";
export { GGML_TYPES, ggmlType, type GgmlTypeInfo } from "./formats/ggml-types";
export { openSource, openFileSource, openUrlSource, blobSource, memorySource, openFileSink, memorySink, writableStreamSink, directoryResolver, filesResolver, urlResolver, type ByteSource, type ByteSink, type FileResolver } from "./formats/source";
export { readSafetensors, openSafetensorsModel, encodeSafetensors } from "./formats/safetensors";
export { readLlama2cCheckpoint, readLlama2cTokenizer } from "./formats/llama2c";
export { llamaFromLlama2c, llamaFromHf, openLlamaModel, convertToGguf, openLlama2cModel, openHfModel } from "./model/convert";
export { EvalAccumulator, klDivergence, logSoftmax, perplexity, tokenNll, type EvalSummary } from "./eval/metrics";
// --- hostile-files ---
export { checkLlamaModel, checkLlamaTensors, checkLlamaParams, checkLlamaVocab, type LlamaVocabView, expectedLlamaTensors, llamaShapeParamsFromMetadata, LLAMA_LIMITS, type LlamaShapeParams, type ExpectedTensor } from "./model/validate";
export { parseHfLlamaConfig, type HfLlamaConfig } from "./model/hf-config";
export { sniffModelFormat, type SniffedFormat } from "./model/open";
export { findDuplicateJsonKey, type DuplicateJsonKey } from "./formats/json-keys";

// --- hostile-engine ---
export { TensorScope } from "./engine/tensor";
export { MAX_ALLOC_BYTES } from "./engine/engine";
export type { FileSink } from "./formats/source";
// --- linalg ---
export { matrix, identity, transpose, DEFAULT_MAX_BYTES, type Matrix, type LinalgOptions } from "./linalg/matrix";
export { gemm, gemmAsync, syrk, gemmWorkBytes, type GemmOptions, type SyrkOptions } from "./linalg/gemm";
export { cholesky, choleskyInverseUpper, spdInverse, solveTriangular, type DampOptions, type CholeskyResult, type SpdInverseResult, type TrsmOptions } from "./linalg/cholesky";
export { qr, eigh, svd, type QrResult, type EighResult, type SvdResult, type SvdOptions } from "./linalg/decomp";
export { randomizedSvd, gaussianStream, type RandomizedSvdOptions } from "./linalg/rsvd";
// --- forward ---
export { llamaConfigFromGguf, llamaConfigFromMetadata, blockTensorNames, blockWeightValues, type LlamaConfig } from "./nn/config";
export { type WeightProvider } from "./nn/weights";
// --- tokenizer ---
export { Tokenizer, type EncodeOptions, type DecodeOptions } from "./tokenizer/tokenizer";
export { PRE_TOKENIZERS, preTokenizerFor, preTokenize, type PreTokenizer } from "./tokenizer/pretokenize";
export { TOKEN_ATTR } from "./tokenizer/special";
export { LlamaModel, argmaxOf, activationKindOf, type ForwardHooks, type ForwardOptions, type LlamaOpenOptions } from "./nn/model";
// --- calib ---
export { ActStats, type ActInput } from "./calib/stats";
export { collectStats, type StatsModel, type StatsHooks, type CollectOptions, type CollectProgress } from "./calib/collect";
export { encodeImatrixGguf, encodeImatrixLegacy, type ImatrixSums, type ImatrixFileInfo } from "./formats/imatrix";
export { evaluate, evalWindows, logSoftmaxRows, type LogitsModel, type EvaluateOptions, type EvaluateResult, type EvaluateProgress, type ModelScore } from "./eval/evaluate";
export { LogitsReader, LogitsWriter, type LogitsHeader } from "./eval/logits-file";
export { decodeText, splitDocuments } from "./eval/text";
// --- distill ---
export { distillLoss, distillLossAsync, type DistillKind, type DistillLossOptions, type DistillLossResult, type TeacherTopK } from "./distill/loss";
export { TeacherFileWriter, TeacherFileReader, encodeTeacherHeader, concatRecords, TEACHER_MAGIC, TEACHER_VERSION, type TeacherFileHeader, type TeacherRecords, type TeacherWriterOptions, type TeacherReaderOptions } from "./distill/teacher-file";
export { topKLogProbs, topKScratch, type TopKScratch } from "./distill/topk";
export { recordTeacher, teacherWindows, type RecordTeacherOptions, type RecordProgress } from "./distill/record";
export { modelFingerprints, fingerprint16 } from "./distill/fingerprint";

// --- webapp ---
export { sqnrPlotSvg, layerOf, KINDS as SQNR_PLOT_KINDS, type SqnrPoint } from "./web/plot";
export { serveWeb, webRoot, type WebServer } from "./web/serve";
// --- cliparity ---
export { parseKvOverride } from "./model/kv-override";
export { FTYPE_ALIASES } from "./model/recipes";
// --- archs ---
export { HF_ARCHS, hfArchInfo, chatTemplateOf, type GgufArch, type HfArchInfo } from "./model/archs";
export { SUPPORTED_HF_ARCHS } from "./model/hf-config";
export { CHECKED_ARCHS } from "./model/validate";
// --- lowrank ---
export { lowRankFactor, lowRankSpectrum, truncateSpectrum, chooseRank, reconstruct, applyLowRank, type LowRankSpectrum, type LowRankMethod, type RankChoice, type LowRankOptions, type LowRankFactors } from "./lowrank/factor";
export { eoraFactor, eoraSpectrum, eoraErrors, type EoraOptions } from "./lowrank/eora";
export { writeGgufLora, encodePeftAdapter, encodeLowRankFactors, checkAdapterShapes, hfModuleName, type AdapterLayer, type BaseShape, type GgufLoraOptions, type PeftOptions } from "./lowrank/adapter";
export { calibrateModel, compressModelLowRank, eoraModel, writeReplaced, readMatrix, LINEAR_RE, type CalibrateOptions, type CompressLowRankOptions, type LowRankTensorReport, type EoraTensorReport } from "./lowrank/model";
// --- methods ---
export * from "./methods/index";
// --- prune ---
export { pruneScores, wandaNorms, topkMask, globalTopkMasks, nmMask, nmViolation, packMask, unpackMask, applyMask, maskDensity, pack24, unpack24, parseNM, type MaskOptions, type MaskScope, type ScoredTensor, type Density, type Packed24 } from "./prune/masks";
export { sparseGPT, type SparseGPTOptions, type SparseGPTResult } from "./prune/sparsegpt";
export { sparseGptQuantize, type JointOptions, type JointResult } from "./prune/joint";
export { pruneScoresAsync, topkMaskAsync, nmMaskAsync, packMaskAsync, maskStream, type AsyncMaskOptions, type MaskStreamInput, type MaskStreamOutput } from "./prune/masks-async";
export { pruneMethod, type PruneMethod, type PruneMethodOptions } from "./prune/methods";
export { encodeMaskFile, type MaskEntry } from "./prune/maskfile";
export { pruneFfnChannels, pruneLayers, type StructuredResult, type PruneFfnOptions } from "./prune/structured";
export { pruneHeads, removeHeads, headGroupScores, type PruneHeadsOptions } from "./prune/heads";
export { withLayerSizes, needsPerLayer, type LayerSizes } from "./prune/layer-sizes";
// --- iqftypes ---
export { tensorRequiresImatrix } from "./model/recipes";
// --- archs ---
export { parseGemmaPhiConfig, gemmaPhiHparamsMetadata, isSwaLayer, gemmaAttentionScale, type GemmaPhiParams } from "./model/archs-gemma-phi";
// --- search ---
export { searchMethod, searchQuantize, searchWeights, type SearchOptions, type SearchResult } from "./methods/search";
export { hqqMethod, hqqQuantize, HQQ_TYPES, type HqqOptions, type HqqResult } from "./methods/hqq";
export { searchFormat, SEARCH_TYPES, type SearchFormat, type BlockParams } from "./methods/search-codec";
// --- tt ---
export { ttSvd, ttRound, ttFull, ttParams, frobenius, type TensorTrain, type TtTruncation } from "./tt/ttsvd";
export { factorDims, balancedFactors, checkDims, MAX_PADDING } from "./tt/factorize";
export { TtEmbedding, type TtMode, type TtEmbeddingOptions, type TtEmbeddingParts } from "./tt/embedding";
export { writeTtGguf, readTtGguf, type WriteTtOptions, type TtFile } from "./tt/gguf";
export { ttCompressTensor, writeTtFile, writeRebuiltModel, type TtModelOptions, type TtModelResult } from "./tt/model";
export { adapterTensorType, adapterTensorBytes, type AdapterTensorType } from "./lowrank/adapter";
export { eoraMethod, type EoraMethod, type EoraMethodOptions, type EoraMethodReport } from "./methods/eora";
// --- prune ---
export { collectInputMeans, compensationBias, type InputMeans, type InputMeansOptions } from "./prune/bias";
// --- lowrank ---
export { tokenFrequencyOrder } from "./tt/embedding";
export { roundTtCores, ttCoreBytes, ttStoredBytes, type TtCoreType, type TtCodec } from "./tt/gguf";
// --- BRANCH ---
// startup (issue 15): the element count of a GGUF array value without decoding a lazily read one
export { ggufArrayLength } from "./formats/gguf";
