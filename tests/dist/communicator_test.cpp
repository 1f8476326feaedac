// Communicators under mpirun (1, 2 and 3 ranks): sums, non-blocking sums, broadcasts and
// point-to-point exchanges give what a single process computes from every rank's data, and
// misuse is an Error naming the problem. block_range deals rows out as documented.
#include <catch2/catch.hpp>

#include <numeric>
#include <vector>

#include "support/mpi_world.hpp"
#include "tinycnn/dist/communicator.hpp"

using namespace tinycnn;
using dist::block_range;

namespace {

// Rank r's contribution to element i: distinct per rank and element, exact in float.
double value(int rank, std::size_t i) { return double(rank + 1) * 0.5 + double(i % 97); }

}  // namespace

TEST_CASE("block_range deals rows out evenly, the first ranks taking the remainder", "[dist]") {
  CHECK(block_range(10, 0, 3) == dist::Range{0, 4});
  CHECK(block_range(10, 1, 3) == dist::Range{4, 7});
  CHECK(block_range(10, 2, 3) == dist::Range{7, 10});
  CHECK(block_range(2, 2, 3).size() == 0);
  for (int size = 1; size <= 8; ++size) {
    std::int64_t next = 0;
    for (int r = 0; r < size; ++r) {
      const auto range = block_range(37, r, size);
      CHECK(range.begin == next);
      CHECK((range.size() == 37 / size || range.size() == 37 / size + 1));
      next = range.end;
    }
    CHECK(next == 37);
  }
  CHECK_THROWS_WITH(block_range(10, 3, 3), Catch::Contains("part 3 of 3 does not exist"));
}

TEST_CASE("all_reduce_sum sums float and double tensors over the ranks", "[dist]") {
  auto& comm = test::world();
  const int n = comm.size();
  for (std::size_t count : {std::size_t(1), std::size_t(1000), std::size_t(123457)}) {
    Tensor<float> f({std::int64_t(count)});
    Tensor<double> d({std::int64_t(count)});
    for (std::size_t i = 0; i < count; ++i) {
      f.data()[i] = float(value(comm.rank(), i));
      d.data()[i] = value(comm.rank(), i) / 3.0;
    }
    comm.all_reduce_sum(f);
    comm.all_reduce_sum(d);
    std::size_t bad_f = 0, bad_d = 0;
    for (std::size_t i = 0; i < count; ++i) {
      double expect = 0;
      for (int r = 0; r < n; ++r) expect += value(r, i);
      bad_f += f.data()[i] != float(expect);
      bad_d += std::abs(d.data()[i] - expect / 3.0) > 1e-12 * std::abs(expect);
    }
    CHECK(bad_f == 0);
    CHECK(bad_d == 0);
  }
  CHECK(comm.all_reduce_sum(double(comm.rank() + 1)) == double(n * (n + 1) / 2));
}

TEST_CASE("all_reduce_sum_start overlaps several sums and completes them on wait", "[dist]") {
  auto& comm = test::world();
  std::vector<Tensor<float>> buckets;
  std::vector<std::unique_ptr<dist::Pending>> pending;
  for (int b = 0; b < 4; ++b) {
    buckets.emplace_back(Shape{1000 * (b + 1)});
    buckets.back().fill(float(comm.rank() + b));
    pending.push_back(comm.all_reduce_sum_start(dist::buffer(buckets.back())));
  }
  for (auto& p : pending) (void)p->test();  // progress, in any state
  for (auto& p : pending) p->wait();
  for (auto& p : pending) CHECK(p->test());
  const int n = comm.size();
  for (int b = 0; b < 4; ++b) {
    const float expect = float(n * (n - 1) / 2 + n * b);
    const auto v = buckets[std::size_t(b)].to_vector();
    CHECK(std::count(v.begin(), v.end(), expect) == std::ptrdiff_t(v.size()));
  }
}

TEST_CASE("broadcast copies the root's tensor to every rank", "[dist]") {
  auto& comm = test::world();
  for (int root = 0; root < comm.size(); ++root) {
    Tensor<double> t({3, 5});
    t.fill(comm.rank() == root ? 2.5 + root : -1.0);
    comm.broadcast(t, root);
    const auto v = t.to_vector();
    CHECK(std::count(v.begin(), v.end(), 2.5 + root) == 15);
  }
  Tensor<float> t({2});
  CHECK_THROWS_WITH(comm.broadcast(t, comm.size()), Catch::Contains("root") &&
                                                        Catch::Contains("is not a rank"));
}

TEST_CASE("exchange passes rows around a ring in both directions at once", "[dist]") {
  auto& comm = test::world();
  const int n = comm.size(), r = comm.rank();
  if (n == 1) {
    Tensor<float> t({4});
    const dist::Transfer self{0, dist::buffer(t)};
    CHECK_THROWS_WITH(comm.exchange({&self, 1}, {}), Catch::Contains("peer 0 is not another rank"));
    return;
  }
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  Tensor<float> to_next({100}), to_prev({50}), from_prev({100}), from_next({50});
  to_next.fill(float(r * 10 + 1));
  to_prev.fill(float(r * 10 + 2));
  std::vector<dist::Transfer> sends{{next, dist::buffer(to_next)}};
  std::vector<dist::Transfer> recvs{{prev, dist::buffer(from_prev)}};
  if (n > 2) {  // with 2 ranks next is prev: one message each way
    sends.push_back({prev, dist::buffer(to_prev)});
    recvs.push_back({next, dist::buffer(from_next)});
  } else {
    const std::vector<dist::Transfer> twice{{next, dist::buffer(to_next)}, {prev, dist::buffer(to_prev)}};
    CHECK_THROWS_WITH(comm.exchange(twice, {}), Catch::Contains("two messages for peer"));
  }
  comm.exchange(sends, recvs);
  const auto a = from_prev.to_vector(), b = from_next.to_vector();
  CHECK(std::count(a.begin(), a.end(), float(prev * 10 + 1)) == 100);
  if (n > 2) CHECK(std::count(b.begin(), b.end(), float(next * 10 + 2)) == 50);
}

TEST_CASE("SingleProcess is rank 0 of 1 and leaves data unchanged", "[dist]") {
  dist::SingleProcess one;
  CHECK(one.rank() == 0);
  CHECK(one.size() == 1);
  Tensor<float> t({3});
  t.fill(1.5f);
  one.all_reduce_sum(t);
  one.all_reduce_sum_start(dist::buffer(t))->wait();
  one.broadcast(t, 0);
  const auto v = t.to_vector();
  CHECK(std::count(v.begin(), v.end(), 1.5f) == 3);
  CHECK(one.all_reduce_sum(2.0) == 2.0);
  const dist::Transfer t1{1, dist::buffer(t)};
  CHECK_THROWS_WITH(one.exchange({&t1, 1}, {}), Catch::Contains("single exchange (send): peer 1"));
}
