// Tensor<T, cpu>: shapes, construction, copies, fills, reshape, bounds and bad input.
#include <catch2/catch.hpp>

#include <tinycnn/tinycnn.hpp>

#include <type_traits>

using tinycnn::cpu;
using tinycnn::Shape;
using tinycnn::Tensor;

TEST_CASE("Tensor: shape, rank, numel and zero fill", "[core][tensor]") {
  Tensor<float, cpu> t({2, 3, 4, 5});
  CHECK(t.rank() == 4);
  CHECK(t.numel() == 120);
  CHECK(t.shape() == Shape{2, 3, 4, 5});
  CHECK(t.dim(0) == 2);
  CHECK(t.dim(-1) == 5);
  CHECK(t.bytes() == 120 * sizeof(float));
  for (std::int64_t i = 0; i < t.numel(); ++i) REQUIRE(t.data()[i] == 0.0f);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
}

TEST_CASE("Tensor: construction from host values", "[core][tensor]") {
  Tensor<double, cpu> t({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(t.at(0, 0) == 1);
  CHECK(t.at(1, 2) == 6);
  CHECK(t.at(1, 0) == 4);
  CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
  REQUIRE_THROWS_AS((Tensor<float, cpu>({2, 2}, {1, 2, 3})), tinycnn::Error);
  REQUIRE_THROWS_WITH((Tensor<float, cpu>({2, 2}, {1, 2, 3})),
                      Catch::Contains("[2, 2]") && Catch::Contains("3 values"));
}

TEST_CASE("Tensor: clone is deep, moves leave an empty tensor", "[core][tensor]") {
  Tensor<float> a({3}, {1, 2, 3});
  Tensor<float> b = a.clone();
  b.at(0) = 9;
  CHECK(a.at(0) == 1);
  Tensor<float> c = std::move(a);
  CHECK(c.numel() == 3);
  CHECK(a.numel() == 0);  // NOLINT: moved-from state is specified
  CHECK(a.data() == nullptr);
  a = std::move(c);
  CHECK(a.at(2) == 3);
  static_assert(!std::is_copy_constructible_v<Tensor<float>>);
  static_assert(std::is_nothrow_move_constructible_v<Tensor<float>>);
}

TEST_CASE("Tensor: fill, full, item, reshape", "[core][tensor]") {
  auto t = Tensor<float>::full({4, 2}, 2.5f);
  for (float v : t.to_vector()) REQUIRE(v == 2.5f);
  t.fill(-1);
  CHECK(t.at(3, 1) == -1);
  t.reshape({2, 2, 2});
  CHECK(t.shape() == Shape{2, 2, 2});
  REQUIRE_THROWS_WITH(t.reshape({3, 3}), Catch::Contains("[2, 2, 2]") && Catch::Contains("[3, 3]"));
  CHECK(Tensor<int>({1}, {7}).item() == 7);
  REQUIRE_THROWS_AS(t.item(), tinycnn::Error);
}

TEST_CASE("Tensor: zero-size tensors", "[core][tensor]") {
  Tensor<float> t({0, 3});
  CHECK(t.numel() == 0);
  CHECK(t.empty());
  CHECK(t.data() == nullptr);
  auto c = t.clone();
  CHECK(c.shape() == Shape{0, 3});
  t.fill(1);
  CHECK(t.to_vector().empty());
  Tensor<float> d;
  CHECK(d.shape() == Shape{0});
  REQUIRE_THROWS_AS(t.at(0, 0), tinycnn::Error);
}

TEST_CASE("Tensor: out-of-range access and bad shapes throw tinycnn::Error", "[core][tensor]") {
  Tensor<float> t({2, 3});
  REQUIRE_THROWS_WITH(t.at(2, 0), Catch::Contains("index 2 out of range for dimension 0 of size 2"));
  REQUIRE_THROWS_WITH(t.at(0, -1), Catch::Contains("index -1"));
  REQUIRE_THROWS_WITH(t.at(0), Catch::Contains("1 indices given for a tensor of rank 2"));
  REQUIRE_THROWS_AS(t.dim(2), tinycnn::Error);
  REQUIRE_THROWS_WITH((Tensor<float>({2, -3})), Catch::Contains("dimension 1 is -3"));
  REQUIRE_THROWS_WITH((Shape{1, 2, 3, 4, 5, 6, 7, 8, 9}), Catch::Contains("rank 9"));
  REQUIRE_THROWS_WITH((Shape{1LL << 40, 1LL << 40}), Catch::Contains("overflows"));
}

TEST_CASE("Tensor: a size the host cannot allocate is an error, not a crash", "[core][tensor]") {
  REQUIRE_THROWS_AS((Tensor<float>({1LL << 28, 1LL << 30})), tinycnn::Error);
}

TEST_CASE("Tensor: printing shows device, shape and leading values", "[core][tensor]") {
  std::ostringstream os;
  os << Tensor<float>({2, 2}, {1, 2, 3, 4});
  CHECK(os.str() == "Tensor<cpu> shape [2, 2] [1, 2, 3, 4]");
}

TEST_CASE("version header matches the CMake project version", "[core]") {
  CHECK(std::string(TINYCNN_VERSION_STRING) == "0.1.0");
}
