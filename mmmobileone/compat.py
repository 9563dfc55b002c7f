"""Fixes for known defects of the libraries we build on (see README, "Known library defects").

mmengine <= 0.10.7 with torch >= 2.6: ``torch.load`` defaults to ``weights_only=True`` and refuses
the ``HistoryBuffer`` and numpy objects that mmengine itself writes into every checkpoint (message
hub, seeds), so resume, ``load_from`` and testing fail (mmengine issue 1655).

* Our own loads (:func:`mmmobileone.fileio.load_checkpoint`) allowlist exactly those types for
  the duration of the load only, with :func:`mmengine_safe_globals`.
* mmengine's loads (Runner resume, ``load_from``, ``load_checkpoint``) happen outside our code, so
  ``import mmmobileone`` registers the same types process-wide with
  :func:`torch.serialization.add_safe_globals` -- but only for the versions that need it (see
  :func:`needs_mmengine_allowlist`), and not at all when the environment variable
  ``MMMOBILEONE_NO_GLOBAL_ALLOWLIST=1`` is set. Either way loading stays weights-only: a crafted
  pickle that would run code is still refused.
"""
import contextlib
import logging
import os
from typing import Iterator, List

import mmengine
import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.utils import digit_version

logger = logging.getLogger(__name__)


#: Where numpy 1.x pickles its array and scalar reconstructors; numpy 2 moved them to
#: ``numpy._core`` and keeps the old path as an alias, so checkpoints written under numpy 1
#: (every older mmengine checkpoint) name functions that numpy 2 calls by another name.
NUMPY1_MULTIARRAY = 'numpy.core.multiarray'


def _numpy_safe_globals() -> List:
    """numpy types that appear in pickled arrays and scalars (no code-executing callables).

    Under numpy 2 the two reconstructors are also allowlisted under their numpy 1 names (torch
    matches allowlisted globals by the name in the pickle): without that a numpy 2 environment
    refuses every checkpoint saved under numpy 1.
    """
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:
        multiarray = np.core.multiarray
    kinds = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
             np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128]
    dtype_classes = [type(np.dtype(kind)) for kind in kinds]
    safe = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]
    if multiarray.__name__ != NUMPY1_MULTIARRAY:
        safe += [(multiarray._reconstruct, f'{NUMPY1_MULTIARRAY}._reconstruct'),
                 (multiarray.scalar, f'{NUMPY1_MULTIARRAY}.scalar')]
    return safe


def _history_buffer_getattr(obj, name: str):
    """``getattr`` limited to what mmengine's ``HistoryBuffer.__getstate__`` pickles.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``, ``mean``, ...), which
    pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``. Allowlisting the builtin
    ``getattr`` would let a pickle reach any attribute of any allowlisted object; this stand-in
    returns only public functions defined on ``HistoryBuffer`` and refuses everything else.
    """
    value = vars(HistoryBuffer).get(name) if obj is HistoryBuffer else None
    if name.startswith('_') or not callable(value):
        raise AttributeError(f'weights-only load: getattr({obj!r}, {name!r}) is not allowed '
                             '(only HistoryBuffer statistics methods are)')
    return value


#: Set to ``1`` to keep ``import mmmobileone`` from allowlisting anything process-wide.
OPT_OUT_ENV = 'MMMOBILEONE_NO_GLOBAL_ALLOWLIST'
#: The last mmengine release known to load checkpoints with torch's default ``weights_only``.
LAST_AFFECTED_MMENGINE = '0.10.7'


def mmengine_checkpoint_types() -> List:
    """The objects mmengine writes into checkpoints, in ``add_safe_globals`` form."""
    return [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), *_numpy_safe_globals()]


def needs_mmengine_allowlist(torch_version: str = torch.__version__,
                             mmengine_version: str = None) -> bool:
    """Whether mmengine's own ``torch.load`` calls need the allowlist.

    True for torch >= 2.6 (weights-only by default) with mmengine <= 0.10.7 (loads without
    allowlisting its own types).
    """
    if mmengine_version is None:
        mmengine_version = mmengine.__version__
    return (digit_version(torch_version) >= digit_version('2.6.0')
            and digit_version(mmengine_version) <= digit_version(LAST_AFFECTED_MMENGINE))


@contextlib.contextmanager
def mmengine_safe_globals() -> Iterator[None]:
    """Allowlist mmengine's checkpoint types for the ``torch.load`` calls inside the block."""
    scoped = getattr(torch.serialization, 'safe_globals', None)
    if scoped is None:  # torch < 2.5: nothing to allowlist (or no weights-only default)
        yield
        return
    # torch's context manager removes on exit what it added, so it must not re-add (and then
    # remove) the types that import mmmobileone allowlisted process-wide
    present = torch.serialization.get_safe_globals()
    with scoped([item for item in mmengine_checkpoint_types() if item not in present]):
        yield


def allow_mmengine_checkpoint_types(force: bool = False) -> List:
    """Allowlist mmengine's checkpoint types process-wide, where the versions need it.

    Called by ``import mmmobileone``. Does nothing (returns ``[]``) when torch has no allowlist,
    when :func:`needs_mmengine_allowlist` is false, or when ``MMMOBILEONE_NO_GLOBAL_ALLOWLIST=1``
    is set, unless ``force``. Idempotent.

    Returns:
        The allowlisted objects.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return []
    if not force:
        if os.environ.get(OPT_OUT_ENV, '') not in ('', '0'):
            logger.debug('%s is set: no process-wide allowlist', OPT_OUT_ENV)
            return []
        if not needs_mmengine_allowlist():
            return []
    safe = mmengine_checkpoint_types()
    add_safe_globals(safe)
    logger.debug('allowlisted %d mmengine checkpoint types for weights-only loading', len(safe))
    return safe
