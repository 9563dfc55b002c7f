"""A wheel built from this checkout, installed into a fresh venv, used from outside the repository.

The venv gets the pinned stack without reinstalling it: a ``.pth`` file puts the suite's own
site-packages on its path (a plain path entry, so the editable install's import hook there is
not run), and the wheel is installed with ``--no-deps``; ``mmmobileone`` then imports from the
wheel. Everything runs offline: the weights come from a server on 127.0.0.1.
"""
import functools
import hashlib
import http.server
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig
import threading

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

CLASSES = ('umbrella', 'sports ball', 'pizza', 'book')
#: ``--cfg-options`` that shrink the quickstart to one epoch of two iterations.
SHRINK = ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
          'default_hooks.checkpoint.interval=1',
          *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
            for key in ('batch_size=4', 'num_workers=0', 'persistent_workers=False'))]
QUICKSTART = 'ssdlite_mobileone_mu1_synthetic.py'


def _source_files() -> list:
    """The checkout's files as git sees them (tracked and new, not ignored), that exist."""
    listed = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split('\0')
    return [path for path in listed if path and osp.isfile(osp.join(ROOT, path))]


def _run(args, cwd, env, timeout=600) -> str:
    """Run ``args``, assert it succeeds; returns its stdout (mmengine logs there too)."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (f'{args} exited {result.returncode}:\n'
                                    f'{(result.stdout + result.stderr)[-4000:]}')
    return result.stdout


@pytest.fixture(scope='module')
def wheel_venv(tmp_path_factory):
    """(venv python, its site-packages, a work folder outside the repository, environment)."""
    root = tmp_path_factory.mktemp('wheel')
    source, dist, venv = root / 'source', root / 'dist', root / 'venv'
    for path in _source_files():  # build from a copy: no build/ or egg-info in the checkout
        os.makedirs(osp.dirname(source / path), exist_ok=True)
        shutil.copy2(osp.join(ROOT, path), source / path)
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'PIP_REQUIRE_VIRTUALENV')}
    env.update(OMP_NUM_THREADS='1', PIP_NO_INDEX='1', PIP_DISABLE_PIP_VERSION_CHECK='1')
    pip = [sys.executable, '-m', 'pip']
    _run([*pip, 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(dist),
          str(source)], root, env)
    wheel, = dist.glob('mmmobileone-*.whl')
    _run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], root, env)
    python = str(venv / 'bin' / 'python')
    site = _run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                root, env).strip()
    with open(osp.join(site, '_mmmobileone_stack.pth'), 'w') as file:
        file.write(sysconfig.get_paths()['purelib'] + '\n')
    _run([*pip, '--python', python, 'install', '--no-deps', '-q', str(wheel)], root, env)
    work = root / 'work'
    work.mkdir()
    return python, site, str(work), env


def test_the_wheel_is_what_imports_and_carries_the_zoo(wheel_venv):
    python, site, work, env = wheel_venv
    out = _run([python, '-c', 'import mmmobileone; from mmmobileone.apis import model_zoo; '
                'print(mmmobileone.__file__); print(model_zoo.zoo_root())'], work, env)
    package = osp.join(site, 'mmmobileone')
    assert out.split()[-2:] == [osp.join(package, '__init__.py'), osp.join(package, '.mim')]
    for item in ('model-index.yml', 'configs/metafiles/ssdlite.yml', 'tools/train.py',
                 f'configs/quickstart/{QUICKSTART}', 'configs/_base_/mobileone_pretrained.py'):
        assert osp.isfile(osp.join(package, '.mim', item)), item
    found = _run([python, '-m', 'mim', 'search', 'mmmobileone'], work, env)
    assert 'config id: ssdlite_mobileone-s2_coco' in found
    assert 'config id: mobileone-s0_imagenet' in found


def test_mmengine_and_our_resolver_find_the_installed_configs(wheel_venv):
    python, site, work, env = wheel_venv
    out = _run([python, '-c', '\n'.join([
        'from mmengine.hub import get_config',
        'from mmmobileone.apis import model_zoo',
        'model_zoo.register_with_mmengine()',
        f"print(get_config('mmmobileone::quickstart/{QUICKSTART}').filename)",
        "print(model_zoo.resolve_config('ssdlite_mobileone-s2_coco'))",
        'try:',  # mmengine 0.10.7 wants a folder in the name (see model_zoo)
        "    get_config('mmmobileone::ssdlite_mobileone_s2_coco.py')",
        'except ValueError:',
        "    print('refused by mmengine')"])], work, env)
    configs = osp.join(site, 'mmmobileone', '.mim', 'configs')
    lines = out.strip().splitlines()
    assert osp.join(configs, 'quickstart', QUICKSTART) in lines
    assert osp.join(configs, 'ssdlite_mobileone_s2_coco.py') in lines
    assert lines[-1] == 'refused by mmengine'


def test_mim_train_test_and_the_demo_by_name(wheel_venv):
    python, site, work, env = wheel_venv
    _run([python, '-c', 'from mmmobileone.datasets.synthetic import generate_coco; '
          f"generate_coco('data/coco_synthetic', 8, 4, image_size=(128, 128), classes={CLASSES})"],
         work, env)
    mim = [python, '-m', 'mim']
    out = _run([*mim, 'train', 'mmmobileone', QUICKSTART, '--work-dir', 'run', '--cfg-options',
                *SHRINK], work, env)
    mim_dir = osp.join(site, 'mmmobileone', '.mim')
    assert f"{osp.join(mim_dir, 'tools', 'train.py')} {osp.join(mim_dir, 'configs')}" in out
    assert osp.isfile(osp.join(work, 'run', 'epoch_1.pth'))
    out = _run([*mim, 'test', 'mmmobileone', QUICKSTART, '--checkpoint', 'run/epoch_1.pth',
                '--cfg-options', *SHRINK], work, env)
    assert 'bbox_mAP_copypaste' in out
    _run([python, osp.join(mim_dir, 'tools', 'image_demo.py'), 'data/coco_synthetic/val2017',
          'ssdlite_mobileone-mu1_synthetic', 'run/epoch_1.pth', '--out-dir', 'demo'], work, env)
    assert len(os.listdir(osp.join(work, 'demo', 'vis'))) == 4


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args) -> None:
        pass


def test_mim_download_fetches_the_listed_weights(wheel_venv, tmp_path):
    """The installed S0 entry is pointed at a local server holding a checkpoint of the same
    file-name convention (name_date-sha256prefix.pth); mim fetches it and dumps the config."""
    python, site, work, env = wheel_venv
    served = tmp_path / 'served'
    served.mkdir()
    payload = b'weights of a local test server'
    name = f'mobileone-s0_test-{hashlib.sha256(payload).hexdigest()[:8]}.pth'
    (served / name).write_bytes(payload)
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        metafile = osp.join(site, 'mmmobileone', '.mim', 'configs', 'metafiles', 'imagenet.yml')
        released = 'https://download.openmmlab.com/mmclassification/v0/mobileone/'
        text = open(metafile).read()
        url = f'http://127.0.0.1:{server.server_address[1]}/{name}'
        start = text.index(released)
        end = text.index('\n', start)
        with open(metafile, 'w') as file:
            file.write(text[:start] + url + text[end:])
        dest = tmp_path / 'downloads'
        _run([python, '-m', 'mim', 'download', 'mmmobileone', '--config',
              'mobileone-s0_imagenet', '--dest', str(dest)], work, env)
        assert (dest / name).read_bytes() == payload
        assert (dest / 'mobileone-s0_imagenet.py').is_file()
        fetch = f"model_zoo.download_weights('mobileone-s0_imagenet', {str(tmp_path)!r})"
        out = _run([python, '-c', f'from mmmobileone.apis import model_zoo; print({fetch})'],
                   work, env)
        assert out.strip().splitlines()[-1] == str(tmp_path / name)  # hash prefix checked
    finally:
        server.shutdown()
        server.server_close()
