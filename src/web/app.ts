/**
 * The web app's page script (main thread): reads the form, talks to the Web Worker (src/web/worker.ts)
 * that does all the work, and draws the plan, the progress bars, the SQNR plot and the summary. It
 * never touches tensor data, so the page stays responsive while a model quantizes.
 *
 * Output: with the File System Access API (showSaveFilePicker) the worker streams the GGUF into the
 * chosen file as it is written; otherwise the worker returns a Blob and the page shows a download link,
 * only after the job completed (nothing partial is ever offered as a result).
 */
import { esc, fmtBytes, fmtDuration, outputName, rateAndEta } from "./format";
import { sqnrPlotSvg } from "./plot";
import type { FromWorker, JobOptions, MethodInfo, ModelChoice, PlanRow, ToWorker } from "./protocol";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $("status"), errorBox = $("error");
const modelFile = $<HTMLInputElement>("model-file"), tokFile = $<HTMLInputElement>("tokenizer-file"), modelDir = $<HTMLInputElement>("model-dir");
const modelUrl = $<HTMLInputElement>("model-url"), openUrlBtn = $<HTMLButtonElement>("open-url");
const ftypeSel = $<HTMLSelectElement>("ftype"), pureBox = $<HTMLInputElement>("pure"), rulesBox = $<HTMLTextAreaElement>("rules");
const imatrixFile = $<HTMLInputElement>("imatrix-file"), evalFile = $<HTMLInputElement>("eval-file");
const methodSel = $<HTMLSelectElement>("method"), pruneSel = $<HTMLSelectElement>("prune"), pruneTarget = $<HTMLInputElement>("prune-target");
const calibFile = $<HTMLInputElement>("calib-file"), calibCtx = $<HTMLInputElement>("calib-ctx"), methodNote = $("method-note");
const pLayerWrap = $("p-layer-wrap"), pLayer = $<HTMLProgressElement>("p-layer"), pLayerLabel = $("p-layer-label");
const outFile = $<HTMLInputElement>("out-file"), outDownload = $<HTMLInputElement>("out-download");
const runBtn = $<HTMLButtonElement>("run"), cancelBtn = $<HTMLButtonElement>("cancel");
const pTensor = $<HTMLProgressElement>("p-tensor"), pTensorLabel = $("p-tensor-label"), pAll = $<HTMLProgressElement>("p-all"), pAllLabel = $("p-all-label");
const planBody = ($("plan") as HTMLTableElement).tBodies[0], planSummary = $("plan-summary"), modelInfo = $("model-info");
const result = $("result"), saved = $("saved"), summary = $("summary"), plot = $("plot"), evalOut = $("eval"), reportBody = ($("report") as HTMLTableElement).tBodies[0];

const canSaveFile = typeof (window as any).showSaveFilePicker === "function";
outFile.disabled = !canSaveFile;
(canSaveFile ? outFile : outDownload).checked = true;
if (!canSaveFile) outFile.parentElement!.title = "This browser has no File System Access API (showSaveFilePicker): the output is offered as a download when done";

/** Hints added to engine errors that a person can act on. */
function explain(code: string, message: string): string {
  if (/Failed to fetch|NetworkError|Load failed/i.test(message)) return `${message}\nThe server could not be reached or refused a cross-origin read (CORS). It must answer with Access-Control-Allow-Origin for this page and allow the Range header.`;
  if (/no total size in Content-Range \(missing\)/.test(message)) return `${message}\nThe server answered the range request but the page cannot read its Content-Range header: with CORS it must send Access-Control-Expose-Headers: Content-Range.`;
  if (/server ignores Range|expected HTTP 206/.test(message)) return `${message}\nThis server does not support HTTP range requests, so the model cannot be read piece by piece. Download the file and open it from disk instead.`;
  if (code === "E_NO_SIMD") return `${message}`;
  return message;
}

function showError(stage: string, code: string, message: string): void {
  const what = stage === "open" ? "Could not open the model" : stage === "plan" ? "Could not plan" : stage === "run" ? "Quantization failed" : stage === "eval" ? "Evaluation failed" : stage === "init" ? "The engine cannot start in this browser" : "Error";
  errorBox.textContent = `${what}: ${explain(code, message)}`;
  errorBox.classList.add("shown");
  errorBox.focus();
}
function clearError(): void { errorBox.textContent = ""; errorBox.classList.remove("shown"); }

// ----------------------------------------------------------------- worker

