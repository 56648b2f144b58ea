// The wasm export surface only. Kernel convention: pointers and counts, out first.
//   quantize_<type>(dst, src, nrows, n_per_row, imatrix|0) -> bytes written   (ggml chunk API)
//   quantize_<type>_ref(...)                                                   (scalar twin)
//   dequantize_row_<type>(dst_f32, src, k), dequantize_row_<type>_ref(...)
export { ts_alloc, ts_free, ts_memcpy } from "./mem";
export * from "./quant/f16";
export * from "./quant/bf16";
export * from "./quant/q8_0";
export * from "./eval/check";
export * from "./quant/q4_1";
export * from "./quant/q5_1";
export * from "./quant/q2_K";
export * from "./quant/q4_K";
export * from "./quant/q5_K";
export * from "./eval/error";
export * from "./quant/q4_0";
export * from "./quant/q5_0";
export * from "./quant/q3_K";
export * from "./quant/q6_K";
export * from "./quant/iq4_nl";
export * from "./quant/mxfp4";
export * from "./quant/tq1_0";
export * from "./quant/tq2_0";
export * from "./quant/intn";
export * from "./quant/nf4";
export * from "./quant/fp8";
export * from "./quant/mx_ocp";
// --- linalg ---
export * from "./linalg/gemm";
export * from "./linalg/dgemm";
export * from "./linalg/cholesky";
export * from "./linalg/trsm";
export * from "./linalg/qr";
export * from "./linalg/eigh";
export * from "./linalg/stein";
// --- forward ---
export * from "./nn/matmul";
export * from "./nn/rmsnorm";
export * from "./nn/rope";
export * from "./nn/activations";
export * from "./nn/attention";
export * from "./nn/moe";
export * from "./nn/util";
export * from "./nn/actquant";
// --- calib ---
export * from "./calib/stats";
// --- distill ---
export { distill_loss_forward, distill_loss_forward_ref } from "./nn/loss";
export { distill_topk_forward, distill_topk_forward_ref } from "./nn/loss_topk";
// --- iquants ---
export * from "./quant/iq4_xs";
export * from "./quant/iq3";
export * from "./quant/iq2";
export * from "./quant/iq1";
export { iq_grid_table, iq_grid_size, iq_kmap_size, iq_grid_for_kernel, iq_grid_nb_code } from "./quant/iq_grids";
// --- prune ---
export * from "./sparse/score";
export * from "./sparse/topk";
export * from "./sparse/nm";
export * from "./sparse/pack";
export * from "./sparse/sparsegpt";
// --- search ---
export * from "./quant/search";
