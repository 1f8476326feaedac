// The communicator the MPI tests share: MPI_COMM_WORLD, made once (after MpiSession in main), or
// a SingleProcess when TINYCNN_TEST_NO_MPI=1 (a machine without an MPI runtime to start one:
// the GPU machines).
#pragma once

#include <cstdlib>
#include <cstring>
#include <memory>

#include "tinycnn/dist/mpi.hpp"

namespace tinycnn::test {

inline bool mpi_disabled() {
  const char* v = std::getenv("TINYCNN_TEST_NO_MPI");
  return v && std::strcmp(v, "1") == 0;
}

inline dist::Communicator& world() {
  static std::unique_ptr<dist::Communicator> comm =
      mpi_disabled() ? std::unique_ptr<dist::Communicator>(std::make_unique<dist::SingleProcess>())
                     : std::unique_ptr<dist::Communicator>(std::make_unique<dist::MpiCommunicator>());
  return *comm;
}

}  // namespace tinycnn::test
