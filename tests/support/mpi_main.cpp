// The Catch2 main of the MPI tests (tinycnn_mpi_tests), run by ctest under mpirun with 1, 2 and 3
// ranks: every rank runs every test case, the collectives in them pair up across ranks, and the
// run fails when any rank has a failure. TINYCNN_TEST_NO_MPI=1 runs them as one process without
// starting MPI (see mpi_world.hpp).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <memory>

#include "support/mpi_world.hpp"

int main(int argc, char** argv) {
  if (tinycnn::test::mpi_disabled()) return Catch::Session().run(argc, argv) ? 1 : 0;
  tinycnn::dist::MpiSession mpi(argc, argv);
  const int failures = Catch::Session().run(argc, argv);
  int worst = 0;
  MPI_Allreduce(&failures, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return worst ? 1 : 0;
}
