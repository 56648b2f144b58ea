/**
 * Hugging Face directory (config.json, safetensors, tokenizer.json or tokenizer.model) → a model
 * plan, with the q/k row permutation of llama.cpp's convert_hf_to_gguf.py for llama / Mistral /
 * Mixtral, the qwen2 / qwen3 / qwen3moe layouts (biases, q/k norms, split experts; no permutation)
 * described in ./archs.ts, and Gemma 2 / 3 and Phi-3 via ./convert-gemma-phi.ts.
 */
import { TensorshrinkError } from "../errors";
import { isMissing, openSafetensorsModel } from "../formats/safetensors";
import { directoryResolver, type FileResolver } from "../formats/source";
import { vocabFromHfTokenizer, type GgufVocab } from "./vocab";
import { parseHfLlamaConfig } from "./hf-config";
import { checkLlamaTensors, checkLlamaVocab, LLAMA_LIMITS } from "./validate";
import { findDuplicateJsonKey } from "../formats/json-keys";
import { chatTemplateOf, hfArchInfo } from "./archs";
import { readSentencePieceModel, vocabFromSentencePiece, type SentencePieceModel } from "./sentencepiece";
import { parseGemmaPhiConfig } from "./archs-gemma-phi";
import { gemmaPhiLayerTensors, shiftedTensor, truncatedRows } from "./convert-gemma-phi";
import { permutedTensor, stackedTensor, stTensor } from "./hf-tensors";
import { planAsModelSource, planShapeParams, type LlamaHParams, type ModelPlan, type ModelTensor, type PlanModelSource, type PlanOptions } from "./plan";

/** tokenizer.model parsed, or undefined when the directory has none. */
async function readSentencePieceFile(resolve: FileResolver): Promise<SentencePieceModel | undefined> {
  let src;
  try {
    src = await resolve("tokenizer.model");
  } catch (e) {
    if (isMissing(e)) return undefined;
    throw e;
  }
  try {
    if (src.size > 256 << 20) throw new TensorshrinkError("E_FORMAT", `tokenizer.model is ${src.size} bytes, too large (at byte offset 0)`, { offset: 0, file: "tokenizer.model" });
    return readSentencePieceModel(await src.read(0, src.size));
  } finally {
    await src.close?.();
  }
}

async function readJson(resolve: FileResolver, name: string, required: boolean): Promise<any> {
  let src;
  try {
    src = await resolve(name);
  } catch (e) {
    if (!required && isMissing(e)) return undefined;
    if ((e as any)?.name === "TensorshrinkError" && !isMissing(e)) throw e; // not a regular file, permissions, ...
    throw new TensorshrinkError("E_IO", `model directory has no ${name}`, { file: name }, { cause: e });
  }
  try {
    if (src.size > 256 << 20) throw new TensorshrinkError("E_FORMAT", `${name} is ${src.size} bytes, too large (at byte offset 0)`, { offset: 0, file: name });
    let json: unknown, text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(await src.read(0, src.size));
      json = JSON.parse(text);
    } catch (e) {
      if ((e as any)?.name === "TensorshrinkError") throw e;
      throw new TensorshrinkError("E_FORMAT", `${name} is not valid JSON: ${(e as Error).message} (at byte offset 0)`, { offset: 0, file: name });
    }
    if (name !== "tokenizer.json") {
      // tokenizer.json legitimately has no duplicates either, but it can be large: checked by the vocabulary's id checks instead
      const dup = findDuplicateJsonKey(text);
      if (dup) throw new TensorshrinkError("E_FORMAT", `${name}: duplicate key ${JSON.stringify(dup.key)} (at byte offset ${dup.byteOffset})`, { offset: dup.byteOffset, key: dup.key, file: name });
    }
    return json;
  } finally {
    await src.close?.();
  }
}

/**
 * Plan a Hugging Face directory (config.json, model.safetensors or sharded with
 * model.safetensors.index.json, tokenizer.json or a SentencePiece tokenizer.model [+ tokenizer_config.json,
 * whose chat_template becomes tokenizer.chat_template]) as a GGUF of the architecture config.json names
 * (Llama / Mistral / Mixtral → llama; Qwen2ForCausalLM → qwen2 with q/k/v biases; Qwen3ForCausalLM →
 * qwen3 with q/k norms; Qwen3MoeForCausalLM → qwen3moe, experts stacked). For llama, applying
 * llama.cpp's q/k row permutation (HF checkpoints rotate halves, llama.cpp rotates adjacent pairs).
 * config.json is validated field by field, then checked against the tensors' shapes (only headers
 * are read) before the vocabulary is built, so no hyperparameter sizes an allocation unchecked; the
 * finished plan passes llama.cpp's shape checks ({@link checkLlamaTensors}).
 * @param dir a directory path (Node/Deno/Bun) or a {@link FileResolver} (browsers: `filesResolver`, URLs: `urlResolver`).
 * @throws TensorshrinkError `E_FORMAT` (config/tokenizer/safetensors), `E_SHAPE` (a tensor that
 *   does not fit the hyperparameters), `E_UNSUPPORTED`, `E_IO`.
 */
