// Backward reference kernels against central finite differences of the forward references, in
// double: conv2d (data, filter, bias), max/avg/global-average pooling, softmax, log-softmax,
// softmax cross-entropy, ReLU and the Gram matrix. Each backward(dy) must equal d<dy,
// forward(x)>/dx.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/reference/conv.hpp>
#include <tinycnn/kernels/reference/elementwise.hpp>
#include <tinycnn/kernels/reference/gemm.hpp>
#include <tinycnn/kernels/reference/pool.hpp>
#include <tinycnn/kernels/reference/reduce.hpp>
#include <tinycnn/kernels/reference/softmax.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"
#include "support/gradcheck.hpp"
#include "support/problems.hpp"

namespace ref = tinycnn::kernels::reference;
using tinycnn::kernels::Conv2dDesc;
using tinycnn::kernels::Pool2dDesc;
using tinycnn::test::dot;
using tinycnn::test::poisoned_vector;
using tinycnn::test::random_vector;

namespace {

// Inputs for ops with kinks (max, ReLU): distinct values at least 0.01 apart and away from 0 in
// random order, so that no perturbation of 1e-6 moves an argmax or crosses a kink.
std::vector<double> separated_vector(std::int64_t n, std::uint64_t salt) {
  std::vector<double> v(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i)
    v[std::size_t(i)] = (double(i) - double(n) / 2 + 0.5) * 0.01 + 0.003;
  std::mt19937_64 rng(tinycnn::test::test_seed() ^ (salt * 0x9e3779b97f4a7c15ULL));
  std::shuffle(v.begin(), v.end(), rng);
  return v;
}

// Small convolutions: every parameter kind, few enough elements for 2 forward passes each.
std::vector<tinycnn::test::ConvCase> gradcheck_conv_cases() {
  using tinycnn::test::conv;
  return {
      {"3x3 pad1 batch2", conv(2, 2, 5, 6, 3, 3, 3, 1, 1)},
      {"3x3 stride2 per-axis pad", conv(1, 3, 7, 6, 2, 3, 3, 1, 0, 2, 2)},
      {"5x3 stride (2,1) dilation (1,2)", conv(2, 2, 9, 8, 2, 5, 3, 2, 2, 2, 1, 1, 2)},
      {"1x1 stride2", conv(1, 3, 5, 5, 4, 1, 1, 0, 0, 2, 2)},
      {"4x4 stride3 pad2 uneven", conv(1, 2, 8, 7, 2, 4, 4, 2, 2, 3, 3)},
  };
}

std::vector<tinycnn::test::PoolCase> gradcheck_pool_cases() {
  using tinycnn::test::pool;
  return {
      {"2x2 s2", pool(2, 2, 6, 6, 2, 2, 2, 2)},
      {"3x3 s2 ceil (NIN)", pool(1, 2, 7, 7, 3, 3, 2, 2, 0, 0, true)},
      {"3x3 s1 pad1", pool(1, 2, 5, 4, 3, 3, 1, 1, 1, 1)},
      {"3x3 s2 pad1 ceil exclude pad", pool(2, 1, 6, 7, 3, 3, 2, 2, 1, 1, true, false)},
      {"rect 2x3 s(1,2) pad (1,1)", pool(1, 2, 5, 7, 2, 3, 1, 2, 1, 1)},
  };
}

}  // namespace

TEST_CASE("gradcheck: numerical_gradient is exact on a cubic and catches a wrong gradient",
          "[reference][gradcheck]") {
  TINYCNN_SEED_INFO();
  auto x = random_vector<double>(17, 1);
  const auto x0 = x;
  auto f = [&] {
    double s = 0;
    for (double v : x) s += v * v * v;
    return s;
  };
  std::vector<double> right(x.size()), wrong(x.size());
  for (std::size_t i = 0; i < x.size(); ++i)
    right[i] = 3 * x[i] * x[i], wrong[i] = 2.9 * x[i] * x[i];
  const auto numerical = tinycnn::test::numerical_gradient(f, x);
  CHECK(x == x0);  // restored bit for bit
  TINYCNN_REQUIRE_GRADIENT(right, f, x);
  const auto cmp = tinycnn::test::compare(wrong.data(), numerical.data(), std::int64_t(x.size()));
  CHECK(cmp.rel_error > 100 * tinycnn::test::kGradcheckTolerance);
}

