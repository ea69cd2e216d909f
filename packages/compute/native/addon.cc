// N-API surface of the native kernels. Every function works in place on Float32Array views (of
// the wasm heap, in practice) and checks each view's length against the shape before touching it.
#include <node_api.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include "cpu.h"
#include "kernels.h"

namespace mococxr {
namespace {

// The set that computes: its GEMM microkernel runs every convolution and product.
const Isa* active = nullptr;
// precision 'bf16': bf16_isa()'s microkernel runs them instead (setPrecision checks it can).
bool bf16 = false;

const GemmUkernel& gemm_in_use() { return bf16 ? *bf16_isa()->gemm : *active->gemm; }

// Calls f on every set built for this target, best first.
template <class F>
void each_isa(F f) {
  size_t n = 0;
  const Isa* const* all = all_isas(&n);
  for (size_t i = 0; i < n; i++) f(*all[i]);
}

napi_value fail(napi_env env, const std::string& msg) {
  napi_throw_error(env, nullptr, ("@moco-cxr/compute native: " + msg).c_str());
  return nullptr;
}

// Every entry point runs inside this: a C++ exception must never cross into Node (it would end
// the process); it becomes a JS error naming the function. `data` holds the function's name.
template <napi_value (*F)(napi_env, napi_callback_info)>
napi_value Guard(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  const std::string name = data ? static_cast<const char*>(data) : "native call";
  try {
    return F(env, info);
  } catch (const std::bad_alloc&) {
    return fail(env, name + ": out of memory");
  } catch (const std::exception& e) {
    return fail(env, name + ": " + e.what());
  } catch (...) {
    return fail(env, name + ": unknown C++ exception");
  }
}

bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < want) return false;
  return true;
}

// A typed array's data and element count; false when it is not of the expected kind.
template <class T>
bool view(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void* p = nullptr;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, length, &p, &ab, &offset) != napi_ok || type != want) return false;
  *data = static_cast<T*>(p);
  return true;
}

int get_int(napi_env env, napi_value v) {
  int32_t r = 0;
  napi_get_value_int32(env, v, &r);
  return r;
}

napi_value str(napi_env env, const char* s) {
  napi_value r;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value Isas(napi_env env, napi_callback_info) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  each_isa([&](const Isa& t) {
    if (cpu_runs(t)) napi_set_element(env, arr, i++, str(env, t.name));
  });
  return arr;
}

napi_value ActiveIsa(napi_env env, napi_callback_info) { return str(env, active->name); }

// The name argument of setIsa / setPrecision into buf (empty when it is not a string); false when
// the call has no argument.
bool name_arg(napi_env env, napi_callback_info info, char* buf, size_t cap) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return false;
  size_t len = 0;
  buf[0] = 0;
  napi_get_value_string_utf8(env, argv[0], buf, cap, &len);
  return true;
}

napi_value SetIsa(napi_env env, napi_callback_info info) {
  char name[32];
  if (!name_arg(env, info, name, sizeof name)) return fail(env, "setIsa(name) needs a name");
  const Isa* found = nullptr;
  each_isa([&](const Isa& t) {
    if (std::strcmp(t.name, name) == 0) found = &t;
  });
  if (!found) return fail(env, std::string("no kernel set named '") + name + "' (avx512, avx2, generic)");
  if (!cpu_runs(*found)) return fail(env, std::string("this CPU cannot run the '") + name + "' kernels");
  active = found;
  bf16 = false;  // a new set starts in fp32; setPrecision('bf16') checks again that it can run
  return str(env, found->name);
}

// Why precision 'bf16' cannot run with the active set on this CPU; empty when it can.
std::string bf16_unavailable() {
  const Isa* t = bf16_isa();
  if (!t) return "no bf16 kernels are built for this target (x86-64, compiled with GCC 10 or clang 14 on)";
  const char* lacks[16];
  const size_t n = cpu_lacks(*t, lacks, 16);
  if (n > 0) {
    std::string why = "this CPU lacks";
    for (size_t i = 0; i < n && i < 16; i++) why += std::string(" ") + lacks[i];
    return why;
  }
  if (std::strcmp(active->name, "avx512") != 0) return std::string("the bf16 kernels run beside the avx512 set, not the ") + active->name + " set in use";
  return "";
}

