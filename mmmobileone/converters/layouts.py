"""Key layouts of published MobileOne checkpoints and their mapping onto ours.

Our keys equal mmpretrain's (``backbone.stage{i}.{j}.branch_conv_list.{b}.conv.weight``, ...,
``head.fc.weight``). A published key is read as *unit prefix* + *unit suffix*, or as a
*classifier* key; each part is translated by a table of regular expressions below. A key that no
rule matches is reported by the converter, never silently dropped.

Apple (``apple/ml-mobileone``, ``mobileone_sX.pth.tar`` / ``mobileone_sX_unfused.pth.tar``):
units ``stage0`` and ``stage{1..4}.{j}``; branches ``rbr_conv.{b}.conv/bn``, ``rbr_scale``,
``rbr_skip``; SE ``se.reduce/expand``; fused ``reparam_conv``; classifier ``linear``.

timm (``mobileone_sX.apple_in1k``, the Apple weights in timm's ByobNet): units ``stem`` and
``stages.{0..3}.{j}``; branches ``conv_kxk.{b}.conv/bn``, ``conv_scale``, ``identity``; SE
``attn.fc1/fc2``; fused ``reparam_conv``; classifier ``head.fc``.
"""
import re
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

from ..errors import ConfigError

#: The tensors of a BatchNorm layer, as they appear in a state dict.
BN_TENSORS = r'(weight|bias|running_mean|running_var|num_batches_tracked)'

Replacement = Union[str, Callable[[re.Match], str]]
Rule = Tuple[str, Replacement]


@dataclass(frozen=True)
class Layout:
    """How one family of checkpoints names its tensors.

    Attributes:
        name: Short name used on the command line (``apple``, ``timm``).
        unit_prefixes: Rules turning a unit prefix (``stage1.3.``) into ours
            (``backbone.stage1.3.``); each pattern is anchored at the start of the key.
        unit_suffixes: Rules turning the rest of a unit key into ours; each must match it whole.
        classifier: Rules turning a classifier key into ours (``head.fc.*``).
    """
    name: str
    unit_prefixes: Sequence[Rule]
    unit_suffixes: Sequence[Rule]
    classifier: Sequence[Rule]

    def map_key(self, key: str) -> Optional[str]:
        """Our name for ``key``, or ``None`` when no rule explains it."""
        mapped = _full_match(self.classifier, key)
        if mapped is not None:
            return mapped
        for pattern, replacement in self.unit_prefixes:
            match = re.match(pattern, key)
            if match is None:
                continue
            suffix = _full_match(self.unit_suffixes, key[match.end():])
            if suffix is None:
                return None
            prefix = replacement(match) if callable(replacement) else match.expand(replacement)
            return prefix + suffix
        return None


def _full_match(rules: Sequence[Rule], text: str) -> Optional[str]:
    for pattern, replacement in rules:
        match = re.fullmatch(pattern, text)
        if match is not None:
            return replacement(match) if callable(replacement) else match.expand(replacement)
    return None


def _timm_stage(match: re.Match) -> str:
    return f'backbone.stage{int(match.group(1)) + 1}.{match.group(2)}.'


def _unit_rules(conv: str, scale: str, identity: str, se_reduce: str,
                se_expand: str) -> Tuple[Tuple[str, str], ...]:
    """The suffix rules of a layout whose unit parts have the given (source) names."""
    conv, scale, identity, se_reduce, se_expand = map(
        re.escape, (conv, scale, identity, se_reduce, se_expand))
    return (
        (conv + r'\.(\d+)\.conv\.weight', r'branch_conv_list.\1.conv.weight'),
        (conv + r'\.(\d+)\.bn\.' + BN_TENSORS, r'branch_conv_list.\1.norm.\2'),
        (scale + r'\.conv\.weight', 'branch_scale.conv.weight'),
        (scale + r'\.bn\.' + BN_TENSORS, r'branch_scale.norm.\1'),
        (identity + r'\.' + BN_TENSORS, r'branch_norm.\1'),
        (se_reduce + r'\.(weight|bias)', r'se.conv1.conv.\1'),
        (se_expand + r'\.(weight|bias)', r'se.conv2.conv.\1'),
        (r'reparam_conv\.(weight|bias)', r'branch_reparam.\1'),
    )


APPLE = Layout(
    name='apple',
    unit_prefixes=(
        (r'stage0\.', 'backbone.stage0.'),
        (r'stage([1-4])\.(\d+)\.', r'backbone.stage\1.\2.'),
    ),
    unit_suffixes=_unit_rules('rbr_conv', 'rbr_scale', 'rbr_skip', 'se.reduce', 'se.expand'),
    classifier=((r'linear\.(weight|bias)', r'head.fc.\1'), ),
)

TIMM = Layout(
    name='timm',
    unit_prefixes=(
        (r'stem\.', 'backbone.stage0.'),
        (r'stages\.([0-3])\.(\d+)\.', _timm_stage),
    ),
    unit_suffixes=_unit_rules('conv_kxk', 'conv_scale', 'identity', 'attn.fc1', 'attn.fc2'),
    classifier=((r'head\.fc\.(weight|bias)', r'head.fc.\1'), ),
)

#: Layouts by command-line name.
LAYOUTS: Dict[str, Layout] = {layout.name: layout for layout in (APPLE, TIMM)}


def get_layout(name: str) -> Layout:
    """Return the layout called ``name`` (``'apple'`` or ``'timm'``)."""
    if name not in LAYOUTS:
        raise ConfigError(f'unknown checkpoint layout {name!r}; choose one of {sorted(LAYOUTS)}')
    return LAYOUTS[name]
