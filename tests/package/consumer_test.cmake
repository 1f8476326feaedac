# Builds examples/04_find_package_consumer the way a user would, then runs it.
#   MODE=find_package: install tinycnn from TINYCNN_BUILD into a fresh prefix, find_package it.
#   MODE=add_subdirectory: the consumer adds the tinycnn source tree directly.
# WITH_CUDA=ON also builds the consumer's CUDA program (linked to tinycnn::cuda).
cmake_minimum_required(VERSION 3.24)

set(dir ${WORK_DIR}/${MODE}_cuda_${WITH_CUDA})
file(REMOVE_RECURSE ${dir})
file(MAKE_DIRECTORY ${dir})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()

set(configure_args -S ${CONSUMER_SOURCE} -B ${dir}/build -DCMAKE_BUILD_TYPE=Release
    -DCONSUMER_WITH_CUDA=${WITH_CUDA})
if(WITH_CUDA)
  list(APPEND configure_args -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}
       -DCMAKE_CUDA_COMPILER=${CUDA_COMPILER})
endif()
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${TINYCNN_BUILD} --prefix ${dir}/prefix)
  if(NOT EXISTS ${dir}/prefix/include/tinycnn/tinycnn.hpp)
    message(FATAL_ERROR "install did not place include/tinycnn/tinycnn.hpp under ${dir}/prefix")
  endif()
  list(APPEND configure_args -DCMAKE_PREFIX_PATH=${dir}/prefix)
else()
  list(APPEND configure_args -DTINYCNN_SOURCE_DIR=${TINYCNN_SOURCE})
endif()

run(${CMAKE_COMMAND} ${configure_args})
run(${CMAKE_COMMAND} --build ${dir}/build -j 2)
run(${dir}/build/consumer_cpu)
if(WITH_CUDA)
  run(${dir}/build/consumer_cuda)
endif()
