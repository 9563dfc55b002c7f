"""What a measurement ran on: the CPU kernels PyTorch and oneDNN picked (they round floats
differently, so a long training run can end elsewhere on another instruction set)."""
import os

import torch

#: Environment variables that select the x86 kernels (``avx2`` / ``AVX2`` force the AVX2 path).
ISA_ENV = ('ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA')


def cpu_capability() -> str:
    """ATen's CPU kernel level and oneDNN's ISA cap, e.g. ``'AVX512, oneDNN ALL'``."""
    aten = torch.backends.cpu.get_cpu_capability()
    return f'{aten}, oneDNN {os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL")}'
