"""Parameters and MACs, as the paper reports them: of a module, a MobileOne classifier or a config.

MACs are mmengine's (fvcore's) counts, which count one multiply-add as one "flop"; the paper's
"FLOPs" are these MACs.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.analysis import FlopAnalyzer
from torch import nn

from ..apis.model import init_model
from ..deploy.outputs import DEFAULT_SIZES, infer_task, tensor_model
from ..errors import ConfigError
from ..models.backbones import MobileOne
from ..models.reparam import reparameterize_model

#: The paper's fused parameters and MACs of the 1000-class classifiers at 224 px, as printed
#: (Tables 9, 13 and 17); the "paper" columns of :func:`format_paper_table`.
PAPER_CLASSIFIERS = {
    's0': ('2.1M', '275M'), 's1': ('4.8M', '825M'), 's2': ('7.8M', '1299M'),
    's3': ('10.1M', '1896M'), 's4': ('14.8M', '2978M'), 'mu0': ('0.57M', '68M'),
    'mu1': ('0.98M', '139M'), 'mu2': ('1.3M', '214M'),
}

#: Layouts of :func:`markdown_table`: one row per config and form (docs/benchmarks.md), fused
#: classifiers beside the paper (README), one row per config with both forms and the backbone
#: (docs/segmentation.md).
MARKDOWN_LAYOUTS = ('configs', 'paper', 'compact')


def count_params_and_macs(model: nn.Module,
                          input_shape: Sequence[int] = (1, 3, 224, 224)) -> Tuple[int, int]:
    """Count parameters and multiply-accumulates of one forward pass on ``input_shape``.

    MACs are mmengine's (fvcore's) counts, which count one multiply-add as one "flop"; the
    paper's "FLOPs" are these MACs. The model is run in eval mode on a zero tensor.
    """
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        inputs = torch.zeros(*input_shape, device=param.device, dtype=param.dtype)
        analyzer = FlopAnalyzer(model, inputs)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        macs = int(analyzer.total())
    finally:
        model.train(was_training)
    return params, macs


class _LastStage(nn.Module):

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)[-1]


def mobileone_classifier(arch: Union[str, Dict], num_classes: int = 1000,
                         **backbone_kwargs) -> nn.Sequential:
    """MobileOne with the paper's head (global average pool + linear), as a plain module."""
    backbone = MobileOne(arch, out_indices=(3, ), **backbone_kwargs)
    return nn.Sequential(_LastStage(backbone), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(backbone.stage_channels[-1], num_classes))


def fused_classifier_complexity(arch: Union[str, Dict], resolution: int = 224,
                                **backbone_kwargs) -> Tuple[int, int]:
    """Fused params and MACs of ``arch`` with a 1000-class head, at ``resolution`` px."""
    model = reparameterize_model(mobileone_classifier(arch, **backbone_kwargs))
    return count_params_and_macs(model, (1, 3, resolution, resolution))


def config_complexity(config, shape: Optional[Sequence[int]] = None, fused: bool = True,
                      task: str = 'auto', cfg_options: Optional[Dict] = None) -> Dict:
    """Parameters and MACs of one forward pass of the config's network (batch 1).

    Counts what the exported graph computes (see :mod:`mmmobileone.deploy.outputs`): the
    classifier with its head, the detector up to its raw head outputs, the segmentor up to its
    logits (an mmseg auxiliary head, training-only, is left out). MACs are
    mmengine's counts (one multiply-add = 1), the paper's "FLOPs".

    Args:
        config: Config path or :class:`mmengine.Config`.
        shape: Input ``(H, W)``; default 224 / 320 / 512 for classification / detection /
            segmentation.
        fused: Count the re-parameterized network (what runs at inference).
        task: ``'classification'``, ``'detection'``, ``'segmentation'`` or ``'auto'``.
        cfg_options: Config overrides.

    Returns:
        ``dict(params=int, macs=int, task=str, shape=(H, W), fused=bool,
        backbone_params=int or None, arch=str or None)``; ``backbone_params`` counts the
        model's ``backbone`` (fused or not, as the model), ``arch`` is a MobileOne backbone's
        ``arch_name``.
    """
    model = init_model(config, None, fuse=fused, cfg_options=cfg_options)
    if getattr(model, 'auxiliary_head', None) is not None:
        model.auxiliary_head = None  # mmseg: training-only, neither run nor shipped
    task = infer_task(model) if task == 'auto' else task
    height, width = shape or DEFAULT_SIZES[task]
    params, macs = count_params_and_macs(tensor_model(model, task), (1, 3, height, width))
    backbone = getattr(model, 'backbone', None)
    backbone_params = (sum(p.numel() for p in backbone.parameters())
                       if isinstance(backbone, nn.Module) else None)
    return dict(params=params, macs=macs, task=task, shape=(height, width), fused=fused,
                backbone_params=backbone_params, arch=getattr(backbone, 'arch_name', None))