napi_value Bf16Unavailable(napi_env env, napi_callback_info) { return str(env, bf16_unavailable().c_str()); }

napi_value Precision(napi_env env, napi_callback_info) { return str(env, bf16 ? "bf16" : "fp32"); }

// convAlgorithm() / setConvAlgorithm('auto' | 'direct'): whether 3x3 stride-1 convolutions and both
// their gradients take the Winograd F(2x2, 3x3) path (fp32 products only) or the direct GEMM.
napi_value ConvAlgorithmName(napi_env env, napi_callback_info) {
  return str(env, conv_algorithm == ConvAlgorithm::Auto ? "auto" : "direct");
}

napi_value SetConvAlgorithm(napi_env env, napi_callback_info info) {
  char name[16];
  if (!name_arg(env, info, name, sizeof name)) return fail(env, "setConvAlgorithm(name) needs a name");
  if (std::strcmp(name, "auto") == 0) {
    conv_algorithm = ConvAlgorithm::Auto;
  } else if (std::strcmp(name, "direct") == 0) {
    conv_algorithm = ConvAlgorithm::Direct;
  } else {
    return fail(env, std::string("setConvAlgorithm: no algorithm named '") + name + "' (auto, direct)");
  }
  return str(env, name);
}

// setPrecision('fp32' | 'bf16'): which microkernel the GEMMs use; throws where bf16 cannot run.
napi_value SetPrecision(napi_env env, napi_callback_info info) {
  char name[16];
  if (!name_arg(env, info, name, sizeof name)) return fail(env, "setPrecision(name) needs a name");
  if (std::strcmp(name, "fp32") == 0) {
    bf16 = false;
  } else if (std::strcmp(name, "bf16") == 0) {
    const std::string why = bf16_unavailable();
    if (!why.empty()) return fail(env, "setPrecision: bf16 cannot run: " + why);
    bf16 = true;
  } else {
    return fail(env, std::string("setPrecision: no precision named '") + name + "' (fp32, bf16)");
  }
  return str(env, bf16 ? "bf16" : "fp32");
}

bool read_shape(napi_env env, napi_value v, ConvShape* s) {
  int32_t* d = nullptr;
  size_t n = 0;
  if (!view(env, v, napi_int32_array, &d, &n) || n != 13) return false;
  *s = ConvShape{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]};
  for (int i = 0; i < 13; i++)
    if (d[i] < 0 || (i < 11 && d[i] == 0 && i != 0)) return false;
  return true;
}

// conv kernels: (a, b, out, shape Int32Array[13], threads); `which` picks forward / input / filter gradient.
template <int which>
napi_value Conv(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return fail(env, "conv kernels take (a, b, out, shape, threads)");
  ConvShape s;
  if (!read_shape(env, argv[3], &s)) return fail(env, "conv shape must be an Int32Array of 13 non-negative sizes");
  float *a, *b, *o;
  size_t na, nb, no;
  if (!view(env, argv[0], napi_float32_array, &a, &na) || !view(env, argv[1], napi_float32_array, &b, &nb) ||
      !view(env, argv[2], napi_float32_array, &o, &no))
    return fail(env, "conv kernels take Float32Array views");
  const size_t xs = size_t(s.n) * s.h * s.w * s.ci, ws = size_t(s.kh) * s.kw * s.ci * s.co, ys = size_t(s.n) * s.oh * s.ow * s.co;
  const size_t want[3][3] = {{xs, ws, ys}, {ys, ws, xs}, {xs, ys, ws}};
  const char* names[3][3] = {{"x", "filter", "y"}, {"dy", "filter", "dx"}, {"x", "dy", "dw"}};
  const size_t got[3] = {na, nb, no};
  for (int i = 0; i < 3; i++)
    if (got[i] != want[which][i])
      return fail(env, std::string(names[which][i]) + " has " + std::to_string(got[i]) + " elements, the shape needs " + std::to_string(want[which][i]));
  const int threads = std::max(1, get_int(env, argv[4]));
  if (which == 0) conv2d(gemm_in_use(), a, b, o, s, threads);
  if (which == 1) conv2d_grad_input(gemm_in_use(), a, b, o, s, threads);
  if (which == 2) conv2d_grad_filter(gemm_in_use(), a, b, o, s, threads);
  return nullptr;
}

