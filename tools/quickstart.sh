#!/usr/bin/env bash
# The README's first command: set up .venv (tools/setup_env.sh), then run the quickstart
# (tools/quickstart.py: synthetic COCO-format data -> train SSDLite-MobileOne on CPU -> test ->
# fuse -> demo pictures). Arguments are passed on to tools/quickstart.py, e.g. --epochs 4.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tools/setup_env.sh
exec .venv/bin/python tools/quickstart.py "$@"
