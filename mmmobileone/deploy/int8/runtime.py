"""Run an exported model (float or INT8) many times: one loaded program, numpy in and out."""
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch


def runtime_runner(backend: str, paths: Sequence[str],
                   threads: Optional[int] = 1) -> Callable[[np.ndarray], List[np.ndarray]]:
    """A callable ``inputs -> outputs`` over the model in ``paths`` (loaded once).

    Args:
        backend: ``'executorch'`` or ``'onnx'``.
        paths: The exported files (the ``.pte`` / ``.onnx`` among them is used).
        threads: Intra-op threads of the runtime (ExecuTorch: its whole thread pool).
    """
    if backend == 'executorch':
        from ..backends import executorch
        if threads:
            executorch.set_threads(threads)
        method = executorch.load(paths)

        def run(x: np.ndarray) -> List[np.ndarray]:
            outputs = method.execute([torch.from_numpy(np.ascontiguousarray(x, np.float32))])
            return [np.array(out.numpy()) for out in outputs]

        return run
    if backend == 'onnx':
        from ..backends.onnx import onnxruntime_session
        path = next(p for p in paths if p.endswith('.onnx'))
        session = onnxruntime_session(path, threads)
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: np.ascontiguousarray(x, np.float32)})
    raise ValueError(f'no runner for backend {backend!r}; choose executorch or onnx')
