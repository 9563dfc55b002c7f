"""Checkpoints that survive a crash or a full disk while saving: ``SafeCheckpointHook``.

mmengine's ``CheckpointHook`` removes the oldest checkpoint *before* it writes the new one, and
writes the new one in place (``open(path, 'wb')``). A kill or a full disk during that write
leaves a partial file, and with ``max_keep_ckpts=1`` no usable checkpoint at all, while
``last_checkpoint`` names the deleted file. :class:`SafeCheckpointHook` keeps mmengine's
arguments and file names and changes the order of the file operations:

1. the new checkpoint is written to a temporary file in the same folder, flushed to disk
   (``fsync``) and renamed over its final name (:func:`mmmobileone.fileio.atomic_write`);
2. only then ``last_checkpoint`` is replaced (atomically too);
3. only then the checkpoints that ``max_keep_ckpts`` (or a new best checkpoint) retires are
   removed.

A failed write (``no space left on device``, ...) removes its temporary file, leaves every
previous checkpoint and ``last_checkpoint`` as they were, and stops training with a
:class:`~mmmobileone.fileio.CheckpointWriteError` that names the file and the cause. A
checkpoint whose weights are not finite is never written (:class:`TrainingDivergedError`).
"""
import os
import os.path as osp
import re
from collections import deque
from typing import Dict, List, Optional, Union

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper

from ...errors import MMMobileOneError
from ...fileio import write_file_atomic
from ...registry import HOOKS

#: Name of the mmengine file backend that writes local files atomically.
ATOMIC_BACKEND = 'mmmobileone_atomic_local'
#: Temporary files of :func:`~mmmobileone.fileio.atomic_write` (``.NAME.XXXXXXXX.part``).
PARTIAL_FILE = re.compile(r'^\..+\.[A-Za-z0-9_]{8}\.part$')