// matmul(a, b, c, params Float64Array[batch, m, k, n, transposeA, transposeB, batchStrideA, batchStrideB], threads)
napi_value MatMul(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return fail(env, "matmul takes (a, b, c, params, threads)");
  float *a, *b, *c;
  double* p;
  size_t na, nb, nc, np;
  if (!view(env, argv[0], napi_float32_array, &a, &na) || !view(env, argv[1], napi_float32_array, &b, &nb) ||
      !view(env, argv[2], napi_float32_array, &c, &nc) || !view(env, argv[3], napi_float64_array, &p, &np) || np != 8)
    return fail(env, "matmul takes Float32Array views and a Float64Array of 8 params");
  const long batch = long(p[0]), m = long(p[1]), k = long(p[2]), n = long(p[3]), sa = long(p[6]), sb = long(p[7]);
  if (batch < 0 || m < 0 || k < 0 || n < 0 || sa < 0 || sb < 0) return fail(env, "matmul sizes must be non-negative");
  if (batch > 0 && (size_t((batch - 1) * sa + m * k) > na || size_t((batch - 1) * sb + k * n) > nb || size_t(batch * m * n) != nc))
    return fail(env, "matmul views are shorter than the shapes need");
  matmul(gemm_in_use(), a, b, c, batch, m, k, n, p[4] != 0, p[5] != 0, sa, sb, std::max(1, get_int(env, argv[4])));
  return nullptr;
}

// A Float32Array argument of exactly `want` elements (any length when want < 0); null/undefined
// gives nullptr when `optional`.
bool f32arg(napi_env env, napi_value v, long want, const char* name, float** out, bool optional, std::string* err) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (optional && (t == napi_null || t == napi_undefined)) {
    *out = nullptr;
    return true;
  }
  size_t n = 0;
  if (!view(env, v, napi_float32_array, out, &n)) {
    *err = std::string(name) + " must be a Float32Array";
    return false;
  }
  if (want >= 0 && n != size_t(want)) {
    *err = std::string(name) + " has " + std::to_string(n) + " elements, expected " + std::to_string(want);
    return false;
  }
  return true;
}

double num(napi_env env, napi_value v) {
  double r = 0;
  napi_get_value_double(env, v, &r);
  return r;
}

// A view argument of the BatchNorm kernels: rows x channels elements when `full`, else channels;
// null allowed when `optional`.
struct ViewSpec {
  const char* name;
  bool full, optional;
};

// What the BatchNorm kernels share: 12 arguments, the N views first, rows and channels at argv[at]
// and argv[at + 1]; each is checked (errors name the kernel) before run(argv, views, rows, c).
template <size_t N, class F>
napi_value with_batchnorm_args(napi_env env, napi_callback_info info, const char* fn, const ViewSpec (&views)[N], int at, F run) {
  napi_value argv[12];
  if (!get_args(env, info, 12, argv)) return fail(env, std::string(fn) + " takes 12 arguments");
  const long rows = long(num(env, argv[at])), c = long(num(env, argv[at + 1]));
  if (rows < 1 || c < 1) return fail(env, std::string(fn) + " needs rows and channels >= 1");
  float* p[N];
  std::string err;
  for (size_t i = 0; i < N; i++)
    if (!f32arg(env, argv[i], views[i].full ? rows * c : c, views[i].name, &p[i], views[i].optional, &err)) return fail(env, std::string(fn) + ": " + err);
  run(argv, p, rows, c);
  return nullptr;
}

// batchNormTrain(x, gamma, beta, y, mean, variance, rstd, rows, channels, eps, relu, threads)
napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  static const ViewSpec views[] = {{"x", true, false},    {"gamma", false, false},    {"beta", false, false}, {"y", true, false},
                                   {"mean", false, false}, {"variance", false, false}, {"rstd", false, false}};
  return with_batchnorm_args(env, info, "batchNormTrain", views, 7, [&](napi_value* argv, float** p, long rows, long c) {
    bool relu = false;
    napi_get_value_bool(env, argv[10], &relu);
    batchnorm_train(p[0], p[1], p[2], p[3], p[4], p[5], p[6], rows, c, float(num(env, argv[9])), relu, std::max(1, get_int(env, argv[11])));
  });
}