// wasm-feature-detect's SIMD probe (as src/engine/load.ts): checked here too, so a browser without
// SIMD128 gets the message before any worker starts.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
const simd = (() => { try { return typeof WebAssembly === "object" && WebAssembly.validate(SIMD_PROBE); } catch { return false; } })();

let worker: Worker | null = null;
try {
  if (!simd) throw Object.assign(new Error("this browser's WebAssembly lacks SIMD128 (fixed-width SIMD), which tensorshrink needs: use a current Chrome, Edge, Firefox or Safari (16.4+)"), { code: "E_NO_SIMD" });
  if (typeof Worker !== "function") throw Object.assign(new Error("this browser has no Web Workers: the page needs them to run the engine off the main thread"), { code: "E_WORKER" });
  worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "tensorshrink" });
  worker.onerror = (e) => { e.preventDefault(); showError("init", "E_WORKER", `the worker failed to start or crashed: ${e.message || "unknown error"}`); status.textContent = "Engine stopped."; setBusy(false, false); };
} catch (e) {
  showError("init", String((e as any).code ?? "E_WORKER"), `${(e as any).code ?? "E_WORKER"}: ${(e as Error).message}`);
  status.textContent = "This browser cannot run tensorshrink.";
  document.body.dataset.state = "unsupported";
}
const send = (m: ToWorker) => worker?.postMessage(m);

let seq = 0, openId = -1, planId = -1, runId = -1;
let opened: { name: string } | null = null;
let plan: PlanRow[] = [];
let planStarts: number[] = []; // f32 byte offset of each tensor in the job's progress counter
let engineOk = false;
let downloadUrl: string | null = null;

function setBusy(running: boolean, haveModel = !!opened): void {
  runBtn.disabled = running || !haveModel || !engineOk;
  cancelBtn.disabled = !running;
  for (const el of [modelFile, tokFile, modelDir, modelUrl, openUrlBtn, ftypeSel, pureBox, rulesBox, imatrixFile, evalFile, outFile, outDownload, methodSel, pruneSel, pruneTarget, calibFile, calibCtx]) el.disabled = running || (el === outFile && !canSaveFile);
  if (!running) methodControls();
}

// ----------------------------------------------------------------- what the engine offers

let methodInfos: MethodInfo[] = [], pruneInfos: MethodInfo[] = [];

/** Fills a select from the worker's lists, keeping the first (static "none") option and the current choice. */
function fillSelect(sel: HTMLSelectElement, values: { value: string; label: string }[], keepFirst: boolean, preferred: string): void {
  const current = sel.value || preferred;
  const first = keepFirst ? sel.options[0].outerHTML : "";
  sel.innerHTML = first + values.map((v) => `<option value="${esc(v.value)}">${esc(v.label)}</option>`).join("");
  sel.value = values.some((v) => v.value === current) ? current : keepFirst ? "" : preferred;
}

function onOffers(m: Extract<FromWorker, { op: "ready" }>): void {
  methodInfos = m.methods; pruneInfos = m.pruneMethods;
  fillSelect(ftypeSel, m.ftypes.map((f) => ({ value: f, label: f })), false, "Q4_K_M");
  fillSelect(methodSel, m.methods.map((x) => ({ value: x.name, label: `${x.name}${x.needsCalibration ? " (calibrated)" : ""}` })), true, "");
  fillSelect(pruneSel, m.pruneMethods.map((x) => ({ value: x.name, label: `${x.name}${x.needsCalibration ? " (calibrated)" : ""}` })), true, "");
  methodControls();
}

/** Pruning replaces the method (as `quantize --prune`); says what the choice needs. */
function methodControls(): void {
  const pr = pruneSel.value, me = methodSel.value;
  methodSel.disabled = !!pr;
  pruneTarget.disabled = !pr;
  const info = pr ? pruneInfos.find((x) => x.name === pr) : me ? methodInfos.find((x) => x.name === me) : undefined;
  const what = pr ? `pruning (${pr})` : me ? `method ${me}` : "";
  calibCtx.placeholder = pr ? "128" : "512";
  methodNote.textContent = !info ? ""
    : info.needsCalibration && !calibFile.files?.length ? `The ${what} needs a calibration text (activation statistics): choose one.`
    : `${what[0].toUpperCase()}${what.slice(1)}${info.needsCalibration ? `: a calibrated pass over the text, block by block, runs before the tensors are written` : ""}${pr ? "; pruning replaces the method (as quantize --prune)" : ""}.`;
}
for (const el of [methodSel, pruneSel, calibFile]) el.addEventListener("change", methodControls);

