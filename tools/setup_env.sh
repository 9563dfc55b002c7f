#!/usr/bin/env bash
# Create (or update) the virtual environment `.venv/` at the repository root with the pinned,
# tested stack from requirements/constraints.txt, then install mmmobileone into it (editable).
#
# Idempotent: a second run finds everything satisfied (pip reuses the mmcv wheel it built and
# cached the first time) and takes about a minute.
#
# Environment variables:
#   PYTHON    interpreter used to create the venv (default: python3)
#   MAX_JOBS  parallel compile jobs for mmcv's C++ ops (default: number of cores)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
constraints="$root/requirements/constraints.txt"

log() { printf '[setup_env %(%H:%M:%S)T] %s\n' -1 "$*"; }

if [ ! -x .venv/bin/python ]; then
  log "creating virtual environment .venv/ with ${PYTHON:-python3}"
  "${PYTHON:-python3}" -m venv .venv
fi
py="$root/.venv/bin/python"
pip_install() { "$py" -m pip install --disable-pip-version-check -q -c "$constraints" "$@"; }

log "build tools and torch (regular registry builds; they run on CPU too)"
pip_install pip
pip_install setuptools wheel ninja numpy torch torchvision

# mmcv 2.1.0 has no wheel for this torch: build it from the sdist with its C++ ops. pip caches
# the built wheel, so later runs on the same machine skip the ~15 minute compile.
if "$py" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '2.1.0')" 2>/dev/null; then
  log "mmcv 2.1.0 with ops already installed"
else
  log "installing mmcv 2.1.0 with ops (compiles from source the first time: ~15-17 min on 2 cores)"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" pip_install --no-build-isolation mmcv
fi

log "OpenMMLab libraries, test tools, deployment runtimes and mmmobileone (editable)"
pip_install -r requirements/runtime.txt -r requirements/tests.txt -r requirements/deploy.txt
pip_install --no-build-isolation --no-deps -e .
"$py" -c "import mmmobileone, mmcv, mmdet, mmseg, mmpretrain, torch; print('mmmobileone', mmmobileone.__version__, '| torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmseg', mmseg.__version__, '| mmpretrain', mmpretrain.__version__)"
log "done: activate with 'source .venv/bin/activate'"