TEST_CASE("gradcheck: conv2d backward data, filter and bias", "[reference][gradcheck][conv]") {
  TINYCNN_SEED_INFO();
  // Plain locals rather than structured bindings: lambdas capture them (clang before 16 cannot).
  for (const auto& cs : gradcheck_conv_cases()) {
    INFO("case " << cs.name);
    const Conv2dDesc d = cs.desc;
    const std::int64_t nx = d.n * d.c * d.h * d.w, nw = d.k * d.c * d.r * d.s;
    const std::int64_t ny = d.n * d.k * d.p() * d.q();
    auto x = random_vector<double>(nx, 11), w = random_vector<double>(nw, 12);
    auto b = random_vector<double>(d.k, 13);
    const auto dy = random_vector<double>(ny, 14);
    std::vector<double> y(std::size_t(ny), 0.0);
    auto loss = [&] {
      ref::conv2d_forward_reference(y.data(), x.data(), w.data(), b.data(), d);
      return dot(dy, y);
    };

    auto dx = poisoned_vector<double>(nx);
    ref::conv2d_backward_data_reference(dx.data(), dy.data(), w.data(), d);
    TINYCNN_REQUIRE_GRADIENT(dx, loss, x);

    auto dw = poisoned_vector<double>(nw);
    ref::conv2d_backward_filter_reference(dw.data(), dy.data(), x.data(), d);
    TINYCNN_REQUIRE_GRADIENT(dw, loss, w);

    auto db = poisoned_vector<double>(d.k);
    ref::conv2d_backward_bias_reference(db.data(), dy.data(), d);
    TINYCNN_REQUIRE_GRADIENT(db, loss, b);
  }
}

TEST_CASE("gradcheck: max and average pooling backward", "[reference][gradcheck][pool]") {
  TINYCNN_SEED_INFO();
  for (const auto& cs : gradcheck_pool_cases()) {
    INFO("case " << cs.name);
    const Pool2dDesc base = cs.desc;
    const std::int64_t nx = base.n * base.c * base.h * base.w;
    const std::int64_t ny = base.n * base.c * base.p() * base.q();
    const auto dy = random_vector<double>(ny, 21);
    std::vector<double> y(std::size_t(ny), 0.0);
    std::vector<std::int32_t> argmax(std::size_t(ny), -1);
    {
      INFO("max pooling");
      auto x = separated_vector(nx, 22);
      auto loss = [&] {
        ref::max_pool2d_forward_reference(y.data(), static_cast<std::int32_t*>(nullptr), x.data(),
                                          base);
        return dot(dy, y);
      };
      ref::max_pool2d_forward_reference(y.data(), argmax.data(), x.data(), base);
      auto dx = poisoned_vector<double>(nx);
      ref::max_pool2d_backward_reference(dx.data(), dy.data(), argmax.data(), base);
      TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
    }
    for (const bool include_pad : {true, false}) {
      INFO("average pooling, count_include_pad " << include_pad);
      Pool2dDesc d = base;
      d.count_include_pad = include_pad;
      auto x = random_vector<double>(nx, 23);
      auto loss = [&] {
        ref::avg_pool2d_forward_reference(y.data(), x.data(), d);
        return dot(dy, y);
      };
      auto dx = poisoned_vector<double>(nx);
      ref::avg_pool2d_backward_reference(dx.data(), dy.data(), d);
      TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
    }
  }
}

TEST_CASE("gradcheck: global average pooling backward", "[reference][gradcheck][pool]") {
  TINYCNN_SEED_INFO();
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{1, 1}, {6, 36}, {5, 13}}) {
    const std::int64_t planes = size.first, plane = size.second;
    INFO("planes " << planes << " plane " << plane);
    auto x = random_vector<double>(planes * plane, 31);
    const auto dy = random_vector<double>(planes, 32);
    std::vector<double> y(std::size_t(planes), 0.0);
    auto loss = [&] {
      ref::global_avg_pool2d_forward_reference(y.data(), x.data(), planes, plane);
      return dot(dy, y);
    };
    auto dx = poisoned_vector<double>(planes * plane);
    ref::global_avg_pool2d_backward_reference(dx.data(), dy.data(), planes, plane);
    TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
  }
}