function options(): JobOptions {
  return {
    ftype: ftypeSel.value,
    rules: rulesBox.value.split("\n").map((s) => s.trim()).filter((s) => s && !s.startsWith("#")),
    pure: pureBox.checked,
    imatrix: imatrixFile.files?.[0] ?? null,
    method: pruneSel.value ? null : methodSel.value || null,
    prune: pruneSel.value ? { method: pruneSel.value, target: pruneTarget.value } : null,
    calib: calibFile.files?.[0] ?? null,
    ctx: calibCtx.value.trim() ? Number(calibCtx.value) : null,
  };
}

function openModel(model: ModelChoice, label: string): void {
  clearError();
  opened = null; plan = [];
  planBody.innerHTML = ""; planSummary.textContent = `Opening ${label}…`; modelInfo.textContent = "";
  result.classList.remove("shown");
  setBusy(false, false);
  document.body.dataset.state = "opening";
  openId = ++seq;
  send({ op: "open", id: openId, model });
}

function requestPlan(): void {
  if (!opened) return;
  planId = ++seq;
  send({ op: "plan", id: planId, options: options() });
}

modelFile.addEventListener("change", () => {
  const f = modelFile.files?.[0];
  if (f) openModel({ kind: "file", file: f, tokenizer: tokFile.files?.[0] ?? null }, f.name);
});
tokFile.addEventListener("change", () => {
  const f = modelFile.files?.[0];
  if (f) openModel({ kind: "file", file: f, tokenizer: tokFile.files?.[0] ?? null }, f.name);
});
modelDir.addEventListener("change", () => {
  const files = Array.from(modelDir.files ?? []);
  if (files.length) openModel({ kind: "dir", files }, `${files.length} files`);
});
const openUrl = () => {
  const u = modelUrl.value.trim();
  if (!u) { showError("open", "E_ARG_TYPE", "enter a model URL first"); return; }
  openModel({ kind: "url", url: u, tokenizer: tokFile.files?.[0] ?? null }, u);
};
openUrlBtn.addEventListener("click", openUrl);
modelUrl.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); openUrl(); } });
for (const el of [ftypeSel, pureBox, imatrixFile]) el.addEventListener("change", requestPlan);
rulesBox.addEventListener("change", requestPlan);

function renderPlan(rows: PlanRow[], estimate: number): void {
  plan = rows;
  let acc = 0;
  planStarts = rows.map((r) => { const s = acc; acc += r.ne.reduce((a, b) => a * b, 1) * 4; return s; });
  const before = rows.reduce((s, r) => s + r.bytesBefore, 0);
  planSummary.textContent = `${rows.length} tensors: ${fmtBytes(before)} → about ${fmtBytes(estimate)} of tensor data (${(estimate / Math.max(before, 1) * 100).toFixed(1)} %), ${rows.filter((r) => r.quantize).length} quantized.`;
  const html: string[] = [];
  for (const r of rows) {
    html.push(`<tr><td>${esc(r.name)}</td><td>${esc(r.ne.join("×"))}</td><td>${esc(r.inType)}</td><td>${esc(r.type)}</td><td>${esc(r.reason)}</td><td class="n">${fmtBytes(r.bytesBefore)}</td><td class="n">${fmtBytes(r.bytesAfter)}</td></tr>`);
  }
  planBody.innerHTML = html.join("");
}

let currentRow = -1;
function markRow(i: number): void {
  if (i === currentRow) return;
  const rows = planBody.rows;
  if (currentRow >= 0 && rows[currentRow]) { rows[currentRow].classList.remove("current"); rows[currentRow].classList.add("done"); }
  for (let k = Math.max(0, currentRow); k < i; k++) rows[k]?.classList.add("done");
  currentRow = i;
  rows[i]?.classList.add("current");
}

