"""Strict conversion of published MobileOne checkpoints into mmmobileone / mmpretrain keys.

Every source tensor must be explained by a rule of its layout and land on a tensor of our model
with the same shape, and every tensor of our model must be filled; otherwise
:class:`ConversionError` lists all problems at once and nothing is written. The single tolerated
gap is a missing BatchNorm ``num_batches_tracked`` counter (some exporters strip it; it does not
affect inference), which is filled with 0 and reported.
"""
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from ..errors import CheckpointError, ConfigError
from ..fileio import save_checkpoint_atomic
from ..models.backbones import ARCH_SETTINGS, MobileOne
from ..models.reparam import FUSED_KEY_SUFFIX, TRAIN_KEY_SUFFIX
from .layouts import Layout, get_layout

logger = logging.getLogger(__name__)

#: Our classifier keys (mmpretrain ``LinearClsHead``).
HEAD_KEYS = ('head.fc.weight', 'head.fc.bias')
#: How many offending keys an error message shows per category.
MAX_LISTED = 8


class ConversionError(CheckpointError):
    """A checkpoint does not match the layout or the architecture it is converted as."""


@dataclass
class ConversionResult:
    """A converted state dict and what was found out about it.

    Attributes:
        state_dict: Our keys (``backbone.*``, and ``head.fc.*`` unless backbone-only), in the
            order of our model's ``state_dict()``.
        arch: The MobileOne variant (``'s0'`` ... ``'mu2'``).
        fused: Whether the units are fused (``branch_reparam``) rather than train-time branches.
        num_classes: Classes of the source classifier, ``None`` when it has none.
        filled: Our keys that the source lacked and that were filled with defaults
            (``num_batches_tracked`` counters only).
        dropped: Source keys that were recognised and deliberately left out (the classifier
            when converting backbone-only).
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    arch: str
    fused: bool
    num_classes: Optional[int]
    filled: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)


def _listing(title: str, items: List[str]) -> str:
    shown = ', '.join(items[:MAX_LISTED])
    more = f' ... (+{len(items) - MAX_LISTED} more)' if len(items) > MAX_LISTED else ''
    return f'  {title} ({len(items)}): {shown}{more}'


def unwrap_state_dict(checkpoint: Mapping) -> Dict[str, object]:
    """Return the plain state dict of a loaded checkpoint.

    Accepts a state dict or ``{'state_dict': state_dict, ...}``, and strips a ``module.``
    prefix (left by DataParallel / DDP) from every key that has it.

    Raises:
        ConversionError: if stripping the prefix makes two keys collide.
    """
    if not isinstance(checkpoint, Mapping):
        raise ConversionError(f'expected a checkpoint dict, got {type(checkpoint).__name__}')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping):
        raise ConversionError(f"checkpoint['state_dict'] is a {type(state_dict).__name__}, "
                              'expected a dict of tensors')
    plain: Dict[str, object] = {}
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        if name in plain:
            raise ConversionError(f'key {key!r} collides with {name!r} once the "module." '
                                  'prefix is removed; the checkpoint holds two copies')
        plain[name] = value
    return plain


def target_shapes(arch: str, fused: bool,
                  num_classes: Optional[int] = None) -> 'OrderedDict[str, torch.Size]':
    """Shapes of our classifier's tensors for ``arch`` (built on the meta device, no memory).

    Args:
        arch: MobileOne variant name.
        fused: Fused (deploy) form instead of the train-time branches.
        num_classes: Add ``head.fc.*`` for this many classes; ``None`` for the backbone only.
    """
    with torch.device('meta'):
        backbone = MobileOne(arch, deploy=fused)
    shapes = OrderedDict((f'backbone.{key}', value.shape)
                         for key, value in backbone.state_dict().items())
    if num_classes is not None:
        channels = backbone.stage_channels[-1]
        shapes['head.fc.weight'] = torch.Size((num_classes, channels))
        shapes['head.fc.bias'] = torch.Size((num_classes, ))
    return shapes


def _is_counter(key: str) -> bool:
    return key.endswith('num_batches_tracked')


def _mismatches(mapped: Mapping[str, torch.Tensor],
                expected: Mapping[str, torch.Size]) -> Tuple[List[str], List[str], List[str]]:
    """(unexpected, missing, wrong-shape) between mapped source tensors and a template."""
    unexpected = [key for key in mapped if key not in expected]
    missing = [key for key in expected if key not in mapped and not _is_counter(key)]
    shapes = [f'{key} {tuple(mapped[key].shape)} != {tuple(shape)}'
              for key, shape in expected.items()
              if key in mapped and tuple(mapped[key].shape) != tuple(shape)]
    return unexpected, missing, shapes


def infer_arch(mapped: Mapping[str, torch.Tensor], fused: bool) -> str:
    """The variant whose backbone matches the mapped keys and shapes exactly.

    Raises:
        ConversionError: if no variant matches; names the closest one and its differences.
    """
    backbone = {k: v for k, v in mapped.items() if k.startswith('backbone.')}
    scored = []
    for arch in ARCH_SETTINGS:
        problems = _mismatches(backbone, target_shapes(arch, fused))
        count = sum(len(p) for p in problems)
        if count == 0:
            return arch
        scored.append((count, arch, problems))
    count, arch, (unexpected, missing, shapes) = min(scored)
    raise ConversionError('\n'.join([
        f'the checkpoint matches no MobileOne variant {sorted(ARCH_SETTINGS)} '
        f'({"fused" if fused else "unfused"}); closest is {arch!r} with {count} differences:',
        _listing('unexpected', unexpected), _listing('missing', missing),
        _listing('wrong shape', shapes)]))


def convert_state_dict(checkpoint: Mapping, layout: str, arch: str = 'auto',
                       backbone_only: bool = False) -> ConversionResult:
    """Convert a published checkpoint (already loaded) to our keys, strictly.

    Args:
        checkpoint: The loaded file: a state dict, or a dict with ``'state_dict'``.
        layout: ``'apple'`` (Apple's ml-mobileone, fused or unfused) or ``'timm'``.
        arch: MobileOne variant, or ``'auto'`` to recognise it from the tensors' names and
            shapes.
        backbone_only: Drop the classifier (for detection / segmentation initialisation).

    Returns:
        The converted state dict with what was found out about the checkpoint.

    Raises:
        ConversionError: listing every unrecognised key, unexpected key, missing key and shape
            mismatch.
    """
    rules: Layout = get_layout(layout)
    if arch != 'auto' and arch not in ARCH_SETTINGS:
        raise ConfigError(f"unknown arch {arch!r}; choose 'auto' or one of {sorted(ARCH_SETTINGS)}")
    state_dict = unwrap_state_dict(checkpoint)
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    unknown, mapped, origin = [], OrderedDict(), {}
    for key, value in state_dict.items():
        if key in not_tensors:
            continue
        target = rules.map_key(key)
        if target is None:
            unknown.append(key)
        elif target in mapped:
            unknown.append(f'{key} (second source of {target}, first {origin[target]})')
        else:
            mapped[target] = value
            origin[target] = key
    if unknown or not_tensors:
        raise ConversionError('\n'.join(
            [f'the checkpoint does not follow the {layout!r} layout:'] +
            ([_listing('keys no rule explains', unknown)] if unknown else []) +
            ([_listing('values that are not tensors', not_tensors)] if not_tensors else []) +
            ['(is it the right --source? already converted checkpoints need no conversion)']))

    fused_units = [k for k in mapped if k.endswith(FUSED_KEY_SUFFIX)]
    branch_units = [k for k in mapped if k.endswith(TRAIN_KEY_SUFFIX)]
    if fused_units and branch_units:
        raise ConversionError(f'the checkpoint mixes {len(fused_units)} fused units (e.g. '
                              f'{origin[fused_units[0]]}) with {len(branch_units)} train-time '
                              f'units (e.g. {origin[branch_units[0]]})')
    if not fused_units and not branch_units:
        raise ConversionError(f'the checkpoint holds no MobileOne unit of the {layout!r} layout '
                              f'({len(mapped)} tensors recognised)')
    fused = bool(fused_units)

    num_classes = mapped['head.fc.weight'].shape[0] if 'head.fc.weight' in mapped else None
    if num_classes is None and not backbone_only:
        raise ConversionError('the checkpoint has no classifier; convert it with '
                              '--backbone-only')
    if arch == 'auto':
        arch = infer_arch(mapped, fused)
    expected = target_shapes(arch, fused, num_classes)
    unexpected, missing, shapes = _mismatches(mapped, expected)
    if unexpected or missing or shapes:
        raise ConversionError('\n'.join(
            [f'the checkpoint does not fit MobileOne-{arch} '
             f'({"fused" if fused else "unfused"}):'] +
            [_listing(title, items) for title, items in
             (('unexpected (source key -> our key)', [f'{origin[k]} -> {k}' for k in unexpected]),
              ('missing', missing), ('wrong shape', shapes)) if items]))

    converted, filled, dropped = OrderedDict(), [], []
    for key in expected:
        if backbone_only and key in HEAD_KEYS:
            dropped.append(origin[key])
            continue
        if key in mapped:
            converted[key] = mapped[key].detach().clone().contiguous()
        else:  # a num_batches_tracked counter (the only gap _mismatches tolerates)
            converted[key] = torch.tensor(0, dtype=torch.long)
            filled.append(key)
    if filled:
        logger.warning('the checkpoint has no num_batches_tracked for %d BatchNorm layers; '
                       'filled with 0 (no effect on inference)', len(filled))
    return ConversionResult(converted, arch, fused, num_classes, filled, dropped)


def save_converted(result: ConversionResult, path: str, meta: Optional[Dict] = None) -> None:
    """Write ``dict(meta=..., state_dict=...)`` to ``path`` atomically.

    ``meta`` is merged into the recorded ``arch``, ``fused`` and ``num_classes``.
    """
    info = dict(arch=result.arch, fused=result.fused, num_classes=result.num_classes,
                backbone_only='head.fc.weight' not in result.state_dict,
                converted_by='mmmobileone', **(meta or {}))
    save_checkpoint_atomic(dict(meta=info, state_dict=result.state_dict), path)
