#!/usr/bin/env bash
# Make sure uv (the workspace's package manager) is on PATH; install it from PyPI if not.
set -euo pipefail
command -v uv >/dev/null 2>&1 && exit 0
echo "uv is missing: installing it from PyPI" >&2
python3 -m pip install --quiet "uv==0.13.9"