TEST_CASE("gradcheck: softmax, log-softmax and cross-entropy backward",
          "[reference][gradcheck][softmax]") {
  TINYCNN_SEED_INFO();
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{1, 2}, {4, 10}, {3, 33}}) {
    const std::int64_t rows = size.first, cols = size.second;
    INFO("rows " << rows << " cols " << cols);
    const std::int64_t n = rows * cols;
    auto x = random_vector<double>(n, 41, -3.0, 3.0);
    const auto dy = random_vector<double>(n, 42);
    std::vector<double> y(std::size_t(n), 0.0);
    {
      INFO("softmax");
      auto loss = [&] {
        ref::softmax_forward_reference(y.data(), x.data(), rows, cols);
        return dot(dy, y);
      };
      auto sm = poisoned_vector<double>(n), dx = poisoned_vector<double>(n);
      ref::softmax_forward_reference(sm.data(), x.data(), rows, cols);
      ref::softmax_backward_reference(dx.data(), dy.data(), sm.data(), rows, cols);
      TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
    }
    {
      INFO("log-softmax");
      auto loss = [&] {
        ref::log_softmax_forward_reference(y.data(), x.data(), rows, cols);
        return dot(dy, y);
      };
      auto lsm = poisoned_vector<double>(n), dx = poisoned_vector<double>(n);
      ref::log_softmax_forward_reference(lsm.data(), x.data(), rows, cols);
      ref::log_softmax_backward_reference(dx.data(), dy.data(), lsm.data(), rows, cols);
      TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
    }
    {
      INFO("cross-entropy");
      std::mt19937_64 rng(tinycnn::test::test_seed() ^ 43);
      std::vector<std::int32_t> labels(static_cast<std::size_t>(rows));
      for (auto& l : labels) l = std::int32_t(rng() % std::uint64_t(cols));
      auto loss = [&] {
        return ref::softmax_cross_entropy_reference(static_cast<double*>(nullptr), x.data(),
                                                    labels.data(), rows, cols);
      };
      auto dx = poisoned_vector<double>(n);
      ref::softmax_cross_entropy_reference(dx.data(), x.data(), labels.data(), rows, cols);
      TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
    }
  }
}

TEST_CASE("gradcheck: relu backward", "[reference][gradcheck][relu]") {
  TINYCNN_SEED_INFO();
  const std::int64_t n = 97;
  auto x = separated_vector(n, 51);
  const auto dy = random_vector<double>(n, 52);
  std::vector<double> y(std::size_t(n), 0.0);
  auto loss = [&] {
    ref::relu_forward_reference(y.data(), x.data(), n);
    return dot(dy, y);
  };
  auto fwd = poisoned_vector<double>(n), dx = poisoned_vector<double>(n);
  ref::relu_forward_reference(fwd.data(), x.data(), n);
  ref::relu_backward_reference(dx.data(), dy.data(), fwd.data(), n);
  TINYCNN_REQUIRE_GRADIENT(dx, loss, x);
}

// There is no gram backward reference yet: the formula a backward kernel must implement,
// dF = scale * (dG + dG^T) * F, is built here from gemm_reference and checked, so the kernel
// written later can be compared with this.
TEST_CASE("gradcheck: gram matrix gradient scale * (dG + dG^T) * F",
          "[reference][gradcheck][gram]") {
  TINYCNN_SEED_INFO();
  for (const auto& size : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 7}, {5, 16}}) {
    const std::int64_t c = size.first, m = size.second;
    INFO("C " << c << " M " << m);
    const double scale = 1.0 / double(c * m);
    auto f = random_vector<double>(c * m, 61);
    const auto dg = random_vector<double>(c * c, 62);
    std::vector<double> g(std::size_t(c * c), 0.0);
    auto loss = [&] {
      ref::gram_reference(g.data(), f.data(), c, m, scale);
      return dot(dg, g);
    };
    std::vector<double> sym(std::size_t(c * c), 0.0);
    for (std::int64_t i = 0; i < c; ++i)
      for (std::int64_t j = 0; j < c; ++j)
        sym[std::size_t(i * c + j)] = dg[std::size_t(i * c + j)] + dg[std::size_t(j * c + i)];
    auto df = poisoned_vector<double>(c * m);
    ref::gemm_reference(df.data(), sym.data(), f.data(), tinycnn::kernels::packed_gemm(c, m, c),
                        scale, 0.0);
    TINYCNN_REQUIRE_GRADIENT(df, loss, f);
  }
}