runBtn.addEventListener("click", async () => {
  if (!opened) return;
  clearError();
  document.body.dataset.state = "starting";
  const o = options();
  let output: { handle: FileSystemFileHandle } | { memory: true } = { memory: true };
  if (outFile.checked && canSaveFile) {
    try {
      const handle = await (window as any).showSaveFilePicker({ suggestedName: outputName(opened.name, o.ftype), types: [{ description: "GGUF model", accept: { "application/octet-stream": [".gguf"] } }] });
      output = { handle };
    } catch (e) {
      document.body.dataset.state = "planned";
      if ((e as DOMException)?.name === "AbortError") { status.textContent = "No file chosen: nothing was run."; return; }
      showError("run", "E_IO", `cannot open a file to save to: ${(e as Error).message}`);
      return;
    }
  }
  const evalText = evalFile.files?.[0] ? await evalFile.files[0].text() : null;
  if (downloadUrl) { URL.revokeObjectURL(downloadUrl); downloadUrl = null; }
  result.classList.remove("shown");
  currentRow = -1;
  for (const tr of Array.from(planBody.rows)) tr.classList.remove("done", "current");
  pTensor.value = 0; pAll.value = 0;
  pAllLabel.textContent = "Overall: starting…"; pTensorLabel.textContent = "Tensor: —";
  pLayer.value = 0; pLayerLabel.textContent = "Calibrated pass: —";
  pLayerWrap.hidden = !(o.prune || o.method);
  status.textContent = `Quantizing ${opened.name} to ${o.ftype}…`;
  setBusy(true);
  document.body.dataset.state = "running";
  runId = ++seq;
  document.body.dataset.runAt = String(performance.now());
  send({ op: "run", id: runId, options: o, output, evalText });
});

cancelBtn.addEventListener("click", () => {
  send({ op: "cancel" });
  cancelBtn.disabled = true;
  status.textContent = "Cancelling…";
});

function onProgress(m: Extract<FromWorker, { op: "progress" }>): void {
  const { mbPerSecond, etaSeconds } = rateAndEta(m.doneBytes, m.totalBytes, m.elapsedMs);
  pAll.max = m.totalBytes; pAll.value = m.doneBytes;
  pAllLabel.textContent = `Overall: ${fmtBytes(m.doneBytes)} of ${fmtBytes(m.totalBytes)} (f32), ${mbPerSecond.toFixed(1)} MB/s, ETA ${fmtDuration(etaSeconds)}, ${fmtBytes(m.outBytes)} written`;
  const i = m.tensorIndex;
  const start = planStarts[i] ?? 0, size = plan[i] ? plan[i].ne.reduce((a, b) => a * b, 1) * 4 : 1;
  pTensor.max = size; pTensor.value = Math.min(size, Math.max(0, m.doneBytes - start));
  pTensorLabel.textContent = `Tensor ${i + 1} of ${m.tensorCount}: ${m.tensor} → ${plan[i]?.type ?? "?"}, ${Math.round(pTensor.value / size * 100)} %`;
  markRow(i);
}

function onLayer(m: Extract<FromWorker, { op: "layer" }>): void {
  pLayer.max = m.layers; pLayer.value = m.layer + 1;
  pLayerLabel.textContent = `Calibrated pass (${m.method}): block ${m.layer + 1} of ${m.layers} done (${m.seconds.toFixed(1)} s)`;
  if (m.layer + 1 < m.layers) pAllLabel.textContent = `Overall: ${m.method} on block ${m.layer + 2} of ${m.layers}; the tensors are written after the last block`;
}

