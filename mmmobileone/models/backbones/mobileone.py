"""The MobileOne backbone (Vasu et al., "An Improved One millisecond Mobile Backbone")."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.model import BaseModule, Sequential
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError
from ...registry import MODELS
from ..layers import MobileOneUnit
from ..layers.checkpointing import checkpointed
from .arch import BASE_CHANNELS, resolve_arch

OutIndex = Union[int, str]
#: Modules that ``with_cp`` can name, in order: the stem, then the four stages.
CP_STAGES = ('stage0', 'stage1', 'stage2', 'stage3', 'stage4')


def _check_per_stage(name: str, value: Sequence[int], allowed: str, valid) -> Tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(
            isinstance(v, int) and not isinstance(v, bool) and valid(v) for v in value):
        raise ConfigError(f'{name} must be 4 integers (one per stage), each {allowed}; '
                          f'got {value!r}')
    return tuple(value)


def _check_with_cp(with_cp: Union[bool, Sequence[bool]]) -> Tuple[bool, ...]:
    """One flag per module of :data:`CP_STAGES` from a bool or a sequence of 5 bools."""
    if isinstance(with_cp, bool):
        return (with_cp, ) * len(CP_STAGES)
    if (isinstance(with_cp, (list, tuple)) and len(with_cp) == len(CP_STAGES)
            and all(isinstance(v, bool) for v in with_cp)):
        return tuple(with_cp)
    raise ConfigError(f'with_cp must be a bool or {len(CP_STAGES)} bools (one per module '
                      f'{", ".join(CP_STAGES)}), got {with_cp!r}')


@MODELS.register_module()
class MobileOne(BaseModule):
    """MobileOne backbone: train-time branches, one plain conv per unit once fused.

    A stem unit (3x3, stride 2), then four stages of blocks; a block is a depthwise 3x3 unit
    followed by a pointwise 1x1 unit, and the first depthwise unit of a stage carries the stage's
    stride. Parameter names equal mmpretrain's ``MobileOne``, so its checkpoints load as they
    are (prefix ``backbone.``).

    The branches of every unit are those of the ImageNet network (all stage strides 2),
    whatever ``strides`` says: the first depthwise unit of a stage never has the BN identity
    branch, also when its stage has stride 1 (output stride 16 or 8). In the ImageNet layout
    that unit has stride 2 and no identity branch, so pretrained checkpoints (mmpretrain's,
    Apple's, timm's) have no tensor for one; a branch grown for stride 1 would keep its
    default initialization while the rest of the network starts from ImageNet. Zero-initializing
    that branch instead would make the function equal to ImageNet's but still leave tensors the
    checkpoint does not hold (reported missing, trained from a state ImageNet never saw).
    Dropping the branch keeps the state dict equal to the checkpoint's at any output stride;
    fusion stays exact (a unit is exact with or without it).

    Args:
        arch: ``'s0'``-``'s4'``, ``'mu0'``-``'mu2'``, or a dict (see :func:`resolve_arch`).
        in_channels: Input image channels.
        out_indices: Which outputs to return, in order: ``0``-``3`` are stages 1-4 (as in
            mmpretrain), ``'stem'`` is the stem output; negative ints count from stage 4.
        frozen_stages: Freeze (eval mode, no gradients) the stem and the first ``frozen_stages``
            stages; ``-1`` freezes nothing, ``0`` only the stem.
        strides: Stride of each stage's first unit, each 1 or 2. The stem always has stride 2,
            so the output stride is ``2 * prod(strides)``. A stride of 1 changes no branch
            (see above).
        dilations: Dilation of the 3x3 depthwise units of each stage, applied to every training
            branch, so that fused and unfused outputs agree. ``strides=(2, 2, 1, 1),
            dilations=(1, 1, 2, 4)`` gives output stride 8; ``(2, 2, 2, 1)``, ``(1, 1, 1, 2)``
            gives 16.
        use_se: Keep the architecture's squeeze-excitation blocks (only S4 has them). ``False``
            drops them, as the paper's S4 segmentation model.
        norm_cfg: Norm layer config (``BN``, ``SyncBN``, any BatchNorm type).
        act_cfg: Activation config.
        norm_eval: Keep norm layers in eval mode while training.
        deploy: Build the fused (inference) form directly.
        with_cp: Activation checkpointing while training (mmpretrain's name): every block
            (depthwise + pointwise unit; the stem unit on its own) of a checkpointed stage
            keeps only its input for backward and recomputes its branches there, which trades
            one more forward of those units for most of their activation memory. ``True`` /
            ``False`` for the whole network, or 5 bools for ``stage0`` (stem) and
            ``stage1``-``stage4``. Outputs, gradients and BatchNorm running
            statistics equal those without it (the recomputation does not update running
            statistics). Measured in docs/benchmarks.md (section "Training step").
        moment_stats: Compute the train-time 1x1 and identity branches from the input's
            moments (see :class:`~mmmobileone.models.layers.MobileOneUnit`): same function,
            gradients and running statistics up to float32 rounding, checkpoints unchanged.
        quant_friendly: Train the QARepVGG structure (no BN on the identity and 1x1 branches,
            one BN after each unit's sum; see
            :class:`~mmmobileone.models.layers.MobileOneUnit`), an opt-in for networks that
            will run in INT8. Its train-time checkpoints have other keys (MobileOne's
            pretrained weights do not load); the fused form is the same plain conv stack.
        init_cfg: mmengine initialization config.

    Example:
        >>> import torch
        >>> model = MobileOne('s0', out_indices=('stem', 0, 1, 2, 3)).eval()
        >>> [tuple(out.shape) for out in model(torch.rand(1, 3, 224, 224))]
        [(1, 48, 112, 112), (1, 48, 56, 56), (1, 128, 28, 28), (1, 256, 14, 14), (1, 1024, 7, 7)]
    """

    def __init__(self,
                 arch: Union[str, Dict] = 's0',
                 in_channels: int = 3,
                 out_indices: Union[OutIndex, Sequence[OutIndex]] = (3, ),
                 frozen_stages: int = -1,
                 strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 use_se: bool = True,
                 norm_cfg: Optional[Dict] = None,
                 act_cfg: Optional[Dict] = None,
                 norm_eval: bool = False,
                 deploy: bool = False,
                 with_cp: Union[bool, Sequence[bool]] = False,
                 moment_stats: bool = False,
                 quant_friendly: bool = False,
                 init_cfg: Optional[Union[Dict, List[Dict]]] = None) -> None:
        if init_cfg is None:
            init_cfg = [
                dict(type='Kaiming', layer=['Conv2d']),
                dict(type='Constant', val=1, layer=['_BatchNorm'])
            ]
        super().__init__(init_cfg)
        self.arch = resolve_arch(arch)
        self.arch_name = arch if isinstance(arch, str) else 'custom'
        self.strides = _check_per_stage('strides', strides, 'in (1, 2)', lambda v: v in (1, 2))
        self.dilations = _check_per_stage('dilations', dilations, '>= 1', lambda v: v >= 1)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= 4:
            raise ConfigError(f'frozen_stages must be an int in [-1, 4], got {frozen_stages!r}')
        self.out_indices = self._check_out_indices(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.deploy = deploy
        self.use_se = use_se
        self.with_cp = _check_with_cp(with_cp)
        self.quant_friendly = bool(quant_friendly)
        unit_cfg = dict(norm_cfg=copy.deepcopy(norm_cfg) if norm_cfg else dict(type='BN'),
                        act_cfg=copy.deepcopy(act_cfg) if act_cfg else dict(type='ReLU'),
                        deploy=deploy, moment_stats=moment_stats,
                        quant_friendly=quant_friendly)

        stem_channels = min(64, int(BASE_CHANNELS[0] * self.arch['width_factor'][0]))
        self.stage0 = MobileOneUnit(in_channels, stem_channels, 3,
                                    num_convs=self.arch['stem_num_conv_branches'], stride=2,
                                    **unit_cfg)
        self.stem_channels = stem_channels
        self.stage_channels: List[int] = []
        channels = stem_channels
        for i in range(4):
            out_channels = int(BASE_CHANNELS[i] * self.arch['width_factor'][i])
            num_blocks = self.arch['num_blocks'][i]
            first_se = num_blocks - (self.arch['num_se_blocks'][i] if use_se else 0)
            units = []
            for j in range(num_blocks):
                unit_kwargs = dict(num_convs=self.arch['num_conv_branches'][i],
                                   use_se=j >= first_se, **unit_cfg)
                # depthwise 3x3; the first one has the ImageNet layout's branches (stride 2:
                # no identity) whatever its stride, so pretrained checkpoints load whole
                units.append(MobileOneUnit(
                    channels, channels, 3, stride=self.strides[i] if j == 0 else 1,
                    dilation=self.dilations[i], groups=channels,
                    identity=False if j == 0 else None, **unit_kwargs))
                units.append(MobileOneUnit(channels, out_channels, 1, **unit_kwargs))
                channels = out_channels
            self.add_module(f'stage{i + 1}', Sequential(*units))
            self.stage_channels.append(out_channels)
        self._freeze_stages()

    @staticmethod
    def _check_out_indices(out_indices) -> Tuple[OutIndex, ...]:
        if isinstance(out_indices, (int, str)):
            out_indices = (out_indices, )
        allowed = "'stem', 0, 1, 2, 3 (or -4..-1)"
        if not isinstance(out_indices, (list, tuple)) or not out_indices:
            raise ConfigError(f'out_indices must be a non-empty sequence of {allowed}, '
                              f'got {out_indices!r}')
        resolved = []
        for index in out_indices:
            if index == 'stem':
                resolved.append('stem')
            elif isinstance(index, int) and not isinstance(index, bool) and -4 <= index <= 3:
                resolved.append(index % 4)
            else:
                raise ConfigError(f'invalid out_indices entry {index!r} in {out_indices!r}; '
                                  f'allowed: {allowed}')
        if len(set(resolved)) != len(resolved):
            raise ConfigError(f'out_indices {out_indices!r} repeats an output')
        order = {'stem': -1, 0: 0, 1: 1, 2: 2, 3: 3}
        return tuple(sorted(resolved, key=order.__getitem__))

    @property
    def out_channels(self) -> Tuple[int, ...]:
        """Channels of each output, in the order of ``out_indices``."""
        return tuple(self.stem_channels if i == 'stem' else self.stage_channels[i]
                     for i in self.out_indices)

    @property
    def output_stride(self) -> int:
        """Total stride of the last stage."""
        stride = 2
        for s in self.strides:
            stride *= s
        return stride

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self._run_stage(0, x)
        outs = [x] if 'stem' in self.out_indices else []
        for i in range(4):
            x = self._run_stage(i + 1, x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _run_stage(self, index: int, x: Tensor) -> Tensor:
        stage = getattr(self, CP_STAGES[index])
        if not (self.with_cp[index] and self.training):
            return stage(x)
        if index == 0:
            return checkpointed([stage], x)
        units = list(stage)
        for start in range(0, len(units), 2):  # one block: depthwise + pointwise unit
            x = checkpointed(units[start:start + 2], x)
        return x

    def _freeze_stages(self) -> None:
        for i in range(self.frozen_stages + 1):
            stage = getattr(self, f'stage{i}')
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MobileOne':
        """Set train mode, keeping frozen stages and (with ``norm_eval``) norms in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> None:
        """Fuse every unit in place (exact in eval mode). A second call does nothing."""
        for unit in [m for m in self.modules() if isinstance(m, MobileOneUnit)]:
            unit.switch_to_deploy()
        self.deploy = True
