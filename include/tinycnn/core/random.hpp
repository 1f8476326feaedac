// Counter-based random numbers: element i of a fill is a pure function of (seed, i), so a seeded
// fill gives the same values on every device, thread count and launch configuration.
#pragma once

#include <cmath>
#include <cstdint>

#include "tinycnn/core/device.hpp"

namespace tinycnn::detail {

// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mix with full avalanche.
TINYCNN_HOST_DEVICE inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits: exact in float, identical on host and device.
TINYCNN_HOST_DEVICE inline float uniform01(std::uint64_t seed, std::uint64_t i) {
  const std::uint64_t h = mix64(mix64(seed) ^ (i * 0x9e3779b97f4a7c15ULL));
  return float(h >> 40) * (1.0f / 16777216.0f);
}

// Standard normal by Box-Muller on two uniforms drawn from the counter stream of element i.
// Evaluated in double so host and device round the same way before the final conversion.
TINYCNN_HOST_DEVICE inline double normal01(std::uint64_t seed, std::uint64_t i) {
  const double u1 = (double(uniform01(seed, 2 * i)) * 16777216.0 + 1.0) / 16777217.0;  // (0, 1]
  const double u2 = double(uniform01(seed, 2 * i + 1));
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

}  // namespace tinycnn::detail
