// The communicator the MPI tests share: MPI_COMM_WORLD, made once (after MpiSession in main).
#pragma once

#include "tinycnn/dist/mpi.hpp"

namespace tinycnn::test {

inline dist::MpiCommunicator& world() {
  static dist::MpiCommunicator comm;
  return comm;
}

}  // namespace tinycnn::test
