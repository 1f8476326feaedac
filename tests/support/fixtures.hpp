// The PyTorch fixtures of tests/data (written by tools/make_fixtures.py, float64, stored as F64),
// loaded into plain structs that kernel tests iterate:
//   for (const auto& f : tinycnn::test::conv_fixtures()) { INFO(f.name); ... f.desc, f.x, f.y ... }
// Every tensor is a std::vector<double> in row-major order (NCHW images, KCRS filters); convert
// with tinycnn::test::convert<float>(f.x) to test a float kernel. Shapes are checked on load
// against the descriptor, so a test may index them by the descriptor's sizes.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tinycnn/core/error.hpp"
#include "tinycnn/io/safetensors.hpp"
#include "tinycnn/kernels/problem.hpp"

#ifndef TINYCNN_TEST_DATA_DIR
#error "TINYCNN_TEST_DATA_DIR must name tests/data (tests/CMakeLists.txt defines it)"
#endif

namespace tinycnn::test {

// conv2d with bias: y = conv(x, w) + b, and the gradients of sum(dy * y).
struct ConvFixture {
  std::string name;
  kernels::Conv2dDesc desc;
  std::vector<double> x, w, b, y;  // (N,C,H,W), (K,C,R,S), (K), (N,K,P,Q)
  std::vector<double> dy;          // (N,K,P,Q) upstream gradient
  std::vector<double> dx, dw, db;  // shapes of x, w, b
};

// max_pool2d (is_max) or avg_pool2d, forward and backward for the upstream gradient dy.
struct PoolFixture {
  std::string name;
  bool is_max = true;
  kernels::Pool2dDesc desc;
  std::vector<double> x, y, dy, dx;  // (N,C,H,W), (N,C,P,Q), (N,C,P,Q), (N,C,H,W)
};

// c_out = alpha * op(a) * op(b) + beta * c_in, packed operands (desc from packed_gemm, batch 1).
// When beta == 0, c_in is all NaN: a kernel must not read C then.
struct GemmFixture {
  std::string name;
  kernels::GemmDesc desc;
  double alpha = 1, beta = 0;
  std::vector<double> a, b, c_in, c_out;
};

// Softmax, log-softmax and mean softmax cross-entropy over the rows of logits (rows, cols).
struct SoftmaxFixture {
  std::string name;
  std::int64_t rows = 0, cols = 0;
  std::vector<double> logits;
  std::vector<std::int32_t> labels;  // (rows), each in [0, cols)
  std::vector<double> softmax, log_softmax;
  double loss = 0;              // mean over rows of -log_softmax[label]
  std::vector<double> dlogits;  // gradient of loss
  std::vector<double> dy;       // upstream gradient for the two backward passes
  std::vector<double> dx_softmax, dx_log_softmax;
};

inline std::string fixture_path(const std::string& file) {
  return std::string(TINYCNN_TEST_DATA_DIR) + "/" + file;
}

namespace detail {

// One fixture file: case-prefixed tensors "case<i>.<name>", metadata "case<i>.<key>", "cases".
class FixtureFile {
 public:
  explicit FixtureFile(const std::string& file) : file_(fixture_path(file)) {}

  int cases() const { return int(parse_int("cases")); }

  std::string text(int i, const std::string& key) const { return file_.metadata(key_of(i, key)); }

  std::int64_t integer(int i, const std::string& key) const { return parse_int(key_of(i, key)); }

  double real(int i, const std::string& key) const {
    const std::string& s = file_.metadata(key_of(i, key));
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    TINYCNN_CHECK(!s.empty() && *end == '\0', "fixture ", file_.path(), ": metadata ",
                  key_of(i, key), " = '", s, "' is not a number");
    return v;
  }

  bool flag(int i, const std::string& key) const {
    const std::int64_t v = integer(i, key);
    TINYCNN_CHECK(v == 0 || v == 1, "fixture ", file_.path(), ": metadata ", key_of(i, key), " = ",
                  v, " is not 0 or 1");
    return v == 1;
  }

  // The tensor's values; its shape must be `shape`.
  template <class T = double>
  std::vector<T> values(int i, const std::string& name, const Shape& shape) const {
    const std::string key = key_of(i, name);
    TINYCNN_CHECK(file_.shape(key) == shape, "fixture ", file_.path(), ": tensor ", key,
                  " has shape ", file_.shape(key), ", expected ", shape);
    return file_.tensor<T>(key).to_vector();
  }

 private:
  static std::string key_of(int i, const std::string& key) {
    return "case" + std::to_string(i) + "." + key;
  }
  std::int64_t parse_int(const std::string& key) const {
    const std::string& s = file_.metadata(key);
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    TINYCNN_CHECK(!s.empty() && *end == '\0', "fixture ", file_.path(), ": metadata ", key, " = '",
                  s, "' is not an integer");
    return v;
  }

