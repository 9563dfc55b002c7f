"""Distributed runs without CUDA: what ``--launcher`` asks of a config on a CPU machine.

mmengine assumes one GPU per process. :func:`prepare_distributed` makes a ``pytorch`` / ``slurm``
/ ``mpi`` launch work on CPU (gloo backend, DDP without device ids, SyncBN as BN); with CUDA, or
``launcher='none'``, it changes nothing.
"""
import datetime
import logging
from typing import Dict, List, Union

import torch
import torch.distributed as dist
from mmengine.config import Config

logger = logging.getLogger(__name__)

#: Norm layer types that PyTorch's DDP refuses on CPU.
SYNCBN_TYPES = ('SyncBN', 'MMSyncBN')


def revert_syncbn_cfg(node: Union[Dict, List]) -> int:
    """Replace SyncBN norm configs by BN in place; returns how many were replaced."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in SYNCBN_TYPES:
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += revert_syncbn_cfg(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += revert_syncbn_cfg(value)
    return count


def prepare_distributed(cfg: Config, launcher: str) -> None:
    """Make a distributed run work without CUDA (gloo backend, DDP without device ids).

    mmengine assumes one GPU per process: it calls ``torch.cuda.set_device`` while setting up
    the process group and gives DDP ``device_ids=[LOCAL_RANK]``, both of which fail on CPU.
    Without CUDA we switch an ``nccl`` backend to ``gloo``, create the process group ourselves
    (torchrun's environment) and wrap the model with ``device_ids=None``. DDP refuses
    SyncBatchNorm on CPU, so SyncBN layer configs become BN, as mmengine does for
    single-process runs. With CUDA, or ``launcher='none'``, nothing changes.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        logger.info('no CUDA device: distributed run with the gloo backend')
        dist_cfg['backend'] = 'gloo'
    reverted = revert_syncbn_cfg(cfg.model)
    if reverted or cfg.get('sync_bn'):
        logger.warning(f'no CUDA device: PyTorch DDP refuses SyncBatchNorm on CPU, so SyncBN '
                       f'becomes BN ({reverted} norm config(s) changed; per-process statistics)')
        cfg.sync_bn = None
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        broadcast_buffers=False, find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch':
        if not dist.is_initialized():
            options = {k: v for k, v in dist_cfg.items() if k != 'backend'}
            if 'timeout' in options:
                options['timeout'] = datetime.timedelta(seconds=options['timeout'])
            dist.init_process_group(backend=dist_cfg['backend'], **options)
