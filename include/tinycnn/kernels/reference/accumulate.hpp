// The accumulator type of the reference kernels: double for any floating T, so the oracle carries
// more precision than the kernels it checks.
#pragma once

#include <type_traits>

namespace tinycnn::kernels::reference {

template <class T>
using Accumulator = std::conditional_t<std::is_floating_point_v<T>, double, T>;

}  // namespace tinycnn::kernels::reference
