#!/usr/bin/env bash
# Prints the directories of the GPU machine's own cuBLAS and cuDNN (the benchmarks' peers, too
# large to carry in .gpu/), from the CUDA Toolkit or PyTorch's NVIDIA wheels, joined by ':'.
{ ls -d /usr/local/cuda/lib64 2>/dev/null
  site=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null) &&
    find "$site" \( -name 'libcublas.so.13*' -o -name 'libcudnn.so.9*' \) -printf '%h\n'; } |
  sort -u | paste -sd:
