// GEMM reference: C = alpha * op(A) * op(B) + beta * C, one dot product per output element.
// beta == 0 never reads C (BLAS convention), so C may hold garbage or NaN on entry.
#pragma once

#include <cstdint>

#include "tinycnn/kernels/problem.hpp"
#include "tinycnn/kernels/reference/accumulate.hpp"

namespace tinycnn::kernels::reference {

template <class T>
void gemm_reference(T* c, const T* a, const T* b, const GemmDesc& d, T alpha, T beta) {
  using Acc = Accumulator<T>;
  for (std::int64_t batch = 0; batch < d.batch; ++batch) {
    const T* A = a + batch * d.stride_a;
    const T* B = b + batch * d.stride_b;
    T* C = c + batch * d.stride_c;
    for (std::int64_t i = 0; i < d.m; ++i) {
      for (std::int64_t j = 0; j < d.n; ++j) {
        Acc acc = 0;
        for (std::int64_t l = 0; l < d.k; ++l) {
          const T av = d.trans_a ? A[l * d.lda + i] : A[i * d.lda + l];
          const T bv = d.trans_b ? B[j * d.ldb + l] : B[l * d.ldb + j];
          acc += Acc(av) * Acc(bv);
        }
        T& out = C[i * d.ldc + j];
        out = beta == T(0) ? T(Acc(alpha) * acc) : T(Acc(alpha) * acc + Acc(beta) * Acc(out));
      }
    }
  }
}

}  // namespace tinycnn::kernels::reference
