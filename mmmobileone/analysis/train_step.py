"""Training-step benchmark: step time and peak memory of MobileOne training variants and peers.

One *step* is forward + loss + backward + SGD update on a fixed random batch. Every candidate
(our variants, mmpretrain's and timm's MobileOne) lives in the same process; rounds alternate
between them (rotating the order every round) so that ratios share the machine's conditions.
Peak memory is the allocator's high-water mark during one profiled step (``torch.profiler``
memory events on CPU, ``max_memory_allocated`` on CUDA) plus the persistent training state
(parameters, buffers, optimizer state), i.e. what a GPU's ``max_memory_allocated`` reports.
"""
import contextlib
import logging
import os.path as osp
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..apis import init_model
from ..deploy.outputs import tensor_model
from ..errors import ConfigError
from ..models.backbones import MobileOne
from ..models.layers import MobileOneUnit
from .benchmark import calibrate_bn

logger = logging.getLogger(__name__)

#: Options a variant of ours can combine with ``+`` (``looped`` alone is the reference).
#: ``moments``: ``moment_stats=True``; ``cp``: ``with_cp=True``; ``cl``: channels_last (model
#: and input converted);
#: ``compile``: ``torch.compile`` of the model (inductor); ``bf16``: bfloat16 autocast.
VARIANT_OPTIONS = ('looped', 'moments', 'cp', 'cl', 'compile', 'bf16')
CLASSIFIER_ARCHS = ('s0', 's1', 's2', 's3', 's4', 'mu0', 'mu1', 'mu2')
#: Archs that mmpretrain and timm implement (the micro variants are ours only).
PEER_ARCHS = ('s0', 's1', 's2', 's3', 's4')
#: Dense models through our configs: name -> (config, input size).
DENSE_MODELS = {
    'ssdlite-s2': ('configs/ssdlite_mobileone_s2_coco.py', 320),
    'deeplabv3-s1': ('configs/deeplabv3_mobileone_s1_voc.py', 512),
}


def parse_variant(variant: str) -> Tuple[str, ...]:
    """Options of a variant name such as ``'moments+cp'``; ``'looped'`` stands alone."""
    options = tuple(variant.split('+'))
    unknown = [o for o in options if o not in VARIANT_OPTIONS]
    if unknown or not options or ('looped' in options and 'moments' in options):
        raise ConfigError(f'bad variant {variant!r}: options are {VARIANT_OPTIONS} joined by '
                          "'+', with 'looped' or 'moments' as the branch form")
    return options


@dataclass
class Candidate:
    """One model of the benchmark and its training step."""
    model: str  # arch or dense model name
    name: str  # 'ours:moments+cp', 'mmpretrain', 'timm'
    module: nn.Module
    inputs: Tensor
    targets: Optional[Tensor]
    options: Tuple[str, ...] = ()
    optimizer: Optional[torch.optim.Optimizer] = None
    forward: Optional[Callable[[Tensor], object]] = None
    times: List[float] = field(default_factory=list)
    peak_mb: Optional[float] = None
    warmup_s: Optional[float] = None

    def prepare(self, lr: float = 1e-3) -> None:
        """Put the module in training mode, build its optimizer and (compile) its forward."""
        self.module.train()
        if 'cl' in self.options:
            self.module.to(memory_format=torch.channels_last)
            self.inputs = self.inputs.contiguous(memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=lr, momentum=0.9,
                                         weight_decay=1e-4)
        self.forward = torch.compile(self.module) if 'compile' in self.options else self.module

    def _loss(self) -> Tensor:
        outputs = self.forward(self.inputs)
        if self.targets is not None:
            return F.cross_entropy(outputs.float(), self.targets)
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs, )
        return sum(o.float().square().mean() for o in outputs)

    def step(self) -> None:
        """One training step: forward, loss, backward, SGD update."""
        self.optimizer.zero_grad(set_to_none=True)
        autocast = (torch.autocast(self.inputs.device.type, dtype=torch.bfloat16)
                    if 'bf16' in self.options else contextlib.nullcontext())
        with autocast:
            loss = self._loss()
        loss.backward()
        self.optimizer.step()

    def state_mb(self) -> float:
        """Parameters, buffers and optimizer state (MB), the memory held between steps."""
        tensors = list(self.module.parameters()) + list(self.module.buffers())
        for state in self.optimizer.state.values():
            tensors += [v for v in state.values() if isinstance(v, Tensor)]
        return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _classifier(backbone: nn.Module, channels: int) -> nn.Module:
    return nn.Sequential(_LastOutput(backbone), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, 1000))


