// Test inputs: fresh random values for every check (seeded per case, reported on failure), and NaN
// poison for outputs so that unwritten elements show.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace tinycnn::test {

// A seed that differs between runs unless TINYCNN_TEST_SEED is set; printed with any failure.
inline std::uint64_t test_seed() {
  static const std::uint64_t seed = [] {
    if (const char* s = std::getenv("TINYCNN_TEST_SEED")) return std::uint64_t(std::strtoull(s, nullptr, 10));
    return std::uint64_t(std::random_device{}()) << 32 | std::random_device{}();
  }();
  return seed;
}

template <class T>
std::vector<T> random_vector(std::int64_t n, std::uint64_t salt, double lo = -1.0, double hi = 1.0) {
  std::mt19937_64 rng(test_seed() ^ (salt * 0x9e3779b97f4a7c15ULL));
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = T(dist(rng));
  return v;
}

template <class T>
std::vector<T> poisoned_vector(std::int64_t n) {
  return std::vector<T>(static_cast<std::size_t>(n), std::numeric_limits<T>::quiet_NaN());
}

template <class To, class From>
std::vector<To> convert(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

}  // namespace tinycnn::test

// Report the seed of the random inputs with every failure in the enclosing scope.
#define TINYCNN_SEED_INFO() INFO("TINYCNN_TEST_SEED=" << ::tinycnn::test::test_seed())
