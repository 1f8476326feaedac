// Gradient checks in double: central finite differences of a scalar loss, compared with an analytic
// gradient by the suite's one rule (compare.hpp) at kGradcheckTolerance.
//
// To check the backward pass of y = f(x) for an upstream gradient dy, differentiate the scalar
// loss L(x) = <dy, f(x)> (test::dot below): its gradient is exactly what backward(dy) returns.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "support/compare.hpp"

namespace tinycnn::test {

// Central differences in double have truncation error O(eps^2 f''') and rounding error
// O(|L| 1e-16 / eps); with eps = 1e-6 both sit far below this relative tolerance.
inline constexpr double kGradcheckTolerance = 1e-6;

// dL/dx_i ≈ (f(x + h e_i) - f(x - h e_i)) / (2h) with h = eps * max(1, |x_i|), for every i.
// f reads x (by reference or by capture) and returns the loss as double; x is perturbed one element
// at a time and restored bit for bit before returning. Costs 2 * x.size() calls of f.
template <class F>
std::vector<double> numerical_gradient(F&& f, std::vector<double>& x, double eps = 1e-6) {
  std::vector<double> grad(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double xi = x[i];
    const double h = eps * std::max(1.0, std::fabs(xi));
    const double xp = xi + h, xm = xi - h;  // the step actually taken, after rounding
    x[i] = xp;
    const double fp = double(f());
    x[i] = xm;
    const double fm = double(f());
    x[i] = xi;
    grad[i] = (fp - fm) / (xp - xm);
  }
  return grad;
}

// <a, b>, accumulated in double.
template <class A, class B>
double dot(const std::vector<A>& a, const std::vector<B>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}

}  // namespace tinycnn::test

// REQUIRE that `analytic` (a container of double) matches the central-difference gradient of the
// loss `f` (a callable returning double) with respect to `x` (a std::vector<double> that f reads).
#define TINYCNN_REQUIRE_GRADIENT(analytic, f, x)                                                  \
  do {                                                                                            \
    const std::vector<double> tinycnn_numerical_ = ::tinycnn::test::numerical_gradient((f), (x)); \
    TINYCNN_REQUIRE_CLOSE((analytic), tinycnn_numerical_, ::tinycnn::test::kGradcheckTolerance);  \
  } while (0)