export async function llamaFromHf(dir: string | FileResolver, opts: PlanOptions = {}): Promise<ModelPlan> {
  const base = typeof dir === "string" ? directoryResolver(dir) : dir;
  const files: string[] = [];
  const resolve: FileResolver = async (name) => {
    const src = await base(name);
    if (src.path && !files.includes(src.path)) files.push(src.path);
    return src;
  };
  const where = typeof dir === "string" ? dir : "model directory";
  const rawConfig = await readJson(resolve, "config.json", true);
  const cfg = parseHfLlamaConfig(rawConfig);
  const info = hfArchInfo(cfg.arch);
  const { hiddenSize: dim, nHead, nHeadKv: nKv, nLayers, headDim, nExpert, nExpertUsed } = cfg;
  const model = await openSafetensorsModel(resolve);
  try {
    const get = (n: string) => {
      const t = model.tensors.get(n);
      if (!t) throw new TensorshrinkError("E_FORMAT", `safetensors weights have no tensor ${n}`, { tensor: n });
      return t;
    };
    // the embedding bounds the vocabulary: check it before any token id sizes an array
    const emb = get("model.embed_tokens.weight");
    if (emb.shape.length !== 2 || emb.shape[1] !== dim) {
      throw new TensorshrinkError("E_SHAPE", `${where}: model.embed_tokens.weight has shape [${emb.shape.join(", ")}], config.json needs [n_vocab, ${dim}] (hidden_size ${dim})`, { tensor: emb.name, shape: [...emb.shape] });
    }
    const nVocabRows = emb.shape[0]!;
    if (nVocabRows < 1 || nVocabRows > LLAMA_LIMITS.vocab) throw new TensorshrinkError("E_SHAPE", `${where}: model.embed_tokens.weight has ${nVocabRows} rows, not a vocabulary size from 1 to ${LLAMA_LIMITS.vocab}`, { tensor: emb.name });
    const tokJson = await readJson(resolve, "tokenizer.json", false);
    const tokCfg = (await readJson(resolve, "tokenizer_config.json", false)) ?? {};
    let vocab: GgufVocab;
    // Gemma and Phi-3 (convert_hf_to_gguf.py: _set_vocab_sentencepiece) prefer tokenizer.model; Phi-4's
    // GPT2Tokenizer (tokenizer_config.json tokenizer_class) takes tokenizer.json
    const spmFirst = (info.gemma || info.fused) && !(info.fused && (tokCfg as any).tokenizer_class === "GPT2Tokenizer");
    const spmModel = spmFirst ? await readSentencePieceFile(resolve) : undefined;
    if (spmModel) vocab = vocabFromSentencePiece(spmModel, tokCfg, rawConfig, { vocabSize: cfg.vocabSize, maxTokens: nVocabRows, addedTokens: info.fused ? "phi3" : "spm", tokenizerJson: tokJson });
    else if (tokJson !== undefined) vocab = vocabFromHfTokenizer(tokJson, tokCfg, rawConfig, { vocabSize: cfg.vocabSize, maxTokens: nVocabRows, pre: info.pre });
    else {
      // no tokenizer.json: the SentencePiece tokenizer.model, as convert_hf_to_gguf.py's _set_vocab_sentencepiece
      const spm = await readSentencePieceFile(resolve);
      if (!spm) throw new TensorshrinkError("E_IO", `${where} has neither tokenizer.json nor tokenizer.model`, { file: "tokenizer.json" });
      vocab = vocabFromSentencePiece(spm, tokCfg, rawConfig, { vocabSize: cfg.vocabSize, maxTokens: nVocabRows });
    }
    const chatTemplate = chatTemplateOf(tokCfg);
    if (chatTemplate !== undefined) vocab.chatTemplate = chatTemplate;
    // Qwen's tokenizer_config.json has no add_bos_token and bos_token null: llama.cpp's qwen2 vocab adds no BOS
    if (info.arch !== "llama" && !info.gemma && !info.fused && vocab.model === "gpt2" && (tokCfg as any).add_bos_token === undefined) vocab.addBos = false;
    if (info.gemma && vocab.model === "llama") vocab.addSpacePrefix = false;
    const extra = info.gemma || info.fused ? parseGemmaPhiConfig(rawConfig, cfg, info.arch) : undefined;
    // Gemma 3: rows of token_embd beyond the vocabulary are dropped (Gemma3Model.modify_tensors)
    const embT = info.arch === "gemma3" ? truncatedRows(stTensor("token_embd.weight", emb), vocab.tokens.length) : stTensor("token_embd.weight", emb);
    const tensors: ModelTensor[] = [embT];
    for (let l = 0; l < nLayers; l++) {
      const p = `model.layers.${l}.`;
      if (info.gemma || info.fused) { tensors.push(...gemmaPhiLayerTensors(info, l, get, stTensor)); continue; }
      tensors.push(
        stTensor(`blk.${l}.attn_norm.weight`, get(p + "input_layernorm.weight")),
        info.permuteQK ? permutedTensor(`blk.${l}.attn_q.weight`, get(p + "self_attn.q_proj.weight"), nHead) : stTensor(`blk.${l}.attn_q.weight`, get(p + "self_attn.q_proj.weight")),
        info.permuteQK ? permutedTensor(`blk.${l}.attn_k.weight`, get(p + "self_attn.k_proj.weight"), nKv) : stTensor(`blk.${l}.attn_k.weight`, get(p + "self_attn.k_proj.weight")),
        stTensor(`blk.${l}.attn_v.weight`, get(p + "self_attn.v_proj.weight")),
        stTensor(`blk.${l}.attn_output.weight`, get(p + "self_attn.o_proj.weight")),
      );
      if (info.qkvBias) {
        tensors.push(
          stTensor(`blk.${l}.attn_q.bias`, get(p + "self_attn.q_proj.bias")),
          stTensor(`blk.${l}.attn_k.bias`, get(p + "self_attn.k_proj.bias")),
          stTensor(`blk.${l}.attn_v.bias`, get(p + "self_attn.v_proj.bias")),
        );
      }
      if (info.qkNorm) {
        tensors.push(
          stTensor(`blk.${l}.attn_q_norm.weight`, get(p + "self_attn.q_norm.weight")),
          stTensor(`blk.${l}.attn_k_norm.weight`, get(p + "self_attn.k_norm.weight")),
        );
      }
      tensors.push(stTensor(`blk.${l}.ffn_norm.weight`, get(p + "post_attention_layernorm.weight")));
      if (nExpert) {
        // as llama.cpp's converter: router -> ffn_gate_inp, experts w1/w2/w3 stacked -> ffn_{gate,down,up}_exps
        // (Qwen3-MoE: router mlp.gate, experts mlp.experts.E.{gate,down,up}_proj)
        const q = info.moeNames === "qwen";
        const ex = (w: string) => Array.from({ length: nExpert }, (_, e) => get(q ? `${p}mlp.experts.${e}.${w}.weight` : `${p}block_sparse_moe.experts.${e}.${w}.weight`));
        tensors.push(
          stTensor(`blk.${l}.ffn_gate_inp.weight`, get(p + (q ? "mlp.gate.weight" : "block_sparse_moe.gate.weight"))),
          stackedTensor(`blk.${l}.ffn_gate_exps.weight`, ex(q ? "gate_proj" : "w1")),
          stackedTensor(`blk.${l}.ffn_down_exps.weight`, ex(q ? "down_proj" : "w2")),
          stackedTensor(`blk.${l}.ffn_up_exps.weight`, ex(q ? "up_proj" : "w3")),
        );
      } else {
        tensors.push(
          stTensor(`blk.${l}.ffn_gate.weight`, get(p + "mlp.gate_proj.weight")),
          stTensor(`blk.${l}.ffn_down.weight`, get(p + "mlp.down_proj.weight")),
          stTensor(`blk.${l}.ffn_up.weight`, get(p + "mlp.up_proj.weight")),
        );
      }
    }
    tensors.push(info.gemma ? shiftedTensor("output_norm.weight", get("model.norm.weight"), 1) : stTensor("output_norm.weight", get("model.norm.weight")));
    let ropeScaling: LlamaHParams["ropeScaling"];
    const rs = cfg.ropeScaling;
    if (rs?.type === "llama3") {
      const f = llama3RopeFactors(cfg.ropeTheta, headDim, { factor: rs.factor, low_freq_factor: rs.lowFreqFactor, high_freq_factor: rs.highFreqFactor, original_max_position_embeddings: rs.originalMaxPositions });
      // llama.cpp's converter writes rope_freqs.weight first (generate_extra_tensors)
      tensors.unshift({ name: "rope_freqs.weight", ne: [f.length], sourceDtype: "F32", type: "f32", rowLength: f.length, rows: 1,
        readRows: async () => f.slice(), read: async () => f.slice(), readRawRows: async () => new Uint8Array(f.slice().buffer) });
    } else if (rs?.type === "linear") ropeScaling = { type: "linear", factor: rs.factor };
    const lm = model.tensors.get("lm_head.weight");
    if (lm && !cfg.tieWordEmbeddings && !info.dropLmHead) tensors.push(stTensor("output.weight", lm));
    const gate = tensors.find((t) => t.name === "blk.0.ffn_gate.weight" || t.name === "blk.0.ffn_gate_exps.weight" || t.name === "blk.0.ffn_down.weight")!;
    const ffn = cfg.intermediateSize ?? (gate.name.endsWith("ffn_down.weight") ? gate.ne[0]! : gate.ne.length >= 2 ? gate.ne[1]! : 0);
    if (extra?.ropeLinearFactor !== undefined) ropeScaling = { type: "linear", factor: extra.ropeLinearFactor };
    if (!(info.arch === "llama" || (info.arch === "gemma3" && rs?.type === "linear")) && rs) throw new TensorshrinkError("E_UNSUPPORTED", `${where}: rope_scaling ${rs.type} is not supported for ${cfg.arch} yet`, { arch: cfg.arch, rope: rs.type });
    const plan: ModelPlan = {
      arch: info.arch,
      name: opts.name ?? cfg.name ?? info.arch,
      hparams: {
        contextLength: cfg.maxPositions, embeddingLength: dim, blockCount: nLayers, feedForwardLength: ffn,
        headCount: nHead, headCountKv: nKv, ropeDimensionCount: headDim, ropeFreqBase: extra?.ropeTheta ?? cfg.ropeTheta,
        rmsEps: cfg.rmsEps, vocabSize: vocab.tokens.length, ropeScaling,
        ...(headDim * nHead !== dim || (info.headDimKeysWhenGiven && cfg.headDimGiven) ? { keyLength: headDim } : {}),
        ...(nExpert ? { expertCount: nExpert, expertUsedCount: nExpertUsed } : {}),
        ...(nExpert && info.arch === "qwen3moe" ? { expertFeedForwardLength: cfg.moeIntermediateSize ?? (gate.ne[1] ?? 0) } : {}),
        ...(extra ? { extra } : {}),
      },
      vocab,
      tensors,
      files,
      close: () => model.close(),
    };
    checkLlamaTensors(planShapeParams(plan), plan.tensors, where);
    checkLlamaVocab({ ...plan.vocab, name: plan.name }, `${where}: tokenizer.json`);
    return plan;
  } catch (e) {
    await model.close();
    throw e;
  }
}

