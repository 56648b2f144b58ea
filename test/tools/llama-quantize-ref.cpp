// A minimal llama-quantize around the real llama.cpp libraries shipped by node-llama-cpp (prebuilt
// libllama + libllama-common), so tests can compare tensorshrink's GGUF output with llama.cpp's byte
// for byte. It does what llama.cpp's tools/quantize does for the options used here: the importance
// matrix file (GGUF imatrix or legacy .dat) is loaded by llama.cpp's own common_imatrix_load and
// normalized as tools/quantize normalizes it (GGUF: sums / counts per matrix, 1 where a count is 0;
// legacy: sums / ncall), handed to the library in memory, and recorded with the quantize.imatrix.*
// keys as KV overrides (ints become u32).
//
// Build (test/61-llama-quantize.ts does this):
//   c++ -std=c++17 -O1 -o llama-quantize-ref llama-quantize-ref.cpp -L<bins> -l:libllama.v0.5.0.so
//       -l:libllama-common.so -Wl,-rpath,<bins>
// Usage:
//   llama-quantize-ref IN.gguf OUT.gguf FTYPE_ID NTHREAD [--pure] [--imatrix FILE] [--allow-requantize]
//       [--leave-output-tensor] [--output-tensor-type GGML_TYPE_ID] [--token-embedding-type GGML_TYPE_ID]
//       [--copy] [--override-kv KEY=TYPE:VALUE]... [--prune-layers L,L,...]
// (the params llama-quantize sets for those flags; --override-kv as common's string_parse_kv_override:
// TYPE int, float, bool or str; the user's overrides come before the quantize.imatrix.* ones, as in tools/quantize)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

// The libraries' ABI, declared from llama.h and common/imatrix-loader.h of the llama.cpp release
// node-llama-cpp ships.
struct common_imatrix_entry {
  std::vector<float> sums;
  std::vector<int64_t> counts;
};
struct common_imatrix {
  std::map<std::string, common_imatrix_entry> entries;
  std::vector<std::string> datasets;
  int32_t chunk_count = 0;
  int32_t chunk_size = 0;
  bool is_legacy = false;
  bool has_metadata = false;
};
bool common_imatrix_load(const std::string & fname, common_imatrix & imatrix);

extern "C" {
enum llama_model_kv_override_type { KV_INT, KV_FLOAT, KV_BOOL, KV_STR };
struct llama_model_kv_override {
  enum llama_model_kv_override_type tag;
  char key[128];
  union { int64_t val_i64; double val_f64; bool val_bool; char val_str[128]; };
};
struct llama_model_imatrix_data { const char *name; const float *data; size_t size; };
struct llama_model_tensor_override { const char *pattern; int type; };
typedef struct llama_model_quantize_params {
  int32_t nthread;
  int ftype;
  int output_tensor_type;
  int token_embedding_type;
  bool allow_requantize;
  bool quantize_output_tensor;
  bool only_copy;
  bool pure;
  bool keep_split;
  bool dry_run;
  const struct llama_model_imatrix_data *imatrix;
  const struct llama_model_kv_override *kv_overrides;
  const struct llama_model_tensor_override *tt_overrides;
  const int32_t *prune_layers;
  size_t max_buf_size;
} llama_model_quantize_params;
extern llama_model_quantize_params llama_model_quantize_default_params(void);
extern uint32_t llama_model_quantize(const char *fname_inp, const char *fname_out, const llama_model_quantize_params *params);
extern void llama_backend_init(void);
extern void llama_backend_free(void);
}

static void die(const char *m) { fprintf(stderr, "llama-quantize-ref: %s\n", m); exit(2); }

