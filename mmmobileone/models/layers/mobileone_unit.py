"""The re-parameterizable MobileOne unit (one depthwise or pointwise conv of a block)."""
import copy
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule, ModuleList, Sequential
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import CheckpointError, ConfigError
from ..reparam import FUSED_KEY_SUFFIX, TRAIN_KEY_SUFFIX
from .fusion import accumulation_dtype, bn_scale_shift, fold_conv_bn, identity_kernel, pad_to_kernel
from .moment_branches import moment_branch_sum, pointwise_moments_pay_off, supports_moments
from .squeeze_excitation import SqueezeExcitation


class CheckpointFormError(CheckpointError, RuntimeError):
    """A fused checkpoint loaded into a train-time unit, or the reverse.

    Raised by ``load_state_dict``; also a ``RuntimeError``, as PyTorch's own loading errors.
    """


class MobileOneUnit(BaseModule):
    """A MobileOne unit: over-parameterized at train time, a single conv at inference.

    Train time (``deploy=False``), the output is ``act(se(sum of branches))`` where the branches
    are ``num_convs`` conv-BN branches of ``kernel_size``, a 1x1 conv-BN "scale" branch when
    ``kernel_size > 1``, and a BN-only identity branch when ``in_channels == out_channels`` and
    ``stride == 1`` (unless ``identity=False``). :meth:`switch_to_deploy` folds all branches
    into one biased conv ``branch_reparam``; the result is exact for any stride and dilation
    because every branch uses the same stride and the dilated kernels share their centre tap.

    Parameter names equal mmpretrain's ``MobileOneBlock`` (``branch_conv_list.{i}.conv/norm``,
    ``branch_scale``, ``branch_norm``, ``branch_reparam``, ``se.conv1/conv2``).

    ``quant_friendly=True`` is the QARepVGG structure (Chu et al., "Make RepVGG Greater Again:
    A Quantization-aware Approach", 2023) applied to the unit: the 1x1 scale branch is a bare
    conv (``branch_scale.conv``, no BN), the identity branch is the input itself (no BN), and one
    BN (``post_norm``) follows the sum, before SE and the activation. The conv branches keep
    their BN. Train-time BN on the identity and 1x1 branches is what gives a fused kernel the
    folded-identity outliers and the per-channel variance mismatch that INT8 rounds badly; here
    the fused kernel is ``post_norm`` applied to (the BN-folded conv branches + the 1x1 kernel +
    the identity), exact like the default. A checkpoint of one form does not load into the other
    (different keys); the fused (deploy) form is the same plain conv either way.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Odd kernel size of the conv branches (3 for depthwise units, 1 for pointwise).
        num_convs: Number of conv-BN branches ``k``.
        stride: Stride of every branch.
        dilation: Dilation of the ``kernel_size`` branches; the padding keeps the spatial size
            (``dilation * (kernel_size // 2)``).
        groups: Conv groups (``in_channels`` for depthwise units).
        use_se: Apply squeeze-excitation (SE-ReLU) to the sum of branches.
        identity: Whether the unit has the BN identity branch. ``None`` (default): when
            ``in_channels == out_channels`` and ``stride == 1``, mmpretrain's rule. ``False``:
            never, whatever the stride; the backbone uses it to keep the branches (and so the
            parameter names) of a pretrained layout in which the unit had stride 2 (see
            :class:`~mmmobileone.models.backbones.MobileOne`). ``True``: always, which needs
            ``in_channels == out_channels`` and ``stride == 1``.
        norm_cfg: Norm layer config; any BatchNorm type (``BN``, ``SyncBN``) can be fused.
        act_cfg: Activation config.
        deploy: Build the fused single-conv form directly.
        quant_friendly: The QARepVGG structure (above) instead of MobileOne's; ``moment_stats``
            does not apply to it.
        moment_stats: In training mode, compute the 1x1 branches and the identity branch
            from the input's mean and covariance (one conv for all of them, see
            :mod:`.moment_branches`) instead of one conv and BatchNorm each: the same function,
            gradients and running statistics up to float32 rounding. Applies to the scale and
            identity branches of 3x3 units always, and to a 1x1 unit where the moment form
            takes fewer multiply-adds for the batch at hand
            (:func:`~.moment_branches.pointwise_moments_pay_off`: ``k >= 2`` branches and
            enough pixels, never for ``k = 1``); needs plain ``BN`` norms (SyncBN and
            eval-mode norms use the looped form).
        init_cfg: mmengine initialization config.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 num_convs: int = 1,
                 stride: int = 1,
                 dilation: int = 1,
                 groups: int = 1,
                 use_se: bool = False,
                 identity: Optional[bool] = None,
                 norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None,
                 deploy: bool = False,
                 moment_stats: bool = False,
                 quant_friendly: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg)
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f'kernel_size must be a positive odd number, got {kernel_size}')
        if num_convs < 1:
            raise ConfigError(f'num_convs must be at least 1, got {num_convs}')
        if stride < 1 or dilation < 1:
            raise ConfigError(f'stride and dilation must be >= 1, got {stride} and {dilation}')
        can_have_identity = in_channels == out_channels and stride == 1
        if not (identity is None or isinstance(identity, bool)):
            raise ConfigError(f'identity must be None, True or False, got {identity!r}')
        if identity and not can_have_identity:
            raise ConfigError(f'identity=True needs in_channels == out_channels and stride == 1, '
                              f'got {in_channels}, {out_channels} and stride {stride}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.num_convs = num_convs
        self.stride = stride
        self.dilation = dilation
        self.groups = groups
        self.padding = dilation * (kernel_size // 2)
        self.norm_cfg = copy.deepcopy(norm_cfg) if norm_cfg else dict(type='BN')
        self.deploy = deploy
        self.moment_stats = bool(moment_stats)
        self.quant_friendly = bool(quant_friendly)

        self.se = SqueezeExcitation(out_channels) if use_se else nn.Identity()
        self.act = build_activation_layer(act_cfg if act_cfg else dict(type='ReLU'))
        if deploy:
            self.branch_reparam = self._fused_conv()
            return
        has_identity = can_have_identity if identity is None else identity
        #: QARepVGG: a plain identity branch (the input itself), no BN
        self.plain_identity = self.quant_friendly and has_identity
        self.branch_norm = (build_norm_layer(self.norm_cfg, in_channels)[1]
                            if has_identity and not self.quant_friendly else None)
        self.branch_scale = (self._conv_bn(1, norm=not self.quant_friendly)
                             if kernel_size > 1 else None)
        self.branch_conv_list = ModuleList([self._conv_bn(kernel_size) for _ in range(num_convs)])
        self.post_norm = (build_norm_layer(self.norm_cfg, out_channels)[1]
                          if self.quant_friendly else None)

    def _conv_bn(self, kernel_size: int, norm: bool = True) -> Sequential:
        """A bias-free conv followed by a norm layer (unless ``norm=False``), with this unit's
        stride and groups."""
        dilation = self.dilation if kernel_size > 1 else 1
        conv = nn.Conv2d(self.in_channels, self.out_channels, kernel_size, stride=self.stride,
                         padding=dilation * (kernel_size // 2), dilation=dilation,
                         groups=self.groups, bias=False)
        if not norm:
            return Sequential(OrderedDict(conv=conv))
        return Sequential(OrderedDict(conv=conv,
                                      norm=build_norm_layer(self.norm_cfg, self.out_channels)[1]))

    def _fused_conv(self) -> nn.Conv2d:
        return nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                         stride=self.stride, padding=self.padding, dilation=self.dilation,
                         groups=self.groups, bias=True)

    def _moment_branches(
            self, x: Tensor) -> Optional[Tuple[List[nn.Module], Optional[nn.Module]]]:
        """The branches (conv-BN) that ``moment_stats`` computes from the moments of ``x``,
        and the identity norm; ``None`` where the looped form applies."""
        if not (self.moment_stats and self.training) or self.quant_friendly:
            return None
        pixels = x.shape[0] * -(-x.shape[2] // self.stride) * -(-x.shape[3] // self.stride)
        if pixels <= 1:  # BatchNorm's own error ("more than 1 value per channel")
            return None
        if self.kernel_size > 1:
            branches = [] if self.branch_scale is None else [self.branch_scale]
        elif self.groups == 1 and pointwise_moments_pay_off(
                self.num_convs, self.in_channels, self.out_channels,
                x.shape[0] * x.shape[2] * x.shape[3]):
            branches = list(self.branch_conv_list)
        else:
            return None
        depthwise = self.groups == self.in_channels == self.out_channels
        if not branches and self.branch_norm is None or not (self.groups == 1 or depthwise):
            return None
        norms = [b.norm for b in branches]
        if self.branch_norm is not None:
            norms.append(self.branch_norm)
        if not all(supports_moments(norm) for norm in norms):
            return None
        return branches, self.branch_norm

    def forward(self, x: Tensor) -> Tensor:
        moment = None if self.deploy else self._moment_branches(x)
        if self.deploy:
            out = self.branch_reparam(x)
        elif moment is not None:
            branches, identity = moment
            out = moment_branch_sum(x, [b.conv.weight for b in branches],
                                    [b.norm for b in branches], identity, self.groups,
                                    self.stride)
            if self.kernel_size > 1:
                for branch in self.branch_conv_list:
                    out = out + branch(x)
        else:  # same summation order as mmpretrain, so its checkpoints give identical outputs
            out = 0
            if self.branch_norm is not None:
                out = self.branch_norm(x)
            if self.branch_scale is not None:
                out = out + self.branch_scale(x)
            for branch in self.branch_conv_list:
                out = out + branch(x)
            if self.quant_friendly:
                out = self.post_norm(out + x if self.plain_identity else out)
        return self.act(self.se(out))

    @torch.no_grad()
    def fused_weight_and_bias(self):
        """Kernel and bias of the single conv equivalent to the branches (in eval mode).

        Computed in float64 (float32 on devices without it) and cast to the model's dtype.
        """
        reference = self.branch_conv_list[0].conv.weight
        dtype = accumulation_dtype(reference.device)
        weight = torch.zeros(self.out_channels, self.in_channels // self.groups,
                             self.kernel_size, self.kernel_size, dtype=dtype,
                             device=reference.device)
        bias = torch.zeros(self.out_channels, dtype=dtype, device=reference.device)
        for branch in self.branch_conv_list:
            w, b = fold_conv_bn(branch.conv.weight, branch.norm, dtype)
            weight += w
            bias += b
        if self.branch_scale is not None and self.quant_friendly:  # a bare 1x1 conv
            weight += pad_to_kernel(self.branch_scale.conv.weight.to(dtype), self.kernel_size)
        elif self.branch_scale is not None:
            w, b = fold_conv_bn(self.branch_scale.conv.weight, self.branch_scale.norm, dtype)
            weight += pad_to_kernel(w, self.kernel_size)
            bias += b
        if self.plain_identity:
            weight += identity_kernel(self.in_channels, self.groups, self.kernel_size, dtype,
                                      reference.device)
        if self.post_norm is not None:  # BN after the sum: scales the whole fused conv
            scale, shift = bn_scale_shift(self.post_norm, dtype)
            weight *= scale.reshape(-1, 1, 1, 1)
            bias = bias * scale + shift
        if self.branch_norm is not None:
            scale, shift = bn_scale_shift(self.branch_norm, dtype)
            kernel = identity_kernel(self.in_channels, self.groups, self.kernel_size, dtype,
                                     reference.device)
            weight += kernel * scale.reshape(-1, 1, 1, 1)
            bias += shift
        return weight.to(reference.dtype), bias.to(reference.dtype)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuse the branches into ``branch_reparam`` in place. A second call does nothing."""
        if self.deploy:
            return
        for module in self.modules():
            if isinstance(module, _BatchNorm):
                bn_scale_shift(module, torch.float32)  # fail before changing anything
        weight, bias = self.fused_weight_and_bias()
        reference = self.branch_conv_list[0].conv.weight
        fused = self._fused_conv().to(device=reference.device, dtype=reference.dtype)
        fused.weight.copy_(weight)
        fused.bias.copy_(bias)
        fused.weight.requires_grad_(reference.requires_grad)
        fused.bias.requires_grad_(reference.requires_grad)
        del self.branch_conv_list, self.branch_scale, self.branch_norm, self.post_norm
        self.branch_reparam = fused
        self.deploy = True

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        """Refuse a checkpoint whose form (fused or train-time) differs from this unit's."""
        fused_key = f'{prefix}{FUSED_KEY_SUFFIX}'
        branch_key = f'{prefix}{TRAIN_KEY_SUFFIX}'
        if not self.deploy and fused_key in state_dict and branch_key not in state_dict:
            raise CheckpointFormError(
                f'the checkpoint holds a fused (deploy) MobileOne unit at {prefix!r}, but the '
                'model is the train-time form: build it with deploy=True (in a config: '
                'model.backbone.deploy=True), or load the training checkpoint instead')
        if self.deploy and branch_key in state_dict and fused_key not in state_dict:
            raise CheckpointFormError(
                f'the checkpoint holds a train-time (unfused) MobileOne unit at {prefix!r}, but '
                'the model is fused (deploy=True): build it with deploy=False, or convert the '
                'checkpoint with tools/model_converters/reparameterize.py')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'num_convs={self.num_convs}, stride={self.stride}, dilation={self.dilation}, '
                f'groups={self.groups}, deploy={self.deploy}'
                + (', quant_friendly=True' if self.quant_friendly else ''))
