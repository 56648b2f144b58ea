# workerd config for the runtime smoke test (test/50-runtimes.ts copies it next to worker.bundle.js,
# the esbuild bundle of worker.js made with the `workerd` condition, and dist/tensorshrink.wasm).
# The .wasm is a `wasm` module (a compiled WebAssembly.Module at import time): Workers cannot compile
# wasm from bytes. Two workers run the same bundle, one plain and one with nodejs_compat. The sockets
# bind 127.0.0.1:0; `workerd serve --control-fd=3` reports the ports chosen.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "plain", worker = .plainWorker),
    (name = "compat", worker = .compatWorker),
  ],
  sockets = [
    (name = "plain", address = "127.0.0.1:0", http = (), service = "plain"),
    (name = "compat", address = "127.0.0.1:0", http = (), service = "compat"),
  ],
);

const plainWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.bundle.js"),
    (name = "tensorshrink.wasm", wasm = embed "tensorshrink.wasm"),
  ],
  compatibilityDate = "2024-09-23",
);

const compatWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.bundle.js"),
    (name = "tensorshrink.wasm", wasm = embed "tensorshrink.wasm"),
  ],
  compatibilityDate = "2024-09-23",
  compatibilityFlags = ["nodejs_compat"],
);
