"""ncnn export (``.ncnn.param`` + ``.ncnn.bin``) through pnnx, parity with ncnn's Python binding.

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
from typing import List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ._common import publish, require, staging_folder

logger = logging.getLogger(__name__)

NAME = 'ncnn'
SUFFIXES = ('.ncnn.param', '.ncnn.bin')


def _pnnx_executable() -> str:
    pnnx = require('pnnx', 'pnnx', NAME)
    return pnnx.EXEC_PATH


def export(module: nn.Module, example: Tensor, out_dir: str, name: str = 'model',
           output_names: Optional[Sequence[str]] = None) -> List[str]:
    """Convert ``module`` for ``example``'s shape to ``out_dir/name.ncnn.{param,bin}``.

    Args:
        module: A tensor-in / tensors-out module in eval mode.
        example: An input of batch 1 and the shape the model will be run at.
        out_dir: Folder to write to (created if needed).
        name: File name stem.
        output_names: Unused (ncnn blobs are named ``out0``, ``out1``, ...).

    Returns:
        ``[param path, bin path]``.

    Raises:
        ImportError: pnnx is not installed (the message names the extra).
        ValueError: ``example`` has a batch size other than 1.
        RuntimeError: pnnx failed (its log is in the message).
    """
    executable = _pnnx_executable()
    if example.dim() != 4 or example.shape[0] != 1:
        raise ValueError(f'ncnn has no batch axis: export with a batch-1 NCHW input, got '
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
            raise RuntimeError(f'pnnx failed (exit status {result.returncode}):\n' +
                               '\n'.join(log))
        paths = publish(staged, out_dir)
    logger.debug('wrote %s', ', '.join(paths))
    return paths


def _blob_position(name: str) -> int:
    found = re.search(r'(\d+)$', name)
    return int(found.group(1)) if found else 0


def load(paths: Sequence[str], threads: int = 1):
    """An ncnn ``Net`` with the model in ``paths`` loaded, fp16 and bf16 paths off."""
    ncnn = require('ncnn', 'ncnn', NAME)
    param = next((p for p in paths if p.endswith('.param')), None)
    weights = next((p for p in paths if p.endswith('.bin')), None)
    if param is None or weights is None:
        raise ValueError(f'need a .param and a .bin file, got {list(paths)}')
    net = ncnn.Net()
    net.opt.num_threads = threads
    for option in ('use_fp16_packed', 'use_fp16_storage', 'use_fp16_arithmetic',
                   'use_bf16_storage'):
        if hasattr(net.opt, option):
            setattr(net.opt, option, False)
    if net.load_param(param) != 0 or net.load_model(weights) != 0:
        raise RuntimeError(f'ncnn cannot load {param} / {weights}')
    return net


def run(paths: Sequence[str], inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """Run the ncnn model once on a batch-1 input.

    Returns:
        The outputs in PyTorch's order and shapes (the batch axis of size 1 restored).

    Raises:
        ValueError: an input does not have batch size 1.
    """
    ncnn = require('ncnn', 'ncnn', NAME)
    net = load(paths)
    extractor = net.create_extractor()
    for blob, value in zip(net.input_names(), inputs):
        value = np.ascontiguousarray(value, dtype=np.float32)
        if value.shape[0] != 1:
            raise ValueError(f'ncnn runs batch 1, got an input of shape {value.shape}')
        extractor.input(blob, ncnn.Mat(value[0]).clone())
    outputs = []
    for blob in sorted(net.output_names(), key=_blob_position):
        status, mat = extractor.extract(blob)
        if status != 0:
            raise RuntimeError(f'ncnn failed to compute output {blob!r} (status {status})')
        outputs.append(np.array(mat)[None])
    return outputs
