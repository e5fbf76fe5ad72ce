#!/usr/bin/env bash
# Installs the Python package (python/, import name `mnemo`) into a virtual environment, .venv by
# default (first argument to choose another): builds the C library with meson if needed, creates the
# environment with Debian's /usr/bin/python3 and --system-site-packages (so it uses Debian's cffi,
# numpy and pytest: nothing is downloaded), then pip-installs the package, whose extension links the
# build's static libmnemo.a. Run it again after changing the C library.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
venv=${1:-.venv}
build=${MNEMO_BUILD_DIR:-build}
[ -f "$build/build.ninja" ] || meson setup "$build" >/dev/null
ninja -C "$build" -j2 >/dev/null
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv --system-site-packages "$venv"
MNEMO_BUILD_DIR="$(cd "$build" && pwd)" "$venv/bin/python" -m pip install -q --no-deps \
  --no-build-isolation --no-index --force-reinstall ./python
"$venv/bin/python" -c 'import mnemo; print("mnemo", mnemo.__version__, "installed in '"$venv"'")'
