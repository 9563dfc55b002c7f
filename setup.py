"""Packaging. The metadata is in setup.cfg; this file adds the model zoo to built packages.

As OpenMMLab packages do (mmpretrain's ``add_mim_extension``), a wheel carries ``configs/``,
``tools/`` and ``model-index.yml`` inside the package, in ``mmmobileone/.mim/``: that is where
``mim`` (search, download, train, test) and ``mmengine.hub.get_config('pkg::...')`` look, and
where :mod:`mmmobileone.apis.model_zoo` finds the zoo when the package is not a checkout.
Unlike mmpretrain's helper, nothing is written into the source tree: the files are copied into
the build directory only. An editable install (``pip install -e .``) gets no copy; the package
then reads the checkout's own files.
"""
import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = osp.dirname(osp.abspath(__file__))
#: What the wheel's ``mmmobileone/.mim/`` holds, relative to the repository root.
MIM_ITEMS = ('configs', 'tools', 'model-index.yml')
IGNORED = shutil.ignore_patterns('__pycache__', '*.pyc', '*.pyo')


class BuildPyWithModelZoo(build_py):
    """``build_py`` that also copies :data:`MIM_ITEMS` into ``mmmobileone/.mim/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'mmmobileone', '.mim')
        if osp.isdir(target):
            shutil.rmtree(target)
        os.makedirs(target)
        for item in MIM_ITEMS:
            source = osp.join(ROOT, item)
            if osp.isdir(source):
                shutil.copytree(source, osp.join(target, item), ignore=IGNORED)
            elif osp.isfile(source):
                shutil.copyfile(source, osp.join(target, item))
            else:
                raise FileNotFoundError(f'{source!r} is missing: the model zoo needs '
                                        f'{", ".join(MIM_ITEMS)}')


setup(cmdclass={'build_py': BuildPyWithModelZoo})
