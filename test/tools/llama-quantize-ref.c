// A minimal llama-quantize around the real llama.cpp library shipped by node-llama-cpp (prebuilt
// libllama), so tests can compare tensorshrink's GGUF output with llama.cpp's byte for byte. It does
// what llama.cpp's tools/quantize does for the options used here: the importance matrix is handed in
// memory, and the quantize.imatrix.* keys go in as KV overrides (ints become u32, strings stay).
//
// Build (test/61-llama-quantize.ts does this):
//   cc -O1 -o llama-quantize-ref llama-quantize-ref.c -L<bins> -l:libllama.v0.5.0.so -Wl,-rpath,<bins>
// Usage:
//   llama-quantize-ref IN.gguf OUT.gguf FTYPE_ID NTHREAD [--pure] [--imatrix FILE]
//                      [--kv-str KEY VALUE]... [--kv-int KEY VALUE]...
// The imatrix FILE here is a plain dump (not llama.cpp's format): u32 n; n times { u32 name_len,
// name bytes, u32 n_values, f32 values }, already normalized (what llama.cpp passes to the library).
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The library's ABI, declared from llama.h of the llama.cpp release node-llama-cpp ships.
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

static void die(const char *m) { fprintf(stderr, "llama-quantize-ref: %s\n", m); exit(2); }

static uint32_t rd32(FILE *f) {
  uint32_t v;
  if (fread(&v, 4, 1, f) != 1) die("imatrix file truncated");
  return v;
}

int main(int argc, char **argv) {
  if (argc < 5) die("usage: IN OUT FTYPE_ID NTHREAD [--pure] [--imatrix F] [--kv-str K V] [--kv-int K V]");
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.ftype = atoi(argv[3]);
  p.nthread = atoi(argv[4]);
  struct llama_model_imatrix_data *im = NULL;
  struct llama_model_kv_override kv[16];
  int nkv = 0;
  memset(kv, 0, sizeof kv);
  for (int i = 5; i < argc; i++) {
    if (!strcmp(argv[i], "--pure")) p.pure = true;
    else if (!strcmp(argv[i], "--imatrix") && i + 1 < argc) {
      FILE *f = fopen(argv[++i], "rb");
      if (!f) die("cannot open imatrix file");
      uint32_t n = rd32(f);
      im = calloc(n + 1, sizeof *im);
      for (uint32_t k = 0; k < n; k++) {
        uint32_t len = rd32(f);
        char *name = calloc(len + 1, 1);
        if (fread(name, 1, len, f) != len) die("imatrix file truncated");
        uint32_t nv = rd32(f);
        float *v = malloc((size_t)nv * 4);
        if (fread(v, 4, nv, f) != nv) die("imatrix file truncated");
        im[k].name = name; im[k].data = v; im[k].size = nv;
      }
      fclose(f);
      p.imatrix = im;
    } else if ((!strcmp(argv[i], "--kv-str") || !strcmp(argv[i], "--kv-int")) && i + 2 < argc && nkv < 15) {
      struct llama_model_kv_override *o = &kv[nkv++];
      strncpy(o->key, argv[i + 1], 127);
      if (argv[i][5] == 's') { o->tag = KV_STR; strncpy(o->val_str, argv[i + 2], 127); }
      else { o->tag = KV_INT; o->val_i64 = atoll(argv[i + 2]); }
      i += 2;
    } else die("bad argument");
  }
  if (nkv) p.kv_overrides = kv; // kv[nkv].key[0] == 0 terminates
  llama_backend_init();
  uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
  llama_backend_free();
  if (rc) { fprintf(stderr, "llama-quantize-ref: llama_model_quantize failed (%u)\n", rc); return 1; }
  return 0;
}
