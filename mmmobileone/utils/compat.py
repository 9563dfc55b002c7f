"""Fixes for known defects of the libraries we build on (see README, "Known library defects").

* mmengine 0.10.7 + torch >= 2.6: ``torch.load`` defaults to ``weights_only=True`` and refuses the
  ``HistoryBuffer`` and numpy objects that mmengine itself writes into every checkpoint (message
  hub, seeds), so resume, ``load_from`` and testing fail (mmengine issue 1655). We allowlist
  exactly those types with :func:`torch.serialization.add_safe_globals`; loading stays
  weights-only, so a crafted pickle that would run code is still refused.
"""
import logging
from typing import List

import numpy as np
import torch

logger = logging.getLogger(__name__)


def _numpy_safe_globals() -> List:
    """numpy types that appear in pickled arrays and scalars (no code-executing callables)."""
    try:
        multiarray = np._core.multiarray  # numpy >= 2
    except AttributeError:
        multiarray = np.core.multiarray
    kinds = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
             np.uint64, np.float16, np.float32, np.float64, np.complex64, np.complex128]
    dtype_classes = [type(np.dtype(kind)) for kind in kinds]
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtype_classes]


def _history_buffer_getattr(obj, name: str):
    """``getattr`` limited to what mmengine's ``HistoryBuffer.__getstate__`` pickles.

    ``HistoryBuffer`` pickles its statistics methods (``min``, ``max``, ``mean``, ...), which
    pickle protocol 2 writes as ``getattr(HistoryBuffer, 'min')``. Allowlisting the builtin
    ``getattr`` would let a pickle reach any attribute of any allowlisted object; this stand-in
    returns only public functions defined on ``HistoryBuffer`` and refuses everything else.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    value = vars(HistoryBuffer).get(name) if obj is HistoryBuffer else None
    if name.startswith('_') or not callable(value):
        raise AttributeError(f'weights-only load: getattr({obj!r}, {name!r}) is not allowed '
                             '(only HistoryBuffer statistics methods are)')
    return value


def allow_mmengine_checkpoint_types() -> List:
    """Allowlist the types mmengine writes into checkpoints for weights-only ``torch.load``.

    Idempotent. Returns the list of allowlisted objects (empty where torch has no allowlist,
    i.e. torch < 2.4, whose ``torch.load`` did not default to weights-only anyway).
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        return []
    from mmengine.logging.history_buffer import HistoryBuffer
    safe = [HistoryBuffer, (_history_buffer_getattr, 'builtins.getattr'), *_numpy_safe_globals()]
    add_safe_globals(safe)
    logger.debug('allowlisted %d mmengine checkpoint types for weights-only loading', len(safe))
    return safe