// batchNormTrainGrad(dy, x, mean, rstd, gamma, y | null, dx, dgamma, dbeta, rows, channels, threads)
napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info) {
  static const ViewSpec views[] = {{"dy", true, false},    {"x", true, false}, {"mean", false, false},
                                   {"rstd", false, false}, {"gamma", false, false}, {"y", true, true},
                                   {"dx", true, false},    {"dgamma", false, false}, {"dbeta", false, false}};
  return with_batchnorm_args(env, info, "batchNormTrainGrad", views, 9, [&](napi_value* argv, float** p, long rows, long c) {
    batchnorm_train_grad(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], rows, c, std::max(1, get_int(env, argv[11])));
  });
}

// optimizerStep(kind, p, s | null, t | null, g, p2, s2 | null, t2 | null, hyper Float64Array[6], threads)
napi_value OptimizerStep(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  if (!get_args(env, info, 10, argv)) return fail(env, "optimizerStep takes 10 arguments");
  const int kind = get_int(env, argv[0]);
  if (kind < 0 || kind > 3) return fail(env, "optimizerStep: kind must be 0..3");
  float* p[7];
  const char* names[7] = {"param", "slot1", "slot2", "grad", "param out", "slot1 out", "slot2 out"};
  std::string err;
  size_t n = 0;
  if (!view(env, argv[1], napi_float32_array, &p[0], &n)) return fail(env, "optimizerStep: param must be a Float32Array");
  for (int i = 1; i < 7; i++)
    if (!f32arg(env, argv[i + 1], long(n), names[i], &p[i], i != 3 && i != 4, &err)) return fail(env, "optimizerStep: " + err);
  // Both Adams read and write two slots; SGD's buffer is checked below, the EMA has none.
  if (kind <= 1 && (!p[1] || !p[2] || !p[5] || !p[6])) return fail(env, "optimizerStep: missing slot views");
  double* h = nullptr;
  size_t nh = 0;
  if (!view(env, argv[8], napi_float64_array, &h, &nh) || nh != 6) return fail(env, "optimizerStep: hyper must be a Float64Array of 6");
  if (kind == 2 && h[0] != 0 && (!p[5] || (h[5] == 0 && !p[1]))) return fail(env, "optimizerStep: SGD with momentum needs its buffer");
  optimizer_step(kind, p[0], p[1], p[2], p[3], p[4], p[5], p[6], long(n), h, std::max(1, get_int(env, argv[9])));
  return nullptr;
}

// The Float32Array elements of a JS array argument and their lengths (`name` in errors); false
// with err set otherwise.
bool f32list(napi_env env, napi_value v, const char* name, std::vector<float*>* out, std::vector<long>* lens, std::string* err) {
  bool is = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &n) != napi_ok) {
    *err = std::string(name) + " must be an array of Float32Arrays";
    return false;
  }
  out->resize(n);
  lens->resize(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    size_t len = 0;
    if (napi_get_element(env, v, i, &e) != napi_ok || !view(env, e, napi_float32_array, &(*out)[i], &len)) {
      *err = std::string(name) + "[" + std::to_string(i) + "] must be a Float32Array";
      return false;
    }
    (*lens)[i] = long(len);
  }
  return true;
}

