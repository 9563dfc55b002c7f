"""Latency measurement the paper's way (Sec. 3.5): batch 1, preallocated input, warm-up, then
many timed runs; report the median and the minimum. Runtimes are timed through their backend's
session (:func:`runtime_forward`), PyTorch eager directly."""
import os
import os.path as osp
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import Tensor, nn

from ..deploy.backends import get_backend
from ..errors import ConfigError


@dataclass
class LatencyStats:
    """Wall-clock latency of one forward pass, in milliseconds."""
    median_ms: float
    min_ms: float
    mean_ms: float
    runs: int


def time_callable(fn: Callable[[], object], runs: int = 100, warmup: int = 10) -> LatencyStats:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times, timing each call."""
    if runs < 1 or warmup < 0:
        raise ConfigError(f'need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}')
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return LatencyStats(statistics.median(times), min(times), statistics.fmean(times), runs)


def set_threads(threads: int) -> None:
    """Fix PyTorch's intra-op threads (and inter-op to 1) for the whole process."""
    if threads < 1:
        raise ConfigError(f'threads must be >= 1, got {threads}')
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once parallel work has started
        pass


def torch_forward(module: nn.Module, inputs: Tensor) -> Callable[[], object]:
    """A no-argument eager PyTorch forward on a preallocated input (inference mode)."""
    module = module.eval()

    def run():
        with torch.inference_mode():
            return module(inputs)

    return run


def runtime_forward(backend: str, paths: Sequence[str], inputs: Tensor,
                    threads: Optional[int] = 1) -> Callable[[], object]:
    """A no-argument forward of exported files in their runtime, on an input prepared once.

    The files are loaded once into the backend's session (:mod:`mmmobileone.deploy.backends`),
    whose :meth:`~mmmobileone.deploy.backends.Session.bind` keeps input copies out of the
    timed call (LiteRT: input set once; ncnn: one extractor per call, as an app per frame).

    Args:
        backend: A registered backend name (``onnx``, ``executorch``, ``litert``, ``ncnn``).
        paths: The exported files.
        inputs: The batch to run.
        threads: Intra-op threads (ExecuTorch: its process-wide pool).
    """
    session = get_backend(backend).load(paths, threads)
    return session.bind([inputs.numpy()])


def flush_denormals() -> bool:
    """Flush denormal floats to zero in this process (x86 runs them 10-40x slower; a
    network's activations can drift into them); True where the CPU supports it."""
    return bool(torch.set_flush_denormal(True))


def gemm_gflops(size: int = 1024, runs: int = 20, threads: Optional[int] = None) -> Dict:
    """Rate of a large float32 matrix product (``2 * size**3`` FLOPs) in GFLOP/s.

    The reference for the share of the machine's attainable rate that a network reaches: timed
    with PyTorch (``torch.mm``) and with ONNX Runtime (a one-``MatMul`` graph) under the current
    thread settings. Rates use the fastest run, the one least disturbed by other processes.

    Returns:
        ``dict(torch=GFLOP/s, ort=GFLOP/s, best=max of the two)``.
    """
    import onnx  # optional: onnx (the tests / deploy extras), only for the ORT GEMM rate
    from onnx import TensorProto, helper, numpy_helper  # optional: onnx, as above
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    out = torch.empty(size, size)
    flops = 2 * size**3
    rates = dict(torch=flops / (time_callable(lambda: torch.mm(a, b, out=out), runs,
                                              2).min_ms * 1e-3) / 1e9)
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['a', 'b'], ['c'])], 'gemm',
        [helper.make_tensor_value_info('a', TensorProto.FLOAT, [size, size])],
        [helper.make_tensor_value_info('c', TensorProto.FLOAT, [size, size])],
        initializer=[numpy_helper.from_array(b.numpy(), 'b')])
    with tempfile.TemporaryDirectory() as folder:
        path = osp.join(folder, 'gemm.onnx')
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
        model.ir_version = 8  # readable by older ONNX Runtime releases
        onnx.save(model, path)
        run = get_backend('onnx').load([path], threads).bind([a.numpy()])
        stats = time_callable(run, runs, 2)
    rates['ort'] = flops / (stats.min_ms * 1e-3) / 1e9
    rates['best'] = max(rates['torch'], rates['ort'])
    return rates


def machine_load() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, for the record."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return f'load average unavailable, {os.cpu_count()} CPUs'
    return f'load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs'
