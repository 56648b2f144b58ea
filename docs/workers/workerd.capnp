# workerd config for docs/workers/worker.js, used by test/53-workers.ts (and for `workerd serve` by hand):
#   npx esbuild worker.js --bundle --format=esm --platform=neutral --conditions=workerd \
#       --external:./tensorshrink.wasm --outfile=worker.bundle.js
#   cp node_modules/tensorshrink/dist/tensorshrink.wasm .
#   npx workerd serve workerd.capnp
# The .wasm is a `wasm` module (a compiled WebAssembly.Module at import time), as wrangler's
# CompiledWasm rule makes it. The socket binds 127.0.0.1:8787 (the test passes --socket-addr
# http=127.0.0.1:0 and reads the chosen port from --control-fd). Outbound fetches go through
# "internet", which here may also reach private and local addresses (the test's model server on
# 127.0.0.1); on Cloudflare the Worker reaches the public internet only.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .requantize),
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:8787", http = (), service = "main"),
  ],
);

const requantize :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.bundle.js"),
    (name = "tensorshrink.wasm", wasm = embed "tensorshrink.wasm"),
  ],
  compatibilityDate = "2024-09-23",
  bindings = [
    (name = "ALLOWED_HOSTS", text = ""),
  ],
  globalOutbound = "internet",
);