// optimizerStepInPlace(kind, params[], slot1[] | null, slot2[] | null, grads[], hyper Float64Array[6], threads):
// one update of every variable (kinds 0, 1 and 3 of optimizerStep), params and slots overwritten.
napi_value OptimizerStepInPlace(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!get_args(env, info, 7, argv)) return fail(env, "optimizerStepInPlace takes 7 arguments");
  const int kind = get_int(env, argv[0]);
  if (kind != 0 && kind != 1 && kind != 3) return fail(env, "optimizerStepInPlace: kind must be 0, 1 or 3 (Adam, torch Adam, EMA)");
  const bool slots = kind != 3;
  OptimizerVars v;
  std::vector<float*> g;
  std::vector<long> ng, ns, nt;
  std::string err;
  if (!f32list(env, argv[1], "params", &v.p, &v.n, &err) || !f32list(env, argv[4], "grads", &g, &ng, &err) ||
      (slots && (!f32list(env, argv[2], "slot1", &v.s, &ns, &err) || !f32list(env, argv[3], "slot2", &v.t, &nt, &err))))
    return fail(env, "optimizerStepInPlace: " + err);
  const size_t nv = v.p.size();
  if (g.size() != nv || (slots && (v.s.size() != nv || v.t.size() != nv)))
    return fail(env, "optimizerStepInPlace: params, grads" + std::string(slots ? " and both slots" : "") + " must list as many views each");
  for (size_t i = 0; i < nv; i++) {
    const long got[3] = {ng[i], slots ? ns[i] : v.n[i], slots ? nt[i] : v.n[i]};
    const char* names[3] = {"grads", "slot1", "slot2"};
    for (int l = 0; l < 3; l++)
      if (got[l] != v.n[i])
        return fail(env, std::string("optimizerStepInPlace: ") + names[l] + "[" + std::to_string(i) + "] has " + std::to_string(got[l]) + " elements, params[" + std::to_string(i) + "] " + std::to_string(v.n[i]));
  }
  v.g.assign(g.begin(), g.end());
  double* h = nullptr;
  size_t nh = 0;
  if (!view(env, argv[5], napi_float64_array, &h, &nh) || nh != 6) return fail(env, "optimizerStepInPlace: hyper must be a Float64Array of 6");
  optimizer_step_in_place(kind, v, h, std::max(1, get_int(env, argv[6])));
  return nullptr;
}

// relu(x, y, threads) and reluGrad(dy, x, dx, threads): views of one length.
template <bool grad>
napi_value Relu(napi_env env, napi_callback_info info) {
  const char* fn = grad ? "reluGrad" : "relu";
  napi_value argv[4];
  const int nviews = grad ? 3 : 2;
  if (!get_args(env, info, nviews + 1, argv)) return fail(env, std::string(fn) + (grad ? " takes (dy, x, dx, threads)" : " takes (x, y, threads)"));
  const char* names[3] = {grad ? "dy" : "x", grad ? "x" : "y", "dx"};
  float* p[3] = {nullptr, nullptr, nullptr};
  size_t n = 0;
  std::string err;
  if (!view(env, argv[0], napi_float32_array, &p[0], &n)) return fail(env, std::string(fn) + ": " + names[0] + " must be a Float32Array");
  for (int i = 1; i < nviews; i++)
    if (!f32arg(env, argv[i], long(n), names[i], &p[i], false, &err)) return fail(env, std::string(fn) + ": " + err);
  const int threads = std::max(1, get_int(env, argv[nviews]));
  if (grad) relu_grad(p[0], p[1], p[2], long(n), threads);
  else relu(p[0], p[1], long(n), threads);
  return nullptr;
}

// maxPoolGrad(x, dy, dx, shape Int32Array[13] with kh/kw the window and co = ci, threads)
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return fail(env, "maxPoolGrad takes (x, dy, dx, shape, threads)");
  ConvShape s;
  if (!read_shape(env, argv[3], &s)) return fail(env, "maxPoolGrad shape must be an Int32Array of 13 non-negative sizes");
  const long xs = long(s.n) * s.h * s.w * s.ci, ys = long(s.n) * s.oh * s.ow * s.ci;
  float *x, *dy, *dx;
  std::string err;
  if (!f32arg(env, argv[0], xs, "x", &x, false, &err) || !f32arg(env, argv[1], ys, "dy", &dy, false, &err) || !f32arg(env, argv[2], xs, "dx", &dx, false, &err))
    return fail(env, "maxPoolGrad: " + err);
  maxpool_grad(x, dy, dx, s, std::max(1, get_int(env, argv[4])));
  return nullptr;
}

// ---- Test hooks: reach the pool's and the scratch's failure paths, which no real input does ----

// testPool("worker" | "caller"): a 2-thread region in which the worker (or the caller, once the
// worker runs) throws. Returns whether the worker had finished when run() returned or threw.
std::atomic<bool> worker_started{false}, worker_done{false};

void wait_for(const std::atomic<bool>& flag) {
  for (int i = 0; i < 20000 && !flag.load(); i++) std::this_thread::sleep_for(std::chrono::microseconds(500));
}

