#!/usr/bin/env bash
# Set up podpost on a fresh machine: system packages, a virtualenv with torch CPU and the
# package with its test extras. Safe to run again: each step skips what is already there.
# Python packages come in the versions pinned by constraints.txt (the ones the suite
# passed with; refresh it with scripts/lock.sh), so a new release elsewhere cannot change
# what this installs.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null || need_apt+=(espeak-ng)
command -v flite >/dev/null || need_apt+=(flite)
# llama-cpp-python (the model podpost runs when no endpoint is set) is source-only on PyPI
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(g++)
if [[ "${1:-}" == "--test" ]]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
  command -v npm >/dev/null || need_apt+=(npm)
  # a real woman's voice (/usr/share/sounds/alsa) for the diarization tests' joined interviews
  [[ -f /usr/share/sounds/alsa/Front_Left.wav ]] || need_apt+=(alsa-utils)
  # a real PostgreSQL server for the [state] url tests (tests/pg.py starts it on loopback)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
fi
# The site generators approve --site is tested against (Eleventy and Astro come from npm).
# Without recommends: Hugo's would pull in the Go toolchain.
need_sites=()
if [[ "${1:-}" == "--test" ]]; then
  command -v hugo >/dev/null || need_sites+=(hugo)
  command -v jekyll >/dev/null || need_sites+=(jekyll)
fi
if ((${#need_apt[@]} + ${#need_sites[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "error: install ${need_apt[*]} ${need_sites[*]} (apt-get install -y ${need_apt[*]} ${need_sites[*]}) or rerun as root" >&2
    exit 2
  fi
  apt-get update -qq
  if ((${#need_apt[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
  if ((${#need_sites[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${need_sites[@]}" >/dev/null
  fi
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
# The pinned torch is the CPU build; an unpinned one would pull gigabytes of CUDA wheels.
.venv/bin/python -c "import torch" 2>/dev/null ||
  .venv/bin/pip install -q -c constraints.txt torch==2.13.0
# The builtin diarizer's speaker encoder weights (pipeline/turns/ge2e.py reads only the
# file): --no-deps, since its declared webrtcvad would break webrtcvad-wheels' module.
.venv/bin/python -c "import importlib.util as u; assert u.find_spec('resemblyzer')" 2>/dev/null ||
  .venv/bin/pip install -q --no-deps -c constraints.txt resemblyzer==0.1.4
# llama-cpp-python, built before the package so that these flags, not pip's defaults, apply:
# a portable build (AVX2/FMA/F16C, not -march=native: the wheel pip caches must run on any
# x86-64 machine of the last ten years) of the library alone (no llava/mtmd, tools, tests,
# server or examples), which keeps the compile at ~140 files (BENCHMARKS.md: its time).
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF ${CMAKE_ARGS:-}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
    .venv/bin/pip install -q -c constraints.txt llama-cpp-python
fi
extras="${1:+[test]}"
.venv/bin/pip install -q -c constraints.txt -e ".${extras}"
