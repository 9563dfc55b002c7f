"""Parity of an exported model with PyTorch: per-output absolute and relative differences.

The relative difference of one output is ``max |runtime - torch| / max |torch|`` (the largest
absolute error over the largest absolute value), the measure docs/deployment.md reports.
"""
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np

from ..errors import BackendError

#: Largest relative difference a float32 export may show.
FLOAT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OutputParity:
    """Difference of one output between a runtime and PyTorch.

    Attributes:
        name: Output name (``logits``, ``cls_score_0``, ``seg_logits``, ...).
        shape: The output's shape.
        max_abs_diff: Largest absolute element-wise difference.
        max_abs_value: Largest absolute value of the PyTorch output.
    """
    name: str
    shape: tuple
    max_abs_diff: float
    max_abs_value: float

    @property
    def relative(self) -> float:
        """``max_abs_diff / max_abs_value`` (the absolute difference if the output is 0)."""
        return (self.max_abs_diff / self.max_abs_value if self.max_abs_value else
                self.max_abs_diff)

    def line(self) -> str:
        """``NAME max_abs_diff=... rel=...``: the line the export tool prints."""
        return f'{self.name} max_abs_diff={self.max_abs_diff:.3g} rel={self.relative:.3g}'


def compare_outputs(expected: Sequence[np.ndarray], actual: Sequence[np.ndarray],
                    names: Sequence[str]) -> List[OutputParity]:
    """Compare a runtime's outputs with PyTorch's, output by output.

    Args:
        expected: PyTorch outputs (numpy arrays), in order.
        actual: The runtime's outputs, in the same order.
        names: One name per output.

    Returns:
        One :class:`OutputParity` per output.

    Raises:
        BackendError: the number of outputs or an output's shape differs.
    """
    if len(actual) != len(expected):
        raise BackendError(f'the exported model gives {len(actual)} outputs, PyTorch '
                           f'{len(expected)}')
    results = []
    for name, want, got in zip(names, expected, actual):
        want = np.asarray(want, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64)
        if want.shape != got.shape:
            raise BackendError(f'output {name!r}: the exported model gives shape {got.shape}, '
                               f'PyTorch {want.shape}')
        diff = float(np.abs(got - want).max()) if want.size else 0.0
        largest = float(np.abs(want).max()) if want.size else 0.0
        results.append(OutputParity(name, tuple(want.shape), diff, largest))
    return results


def worst_relative(results: Sequence[OutputParity]) -> float:
    """The largest relative difference over all outputs (0 for none)."""
    return max((r.relative for r in results), default=0.0)