class _LastOutput(nn.Module):

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)[-1]


def _ours_kwargs(options: Sequence[str]) -> Dict:
    return dict(moment_stats='moments' in options, with_cp='cp' in options)


def build_ours(model: str, options: Sequence[str], root: str = '.') -> nn.Module:
    """Our classifier (backbone + pool + linear) or dense model (its config) for ``options``,
    returning raw output tensors."""
    if model in CLASSIFIER_ARCHS:
        backbone = MobileOne(model, **_ours_kwargs(options))
        return _classifier(backbone, backbone.stage_channels[-1])
    config, _ = DENSE_MODELS[model]
    cfg_options = {f'model.backbone.{k}': v for k, v in _ours_kwargs(options).items()}
    net = init_model(osp.join(root, config), None, fuse=False, cfg_options=cfg_options)
    task = 'detection' if model.startswith('ssdlite') else 'segmentation'
    return tensor_model(net, task)


def build_peer(library: str, arch: str) -> nn.Module:
    """mmpretrain's or timm's MobileOne classifier (default branch form)."""
    if library == 'timm':
        import timm  # optional: timm (peer benchmark only)
        return timm.create_model(f'mobileone_{arch}', pretrained=False, num_classes=1000)
    from mmpretrain.models.backbones import MobileOne as PeerMobileOne  # optional: mmpretrain peer
    backbone = PeerMobileOne(arch, out_indices=(3, ))
    channels = backbone.stage4[-1].branch_conv_list[0].conv.out_channels
    return _classifier(backbone, channels)


def make_candidates(model: str, variants: Sequence[str], peers: Sequence[str], batch: int,
                    size: int, calibration_batches: int = 3, root: str = '.',
                    seed: int = 0) -> List[Candidate]:
    """Candidates of one model: our ``variants`` (same weights, BN statistics calibrated on
    ``calibration_batches`` random batches) and the ``peers`` that implement the arch."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch, 3, size, size, generator=generator)
    targets = (torch.randint(0, 1000, (batch, ), generator=generator)
               if model in CLASSIFIER_ARCHS else None)
    shape = (batch, 3, size, size)
    torch.manual_seed(seed)
    reference = calibrate_bn(build_ours(model, ('looped', ), root), shape, calibration_batches)
    state = reference.state_dict()
    candidates = []
    for variant in variants:
        options = parse_variant(variant)
        module = build_ours(model, options, root)
        module.load_state_dict(state)
        candidates.append(Candidate(model, f'ours:{variant}', module, inputs.clone(), targets,
                                    options))
    if model in PEER_ARCHS:
        for library in peers:
            module = calibrate_bn(build_peer(library, model), shape, calibration_batches)
            candidates.append(Candidate(model, library, module, inputs.clone(), targets))
    return candidates


def profile_peak_mb(candidate: Candidate) -> float:
    """Peak memory of one step (MB): persistent state plus the allocator's high-water mark
    above the step's start (CPU: profiler memory events; CUDA: ``max_memory_allocated``)."""
    if candidate.inputs.is_cuda:
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        candidate.step()
        torch.cuda.synchronize()
        return candidate.state_mb() + (torch.cuda.max_memory_allocated() - start) / 2**20
    from torch.profiler import ProfilerActivity, profile  # slow to import: CPU memory runs only
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        candidate.step()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'),
                    key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return candidate.state_mb() + peak / 2**20


def run_rounds(candidates: Sequence[Candidate], rounds: int, steps: int = 1,
               measure_memory: bool = True) -> None:
    """Warm up every candidate (one step, which also compiles), measure its peak memory, then
    time ``rounds`` rounds of ``steps`` steps each, rotating the order every round."""
    for candidate in candidates:
        candidate.prepare()
        start = time.perf_counter()
        candidate.step()
        candidate.warmup_s = time.perf_counter() - start
        if measure_memory:
            candidate.peak_mb = profile_peak_mb(candidate)
        peak = 'not measured' if candidate.peak_mb is None else f'{candidate.peak_mb:.0f} MB'
        logger.info(f'{candidate.model} {candidate.name}: warm-up {candidate.warmup_s:.1f} s, '
                    f'peak {peak}')
    for index in range(rounds):
        shift = index % len(candidates)
        for candidate in list(candidates[shift:]) + list(candidates[:shift]):
            start = time.perf_counter()
            for _ in range(steps):
                candidate.step()
            candidate.times.append((time.perf_counter() - start) / steps * 1e3)
        logger.info(f'round {index + 1}/{rounds}: ' + ', '.join(
            f'{c.name} {c.times[-1]:.0f} ms' for c in candidates))