function onDone(m: Extract<FromWorker, { op: "done" }>): void {
  document.body.dataset.doneAt = String(performance.now()); // (the tests tell run-time tasks from the final render)
  setBusy(false);
  markRow(plan.length);
  pAll.value = pAll.max; pTensor.value = pTensor.max;
  const inBytes = m.rows.reduce((s, r) => s + r.bytesBefore, 0);
  status.textContent = `Done: ${fmtBytes(m.fileSize)} in ${m.seconds.toFixed(1)} s.`;
  if (m.blob) {
    downloadUrl = URL.createObjectURL(m.blob);
    const name = outputName(opened?.name ?? "model", ftypeSel.value);
    saved.innerHTML = `<a id="download" href="${downloadUrl}" download="${esc(name)}">Download ${esc(name)} (${fmtBytes(m.blob.size)})</a>`;
  } else {
    saved.textContent = `Saved to ${m.savedTo} (${fmtBytes(m.fileSize)}).`;
  }
  const sq = m.rows.map((r) => r.sqnrDb).filter((x): x is number => x !== null);
  summary.innerHTML = `<table><tbody>
<tr><th scope="row">file</th><td>${fmtBytes(m.fileSize)} (${(m.fileSize / Math.max(inBytes, 1) * 100).toFixed(1)} % of the input's ${fmtBytes(inBytes)} of tensors)</td></tr>
<tr><th scope="row">bits per weight</th><td>${m.bitsPerWeight.toFixed(3)} over ${m.params.toLocaleString("en-US")} parameters</td></tr>
${m.methods ? `<tr><th scope="row">method</th><td>${esc(m.methods.names.join(" + "))}: ${m.methods.handled} tensors, ${m.methods.seconds.toFixed(2)} s</td></tr>` : ""}
<tr><th scope="row">time</th><td>${m.seconds.toFixed(2)} s, ${m.mbPerSecond.toFixed(1)} MB/s of f32 input</td></tr>
<tr><th scope="row">SQNR</th><td>${sq.length ? `${Math.min(...sq).toFixed(1)} … ${Math.max(...sq).toFixed(1)} dB over ${sq.length} quantized tensors (mean ${(sq.reduce((a, b) => a + b, 0) / sq.length).toFixed(1)} dB)` : "no quantized tensors"}</td></tr>
</tbody></table>`;
  plot.innerHTML = sqnrPlotSvg(m.rows.map((r) => ({ name: r.name, type: r.type, sqnrDb: r.sqnrDb })));
  if (m.eval) {
    evalOut.textContent = m.eval.available
      ? `On the evaluation text (${m.eval.tokens} tokens): perplexity ${m.eval.pplBase.toFixed(4)} → ${m.eval.pplOther.toFixed(4)}, mean KL divergence ${m.eval.kldMean.toFixed(5)}, top-1 agreement ${(m.eval.top1Agreement * 100).toFixed(2)} %.`
      : `Evaluation: ${m.eval.reason}.`;
  } else evalOut.textContent = "";
  reportBody.innerHTML = m.rows.map((r) => `<tr><td>${esc(r.name)}</td><td>${esc(r.inType)}</td><td>${esc(r.type)}</td><td class="n">${fmtBytes(r.bytesBefore)}</td><td class="n">${fmtBytes(r.bytesAfter)}</td><td class="n">${r.sqnrDb === null ? "—" : r.sqnrDb.toFixed(2)}</td></tr>`).join("");
  result.classList.add("shown");
  document.body.dataset.state = "done";
}

if (worker) {
  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    switch (m.op) {
      case "ready":
        engineOk = true;
        onOffers(m);
        status.textContent = `Engine ready (WebAssembly SIMD, ${m.threads || 1} thread${m.threads > 1 ? "s" : ""}). Choose a model.`;
        setBusy(false);
        document.body.dataset.state = "ready";
        break;
      case "opened":
        if (m.id !== openId) return;
        opened = { name: m.info.name };
        modelInfo.textContent = `${m.info.name}: ${m.info.format}, ${m.info.arch}, ${m.info.tensors} tensors, ${m.info.params.toLocaleString("en-US")} parameters, ${fmtBytes(m.info.inputBytes)} of tensor data.`;
        status.textContent = "Model open. Check the plan, then Quantize.";
        setBusy(false);
        requestPlan();
        break;
      case "plan":
        if (m.id !== planId) return;
        renderPlan(m.rows, m.fileBytesEstimate);
        document.body.dataset.state = "planned";
        break;
      case "progress":
        if (m.id === runId) onProgress(m);
        break;
      case "layer":
        if (m.id === runId) onLayer(m);
        break;
      case "evalProgress":
        if (m.id === runId) status.textContent = `Evaluating: ${m.done} of ${m.total} tokens…`;
        break;
      case "done":
        if (m.id === runId) onDone(m);
        break;
      case "error":
        if (m.stage === "open" && m.id !== openId) return;
        if (m.stage === "eval") { evalOut.textContent = `Evaluation failed: ${m.message}`; return; }
        if (m.stage === "init") { engineOk = false; status.textContent = "This browser cannot run tensorshrink."; }
        if (m.stage === "run") {
          pAllLabel.textContent = m.code === "E_ABORTED" ? "Overall: cancelled, nothing was saved." : "Overall: failed, nothing was saved.";
          status.textContent = m.code === "E_ABORTED" ? "Cancelled. The model is still open: you can run again." : "Failed.";
          document.body.dataset.state = m.code === "E_ABORTED" ? "cancelled" : "failed";
          setBusy(false);
          if (m.code === "E_ABORTED") return;
        }
        if (m.stage === "open") { planSummary.textContent = "No model open."; status.textContent = "Could not open the model."; setBusy(false, false); document.body.dataset.state = "open-failed"; }
        showError(m.stage, m.code, m.message);
        break;
    }
  };
}

// Offline: a service worker keeps the page's own files (HTML, JS, wasm) for later visits. Models are never cached.
if ("serviceWorker" in navigator && location.protocol !== "file:" && !/[?&]nosw\b/.test(location.search)) {
  navigator.serviceWorker.register(new URL("./sw.js", import.meta.url)).catch(() => undefined);
}
