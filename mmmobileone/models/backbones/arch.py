"""MobileOne architecture settings: the paper's variants and validation of custom ones."""
from typing import Dict, List, Mapping, Union

from ...errors import ConfigError

#: Base widths of the four stages; each is multiplied by the stage's width factor.
BASE_CHANNELS = (64, 128, 256, 512)

#: Keys of an architecture dict. ``stem_num_conv_branches`` is optional (default 1).
ARCH_KEYS = ('num_blocks', 'width_factor', 'num_conv_branches', 'num_se_blocks')
OPTIONAL_ARCH_KEYS = ('stem_num_conv_branches', )


def _variant(width_factor: List[float], branches: int, se_blocks=(0, 0, 0, 0),
             num_blocks=(2, 8, 10, 1), stem_branches: int = 1) -> Dict:
    return dict(num_blocks=list(num_blocks), width_factor=list(width_factor),
                num_conv_branches=[branches] * 4, num_se_blocks=list(se_blocks),
                stem_num_conv_branches=stem_branches)


#: Paper Table 7 (S0-S4, stem with one conv branch as in the released checkpoints) and
#: Table 17 (micro variants, in code-stage form: stage 3 is the table's stages 4 + 5; their stem
#: has as many branches as their units).
ARCH_SETTINGS: Dict[str, Dict] = {
    's0': _variant([0.75, 1.0, 1.0, 2.0], 4),
    's1': _variant([1.5, 1.5, 2.0, 2.5], 1),
    's2': _variant([1.5, 2.0, 2.5, 4.0], 1),
    's3': _variant([2.0, 2.5, 3.0, 4.0], 1),
    's4': _variant([3.0, 3.5, 3.5, 4.0], 1, se_blocks=(0, 0, 5, 1)),
    'mu0': _variant([0.75, 0.5, 0.5, 0.75], 3, num_blocks=(2, 4, 6, 1), stem_branches=3),
    'mu1': _variant([0.75, 0.75, 0.75, 1.0], 2, num_blocks=(2, 6, 8, 1), stem_branches=2),
    'mu2': _variant([0.75, 1.0, 1.0, 1.0], 2, num_blocks=(2, 6, 8, 1), stem_branches=2),
}


def _check_stage_list(key: str, value, kind: type, minimum) -> List:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ConfigError(f'arch[{key!r}] must be a list of 4 values (one per stage), '
                          f'got {value!r}')
    for item in value:
        if isinstance(item, bool) or not isinstance(item, kind) or item < minimum:
            raise ConfigError(f'arch[{key!r}] must hold {kind.__name__} values >= {minimum}, '
                              f'got {value!r}')
    return list(value)


def resolve_arch(arch: Union[str, Mapping]) -> Dict:
    """Return a validated copy of an architecture given by name or as a dict.

    Args:
        arch: One of :data:`ARCH_SETTINGS` (``'s0'``..``'s4'``, ``'mu0'``..``'mu2'``), or a dict
            with keys ``num_blocks``, ``width_factor``, ``num_conv_branches``, ``num_se_blocks``
            (lists of 4, one value per stage) and optionally ``stem_num_conv_branches``.

    Raises:
        ValueError: naming the bad value and what is allowed.

    Example:
        >>> resolve_arch('mu0')['num_blocks']
        [2, 4, 6, 1]
    """
    if isinstance(arch, str):
        if arch.lower() not in ARCH_SETTINGS:
            raise ConfigError(f'unknown MobileOne arch {arch!r}; choose one of '
                              f'{sorted(ARCH_SETTINGS)} or pass a dict with keys {ARCH_KEYS}')
        return {k: list(v) if isinstance(v, list) else v
                for k, v in ARCH_SETTINGS[arch.lower()].items()}
    if not isinstance(arch, Mapping):
        raise ConfigError(f'arch must be a name in {sorted(ARCH_SETTINGS)} or a dict, '
                          f'got {type(arch).__name__} {arch!r}')
    missing = [k for k in ARCH_KEYS if k not in arch]
    unknown = [k for k in arch if k not in ARCH_KEYS + OPTIONAL_ARCH_KEYS]
    if missing or unknown:
        raise ConfigError(f'malformed arch dict: missing keys {missing}, unknown keys {unknown}; '
                          f'required {list(ARCH_KEYS)}, optional {list(OPTIONAL_ARCH_KEYS)}')
    resolved = dict(
        num_blocks=_check_stage_list('num_blocks', arch['num_blocks'], int, 1),
        width_factor=_check_widths(arch['width_factor']),
        num_conv_branches=_check_stage_list('num_conv_branches', arch['num_conv_branches'],
                                            int, 1),
        num_se_blocks=_check_stage_list('num_se_blocks', arch['num_se_blocks'], int, 0),
        stem_num_conv_branches=arch.get('stem_num_conv_branches', 1))
    stem_k = resolved['stem_num_conv_branches']
    if isinstance(stem_k, bool) or not isinstance(stem_k, int) or stem_k < 1:
        raise ConfigError(f"arch['stem_num_conv_branches'] must be an int >= 1, got {stem_k!r}")
    for stage, (se, blocks) in enumerate(zip(resolved['num_se_blocks'],
                                             resolved['num_blocks'])):
        if se > blocks:
            raise ConfigError(f"arch['num_se_blocks'][{stage}] = {se} exceeds the stage's "
                              f'{blocks} blocks')
    return resolved


def _check_widths(value) -> List[float]:
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise ConfigError(f"arch['width_factor'] must be a list of 4 values (one per stage), "
                          f'got {value!r}')
    widths = []
    for stage, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (int, float)) or item <= 0:
            raise ConfigError(f"arch['width_factor'] must hold positive numbers, got {value!r}")
        if int(BASE_CHANNELS[stage] * item) < 1:
            raise ConfigError(f"arch['width_factor'][{stage}] = {item} gives no channels "
                              f'(base width {BASE_CHANNELS[stage]})')
        widths.append(float(item))
    return widths
