// Entry for the `workerd` export condition (Cloudflare Workers): Workers cannot compile wasm from
// bytes at run time, so the module is imported as a Worker module and handed to init().
// @ts-ignore: resolved by wrangler/workerd as a CompiledWasm module
import wasmModule from "./tensorshrink.wasm";
import { setDefaultModule } from "./engine/load";
setDefaultModule(wasmModule as WebAssembly.Module);
export * from "./index";