int main(int argc, char **argv) {
  if (argc < 5) die("usage: IN OUT FTYPE_ID NTHREAD [--pure] [--imatrix F]");
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.ftype = atoi(argv[3]);
  p.nthread = atoi(argv[4]);
  const char *imatrix_file = nullptr;
  std::vector<llama_model_kv_override> kv;
  static std::vector<int32_t> prune; // this release's llama.h: an int32 array ended by -1
  for (int i = 5; i < argc; i++) {
    if (!strcmp(argv[i], "--pure")) p.pure = true;
    else if (!strcmp(argv[i], "--imatrix") && i + 1 < argc) imatrix_file = argv[++i];
    else if (!strcmp(argv[i], "--allow-requantize")) p.allow_requantize = true;
    else if (!strcmp(argv[i], "--leave-output-tensor")) p.quantize_output_tensor = false;
    else if (!strcmp(argv[i], "--output-tensor-type") && i + 1 < argc) p.output_tensor_type = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--token-embedding-type") && i + 1 < argc) p.token_embedding_type = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--copy")) p.only_copy = true;
    else if (!strcmp(argv[i], "--prune-layers") && i + 1 < argc) {
      for (const char *q = argv[++i]; *q;) { prune.push_back(atoi(q)); while (*q && *q != ',') q++; if (*q) q++; }
      prune.push_back(-1);
      p.prune_layers = prune.data();
    }
    else if (!strcmp(argv[i], "--override-kv") && i + 1 < argc) {
      const char *d = argv[++i], *sep = strchr(d, '=');
      if (!sep || sep - d >= 128) die("bad --override-kv");
      llama_model_kv_override o; memset(&o, 0, sizeof o);
      strncpy(o.key, d, sep - d);
      sep++;
      if (!strncmp(sep, "int:", 4)) { o.tag = KV_INT; o.val_i64 = std::atol(sep + 4); }
      else if (!strncmp(sep, "float:", 6)) { o.tag = KV_FLOAT; o.val_f64 = std::atof(sep + 6); }
      else if (!strncmp(sep, "bool:", 5)) { o.tag = KV_BOOL; if (!strcmp(sep + 5, "true")) o.val_bool = true; else if (!strcmp(sep + 5, "false")) o.val_bool = false; else die("bad bool"); }
      else if (!strncmp(sep, "str:", 4)) { if (strlen(sep + 4) > 127) die("str too long"); o.tag = KV_STR; strncpy(o.val_str, sep + 4, 127); }
      else die("bad --override-kv type");
      kv.push_back(o);
    }
    else die("bad argument");
  }
  // As tools/quantize: load, normalize, pass in memory, record in the header.
  common_imatrix loaded;
  std::map<std::string, std::vector<float>> data;
  std::vector<llama_model_imatrix_data> i_data;
  if (imatrix_file) {
    if (!common_imatrix_load(imatrix_file, loaded)) die("common_imatrix_load failed");
    if (!loaded.is_legacy && !loaded.has_metadata) die("missing imatrix metadata");
    for (const auto & [name, entry] : loaded.entries) {
      auto & e = data[name];
      e.resize(entry.sums.size());
      if (!loaded.is_legacy) {
        const int64_t ncounts = entry.counts.size(), ne0 = (int64_t)entry.sums.size() / ncounts;
        for (int64_t j = 0; j < ncounts; ++j) {
          const float count = (float)entry.counts[j];
          for (int64_t i = 0; i < ne0; ++i) e[j * ne0 + i] = count > 0.0f ? entry.sums[j * ne0 + i] / count : 1;
        }
      } else {
        const int64_t ncall = entry.counts.empty() ? 0 : entry.counts[0];
        for (size_t i = 0; i < entry.sums.size(); ++i) e[i] = ncall > 0 ? entry.sums[i] / ncall : entry.sums[i];
      }
    }
    for (const auto & [name, v] : data) i_data.push_back({name.c_str(), v.data(), v.size()});
    i_data.push_back({nullptr, nullptr, 0});
    p.imatrix = i_data.data();
    auto add_str = [&](const char *key, const std::string & v) {
      llama_model_kv_override o; memset(&o, 0, sizeof o);
      strcpy(o.key, key); o.tag = KV_STR; strncpy(o.val_str, v.c_str(), 127); kv.push_back(o);
    };
    auto add_int = [&](const char *key, int64_t v) {
      llama_model_kv_override o; memset(&o, 0, sizeof o);
      strcpy(o.key, key); o.tag = KV_INT; o.val_i64 = v; kv.push_back(o);
    };
    add_str("quantize.imatrix.file", imatrix_file);
    if (!loaded.datasets.empty()) add_str("quantize.imatrix.dataset", loaded.datasets[0]);
    add_int("quantize.imatrix.entries_count", (int64_t)data.size());
    if (loaded.chunk_count > 0) add_int("quantize.imatrix.chunks_count", loaded.chunk_count);
  }
  if (!kv.empty()) {
    llama_model_kv_override end; memset(&end, 0, sizeof end); kv.push_back(end);
    p.kv_overrides = kv.data();
  }
  llama_backend_init();
  uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
  llama_backend_free();
  if (rc) { fprintf(stderr, "llama-quantize-ref: llama_model_quantize failed (%u)\n", rc); return 1; }
  return 0;
}
