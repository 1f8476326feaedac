// The F(4x4, 3x3) and F(2x2, 5x5) transforms (kernels/winograd.hpp) that the CUDA Winograd
// convolution runs: for blocks summed over channels in the transformed domain,
// A^T [sum_c (G g G^T) .* (B^T d B)] A must equal the direct RxR correlation, to rounding in
// double and within the fp32 tolerance in float.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/winograd.hpp>

#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"

namespace wg = tinycnn::kernels::winograd;

namespace {

// out (m x m) of the 6x6 blocks d and RxR filters g of `channels` channels, via the transforms.
template <int R, class T>
std::vector<T> winograd_block(const std::vector<double>& d, const std::vector<double>& g,
                              int channels) {
  constexpr int M = wg::kOutput<R>;
  T m[36] = {};
  for (int c = 0; c < channels; ++c) {
    T dc[36], gc[R * R], v[36], u[36];
    for (int i = 0; i < 36; ++i) dc[i] = T(d[c * 36 + i]);
    for (int i = 0; i < R * R; ++i) gc[i] = T(g[c * R * R + i]);
    wg::input_2d(dc, v);
    wg::filter_2d<R>(gc, u);
    for (int e = 0; e < 36; ++e) m[e] += u[e] * v[e];
  }
  T y[M * M];
  wg::output_2d<R>(m, y);
  return std::vector<T>(y, y + M * M);
}

template <int R>
std::vector<double> direct_block(const std::vector<double>& d, const std::vector<double>& g,
                                 int channels) {
  constexpr int M = wg::kOutput<R>;
  std::vector<double> y(M * M, 0.0);
  for (int c = 0; c < channels; ++c)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < M; ++j)
        for (int r = 0; r < R; ++r)
          for (int s = 0; s < R; ++s)
            y[i * M + j] += d[c * 36 + (i + r) * 6 + j + s] * g[(c * R + r) * R + s];
  return y;
}

}  // namespace

TEMPLATE_TEST_CASE_SIG("winograd transforms compute the RxR correlation", "[kernels][winograd]",
                       ((int R), R), 3, 5) {
  TINYCNN_SEED_INFO();
  std::uint64_t salt = std::uint64_t(R) * 100;
  for (const int channels : {1, 3, 96, 512}) {
    INFO("channels " << channels);
    // 64 blocks, compared as one output: fp32 rounds more than a direct sum (3e-7 here), about
    // 2-5e-6 of the result's norm for both at 96-512 channels, within the fp32 kernels' 1e-5;
    // single blocks scatter widely around that (up to 2e-5 for F(4x4, 3x3) at 512 channels and
    // 6e-5 for F(2x2, 5x5) at 96 in 1000 draws), which is why no single block is compared in
    // float.
    std::vector<double> want, got;
    std::vector<float> got_float;
    for (int block = 0; block < 64; ++block) {
      const auto d = tinycnn::test::random_vector<double>(36 * channels, salt++);
      const auto g = tinycnn::test::random_vector<double>(R * R * channels, salt++);
      const auto w = direct_block<R>(d, g, channels);
      const auto o = winograd_block<R, double>(d, g, channels);
      const auto f = winograd_block<R, float>(d, g, channels);
      want.insert(want.end(), w.begin(), w.end());
      got.insert(got.end(), o.begin(), o.end());
      got_float.insert(got_float.end(), f.begin(), f.end());
    }
    TINYCNN_REQUIRE_CLOSE(got, want, 1e-13);
    TINYCNN_REQUIRE_CLOSE(got_float, want, 1e-5);
  }
  // A one-hot filter picks one input pixel: the transforms must place every tap.
  for (int tap = 0; tap < R * R; ++tap) {
    INFO("tap " << tap);
    std::vector<double> g(R * R, 0.0);
    g[tap] = 1.0;
    const auto d = tinycnn::test::random_vector<double>(36, salt++);
    const auto got = winograd_block<R, double>(d, g, 1);
    TINYCNN_REQUIRE_CLOSE(got, direct_block<R>(d, g, 1), 1e-13);
  }
}
