"""Faults for tests/test_robustness.py, injected into real training runs by a hook.

``RobustnessFaultHook`` does nothing unless ``MMMOBILEONE_TEST_FAULT`` is set (read at each
call, so one config serves the faulty and the clean run), to one of

* ``pause_iter:EPOCH:BATCH:MARKER``: before that batch (1-based epoch), create ``MARKER`` and
  sleep, for the test to ``kill -9`` the process mid-epoch;
* ``pause_save:EPOCH:MARKER``: the same inside the save of the checkpoint of ``EPOCH`` (hook
  ``before_save_checkpoint``: mmengine has already removed the checkpoint that
  ``max_keep_ckpts`` retires, SafeCheckpointHook has not);
* ``fill_disk:EPOCH:FILLER``: fill the disk with ``FILLER`` just before that checkpoint is
  written (``FILLER`` = ``inject``: make every write under the work dir fail with ``ENOSPC``
  instead, where no small file system can be mounted);
* ``fill_disk_end:FILLER``: the same after training, before ReparamHook writes deploy.pth;
* ``nan_weights:EPOCH``: put NaN into a weight after that epoch, before its checkpoint;
* ``nan_end``: put NaN into the weights (and the EMA weights) after training, before
  ReparamHook writes deploy.pth.

Subprocesses import it with ``custom_imports`` (``tests/`` on ``PYTHONPATH``).
"""
import builtins
import errno
import os
import os.path as osp
import time

import torch
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

ENV = 'MMMOBILEONE_TEST_FAULT'
PAUSE_S = 600


def fault():
    value = os.environ.get(ENV, '')
    return value.split(':') if value else [None]


def pause(marker: str) -> None:
    with open(marker, 'w') as f:
        f.write(str(os.getpid()))
    time.sleep(PAUSE_S)


def fill_disk(filler: str, work_dir: str) -> None:
    """Write ``filler`` until the file system is full (or make writes fail, for ``inject``)."""
    if filler == 'inject':
        inject_enospc(work_dir)
        return
    chunk = b'\0' * (64 << 10)
    with open(filler, 'wb', buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
    with open(filler, 'ab', buffering=0) as f:  # the last partial block
        try:
            while True:
                f.write(b'\0' * 512)
        except OSError:
            pass


def inject_enospc(folder: str) -> None:
    original = builtins.open
    folder = osp.abspath(folder)

    def full_open(file, mode='r', *args, **kwargs):
        if isinstance(file, str) and osp.abspath(file).startswith(folder) and any(
                c in mode for c in 'wax+'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), file)
        return original(file, mode, *args, **kwargs)

    builtins.open = full_open


def poison(module: torch.nn.Module) -> None:
    module = module.module if is_model_wrapper(module) else module
    with torch.no_grad():
        next(module.parameters()).fill_(float('nan'))


@HOOKS.register_module()
class RobustnessFaultHook(Hook):
    priority = 'HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        kind, *args = fault()
        if kind == 'pause_iter' and runner.epoch + 1 == int(args[0]) and \
                batch_idx == int(args[1]):
            pause(args[2])

    def before_save_checkpoint(self, runner, checkpoint):
        kind, *args = fault()
        epoch = checkpoint.get('meta', {}).get('epoch')
        if kind == 'pause_save' and epoch == int(args[0]):
            pause(args[1])
        elif kind == 'fill_disk' and epoch == int(args[0]):
            fill_disk(args[1], runner.work_dir)

    def after_train_epoch(self, runner):
        kind, *args = fault()
        if kind == 'nan_weights' and runner.epoch + 1 == int(args[0]):
            poison(runner.model)

    def after_train(self, runner):
        kind, *args = fault()
        if kind == 'nan_end':
            poison(runner.model)
            for hook in runner.hooks:
                if isinstance(hook, EMAHook):
                    poison(hook.ema_model.module)
        elif kind == 'fill_disk_end':
            fill_disk(args[0], runner.work_dir)
