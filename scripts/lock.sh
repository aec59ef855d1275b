#!/usr/bin/env bash
# Refresh constraints.txt: the exact version of every package in the virtualenv the suite
# just passed in, so that `scripts/setup.sh` installs those versions and no newer ones.
#
#   scripts/setup.sh --test && .venv/bin/python -m pytest && scripts/lock.sh [PYTHON]
#
# PYTHON defaults to .venv/bin/python. Not a resolver run: it records what was tested.
# Left out: podpost itself, and pip/setuptools/wheel (the virtualenv's own bootstrap).
# Local version labels are dropped (torch 2.13.0+cpu -> torch==2.13.0): a constraint
# without one matches any build of that version, and setup.sh picks the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-.venv/bin/python}"
"$python" - > constraints.txt.tmp <<'PY'
import importlib.metadata as md
import re
import sys

SKIP = {"podpost", "pip", "setuptools", "wheel"}
pins = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key not in SKIP:
        pins[key] = dist.version.split("+")[0]
print("# The versions the test suite passed with; refresh with scripts/lock.sh.")
print("# scripts/setup.sh installs with `pip install -c constraints.txt`.")
print(f"# Python {sys.version_info.major}.{sys.version_info.minor}, {len(pins)} packages.")
for key in sorted(pins):
    print(f"{key}=={pins[key]}")
PY
mv constraints.txt.tmp constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages pinned" >&2