napi_value TestPool(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return fail(env, "testPool(mode) needs a mode");
  char mode[16] = {0};
  size_t len = 0;
  napi_get_value_string_utf8(env, argv[0], mode, sizeof mode, &len);
  const bool worker_throws = std::strcmp(mode, "worker") == 0;
  worker_started = false;
  worker_done = false;
  std::string threw;
  try {
    pool().run(2, [worker_throws](int tid, int) {
      if (tid == 0) {
        wait_for(worker_started);  // the worker must take part for either case to mean anything
        if (!worker_throws) throw std::runtime_error("the caller threw");
        return;
      }
      worker_started = true;
      if (worker_throws) {
        worker_done = true;
        throw std::runtime_error("a worker threw");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      worker_done = true;
    });
  } catch (const std::exception& e) {
    threw = e.what();
  }
  if (!worker_started) return fail(env, "testPool: the worker was not scheduled within 10 s");
  napi_value out, done;
  napi_create_object(env, &out);
  napi_get_boolean(env, worker_done.load(), &done);
  napi_set_named_property(env, out, "threw", str(env, threw.c_str()));
  napi_set_named_property(env, out, "workerFinished", done);
  return out;
}

// testInjectFault(): the next parallel region throws on its caller (see Pool::inject_fault).
napi_value TestInjectFault(napi_env, napi_callback_info) {
  pool().inject_fault();
  return nullptr;
}

// testScratchAfterFailure(): whether a scratch buffer whose growth failed hands out memory again.
napi_value TestScratchAfterFailure(napi_env env, napi_callback_info) {
  Scratch s;
  s.get(16);
  bool threw = false;
  try {
    s.get(size_t(1) << 60);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  if (!threw) return fail(env, "testScratchAfterFailure: a 4 EiB allocation succeeded");
  napi_value r;
  napi_get_boolean(env, s.get(16) != nullptr, &r);
  return r;
}

// isaFeatures(): the CPU features dispatch requires for each instruction set (isa.h).
napi_value IsaFeatures(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_object(env, &out);
  each_isa([&](const Isa& t) {
    napi_value arr;
    napi_create_array(env, &arr);
    for (size_t i = 0; i < t.nfeatures; i++) napi_set_element(env, arr, uint32_t(i), str(env, t.features[i].name));
    napi_set_named_property(env, out, t.name, arr);
  });
  return out;
}

#define MOCO_FN(js, fn) {js, nullptr, Guard<fn>, nullptr, nullptr, nullptr, napi_default, const_cast<char*>(js)}

napi_value Init(napi_env env, napi_value exports) {
  if (!active) active = &best_isa();
  const napi_property_descriptor props[] = {
      MOCO_FN("isas", Isas),
      MOCO_FN("isa", ActiveIsa),
      MOCO_FN("setIsa", SetIsa),
      MOCO_FN("precision", Precision),
      MOCO_FN("setPrecision", SetPrecision),
      MOCO_FN("convAlgorithm", ConvAlgorithmName),
      MOCO_FN("setConvAlgorithm", SetConvAlgorithm),
      MOCO_FN("bf16Unavailable", Bf16Unavailable),
      MOCO_FN("isaFeatures", IsaFeatures),
      MOCO_FN("conv2d", Conv<0>),
      MOCO_FN("conv2dGradInput", Conv<1>),
      MOCO_FN("conv2dGradFilter", Conv<2>),
      MOCO_FN("matmul", MatMul),
      MOCO_FN("batchNormTrain", BatchNormTrain),
      MOCO_FN("batchNormTrainGrad", BatchNormTrainGrad),
      MOCO_FN("maxPoolGrad", MaxPoolGrad),
      MOCO_FN("optimizerStep", OptimizerStep),
      MOCO_FN("optimizerStepInPlace", OptimizerStepInPlace),
      MOCO_FN("relu", Relu<false>),
      MOCO_FN("reluGrad", Relu<true>),
      MOCO_FN("testPool", TestPool),
      MOCO_FN("testInjectFault", TestInjectFault),
      MOCO_FN("testScratchAfterFailure", TestScratchAfterFailure),
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

}  // namespace
}  // namespace mococxr

NAPI_MODULE(NODE_GYP_MODULE_NAME, mococxr::Init)
