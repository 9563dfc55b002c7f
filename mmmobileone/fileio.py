"""Checkpoint files: weights-only loading with clear errors, and atomic writing.

Every file this package writes (``deploy.pth``, converted and re-parameterized checkpoints,
exported models) goes through :func:`atomic_write`: the data is written to a temporary file in
the target folder, flushed to disk (``fsync``), given the permissions a plain ``open()`` would
give (the umask), then renamed over the target. A failure at any point (a full disk, a killed
process) leaves the previous file as it was and removes the partial one.
"""
import contextlib
import errno
import os
import os.path as osp
import pickle
import re
import tempfile
import zipfile
from typing import Callable, Dict, Iterator

import torch

from .compat import mmengine_safe_globals
from .errors import CheckpointError, MissingPathError, WriteError


class CheckpointWriteError(WriteError):
    """Writing a file failed; the message names the file and the cause (e.g. a full disk)."""


def _umask_mode() -> int:
    """The permission bits a new regular file gets from ``open()`` (``0o666`` minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: str) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _os_error(error: BaseException) -> BaseException:
    """The ``OSError`` behind ``error`` (torch wraps its writer's in a ``RuntimeError``)."""
    cause = error
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    return error if cause is None else cause


def _describe(error: BaseException) -> str:
    error = _os_error(error)
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return 'no space left on device'
    text = str(error).strip().splitlines()
    # torch reports a full disk from its C++ writer as "... file write failed" without errno
    if text and 'write failed' in text[-1]:
        return f'{text[-1]} (is the disk full?)'
    return text[0] if text else type(error).__name__


@contextlib.contextmanager
def atomic_write(path: str, suffix: str = '.part') -> Iterator[str]:
    """Yield a temporary path to write to; on success it replaces ``path`` atomically.

    Example:
        >>> import os.path as osp, tempfile
        >>> target = osp.join(tempfile.mkdtemp(), 'a.txt')
        >>> with atomic_write(target) as tmp:
        ...     _ = open(tmp, 'w').write('done')
        >>> open(target).read()
        'done'

    Raises:
        CheckpointWriteError: writing, flushing or renaming failed (``OSError``) or the writer
            raised ``RuntimeError`` (torch's serializer reports I/O failures that way); the
            message names ``path`` and the cause. ``path`` is left as it was.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.',
                                         suffix=suffix)
    os.close(handle)
    try:
        try:
            yield temporary
            with open(temporary, 'rb+') as f:
                os.fsync(f.fileno())
            os.chmod(temporary, _umask_mode())
            os.replace(temporary, path)
        except (OSError, RuntimeError) as error:
            raise CheckpointWriteError(
                getattr(_os_error(error), 'errno', None) or errno.EIO,
                f'cannot write {path!r}: {_describe(error)}; the previous file (if any) is '
                'unchanged') from error
        _fsync_folder(folder)
    finally:
        if osp.exists(temporary):
            os.remove(temporary)


def save_checkpoint_atomic(checkpoint: Dict, path: str) -> None:
    """``torch.save`` ``checkpoint`` to ``path`` through :func:`atomic_write`."""
    with atomic_write(path) as temporary:
        # through a Python file: a failed write keeps its OSError (errno) as the context of
        # torch's RuntimeError ("unexpected pos ..."), so a full disk is named as such
        with open(temporary, 'wb') as f:
            torch.save(checkpoint, f)


def write_file_atomic(path: str, writer: Callable[[str], None], suffix: str = '.part') -> None:
    """Call ``writer(temporary_path)`` and move the result to ``path`` atomically."""
    with atomic_write(path, suffix) as temporary:
        writer(temporary)


_BLOCKED_GLOBAL = re.compile(r'GLOBAL ([\w.]+) was not an allowed global')


_UNPICKLER_ERROR = re.compile(r'WeightsUnpickler error:\s*(.+)')


def _reason(error: BaseException) -> str:
    """What went wrong in a load, without torch's advice to turn the protection off."""
    text = str(error)
    blocked = _BLOCKED_GLOBAL.search(text)
    if blocked:
        return (f'it holds the Python object {blocked.group(1)}, which a weights-only load '
                'refuses to create (it could run code)')
    detail = _UNPICKLER_ERROR.search(text.replace('\n', ' '))
    if detail:  # e.g. "Unsupported operand 0": not a pickle stream at all
        return detail.group(1).split('Check the documentation')[0].strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), '')
    return first or type(error).__name__


def load_checkpoint(path: str, map_location='cpu') -> Dict:
    """Load a checkpoint weights-only, turning low-level failures into clear errors.

    mmengine's own checkpoint types (message hub, numpy seeds) are allowed for this load only.
    It never executes code from the file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, truncated, corrupt, not a checkpoint, or holds Python
            objects that a weights-only load refuses (the message names the blocked object).
    """
    if not osp.isfile(path):
        raise MissingPathError(f'checkpoint file {path!r} not found')
    size = osp.getsize(path)
    if size == 0:
        raise CheckpointError(f'checkpoint {path!r} is empty (0 bytes): it was not written '
                              'completely; save or download it again')
    try:
        with mmengine_safe_globals():
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if _BLOCKED_GLOBAL.search(str(error)):
            raise CheckpointError(f'refused to load checkpoint {path!r}: {_reason(error)}. Only '
                                  'load checkpoints from sources you trust.') from error
        raise CheckpointError(f'cannot read checkpoint {path!r} ({size} bytes): it is corrupt or '
                              f'not a checkpoint ({_reason(error)})') from error
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as error:
        raise CheckpointError(
            f'cannot read checkpoint {path!r} ({size} bytes): it is truncated or corrupt '
            f'({_reason(error)}). Download or save it again.') from error
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f'checkpoint {path!r} holds a {type(checkpoint).__name__}, '
                              'expected a dict (a state dict or a dict with "state_dict")')
    return checkpoint


def load_weights(path: str) -> Dict:
    """A downloaded checkpoint: ``.safetensors`` (needs ``safetensors``) or weights-only torch."""
    if not path.endswith('.safetensors'):
        return load_checkpoint(path)
    try:
        from safetensors.torch import load_file  # optional: safetensors (.safetensors only)
    except ImportError as error:
        raise CheckpointError(f'{path!r} is a safetensors file: install the safetensors package, '
                              'or use the pytorch_model.bin of the same release') from error
    if not osp.isfile(path):
        raise MissingPathError(f'checkpoint file {path!r} not found')
    return load_file(path)
