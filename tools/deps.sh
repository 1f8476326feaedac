#!/usr/bin/env bash
# Installs the Debian packages tinycnn's build, tests and benchmarks need, only those missing.
#   tools/deps.sh [--with-python]   (--with-python adds PyTorch and protobuf, for fixture scripts
#                                    and the CPU peer benchmarks)
set -euo pipefail
packages=(build-essential cmake catch2 zlib1g-dev libbenchmark-dev libopenblas-dev libstb-dev
          nlohmann-json3-dev dataset-fashion-mnist python-matplotlib-data libopenmpi-dev openmpi-bin)
if [ "${1:-}" = "--with-python" ]; then
  packages+=(python3-torch python3-numpy python3-protobuf protobuf-compiler python3-matplotlib)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tinycnn: installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
