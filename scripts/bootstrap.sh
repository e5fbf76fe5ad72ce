#!/usr/bin/env bash
# Installs the Debian packages mnemo needs to build, test and benchmark.
# Idempotent: silent when everything is already installed.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build
  librocksdb-dev liblmdb-dev libhnswlib-dev libopenblas-dev libjansson-dev libpcre2-dev
  libunistring-dev libstemmer-dev
  libcurl4-openssl-dev etcd-server etcd-client
  libcriterion-dev libsqlite3-dev
  doxygen
  python3-dev python3-cffi python3-numpy python3-pytest python3-venv python3-setuptools python3-wheel
  clang
  abigail-tools
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bootstrap: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -qq >/dev/null && \
       $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "bootstrap: apt-get could not install: ${missing[*]} (check network access to the Debian mirror)" >&2
  exit 1
fi
