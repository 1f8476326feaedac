// The model and the states that tests/support/checkpoint_writer_main.cpp saves and
// tests/io/checkpoint_kill_test.cpp checks: save k holds every parameter equal to k.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <tinycnn/nn/sequential.hpp>

namespace tinycnn::test {

// About 4.2 MB of float32 parameters: large enough that a write takes a few milliseconds, so that
// kills land inside it.
inline nn::Sequential<float> checkpoint_writer_model() {
  nn::Sequential<float> net(1);
  net.add("fc1", nn::Linear(1024, 768)).add("fc2", nn::Linear(768, 256));
  return net;
}

// State k: every parameter equals k (exact in float up to 2^24).
inline void set_checkpoint_writer_state(nn::Sequential<float>& net, std::int64_t k) {
  for (auto& [name, t] : net.state()) t->fill(float(k));
}

// The metadata value naming state k; fixed width, so every checkpoint has the same size.
inline std::string checkpoint_writer_counter(std::int64_t k) {
  char text[24];
  std::snprintf(text, sizeof text, "%012lld", static_cast<long long>(k));
  return text;
}

}  // namespace tinycnn::test