class TrainingDivergedError(MMMobileOneError, ValueError):
    """Training produced a non-finite loss or non-finite weights; nothing non-finite was saved."""


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` / ``put_text`` write atomically.

    Registered as ``mmmobileone_atomic_local``; :class:`SafeCheckpointHook` makes the Runner
    save checkpoints through it.
    """

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        write_file_atomic(str(filepath), lambda temporary: _write_bytes(temporary, obj))

    def put_text(self, obj: str, filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)


register_backend(ATOMIC_BACKEND, AtomicLocalBackend)


def non_finite_weights(model: torch.nn.Module) -> List[str]:
    """Names of the floating-point parameters and buffers of ``model`` that hold NaN or inf."""
    model = model.module if is_model_wrapper(model) else model
    return [name for name, value in model.state_dict().items()
            if torch.is_tensor(value) and value.is_floating_point()
            and not bool(torch.isfinite(value).all())]


class _DeferredRemovals:
    """A file backend whose ``remove`` / ``rmtree`` wait until :meth:`run` (after a save)."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.pending: List[tuple] = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, path) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path) -> None:
        self.pending.append(('rmtree', path))

    def run(self, keep: set) -> None:
        for method, path in self.pending:
            if path not in keep:
                getattr(self._backend, method)(path)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` with atomic saves and removal only after a good save.

    Takes exactly ``CheckpointHook``'s arguments (``interval``, ``max_keep_ckpts``,
    ``save_best``, ``out_dir``, ...). Local folders are written through
    :class:`AtomicLocalBackend` (unless ``backend_args`` names another backend); remote ones
    (``s3://``, ...) keep their backend and get the safe order of operations only.
    Every shipped config declares it as ``default_hooks.checkpoint``
    (``configs/_base_/runtime_safeguards.py``).

    Host internals: the atomic writes go through a named mmengine file backend (public:
    ``backend_args``), but mmengine 0.10.7 has no public point for the *order* of a save's file
    operations, so this class overrides ``CheckpointHook._save_checkpoint_with_step`` and
    ``_save_best_checkpoint`` (here only). ``tests/test_host_overrides.py`` records the mmengine
    0.10.7 source of both and fails, naming the method, when the pinned mmengine changes them.

    Example:
        >>> default_hooks = dict(checkpoint=dict(type='mmmobileone.SafeCheckpointHook',
        ...                                      interval=1, max_keep_ckpts=1))
    """

    def before_train(self, runner) -> None:
        target = str(self.out_dir if self.out_dir is not None else runner.work_dir)
        if self.backend_args is None and self.file_client_args is None and '://' not in target:
            self.backend_args = dict(backend=ATOMIC_BACKEND)
        super().before_train(runner)
        if is_main_process():
            self._remove_partial_files(runner)

    def _remove_partial_files(self, runner) -> None:
        """Temporary files of saves that a kill interrupted (the checkpoints are intact)."""
        folders = {str(runner.work_dir), str(self.out_dir)}
        for folder in sorted(f for f in folders if '://' not in f and osp.isdir(f)):
            for name in sorted(os.listdir(folder)):
                if PARTIAL_FILE.match(name):
                    os.remove(osp.join(folder, name))
                    runner.logger.warning(f'SafeCheckpointHook: removed {name!r} in {folder}, '
                                          'the partial file of an interrupted save')

    def _check_finite(self, runner, filename: str) -> None:
        bad = non_finite_weights(runner.model)
        if bad:
            last = f'{self.last_ckpt} is the last good checkpoint' if self.last_ckpt else \
                'no checkpoint was written'
            raise TrainingDivergedError(
                f'training diverged: refusing to write {filename} at iteration {runner.iter} '
                f'(epoch {runner.epoch + 1}): {len(bad)} weight tensors are not finite (e.g. '
                f'{bad[0]!r}); {last}. Lower the learning rate or check the data')

    def _save_checkpoint_with_step(self, runner, step: int, meta: Dict) -> None:
        filename = self.filename_tmpl.format(step)
        path = self.file_backend.join_path(self.out_dir, filename)
        hub = runner.message_hub
        saved_info = {key: hub.runtime_info[key] for key in ('keep_ckpt_ids', 'last_ckpt')
                      if key in hub.runtime_info}
        retired: List[int] = []
        keep: Optional[List[int]] = None
        if self.max_keep_ckpts > 0:
            keep = list(self.keep_ckpt_ids)
            if not keep or keep[-1] != step:
                keep.append(step)
            retired, keep = keep[:-self.max_keep_ckpts], keep[-self.max_keep_ckpts:]
            # the checkpoint records the files a resumed run manages
            hub.update_info('keep_ckpt_ids', list(keep))
        hub.update_info('last_ckpt', path)
        try:
            self._check_finite(runner, filename)
            runner.save_checkpoint(
                self.out_dir, filename, self.file_client_args, save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler, meta=meta, by_epoch=self.by_epoch,
                backend_args=self.backend_args, **self.args)
        except BaseException:
            for key in ('keep_ckpt_ids', 'last_ckpt'):  # the state before this save
                hub.runtime_info.pop(key, None)
                if key in saved_info:
                    hub.update_info(key, saved_info[key])
            raise
        self.last_ckpt = path
        if keep is not None:
            self.keep_ckpt_ids = deque(keep, self.max_keep_ckpts)
        if not is_main_process():
            return
        write_file_atomic(osp.join(runner.work_dir, 'last_checkpoint'),
                          lambda temporary: _write_bytes(temporary, path.encode()))
        for old_step in retired:
            old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old_step))
            if old == path:
                continue
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):  # deepspeed checkpoints are folders
                self.file_backend.rmtree(old)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        """mmengine's best-checkpoint logic; the previous best goes after the new one is saved."""
        if not self.save_best:
            return
        self._check_finite(runner, 'the best checkpoint')
        backend = self.file_backend
        deferred = _DeferredRemovals(backend)
        self.file_backend = deferred
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        if is_main_process():
            current = {getattr(self, 'best_ckpt_path', None), self.last_ckpt,
                       *getattr(self, 'best_ckpt_path_dict', {}).values()}
            deferred.run(keep=current)
