// One style-transfer evaluation and a few Adam and L-BFGS steps against PyTorch
// (tools/make_style_fixture.py, float64), for any T and device: included by the CPU and CUDA tests.
#pragma once

#include <catch2/catch.hpp>

#include <vector>

#include "support/compare.hpp"
#include "support/style_net.hpp"

namespace tinycnn::test {

template <class T>
std::vector<double> host_values(const Tensor<T, cpu>& t) {
  return std::vector<double>(t.data(), t.data() + t.numel());
}

template <class T, Device D>
void check_style_fixture(double tol) {
  const auto& fx = style_fixture();
  auto input = [&](const char* name) { return fx.tensor<T>(name).template to<D>(); };
  auto expect = [&](const char* name) { return host_values(fx.tensor<double>(name)); };

  for (auto opt : {style::Optimizer::kAdam, style::Optimizer::kLbfgs}) {
    auto net = style_test_net<T, D>();
    load_style_fixture_weights(net);
    style::StyleTransfer<T, D> st(net, style_test_options(opt));
    st.set_content(input("content"));
    st.set_style(input("style"));
    auto image = input("image");
    if (opt == style::Optimizer::kAdam) {
      Tensor<T, D> grad;
      const auto l = st.evaluate(image, &grad);
      TINYCNN_REQUIRE_CLOSE(std::vector<double>{l.content}, expect("loss_content"), tol);
      TINYCNN_REQUIRE_CLOSE(std::vector<double>{l.style}, expect("loss_style"), tol);
      TINYCNN_REQUIRE_CLOSE(std::vector<double>{l.tv}, expect("loss_tv"), tol);
      TINYCNN_REQUIRE_CLOSE(host_values(grad.template to<cpu>()), expect("grad"), tol);
      for (int i = 0; i < 3; ++i) st.step(image);
      TINYCNN_REQUIRE_CLOSE(host_values(image.template to<cpu>()), expect("image_adam3"), tol);
    } else {
      for (int i = 0; i < 4; ++i) st.step(image);
      TINYCNN_REQUIRE_CLOSE(host_values(image.template to<cpu>()), expect("image_lbfgs4"), tol);
    }
  }
}

}  // namespace tinycnn::test