  io::SafetensorsFile file_;
};

}  // namespace detail

inline std::vector<ConvFixture> conv_fixtures() {
  const detail::FixtureFile f("conv.safetensors");
  std::vector<ConvFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    ConvFixture c;
    c.name = f.text(i, "name");
    auto& d = c.desc;
    d.n = f.integer(i, "n"), d.c = f.integer(i, "c"), d.h = f.integer(i, "h"),
    d.w = f.integer(i, "w");
    d.k = f.integer(i, "k"), d.r = f.integer(i, "r"), d.s = f.integer(i, "s");
    d.pad_h = f.integer(i, "pad_h"), d.pad_w = f.integer(i, "pad_w");
    d.stride_h = f.integer(i, "stride_h"), d.stride_w = f.integer(i, "stride_w");
    d.dilation_h = f.integer(i, "dilation_h"), d.dilation_w = f.integer(i, "dilation_w");
    const Shape xs{d.n, d.c, d.h, d.w}, ws{d.k, d.c, d.r, d.s}, bs{d.k}, ys{d.n, d.k, d.p(), d.q()};
    c.x = f.values(i, "x", xs), c.w = f.values(i, "w", ws), c.b = f.values(i, "b", bs);
    c.y = f.values(i, "y", ys), c.dy = f.values(i, "dy", ys);
    c.dx = f.values(i, "dx", xs), c.dw = f.values(i, "dw", ws), c.db = f.values(i, "db", bs);
    out.push_back(std::move(c));
  }
  return out;
}

inline std::vector<PoolFixture> pool_fixtures() {
  const detail::FixtureFile f("pool.safetensors");
  std::vector<PoolFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    PoolFixture c;
    c.name = f.text(i, "name");
    const std::string op = f.text(i, "op");
    TINYCNN_CHECK(op == "max" || op == "avg", "fixture pool.safetensors: case", i, ".op is '", op,
                  "', expected max or avg");
    c.is_max = op == "max";
    auto& d = c.desc;
    d.n = f.integer(i, "n"), d.c = f.integer(i, "c"), d.h = f.integer(i, "h"),
    d.w = f.integer(i, "w");
    d.kernel_h = f.integer(i, "kernel_h"), d.kernel_w = f.integer(i, "kernel_w");
    d.stride_h = f.integer(i, "stride_h"), d.stride_w = f.integer(i, "stride_w");
    d.pad_h = f.integer(i, "pad_h"), d.pad_w = f.integer(i, "pad_w");
    d.ceil_mode = f.flag(i, "ceil_mode"), d.count_include_pad = f.flag(i, "count_include_pad");
    const Shape xs{d.n, d.c, d.h, d.w}, ys{d.n, d.c, d.p(), d.q()};
    c.x = f.values(i, "x", xs), c.y = f.values(i, "y", ys);
    c.dy = f.values(i, "dy", ys), c.dx = f.values(i, "dx", xs);
    out.push_back(std::move(c));
  }
  return out;
}

inline std::vector<GemmFixture> gemm_fixtures() {
  const detail::FixtureFile f("gemm.safetensors");
  std::vector<GemmFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    GemmFixture c;
    c.name = f.text(i, "name");
    const std::int64_t m = f.integer(i, "m"), n = f.integer(i, "n"), k = f.integer(i, "k");
    const bool ta = f.flag(i, "trans_a"), tb = f.flag(i, "trans_b");
    c.desc = kernels::packed_gemm(m, n, k, ta, tb);
    c.alpha = f.real(i, "alpha"), c.beta = f.real(i, "beta");
    c.a = f.values(i, "a", ta ? Shape{k, m} : Shape{m, k});
    c.b = f.values(i, "b", tb ? Shape{n, k} : Shape{k, n});
    c.c_in = f.values(i, "c_in", Shape{m, n}), c.c_out = f.values(i, "c_out", Shape{m, n});
    out.push_back(std::move(c));
  }
  return out;
}

inline std::vector<SoftmaxFixture> softmax_fixtures() {
  const detail::FixtureFile f("softmax.safetensors");
  std::vector<SoftmaxFixture> out;
  for (int i = 0; i < f.cases(); ++i) {
    SoftmaxFixture c;
    c.name = f.text(i, "name");
    c.rows = f.integer(i, "rows"), c.cols = f.integer(i, "cols");
    const Shape rc{c.rows, c.cols};
    c.logits = f.values(i, "logits", rc);
    c.labels = f.values<std::int32_t>(i, "labels", Shape{c.rows});
    for (std::int32_t l : c.labels)
      TINYCNN_CHECK(l >= 0 && l < c.cols, "fixture softmax.safetensors: case", i, " label ", l,
                    " outside [0, ", c.cols, ")");
    c.softmax = f.values(i, "softmax", rc), c.log_softmax = f.values(i, "log_softmax", rc);
    c.loss = f.values(i, "loss", Shape{}).at(0);
    c.dlogits = f.values(i, "dlogits", rc), c.dy = f.values(i, "dy", rc);
    c.dx_softmax = f.values(i, "dx_softmax", rc),
    c.dx_log_softmax = f.values(i, "dx_log_softmax", rc);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace tinycnn::test
