// The F(4x4, 3x3) transforms (kernels/winograd.hpp) that the CUDA Winograd convolution runs: for
// blocks summed over channels in the transformed domain, A^T [sum_c (G g G^T) .* (B^T d B)] A must
// equal the direct 3x3 correlation, to rounding in double and within the fp32 tolerance in float.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/winograd.hpp>

#include <cstdint>
#include <vector>

#include "support/compare.hpp"
#include "support/data.hpp"

namespace wg = tinycnn::kernels::winograd;

namespace {

// out (4x4) of the 6x6 blocks d and 3x3 filters g of `channels` channels, via the transforms.
template <class T>
std::vector<T> winograd_block(const std::vector<double>& d, const std::vector<double>& g,
                              int channels) {
  T m[36] = {};
  for (int c = 0; c < channels; ++c) {
    T dc[36], gc[9], v[36], u[36];
    for (int i = 0; i < 36; ++i) dc[i] = T(d[c * 36 + i]);
    for (int i = 0; i < 9; ++i) gc[i] = T(g[c * 9 + i]);
    wg::input_2d(dc, v);
    wg::filter_2d(gc, u);
    for (int e = 0; e < 36; ++e) m[e] += u[e] * v[e];
  }
  T y[16];
  wg::output_2d(m, y);
  return std::vector<T>(y, y + 16);
}

std::vector<double> direct_block(const std::vector<double>& d, const std::vector<double>& g,
                                 int channels) {
  std::vector<double> y(16, 0.0);
  for (int c = 0; c < channels; ++c)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j)
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s)
            y[i * 4 + j] += d[c * 36 + (i + r) * 6 + j + s] * g[c * 9 + r * 3 + s];
  return y;
}

}  // namespace

TEST_CASE("winograd F(4x4, 3x3) transforms compute the 3x3 correlation", "[kernels][winograd]") {
  TINYCNN_SEED_INFO();
  std::uint64_t salt = 1;
  for (const int channels : {1, 3, 64, 512}) {
    INFO("channels " << channels);
    const auto d = tinycnn::test::random_vector<double>(36 * channels, salt++);
    const auto g = tinycnn::test::random_vector<double>(9 * channels, salt++);
    const auto want = direct_block(d, g, channels);
    TINYCNN_REQUIRE_CLOSE(winograd_block<double>(d, g, channels), want, 1e-13);
    // fp32: F(4x4, 3x3) rounds more than a direct sum (about 1e-6 of the result at 512 channels
    // against 3e-7), still within the fp32 kernels' tolerance.
    TINYCNN_REQUIRE_CLOSE(winograd_block<float>(d, g, channels), want, 1e-5);
  }
  // A one-hot filter picks one input pixel: the transforms must place every tap.
  for (int tap = 0; tap < 9; ++tap) {
    INFO("tap " << tap);
    std::vector<double> g(9, 0.0);
    g[tap] = 1.0;
    const auto d = tinycnn::test::random_vector<double>(36, salt++);
    TINYCNN_REQUIRE_CLOSE(winograd_block<double>(d, g, 1), direct_block(d, g, 1), 1e-14);
  }
}
