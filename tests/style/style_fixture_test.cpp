// Style transfer on the CPU against PyTorch: losses, image gradient, Adam and L-BFGS steps.
#include "style/style_fixture_check.hpp"

TEST_CASE("style transfer matches PyTorch (double)", "[style][cpu][fixture]") {
  tinycnn::test::check_style_fixture<double, tinycnn::cpu>(1e-10);
}

TEST_CASE("style transfer matches PyTorch (float)", "[style][cpu][fixture]") {
  tinycnn::test::check_style_fixture<float, tinycnn::cpu>(2e-4);
}
