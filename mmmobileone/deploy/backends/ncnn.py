"""The ``ncnn`` backend: ``.ncnn.param`` + ``.ncnn.bin`` through pnnx, run by ncnn's Python binding.

For Android (and other ARM) apps using Tencent's ncnn. The network is traced with
``torch.jit.trace`` and converted by the ``pnnx`` tool that the ``pnnx`` package ships. pnnx
stores weights in fp16 unless told otherwise (about 1000x worse parity); this backend always
passes ``fp16=0`` so that the files hold the float32 weights, and runs ncnn with fp16 storage
and arithmetic off (a phone app may turn them on for speed). ncnn blobs have no batch axis:
export and run with batch 1. Needs ``pnnx`` and ``ncnn`` (``pip install -e ".[deploy]"``).
"""
import logging
import os.path as osp
import re
import subprocess
import warnings
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ...errors import BackendError, ConfigError
from ._common import publish, require, staging_folder
from .base import Backend, Session
from .registry import register_backend

logger = logging.getLogger(__name__)

NAME = 'ncnn'
SUFFIXES = ('.ncnn.param', '.ncnn.bin')


@register_backend(name=NAME, suffixes=SUFFIXES, packages=(('pnnx', 'pnnx'), ('ncnn', 'ncnn')))
class NcnnBackend(Backend):
    """pnnx conversion to ``.ncnn.param`` + ``.ncnn.bin`` (float32 weights); batch 1."""

    def export(self, module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
               output_names: Optional[Sequence[str]] = None, **options) -> List[str]:
        """Convert ``module`` for ``example``'s shape to ``out_dir/name.ncnn.{param,bin}``.

        ``output_names`` is unused (ncnn blobs are named ``out0``, ``out1``, ...).

        Returns:
            ``[param path, bin path]``.

        Raises:
            MissingPackageError: pnnx is not installed (the message names the extra).
            ConfigError: ``example`` is not a batch-1 NCHW input.
            BackendError: pnnx failed (its log is in the message).
        """
        self.refuse_options(self.name, options)
        executable = require('pnnx', 'pnnx', NAME).EXEC_PATH
        if example.dim() != 4 or example.shape[0] != 1:
            raise ConfigError(f'ncnn has no batch axis: export with a batch-1 NCHW input, got '
                              f'{tuple(example.shape)}')
        module = module.eval()
        with staging_folder(out_dir) as staging:
            stem = osp.join(staging, name)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter('ignore')  # TracerWarnings
                torch.jit.trace(module, (example, ), check_trace=False).save(stem + '.pt')
            shape = ','.join(str(s) for s in example.shape)
            command = [executable, stem + '.pt', f'inputshape=[{shape}]f32', 'device=cpu',
                       'fp16=0', f'pnnxparam={stem}.pnnx.param', f'pnnxbin={stem}.pnnx.bin',
                       f'pnnxpy={stem}_pnnx.py', f'pnnxonnx={stem}.pnnx.onnx',
                       f'ncnnparam={stem}.ncnn.param', f'ncnnbin={stem}.ncnn.bin',
                       f'ncnnpy={stem}_ncnn.py']
            result = subprocess.run(command, cwd=staging, capture_output=True, text=True)
            staged = [stem + suffix for suffix in SUFFIXES]
            if result.returncode != 0 or not all(osp.isfile(p) for p in staged):
                log = (result.stdout + result.stderr).strip().splitlines()[-20:]
                raise BackendError(f'pnnx failed (exit status {result.returncode}):\n' +
                                   '\n'.join(log))
            paths = publish(staged, out_dir)
        logger.debug('wrote %s', ', '.join(paths))
        return paths

    def load(self, paths: Sequence[str], threads: Optional[int] = 1) -> 'NcnnSession':
        return NcnnSession(self.pick(paths, '.param'), self.pick(paths, '.bin'), threads)


def _blob_position(name: str) -> int:
    found = re.search(r'(\d+)$', name)
    return int(found.group(1)) if found else 0


class NcnnSession(Session):
    """An ncnn ``Net`` with the model loaded once, fp16 and bf16 paths off; one extractor
    per run, as an app makes one per frame. Inputs must have batch size 1."""

    def __init__(self, param: str, weights: str, threads: Optional[int] = 1) -> None:
        self.ncnn = require('ncnn', 'ncnn', NAME)
        net = self.ncnn.Net()
        net.opt.num_threads = threads or 1
        for option in ('use_fp16_packed', 'use_fp16_storage', 'use_fp16_arithmetic',
                       'use_bf16_storage'):
            if hasattr(net.opt, option):
                setattr(net.opt, option, False)
        if net.load_param(param) != 0 or net.load_model(weights) != 0:
            raise BackendError(f'ncnn cannot load {param} / {weights}')
        self.net = net
        self.input_blobs = list(net.input_names())
        self.output_blobs = sorted(net.output_names(), key=_blob_position)

    def _mats(self, inputs: Sequence[np.ndarray]) -> list:
        mats = []
        for value in inputs:
            value = np.ascontiguousarray(value, dtype=np.float32)
            if value.shape[0] != 1:
                raise ConfigError(f'ncnn runs batch 1, got an input of shape {value.shape}')
            mats.append(self.ncnn.Mat(value[0]).clone())
        return mats

    def _extract(self, mats: Sequence) -> list:
        extractor = self.net.create_extractor()
        for blob, mat in zip(self.input_blobs, mats):
            extractor.input(blob, mat)
        outputs = []
        for blob in self.output_blobs:
            status, mat = extractor.extract(blob)
            if status != 0:
                raise BackendError(f'ncnn failed to compute output {blob!r} (status {status})')
            outputs.append(mat)
        return outputs

    def run(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Outputs in PyTorch's order and shapes (the batch axis of size 1 restored)."""
        return [np.array(mat)[None] for mat in self._extract(self._mats(inputs))]

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        mats = self._mats(inputs)
        return lambda: self._extract(mats)