def format_table(rows: List[Dict]) -> str:
    """Markdown table of :func:`config_complexity` results, one row per config and form."""
    lines = ['| config | form | input | params (M) | MACs (G) |', '|---|---|---|---:|---:|']
    for row in rows:
        lines.append(f"| {row['config']} | {'fused' if row['fused'] else 'unfused'} | "
                     f"{row['shape'][0]}x{row['shape'][1]} | {row['params'] / 1e6:.3f} | "
                     f"{row['macs'] / 1e9:.3f} |")
    return '\n'.join(lines)


def format_paper_table(rows: List[Dict]) -> str:
    """Markdown table of fused MobileOne classifiers beside the paper's figures (README).

    Args:
        rows: :func:`config_complexity` results of classifier configs; unfused rows are
            skipped. A variant the paper does not list gets ``-`` in its "paper" columns.
    """
    lines = ['| variant | params | paper | MACs | paper |', '|---|---|---|---|---|']
    for row in rows:
        if not row['fused']:
            continue
        arch = row.get('arch') or row['config']
        paper_params, paper_macs = PAPER_CLASSIFIERS.get(arch, ('-', '-'))
        variant = arch.upper() if arch in PAPER_CLASSIFIERS and arch.startswith('s') else arch
        lines.append(f"| {variant} | {row['params'] / 1e6:.2f}M | {paper_params} | "
                     f"{row['macs'] / 1e6:.1f}M | {paper_macs} |")
    return '\n'.join(lines)


def format_compact_table(rows: List[Dict]) -> str:
    """Markdown table with one row per config: fused / unfused counts and the fused backbone.

    Args:
        rows: :func:`config_complexity` results with a fused and an unfused row per config
            (in any order); a config with one form only shows ``-`` for the other.
    """
    lines = ['| config | input | params (M) fused / unfused | backbone params (M), fused | '
             'MACs (G) fused / unfused |', '|---|---|---:|---:|---:|']
    pairs: Dict[Tuple, Dict[bool, Dict]] = {}
    for row in rows:
        pairs.setdefault((row['config'], tuple(row['shape'])), {})[row['fused']] = row

    def cell(forms: Dict[bool, Dict], key: str, scale: float, digits: int) -> str:
        return ' / '.join(f'{forms[fused][key] / scale:.{digits}f}' if fused in forms else '-'
                          for fused in (True, False))

    for (config, (height, width)), forms in pairs.items():
        backbone = forms.get(True, {}).get('backbone_params')
        lines.append(f"| {config} | {height}x{width} | {cell(forms, 'params', 1e6, 2)} | "
                     f"{'-' if backbone is None else f'{backbone / 1e6:.2f}'} | "
                     f"{cell(forms, 'macs', 1e9, 1)} |")
    return '\n'.join(lines)


def markdown_table(rows: List[Dict], layout: str = 'configs') -> str:
    """The markdown table of :func:`config_complexity` results in one of
    :data:`MARKDOWN_LAYOUTS`: ``'configs'`` (:func:`format_table`), ``'paper'``
    (:func:`format_paper_table`) or ``'compact'`` (:func:`format_compact_table`)."""
    formatters = dict(configs=format_table, paper=format_paper_table,
                      compact=format_compact_table)
    if layout not in formatters:
        raise ConfigError(f'unknown table layout {layout!r}; choose from {MARKDOWN_LAYOUTS}')
    return formatters[layout](rows)
