#!/usr/bin/env bash
# Installs every Debian 12 package gpuslice needs to build, test, benchmark and fuzz.
#
# Idempotent and non-interactive: packages already present are left alone, and apt is only
# asked (and its lists only refreshed) when something is missing. Run as root or with sudo.
#
# Boost comes from libboost1.81-dev: 1.74's coroutines do not build with gcc 12, and the
# unversioned libboost-dev conflicts with it, so it must never be installed beside it.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  clang-14 libclang-rt-14-dev clang-format clang-tidy
  # libraries (DESIGN.md §9)
  libboost1.81-dev
  nlohmann-json3-dev
  libcli11-dev
  libfmt-dev libspdlog-dev
  libyaml-cpp-dev
  libsqlite3-dev sqlite3
  libexpected-dev
  libssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest
  libbenchmark-dev
  librapidcheck-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if dpkg-query -W -f='${Status}' libboost-dev 2>/dev/null | grep -q 'install ok installed'; then
  echo "install-deps: libboost-dev (1.74) is installed and conflicts with libboost1.81-dev;" >&2
  echo "install-deps: remove it first: apt-get remove libboost-dev" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
