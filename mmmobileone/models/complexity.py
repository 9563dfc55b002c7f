"""Parameter and MAC counts, as the paper reports them."""
from typing import Dict, Sequence, Tuple, Union

import torch
from mmengine.analysis import FlopAnalyzer
from torch import nn

from .backbones import MobileOne
from .reparam import reparameterize_model


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