def median_ratio(candidate: Candidate, reference: Candidate) -> float:
    """Median over rounds of the per-round time ratio ``candidate / reference``."""
    return statistics.median(a / b for a, b in zip(candidate.times, reference.times))


def result_rows(candidates: Sequence[Candidate]) -> List[Dict]:
    """One row per candidate: median step time, ratios against our looped form and the best
    (fastest) peer of the same model, peak memory and its ratio against our looped form."""
    rows = []
    by_model: Dict[str, List[Candidate]] = {}
    for candidate in candidates:
        by_model.setdefault(candidate.model, []).append(candidate)
    for model, group in by_model.items():
        looped = next((c for c in group if c.name == 'ours:looped'), None)
        peers = [c for c in group if not c.name.startswith('ours:')]
        best_peer = min(peers, key=lambda c: statistics.median(c.times)) if peers else None
        for candidate in group:
            rows.append(dict(
                model=model, name=candidate.name, step_ms=statistics.median(candidate.times),
                vs_looped=median_ratio(candidate, looped) if looped else None,
                vs_best_peer=median_ratio(candidate, best_peer) if best_peer else None,
                best_peer=best_peer.name if best_peer else None, peak_mb=candidate.peak_mb,
                memory_vs_looped=(candidate.peak_mb / looped.peak_mb
                                  if looped and candidate.peak_mb and looped.peak_mb else None),
                rounds=len(candidate.times), warmup_s=candidate.warmup_s))
    return rows


def _fmt(value: Optional[float], pattern: str) -> str:
    return 'n/a' if value is None else pattern.format(value)


def format_table(rows: Sequence[Dict], sizes: Dict[str, Tuple[int, int]]) -> str:
    """Markdown table of :func:`result_rows` (``sizes``: model -> (input size, batch))."""
    lines = ['| model | input | batch | variant | step (ms, median) | vs ours looped | '
             'vs best peer | peak memory (MB) | memory vs looped |',
             '|---|---|---:|---|---:|---:|---:|---:|---:|']
    for row in rows:
        size, batch = sizes[row['model']]
        peer = ('n/a' if row['vs_best_peer'] is None else
                f"{row['vs_best_peer']:.2f}x ({row['best_peer']})")
        lines.append(
            f"| {row['model']} | {size} | {batch} | {row['name']} | {row['step_ms']:.0f} | "
            f"{_fmt(row['vs_looped'], '{:.2f}x')} | {peer} | {_fmt(row['peak_mb'], '{:.0f}')} | "
            f"{_fmt(row['memory_vs_looped'], '{:.2f}x')} |")
    return '\n'.join(lines)


def plot(rows: Sequence[Dict], path: str, title: str) -> None:
    """Bar chart: every candidate's step time relative to our looped form, per model."""
    import matplotlib  # optional and slow to import: only when a plot is drawn
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # optional: matplotlib, after choosing the Agg backend
    models = list(dict.fromkeys(r['model'] for r in rows))
    names = list(dict.fromkeys(r['name'] for r in rows))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(models) + 2), 4))
    for index, name in enumerate(names):
        xs, ys = [], []
        for position, model in enumerate(models):
            row = next((r for r in rows if r['model'] == model and r['name'] == name), None)
            if row is not None and row['vs_looped'] is not None:
                xs.append(position + index * width)
                ys.append(row['vs_looped'])
        ax.bar(xs, ys, width, label=name)
    ax.axhline(1.0, color='black', linewidth=0.8)
    ax.set_xticks([p + width * (len(names) - 1) / 2 for p in range(len(models))])
    ax.set_xticklabels(models)
    ax.set_ylabel('training step time / ours looped')
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def unit_graph_breaks(moment_stats: bool = True) -> int:
    """Graph breaks ``torch.compile`` (dynamo) finds in a training-mode MobileOne unit (a
    pointwise unit with 2 branches and the identity branch, plus a depthwise one)."""
    import torch._dynamo  # slow to import (torch.compile's tracer): only when asked for
    units = nn.Sequential(
        MobileOneUnit(8, 8, 3, num_convs=2, groups=8, moment_stats=moment_stats),
        MobileOneUnit(8, 8, 1, num_convs=2, moment_stats=moment_stats)).train()
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(units)(torch.randn(2, 8, 8, 8))
    return explanation.graph_break_count