/**
 * Llama 3 rope frequency factors (`rope_freqs.weight`, head_dim / 2 values), as
 * convert_hf_to_gguf.py computes them from `rope_scaling` {rope_type: "llama3", factor,
 * low_freq_factor, high_freq_factor, original_max_position_embeddings}.
 */
export function llama3RopeFactors(ropeTheta: number, headDim: number, rs: Record<string, any>): Float32Array {
  const factor = rs.factor ?? 8.0;
  const lowF = rs.low_freq_factor ?? 1.0;
  const highF = rs.high_freq_factor ?? 4.0;
  const oldCtx = rs.original_max_position_embeddings ?? 8192;
  const lowWl = oldCtx / lowF;
  const highWl = oldCtx / highF;
  const out = new Float32Array(headDim / 2);
  for (let k = 0; k < out.length; k++) {
    const e = Math.fround(Math.fround(2 * k) / headDim);
    const freq = Math.fround(1 / Math.fround(Math.pow(ropeTheta, e)));
    const wl = (2 * Math.PI) / freq;
    if (wl < highWl) out[k] = 1;
    else if (wl > lowWl) out[k] = factor;
    else {
      const smooth = (oldCtx / wl - lowF) / (highF - lowF);
      out[k] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** Open a Hugging Face Llama directory (or resolver) as a model source (q/k permuted as llama.cpp does). */
export async function openHfModel(dir: string | FileResolver): Promise<PlanModelSource> {
  return planAsModelSource(await llamaFromHf(dir));
}
