"""Run an exported model (float or INT8) many times: one loaded session, numpy in and out."""
from typing import Callable, List, Optional, Sequence

import numpy as np

from ..backends import get_backend


def runtime_runner(backend: str, paths: Sequence[str],
                   threads: Optional[int] = 1) -> Callable[[np.ndarray], List[np.ndarray]]:
    """A callable ``inputs -> outputs`` over the model in ``paths`` (loaded once).

    Args:
        backend: A registered backend name (``'executorch'``, ``'onnx'``, ...).
        paths: The exported files.
        threads: Intra-op threads of the runtime (ExecuTorch: its whole thread pool).

    Raises:
        ConfigError: unknown backend (the message lists the registered ones).
        RuntimeUnavailableError: the runtime cannot run on this machine.
    """
    session = get_backend(backend).load(paths, threads)
    return lambda x: session.run([x])
