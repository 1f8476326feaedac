// Tests the CPU seeded fills (kernels/cpu/random.hpp): bit-identical to the reference fills for any
// length (threaded or not), and different seeds give different values.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/cpu/random.hpp>
#include <tinycnn/kernels/reference/random.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "support/data.hpp"

namespace cpu = tinycnn::kernels::cpu;
namespace ref = tinycnn::kernels::reference;
namespace test = tinycnn::test;

namespace {
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
}  // namespace

TEMPLATE_TEST_CASE("cpu uniform_fill and normal_fill equal the reference bit for bit", "[cpu][kernels][random]",
                   float, double) {
  using T = TestType;
  TINYCNN_SEED_INFO();
  const std::uint64_t seed = test::test_seed();
  for (const std::int64_t n : {1, 3, 1000, 100003}) {
    INFO("n = " << n);
    auto u = test::poisoned_vector<T>(n), u_ref = u;
    ref::uniform_fill_reference(u_ref.data(), n, seed, T(-0.25), T(3));
    cpu::uniform_fill(u.data(), n, seed, T(-0.25), T(3));
    REQUIRE(same_bits(u, u_ref));
    std::int64_t outside = 0;
    for (T v : u) outside += v >= T(-0.25) && v < T(3) ? 0 : 1;
    REQUIRE(outside == 0);

    auto g = test::poisoned_vector<T>(n), g_ref = g;
    ref::normal_fill_reference(g_ref.data(), n, seed, T(0.5), T(2));
    cpu::normal_fill(g.data(), n, seed, T(0.5), T(2));
    REQUIRE(same_bits(g, g_ref));
  }
  std::vector<T> a(64), b(64);
  cpu::uniform_fill(a.data(), 64, seed, T(0), T(1));
  cpu::uniform_fill(b.data(), 64, seed + 1, T(0), T(1));
  CHECK(!same_bits(a, b));
}
